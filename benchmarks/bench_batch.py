"""Benchmark (not a test): public-data packs of many authorities with ``cspack batch`` on Dask.

For each worker count asked (default 1 and 2, this machine's cores): the wall time of the whole batch,
time per pack, peak memory per task (the worker process and its notebook kernel, sampled with psutil),
and the fixed costs (reading the public data once, starting the LocalCluster). Then the scheduler's
overhead per task (a batch of no-op tasks on the same cluster), the scaling efficiency of 2 workers
against 1, and the projected time for every authority in England on a cluster of N workers from the
measured per-pack times and overheads (list scheduling of the packs in the order submitted).

    python benchmarks/bench_batch.py                           # every authority, 1 and 2 workers
    python benchmarks/bench_batch.py --authorities "East Midlands" --workers 1,2 --write-docs
    python benchmarks/bench_batch.py --authorities all --limit 6

``--write-docs`` puts the Markdown report, dated, between the bench-batch markers in docs/batch.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.batch.run import run_batch  # noqa: E402

START, END = "<!-- bench-batch:start -->", "<!-- bench-batch:end -->"


def _noop(i):
    return i


def scheduler_overhead(workers: int, tasks: int = 400) -> dict:
    """Start a LocalCluster like the batch's and time ``tasks`` no-op tasks through it."""
    import logging

    from distributed import Client, LocalCluster, wait

    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.CRITICAL)
    client = Client(cluster)
    start = time.perf_counter() - t0
    try:
        client.submit(_noop, -1).result()  # warm
        t = time.perf_counter()
        wait([client.submit(_noop, i, pure=False) for i in range(tasks)])
        per_task = (time.perf_counter() - t) / tasks
    finally:
        client.close()
        cluster.close()
    return {"workers": workers, "cluster_start_s": start, "per_task_s": per_task, "tasks": tasks}


def simulate(durations: list[float], n_tasks: int, workers: int, overhead: float) -> float:
    """Makespan of ``n_tasks`` packs (durations cycled from those measured) given to ``workers`` workers
    in order, each to the worker free first (what the scheduler does with equal tasks)."""
    import heapq

    free = [0.0] * workers
    for i in range(n_tasks):
        t = heapq.heappop(free)
        heapq.heappush(free, t + durations[i % len(durations)] + overhead)
    return max(free)


def run(authorities, workers: int, keep: Path | None) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"cspack-bench-batch-{workers}w-"))
    lines: list[str] = []
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    result = run_batch(authorities, out, workers=workers, echo=lambda s: (lines.append(s), print(f"  {s}", flush=True)))
    wall = time.perf_counter() - t0
    ok = [r for r in result.records if r["status"] == "ok"]
    secs = [r["seconds"] for r in ok]
    mem = [r["peak_memory_mb"] for r in result.records if r.get("peak_memory_mb")]
    cpu = [r["cpu_seconds"] for r in ok if r.get("cpu_seconds") is not None]
    row = {"workers": workers, "authorities": len(result.records), "built": len(ok), "failed": len(result.failed),
           "wall_s": wall, "data_s": result.data_seconds, "setup_s": result.setup_seconds,
           "pack_s_mean": statistics.mean(secs) if secs else float("nan"),
           "pack_s_median": statistics.median(secs) if secs else float("nan"),
           "pack_s_min": min(secs, default=float("nan")), "pack_s_max": max(secs, default=float("nan")),
           "pack_s_sum": sum(secs), "cpu_s_mean": statistics.mean(cpu) if cpu else float("nan"), "cpu": cpu, "peak_mb_max": max(mem, default=float("nan")),
           "peak_mb_mean": statistics.mean(mem) if mem else float("nan"),
           "load_before": load0, "load_after": os.getloadavg()[0],
           "attempts_over_1": sum(1 for r in result.records if r["attempts"] > 1),
           "failures": [(r["name"], r["reason"]) for r in result.failed], "durations": secs}
    if keep:
        dest = keep / f"{workers}-workers"
        shutil.rmtree(dest, ignore_errors=True)
        shutil.move(str(out), dest)
    else:
        shutil.rmtree(out, ignore_errors=True)
    return row


def report(spec: str, rows: list[dict], overheads: dict[int, dict], n_all: int) -> str:
    when = datetime.now(UTC)
    day = f"{when.day} {when.strftime('%B')} {when.year}, {when:%H:%M} UTC"
    lines = [f"Measured on {day}: `{spec}`, {rows[0]['authorities']} authorities, on this machine "
             f"({os.cpu_count()} cores, shared with other work: load average before each run shown).", "",
             "| workers | built | failed | wall time (s) | public data read (s) | cluster start (s) | per pack: mean / median / min / max (s) | "
             "processor time per pack, mean (s) | packs per minute | peak memory per task: mean / max (MB) | retried | load average before |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ppm = 60 * r["built"] / r["wall_s"] if r["wall_s"] else float("nan")
        lines.append(f"| {r['workers']} | {r['built']} | {r['failed']} | {r['wall_s']:.1f} | {r['data_s']:.1f} | {r['setup_s']:.1f} | "
                     f"{r['pack_s_mean']:.1f} / {r['pack_s_median']:.1f} / {r['pack_s_min']:.1f} / {r['pack_s_max']:.1f} | "
                     f"{r['cpu_s_mean']:.1f} | {ppm:.2f} | {r['peak_mb_mean']:.0f} / {r['peak_mb_max']:.0f} | {r['attempts_over_1']} | {r['load_before']:.1f} |")
    fails = [f"{name}: {reason}" for r in rows for name, reason in r["failures"]]
    if fails:
        lines += ["", "Not built: " + "; ".join(sorted(set(fails)))]
    by_w = {r["workers"]: r for r in rows}
    if 1 in by_w and 2 in by_w:
        s = by_w[1]["wall_s"] / by_w[2]["wall_s"]
        lines += ["", f"Scaling, 2 workers against 1: speed-up {s:.2f}, efficiency {s / 2:.0%} "
                      f"(per pack {by_w[1]['pack_s_mean']:.1f}s with 1 worker, {by_w[2]['pack_s_mean']:.1f}s each with 2 "
                      "side by side on 2 shared cores)."]
    lines += ["", f"At the throughput measured, all {n_all} authorities on this machine: "
              + "; ".join(f"{r['workers']} worker{'s' if r['workers'] > 1 else ''} about "
                          f"{(r['wall_s'] - r['data_s'] - r['setup_s']) / r['built'] * n_all / 60 + (r['data_s'] + r['setup_s']) / 60:.0f} min"
                          for r in rows if r["built"]) + " (projected, not measured)."]
    lines += ["", "Scheduler overhead (no-op tasks through the same kind of LocalCluster):", "",
              "| workers | cluster start (s) | per task (ms) |", "|---|---|---|"]
    for w, o in sorted(overheads.items()):
        lines.append(f"| {w} | {o['cluster_start_s']:.1f} | {1000 * o['per_task_s']:.2f} |")
    base = by_w.get(1) or rows[0]
    durs = base["durations"] or [float("nan")]
    ov = max(o["per_task_s"] for o in overheads.values()) if overheads else 0.0
    fixed = base["data_s"] + max((o["cluster_start_s"] for o in overheads.values()), default=0.0)
    lines += ["", f"Projected wall time for all {n_all} authorities on a cluster of N workers, each as fast as one "
                  f"worker here ({statistics.mean(durs):.1f}s a pack, the measured packs' times cycled), plus the measured "
                  f"overhead per task and fixed costs ({fixed:.1f}s: reading the public data and starting the cluster):", "",
              "| N workers | projected wall time | the same, each pack taking its processor time only | packs per worker |",
              "|---|---|---|---|"]
    cpus = base.get("cpu") or [float("nan")]
    for n in (1, 2, 4, 8, 16, 32, 64, n_all):
        t = fixed + simulate(durs, n_all, n, ov)
        c = fixed + simulate(cpus, n_all, n, ov)
        lines.append(f"| {n} | {t / 60:.1f} min ({t:.0f}s) | {c / 60:.1f} min ({c:.0f}s) | {math.ceil(n_all / n)} |")
    return "\n".join(lines)


def write_docs(text: str) -> None:
    doc = ROOT / "docs" / "batch.md"
    page = doc.read_text(encoding="utf-8") if doc.exists() else f"# cspack batch\n\n{START}\n{END}\n"
    if START not in page:
        page += f"\n{START}\n{END}\n"
    head, rest = page.split(START, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")


def main(argv=None) -> int:
    from pipeline.public.authorities import all_authorities, select

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--authorities", default="all", help='"all", a region, or codes/names separated by commas')
    ap.add_argument("--limit", type=int, help="only the first N authorities of the selection")
    ap.add_argument("--workers", default="1,2", help="worker counts to measure, e.g. 1,2")
    ap.add_argument("--keep", help="keep each run's packs and index in this folder")
    ap.add_argument("--write-docs", action="store_true", help="write the report into docs/batch.md")
    args = ap.parse_args(argv)
    chosen = select(args.authorities)
    if args.limit:
        chosen = chosen[:args.limit]
    counts = [int(x) for x in args.workers.split(",")]
    keep = Path(args.keep) if args.keep else None
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
    rows, overheads = [], {}
    for w in counts:
        print(f"{len(chosen)} authorities on {w} worker(s):", flush=True)
        rows.append(run(chosen, w, keep))
        overheads[w] = scheduler_overhead(w)
    text = report(args.authorities + (f" (first {args.limit})" if args.limit else ""), rows, overheads,
                  len(all_authorities()))
    print(text)
    print(json.dumps([{k: v for k, v in r.items() if k not in ("durations", "cpu")} for r in rows], default=str))
    if args.write_docs:
        write_docs(text)
        print("wrote docs/batch.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
