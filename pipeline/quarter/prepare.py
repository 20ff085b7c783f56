"""Preparing a quarter's inputs (``QuarterContext.prepare``): read, hash, count and validate every input of
the params; write the typed tables, the quarantine, the register and the quality findings into the work
folder, with ``prepared.json`` saying what was prepared by which code (``is_prepared``). The functions take
the quarter's context (``pipeline.quarter.context.QuarterContext``), which calls them; this module does not
import it (the context imports this)."""

from __future__ import annotations

import hashlib
import json
import shutil

import pandas as pd

from pipeline import __version__
from pipeline.core.params import InputSpec
from pipeline.core.paths import folder_hash, shown_path
from pipeline.core.quarters import Quarter
from pipeline.finance.budget import quarter_end_month
from pipeline.ingest import pseudonymise, ssda903
from pipeline.ingest.inputs import QUARANTINE_COLUMNS, SCHEMAS, InputError, read_input, sha256_of
from pipeline.ingest.inputs import SCHEMAS as FAMILIES
from pipeline.ingest.ledger import LedgerError, ledger_files, read_ledger, read_mapping_csv
from pipeline.ingest.schemas import write_table
from pipeline.quarter import quality

# tables whose rows are the pack's service lines: a row that cannot be read stops the build (a line
# published without its budget or forecast is a wrong total), never quarantined
LINE_TABLES = ("budget_lines",)
# params input key -> schema family, where they differ
SCHEMA_OF = {"kpi_service_plan_2023_25": "service_plan_measures"}
# the folders (of pipeline/) whose code prepares inputs: every module in them is hashed, so a module moved
# or added there changes the fingerprint
PREP_FOLDERS = ("core", "ingest", "finance", "quarter/context.py", "quarter/prepare.py", "quarter/quality.py")


def code_fingerprint() -> str:
    """SHA-256 of the modules that prepare inputs: a preparation made by other code is stale."""
    h = hashlib.sha256(__version__.encode())
    folder_hash(h, *PREP_FOLDERS)
    return h.hexdigest()


REGISTER_COLUMNS = ["input", "group", "file", "description", "source", "synthetic", "sha256", "rows_in",
                    "rows_kept", "rows_fixed", "rows_dropped", "rows_quarantined", "columns"]
# rows_in = rows_kept + rows_dropped (subtotals, blank rows, duplicates merged) + rows_quarantined;
# rows_fixed are kept rows changed by a documented rule


def prepare_inputs(ctx) -> pd.DataFrame:
    """Read, hash, count and validate every input; write typed tables, the quarantine, the
    register and the quality findings into the work folder. Returns the register."""
    inputs_dir = ctx.work_dir / "inputs"
    # a new preparation replaces the last one whole: no file of an earlier preparation (or an earlier
    # version of cspack, before pseudonymisation) is left behind beside the new tables
    if inputs_dir.exists():
        shutil.rmtree(inputs_dir)
    for f in ctx.work_dir.glob("*"):
        if f.is_file() and f.suffix in (".csv", ".parquet", ".json"):
            f.unlink()
    inputs_dir.mkdir(parents=True, exist_ok=True)
    register, quarantine, findings = [], [], []
    typed = {}
    errors = []
    for key, spec in ctx.params.inputs.items():
        try:
            entries = _prepare_one(ctx, key, spec, inputs_dir, quarantine, findings, typed)
        except (InputError, ValueError) as exc:  # LedgerError and ParseError are ValueErrors
            errors.append(str(exc))
            continue
        register += entries
    if errors:
        raise InputError(f"{len(errors)} input(s) of {ctx.params.path.name} could not be read:\n  - "
                         + "\n  - ".join(errors))
    _finish_prepare(ctx, register, quarantine, findings, typed)
    return pd.DataFrame(register, columns=REGISTER_COLUMNS)

def _prepare_one(ctx, key, spec, inputs_dir, quarantine, findings, typed) -> list[dict]:
    entry = {"input": key, "group": spec.group, "file": spec.rel_path, "description": spec.description,
             "source": spec.source, "synthetic": spec.synthetic, "sha256": sha256_of(spec.path),
             "rows_fixed": 0, "rows_dropped": 0}
    if spec.kind == "ledger":
        entry.update(_prepare_ledger(ctx, key, spec, inputs_dir, quarantine, findings))
    elif spec.kind == "ssda903":
        return _prepare_ssda903(ctx, entry, key, spec, inputs_dir, quarantine, findings)
    elif spec.kind == "returns_history":
        entry.update(_prepare_history(ctx, key, spec, inputs_dir, quarantine, findings))
    else:
        res = read_input(spec, SCHEMA_OF.get(key, key))
        if SCHEMA_OF.get(key, key) in LINE_TABLES and len(res.quarantined):
            listed = "; ".join(f"row {r.row}, column {r.column}: {str(r.value)[:40]!r} ({r.reason})"
                               for r in res.quarantined.head(8).itertuples())
            raise InputError(f"{spec.rel_path} (input '{key}'): {res.quarantined['row'].nunique()} service line(s) "
                             f"could not be read, and the pack would be published without them: {listed}. "
                             "Correct the file and run again")
        dropped = res.blank_rows + res.total_rows
        entry.update(rows_in=res.rows_in, rows_kept=len(res.kept), rows_dropped=dropped, rows_fixed=res.fixed,
                     rows_quarantined=res.rows_in - dropped - len(res.kept), columns=len(res.columns))
        if len(res.quarantined):
            quarantine.append(res.quarantined)
        findings += quality.input_note_findings(key, res)
        if SCHEMA_OF.get(key, key) in SCHEMAS:
            typed[key] = write_table(res.kept, inputs_dir / f"{key}.parquet", SCHEMA_OF.get(key, key))
        else:
            findings += quality.marker_findings(key, res.kept)
            findings += quality.confidence_findings(key, res.kept)
    return [entry]

def _finish_prepare(ctx, register, quarantine, findings, typed) -> None:
    if "budget_lines" in typed:
        findings += quality.budget_findings(typed["budget_lines"], typed.get("budget_totals"))
    if "measures" in typed:
        findings += quality.measure_value_findings("measures", typed["measures"], ["value_raw"])
    if "kpi_service_plan_2023_25" in typed:
        t = typed["kpi_service_plan_2023_25"]
        findings += quality.measure_value_findings("kpi_service_plan_2023_25", t,
                                                   [c for c in t.columns if c[:6] in ("actual", "latest")],
                                                   [c for c in t.columns if c.startswith("target")])
    reg = pd.DataFrame(register, columns=REGISTER_COLUMNS)
    write_table(reg, ctx.work_dir / "register.parquet", "register")
    q = (pd.concat(quarantine, ignore_index=True)[QUARANTINE_COLUMNS] if quarantine
         else pd.DataFrame(columns=QUARANTINE_COLUMNS))
    write_table(q.astype({"value": str}), ctx.work_dir / "quarantine.parquet", "quarantine")
    write_table(pd.DataFrame(findings, columns=quality.FINDING_COLUMNS), ctx.work_dir / "findings.parquet", "findings")
    (ctx.work_dir / "prepared.json").write_text(json.dumps(
        {"quarter": ctx.quarter.label, "params": shown_path(ctx.params.path, ctx.root),
         "code": code_fingerprint(), "pseudonym_key_id": _key_id_if_used(ctx),
         "inputs": {k: sha256_of(s.path) for k, s in ctx.params.inputs.items()}}, indent=1), encoding="utf-8")


LOSS_COLUMNS = ("budget_annual", "forecast_full_year", "actual")


def _prepare_ledger(ctx, key, spec, inputs_dir, quarantine, findings) -> dict:
    """One ledger file, or a folder of them (every ``ledger*`` CSV or Excel file: one per financial
    year), into one table of every month. Two files holding the same financial year are an error
    naming both (a stray copy would double the year). A row or money cell that could not be read
    in this year up to the quarter's last month stops the build, naming file, row and column: the
    line it belongs to would be published with a budget, forecast or spend that is not the ledger's.
    In earlier years (used only for spending profiles and forecast accuracy) it is a warning."""

    mapping_spec = ctx.params.inputs.get("cost_centres")
    mapping = (read_mapping_csv(mapping_spec.path, f"{mapping_spec.rel_path} (input 'cost_centres')", InputError)
               if mapping_spec else None)
    files = ledger_files(spec.path)
    if not files:
        raise InputError(f"{spec.rel_path} (input '{key}'): no ledger files (named ledger*.csv or ledger*.xlsx) "
                         "in this folder")
    fy, as_at = ctx.quarter.fy, quarter_end_month(ctx.quarter.fy, ctx.quarter.q)
    kept, counts = [], {"rows_in": 0, "rows_kept": 0, "rows_dropped": 0, "rows_quarantined": 0, "rows_fixed": 0}
    year_files: dict[str, str] = {}
    lost = []
    for f in files:
        shown = (spec.rel_path + "/" + f.name) if f != spec.path else spec.rel_path
        r = read_ledger(f, mapping, input_key=key,
                        mapping_name=(f"{mapping_spec.rel_path} (input 'cost_centres')" if mapping_spec else
                                      "the cost-centre mapping"))
        years = sorted(set(r.kept["financial_year"].dropna())) if "financial_year" in r.kept else []
        if fy in years and "budget_annual" not in r.kept:  # issue 18: the pack's budgets come from the ledger
            raise LedgerError(f"{shown}: holds {fy} but has no annual budget column (a heading such as 'Annual "
                              "Budget'), so every service line would be published with a nil budget. Export the "
                              "ledger with its annual budget column and run again")
        for y in years:
            if y in year_files:
                raise LedgerError(f"{year_files[y]} and {shown} both hold financial year {y}: a ledger folder "
                                  "holds one file per year. Remove or rename the copy that is not wanted "
                                  "(files read are those named ledger*)")
            year_files[y] = shown
        sheet = f", sheet {r.sheet!r}" if r.sheet else ""
        problems = pd.concat([r.quarantined, r.cells], ignore_index=True)
        if len(problems):
            q = problems.copy()
            q["file"] = shown
            q["reason"] = [("value set aside, row kept: " + rs) if i >= len(r.quarantined) else rs
                           for i, rs in enumerate(q["reason"])]
            quarantine.append(q[QUARANTINE_COLUMNS])
            # where each problem sits: this year up to the quarter (figures published) or not
            for p in problems.itertuples():
                if p.column not in LOSS_COLUMNS and p.Index >= len(r.quarantined):
                    continue  # a commitment or monthly-budget cell: not used in the pack's figures
                row_fy, row_month = _row_year_month(f, r, p.row)
                if row_fy not in (fy, None) or (row_month is not None and row_month > as_at):
                    continue
                lost.append(f"{shown}{sheet}, row {p.row}, column {p.column}: {str(p.value)[:60]!r} ({p.reason})")
        findings += quality.ledger_findings(key if len(files) == 1 else f"{key}:{f.name}", r)
        kept.append(r.kept)
        counts["rows_in"] += r.rows_read
        counts["rows_kept"] += len(r.kept)
        counts["rows_dropped"] += r.total_rows + r.blank_rows + r.duplicate_rows
        counts["rows_quarantined"] += int(r.quarantined["row"].nunique())
        counts["rows_fixed"] += int(r.fixes["row"].nunique()) if r.fixes is not None else 0
    if lost:
        raise LedgerError(f"{len(lost)} ledger value(s) of {fy} up to {as_at:%B %Y} could not be read, so the "
                          "service lines they belong to would be published with a wrong budget, forecast or "
                          "spend: " + "; ".join(lost[:10]) + ("; ..." if len(lost) > 10 else "")
                          + ". Correct the cells in the ledger (or remove rows that are not wanted) and run again")
    table = pd.concat(kept, ignore_index=True)
    write_table(table, inputs_dir / f"{key}.parquet", "ledger")  # money in integer pence
    return counts | {"columns": len(table.columns)}


HISTORY_FAMILIES = ("budget_lines", "earmarked_reserves", "aged_debt")
HISTORY_QUARTERS = 8


def _prepare_history(ctx, key, spec, inputs_dir, quarantine, findings) -> dict:
    """Earlier quarters' returns (one folder per quarter, named like 2026-27-Q1): the last
    ``HISTORY_QUARTERS`` up to and including this quarter (two years: this year's and last year's
    quarters, for movements and charts over time); of each, the tables that have a history in the
    pack (``HISTORY_FAMILIES``), stacked with a ``quarter`` column into ``<key>_<family>.parquet``."""

    folders = []
    for p in sorted(spec.path.iterdir()):
        try:
            q = Quarter.parse(p.name)
        except Exception:
            continue
        if p.is_dir() and (q.fy, q.q) <= (ctx.quarter.fy, ctx.quarter.q):
            folders.append((q, p))
    if not folders:
        raise InputError(f"{spec.rel_path} (input '{key}'): no quarter folders (named like 2026-27-Q1) up to "
                         f"{ctx.quarter.label}")
    folders = sorted(folders, key=lambda f: (f[0].fy, f[0].q))[-HISTORY_QUARTERS:]
    stacks: dict[str, list] = {}
    counts = {"rows_in": 0, "rows_kept": 0, "rows_dropped": 0, "rows_quarantined": 0, "columns": 0}
    for q, folder in folders:
        for f in sorted(folder.glob("*.csv")):
            if f.stem not in FAMILIES or f.stem not in HISTORY_FAMILIES:
                continue
            sub = InputSpec(key=f.stem, path=f, rel_path=f"{spec.rel_path}/{folder.name}/{f.name}",
                            description="", source=spec.source, synthetic=spec.synthetic)
            res = read_input(sub, f.stem)
            if len(res.quarantined):
                quarantine.append(res.quarantined.assign(input=key))
            stacks.setdefault(f.stem, []).append(res.kept.assign(quarter=q.label))
            counts["rows_in"] += res.rows_in
            counts["rows_kept"] += len(res.kept)
            counts["rows_dropped"] += res.blank_rows + res.total_rows
            counts["rows_quarantined"] += res.rows_in - res.blank_rows - res.total_rows - len(res.kept)
            findings += quality.input_note_findings(f"{key}:{folder.name}/{f.stem}", res)
    for family, parts in stacks.items():
        write_table(pd.concat(parts, ignore_index=True), inputs_dir / f"{key}_{family}.parquet", f"history_{family}")
    counts["columns"] = len(stacks)
    findings.append(quality._f(key, "quarters of returns", f"{len(folders)} quarters (Quarter {folders[0][0].q} {folders[0][0].fy} to "
                               f"Quarter {folders[-1][0].q} {folders[-1][0].fy}) of {len(stacks)} tables read for movements and trends", 0))
    return counts

def _prepare_ssda903(ctx, entry, key, spec, inputs_dir, quarantine, findings) -> list[dict]:
    """The merged episode history and the header, UASC and missing tables, each with its own
    register line (``ssda903``, ``ssda903:header``, ...) and its quarantine."""

    if not spec.path.is_dir():
        raise InputError(f"{spec.rel_path} (input '{key}'): expected a folder with one folder per collection year "
                         "(2024-25/episodes.csv, 2024-25/header.csv, ...)")
    try:
        years, notes = ssda903.find_returns(spec.path)
        if not years:
            raise ValueError("expected one folder per collection year (2024-25/episodes.csv, 2024-25/header.csv, "
                             "or DfE's XML submission in 2024-25/)" + (f"; {'; '.join(notes)}" if notes else ""))
        returns = {}
        for y, p in years.items():
            try:
                returns[y] = ssda903.read_return(p)
            except ValueError as exc:
                raise ValueError(f"{y}: {exc}" if not str(exc).startswith(p.name) else str(exc)) from None
        m = ssda903.merge_returns(returns, notes)
    except ValueError as exc:
        raise InputError(f"{spec.rel_path} (input '{key}'): {exc}") from None
    eps = m["episodes"].drop(columns=["DECOM", "DEC"]).rename(columns={"DECOM_date": "DECOM", "DEC_date": "DEC"})
    # written pseudonymised: keyed hash of CHILD, no UPN, postcode sectors, month of birth
    safe = pseudonymise.ssda903_tables({
        "episodes": eps[[c for c in ssda903.EPISODE_COLUMNS + ["collection_year", "fix"] if c in eps]],
        "header": m["header"], "uasc": m["uasc"].drop(columns=["SEX"], errors="ignore"),
        "missing": m["missing"].drop(columns=["SEX", "DOB"], errors="ignore")}, ctx.pseudonym_key)
    write_table(safe["episodes"], inputs_dir / f"{key}_episodes.parquet", "ssda903_episodes")
    write_table(safe["header"], inputs_dir / f"{key}_header.parquet", "ssda903_header")
    if len(m["uasc"]):
        write_table(safe["uasc"], inputs_dir / f"{key}_uasc.parquet", "ssda903_uasc")
    if len(m["missing"]):
        write_table(safe["missing"], inputs_dir / f"{key}_missing.parquet", "ssda903_missing")
    q = pseudonymise.quarantine_values(m["quarantine"])
    if len(q):  # never the child's identifier: file, row, column, code and rule only
        fname = q["file"].fillna("").astype(str) if "file" in q else pd.Series("", index=q.index)
        fname = fname.where(fname != "", q["table"] + ".csv")
        quarantine.append(pd.DataFrame({"input": key, "file": spec.rel_path + "/" + q["collection_year"] + "/"
                                        + fname, "row": q["row"], "column": q["column"],
                                        "value": q["value"], "reason": q["reason"]}))
    findings += quality.ssda903_findings(key, m)
    r = dict(zip(m["reconciliation"]["item"], m["reconciliation"]["count"]))
    entries = [{**entry, "rows_in": r["rows read (all returns)"], "rows_kept": r["episodes kept"],
                "rows_fixed": r["of which fixed by a rule"], "rows_dropped": r["rows dropped by rule"],
                "rows_quarantined": r["rows quarantined"], "columns": len(ssda903.EPISODE_COLUMNS)}]
    for table, t in m["tables"].groupby("table", sort=False):
        entries.append({**entry, "input": f"{key}:{table}",
                        "description": ssda903.TABLE_READER_NAMES[table],
                        "rows_in": int(t["rows_read"].sum()),
                        "rows_kept": int(t["rows_kept"].sum() - t["superseded"].sum()),
                        "rows_dropped": int(t["blank_rows"].sum() + t["duplicates_within"].sum()
                                            + t["superseded"].sum()),
                        "rows_quarantined": int(t["rows_quarantined"].sum()),
                        "columns": len({"header": ssda903.HEADER_COLUMNS, "uasc": ssda903.UASC_COLUMNS,
                                        "missing": ssda903.MISSING_COLUMNS}[table])})
    return entries

def is_prepared(ctx) -> bool:
    """True when the work folder holds a preparation of exactly the current input files, made by
    the current preparation code."""
    p = ctx.work_dir / "prepared.json"
    if not p.exists():
        return False
    done = json.loads(p.read_text(encoding="utf-8"))
    if done.get("code") != code_fingerprint() or done.get("quarter") != ctx.quarter.label:
        return False
    if done.get("pseudonym_key_id") and done["pseudonym_key_id"] != pseudonymise.key_id(ctx.pseudonym_key):
        return False  # prepared under another key: re-prepare so pseudonyms agree with this key's
    want = {k: s.path for k, s in ctx.params.inputs.items()}
    if set(done.get("inputs", {})) != set(want):
        return False
    return all(sha256_of(path) == done["inputs"][k] for k, path in want.items())


def _key_id_if_used(ctx) -> str:
    used = any(s.kind == "ssda903" for s in ctx.params.inputs.values())
    return pseudonymise.key_id(ctx.pseudonym_key) if used else ""


def _row_year_month(path, r, row: int):
    """The financial year and month of a ledger file row (1-based), as far as its cells say; None for
    what they do not say (a row that could not be placed counts as this year's)."""
    return r.row_places.get(row, (None, None)) if getattr(r, "row_places", None) else (None, None)
