"""How well the placement forecast did for each placement type (issue 15): from the backtest's rows by
placement type (``backtest(..., by_category=True)`` with the forecast used replayed), the weighted
absolute % error of each type's count for no change, the Markov model, the cspack model and the
forecast used, whose total is split over types in the cspack model's median mix (as the projection
does). A type with fewer children on average at the scored outcomes than the small-count threshold is
not scored: its error would rest on a handful of children and could point to them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.ingest.ssda903 import CATEGORIES, CATEGORY_LABELS

METHODS = ("naive", "markov", "model", "used")  # scored; ``used``: the forecast used's total, the model's mix
ALL = "all"  # the category of the row over all types


def type_forecasts(g: pd.DataFrame, categories=None) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Each method's forecast of each type's count (one column per type) and the outcome, for backtest
    rows ``g`` (columns ``cat_actual_c``, ``cat_naive_c``, ``cat_markov_c``, ``cat_model_c`` and
    ``used``). The forecast used has no mix of its own: its total is spread over types in the cspack
    model's mix (a row whose model mix is empty spreads nothing)."""
    cats = list(categories) if categories is not None else [c for c in CATEGORIES if f"cat_actual_{c}" in g]
    fc = {m: pd.DataFrame({c: g[f"cat_{m}_{c}"].astype(float) for c in cats}) for m in ("naive", "markov", "model")}
    share = fc["model"].div(fc["model"].sum(axis=1).replace(0, np.nan), axis=0)
    fc["used"] = share.mul(g["used"].astype(float), axis=0).fillna(0.0)
    act = pd.DataFrame({c: g[f"cat_actual_{c}"].astype(float) for c in cats})
    return fc, act


def accuracy_by_type(rows: pd.DataFrame, threshold: int, horizon: int = 12) -> pd.DataFrame:
    """At ``horizon`` months ahead, one row per placement type and a last row over all types
    (``category`` ``all``): ``label``, ``origins`` (quarter ends scored), ``scored`` and the weighted
    absolute % error (sum |forecast - outcome| / sum of outcomes x 100) of each of ``METHODS``
    (``naive_wape`` ...). A type whose mean count at the scored outcomes is below ``threshold`` is not
    scored (``scored`` False, no errors); the all-types row is the sum of every type's absolute errors
    (scored or not) over the children in care at the outcomes, scored on the same rule. No counts of children are returned.
    Empty when ``rows`` has no row at ``horizon`` or no counts by type."""
    cols = ["category", "label", "origins", "scored"] + [f"{m}_wape" for m in METHODS]
    if not len(rows) or "horizon" not in rows or not any(c.startswith("cat_actual_") for c in rows.columns):
        return pd.DataFrame(columns=cols)
    g = rows[rows["horizon"] == horizon]
    if not len(g):
        return pd.DataFrame(columns=cols)
    fc, act = type_forecasts(g)
    out = []
    for c in act.columns:
        scored = bool(act[c].mean() >= threshold)
        r = {"category": c, "label": CATEGORY_LABELS[c], "origins": int(len(g)), "scored": scored}
        for m in METHODS:
            r[f"{m}_wape"] = float((fc[m][c] - act[c]).abs().sum() / act[c].sum() * 100) if scored else np.nan
        out.append(r)
    total = act.to_numpy().sum()
    scored = bool(total > 0 and total / len(g) >= threshold)
    out.append({"category": ALL, "label": "All types (each type's errors added up)", "origins": int(len(g)), "scored": scored,
                **{f"{m}_wape": float(np.abs(fc[m] - act).to_numpy().sum() / total * 100) if scored else np.nan
                   for m in METHODS}})
    return pd.DataFrame(out, columns=cols)
