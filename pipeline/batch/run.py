"""Build many authorities' public-data packs on Dask distributed.

One task per authority (``build_one``). Each attempt works in its own folders: under
``<out>/.batch-work/<slug>-<pid>-<attempt>/`` (staging for the pack, work) and a short
``<system temp>/cspack-b-*/`` (the Jupyter runtime folder for the kernel's connection file, and
``TMPDIR``: short because Chromium and ZMQ put Unix sockets there, limited to 107 bytes), and moves the finished pack to ``<out>/<slug>/`` only when
it succeeded, so a failed attempt leaves nothing half-built where a reader would look.

Papermill kernels started side by side can collide: jupyter_client picks each kernel's five ZMQ ports
by binding to port 0 and releasing it, so two kernels started at the same moment in different worker
processes can be given the same port ("Address already in use"), and the kernel dies before it
answers. Such errors, and a kernel that died or stopped answering, are *transient*: the task retries
(up to ``attempts`` times, after a short random pause, in a fresh folder and so with a fresh
connection file). Any other error fails that authority at once. A task never raises: its failure is
returned as a record, so one authority's failure never stops the others; a worker process that dies
(out of memory, killed) is caught when the result is gathered and recorded the same way.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import random
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
from distributed import Client, LocalCluster, as_completed

from pipeline.batch.rollup import write_rollup
from pipeline.build.runner import replace_dir
from pipeline.public.pack import build_public_pack, load_public_data

WORK = ".batch-work"

# Errors worth another attempt: the kernel's ports, a kernel that died or did not answer, a locked
# SQLite history file (IPython's, shared by kernels started at the same time), a reset connection.
TRANSIENT = re.compile(
    r"address already in use|eaddrinuse|kernel died|dead ?kernel|kernel didn'?t respond|"
    r"kernel_info|zmq|timed? ?out waiting|timeout waiting|database is locked|"
    r"resource temporarily unavailable|connection (reset|refused)|broken pipe", re.I)
TRANSIENT_TYPES = {"DeadKernelError", "ZMQError", "TimeoutError", "ConnectionResetError", "BrokenPipeError",
                   "ConnectionRefusedError", "CellTimeoutError"}


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it was raised from) is one a retry can cure: see ``TRANSIENT``."""
    return any(type(e).__name__ in TRANSIENT_TYPES or TRANSIENT.search(f"{type(e).__name__}: {e}")
               for e in _chain(exc))


def one_line(text: Any, limit: int = 300) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[:limit - 3] + "..."


def plain_reason(exc: BaseException) -> str:
    """What went wrong, in words a reader of the index understands (the manifest keeps the error itself)."""
    text = " ".join(f"{type(e).__name__}: {e}" for e in _chain(exc)).lower()
    if "address already in use" in text or "eaddrinuse" in text:
        return "the notebook kernel could not get a free network port on the machine that built it"
    if "kernel died" in text or "deadkernel" in text:
        return "the notebook kernel stopped unexpectedly while the pack was being built"
    if "didn't respond" in text or "timeout" in text or "timed out" in text:
        return "the build took too long and was stopped"
    if "killedworker" in text or ("worker" in text and "died" in text):
        return "the worker process building it stopped (it may have run out of memory)"
    if isinstance(exc, MemoryError):
        return "the build ran out of memory"
    first = one_line(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    return first


def authority_slug(authority) -> str:
    """The folder of an authority's pack: its code and name, e.g. ``E06000015-derby``."""
    name = re.sub(r"[^a-z0-9]+", "-", str(getattr(authority, "name", authority)).lower()).strip("-")
    code = re.sub(r"[^A-Za-z0-9]+", "", str(getattr(authority, "code", "") or ""))
    return "-".join(p for p in (code, name) if p) or "authority"


def _plain(value):
    """``value`` as JSON can hold it: numpy numbers as Python numbers, NaN as None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, TypeError):
            pass
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class MemorySampler:
    """Peak resident memory of this process and all its children (the notebook kernels), sampled
    every ``every`` seconds on a background thread while the ``with`` block runs."""

    def __init__(self, every: float = 0.2):
        self.every, self.peak = every, 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        me = psutil.Process()
        while True:
            total = 0
            try:
                procs = [me] + me.children(recursive=True)
            except psutil.Error:
                procs = [me]
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            if self._stop.wait(self.every):
                return

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False


def _cpu() -> float:
    """Processor seconds used so far by this process and its children that have ended (the kernels, Chromium):
    on a shared machine a pack's wall time is partly waiting, its processor time is its work."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def default_builder(authority, out_dir, *, data=None, work_dir=None, root=None, **options):
    return build_public_pack(authority, out_dir, data=data, work_dir=work_dir, root=root, **options)


def authority_record(authority) -> dict:
    return {"code": str(getattr(authority, "code", "") or ""), "old_code": str(getattr(authority, "old_code", "") or ""),
            "name": str(getattr(authority, "name", authority)), "region": str(getattr(authority, "region", "") or ""),
            "boundary_note": str(getattr(authority, "boundary_note", "") or ""), "slug": authority_slug(authority)}


def build_one(authority, out_root: str | Path, data=None, builder: Callable | None = None,
              root: str | Path | None = None, attempts: int = 3, pause: float = 1.0,
              options: dict | None = None) -> dict:
    """Build one authority's pack into ``<out_root>/<slug>/`` (the task run on a Dask worker). Returns
    a record: status ``ok`` or ``failed``, attempts, seconds, peak memory of the worker and its kernels,
    the pack's path relative to ``out_root`` and its summary, or the error and a plain reason. Never raises
    (apart from KeyboardInterrupt and SystemExit). ``options``: further keyword arguments for the builder
    (``pdf=False``)."""
    builder = builder or default_builder
    out_root = Path(out_root)
    rec = authority_record(authority)
    rec.update(status="failed", attempts=0, errors=[], pack=None, summary=None, error=None, reason=None,
               started=datetime.now(UTC).isoformat(timespec="seconds"),
               worker_pid=os.getpid(), host=platform.node())
    final = out_root / rec["slug"]
    t0 = time.perf_counter()
    cpu0 = _cpu()
    with MemorySampler() as mem:
        for attempt in range(1, max(1, attempts) + 1):
            rec["attempts"] = attempt
            task = out_root / WORK / f"{rec['slug']}-{os.getpid()}-{attempt}"
            staging, work = task / "out", task / "work"
            saved = {k: os.environ.get(k) for k in ("JUPYTER_RUNTIME_DIR", "TMPDIR")}
            saved_tempdir = tempfile.tempdir
            # temporary and runtime files in a short folder of the system's temporary folder: Chromium (the
            # PDF) and ZMQ make Unix sockets there, whose paths may not exceed 107 bytes, which a folder
            # under a deep --out would
            short = Path(tempfile.mkdtemp(prefix="cspack-b-", dir=saved_tempdir or tempfile.gettempdir()))
            runtime, tmp = short / "runtime", short / "tmp"
            try:
                if task.exists():
                    shutil.rmtree(task)
                for d in (staging, work, runtime, tmp):
                    d.mkdir(parents=True)
                # each kernel's connection file and temporary files in this task's own folders
                os.environ["JUPYTER_RUNTIME_DIR"] = str(runtime)
                os.environ["TMPDIR"] = str(tmp)
                tempfile.tempdir = str(tmp)
                result = builder(authority, staging, data=data, work_dir=work, root=Path(root) if root else None,
                                 **(options or {}))
                pack = Path(result.pack)
                try:
                    rel = pack.resolve().relative_to(staging.resolve())
                except ValueError:
                    raise RuntimeError(f"the builder wrote its pack outside the folder it was given ({pack})") from None
                if not (staging / rel).is_file():
                    raise RuntimeError(f"the builder reported a pack that does not exist ({rel})")
                replace_dir(staging, final)
                rec.update(status="ok", pack=f"{rec['slug']}/{rel.as_posix()}",
                           summary=_plain(getattr(result, "summary", None) or {}),
                           build_seconds=round(float(getattr(result, "seconds", 0.0) or 0.0), 3))
                break
            except Exception as exc:  # recorded, never raised: the other authorities go on
                transient = is_transient(exc)
                rec["errors"].append({"attempt": attempt, "type": type(exc).__name__, "message": one_line(exc, 2000),
                                      "transient": transient,
                                      "traceback": "".join(traceback.format_exception(exc)[-6:])[-3000:]})
                rec.update(error=f"{type(exc).__name__}: {one_line(exc, 2000)}", reason=plain_reason(exc))
                if not transient or attempt >= attempts:
                    break
                time.sleep(pause * attempt * (0.5 + random.random()))  # de-synchronise competing kernels
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
                tempfile.tempdir = saved_tempdir
                shutil.rmtree(task, ignore_errors=True)
                shutil.rmtree(short, ignore_errors=True)
    if rec["status"] == "ok":
        rec.update(error=None, reason=None)
    rec["seconds"] = round(time.perf_counter() - t0, 3)
    rec["cpu_seconds"] = round(_cpu() - cpu0, 3)  # the task's processor time, its kernel's and Chromium's included
    rec["peak_memory_mb"] = round(mem.peak / 2**20, 1)
    rec["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    return rec


@dataclass
class BatchResult:
    out_dir: Path
    records: list[dict]
    seconds: float
    workers: int
    scheduler: str
    setup_seconds: float = 0.0
    data_seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.records if r["status"] != "ok"]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def _client(workers: int | None, scheduler: str | None):
    """A Dask client: to ``scheduler`` when given, else on a new LocalCluster of ``workers`` processes
    (default: one per core), one thread each (a pack's kernel is one process; more threads would only
    share a core). The cluster's own log is silenced below CRITICAL: a worker's heartbeat that finds the
    scheduler already closing logs a traceback, which is no news to the user (every task's error is in
    its record)."""
    if scheduler:
        return Client(scheduler), None
    n = workers or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.CRITICAL)
    return Client(cluster), cluster


def progress_line(i: int, n: int, rec: dict) -> str:
    who = f"{rec['name']}" + (f" ({rec['code']})" if rec.get("code") else "")
    tries = f" after {rec['attempts']} attempts" if rec.get("attempts", 1) > 1 else ""
    if rec["status"] == "ok":
        return f"[{i}/{n}] {who}: built in {rec['seconds']:.1f}s{tries}"
    return f"[{i}/{n}] {who}: FAILED{tries}: {rec['reason']}"


def run_batch(authorities: list, out_dir: str | Path, *, workers: int | None = None, scheduler: str | None = None,
              builder: Callable | None = None, data=None, root: str | Path | None = None, attempts: int = 3,
              pause: float = 1.0, echo: Callable[[str], Any] | None = print, rollup: bool = True,
              options: dict | None = None) -> BatchResult:
    """Build every authority in ``authorities`` into ``out_dir`` on Dask and write the roll-up. With the
    default builder the public data are read once here (``load_public_data``) and scattered to every
    worker; a ``builder`` given instead receives ``data`` as passed."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    authorities = list({authority_slug(a): a for a in authorities}.values())  # each authority once
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    if data is None and builder is None:
        data = load_public_data(Path(root) if root else None)
    data_seconds = time.perf_counter() - t0
    client, cluster = _client(workers, scheduler)
    try:
        n_workers = len(client.scheduler_info().get("workers", {})) if scheduler else (workers or os.cpu_count() or 1)
        setup_seconds = time.perf_counter() - t0 - data_seconds
        shared = client.scatter(data, broadcast=True) if data is not None else None
        futures = {}
        for a in authorities:
            f = client.submit(build_one, a, str(out), shared, builder, str(root) if root else None, attempts, pause, options,
                              key=f"cspack-pack-{authority_slug(a)}-{os.getpid()}-{time.monotonic_ns()}", pure=False)
            futures[f] = a
        done: dict[str, dict] = {}
        for i, fut in enumerate(as_completed(futures), 1):
            a = futures[fut]
            try:
                rec = fut.result()
            except Exception as exc:  # the worker died (KilledWorker) or the task was lost
                rec = authority_record(a)
                rec.update(status="failed", attempts=1, errors=[{"attempt": 1, "type": type(exc).__name__,
                                                                 "message": one_line(exc, 2000), "transient": True}],
                           pack=None, summary=None, error=f"{type(exc).__name__}: {one_line(exc, 2000)}",
                           reason=plain_reason(exc), seconds=None, peak_memory_mb=None)
            done[rec["slug"]] = rec
            if echo:
                echo(progress_line(i, len(futures), rec))
        records = [done[authority_slug(a)] for a in authorities]
        shutil.rmtree(out / WORK, ignore_errors=True)
        versions = _versions(client)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    result = BatchResult(out_dir=out, records=records, seconds=round(time.perf_counter() - t0, 3),
                         workers=n_workers, scheduler=scheduler or "LocalCluster",
                         setup_seconds=round(setup_seconds, 3), data_seconds=round(data_seconds, 3),
                         extra={"started": started.isoformat(timespec="seconds"), "versions": versions})
    if rollup:
        write_rollup(result, root=Path(root) if root else None)
    return result


def _versions(client=None) -> dict:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in ("cspack", "dask", "distributed", "papermill", "pandas", "numpy", "openpyxl"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
