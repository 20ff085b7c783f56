"""Benchmark (not a test): cleaning throughput at national scale (the synthetic authority at scale
80, about England): messy ledger rows per second (CSV, and Excel read with calamine vs openpyxl) and
SSDA903 episodes merged per second, with peak memory. Run with `make bench-clean`."""

from __future__ import annotations

import io
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.ingest import ssda903  # noqa: E402
from pipeline.ingest.ledger import read_ledger  # noqa: E402
from pipeline.synthetic import Config, generate, messify, messy_ledger  # noqa: E402


def main() -> int:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 80.0
    files = generate(Config(seed=2026, scale=scale))
    messy = messify(files, Config(seed=2026, scale=scale))
    out = {"scale": scale}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cc = pd.read_csv(io.BytesIO(files["ledger/cost_centres.csv"]), dtype=str, keep_default_na=False)
        # the ledger is per authority: at national scale, stack 80 authorities' years into one export
        years = [p for p in files if p.startswith("ledger/ledger_")]
        clean = pd.concat([pd.read_csv(io.BytesIO(files[y]), dtype=str, keep_default_na=False) for y in years])
        national = pd.concat([clean] * int(max(scale, 1)), ignore_index=True)
        big = tmp / "ledger_national.csv"
        big.write_bytes(messy_ledger(national, "all years", np.random.default_rng(1)))
        t = time.perf_counter()
        r = read_ledger(big, cc)
        secs = time.perf_counter() - t
        out["ledger_rows"] = r.rows_read
        out["ledger_seconds"] = round(secs, 2)
        out["ledger_reconciles"] = bool(r.reconciles and r.totals["agrees"].all())
        out["ledger_csv_rows_per_second"] = round(r.rows_read / secs)
        # Excel: one year's messy ledger as a workbook, calamine vs openpyxl
        df = pd.read_csv(io.BytesIO(files[years[0]]), dtype=str)
        xlsx = tmp / "ledger.xlsx"
        df.to_excel(xlsx, index=False)
        for engine in ("calamine", "openpyxl"):
            t = time.perf_counter()
            for _ in range(3):
                pd.read_excel(xlsx, dtype=str, engine=engine)
            out[f"excel_{engine}_rows_per_second"] = round(3 * len(df) / (time.perf_counter() - t))
        for rel, data in messy.items():
            if rel.startswith("ssda903/"):
                p = tmp / rel
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
        t = time.perf_counter()
        returns = {d.name: ssda903.read_return(d) for d in sorted((tmp / "ssda903").iterdir())}
        m = ssda903.merge_returns(returns)
        secs = time.perf_counter() - t
        rows = int(m["reconciliation"]["count"].iloc[0])
        out["ssda903_rows_read"] = rows
        out["ssda903_rows_per_second"] = round(rows / secs)
        out["ssda903_seconds"] = round(secs, 2)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    dest = ROOT / "benchmarks" / "results"
    dest.mkdir(exist_ok=True)
    (dest / "bench_clean.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
