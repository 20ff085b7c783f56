"""Reading the quarter's inputs: every file hashed, counted and checked against its schema.

Rows that cannot be used are quarantined with the file, row, column and reason, never dropped:
for every input, rows in = rows kept + rows quarantined."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .params import InputSpec


class InputError(ValueError):
    """An input file that cannot be read at all (wrong encoding, missing columns)."""


# Known input families: required columns and those that must hold numbers. Inputs not listed
# here (published DfE and national files) are read as text and described, not typed.
SCHEMAS: dict[str, dict[str, list[str]]] = {
    "budget_lines": {"unique": ["line_id"], "required": ["line_id", "service_line", "short_name", "controllable_budget_gbpm",
                                  "full_year_forecast_gbpm", "source"],
                     "numeric": ["controllable_budget_gbpm", "full_year_forecast_gbpm",
                                 "published_variance_gbpm", "published_variance_pct"]},
    "budget_totals": {"required": ["row", "controllable_budget_gbpm", "full_year_forecast_gbpm"],
                      "numeric": ["controllable_budget_gbpm", "full_year_forecast_gbpm",
                                  "published_variance_gbpm", "published_variance_pct"]},
    "additional_funding": {"required": ["funding_line", "amount_gbpm", "source"], "numeric": ["amount_gbpm"]},
    "one_off_items": {"required": ["kind", "amount_gbpm", "description"], "numeric": ["amount_gbpm"]},
    "savings_initiatives": {"non_negative": ["budget_reduction_gbpm", "forecast_achieved_gbpm"],
                            "required": ["initiative", "budget_reduction_gbpm", "forecast_achieved_gbpm"],
                            "numeric": ["budget_reduction_gbpm", "forecast_achieved_gbpm",
                                        "published_shortfall_gbpm"]},
    "savings_targets": {"required": ["component", "budget_reduction_gbpm"], "numeric": ["budget_reduction_gbpm"]},
    "savings_notes": {"required": ["note", "text"], "numeric": []},
    "growth_items": {"required": ["item", "amount_gbpm", "kind"], "numeric": ["amount_gbpm"],
                     "non_negative": ["amount_gbpm"]},
    "financial_risks": {"required": ["service", "risk", "sensitivity_gbpm", "likelihood"],
                        "numeric": ["sensitivity_gbpm", "likelihood"], "non_negative": ["sensitivity_gbpm"],
                        "range": {"likelihood": (1, 5)}},
    "earmarked_reserves": {"required": ["reserve", "balance_gbpm", "movement"], "numeric": ["balance_gbpm"],
                           "non_negative": ["balance_gbpm"]},
    "aged_debt": {"required": ["age_band", "amount_gbpm"], "numeric": ["amount_gbpm", "published_pct"],
                  "non_negative": ["amount_gbpm"]},
    "debt_written_off": {"required": ["period", "amount_gbpm"], "numeric": ["amount_gbpm"]},
    "traded_fully": {"required": ["service_area", "trading_area", "gross_expenditure_gbpm", "gross_income_gbpm"],
                     "numeric": ["gross_expenditure_gbpm", "gross_income_gbpm", "published_contribution_gbpm"]},
    "traded_partially": {"required": ["service_area", "trading_area", "income_target_gbpm", "projected_income_gbpm"],
                         "numeric": ["income_target_gbpm", "projected_income_gbpm", "published_excess_gbpm"]},
    "measures": {"required": ["measure_ref", "measure_name", "polarity", "period", "value_raw"], "numeric": []},
    "deliverables": {"required": ["deliverable"], "numeric": []},  # a blank rating is "not rated"
    "service_plan_measures": {"required": ["measure", "source"], "numeric": []},
    "placement_unit_costs": {"required": ["category", "weekly_cost_gbp", "base_year", "source"], "numeric": ["weekly_cost_gbp"],
                             "non_negative": ["weekly_cost_gbp"], "unique": ["category"]},
}


@dataclass
class ReadResult:
    spec: InputSpec
    sha256: str
    rows_in: int
    kept: pd.DataFrame
    quarantined: pd.DataFrame  # columns: input, file, row, column, value, reason
    columns: list[str]
    blank_rows: int = 0  # dropped by rule: rows_in = kept + blank_rows + quarantined rows
    header_row: int = 1


QUARANTINE_COLUMNS = ["input", "file", "row", "column", "value", "reason"]


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, or of a folder (every file's relative path and bytes, in sorted order)."""
    h = hashlib.sha256()
    path = Path(path)
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(path)).encode())
            h.update(bytes.fromhex(sha256_of(f)))
        return h.hexdigest()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_csv_text(spec: InputSpec) -> pd.DataFrame:
    if spec.path.stat().st_size == 0:
        raise InputError(f"{spec.rel_path} (input '{spec.key}'): the file is empty; expected a header row and data")
    try:
        return pd.read_csv(spec.path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{spec.rel_path} (input '{spec.key}'): not UTF-8 text at byte {exc.start}; "
                         "save it as UTF-8 CSV") from exc
    except pd.errors.ParserError as exc:
        raise InputError(f"{spec.rel_path} (input '{spec.key}'): not a readable CSV: {exc}") from exc


def heading_key(text: str) -> str:
    """A heading as people write it -> cspack's column name: "Controllable Budget £m" ->
    "controllable_budget_gbpm", "Line ID" -> "line_id"."""
    t = str(text).strip().lower().replace("£m", " gbpm ").replace("(£m)", " gbpm ")
    return re.sub(r"[^a-z0-9]+", "_", t).strip("_")


def _locate_header(spec: InputSpec, required: list[str], scan: int = 20) -> tuple[pd.DataFrame, int]:
    """The table under any title rows: the first of the top ``scan`` rows holding every required
    column (by ``heading_key``) is the header. Returns the cells as text and the header's 1-based row."""
    import csv
    import io

    if spec.path.stat().st_size == 0:
        raise InputError(f"{spec.rel_path} (input '{spec.key}'): the file is empty; expected a header row and data")
    try:
        text = spec.path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{spec.rel_path} (input '{spec.key}'): not UTF-8 text at byte {exc.start}; "
                         "save it as UTF-8 CSV") from exc
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise InputError(f"{spec.rel_path} (input '{spec.key}'): the file is empty; expected a header row and data")
    h = next((i for i, r in enumerate(rows[:scan]) if set(required) <= {heading_key(c) for c in r}), 0)
    header = [c.strip() for c in rows[h]]
    keys = [heading_key(c) if set(required) <= {heading_key(x) for x in header} else c for c in header]
    width = len(header)
    body = [(r + [""] * width)[:width] for r in rows[h + 1:]]
    df = pd.DataFrame(body, columns=keys, dtype=object).astype(str) if body else pd.DataFrame(columns=keys, dtype=str)
    return df, h + 1


def read_input(spec: InputSpec, schema_key: str | None = None) -> ReadResult:
    """Read one input. ``schema_key`` picks the schema (default: the input's own key).

    For a known family: title rows above the header are skipped, headings matched loosely
    ("Controllable Budget £m"), blank rows dropped and counted, and numbers read as finance
    systems print them ("£1.234", "(0.500)", "0.500-", "1,234.5"; "-" is nil)."""
    if spec.path.suffix.lower() != ".csv":
        raise InputError(f"{spec.rel_path} (input '{spec.key}'): expected a .csv file")
    digest = sha256_of(spec.path)
    schema = SCHEMAS.get(schema_key or spec.key)
    if schema is None:
        raw = _read_csv_text(spec)
        empty = pd.DataFrame(columns=QUARANTINE_COLUMNS)
        return ReadResult(spec, digest, len(raw), raw, empty, list(raw.columns))
    table, header_row = _locate_header(spec, schema["required"])
    missing = [c for c in schema["required"] if c not in table.columns]
    if missing:
        raise InputError(f"{spec.rel_path} (input '{spec.key}'): missing column(s) {', '.join(missing)}; "
                         f"found {', '.join(table.columns)}")
    blank = (table.apply(lambda c: c.str.strip()) == "").all(axis=1) if len(table.columns) else pd.Series(dtype=bool)
    file_row = pd.Series(range(header_row + 1, header_row + 1 + len(table)), index=table.index)
    raw = table[~blank].reset_index(drop=True)
    rows = file_row[~blank].reset_index(drop=True)
    result = _typed(spec, digest, schema, raw, rows)
    result.rows_in = len(table)
    result.blank_rows = int(blank.sum())
    result.header_row = header_row
    return result


def _typed(spec, digest, schema, raw, rows) -> ReadResult:
    typed = raw.copy()
    bad = pd.Series(False, index=raw.index)
    problems = []
    for col in schema["numeric"]:
        if col not in raw.columns:
            continue
        text = raw[col].str.strip()
        values = parse_number_series(text)
        invalid = values.isna() & (text != "")
        for idx in raw.index[invalid]:
            problems.append({"input": spec.key, "file": spec.rel_path, "row": int(rows[idx]), "column": col,
                             "value": raw.at[idx, col], "reason": "expected a number"})
        bad |= invalid
        typed[col] = values
    for col in schema.get("non_negative", []):
        if col in typed:
            neg = (typed[col] < 0) & ~bad
            for idx in raw.index[neg]:
                problems.append({"input": spec.key, "file": spec.rel_path, "row": int(rows[idx]), "column": col,
                                 "value": raw.at[idx, col], "reason": "negative where only zero or more is allowed"})
            bad |= neg
    for col, (lo, hi) in schema.get("range", {}).items():
        if col in typed:
            out = ((typed[col] < lo) | (typed[col] > hi)) & ~bad
            for idx in raw.index[out]:
                problems.append({"input": spec.key, "file": spec.rel_path, "row": int(rows[idx]), "column": col,
                                 "value": raw.at[idx, col], "reason": f"expected a value from {lo} to {hi}"})
            bad |= out
    for col in schema.get("unique", []):
        dup = raw[col].duplicated(keep="first") & (raw[col].str.strip() != "") & ~bad
        first_row = {v: int(rows[i]) for i, v in raw[col][~raw[col].duplicated(keep="first")].items()}
        for idx in raw.index[dup]:
            problems.append({"input": spec.key, "file": spec.rel_path, "row": int(rows[idx]), "column": col,
                             "value": raw.at[idx, col], "reason": f"duplicate of row {first_row[raw.at[idx, col]]}"})
        bad |= dup
    for col in schema["required"]:
        blank = raw[col].str.strip() == ""
        for idx in raw.index[blank & ~bad]:
            problems.append({"input": spec.key, "file": spec.rel_path, "row": int(rows[idx]), "column": col,
                             "value": "", "reason": "required value is blank"})
        bad |= blank
    quarantined = pd.DataFrame(problems, columns=QUARANTINE_COLUMNS)
    kept = typed[~bad].reset_index(drop=True)
    assert len(kept) + int(bad.sum()) == len(raw)
    return ReadResult(spec, digest, len(raw), kept, quarantined, list(raw.columns))


_NUMBER_RE = r"^(?P<lead>[-(]?)\s*£?\s*(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)\s*(?P<trail>[-)]?)$"


def parse_number_series(text: pd.Series) -> pd.Series:
    """Numbers as finance systems print them -> float: "1.5", "£1,234.5", "(0.5)" and "0.5-" (negative),
    "-", "–" or "nil" (zero). Blank and anything else -> NaN (the caller tells them apart)."""
    t = text.astype(str).str.strip().str.replace("\u00a0", "", regex=False)
    nil = t.str.lower().isin(["-", "–", "—", "nil"])
    m = t.str.extract(_NUMBER_RE)
    value = pd.to_numeric(m["num"].str.replace(",", "", regex=False), errors="coerce")
    lead, trail = m["lead"].fillna(""), m["trail"].fillna("")
    ok = value.notna() & ((lead == "(") == (trail == ")")) & ~((lead == "-") & (trail == "-"))
    neg = (lead == "-") | (trail == "-") | ((lead == "(") & (trail == ")"))
    plain = pd.to_numeric(t, errors="coerce")  # 1e-3 and the like
    out = value.where(ok).mul(neg.map({True: -1.0, False: 1.0}))
    out = out.where(ok, plain)
    return out.mask(nil, 0.0)
