"""Benchmark (not a test): time a full build of the default pack (the latest quarter) against a "floor" build of the
same notebooks cut to their parameters cell and import lines, and report the ratio.

The floor is what any papermill pipeline pays: kernel start-up, imports, export. Our goal is a
full/floor ratio of at most 1.5. Run with `make bench`; results go to benchmarks/results/."""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.build.runner import list_notebooks, run_quarter  # noqa: E402
from tests.conftest import copy_project  # noqa: E402


def floor_notebooks(src: list[Path], dest: Path) -> list[Path]:
    """Copies keeping only the parameters cell and the import lines of each code cell."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for path in src:
        nb = nbformat.read(path, as_version=4)
        cells = []
        for c in nb.cells:
            if c.cell_type != "code":
                continue
            if "parameters" in c.metadata.get("tags", []):
                cells.append(c)
                continue
            imports = [l for l in c.source.splitlines() if l.startswith(("import ", "from "))]
            if imports:
                c.source = "\n".join(imports)
                cells.append(c)
        nb.cells = cells
        target = dest / path.name
        nbformat.write(nb, target)
        out.append(target)
    return out


def timed(root: Path, notebooks=None, cold: bool = False) -> float:
    if cold:  # no earlier preparation to reuse: every input is read and checked again
        for d in (root / "data" / "processed").iterdir():
            shutil.rmtree(d, ignore_errors=True)
    t = time.perf_counter()
    run_quarter(None, root, echo=False, progress=False, notebooks=notebooks)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_project(Path(tmp) / "proj")
        floor = floor_notebooks(list_notebooks(root), Path(tmp) / "floor")
        timed(root)  # warm-up: file cache, matplotlib font cache
        cold = [timed(root, cold=True) for _ in range(args.repeat)]
        full = [timed(root) for _ in range(args.repeat)]
        flo = [timed(root, floor) for _ in range(args.repeat)]
    med = statistics.median
    result = {"cold_seconds": [round(x, 2) for x in cold], "full_seconds": [round(x, 2) for x in full],
              "floor_seconds": [round(x, 2) for x in flo], "cold_median": round(med(cold), 2),
              "full_median": round(med(full), 2), "floor_median": round(med(flo), 2),
              "ratio": round(med(full) / med(flo), 2), "cold_ratio": round(med(cold) / med(flo), 2),
              "machine": f"{platform.machine()}, {platform.python_version()}, {platform.platform()}"}
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "bench_build.json").write_text(json.dumps(result, indent=1))
    print(f"cold build   median {result['cold_median']:.2f}s  {result['cold_seconds']} (inputs read afresh)")
    print(f"full build   median {result['full_median']:.2f}s  {result['full_seconds']} (re-run, same inputs)")
    print(f"floor build  median {result['floor_median']:.2f}s  {result['floor_seconds']}")
    print(f"ratio full/floor: {result['ratio']:.2f}; cold/floor: {result['cold_ratio']:.2f} (goal: at most 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
