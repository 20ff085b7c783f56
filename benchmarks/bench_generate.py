"""Benchmark (not a test): wall time, peak memory (resident set size of a fresh process) and size
of the synthetic-authority generation at scale 1 (Derbyshire) and scale 80 (about England).
Run with `make bench-generate`; results go to benchmarks/results/bench_generate.json."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one(scale: float) -> dict:
    sys.path.insert(0, str(ROOT))
    from pipeline.synthetic import Config, write_demo

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        files = write_demo(Path(tmp), Config(seed=2026, scale=scale))
        secs = time.perf_counter() - t
    episodes = sum(f.count(b"\n") - 1 for p, f in files.items() if p.endswith("episodes.csv"))
    return {"scale": scale, "seconds": round(secs, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "files": len(files), "megabytes": round(sum(len(b) for b in files.values()) / 1e6, 1),
            "episode_rows_all_returns": episodes}


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(one(float(sys.argv[2]))))
        return 0
    scales = [a for a in sys.argv[1:]] or ["1", "80"]
    results = []
    for s in scales:  # each scale in a fresh process, so peak memory is its own
        out = subprocess.run([sys.executable, __file__, "--one", s], capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    dest = ROOT / "benchmarks" / "results"
    dest.mkdir(exist_ok=True)
    (dest / "bench_generate.json").write_text(json.dumps(results, indent=1))
    for r in results:
        print(f"scale {r['scale']:>5}: {r['seconds']:>7.2f}s  peak RSS {r['peak_rss_mb']:>7.1f} MB  "
              f"{r['files']} files, {r['megabytes']} MB, {r['episode_rows_all_returns']:,} episode rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
