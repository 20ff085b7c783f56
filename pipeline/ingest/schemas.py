"""Schemas (pandera) for every table cspack writes to ``data/processed/``, and the Parquet
reading and writing that goes through them.

Every processed table is validated on the way out and on the way back in, so a notebook never sees
a column of the wrong type: text is pandas' ``str``, counts and money in pence ``Int64``, amounts in
£m ``float64``, dates ``datetime64[ns]``, flags ``boolean``. Columns a schema does not name (an
authority's own extra columns) are kept, as text. A table that breaks its schema is a bug in cspack's
cleaning, not bad input (bad input is quarantined before it gets here), so the error names the
table, column, check and the first failing values."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from pipeline.ingest.inputs import QUARANTINE_COLUMNS, SCHEMAS

TEXT, INT, FLOAT, DATE, FLAG = "string", "Int64", "float64", "datetime64[ns]", "boolean"


class SchemaError(ValueError):
    """A processed table that does not match its schema."""


def _col(dtype, nullable=True, checks=None, unique=False):
    return pa.Column(dtype, nullable=nullable, coerce=True, checks=checks or [], unique=unique, required=True)


def _opt(dtype, checks=None):
    return pa.Column(dtype, nullable=True, coerce=True, checks=checks or [], required=False)


def _input_schema(family: str, stacked: bool = False) -> pa.DataFrameSchema:
    """A quarterly-return table from its family's rules in ``inputs.SCHEMAS``; ``stacked``: several
    quarters of it, with a ``quarter`` column (keys unique within a quarter, not across)."""
    rules = SCHEMAS[family]
    cols = {}
    for c in rules["required"]:
        cols[c] = _col(TEXT, nullable=False)
    for c in rules["numeric"]:
        checks = []
        if c in rules.get("non_negative", []):
            checks.append(pa.Check.ge(0))
        if c in rules.get("range", {}):
            lo, hi = rules["range"][c]
            checks.append(pa.Check.in_range(lo, hi))
        cols[c] = (_col(FLOAT, nullable=False, checks=checks) if c in rules["required"] else _opt(FLOAT, checks))
    for c in rules.get("unique", []):
        cols[c] = _col(TEXT, nullable=False, unique=not stacked)
    if stacked:
        cols["quarter"] = _col(TEXT, nullable=False, checks=[pa.Check.str_matches(r"^\d{4}-\d{2}-Q[1-4]$")])
        unique = rules.get("unique", [])
        checks = [pa.Check(lambda d, u=tuple(unique): ~d.duplicated(["quarter", *u]), name=f"{'+'.join(unique)} unique within a quarter")] if unique else []
        return pa.DataFrameSchema(cols, name=f"{family} (quarters stacked)", checks=checks)
    return pa.DataFrameSchema(cols, name=family)


_FY = pa.Check.str_matches(r"^\d{4}-\d{2}$")
_EPISODE_CODES = ["RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "REC", "REASON_PLACE_CHANGE"]

TABLES: dict[str, pa.DataFrameSchema] = {
    **{family: _input_schema(family) for family in SCHEMAS},
    **{f"history_{family}": _input_schema(family, stacked=True) for family in SCHEMAS},
    "ledger": pa.DataFrameSchema({
        "financial_year": _opt(TEXT, [_FY]),
        "period": _opt(INT, [pa.Check.in_range(1, 16)]),
        "month": _opt(DATE),
        "cost_centre": _col(TEXT, nullable=False),
        "cost_centre_name": _opt(TEXT), "service_line_id": _opt(TEXT), "service_line": _opt(TEXT),
        "division": _opt(TEXT), "subjective": _opt(TEXT),
        "budget_annual": _opt(INT), "budget_month": _opt(INT), "actual": _col(INT),
        "commitment": _opt(INT), "forecast_full_year": _opt(INT),
    }, name="ledger (money in pence)"),
    "ssda903_episodes": pa.DataFrameSchema({
        "CHILD": _col(TEXT, nullable=False),
        "DECOM": _col(DATE, nullable=False),
        **{c: _col(TEXT) for c in _EPISODE_CODES},
        "DEC": _col(DATE),
        "HOME_POST": _opt(TEXT), "PL_POST": _opt(TEXT), "URN": _opt(TEXT),
        "collection_year": _col(TEXT, nullable=False, checks=[_FY]),
        # the fixes and flags of pipeline.ingest.ssda903 (FIXES, FLAGS) applied to the row, joined by ";"
        "fix": _col(TEXT, checks=[pa.Check.str_matches(
            r"^(?:(?:rec_blanked|vanished_closed|overlap_truncated|rec_x1|rec_missing|x1_no_continuation|"
            r"continuation_rne|codes|before_year)(?:;(?!$)|$))*$")]),
    }, name="SSDA903 episode history",
        checks=[pa.Check(lambda d: d["DEC"].isna() | (d["DEC"] >= d["DECOM"]), name="DEC not before DECOM")]),
    "ssda903_header": pa.DataFrameSchema({
        "CHILD": _col(TEXT, nullable=False, unique=True),
        "SEX": _col(TEXT, checks=[pa.Check.isin(["M", "F"])]),
        "DOB": _col(DATE, nullable=False),
        "ETHNIC": _col(TEXT), "UPN": _opt(TEXT), "MOTHER": _opt(TEXT), "MC_DOB": _opt(DATE),
        "collection_year": _col(TEXT, nullable=False, checks=[_FY]),
    }, name="SSDA903 header (latest per child)"),
    "ssda903_uasc": pa.DataFrameSchema({
        "CHILD": _col(TEXT, nullable=False), "DOB": _col(DATE, nullable=False),
        "DUC": _col(DATE, nullable=False), "collection_year": _col(TEXT, nullable=False, checks=[_FY]),
    }, name="SSDA903 UASC", checks=[pa.Check(lambda d: d["DUC"] > d["DOB"], name="DUC after DOB")]),
    "ssda903_missing": pa.DataFrameSchema({
        "CHILD": _col(TEXT, nullable=False), "MISSING": _col(TEXT, checks=[pa.Check.isin(["M", "A"])]),
        "MIS_START": _col(DATE, nullable=False), "MIS_END": _col(DATE),
        "collection_year": _col(TEXT, nullable=False, checks=[_FY]),
    }, name="SSDA903 missing and away episodes",
        checks=[pa.Check(lambda d: d["MIS_END"].isna() | (d["MIS_END"] >= d["MIS_START"]), name="MIS_END not before MIS_START")]),
    "register": pa.DataFrameSchema({
        "input": _col(TEXT, nullable=False, unique=True), "group": _col(TEXT), "file": _col(TEXT, nullable=False),
        "description": _col(TEXT), "source": _col(TEXT), "synthetic": _col(FLAG, nullable=False),
        "sha256": _col(TEXT, nullable=False, checks=[pa.Check.str_matches(r"^[0-9a-f]{64}$")]),
        **{c: _col(INT, nullable=False, checks=[pa.Check.ge(0)]) for c in
           ("rows_in", "rows_kept", "rows_fixed", "rows_dropped", "rows_quarantined", "columns")},
    }, name="input register", checks=[pa.Check(
        lambda d: d["rows_in"] == d["rows_kept"] + d["rows_dropped"] + d["rows_quarantined"],
        name="rows in = kept + dropped + quarantined")]),
    "quarantine": pa.DataFrameSchema({
        "input": _col(TEXT, nullable=False), "file": _col(TEXT, nullable=False), "row": _col(INT, nullable=False),
        "column": _col(TEXT), "value": _col(TEXT), "reason": _col(TEXT, nullable=False),
    }, name="quarantine"),
    "findings": pa.DataFrameSchema({
        "input": _col(TEXT, nullable=False), "check": _col(TEXT, nullable=False), "finding": _col(TEXT),
        "count": _col(INT, checks=[pa.Check.ge(0)]),
        "level": _col(TEXT, nullable=False, checks=[pa.Check.isin(["info", "warning", "error"])]),
    }, name="quality findings"),
}


def conform(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """``df`` with every column of the schema coerced to its type and checked, and any other
    column as text. Raises SchemaError naming the table, columns, checks and failing values."""
    schema = TABLES[table]
    df = df.copy()
    for c in df.columns:
        if c not in schema.columns:
            df[c] = df[c].astype(TEXT)
    try:
        return schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        lines = []
        for (col, check), g in fc.groupby(["column", "check"], dropna=False, sort=False):
            examples = ", ".join(repr(v) for v in g["failure_case"].head(3))
            rows = ", ".join(str(i) for i in g["index"].head(3) if pd.notna(i))
            lines.append(f"{schema.name}: column {col!r} fails {check} ({len(g)} value(s), e.g. {examples}"
                         + (f" at rows {rows}" if rows else "") + ")")
        raise SchemaError("\n".join(lines)) from None


def write_table(df: pd.DataFrame, path: Path, table: str) -> pd.DataFrame:
    """Validate and write one processed table as Parquet; returns the conformed table."""
    out = conform(df, table)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_parquet(path, index=False)
    return out


def read_table(path: Path, table: str) -> pd.DataFrame:
    """Read a processed Parquet table and check it still matches its schema."""
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow's own errors for a cut or foreign file
        raise SchemaError(f"{path}: not a readable Parquet table ({type(exc).__name__}: {exc}); "
                          "delete it and re-run preparation") from None
    return conform(df, table)


def column_types(table: str) -> pd.DataFrame:
    """The schema as a table for the method notes: column, type, required, checks."""
    s = TABLES[table]
    return pd.DataFrame([{"column": n, "type": str(c.dtype), "nullable": c.nullable,
                          "checks": "; ".join(str(ch) for ch in c.checks)} for n, c in s.columns.items()])


__all__ = ["TABLES", "SchemaError", "conform", "write_table", "read_table", "column_types", "QUARANTINE_COLUMNS"]
