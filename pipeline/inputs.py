"""Reading the quarter's inputs: every file hashed, counted and checked against its schema.

Rows that cannot be used are quarantined with the file, row, column and reason, never dropped:
for every input, rows in = rows kept + rows quarantined."""

from __future__ import annotations

import hashlib
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
}


@dataclass
class ReadResult:
    spec: InputSpec
    sha256: str
    rows_in: int
    kept: pd.DataFrame
    quarantined: pd.DataFrame  # columns: input, file, row, column, value, reason
    columns: list[str]


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


def read_input(spec: InputSpec, schema_key: str | None = None) -> ReadResult:
    """Read one input. ``schema_key`` picks the schema (default: the input's own key)."""
    if spec.path.suffix.lower() != ".csv":
        raise InputError(f"{spec.rel_path} (input '{spec.key}'): expected a .csv file")
    raw = _read_csv_text(spec)
    digest = sha256_of(spec.path)
    schema = SCHEMAS.get(schema_key or spec.key)
    if schema is None:
        empty = pd.DataFrame(columns=QUARANTINE_COLUMNS)
        return ReadResult(spec, digest, len(raw), raw, empty, list(raw.columns))
    missing = [c for c in schema["required"] if c not in raw.columns]
    if missing:
        raise InputError(f"{spec.rel_path} (input '{spec.key}'): missing column(s) {', '.join(missing)}; "
                         f"found {', '.join(raw.columns)}")
    typed = raw.copy()
    bad = pd.Series(False, index=raw.index)
    problems = []
    for col in schema["numeric"]:
        if col not in raw.columns:
            continue
        text = raw[col].str.strip()
        values = pd.to_numeric(text, errors="coerce")
        invalid = values.isna() & (text != "")
        for idx in raw.index[invalid]:
            problems.append({"input": spec.key, "file": spec.rel_path, "row": int(idx) + 2, "column": col,
                             "value": raw.at[idx, col], "reason": "expected a number"})
        bad |= invalid
        typed[col] = values
    for col in schema.get("non_negative", []):
        if col in typed:
            neg = (typed[col] < 0) & ~bad
            for idx in raw.index[neg]:
                problems.append({"input": spec.key, "file": spec.rel_path, "row": int(idx) + 2, "column": col,
                                 "value": raw.at[idx, col], "reason": "negative where only zero or more is allowed"})
            bad |= neg
    for col, (lo, hi) in schema.get("range", {}).items():
        if col in typed:
            out = ((typed[col] < lo) | (typed[col] > hi)) & ~bad
            for idx in raw.index[out]:
                problems.append({"input": spec.key, "file": spec.rel_path, "row": int(idx) + 2, "column": col,
                                 "value": raw.at[idx, col], "reason": f"expected a value from {lo} to {hi}"})
            bad |= out
    for col in schema.get("unique", []):
        dup = raw[col].duplicated(keep="first") & (raw[col].str.strip() != "") & ~bad
        first_row = {v: int(i) + 2 for i, v in raw[col][~raw[col].duplicated(keep="first")].items()}
        for idx in raw.index[dup]:
            problems.append({"input": spec.key, "file": spec.rel_path, "row": int(idx) + 2, "column": col,
                             "value": raw.at[idx, col], "reason": f"duplicate of row {first_row[raw.at[idx, col]]}"})
        bad |= dup
    for col in schema["required"]:
        blank = raw[col].str.strip() == ""
        for idx in raw.index[blank & ~bad]:
            problems.append({"input": spec.key, "file": spec.rel_path, "row": int(idx) + 2, "column": col,
                             "value": "", "reason": "required value is blank"})
        bad |= blank
    quarantined = pd.DataFrame(problems, columns=QUARANTINE_COLUMNS)
    kept = typed[~bad].reset_index(drop=True)
    assert len(kept) + int(bad.sum()) == len(raw)
    return ReadResult(spec, digest, len(raw), kept, quarantined, list(raw.columns))
