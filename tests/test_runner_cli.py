"""The runner and the cspack command, on a small fixture project with the real notebooks."""

import json

import nbformat
import pytest

from pipeline.build.runner import BuildError, BuildLocked, quarter_lock, run_quarter
from pipeline.cli import main, new_quarter, quarters_status
from pipeline.core.params import ParamsError, load_params


def test_build_success_then_failure_keeps_previous_pack(small_project):
    result = run_quarter("2021-22-Q1", small_project, echo=False, progress=False)
    out = small_project / "outputs" / "2021-22" / "Q1"
    assert result.out_dir == out
    for name in ["pack.html", "tables.xlsx", "manifest.json", "build.log",
                 "notebooks/00_prepare.ipynb", "notebooks/10_summary.ipynb"]:
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok" and [n["status"] for n in manifest["notebooks"]] == ["ok"] * 7
    log = (out / "build.log").read_text()
    assert "[1/7] 00_prepare.ipynb ok" in log and "built 2021-22-Q1" in log
    assert (small_project / "data" / "processed" / "2021-22-Q1" / "register.parquet").is_file()
    pack_before = (out / "pack.html").read_bytes()
    assert b"Testshire County Council" in pack_before

    # now a notebook that fails in its third cell: exit non-zero, name it, keep it, leave the pack
    bad = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('quarter = ""\nwork_dir = ""', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise ValueError('budget line 7 has no cost centre')"),
    ], metadata={"kernelspec": {"name": "cspack", "display_name": "cspack", "language": "python"}})
    nbformat.write(bad, small_project / "notebooks" / "50_broken.ipynb")
    with pytest.raises(BuildError) as err:
        run_quarter("2021-22-Q1", small_project, echo=False, progress=False)
    msg = str(err.value)
    assert "50_broken.ipynb" in msg and "ValueError: budget line 7 has no cost centre" in msg
    assert "cell" in msg and "previous pack untouched" in msg
    assert (out / "pack.html").read_bytes() == pack_before  # previous pack intact
    failed = list((small_project / "outputs" / "failed").glob("2021-22-Q1-*"))
    assert len(failed) == 1
    kept = nbformat.read(failed[0] / "notebooks" / "50_broken.ipynb", as_version=4)
    assert any(o.get("ename") == "ValueError" for c in kept.cells for o in c.get("outputs", []))
    assert json.loads((failed[0] / "status.json").read_text())["status"] == "failed"
    assert not list((small_project / "outputs" / "2021-22").glob(".Q1.staging-*"))  # no half-written folder
    assert not list((small_project / "data" / "processed").glob(".*staging*"))
    rows = quarters_status(small_project)
    assert rows == [{"quarter": "2021-22-Q1", "built": manifest["finished"], "status": "ok", "failed_runs": 1,
                     "pack": "outputs/2021-22/Q1/pack.html"}]


def test_cli_exit_codes_for_missing_params_and_unknown_quarter(small_project, monkeypatch, capsys):
    monkeypatch.setenv("CSPACK_ROOT", str(small_project))
    assert main(["run", "--quarter", "2030-31-Q2"]) == 2
    err = capsys.readouterr().err
    assert "no params file for 2030-31-Q2" in err and "params/2030-31-Q2.yaml" in err
    assert main(["run", "--quarter", "2030-Q2"]) == 2
    assert "not a financial quarter" in capsys.readouterr().err
    assert not (small_project / "outputs" / "2030-31").exists()


def test_new_quarter_scaffolds_params_and_commentary(small_project, monkeypatch, capsys):
    monkeypatch.setenv("CSPACK_ROOT", str(small_project))
    assert main(["new-quarter", "2021-22-Q2"]) == 0
    p = load_params("2021-22-Q2", small_project)
    assert p.data_as_at.isoformat() == "2021-09-30"
    assert p.commentary.name == "2021-22-Q2.md"
    assert set(p.inputs) == set(load_params("2021-22-Q1", small_project).inputs)
    text = p.commentary.read_text()
    assert "## Summary" in text and "## Data quality and method" in text and "under review" not in text
    with pytest.raises(ParamsError, match="already exists"):
        new_quarter("2021-22-Q2", small_project)
    assert main(["new-quarter", "2021-22-Q2"]) == 2
    assert main(["quarters"]) == 0
    listing = capsys.readouterr().out
    assert "2021-22-Q1" in listing and "2021-22-Q2" in listing and "not built" in listing


def test_a_second_run_of_the_same_quarter_is_refused(tmp_path):
    lock = tmp_path / ".Q1.lock"
    with quarter_lock(lock):
        with pytest.raises(BuildLocked, match="another build of this quarter is running"):
            with quarter_lock(lock):
                pass
    with quarter_lock(lock):  # released after the first run ends
        pass
