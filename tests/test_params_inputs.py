import pandas as pd
import pytest

from pipeline.inputs import InputError, read_input
from pipeline.params import InputSpec, ParamsError, available_quarters, load_params, resolve_quarter


def test_bundled_params_load_and_name_sources():
    p = load_params("2021-22-Q1")
    assert p.authority == "Derbyshire County Council" and p.quarter.label == "2021-22-Q1"
    assert len(p.inputs) >= 30 and all(s.source for s in p.inputs.values())
    assert not p.any_synthetic


def test_latest_params_is_the_default(small_project):
    (small_project / "params" / "2021-22-Q2.yaml").write_text(
        (small_project / "params" / "2021-22-Q1.yaml").read_text().replace("2021-22-Q1", "2021-22-Q2"))
    assert [q.label for q in available_quarters(small_project)] == ["2021-22-Q1", "2021-22-Q2"]
    assert resolve_quarter(None, small_project).label == "2021-22-Q2"


def test_missing_params_file_names_the_expected_path(small_project):
    with pytest.raises(ParamsError, match=r"params/2030-31-Q1.yaml.*2021-22-Q1.*new-quarter"):
        load_params("2030-31-Q1", small_project)


def test_params_errors_name_file_and_key(small_project):
    f = small_project / "params" / "2021-22-Q1.yaml"
    text = f.read_text()
    f.write_text(text.replace("data/raw/seed004_2021-22-Q1/budget_totals.csv", "data/raw/nope.csv"))
    with pytest.raises(ParamsError, match=r"2021-22-Q1.yaml: inputs.budget_totals: file data/raw/nope.csv does not exist"):
        load_params("2021-22-Q1", small_project)
    f.write_text(text.replace("quarter: 2021-22-Q1", "quarter: 2021-22-Q3"))
    with pytest.raises(ParamsError, match="says 2021-22-Q3 but the file is named for 2021-22-Q1"):
        load_params("2021-22-Q1", small_project)
    f.write_text(text.replace("data_as_at: 2021-06-30", "data_as_at: end of June"))
    with pytest.raises(ParamsError, match="data_as_at"):
        load_params("2021-22-Q1", small_project)
    f.write_text("authority: [unclosed")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params("2021-22-Q1", small_project)


@pytest.mark.parametrize("change,message", [
    (lambda t: t + "autority: typo\n", r"unknown key\(s\) autority"),
    (lambda t: t + "settings:\n  small_count_treshold: 5\n", r"settings.small_count_treshold is not a known setting"),
    (lambda t: t + "settings:\n  small_count_threshold: five\n", r"settings.small_count_threshold: expected int, got 'five'"),
    (lambda t: t + "settings:\n  placement_paths: true\n", r"settings.placement_paths: expected int, got True"),
    (lambda t: t.replace('    source: "seed 004, section 4.3"\n    group: "Council report"',
                         '    source: "seed 004, section 4.3"\n    group: "Council report"\n    sauce: x'),
     r"inputs.budget_lines: unknown key\(s\) sauce"),
    (lambda t: t.replace("authority: Testshire County Council", "authority: 12"), r"key 'authority': expected text"),
])
def test_params_are_validated_before_anything_runs(small_project, change, message):
    f = small_project / "params" / "2021-22-Q1.yaml"
    f.write_text(change(f.read_text()))
    with pytest.raises(ParamsError, match=message):
        load_params("2021-22-Q1", small_project)


def test_inputs_outside_the_project_need_an_explicit_allowance(small_project, tmp_path):
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("line_id\n")
    f = small_project / "params" / "2021-22-Q1.yaml"
    text = f.read_text()
    f.write_text(text.replace("data/raw/seed004_2021-22-Q1/budget_totals.csv", str(outside)))
    with pytest.raises(ParamsError, match=r"inputs.budget_totals: .* lies outside the project's data/ and params/"):
        load_params("2021-22-Q1", small_project)
    f.write_text(text.replace("data/raw/seed004_2021-22-Q1/budget_totals.csv", str(outside))
                 .replace('  budget_totals:\n', '  budget_totals:\n    allow_outside_project: true\n'))
    assert load_params("2021-22-Q1", small_project).inputs["budget_totals"].path == outside.resolve()


def _spec(path, key="budget_lines"):
    return InputSpec(key=key, path=path, rel_path=path.name, description="", source="test", synthetic=False)


def test_bad_rows_are_quarantined_with_row_column_and_reason_never_dropped(tmp_path):
    f = tmp_path / "budget_lines.csv"
    f.write_text("line_id,service_line,short_name,controllable_budget_gbpm,full_year_forecast_gbpm,"
                 "published_variance_gbpm,source\n"
                 "a,Line A,A,1.000,2.000,1.000,s\n"
                 "b,Line B,B,one and a half,2.000,,s\n"
                 "c,,C,1.000,1.000,0,s\n"
                 "d,Line D,D,1.000,3.000,,s\n"
                 "e,Line E,E,,3.000,,s\n")
    res = read_input(_spec(f))
    assert res.rows_in == 5 and len(res.kept) == 2 and len(res.kept) + res.quarantined["row"].nunique() == res.rows_in
    q = res.quarantined.set_index("row")
    assert q.at[3, "column"] == "controllable_budget_gbpm" and q.at[3, "value"] == "one and a half"
    assert q.at[3, "reason"] == "expected a number"
    assert q.at[4, "column"] == "service_line" and q.at[4, "reason"] == "required value is blank"
    assert list(res.kept["line_id"]) == ["a", "d"]  # a blank optional number is missing, not bad
    assert pd.isna(res.kept.loc[1, "published_variance_gbpm"])
    assert q.at[6, "column"] == "controllable_budget_gbpm" and q.at[6, "reason"] == "required value is blank"


def test_missing_columns_and_wrong_encoding_are_clear_errors(tmp_path):
    f = tmp_path / "budget_lines.csv"
    f.write_text("line_id,service_line\na,b\n")
    with pytest.raises(InputError, match=r"budget_lines.csv \(input 'budget_lines'\): missing column\(s\) short_name"):
        read_input(_spec(f))
    g = tmp_path / "cp1252.csv"
    g.write_bytes("line_id,amount\n1,\xa31\n".encode("cp1252"))
    with pytest.raises(InputError, match="not UTF-8 text at byte"):
        read_input(_spec(g, key="published_thing"))
