"""``cspack batch --authorities all | <region> | <code,code,...> --out DIR [--workers N] [--scheduler ADDRESS]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.public.authorities import UnknownAuthority, select


def add_parser(sub) -> argparse.ArgumentParser:
    b = sub.add_parser("batch", help="build many authorities' public-data packs on Dask, with an index of them")
    b.add_argument("--authorities", required=True,
                   help='"all", a region such as "East Midlands", or authority codes or names separated by commas')
    b.add_argument("--out", required=True, help="folder for the packs, index.html, tables.xlsx and manifest.json")
    b.add_argument("--workers", type=int, help="worker processes on this machine (default: one per core)")
    b.add_argument("--scheduler", help="address of an existing Dask scheduler (tcp://host:8786) to run the batch on")
    b.add_argument("--attempts", type=int, default=3,
                   help="attempts per authority when a build fails for a passing reason such as a kernel port (default 3)")
    b.add_argument("--no-pdf", action="store_true", help="no pack.pdf for each authority (faster)")
    b.set_defaults(func=cmd_batch)
    return b


def cmd_batch(args) -> int:
    from pipeline.batch.run import run_batch  # not at the top: Dask takes seconds to import; only batch needs it

    if args.workers is not None and args.workers < 1:
        print("cspack: --workers must be 1 or more", file=sys.stderr)
        return 2
    if args.workers and args.scheduler:
        print("cspack: give --workers or --scheduler, not both (an existing cluster has its own workers)", file=sys.stderr)
        return 2
    try:
        authorities = select(args.authorities)
    except UnknownAuthority as exc:
        print(f"cspack: {exc}", file=sys.stderr)
        return 2
    if not authorities:
        print(f"cspack: no authority matches {args.authorities!r}", file=sys.stderr)
        return 2
    out = Path(args.out)
    where = f"the cluster at {args.scheduler}" if args.scheduler else f"{args.workers or 'one per core'} worker processes"
    print(f"cspack batch: {len(authorities)} authorities on {where}, into {out}")
    result = run_batch(authorities, out, workers=args.workers, scheduler=args.scheduler, attempts=args.attempts,
                       echo=lambda line: print(line, flush=True), options={"pdf": False} if args.no_pdf else None)
    n_bad = len(result.failed)
    print(f"built {len(result.records) - n_bad} of {len(result.records)} packs in {result.seconds:.0f}s; "
          f"index: {out / 'index.html'}")
    if n_bad:
        print(f"cspack: {n_bad} {'pack was' if n_bad == 1 else 'packs were'} not built: "
              + "; ".join(f"{r['name']}: {r['reason']}" for r in result.failed), file=sys.stderr)
    return result.exit_code
