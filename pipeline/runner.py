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
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import pandas as pd

from .export import export_pack
from .manifest import build_manifest, version_label
from .params import QuarterParams, load_params, resolve_quarter
from .schemas import read_table
from .paths import notebooks_dir, outputs_dir, processed_dir, project_root
from .tables import TableStore

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
    """An exclusive lock per quarter, released by the OS even when a run crashes."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildLocked(f"another build of this quarter is running (lock {lock_path}); "
                              "wait for it to finish") from None
        fh.write(str(os.getpid()))
        fh.flush()
        yield


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


def _replace_dir(staging: Path, final: Path) -> None:
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
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
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
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        t0 = time.perf_counter()
        timings: list[dict] = []
        show_bar = sys.stderr.isatty() if progress is None else progress
        log.info(f"cspack: building {q.label} for {params.authority} ({len(nbs)} notebooks)")
        for line in recovered:
            log.info(line)
        old_env = os.environ.get("CSPACK_ROOT")
        os.environ["CSPACK_ROOT"] = str(root)
        try:
            from .freshness import check_prepared  # inputs that stop before the quarter: refuse (exit 1)
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
                                        if show_bar else False, log_output=False)
                except Exception as exc:  # papermill raises PapermillExecutionError for cell errors
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
                cells = _cell_timings(out_nb)
                timings.append({"notebook": nb.name, "seconds": round(secs, 3), "status": "ok", "cells": cells})
                log.info(f"[{i}/{len(nbs)}] {nb.name} ok in {secs:.1f}s "
                         f"({len(cells)} cells; slowest {max(cells, default=0):.2f}s)")
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
    calibration = str(params.settings.get("synthetic_calibration", ""))
    notice = (f"{n_syn} of the {len(per_input)} inputs of this pack are synthetic (generated by cspack, not real data)"
              + (f"; calibrated to {calibration}" if calibration else "") + ". See Data quality and method."
              if n_syn else "")
    q = params.quarter
    meta = {
        "title": f"Performance and Budget Monitoring / Forecast Outturn {q.fy} as at Quarter {q.q}",
        "authority": params.authority, "portfolio": params.portfolio,
        "quarter_long": q.long_label, "data_as_at": params.data_as_at.strftime("%-d %B %Y"),
        "version": version_label(root), "synthetic": notice,
    }
    (staging / "pack.html").write_text(export_pack(executed, meta), encoding="utf-8")
    log.info("exported pack.html")
    store = TableStore(work)
    store.check_disclosure()  # no table counting children leaves with a small count shown
    store.write_xlsx(staging / "tables.xlsx", SECTION_ORDER)
    log.info("wrote tables.xlsx")
    seconds = time.perf_counter() - t0
    finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
    outputs = ["pack.html", "tables.xlsx", "manifest.json", "build.log"] + [f"notebooks/{n.name}" for n in nbs]
    manifest = build_manifest(params=params, root=root, register=register.to_dict("records"), notebooks=timings,
                              status="ok", started=started, finished=finished, outputs=outputs)
    manifest["seconds"] = round(seconds, 3)
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    log.info(f"built {q.label} in {seconds:.1f}s -> {final.relative_to(root)}/pack.html")
    _close(log)
    _replace_dir(staging, final)
    _replace_dir(work, processed_dir(root) / q.label)
    return BuildResult(q.label, final, final / "pack.html", timings, seconds)
