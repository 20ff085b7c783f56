import pandas as pd
import pytest

from pipeline.core.params import InputSpec, ParamsError, available_quarters, load_params, resolve_quarter
from pipeline.ingest.inputs import InputError, read_input


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


# ---- hostile and awkward params (issue 18, "Params and paths"; issue 14 point 10) ----------------------

def _params(small_project):
    return small_project / "params" / "2021-22-Q1.yaml"


def test_a_misspelt_top_level_key_is_named_as_unknown_with_a_hint(small_project):
    f = _params(small_project)
    f.write_text(f.read_text().replace("data_as_at:", "data_as_of:"))
    with pytest.raises(ParamsError) as e:
        load_params("2021-22-Q1", small_project)
    msg = str(e.value)
    assert "unknown key(s) data_as_of (did you mean data_as_at?)" in msg and "missing key(s) data_as_at" in msg


def test_billion_laughs_yaml_in_a_setting_is_refused_quickly(small_project):
    bomb = ["settings:", "  projected_lines: &l9 [*l8, *l8, *l8, *l8, *l8, *l8, *l8, *l8, *l8]"]
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
    f = _params(small_project)
    # the anchors are defined inside the settings mapping, the expansion is the list setting itself
    f.write_text(f.read_text() + "\n".join([bomb[0]] + ["  " + x for x in lines] + [bomb[1]]) + "\n")
    with pytest.raises(ParamsError, match=r"2021-22-Q1.yaml, line \d+: not valid YAML: .*an alias \(\*l0\) is not allowed"):
        load_params("2021-22-Q1", small_project)


@pytest.mark.parametrize("settings,message", [
    ("  projected_lines: [placements, 3]", r"settings.projected_lines: element 2: expected str, got 3"),
    ("  projected_lines: [[a, b]]", r"settings.projected_lines: element 1: expected str, got \['a', 'b'\]"),
    ("  projected_lines: [" + ", ".join(f"l{i}" for i in range(201)) + "]",
     r"settings.projected_lines: 201 elements, more than 200 allowed"),
    ("  projected_lines: placements", r"settings.projected_lines: expected list, got 'placements'"),
    ("  material_variance_pct: .nan", r"settings.material_variance_pct: expected a finite number, got nan"),
    ("  placement_paths: 1000000000", r"settings.placement_paths: expected a number from 1 to 100000"),
    ("  placements_line: " + "x" * 600, r"settings.placements_line: 600 characters, more than 500 allowed"),
    ("  small_count_threshold: 1", r"settings.small_count_threshold: 1 would publish counts of fewer than 3 "
                                   r"children.*allow_small_count_threshold: true"),
    ("  small_count_threshold: 2\n  allow_small_count_threshold: yes please",
     r"settings.allow_small_count_threshold: expected bool"),
    ("  small_count_treshold: 5", r"settings.small_count_treshold is not a known setting \(did you mean "
                                  r"small_count_threshold\?\)"),
])
def test_every_setting_is_typed_element_by_element_and_bounded(small_project, settings, message):
    f = _params(small_project)
    f.write_text(f.read_text() + "settings:\n" + settings + "\n")
    with pytest.raises(ParamsError, match=message):
        load_params("2021-22-Q1", small_project)


def test_a_small_count_threshold_below_3_needs_an_override_and_warns_in_the_pack(small_project):
    from pipeline.quarter.context import open_quarter

    f = _params(small_project)
    f.write_text(f.read_text() + "settings:\n  small_count_threshold: 2\n  allow_small_count_threshold: true\n")
    ctx = open_quarter("2021-22-Q1", root=small_project)
    assert ctx.params.settings.small_count_threshold == 2
    found = ctx.findings()
    warn = found[(found["check"] == "small counts") & (found["level"] == "warning")]
    assert len(warn) == 1 and "counts of 1 child are published" in warn.iloc[0]["finding"]
    # the default threshold gives no such finding
    f.write_text(f.read_text().replace("  small_count_threshold: 2\n", "  small_count_threshold: 5\n"))
    ctx = open_quarter("2021-22-Q1", root=small_project)
    assert not (ctx.findings()["check"] == "small counts").any()


def test_the_commentary_must_lie_inside_the_project_unless_allowed(small_project, tmp_path):
    outside = tmp_path / "notes.md"
    outside.write_text("## Summary\n\nFrom elsewhere.\n")
    f = _params(small_project)
    text = f.read_text()
    f.write_text(text.replace("commentary: params/commentary/2021-22-Q1.md", f"commentary: {outside}"))
    with pytest.raises(ParamsError, match=r"commentary: .*notes.md lies outside the project's data/ and params/"):
        load_params("2021-22-Q1", small_project)
    f.write_text(text.replace("commentary: params/commentary/2021-22-Q1.md", "commentary: /etc/passwd"))
    with pytest.raises(ParamsError, match=r"commentary: /etc/passwd lies outside the project"):
        load_params("2021-22-Q1", small_project)
    # a symlink inside params/ to a file outside is followed, and refused
    (small_project / "params" / "commentary" / "linked.md").symlink_to(outside)
    f.write_text(text.replace("2021-22-Q1.md", "linked.md"))
    with pytest.raises(ParamsError, match=r"commentary: params/commentary/linked.md lies outside the project"):
        load_params("2021-22-Q1", small_project)
    f.write_text(text.replace("commentary: params/commentary/2021-22-Q1.md",
                              f"commentary:\n  path: {outside}\n  allow_outside_project: true"))
    assert load_params("2021-22-Q1", small_project).commentary == outside.resolve()


def test_devices_and_named_pipes_are_refused_even_when_allowed_outside(small_project):
    import os

    f = _params(small_project)
    text = f.read_text()
    f.write_text(text.replace("data/raw/seed004_2021-22-Q1/budget_totals.csv", "/dev/zero")
                 .replace("  budget_totals:\n", "  budget_totals:\n    allow_outside_project: true\n"))
    with pytest.raises(ParamsError, match=r"inputs.budget_totals: /dev/zero is a device, not a regular file"):
        load_params("2021-22-Q1", small_project)
    fifo = small_project / "data" / "raw" / "pipe.csv"
    os.mkfifo(fifo)
    f.write_text(text.replace("data/raw/seed004_2021-22-Q1/budget_totals.csv", "data/raw/pipe.csv"))
    with pytest.raises(ParamsError, match=r"inputs.budget_totals: data/raw/pipe.csv is a named pipe \(FIFO\), not a "
                                          r"regular file"):
        load_params("2021-22-Q1", small_project)
    f.write_text(text.replace("commentary: params/commentary/2021-22-Q1.md", "commentary: data/raw/pipe.csv"))
    with pytest.raises(ParamsError, match=r"commentary: data/raw/pipe.csv is a named pipe"):
        load_params("2021-22-Q1", small_project)


def test_a_fifo_input_does_not_hang_cspack_check(small_project):
    """`cspack check` on params naming a FIFO answers at once (exit 2, one line, no traceback); run in a
    subprocess so a regression fails on the timeout rather than hanging the suite."""
    import os
    import subprocess
    import sys

    from .conftest import ROOT

    os.mkfifo(small_project / "data" / "raw" / "pipe.csv")
    f = _params(small_project)
    f.write_text(f.read_text().replace("data/raw/seed004_2021-22-Q1/budget_totals.csv", "data/raw/pipe.csv"))
    env = dict(os.environ, CSPACK_ROOT=str(small_project), PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "check"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 2, r.stderr
    assert "named pipe (FIFO), not a regular file" in r.stderr and "Traceback" not in r.stderr + r.stdout


def test_files_inside_folder_inputs_are_checked_against_the_outside_rule(small_project, tmp_path):
    led = small_project / "data" / "raw" / "ledger"
    led.mkdir()
    (led / "ledger_2021-22.csv").write_text("x\n")
    secret = tmp_path / "secret.csv"
    secret.write_text("x\n")
    (led / "ledger_2020-21.csv").symlink_to(secret)
    f = _params(small_project)
    f.write_text(f.read_text() + "  ledger:\n    path: data/raw/ledger\n    kind: ledger\n    source: test\n")
    with pytest.raises(ParamsError, match=r"inputs.ledger: data/raw/ledger/ledger_2020-21.csv links to .*secret.csv, "
                                          r"outside the project's data/ and params/ folders"):
        load_params("2021-22-Q1", small_project)
    (led / "ledger_2020-21.csv").unlink()
    (led / "old").symlink_to(tmp_path)  # a linked folder is followed too
    with pytest.raises(ParamsError, match=r"data/raw/ledger/old links to"):
        load_params("2021-22-Q1", small_project)
    (led / "old").unlink()
    assert load_params("2021-22-Q1", small_project).inputs["ledger"].kind == "ledger"


def test_a_commentary_file_over_2mb_is_refused_with_its_size(small_project):
    c = small_project / "params" / "commentary" / "2021-22-Q1.md"
    c.write_text("## Summary\n\n" + ("Spending is under review. " * 40 + "\n") * 2000)
    with pytest.raises(ParamsError, match=r"commentary: params/commentary/2021-22-Q1.md is 2,[0-9,]+ bytes, more than "
                                          r"the 2,000,000 a commentary file may hold"):
        load_params("2021-22-Q1", small_project)


def test_a_large_commentary_splits_correctly_in_one_pass():
    """60 MB of commentary (many sections, one enormous one, a long run of spaces after a heading marker)
    is split exactly; the old splitter copied each section on every line (quadratic) and hung. Speed is
    measured in benchmarks/bench_commentary.py, not asserted here."""
    from pipeline.quarter.context import split_commentary

    big = "x" * 70 + "\n"
    parts = [f"## Section {i}\n\nline of section {i}\n<!-- hidden {i} -->\n" for i in range(20_000)]
    parts.append("## Huge\n" + big * 820_000)
    parts.append("##" + " " * 1_000_000 + "\n")  # a heading with no name: a plain line of the section before
    text = "".join(parts) + "## Last\n\nend\n"
    assert len(text) > 60_000_000
    s = split_commentary(text)
    assert len(s) == 20_002
    assert s["section 19999"] == "\nline of section 19999\n"
    assert len(s["huge"]) == len(big) * 820_000 + 1_000_003 and s["huge"].startswith(big)
    assert s["last"] == "\nend\n"


def test_settings_are_typed_and_their_defaults_declared_once(small_project):
    import re
    from dataclasses import fields
    from pathlib import Path

    from pipeline.core.params import SETTINGS, Settings

    s = Settings.from_mapping({"placement_paths": 100, "projected_lines": ["a", "b"], "benchmark_authority": " "})
    assert s.placement_paths == 100 and s.projected_lines == ("a", "b")
    assert s.small_count_threshold == 5 and s.placement_inflation == 0.03 and s.placement_seed == 2026
    assert s.benchmark_authority == ""  # blank text takes the default
    assert set(SETTINGS) == {f.name for f in fields(Settings)}  # the accepted types come from the same fields
    with pytest.raises(ParamsError, match="nope"):
        Settings.from_mapping({"nope": 1})
    # a params file without settings gets the defaults; with a setting, that value
    assert load_params("2021-22-Q1", small_project).settings == Settings()
    # no reader repeats a default: settings are read as attributes, never with .get(key, default)
    root = Path(__file__).resolve().parents[1] / "pipeline"
    reads = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py") if p.name not in ("params.py", "synthetic.py")
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"settings(\.get\(|\[)", line)]
    assert reads == []
