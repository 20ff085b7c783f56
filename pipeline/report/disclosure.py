"""Disclosure control for counts derived from child-level data (DfE's local authority practice):
counts from 1 to ``threshold - 1`` are suppressed (shown as ``c``, with a footnote), and where a row
total is published or derivable, a second cell is suppressed so the total cannot reveal the first.
Zero is not disclosive and is shown."""

from __future__ import annotations

import numpy as np
import pandas as pd

MARKER = "c"
FOOTNOTE = ("c: a count from 1 to {n} is suppressed to protect the children it describes, and where a total "
            "would reveal it, the next smallest count in the row too.")


def suppress(df: pd.DataFrame, cols: list[str], threshold: int = 5, total_col: str | None = None,
             secondary: bool = True) -> tuple[pd.DataFrame, int]:
    """``df`` with small counts in ``cols`` replaced by ``c`` (the columns become text); returns it and
    the number of cells suppressed. ``secondary``: where a row has exactly one suppressed cell and its
    total is published (``total_col``) or the columns are parts of a whole, the smallest other non-zero
    cell of the row is suppressed too."""
    out = df.copy()
    vals = df[cols].to_numpy(dtype=float)
    small = (vals > 0) & (vals < threshold)
    if secondary:
        one = small.sum(axis=1) == 1
        for i in np.flatnonzero(one):
            cand = np.where(~small[i] & (vals[i] > 0), vals[i], np.inf)
            if np.isfinite(cand).any():
                small[i, int(np.argmin(cand))] = True
    if total_col is not None:
        # a total made of suppressed parts only is itself small enough to reveal them: suppress it too
        tot = df[total_col].to_numpy(dtype=float)
        tot_small = (tot > 0) & (tot < threshold)
    for j, c in enumerate(cols):
        out[c] = np.where(small[:, j], MARKER, df[c].astype("int64").astype(str))
    n = int(small.sum())
    if total_col is not None:
        out[total_col] = np.where(tot_small, MARKER, df[total_col].astype("int64").astype(str))
        n += int(tot_small.sum())
    return out, n
