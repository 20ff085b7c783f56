"""Realistic identifiers and places for the synthetic returns: exact birthdays, UPNs with DfE's check
letter, and real postcodes (``reference/postcodes.csv``) chosen so that placement distance and the
placing authority make sense for the placement."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

REFERENCE = Path(__file__).resolve().parent / "reference"
UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"  # DfE's UPN check letters: 0..22 (no I, O or S)
MILES = 1609.3  # metres in a mile, as DfE derives placement distance


def to_dates(ordinals) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(ordinals, dtype=np.int64) - 719163, unit="D")  # 719163 = 1970-01-01


def to_ordinals(dates) -> np.ndarray:
    return (pd.DatetimeIndex(dates).to_numpy("datetime64[D]").astype(np.int64) + 719163)


def fmt_days(days) -> pd.Series:
    """Day ordinals -> dd/mm/yyyy text ('' for missing or 0)."""
    days = pd.Series(np.asarray(days, dtype=float)) if not isinstance(days, pd.Series) else days
    out = pd.Series("", index=days.index, dtype=object)
    ok = days.notna() & (days > 0)
    out[ok] = to_dates(days[ok].astype(np.int64)).strftime("%d/%m/%Y")
    return out


def add_years(ordinals, years: int) -> np.ndarray:
    """The same calendar date ``years`` later (29 February -> 28 February), as ordinals: a child's
    18th birthday is the day of the month they were born on, not 18 x 365.25 days later."""
    return to_ordinals(to_dates(ordinals) + pd.DateOffset(years=years))


def upn_check_letter(digits12: str) -> str:
    """DfE's UPN check letter: digits 2-13 of the UPN weighted 2..13, summed, modulo 23."""
    return UPN_LETTERS[sum(int(d) * w for d, w in zip(digits12, range(2, 14))) % 23]


def upns(rng, n: int, la_number: int, birth_years: np.ndarray) -> np.ndarray:
    """Valid-format synthetic UPNs: check letter + LA number (3 digits) + a school number (4) + the
    year allocated (2, the September after the child turned 4) + a serial (3). Never issued: school
    numbers 9000-9999 are not used by maintained schools."""
    school = rng.integers(9000, 10000, n)
    year = (np.asarray(birth_years) + 4) % 100
    serial = rng.permutation(n * 10)[:n] % 1000
    out = np.empty(n, dtype=object)
    for i in range(n):
        digits = f"{la_number:03d}{school[i]:04d}{year[i]:02d}{serial[i]:03d}"
        out[i] = upn_check_letter(digits) + digits
    return out


@lru_cache(maxsize=1)
def postcodes() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "postcodes.csv", dtype={"postcode": str, "pool": str, "district": str,
                                                           "authority": str, "authority_name": str})


def distance_miles(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    return np.hypot(a["easting"].to_numpy() - b["easting"].to_numpy(),
                    a["northing"].to_numpy() - b["northing"].to_numpy()) / MILES


def placement_postcodes(rng, home_idx: np.ndarray, far: np.ndarray, in_authority: np.ndarray,
                        authority: str = "E10000007") -> np.ndarray:
    """For each placement, the row (in ``postcodes()``) of a placement postcode other than the home's:
    within 20 miles of home unless ``far``, more than 20 miles away if ``far``, and inside the
    authority where ``in_authority`` (own provision must be: DfE rule 1015). A far placement that
    must stay in the authority, or a near one with no candidate, takes the nearest allowed choice."""
    pc = postcodes()
    pool = pc[pc["pool"] != "home"].reset_index()
    pe, pn = pool["easting"].to_numpy(float), pool["northing"].to_numpy(float)
    inside = (pool["authority"] == authority).to_numpy()[None, :]
    he, hn = pc["easting"].to_numpy(float)[home_idx], pc["northing"].to_numpy(float)[home_idx]
    choice = np.empty(len(home_idx), dtype=np.int64)
    for a in range(0, len(home_idx), 2000):  # in chunks: a placements x candidates distance matrix
        sl = slice(a, a + 2000)
        d = np.hypot(he[sl, None] - pe[None, :], hn[sl, None] - pn[None, :]) / MILES
        allowed = np.where(in_authority[sl, None], inside, True) & (d > 0.3)
        ok = allowed & np.where(far[sl, None], d > 20, d <= 20)
        c = (rng.random(d.shape) + ok).argmax(axis=1)  # a random allowed candidate (key > 1)
        fallback = ~ok.any(axis=1)
        c[fallback] = np.where(far[sl][fallback], np.where(allowed, d, -np.inf)[fallback].argmax(axis=1),
                               np.where(allowed, d, np.inf)[fallback].argmin(axis=1))
        choice[sl] = c
    return pool["index"].to_numpy()[choice]
