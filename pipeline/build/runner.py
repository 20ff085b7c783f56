"""Build a quarter's pack: run every notebook with papermill into a staging folder, export, and
only then move the result into ``outputs/<FY>/<Q>/``. A failure leaves the previous pack intact."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pandas as pd

from pipeline.build.export import export_pack, stale_title, write_pdf
from pipeline.build.manifest import build_manifest, version_label
from pipeline.core.params import QuarterParams, load_params, resolve_quarter
from pipeline.core.paths import notebooks_dir, outputs_dir, processed_dir, project_root
from pipeline.core.tables import TableStore
from pipeline.ingest.schemas import read_table
from pipeline.quarter.freshness import check_prepared

KERNEL = "cspack"
SECTION_ORDER = ["Summary", "Performance", "Budget forecast", "Key variances", "Placements",
                 "Budget savings, growth, risks, reserves, debt and traded services", "Forecast accuracy",
                 "Data quality and method"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class BuildError(RuntimeError):
    """A notebook failed; the message names the notebook and cell and holds the error."""


class BuildLocked(RuntimeError):
    """Another build of the same quarter is running."""


@dataclass
class BuildResult:
    quarter: str
    out_dir: Path
    pack: Path
    notebooks: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def pack_dir(params_or_quarter, root: Path) -> Path:
    q = getattr(params_or_quarter, "quarter", params_or_quarter)
    return outputs_dir(root) / q.fy / q.name


def list_notebooks(root: Path) -> list[Path]:
    """Notebooks run in the order of their numeric prefix: ``00_prepare.ipynb``, ``10_summary.ipynb``."""
    nbs = sorted(p for p in notebooks_dir(root).glob("[0-9]*.ipynb"))
    if not nbs:
        raise BuildError(f"no notebooks to run in {notebooks_dir(root)}")
    return nbs


@contextlib.contextmanager
def quarter_lock(lock_path: Path):
    """An exclusive lock per quarter, released by the OS even when a run crashes. The lock file is
    removed when the build ends (no ``.Q2.lock`` left beside the packs); a run that opened the file just
    before it was removed finds, once it holds the lock, that the file it locked is no longer the one at
    the path, and tries again on the new file, so two runs never both hold the quarter."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fh = open(lock_path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise BuildLocked(f"another build of this quarter is running (lock {lock_path}); "
                              "wait for it to finish") from None
        try:
            same = os.fstat(fh.fileno()).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        fh.close()  # locked a file the previous holder had just removed: lock the current one
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path)  # removed while still held, so no run can lock it in between
        fh.close()


# What a kernel process prints on its own stderr (not a cell's output, which the notebook keeps) is
# written to a file per build and read back after each notebook: these lines are expected on every
# successful build and are dropped; anything else goes to the build log as a warning.
#  - ipykernel warns on every start that its local TCP sockets are not encrypted (they are bound to
#    127.0.0.1 and every message is signed with the connection file's key, readable by this user only);
#  - jupyter_client interrupts a kernel before shutting it down, and ipykernel logs that as an ERROR
#    "KeyboardInterrupt caught in kernel" even when the kernel was idle.
KERNEL_NOISE = re.compile(r"Kernel is running over TCP without encryption|KeyboardInterrupt caught in kernel|"
                          r"All communication \(including code and outputs\)|Use IPC transport or launch with")


def _kernel_manager(stderr_path: Path):
    """A kernel manager class whose kernels write their process stderr to ``stderr_path``."""
    from jupyter_client.manager import AsyncKernelManager

    class BuildKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            with open(stderr_path, "ab") as err:  # the child keeps its own copy of the descriptor
                kw["stderr"] = err
                return await super()._async_launch_kernel(kernel_cmd, **kw)

    return BuildKernelManager


def _kernel_messages(stderr_path: Path) -> list[str]:
    """The kernel's stderr since the last call, without the expected noise (KERNEL_NOISE); the file is
    emptied."""
    if not stderr_path.exists():
        return []
    text = stderr_path.read_text(encoding="utf-8", errors="replace")
    stderr_path.write_text("")
    return [ANSI.sub("", ln).rstrip() for ln in text.splitlines() if ln.strip() and not KERNEL_NOISE.search(ln)]


def _logger(log_file: Path, echo: bool) -> logging.Logger:
    log = logging.getLogger(f"cspack.build.{os.getpid()}.{time.monotonic_ns()}")
    log.setLevel(logging.INFO)
    log.propagate = False
    fh = logging.FileHandler(log_file, encoding="utf-8")
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(fh)
    if echo:
        sh = logging.StreamHandler(sys.stderr)
        sh.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(sh)
    return log


def _close(log: logging.Logger) -> None:
    for h in list(log.handlers):
        h.close()
        log.removeHandler(h)


def replace_dir(staging: Path, final: Path) -> None:
    """Move ``staging`` to ``final``, replacing any previous folder; the old one is removed only
    after the new one is in place."""
    final.parent.mkdir(parents=True, exist_ok=True)
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    if old.exists():
        shutil.rmtree(old)


def _recover(final: Path, work_root: Path, label: str) -> list[str]:
    """Under the quarter's lock no other build of it runs, so any staging folder of it is left by a
    run that was killed: remove them. If a run was killed in the instant between moving the previous
    pack aside and moving the new one in, put the previous pack back. Returns what was done."""
    done = []
    for d in list(final.parent.glob(f".{final.name}.staging-*")) + list(work_root.glob(f".{label}.staging-*")):
        shutil.rmtree(d, ignore_errors=True)
        done.append(f"removed {d.name} left by a killed run")
    olds = sorted(final.parent.glob(f".{final.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds and not final.exists():
        os.replace(olds[-1], final)
        done.append(f"restored the previous pack from {olds[-1].name}")
        olds = olds[:-1]
    for o in olds:
        shutil.rmtree(o, ignore_errors=True)
    return done


def _error_summary(exc, nb_name: str) -> str:
    cell = getattr(exc, "cell_index", None)
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    tb = [ANSI.sub("", line) for line in (getattr(exc, "traceback", None) or [])]
    tail = "\n".join("\n".join(tb).splitlines()[-12:])
    where = f"notebook {nb_name}" + (f", cell {cell}" if cell is not None else "")
    return f"{where}: {ename}: {evalue}" + (f"\n{tail}" if tail else "")


def run_quarter(quarter: str | None = None, root: Path | None = None, echo: bool = True,
                progress: bool | None = None, notebooks: list[Path] | None = None,
                params_file: str | Path | None = None) -> BuildResult:
    """Build the pack for ``quarter`` (blank: the latest params file). Raises ``ParamsError`` for a
    missing or bad params file, ``BuildError`` when a notebook fails, ``BuildLocked`` when the
    quarter is already building."""
    import papermill as pm

    root = (root or project_root()).resolve()
    if params_file:
        params = load_params(quarter or None, root, path=params_file)
        q = params.quarter
    else:
        q = resolve_quarter(quarter, root)
        params = load_params(q, root)
    nbs = notebooks or list_notebooks(root)
    final = pack_dir(params, root)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    with quarter_lock(outputs_dir(root) / q.fy / f".{q.name}.lock"):
        recovered = _recover(final, processed_dir(root), q.label)
        staging = final.with_name(f".{q.name}.staging-{os.getpid()}")
        work = processed_dir(root) / f".{q.label}.staging-{os.getpid()}"
        for d in (staging, work):
            if d.exists():
                shutil.rmtree(d)
        (staging / "notebooks").mkdir(parents=True)
        _seed_work(processed_dir(root) / q.label, work)
        log = _logger(staging / "build.log", echo)
        started = datetime.now(UTC).isoformat(timespec="seconds")
        t0 = time.perf_counter()
        timings: list[dict] = []
        show_bar = sys.stderr.isatty() if progress is None else progress
        log.info(f"cspack: building {q.label} for {params.authority} ({len(nbs)} notebooks)")
        for line in recovered:
            log.info(line)
        old_env = os.environ.get("CSPACK_ROOT")
        os.environ["CSPACK_ROOT"] = str(root)
        kernel_err = work / ".kernel-stderr.log"  # removed with the staging folder, whatever happens
        try:
            if stale := check_prepared(params, root, work):
                log.error(stale)
                _close(log)
                shutil.rmtree(staging, ignore_errors=True)
                raise BuildError(f"build of {q.label} refused: {stale}")
            for i, nb in enumerate(nbs, 1):
                out_nb = staging / "notebooks" / nb.name
                t = time.perf_counter()
                log.info(f"[{i}/{len(nbs)}] {nb.name} ...")
                try:
                    pm.execute_notebook(str(nb), str(out_nb), kernel_name=KERNEL, cwd=str(root),
                                        parameters={"quarter": q.label, "work_dir": str(work),
                                                    "params_file": str(params.path)},
                                        progress_bar={"desc": f"  {nb.stem}", "unit": "cell", "leave": False}
                                        if show_bar else False, log_output=False,
                                        kernel_manager_class=_kernel_manager(kernel_err))
                except Exception as exc:  # papermill raises PapermillExecutionError for cell errors
                    for line in _kernel_messages(kernel_err):
                        log.warning(f"kernel: {line}")
                    msg = _error_summary(exc, nb.name)
                    timings.append({"notebook": nb.name, "seconds": round(time.perf_counter() - t, 3),
                                    "status": "failed"})
                    failed = outputs_dir(root) / "failed" / f"{q.label}-{stamp}"
                    log.error(f"FAILED {msg}")
                    log.error(f"the executed notebooks, with the error, are kept in {failed.relative_to(root)}")
                    log.error(f"the previous pack in {final.relative_to(root)} is untouched")
                    _close(log)
                    failed.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(staging, failed)
                    (failed / "status.json").write_text(json.dumps(
                        {"quarter": q.label, "status": "failed", "error": msg, "notebooks": timings}, indent=1))
                    raise BuildError(f"build of {q.label} failed in {msg}\nexecuted notebooks kept in "
                                     f"{failed.relative_to(root)}; previous pack untouched") from exc
                secs = time.perf_counter() - t
                for line in _kernel_messages(kernel_err):
                    log.warning(f"kernel: {line}")
                cells = _cell_timings(out_nb)
                timings.append({"notebook": nb.name, "seconds": round(secs, 3), "status": "ok", "cells": cells})
                log.info(f"[{i}/{len(nbs)}] {nb.name} ok in {secs:.1f}s "
                         f"({len(cells)} cells; slowest {max(cells, default=0):.2f}s)")
            kernel_err.unlink(missing_ok=True)
            result = _finish(params, root, nbs, staging, work, final, timings, started, t0, log)
        except BuildError:
            raise
        except BaseException:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            _close(log)
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)
            if old_env is None:
                os.environ.pop("CSPACK_ROOT", None)
            else:
                os.environ["CSPACK_ROOT"] = old_env
    return result


def _seed_work(previous: Path, work: Path) -> None:
    """Start the staging work folder from the last preparation of this quarter (inputs, register,
    findings), never its tables. ``open_quarter`` re-prepares unless every input file and the
    preparation code are unchanged, so a re-run on the same inputs skips reading them again."""
    if (previous / "prepared.json").exists():
        shutil.copytree(previous, work, ignore=shutil.ignore_patterns("tables"))
    else:
        work.mkdir(parents=True)


def _cell_timings(nb_path: Path) -> list[float]:
    nb = nbformat.read(nb_path, as_version=4)
    return [round(float(c.metadata.get("papermill", {}).get("duration") or 0.0), 3)
            for c in nb.cells if c.cell_type == "code"]


def _finish(params: QuarterParams, root, nbs, staging, work, final, timings, started, t0, log) -> BuildResult:
    executed = [staging / "notebooks" / nb.name for nb in nbs]
    reg_file = work / "register.parquet"
    # notebooks that never prepared inputs (a benchmark's floor build) still export
    register = (read_table(reg_file, "register") if reg_file.exists()
                else pd.DataFrame(columns=["input", "file", "source", "synthetic", "sha256", "rows_in",
                                           "rows_kept", "rows_fixed", "rows_dropped", "rows_quarantined"]))
    per_input = register[~register["input"].astype(str).str.contains(":")]  # one line per params input
    n_syn = int(per_input["synthetic"].astype(str).str.lower().eq("true").sum())
    calibration = params.settings.synthetic_calibration
    notice = (f"{n_syn} of the {len(per_input)} inputs of this pack are synthetic (generated by cspack, not real data)"
              + (f"; calibrated to {calibration}" if calibration else "") + ". See Data quality and method."
              if n_syn else "")
    q = params.quarter
    meta = {
        "title": f"Performance and Budget Monitoring / Forecast Outturn {q.fy} as at Quarter {q.q}",
        "authority": params.authority, "portfolio": params.portfolio,
        "quarter_long": q.long_label, "data_as_at": params.data_as_at.strftime("%-d %B %Y"),
        "version": version_label(root), "synthetic": notice, "stale": stale_title(params, root, work),
    }
    safety: list[str] = []
    (staging / "pack.html").write_text(export_pack(executed, meta, safety), encoding="utf-8")
    log.info("exported pack.html")
    for note in safety:
        log.warning(f"pack safety: {note}")
    pdf = write_pdf(staging / "pack.html", staging / "pack.pdf", meta["title"], params.authority)
    if pdf["written"]:
        log.info(f"wrote pack.pdf ({pdf['pages']} A4 pages)")
    else:
        log.warning(f"no pack.pdf: {pdf['reason']}")
    store = TableStore(work)
    store.check_disclosure()  # no table counting children leaves with a small count shown
    store.write_xlsx(staging / "tables.xlsx", SECTION_ORDER)
    log.info("wrote tables.xlsx")
    seconds = time.perf_counter() - t0
    finished = datetime.now(UTC).isoformat(timespec="seconds")
    outputs = (["pack.html"] + (["pack.pdf"] if pdf["written"] else []) + ["tables.xlsx", "manifest.json", "build.log"]
               + [f"notebooks/{n.name}" for n in nbs])
    manifest = build_manifest(params=params, root=root, register=register.to_dict("records"), notebooks=timings,
                              status="ok", started=started, finished=finished, outputs=outputs)
    manifest["seconds"] = round(seconds, 3)
    manifest["pdf"] = pdf
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    log.info(f"built {q.label} in {seconds:.1f}s -> {final.relative_to(root)}/pack.html")
    _close(log)
    replace_dir(staging, final)
    replace_dir(work, processed_dir(root) / q.label)
    return BuildResult(q.label, final, final / "pack.html", timings, seconds)
