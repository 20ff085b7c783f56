"""A quarter's working context: its params, its prepared inputs in ``data/processed/<quarter>/``,
the tables it publishes and the analyst's commentary. Every notebook starts with ``open_quarter``."""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline import __version__
from pipeline.core.params import MAX_COMMENTARY_BYTES, InputSpec, QuarterParams, load_params, settings_findings
from pipeline.core.paths import folder_hash, processed_dir, project_root, shown_path
from pipeline.core.quarters import Quarter
from pipeline.core.tables import TableStore
from pipeline.finance.budget import quarter_end_month
from pipeline.ingest import pseudonymise, ssda903
from pipeline.ingest.inputs import QUARANTINE_COLUMNS, SCHEMAS, InputError, read_input, sha256_of
from pipeline.ingest.inputs import SCHEMAS as FAMILIES
from pipeline.ingest.ledger import LedgerError, normalise_mapping, read_ledger
from pipeline.ingest.schemas import read_table, write_table
from pipeline.quarter import quality

# tables whose rows are the pack's service lines: a row that cannot be read stops the build (a line
# published without its budget or forecast is a wrong total), never quarantined
LINE_TABLES = ("budget_lines",)
# params input key -> schema family, where they differ
SCHEMA_OF = {"kpi_service_plan_2023_25": "service_plan_measures"}
# the folders (of pipeline/) whose code prepares inputs: every module in them is hashed, so a module moved
# or added there changes the fingerprint
PREP_FOLDERS = ("core", "ingest", "finance", "quarter/context.py", "quarter/quality.py")


def code_fingerprint() -> str:
    """SHA-256 of the modules that prepare inputs: a preparation made by other code is stale."""
    h = hashlib.sha256(__version__.encode())
    folder_hash(h, *PREP_FOLDERS)
    return h.hexdigest()


REGISTER_COLUMNS = ["input", "group", "file", "description", "source", "synthetic", "sha256", "rows_in",
                    "rows_kept", "rows_fixed", "rows_dropped", "rows_quarantined", "columns"]
# rows_in = rows_kept + rows_dropped (subtotals, blank rows, duplicates merged) + rows_quarantined;
# rows_fixed are kept rows changed by a documented rule


@dataclass
class QuarterContext:
    params: QuarterParams
    root: Path
    work_dir: Path

    @property
    def quarter(self):
        return self.params.quarter

    @property
    def pseudonym_key(self) -> bytes:
        """The secret key for pseudonymising child-level tables (read once; see pipeline.ingest.pseudonymise)."""
        if getattr(self, "_pseudonym_key", None) is None:
            self._pseudonym_key = pseudonymise.load_key(self.root)
        return self._pseudonym_key

    def _key_id_if_used(self) -> str:
        used = any(s.kind == "ssda903" for s in self.params.inputs.values())
        return pseudonymise.key_id(self.pseudonym_key) if used else ""

    @property
    def tables(self) -> TableStore:
        return TableStore(self.work_dir)

    # ---- preparation -------------------------------------------------------------------------
    def prepare(self) -> pd.DataFrame:
        """Read, hash, count and validate every input; write typed tables, the quarantine, the
        register and the quality findings into the work folder. Returns the register."""
        inputs_dir = self.work_dir / "inputs"
        # a new preparation replaces the last one whole: no file of an earlier preparation (or an earlier
        # version of cspack, before pseudonymisation) is left behind beside the new tables
        if inputs_dir.exists():
            shutil.rmtree(inputs_dir)
        for f in self.work_dir.glob("*"):
            if f.is_file() and f.suffix in (".csv", ".parquet", ".json"):
                f.unlink()
        inputs_dir.mkdir(parents=True, exist_ok=True)
        register, quarantine, findings = [], [], []
        typed = {}
        errors = []
        for key, spec in self.params.inputs.items():
            try:
                entries = self._prepare_one(key, spec, inputs_dir, quarantine, findings, typed)
            except (InputError, ValueError) as exc:  # LedgerError and ParseError are ValueErrors
                errors.append(str(exc))
                continue
            register += entries
        if errors:
            raise InputError(f"{len(errors)} input(s) of {self.params.path.name} could not be read:\n  - "
                             + "\n  - ".join(errors))
        self._finish_prepare(register, quarantine, findings, typed)
        return pd.DataFrame(register, columns=REGISTER_COLUMNS)

    def _prepare_one(self, key, spec, inputs_dir, quarantine, findings, typed) -> list[dict]:
        entry = {"input": key, "group": spec.group, "file": spec.rel_path, "description": spec.description,
                 "source": spec.source, "synthetic": spec.synthetic, "sha256": sha256_of(spec.path),
                 "rows_fixed": 0, "rows_dropped": 0}
        if spec.kind == "ledger":
            entry.update(self._prepare_ledger(key, spec, inputs_dir, quarantine, findings))
        elif spec.kind == "ssda903":
            return self._prepare_ssda903(entry, key, spec, inputs_dir, quarantine, findings)
        elif spec.kind == "returns_history":
            entry.update(self._prepare_history(key, spec, inputs_dir, quarantine, findings))
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

    def _finish_prepare(self, register, quarantine, findings, typed) -> None:
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
        write_table(reg, self.work_dir / "register.parquet", "register")
        q = (pd.concat(quarantine, ignore_index=True)[QUARANTINE_COLUMNS] if quarantine
             else pd.DataFrame(columns=QUARANTINE_COLUMNS))
        write_table(q.astype({"value": str}), self.work_dir / "quarantine.parquet", "quarantine")
        write_table(pd.DataFrame(findings, columns=quality.FINDING_COLUMNS), self.work_dir / "findings.parquet", "findings")
        (self.work_dir / "prepared.json").write_text(json.dumps(
            {"quarter": self.quarter.label, "params": shown_path(self.params.path, self.root),
             "code": code_fingerprint(), "pseudonym_key_id": self._key_id_if_used(),
             "inputs": {k: sha256_of(s.path) for k, s in self.params.inputs.items()}}, indent=1), encoding="utf-8")

    LOSS_COLUMNS = ("budget_annual", "forecast_full_year", "actual")

    def _prepare_ledger(self, key, spec, inputs_dir, quarantine, findings) -> dict:
        """One ledger file, or a folder of them (every ``ledger*`` CSV or Excel file: one per financial
        year), into one table of every month. Two files holding the same financial year are an error
        naming both (a stray copy would double the year). A row or money cell that could not be read
        in this year up to the quarter's last month stops the build, naming file, row and column: the
        line it belongs to would be published with a budget, forecast or spend that is not the ledger's.
        In earlier years (used only for spending profiles and forecast accuracy) it is a warning."""

        mapping_spec = self.params.inputs.get("cost_centres")
        mapping = None
        if mapping_spec:
            try:
                mapping = pd.read_csv(mapping_spec.path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
                raise InputError(f"{mapping_spec.rel_path} (input 'cost_centres'): not a readable UTF-8 CSV "
                                 f"({str(exc).splitlines()[0]})") from exc
            mapping = normalise_mapping(mapping, f"{mapping_spec.rel_path} (input 'cost_centres')")
        files = ([spec.path] if spec.path.is_file() else
                 sorted(p for p in spec.path.iterdir() if p.is_file() and p.name.lower().startswith("ledger")
                        and p.suffix.lower() in (".csv", ".xlsx", ".xlsm", ".xls")))
        if not files:
            raise InputError(f"{spec.rel_path} (input '{key}'): no ledger files (named ledger*.csv or ledger*.xlsx) "
                             "in this folder")
        fy, as_at = self.quarter.fy, quarter_end_month(self.quarter.fy, self.quarter.q)
        kept, counts = [], {"rows_in": 0, "rows_kept": 0, "rows_dropped": 0, "rows_quarantined": 0, "rows_fixed": 0}
        year_files: dict[str, str] = {}
        lost = []
        for f in files:
            shown = (spec.rel_path + "/" + f.name) if f != spec.path else spec.rel_path
            r = read_ledger(f, mapping, input_key=key,
                            mapping_name=(f"{mapping_spec.rel_path} (input 'cost_centres')" if mapping_spec else
                                          "the cost-centre mapping"))
            years = sorted(set(r.kept["financial_year"].dropna())) if "financial_year" in r.kept else []
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
                    if p.column not in self.LOSS_COLUMNS and p.Index >= len(r.quarantined):
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

    def _prepare_history(self, key, spec, inputs_dir, quarantine, findings) -> dict:
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
            if p.is_dir() and (q.fy, q.q) <= (self.quarter.fy, self.quarter.q):
                folders.append((q, p))
        if not folders:
            raise InputError(f"{spec.rel_path} (input '{key}'): no quarter folders (named like 2026-27-Q1) up to "
                             f"{self.quarter.label}")
        folders = sorted(folders, key=lambda f: (f[0].fy, f[0].q))[-self.HISTORY_QUARTERS:]
        stacks: dict[str, list] = {}
        counts = {"rows_in": 0, "rows_kept": 0, "rows_dropped": 0, "rows_quarantined": 0, "columns": 0}
        for q, folder in folders:
            for f in sorted(folder.glob("*.csv")):
                if f.stem not in FAMILIES or f.stem not in self.HISTORY_FAMILIES:
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
        findings.append(quality._f(key, "quarters of returns", f"{len(folders)} quarters ({folders[0][0].label} to "
                                   f"{folders[-1][0].label}) of {len(stacks)} tables read for movements and trends", 0))
        return counts

    def _prepare_ssda903(self, entry, key, spec, inputs_dir, quarantine, findings) -> list[dict]:
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
            "missing": m["missing"].drop(columns=["SEX", "DOB"], errors="ignore")}, self.pseudonym_key)
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
                            "description": f"{table} table of each collection year ({ssda903.TABLE_DESCRIPTIONS[table]})",
                            "rows_in": int(t["rows_read"].sum()),
                            "rows_kept": int(t["rows_kept"].sum() - t["superseded"].sum()),
                            "rows_dropped": int(t["blank_rows"].sum() + t["duplicates_within"].sum()
                                                + t["superseded"].sum()),
                            "rows_quarantined": int(t["rows_quarantined"].sum()),
                            "columns": len({"header": ssda903.HEADER_COLUMNS, "uasc": ssda903.UASC_COLUMNS,
                                            "missing": ssda903.MISSING_COLUMNS}[table])})
        return entries

    def is_prepared(self) -> bool:
        """True when the work folder holds a preparation of exactly the current input files, made by
        the current preparation code."""
        p = self.work_dir / "prepared.json"
        if not p.exists():
            return False
        done = json.loads(p.read_text(encoding="utf-8"))
        if done.get("code") != code_fingerprint() or done.get("quarter") != self.quarter.label:
            return False
        if done.get("pseudonym_key_id") and done["pseudonym_key_id"] != pseudonymise.key_id(self.pseudonym_key):
            return False  # prepared under another key: re-prepare so pseudonyms agree with this key's
        want = {k: s.path for k, s in self.params.inputs.items()}
        if set(done.get("inputs", {})) != set(want):
            return False
        return all(sha256_of(path) == done["inputs"][k] for k, path in want.items())

    def ensure_prepared(self) -> None:
        if not self.is_prepared():
            self.prepare()

    # ---- reading prepared data ---------------------------------------------------------------
    def table(self, key: str) -> pd.DataFrame:
        """A typed, validated input table (quarantined rows removed and counted in the register)."""
        p = self.work_dir / "inputs" / f"{key}.parquet"
        if not p.exists():
            have = ", ".join(sorted(x.stem for x in (self.work_dir / "inputs").glob("*.parquet")))
            raise KeyError(f"no prepared input '{key}' for {self.quarter.label} (prepared: {have}); "
                           f"is it named under 'inputs' in {self.params.path.name}?")
        return read_table(p, self._schema_of(key))

    def _schema_of(self, key: str) -> str:
        spec = self.params.inputs.get(key) or self.params.inputs.get(key.rsplit("_", 1)[0])
        if spec is not None and spec.kind == "ledger":
            return "ledger"
        if spec is not None and spec.kind == "ssda903":
            return "ssda903_" + key.rsplit("_", 1)[1]
        for k, s in self.params.inputs.items():
            if s.kind == "returns_history" and key.startswith(k + "_"):
                return "history_" + key[len(k) + 1:]
        return SCHEMA_OF.get(key, key)

    def register(self) -> pd.DataFrame:
        return read_table(self.work_dir / "register.parquet", "register")

    def findings(self) -> pd.DataFrame:
        """The quality findings of the preparation, and those the params call for (params.settings_findings:
        read from the params each time, so a changed setting is never missed by a cached preparation)."""

        f = read_table(self.work_dir / "findings.parquet", "findings")
        extra = settings_findings(self.params)
        return pd.concat([f, pd.DataFrame(extra, columns=f.columns)], ignore_index=True) if extra else f

    def quarantine(self) -> pd.DataFrame:
        return read_table(self.work_dir / "quarantine.parquet", "quarantine")

    def publish(self, name: str, df: pd.DataFrame, title: str, section: str, child_counts: list[str] | None = None) -> str:
        """Publish a table to the pack's tables.xlsx. ``child_counts`` names the columns counting children:
        they are checked for unsuppressed small counts (settings.small_count_threshold)."""
        return self.tables.publish(name, df, title, section, child_counts,
                                   int(self.params.settings.get("small_count_threshold", 5)))

    # ---- commentary --------------------------------------------------------------------------
    def commentary(self, section: str) -> str:
        """The analyst's commentary for a section (``## Section`` in the quarter's commentary file),
        as Markdown with any HTML escaped. Blank when the analyst wrote nothing."""
        sections = read_commentary(self.params.commentary)
        return html.escape(sections.get(section.strip().lower(), "").strip(), quote=False)


class CommentaryError(ValueError):
    """A commentary file that cannot be read (too large, not a regular file, not UTF-8)."""


_COMMENTARY_CACHE: dict = {}


def read_commentary(path: Path) -> dict[str, str]:
    """The sections of a commentary file (see ``split_commentary``), read once per version of the file.
    Only a regular file of at most ``params.MAX_COMMENTARY_BYTES`` is read (params checks it too; this
    guards a file changed since)."""
    import os
    import stat

    path = Path(path)
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise CommentaryError(f"commentary {path} is not a regular file: only regular files are read")
    if st.st_size > MAX_COMMENTARY_BYTES:
        raise CommentaryError(f"commentary {path} is {st.st_size:,} bytes, more than the {MAX_COMMENTARY_BYTES:,} "
                              "a commentary file may hold")
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _COMMENTARY_CACHE:
        with open(path, "rb") as fh:
            data = fh.read(MAX_COMMENTARY_BYTES + 1)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CommentaryError(f"commentary {path}: not UTF-8 text at byte {exc.start}") from None
        _COMMENTARY_CACHE.clear()
        _COMMENTARY_CACHE[key] = split_commentary(text)
    return _COMMENTARY_CACHE[key]


def _row_year_month(path, r, row: int):
    """The financial year and month of a ledger file row (1-based), as far as its cells say; None for
    what they do not say (a row that could not be placed counts as this year's)."""
    return r.row_places.get(row, (None, None)) if getattr(r, "row_places", None) else (None, None)


def split_commentary(text: str) -> dict[str, str]:
    """``## Heading`` sections of a commentary file, keyed by the heading in lower case, each the
    lines under it (HTML comment lines left out). Linear in the length of the text: lines are gathered
    in lists and joined once (appending to a string held in a dict copies it every time), and headings
    are recognised without a backtracking pattern."""
    parts: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("##") and line[2:3].isspace() and line[2:].strip():
            current = line[2:].strip().lower()
            parts[current] = []  # a repeated heading starts its section again, as before
        elif current is not None and not line.lstrip().startswith("<!--"):
            parts[current].append(line)
    return {k: "".join(x + "\n" for x in v) for k, v in parts.items()}


def open_quarter(quarter: str = "", work_dir: str = "", root: Path | None = None,
                 params_file: str = "") -> QuarterContext:
    """The context for a quarter (blank: the latest params file). ``work_dir`` blank means
    ``data/processed/<quarter>``; the runner passes a staging folder instead. ``params_file`` names
    the params file when it is not the one in ``params/`` named for the quarter."""
    root = root or project_root()
    params = load_params(quarter or None, root, path=params_file or None)
    wd = Path(work_dir) if work_dir else processed_dir(root) / params.quarter.label
    if not wd.is_absolute():
        wd = root / wd
    wd.mkdir(parents=True, exist_ok=True)
    ctx = QuarterContext(params=params, root=root, work_dir=wd)
    ctx.ensure_prepared()
    return ctx
