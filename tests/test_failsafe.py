"""Fail-safe runs: a build killed after any notebook leaves the previous pack of that quarter intact and
no partial folder where a reader would look; the lock is released by the OS; leftovers are cleaned up
by the next run, and a pack moved aside in the instant of replacement is put back."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.build.runner import _recover, list_notebooks, run_quarter

from .conftest import ROOT


def _hash(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _visible(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if not p.name.startswith(".")}


def test_killed_after_each_notebook_the_previous_pack_stands(small_project):
    first = run_quarter("2021-22-Q1", small_project, echo=False, progress=False)
    before = _hash(first.out_dir / "pack.html")
    fy = first.out_dir.parent
    n = len(list_notebooks(small_project))
    code = ("import sys; from pathlib import Path; from pipeline.build.runner import run_quarter; "
            f"run_quarter('2021-22-Q1', Path({str(small_project)!r}), echo=False, progress=False)")
    for k in range(1, n + 1):
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        seen = False
        while time.monotonic() < deadline and proc.poll() is None:
            logs = list(fy.glob(".Q1.staging-*/build.log"))
            if logs and f"[{k}/{n}]" in logs[0].read_text() and " ok in " in logs[0].read_text().split(f"[{k}/{n}]")[-1]:
                seen = True
                break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # the runner and its kernels, at once
        proc.wait()
        assert seen, f"notebook {k} of {n} never finished"
        assert _hash(first.out_dir / "pack.html") == before, k
        assert _visible(fy) == {"Q1"}, k  # nothing half-built where a reader would find it
    # the next run cleans up and succeeds (the lock died with the killed process)
    again = run_quarter("2021-22-Q1", small_project, echo=False, progress=False)
    assert not list(fy.glob(".Q1.staging-*")) and "removed .Q1.staging-" in (again.out_dir / "build.log").read_text()
    assert not list((small_project / "data" / "processed").glob(".2021-22-Q1.staging-*"))


def test_a_pack_moved_aside_when_a_run_died_is_put_back(tmp_path):
    final = tmp_path / "outputs" / "2021-22" / "Q1"
    old = final.with_name(".Q1.old-12345")
    old.mkdir(parents=True)
    (old / "pack.html").write_text("previous")
    (tmp_path / "processed").mkdir()
    done = _recover(final, tmp_path / "processed", "2021-22-Q1")
    assert (final / "pack.html").read_text() == "previous" and not old.exists()
    assert done == ["restored the previous pack from .Q1.old-12345"]
