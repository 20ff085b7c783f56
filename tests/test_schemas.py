"""Processed tables: Parquet with the dtypes their pandera schemas declare, checked on the way in
and out; a table that breaks its schema, or a cut Parquet file, gives a one-line error per fault."""

import pandas as pd
import pytest

from pipeline.ingest.schemas import TABLES, SchemaError, conform, read_table, write_table
from pipeline.quarter.context import open_quarter

from .conftest import copy_project


@pytest.fixture(scope="module")
def default_ctx(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("schemas") / "proj")
    return open_quarter("2026-27-Q2", root=root)


def test_every_processed_table_is_parquet_with_its_declared_types(default_ctx):
    ctx = default_ctx
    files = sorted((ctx.work_dir / "inputs").glob("*"))
    assert files and all(f.suffix == ".parquet" for f in files)
    names = {f.stem for f in files}
    assert {"ledger", "budget_lines", "ssda903_episodes", "ssda903_header", "ssda903_uasc", "ssda903_missing"} <= names
    for key in names:
        df = ctx.table(key)
        raw = pd.read_parquet(ctx.work_dir / "inputs" / f"{key}.parquet")
        schema = TABLES[ctx._schema_of(key)]
        for col, spec in schema.columns.items():
            if col in raw:
                assert str(df[col].dtype) == str(raw[col].dtype), (key, col)  # stored as declared: no re-coercion
                assert pd.api.types.is_dtype_equal(raw[col].dtype, spec.dtype.type) or str(spec.dtype) == "string", (key, col)
    led = ctx.table("ledger")
    assert str(led["actual"].dtype) == "Int64" and str(led["month"].dtype).startswith("datetime64")
    eps = ctx.table("ssda903_episodes")
    assert str(eps["DECOM"].dtype).startswith("datetime64") and eps["DECOM"].notna().all()
    for name in ("register", "quarantine", "findings"):
        assert (ctx.work_dir / f"{name}.parquet").is_file()
    reg = ctx.register()
    assert {"ssda903", "ssda903:header", "ssda903:uasc", "ssda903:missing"} <= set(reg["input"])


def test_processed_child_tables_keep_only_what_analysis_needs(default_ctx):
    missing = default_ctx.table("ssda903_missing")
    assert "DOB" not in missing and "SEX" not in missing  # held once, in the header table


def test_a_table_breaking_its_schema_names_table_column_and_values():
    df = pd.DataFrame({"cost_centre": ["C1", "C2"], "actual": ["100", "ten"], "period": [1, 19]})
    with pytest.raises(SchemaError) as e:
        conform(df, "ledger")
    msg = str(e.value)
    assert "ledger (money in pence): column 'actual'" in msg and "'ten'" in msg
    assert "column 'period' fails in_range(1, 16)" in msg and len(msg.splitlines()) >= 2


def test_register_must_reconcile():
    reg = pd.DataFrame([{"input": "a", "group": "", "file": "a.csv", "description": "", "source": "", "synthetic": False,
                         "sha256": "0" * 64, "rows_in": 10, "rows_kept": 8, "rows_fixed": 0, "rows_dropped": 0,
                         "rows_quarantined": 1, "columns": 3}])
    with pytest.raises(SchemaError, match="rows in = kept \\+ dropped \\+ quarantined"):
        conform(reg, "register")
    assert conform(reg.assign(rows_quarantined=2), "register")["rows_in"].dtype == "Int64"


def test_extra_columns_are_kept_as_text(tmp_path):
    df = pd.DataFrame({"funding_line": ["Covid"], "amount_gbpm": ["4.85"], "source": ["s"], "our_code": [17]})
    out = write_table(df, tmp_path / "f.parquet", "additional_funding")
    back = read_table(tmp_path / "f.parquet", "additional_funding")
    assert back["amount_gbpm"].iloc[0] == 4.85 and back["our_code"].iloc[0] == "17"
    assert list(out.dtypes.astype(str)) == list(back.dtypes.astype(str))


def test_cut_parquet_is_a_one_line_error(tmp_path):
    p = tmp_path / "t.parquet"
    write_table(pd.DataFrame({"note": ["a"], "text": ["b"]}), p, "savings_notes")
    p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(SchemaError) as e:
        read_table(p, "savings_notes")
    assert str(p) in str(e.value) and "not a readable Parquet table" in str(e.value) and "\n" not in str(e.value)
