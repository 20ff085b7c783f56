"""Benchmark (not a test): the ledger reader on a 100,000-row CSV (money with thousands separators,
a financial-year and a month column), best of three. Run with
`python benchmarks/bench_ledger_reader.py` from the project root; result in docs/inputs.md."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.ingest.ledger import read_ledger  # noqa: E402


def main(n: int = 100_000) -> int:
    rng = np.random.default_rng(1)
    pence = rng.integers(-10**7, 10**7, n)
    df = pd.DataFrame({"Fin Year": "2024-25", "Cost Centre": np.where(np.arange(n) % 2, "C1", "C2"),
                       "Actual": [f"{p / 100:,.2f}" for p in pence],
                       "Annual Budget": [f"{p / 100:.2f}" for p in pence[::-1]], "Month": "2024-05"})
    mapping = pd.DataFrame({"cost_centre": ["C1", "C2"], "service_line_id": ["a", "b"], "service_line": ["A", "B"]})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.csv"
        df.to_csv(path, index=False)
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            r = read_ledger(path, mapping)
            best = min(best, time.perf_counter() - t)
    exact = int(r.kept["actual"].sum()) == int(pence.sum())
    print(f"{n:,} rows in {best:.2f} s ({n / best:,.0f} rows per second); totals exact to the penny: {exact}")
    return 0 if exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
