"""Calibration of the synthetic authority: the published counts it is pinned to (Derbyshire by default,
or any authority's published 31 March counts, starts and ceased) and the run's configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.core.paths import project_root

# Derbyshire (E10000007), years ending 31 March. Source: data/raw/published/national/benchmarks_core.csv
# (measure ids cla_31mar_number, cla_starts_number, cla_ceased_number), from DfE's CLA statistics.
PUBLISHED = {
    2015: (603, 253, 280), 2016: (585, 265, 302), 2017: (630, 295, 257), 2018: (709, 338, 265),
    2019: (801, 369, 283), 2020: (862, 394, 336), 2021: (898, 375, 343), 2022: (911, 337, 328),
    2023: (995, 483, 403), 2024: (1056, 485, 428), 2025: (1024, 405, 440),
}
CALIBRATION_SOURCE = ("DfE children looked after in England statistics for Derbyshire (E10000007), as curated in "
                      "data/raw/published/national/benchmarks_core.csv: 31 March counts, starts and ceased, "
                      "years ending 31 March 2015 to 2025")



AUTHORITY = "E10000007"
LA_NUMBER = 830  # Derbyshire's three-digit DfE LA number (the first digits of its pupils' UPNs)
YEARS = range(2015, 2026)  # years ending 31 March that the process is pinned to
HISTORY = ("data", "raw", "published", "cla_history", "cla_la_all_vintages_long.csv")
MEASURES = {"cla_at_31_march": 0, "cla_started": 1, "cla_ceased": 2}


@dataclass
class Config:
    """``authority``: the authority whose published counts the process follows (default Derbyshire);
    ``pinned``: True fixes every 31 March count and start count to the published figure; False draws
    starts and exits with the published flows as their expectation only, so the stock wanders and the
    truth is known only to the generator (its oracle tables), as a forecast benchmark needs."""
    seed: int = 2026
    scale: float = 1.0
    authority: str = AUTHORITY
    pinned: bool = True


def published_counts(authority: str, root=None) -> dict[int, tuple[int, int, int]]:
    """Any English authority's published children-looked-after counts, years ending 31 March
    2015-2025, as {year: (31 March count, starts, ceased)}: the latest release of each figure in
    DfE's statistics as curated in data/raw/published/cla_history/ (see its SOURCE.md). Raises a
    ValueError naming the authority, year and measure when a figure is missing or suppressed."""
    path = (Path(root) if root else project_root()).joinpath(*HISTORY)
    df = pd.read_csv(path, dtype={"new_la_code": str, "old_la_code": str, "value": str})
    df = df[(df["new_la_code"] == authority) & df["measure"].isin(list(MEASURES))]
    if df.empty:
        raise ValueError(f"{path.name}: no children-looked-after counts for authority {authority!r} "
                         f"(expected a new_la_code such as E10000007)")
    df = df.sort_values("release_year").drop_duplicates(["time_period", "measure"], keep="last")
    df["value"] = pd.to_numeric(df["value"].str.replace(",", ""), errors="coerce")
    out = {}
    for y in YEARS:
        row = []
        for m in MEASURES:
            v = df.loc[(df["time_period"] == y) & (df["measure"] == m), "value"]
            if v.empty or v.isna().all():
                raise ValueError(f"{path.name}: authority {authority}, year ending 31 March {y}: "
                                 f"{m} is missing or suppressed; the generator needs every year 2015-2025")
            row.append(int(v.iloc[0]))
        out[y] = tuple(row)
    return out


def published_for(cfg: Config) -> dict[int, tuple[int, int, int]]:
    """The counts the run follows: the bundled Derbyshire figures, or ``published_counts``."""
    return PUBLISHED if cfg.authority == AUTHORITY else published_counts(cfg.authority)


def targets(scale: float, published: dict | None = None) -> dict[int, dict[str, int]]:
    """Per year ending 31 March (2016-2025): starts and ceased to hit, and the 31 March count."""
    published = published or PUBLISHED
    out = {}
    for y in range(2016, 2026):
        stock, starts, ceased_published = published[y]
        prev = published[y - 1][0]
        s = int(round(starts * scale))
        out[y] = {"starts": s, "at_31_march": int(round(stock * scale)),
                  "ceased": int(round(prev * scale)) + s - int(round(stock * scale)),
                  "ceased_published": ceased_published}
    return out
