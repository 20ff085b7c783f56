"""What-if scenarios' children in care at the projection's end (director's review, 30 November 2026): the
baseline's median over all paths plus each scenario's own median change on its paths, so a scenario that
changes only costs reads exactly the baseline's number."""

import numpy as np

from pipeline.quarter.placement_bundle import children_end


def test_children_end_is_the_baseline_plus_the_scenarios_own_change():
    rng = np.random.default_rng(3)
    base = rng.poisson(100, size=(1000, 12, 4)).astype(float)  # paths, months, placement types
    end = base[:, -1].sum(axis=1)
    # a scenario on the first 200 paths that changes nothing about the children: exactly the baseline's median,
    # though the median of those 200 paths alone differs from it
    assert np.median(end[:200]) != np.median(end)
    assert children_end(base, base[:200]) == float(np.median(end))
    # one that removes 7 children on every path reads 7 fewer
    scen = base[:200].copy()
    scen[:, -1, 0] -= 7
    assert children_end(base, scen) == float(np.median(end)) - 7
