"""Hostile inputs against the outputs and the params (issue 18, "Safe outputs" for tables.xlsx and
"Params and paths"): no live formula in tables.xlsx, YAML bombs refused, paths kept inside the project,
only regular files read, commentary bounded and split in linear time, OS errors in one line."""

import re
import zipfile

import openpyxl
import pandas as pd
import pytest

from pipeline.core.tables import TableStore

HOSTILE = ['=HYPERLINK("http://evil.example/","click")', "= Unchanged", "+1", "-x", "@SUM(A1)",
           "=1+1", "\t=cmd", "plain text"]


def test_tables_xlsx_has_no_formula_cell_and_keeps_every_value(tmp_path):
    store = TableStore(tmp_path)
    df = pd.DataFrame({"label": HOSTILE, "value": [1.5, 2, -3, 4, 5, 6, 7, 8]})
    store.publish("hostile", df, "Hostile strings", "Summary")
    # a heading can be hostile too, and a control character must not stop the export
    store.publish("headings", pd.DataFrame({"=SUM(A1:A2)": ["a\x07b"], "n": [1]}), "=cmd|' /C calc'!A0", "Summary")
    out = tmp_path / "tables.xlsx"
    store.write_xlsx(out)
    with zipfile.ZipFile(out) as z:
        sheets = {n: z.read(n).decode("utf-8") for n in z.namelist() if n.startswith("xl/worksheets/sheet")}
    assert len(sheets) == 3
    for name, xml in sheets.items():
        assert not re.search(r"<f[ >]", xml), f"{name} holds a formula element"
    wb = openpyxl.load_workbook(out)
    ws = wb["hostile"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("label", "value")
    assert [r[0] for r in rows[1:]] == HOSTILE  # every string kept exactly, as text
    assert [r[1] for r in rows[1:]] == [1.5, 2, -3, 4, 5, 6, 7, 8]  # numbers stay numbers
    for row in ws.iter_rows(min_row=2, max_col=1):
        c = row[0]
        assert c.data_type == "s"
        assert c.quotePrefix == (c.value != "plain text")  # Excel keeps a re-edited cell as text
    h = wb["headings"]
    assert h["A1"].value == "=SUM(A1:A2)" and h["A1"].data_type == "s"
    assert h["A2"].value == "a\ufffdb"
    assert wb["contents"]["B3"].value == "=cmd|' /C calc'!A0" and wb["contents"]["B3"].data_type == "s"


def test_the_lock_file_is_removed_when_the_build_ends_and_still_excludes(tmp_path):
    import fcntl
    import os

    from pipeline.build.runner import BuildLocked, quarter_lock

    lock = tmp_path / "2026-27" / ".Q2.lock"
    with quarter_lock(lock):
        assert lock.read_text() == str(os.getpid())
        with pytest.raises(BuildLocked):
            with quarter_lock(lock):
                pass
        assert lock.exists()  # a refused second run leaves the holder's lock alone
    assert not lock.exists()  # nothing left beside the packs
    with pytest.raises(RuntimeError, match="boom"):
        with quarter_lock(lock):
            raise RuntimeError("boom")
    assert not lock.exists()  # removed on failure too
    # a run that opened the file just before the holder removed it must not hold the quarter: it finds
    # the file it locked is gone and locks the one now at the path
    lock.write_text("")
    stale = open(lock, "a+")
    fcntl.flock(stale, fcntl.LOCK_EX)
    lock.unlink()
    fcntl.flock(stale, fcntl.LOCK_UN)
    with quarter_lock(lock):
        other = open(lock, "a+")
        with pytest.raises(BlockingIOError):  # the lock is on the file at the path
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        other.close()
    stale.close()


def test_a_build_prints_no_kernel_noise_and_logs_real_kernel_messages(small_project, capfd):
    """The kernels' own stderr (ipykernel's TCP warning on start, the "KeyboardInterrupt caught in kernel"
    ERROR at shutdown) does not reach the terminal or the build log on a successful build; anything else a
    kernel prints there goes to the build log. No lock file is left beside the packs."""
    import nbformat

    from pipeline.build.runner import run_quarter

    paths = [small_project / "notebooks" / f"0{i}_only.ipynb" for i in (1, 2)]
    for path in paths:  # a notebook of its own each (cell ids are unique across the pack)
        nbformat.write(nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_code_cell('quarter = ""\nwork_dir = ""\nparams_file = ""', metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell("import os\nos.write(2, b'a real kernel problem\\n')"),
        ], metadata={"kernelspec": {"name": "cspack", "display_name": "cspack", "language": "python"}}), path)
    result = run_quarter("2021-22-Q1", small_project, echo=False, progress=False, notebooks=paths)
    err = capfd.readouterr().err
    log = (result.out_dir / "build.log").read_text()
    for noise in ("without encryption", "KeyboardInterrupt"):
        assert noise not in err and noise not in log
    assert log.count("WARNING kernel: a real kernel problem") == 2  # one per notebook run
    assert not list((small_project / "outputs" / "2021-22").glob(".*"))  # no .Q1.lock, no staging
    assert not list((small_project / "data" / "processed" / "2021-22-Q1").glob(".kernel*"))


def _one_line_error(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_os_errors_are_one_line_naming_the_path(small_project, monkeypatch, capsys):
    import errno
    import shutil

    from pipeline import cli

    monkeypatch.setenv("CSPACK_ROOT", str(small_project))
    # the outputs folder is a file: the build cannot make its folder (a real OS error, even as root)
    shutil.rmtree(small_project / "outputs")
    (small_project / "outputs").write_text("not a folder")
    assert cli.main(["run", "--quarter", "2021-22-Q1"]) == 1
    err = _one_line_error(capsys)
    assert err.startswith("cspack: ") and "outputs" in err and "(a file is where a folder was expected)" in err

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(small_project / "outputs" / "2021-22" / "x.tmp"))

    monkeypatch.setattr(cli, "run_quarter", full)
    assert cli.main(["run"]) == 1
    assert _one_line_error(capsys) == ("cspack: No space left on device: outputs/2021-22/x.tmp (free some space on "
                                       "the disk and run again)")

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(small_project / "outputs" / "2021-22" / ".Q1.lock"))

    monkeypatch.setattr(cli, "run_quarter", denied)
    assert cli.main(["run"]) == 1
    assert "Permission denied: outputs/2021-22/.Q1.lock (check you may write there" in _one_line_error(capsys)


def test_an_unexpected_error_is_one_line_pointing_to_a_log_and_debug_shows_it(small_project, monkeypatch, capsys):
    from pipeline import cli

    monkeypatch.setenv("CSPACK_ROOT", str(small_project))

    def broken(*a, **k):
        raise KeyError("a column the code did not expect\nsecond line")

    monkeypatch.setattr(cli, "check_quarter", broken)
    assert cli.main(["check"]) == 1
    err = _one_line_error(capsys)
    assert err.startswith("cspack: unexpected error: KeyError: ") and "details in outputs/cspack-error.log" in err
    assert "--debug" in err
    log = (small_project / "outputs" / "cspack-error.log").read_text()
    assert "Traceback" in log and "a column the code did not expect" in log
    with pytest.raises(KeyError):
        cli.main(["--debug", "check"])
    monkeypatch.setenv("CSPACK_DEBUG", "1")
    with pytest.raises(KeyError):
        cli.main(["check"])
