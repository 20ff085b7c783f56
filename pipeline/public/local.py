"""The authority's own data in its pack. The profile ``cspack new-authority`` writes (``params/<slug>.yaml``)
may name local inputs under ``inputs:``; each one given switches its section of the authority's pack on (the
rest stays from published data), and each section still without its input says in one line what fills it.

Inputs read here, each by the same code as the quarterly pack's (``pipeline.ingest``):

- ``ssda903``: the authority's SSDA903 returns (a folder, one folder per collection year), merged into one
  history: children looked after on each 31 March, starting and ceasing in each year (each child once), beside
  DfE's published figures for the authority; the placement mix on the latest 31 March.
- ``ledger`` (with ``cost_centres``, the cost-centre mapping, when the ledger lacks service lines): the finance
  ledger (a file, or a folder of ``ledger*`` files, one per financial year): spend by year, and the latest
  year's budget, spend to date and forecast by service line.
- ``budget_lines``: the quarter's budget monitoring return (service line, budget and forecast, £m).
- ``commentary``: the service's commentary, a Markdown file with ``## Section`` headings.

Counts only leave this module: no child's identifier or date. Every input's rows are counted (read, kept,
dropped by rule, set aside) for the build log and manifest."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from pipeline.core.params import MAX_COMMENTARY_BYTES, InputSpec, ParamsError, _check_path, _hint, read_yaml
from pipeline.core.paths import params_dir, shown_path
from pipeline.ingest import ssda903
from pipeline.ingest.inputs import InputError, read_input, sha256_of
from pipeline.ingest.ledger import LedgerError, ledger_files, read_ledger, read_mapping_csv
from pipeline.public.authorities import Authority

# input name -> (kind of path, the section it switches on, the one line saying what fills it)
INPUTS = {
    "ssda903": ("folder", "Children looked after from the authority's own returns",
                "the authority's SSDA903 returns: a folder with one folder per collection year (2024-25/episodes.csv, "
                "2024-25/header.csv, ...)"),
    "ledger": ("file or folder", "Budget monitoring: the finance ledger",
               "the authority's finance ledger: a file, or a folder with one ledger file per financial year"),
    "cost_centres": ("file", "", "the cost-centre to service-line mapping, when the ledger has no service lines"),
    "budget_lines": ("file", "Budget monitoring: the quarter's forecast by service line",
                     "the quarter's budget monitoring return: each service line's budget and forecast in £m"),
    "commentary": ("file", "Commentary", "the service's commentary: a text file with a heading per section"),
}
# the pack's sections that need the authority's own data: the inputs that fill each, the one line the pack says
# (for a reader: no file or key names) and the hint for the build log (the profile's key)
SECTIONS = [
    ("Budget monitoring", ("ledger", "budget_lines"),
     "the authority's finance ledger, or its budget monitoring return for the quarter",
     "add inputs.ledger (with inputs.cost_centres) or inputs.budget_lines to the profile"),
    ("Placements and children looked after by child", ("ssda903",),
     "the authority's SSDA903 returns (children looked after, child by child)",
     "add inputs.ssda903 (a folder of yearly returns) to the profile"),
    ("Service-plan measures and targets", (),
     "the authority's measure return and targets, read by the quarterly pack",
     "a quarterly pack's params (cspack new-quarter) name the measures return; this pack does not read it"),
    ("Commentary", ("commentary",), "the service's commentary",
     "add inputs.commentary (a Markdown file with ## headings) to the profile"),
]
PROFILE_KEYS = ("authority", "authority_code", "dfe_la_code", "region", "boundary_note", "statistical_neighbours",
                "measure_catalogue", "unit_cost_defaults", "inputs")
INPUT_FIELDS = ("path", "source", "description", "synthetic", "allow_outside_project")


class LocalInputError(ValueError):
    """A profile or local input that cannot be used; the message names the file, key and what was expected."""


@dataclass
class LocalFigures:
    """What the authority's own inputs give, as aggregate tables; empty when the profile names none."""

    profile: Path | None = None
    inputs: dict[str, dict] = field(default_factory=dict)   # name -> path, source, synthetic, sha256, rows
    cla: pd.DataFrame | None = None        # year, own counts at 31 March, started, ceased; published beside
    cla_to: str = ""                       # the latest date in the returns, in words
    latest_part: dict | None = None        # the part year after the last 31 March: to, looked after, started, ceased
    mix: pd.DataFrame | None = None        # placement category, children, % on the latest 31 March
    mix_year: int | None = None
    spend_by_year: pd.DataFrame | None = None   # financial year, actual spend £m (the ledger)
    ledger_lines: pd.DataFrame | None = None    # latest year's service lines: budget, spend to date, forecast, £m
    ledger_year: str = ""
    ledger_month: pd.Timestamp | None = None
    budget_lines: pd.DataFrame | None = None    # the return's lines: budget, forecast, variance, £m
    commentary: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def given(self) -> list[str]:
        return list(self.inputs)

    @property
    def any_synthetic(self) -> bool:
        return any(i["synthetic"] for i in self.inputs.values())

    def still_needed(self) -> list[tuple[str, str]]:
        """The sections no given input fills, each with the one line saying what would."""
        return [(s, fills) for s, keys, fills, _ in SECTIONS if not any(k in self.inputs for k in keys)]

    def log_lines(self) -> list[str]:
        """For the build log: each input read with its rows, and how to fill each section still empty."""
        lines = [f"own data: {k} from {i['path']}: rows " + ", ".join(f"{n} {v:,}" for n, v in i.get("rows", {}).items())
                 for k, i in self.inputs.items()]
        lines += [f"own data: {s} not shown: {hint}" for s, keys, _, hint in SECTIONS
                  if not any(k in self.inputs for k in keys)]
        return lines + self.notes


def profile_path(a: Authority, root: Path) -> Path:
    return params_dir(root) / f"{a.slug}.yaml"


def read_profile(a: Authority, root: Path) -> tuple[Path | None, dict[str, InputSpec]]:
    """The authority's profile (None when there is none) and the local inputs it names, checked as a quarter's
    params are (each path exists, is a file or folder as expected, lies inside the project's data/ and params/
    unless allowed; a 'source' says where the figures come from)."""
    path = profile_path(a, root)
    if not path.exists():
        return None, {}
    rel = shown_path(path, root)
    try:
        raw = read_yaml(path)
    except (yaml.YAMLError, ParamsError, UnicodeDecodeError) as exc:
        raise LocalInputError(f"{rel}: not a readable profile: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise LocalInputError(f"{rel}: expected a mapping of keys such as authority_code and inputs")
    unknown = [k for k in raw if k not in PROFILE_KEYS]
    if unknown:
        raise LocalInputError(f"{rel}: unknown key(s) {', '.join(str(k) + _hint(k, PROFILE_KEYS) for k in unknown)} "
                              f"(allowed: {', '.join(PROFILE_KEYS)})")
    if str(raw.get("authority_code", "")) != a.code:
        raise LocalInputError(f"{rel}: authority_code is {raw.get('authority_code')!r}, but the file is {a.name}'s "
                              f"profile ({a.code}); scaffold it again with `cspack new-authority {a.code} --force`")
    given = raw.get("inputs") or {}
    if not isinstance(given, dict):
        raise LocalInputError(f"{rel}: key 'inputs': expected a mapping of input name to file, got {given!r:.80}")
    specs, problems = {}, []
    for key, spec in given.items():
        if key not in INPUTS:
            problems.append(f"inputs.{key} is not an input this pack reads{_hint(key, INPUTS)} "
                            f"(it reads: {', '.join(INPUTS)})")
            continue
        if isinstance(spec, str):
            spec = {"path": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("path"), str) or not spec["path"].strip():
            problems.append(f"inputs.{key}: expected a file path or a mapping with 'path'")
            continue
        extra = [k for k in spec if k not in INPUT_FIELDS]
        if extra:
            problems.append(f"inputs.{key}: unknown key(s) {', '.join(map(str, extra))} "
                            f"(allowed: {', '.join(INPUT_FIELDS)})")
        p = (root / spec["path"]).resolve()
        want = {"folder": ("folder",), "file": ("file",), "file or folder": ("file", "folder")}[INPUTS[key][0]]
        _check_path(f"inputs.{key}", spec["path"], p, root, spec.get("allow_outside_project") is True, want, problems)
        if key != "commentary" and not spec.get("source"):
            problems.append(f"inputs.{key}: 'source' is required (where the figures come from)")
        specs[key] = InputSpec(key=key, path=p, rel_path=str(spec["path"]),
                               description=str(spec.get("description") or INPUTS[key][2]),
                               source=str(spec.get("source", "")), synthetic=bool(spec.get("synthetic", False)),
                               kind={"ssda903": "ssda903", "ledger": "ledger"}.get(key, ""))
    if "cost_centres" in specs and "ledger" not in specs:
        problems.append("inputs.cost_centres: maps a ledger's cost centres, but no inputs.ledger is given")
    if problems:
        raise LocalInputError(f"{rel}: " + "; ".join(problems))
    return path, specs


def compute_local(a: Authority, root: Path, cla_published: pd.DataFrame | None = None) -> LocalFigures:
    """The authority's local figures from the inputs its profile names (none: an empty ``LocalFigures``).
    ``cla_published``: the authority's DfE counts (year, cla_at_31_march, cla_started, cla_ceased), shown
    beside the counts from its own returns."""
    path, specs = read_profile(a, root)
    out = LocalFigures(profile=path)
    for key, spec in specs.items():
        out.inputs[key] = {"path": spec.rel_path, "source": spec.source, "synthetic": spec.synthetic,
                           "description": spec.description, "sha256": sha256_of(spec.path)}
    try:
        if "ssda903" in specs:
            _ssda903(out, specs["ssda903"], cla_published)
        if "ledger" in specs:
            _ledger(out, specs["ledger"], specs.get("cost_centres"))
        if "budget_lines" in specs:
            _budget_lines(out, specs["budget_lines"])
        if "commentary" in specs:
            _commentary(out, specs["commentary"])
    except (InputError, LedgerError) as exc:
        raise LocalInputError(str(exc)) from None
    return out


# ---- SSDA903 ------------------------------------------------------------------------------------------
def cla_counts(eps: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, int]:
    """DfE's counts from a merged episode history: children looked after at ``end`` (an episode begun by then
    and not ended before the next day), children starting a period of care (RNE S) and children ceasing (an
    episode ending with a reason other than X1, a move within care) from ``start`` to ``end``, each child once."""
    at = (eps["DECOM_date"] <= end) & (eps["DEC_date"].isna() | (eps["DEC_date"] > end))
    started = (eps["RNE"] == "S") & eps["DECOM_date"].between(start, end)
    ceased = eps["DEC_date"].between(start, end) & ~eps["REC"].isin(["X1", ""])
    return {"looked_after": int(eps.loc[at, "CHILD"].nunique()), "started": int(eps.loc[started, "CHILD"].nunique()),
            "ceased": int(eps.loc[ceased, "CHILD"].nunique())}


def _ssda903(out: LocalFigures, spec: InputSpec, published: pd.DataFrame | None) -> None:
    try:
        years, notes = ssda903.find_returns(spec.path)
        if not years:
            raise ValueError("expected one folder per collection year (2024-25/episodes.csv, 2024-25/header.csv, "
                             "or DfE's XML submission in 2024-25/)" + (f"; {'; '.join(notes)}" if notes else ""))
        returns = {y: ssda903.read_return(p) for y, p in years.items()}
        m = ssda903.merge_returns(returns, notes)
    except ValueError as exc:
        raise LocalInputError(f"{spec.rel_path} (inputs.ssda903 in the profile): {exc}") from None
    eps = m["episodes"]
    r = dict(zip(m["reconciliation"]["item"], m["reconciliation"]["count"]))
    out.inputs["ssda903"]["rows"] = {"read": int(r["rows read (all returns)"]), "kept": int(r["episodes kept"]),
                                     "dropped by rule": int(r["rows dropped by rule"]),
                                     "quarantined": int(r["rows quarantined"])}
    if r["rows quarantined"]:
        out.notes.append(f"SSDA903: {int(r['rows quarantined']):,} of {int(r['rows read (all returns)']):,} rows "
                         "set aside as unusable (cspack check on a quarter lists each with its file, row and column)")
    last = max(eps["DECOM_date"].max(), eps["DEC_date"].max())
    first_year = min(ssda903.year_start(y) for y in years) + 1
    rows = []
    for y in range(first_year, last.year + 1):
        end = pd.Timestamp(y, 3, 31)
        if end > last:
            break
        rows.append({"year": y, **cla_counts(eps, pd.Timestamp(y - 1, 4, 1), end)})
    t = pd.DataFrame(rows, columns=["year", "looked_after", "started", "ceased"])
    pub = published if published is not None else pd.DataFrame(columns=["year", "cla_at_31_march", "cla_started",
                                                                        "cla_ceased"])
    pub = pub.set_index("year")
    for own, col in (("looked_after", "cla_at_31_march"), ("started", "cla_started"), ("ceased", "cla_ceased")):
        t[f"{own}_published"] = t["year"].map(pub[col]) if col in pub else np.nan
    out.cla = t
    out.cla_to = f"{last.day} {last:%B %Y}"
    if len(t) and last > pd.Timestamp(int(t["year"].max()), 3, 31):
        y = int(t["year"].max())
        out.latest_part = {"to": out.cla_to, **cla_counts(eps, pd.Timestamp(y, 4, 1), last)}
    if len(t):
        y = int(t["year"].max())
        end = pd.Timestamp(y, 3, 31)
        open_ = eps[(eps["DECOM_date"] <= end) & (eps["DEC_date"].isna() | (eps["DEC_date"] > end))]
        open_ = open_.sort_values("DECOM_date").groupby("CHILD").tail(1)  # one placement per child
        cat = ssda903.place_category(open_["PLACE"], open_["PLACE_PROVIDER"])
        n = cat.value_counts()
        mix = pd.DataFrame({"category": n.index, "children": n.to_numpy()})
        mix["placement"] = mix["category"].map(ssda903.CATEGORY_LABELS).fillna(mix["category"])
        mix["pct"] = mix["children"] / mix["children"].sum() * 100
        out.mix, out.mix_year = mix.reset_index(drop=True), y


# ---- the ledger ---------------------------------------------------------------------------------------
def _ledger(out: LocalFigures, spec: InputSpec, cc: InputSpec | None) -> None:
    mapping = (read_mapping_csv(cc.path, f"{cc.rel_path} (inputs.cost_centres in the profile)", LocalInputError)
               if cc is not None else None)
    files = ledger_files(spec.path)
    if not files:
        raise LocalInputError(f"{spec.rel_path} (inputs.ledger in the profile): no ledger files (named ledger*.csv "
                              "or ledger*.xlsx) in this folder")
    kept, counts, problems, year_files = [], {"read": 0, "kept": 0, "dropped by rule": 0, "quarantined": 0}, [], {}
    for f in files:
        shown = (spec.rel_path + "/" + f.name) if f != spec.path else spec.rel_path
        r = read_ledger(f, mapping, input_key="ledger")
        for y in sorted(set(r.kept["financial_year"].dropna())):
            if y in year_files:
                raise LocalInputError(f"{year_files[y]} and {shown} both hold financial year {y}: a ledger folder "
                                      "holds one file per year; remove the copy that is not wanted")
            year_files[y] = shown
        for q in pd.concat([r.quarantined, r.cells], ignore_index=True).itertuples():  # concat skips a None
            problems.append(f"{shown}, row {q.row}, column {q.column}: {str(q.value)[:40]!r} ({q.reason})")
        kept.append(r.kept)
        counts["read"] += r.rows_read
        counts["kept"] += len(r.kept)
        counts["dropped by rule"] += r.total_rows + r.blank_rows + r.duplicate_rows
        counts["quarantined"] += int(r.quarantined["row"].nunique())
    out.inputs["ledger"]["rows"] = counts
    if problems:  # a line published without its set-aside amounts would be wrong: stop, naming each
        raise LocalInputError(f"{len(problems)} ledger value(s) could not be read, so the service lines they belong "
                              "to would be shown with a wrong budget, spend or forecast: " + "; ".join(problems[:10])
                              + ("; ..." if len(problems) > 10 else "") + ". Correct the cells and build again")
    led = pd.concat(kept, ignore_index=True)
    if "service_line" not in led or led["service_line"].fillna("").eq("").any():
        raise LocalInputError(f"{spec.rel_path} (inputs.ledger in the profile): some cost centres have no service "
                              "line; add a service line column, or the cost-centre mapping (inputs.cost_centres)")
    for c in ("budget_annual", "actual", "forecast_full_year"):
        if c not in led:
            led[c] = pd.array([pd.NA] * len(led), dtype="Int64")
    out.spend_by_year = (led.groupby("financial_year")["actual"].sum(min_count=1).astype("Float64") / 1e8
                         ).rename("actual_gbpm").reset_index()
    year = str(led["financial_year"].max())
    cur = led[led["financial_year"] == year]
    month = cur["month"].max()
    at = cur[cur["month"] == month]
    lines = pd.DataFrame({
        "budget_gbpm": at.groupby("service_line")["budget_annual"].sum(min_count=1),
        "actual_to_date_gbpm": cur.groupby("service_line")["actual"].sum(min_count=1),
        "forecast_gbpm": at.groupby("service_line")["forecast_full_year"].sum(min_count=1)}).astype("Float64") / 1e8
    lines["variance_gbpm"] = lines["forecast_gbpm"] - lines["budget_gbpm"]
    out.ledger_lines = lines.reset_index().rename(columns={"index": "service_line"})
    out.ledger_year, out.ledger_month = year, month


# ---- the budget monitoring return and the commentary ----------------------------------------------------
def _budget_lines(out: LocalFigures, spec: InputSpec) -> None:
    r = read_input(spec, "budget_lines")
    out.inputs["budget_lines"]["rows"] = {"read": r.rows_in, "kept": len(r.kept),
                                          "dropped by rule": r.blank_rows + r.total_rows,
                                          "quarantined": int(r.quarantined["row"].nunique()) if len(r.quarantined)
                                          else 0}
    if len(r.quarantined):
        shown = "; ".join(f"row {q.row}, column {q.column}: {str(q.value)[:40]!r} ({q.reason})"
                          for q in r.quarantined.head(10).itertuples())
        raise LocalInputError(f"{spec.rel_path} (inputs.budget_lines in the profile): {len(r.quarantined)} value(s) "
                              f"could not be read, so the totals would be wrong: {shown}")
    k = r.kept
    t = pd.DataFrame({"service_line": k["service_line"].astype(str),
                      "budget_gbpm": pd.to_numeric(k["controllable_budget_gbpm"]).astype(float),
                      "forecast_gbpm": pd.to_numeric(k["full_year_forecast_gbpm"]).astype(float)})
    t["variance_gbpm"] = t["forecast_gbpm"] - t["budget_gbpm"]
    out.budget_lines = t


def _commentary(out: LocalFigures, spec: InputSpec) -> None:
    size = spec.path.stat().st_size
    if size > MAX_COMMENTARY_BYTES:
        raise LocalInputError(f"{spec.rel_path} (inputs.commentary in the profile): {size:,} bytes, more than the "
                              f"{MAX_COMMENTARY_BYTES:,} a commentary file may hold")
    try:
        text = spec.path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LocalInputError(f"{spec.rel_path} (inputs.commentary in the profile): not UTF-8 text at byte "
                              f"{exc.start}") from None
    parts: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("##") and line[2:3].isspace() and line[2:].strip():
            current = line[2:].strip()
            parts[current] = []
        elif current is not None and not line.lstrip().startswith("<!--"):
            parts[current].append(line)
    # escaped: the pack shows the analyst's words, never markup from a file
    out.commentary = {k: html.escape("\n".join(v).strip(), quote=False) for k, v in parts.items()
                      if "\n".join(v).strip()}
    out.inputs["commentary"]["rows"] = {"read": len(text.splitlines()), "kept": len(text.splitlines()),
                                        "dropped by rule": 0, "quarantined": 0}
