"""Council Plan deliverables that cannot be current: overdue by more than a year (the return has not been
refreshed from the current Council Plan), or rated Strong although overdue (a rating of how it went, not
of whether it is on time). Findings for the build log and ``cspack check``, and sentences for the reader."""

from __future__ import annotations

import pandas as pd

from pipeline.core.formatting import and_list, day_words, plural


def due_dates(d: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(d.get("expected_completion", pd.Series(pd.NA, index=d.index)), errors="coerce")


def overdue(d: pd.DataFrame, quarter) -> pd.Series:
    """Deliverables whose expected completion is before the quarter began."""
    return (due_dates(d) < pd.Timestamp(quarter.start)).fillna(False).astype(bool)


def long_overdue(d: pd.DataFrame, quarter) -> pd.Series:
    """Deliverables due more than a year before the quarter began."""
    year_before = pd.Timestamp(quarter.start) - pd.DateOffset(years=1)
    return (due_dates(d) < year_before).fillna(False).astype(bool)


def strong_overdue(d: pd.DataFrame, quarter) -> pd.Series:
    rating = d.get("rating", pd.Series("", index=d.index)).fillna("").astype(str).str.strip()
    return overdue(d, quarter) & (rating == "Strong")


def _nos(mask: pd.Series) -> str:
    return and_list([str(i + 1) for i, m in enumerate(mask) if m])


def deliverable_problems(d: pd.DataFrame, quarter) -> list[str]:
    """The reasons the deliverables cannot be read as current, in words for the reader ([] when none)."""
    out = []
    late, strong = long_overdue(d, quarter), strong_overdue(d, quarter)
    if late.any():
        n = int(late.sum())
        every = n == len(d)
        who = (f"all {plural(n, 'deliverable')}" if every else f"{plural(n, 'deliverable')} (no. {_nos(late)})")
        out.append(f"{who[:1].upper() + who[1:]} {'was' if n == 1 else 'were'} due more than a "
                   f"year before this quarter began (before {day_words(pd.Timestamp(quarter.start) - pd.DateOffset(years=1))}): "
                   "the list may not have been refreshed from the current Council Plan")
    if strong.any():
        n = int(strong.sum())
        out.append(f"{plural(n, 'deliverable')} (no. {_nos(strong)}) {'is' if n == 1 else 'are'} rated Strong "
                   "although overdue: confirm the rating with the owner")
    return out


def deliverable_findings(d: pd.DataFrame, quarter, key: str = "deliverables") -> list[dict]:
    """Findings (``quality.FINDING_COLUMNS``) for ``cspack check`` and the build log."""
    late, strong = long_overdue(d, quarter), strong_overdue(d, quarter)
    counts = [int(late.sum()), int(strong.sum())]
    return [{"input": key, "check": "deliverables are current", "finding": p, "count": c, "level": "warning"}
            for p, c in zip(deliverable_problems(d, quarter), [c for c in counts if c])]
