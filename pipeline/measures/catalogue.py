"""The measure catalogue: one row per key measure the council monitors (``params/measures/catalogue.csv``)
with its definition, unit, polarity, frequency, the council outcome and strategic objective it serves, its
source, the DfE series it is benchmarked against, and its target text for each financial year
(``target_2024-25``), read as a structured rule by ``parsing.parse_target``.

Measures in a quarter's return are matched to the catalogue by id (``measure_ref``) or by name (the
catalogue's name or one of its ``aliases``, compared without case or punctuation). Where the return
gives no target for the year, the catalogue's is used. ``service_plan_measures`` turns a service plan's
key-measure table (seed 001's layout) into the long form a return has, with the published actuals."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from pipeline.ingest.inputs import InputError
from pipeline.ingest.parsing import parse_target
from pipeline.measures.ratings import rate

REQUIRED = ["id", "name", "aliases", "definition", "unit", "polarity", "frequency", "outcome", "objective",
            "benchmark", "source"]
UNITS = {"percent", "number", "gbp", "days", "points", "rate", "tonnes", ""}
POLARITIES = {"higher", "lower"}
FREQUENCIES = {"monthly", "quarterly", "termly", "annual"}
_TARGET = re.compile(r"^target_(\d{4})-(\d{2})$")
UNRATED = ("unparsed", "none", "tbc", "monitor", "baseline", "gap", "thresholds")


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", str(text).lower()).strip()


def load(path: Path, series: set[str] | None = None) -> pd.DataFrame:
    """Read and check the catalogue; a bad row is an error naming the file, row and column."""
    path = Path(path)
    try:
        cat = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one line naming it
        raise InputError(f"{path}: cannot be read as a CSV measure catalogue ({exc})") from None
    missing = [c for c in REQUIRED if c not in cat]
    if missing:
        raise InputError(f"{path}: the measure catalogue has no column(s) {', '.join(missing)} (expected {', '.join(REQUIRED)} "
                         "and target_YYYY-YY columns)")
    problems = []
    for i, r in cat.iterrows():
        row = i + 2  # the file's own row number (header is row 1)
        if not r["id"] or not re.fullmatch(r"[a-z0-9_]+", r["id"]):
            problems.append(f"row {row}, column id: {r['id']!r} is not a lower-case id (letters, digits, _)")
        if r["polarity"] not in POLARITIES:
            problems.append(f"row {row}, column polarity: {r['polarity']!r}, expected higher or lower")
        if r["unit"] not in UNITS:
            problems.append(f"row {row}, column unit: {r['unit']!r}, expected one of {', '.join(sorted(u for u in UNITS if u))}")
        if r["frequency"] not in FREQUENCIES:
            problems.append(f"row {row}, column frequency: {r['frequency']!r}, expected one of {', '.join(sorted(FREQUENCIES))}")
        if series is not None and r["benchmark"] and r["benchmark"] not in series:
            problems.append(f"row {row}, column benchmark: {r['benchmark']!r} is not a known series ({', '.join(sorted(series))})")
    dup = cat["id"][cat["id"].duplicated()]
    problems += [f"column id: {d!r} appears more than once" for d in dup]
    if problems:
        raise InputError(f"{path}: {len(problems)} problem(s) in the measure catalogue:\n  - " + "\n  - ".join(problems))
    return cat


def target_columns(cat: pd.DataFrame) -> list[str]:
    return [c for c in cat.columns if _TARGET.match(c)]


def target_for(cat_row: pd.Series, fy: str) -> str:
    """The catalogue's target text for financial year ``fy`` (2024-25); blank when none."""
    return str(cat_row.get(f"target_{fy}", "") or "")


def rule_of(text: str, polarity: str = "higher") -> dict:
    """A target text as its structured rule, or with its reason for being unrated."""

    rule = parse_target(text)
    reason = rate(1.0, rule, polarity).sentence if rule.kind in UNRATED else ""
    return {"target": text, "rule": rule.kind, "op": rule.op or "", "value": rule.value, "high": rule.high,
            "direction": rule.direction or "", "quartile": rule.quartile or "", "unrated_reason": reason}


def text_rules(texts: pd.Series) -> pd.DataFrame:
    """Every distinct target text of a service plan's table with its rule or unrated reason."""
    return pd.DataFrame([rule_of(t) for t in texts.dropna().astype(str).unique()])


def rules(cat: pd.DataFrame) -> pd.DataFrame:
    """Every target text of the catalogue, by measure and year, with its structured rule or the reason
    it is not rated."""
    return pd.DataFrame([{"id": r["id"], "year": col[len("target_"):], **rule_of(r[col], r["polarity"])}
                         for _, r in cat.iterrows() for col in target_columns(cat) if r[col]])


def matcher(cat: pd.DataFrame) -> dict[str, str]:
    """Normalised id, name and alias -> catalogue id."""
    m: dict[str, str] = {}
    for _, r in cat.iterrows():
        for text in [r["id"], r["name"], *[a for a in r["aliases"].split(";") if a.strip()]]:
            m.setdefault(_key(text), r["id"])
    return m


def match(measures: pd.DataFrame, cat: pd.DataFrame) -> dict[str, str]:
    """measure_ref -> catalogue id for every measure of a return found in the catalogue (by its ref,
    then its name)."""
    m = matcher(cat)
    out = {}
    for ref, g in measures.groupby("measure_ref", sort=False):
        name = str(g["measure_name"].iloc[0])
        hit = m.get(_key(ref)) or m.get(_key(name))
        if hit:
            out[str(ref)] = hit
    return out


def service_plan_measures(table: pd.DataFrame, cat: pd.DataFrame) -> pd.DataFrame:
    """A service plan's key-measure table (``measure``, ``actual_2020_21``, ``latest_2022_23``,
    ``target_2022_23``, ..., ``source``) in the long form of a measures return, every measure matched to
    the catalogue (an unmatched measure is an error: add it, or an alias, to the catalogue)."""
    m = matcher(cat)
    cat_i = cat.set_index("id")
    rows, unmatched = [], []
    for _, r in table.iterrows():
        cid = m.get(_key(r["measure"]))
        if cid is None:
            unmatched.append(r["measure"])
            continue
        c = cat_i.loc[cid]
        for col in table.columns:
            mm = re.fullmatch(r"(actual|latest|target)_(\d{4})_(\d{2})", col)
            if not mm or not str(r[col]).strip():
                continue
            y0 = int(mm.group(2))
            period = f"{y0}-{y0 + 1}" if mm.group(1) != "target" else f"Target {mm.group(2)[2:]}-{mm.group(3)}"
            rows.append({"measure_ref": cid, "measure_name": c["name"], "name_inferred": "no", "polarity": c["polarity"],
                         "unit": c["unit"], "period": period, "value_raw": str(r[col]), "source": r.get("source", "")})
    if unmatched:
        raise InputError(f"{len(unmatched)} service plan measure(s) not in the catalogue: " + "; ".join(unmatched[:5]))
    return pd.DataFrame(rows)
