"""The pack's longer record (``placements.simple_backtest``, director's review of 30 November 2026): the
simple forecasts at every quarter end with a year of history, each made from what was known then, and
scored against counts computed here in plain pandas from constructed episodes."""

import numpy as np
import pandas as pd

from pipeline.placements import backtest as pl_backtest
from pipeline.placements import history as pl_history

END = pd.Timestamp(2021, 9, 30)
START = pd.Timestamp(2016, 4, 1)


def _episodes(seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """About 300 children in care: entrants on random days from 2014, stays of two weeks to four years, one
    episode each (foster placements), aged 3 to 12 at entry; episodes still open at ``END`` have no DEC."""
    rng = np.random.default_rng(seed)
    eps, head = [], []
    for i in range(1400):
        s = pd.Timestamp(2014, 1, 1) + pd.Timedelta(days=int(rng.integers(0, 365 * 7 + 270)))
        e = s + pd.Timedelta(days=int(rng.integers(14, 365 * 4)))
        closed = e <= END
        eps.append({"CHILD": f"{100000 + i}", "DECOM": s.strftime("%d/%m/%Y"), "DEC": e.strftime("%d/%m/%Y") if closed else "",
                    "PLACE": "U1", "PLACE_PROVIDER": "PR1", "REC": "E13" if closed else ""})
        head.append({"CHILD": f"{100000 + i}", "DOB": (s - pd.DateOffset(years=int(rng.integers(3, 13)))).strftime("%d/%m/%Y")})
    return pd.DataFrame(eps), pd.DataFrame(head)


def _in_care(eps: pd.DataFrame, when: pd.Timestamp) -> int:
    s = pd.to_datetime(eps["DECOM"], format="%d/%m/%Y")
    e = pd.to_datetime(eps["DEC"].where(eps["DEC"] != ""), format="%d/%m/%Y")
    return int(((s <= when) & (e.isna() | (e > when))).sum())


def test_every_quarter_end_with_a_year_of_history_scored_against_plain_counts():
    eps, head = _episodes()
    spells = pl_history.prepare(eps, head)
    bt = pl_backtest.simple_backtest(spells, END, START)
    origins = pd.to_datetime(pd.Series(sorted(bt["origin"].unique())))
    want = pd.date_range("2017-03-31", "2021-06-30", freq="QE")
    assert list(origins) == list(want)  # a year of history behind the first; three months ahead of the last
    for r in bt.itertuples():
        o = pd.Timestamp(r.origin)
        end = (o.to_period("M") + r.horizon).to_timestamp(how="end").normalize()
        assert end <= END
        assert r.actual == _in_care(eps, end)  # the outcome, counted here
        assert r.naive == _in_care(eps, o)  # no change: the children in care at the quarter end
        assert np.isfinite([r.markov, r.ets]).all()
        assert r.combined == np.mean([r.naive, r.markov, r.ets])
        assert r.used == getattr(r, r.used_method)
    # the horizons reachable from each quarter end only
    assert set(bt.loc[bt["origin"] == want[-1].date(), "horizon"]) == {3}
    assert set(bt.loc[bt["origin"] == want[0].date(), "horizon"]) == {3, 6, 12, 24}
    # two years of history: the first quarter end a year later; none at all: an empty frame with its columns
    assert pd.Timestamp(pl_backtest.simple_backtest(spells, END, START, min_years=2)["origin"].min()) == pd.Timestamp(2018, 3, 31)
    empty = pl_backtest.simple_backtest(spells, pd.Timestamp(2016, 9, 30), START)
    assert not len(empty) and list(empty.columns) == list(bt.columns)
