"""Every file of the demo data set, its metadata and the oracle, and writing them to a folder."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd

from pipeline.ingest import ssda903
from pipeline.ingest.ssda903 import CATEGORIES
from pipeline.placements.history import AGE_BANDS, DURATION_BANDS
from pipeline.synthetic.calibration import AUTHORITY, CALIBRATION_SOURCE, Config, published_for, targets
from pipeline.synthetic.ledger import (
    PLACEMENT_BUDGET_SOURCE,
    PLACEMENT_SPEND_2021_22,
    build_ledger,
    calibrated_unit_costs,
)
from pipeline.synthetic.messy import messify
from pipeline.synthetic.returns import quarterly_returns
from pipeline.synthetic.simulate import EXIT_AGE, EXIT_DURATION, EXIT_HAZARD, MOVE_DEST, MOVE_PROB, Simulation, simulate
from pipeline.synthetic.ssda903_tables import build_episodes, ssda903_returns


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, lineterminator="\n").encode("utf-8")


def oracle_tables(sim: Simulation, costs: pd.DataFrame, returns: dict, cfg: Config) -> dict[str, pd.DataFrame]:
    hazards = pd.DataFrame([(c, a, d, EXIT_HAZARD[i] * EXIT_AGE[j] * EXIT_DURATION[k])
                            for i, c in enumerate(CATEGORIES) for j, a in enumerate(AGE_BANDS)
                            for k, d in enumerate(DURATION_BANDS)],
                           columns=["category", "age_band", "duration_band", "relative_hazard"])
    moves = pd.DataFrame(MOVE_DEST, index=CATEGORIES, columns=CATEGORIES).rename_axis("from_category").reset_index()
    moves.insert(1, "monthly_move_probability", MOVE_PROB)
    cal = []
    counts = published_for(cfg)
    tg = targets(cfg.scale, counts)
    for yl, r in returns.items():
        y = int(yl[:4])
        if y + 1 not in tg:
            continue
        e = r["episodes"].copy()
        for col in ("DECOM", "DEC"):
            e[f"{col}_date"] = pd.to_datetime(e[col].replace("", None), format="%d/%m/%Y")
        got = ssda903.year_counts(e, yl)
        t = tg[y + 1]
        pub = counts[y + 1]
        for measure, published, target, achieved in (
                ("children looked after at 31 March", pub[0] * cfg.scale, t["at_31_march"], got["at_end"]),
                ("children starting to be looked after", pub[1] * cfg.scale, t["starts"], got["starts"]),
                ("children ceasing to be looked after", pub[2] * cfg.scale, t["ceased"], got["ceased"])):
            cal.append((yl, measure, published, target, achieved, round(100 * (achieved - published) / published, 2)))
    calibration = pd.DataFrame(cal, columns=["collection_year", "measure", "published_x_scale", "target", "achieved",
                                             "pct_difference_from_published"])
    return {"entry_rates": sim.oracle["entries"], "exit_multiplier": sim.oracle["exit_multiplier"],
            "exit_hazards": hazards, "moves": moves, "unit_costs": costs, "calibration": calibration}


def generate(cfg: Config) -> dict[str, bytes]:
    """Every file of the demo data set as {relative path: bytes}. Deterministic for a seed."""
    sim = simulate(cfg)
    episodes, children = build_episodes(sim, cfg)
    returns = ssda903_returns(episodes, children, cfg)
    costs = calibrated_unit_costs(episodes, cfg)
    ledger, centres = build_ledger(episodes, cfg, costs)
    quarterly = quarterly_returns(ledger, episodes, cfg)
    files: dict[str, bytes] = {}
    for yl, tables in returns.items():
        for name, df in tables.items():
            files[f"ssda903/{yl}/{name}.csv"] = _csv(df)
    for fy, part in ledger.groupby("financial_year", sort=True):
        files[f"ledger/ledger_{fy}.csv"] = _csv(part)
    files["ledger/cost_centres.csv"] = _csv(centres)
    for label, tables in quarterly.items():
        for name, df in tables.items():
            files[f"returns/{label}/{name}.csv"] = _csv(df)
    for name, df in oracle_tables(sim, costs, returns, cfg).items():
        files[f"oracle/{name}.csv"] = _csv(df)
    meta = {
        "synthetic": True,
        "notice": "SYNTHETIC DATA produced by cspack's synthetic-authority generator. Realistic but not real: "
                  "no figure describes a real council or child.",
        "generator": "pipeline.synthetic", "seed": cfg.seed, "scale": cfg.scale,
        **({} if cfg.authority == AUTHORITY and cfg.pinned else {"authority": cfg.authority, "pinned": cfg.pinned}),
        "calibrated_to": [CALIBRATION_SOURCE,
                          "Derbyshire placement mix, share placed over 20 miles and ceased-by-reason shares "
                          "(benchmarks_core.csv), approximately: see oracle/calibration.csv and the README",
                          "Seed 004: 2021-22 controllable budget £131.236m by service line and placement spend "
                          f"£{PLACEMENT_SPEND_2021_22}m", PLACEMENT_BUDGET_SOURCE,
                          "Unit costs: oracle/unit_costs.csv names the source of each"],
        "period": "2019-20 Q1 to 2026-27 Q2 (SSDA903 returns 2019-20 to 2026-27, the last to 30 September 2026)",
        "files": {p: {"sha256": hashlib.sha256(b).hexdigest(), "bytes": len(b)} for p, b in sorted(files.items())},
    }
    files["metadata.json"] = (json.dumps(meta, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    return files


def write_demo(out_dir, cfg: Config, messy: bool = False) -> dict[str, bytes]:
    """Generate and write the demo data set; returns the files written. Existing generated files
    in ``out_dir`` are replaced; the folder's README is kept."""
    files = generate(cfg)
    if messy:
        files = messify(files, cfg)
        meta = json.loads(files["metadata.json"])
        meta["messy"] = True
        files["metadata.json"] = (json.dumps(meta, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    out = Path(out_dir)
    for sub in ("ssda903", "ledger", "returns", "oracle"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    for rel, data in files.items():
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files
