"""Numbers as UK public-sector reports print them (see DESIGN.md, "Numbers")."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal


def _round_half_up(x: float, dp: int) -> Decimal:
    # Reports round halves away from zero (0.0125 -> 0.013), not to even as Python's round() does.
    return Decimal(repr(float(x))).quantize(Decimal(1).scaleb(-dp), rounding=ROUND_HALF_UP)


def _is_missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def gbpm(x, dp: int = 3, signed: bool = False) -> str:
    """£ millions to three decimals: ``£14.768m``; ``-£0.441m`` for negatives."""
    if _is_missing(x):
        return "not available"
    d = _round_half_up(x, dp)
    if d == 0:
        d = abs(d)  # never print -£0.000m
    sign = "-" if d < 0 else ("+" if signed and d > 0 else "")
    return f"{sign}£{abs(d):,.{dp}f}m"


def gbpm_plain(x, dp: int = 3) -> str:
    """£m in a table column: ``14.768``, ``-0.441`` (the £m is in the column header)."""
    if _is_missing(x):
        return ""
    d = _round_half_up(x, dp)
    if d == 0:
        d = abs(d)
    return f"{d:,.{dp}f}"


def pct(x, dp: int = 1, signed: bool = False) -> str:
    """Percentages with a leading zero and one decimal: ``0.6%``, ``-78.9%``."""
    if _is_missing(x):
        return "not available"
    d = _round_half_up(x, dp)
    if d == 0:
        d = abs(d)
    sign = "+" if signed and d > 0 else ""
    return f"{sign}{d:,.{dp}f}%"


def number(x, dp: int = 0) -> str:
    """Counts with commas from 1,000: ``1,056``."""
    if _is_missing(x):
        return "not available"
    return f"{_round_half_up(x, dp):,.{dp}f}"


def num_range(low, high, fmt=number) -> str:
    """Ranges in words, as in "15 to 20"."""
    return f"{fmt(low)} to {fmt(high)}"


def spend_phrase(variance_gbpm: float) -> str:
    """``an overspend of £14.768m`` / ``an underspend of £0.441m`` / ``on budget``."""
    d = _round_half_up(variance_gbpm, 3)
    if d > 0:
        return f"an overspend of {gbpm(variance_gbpm)}"
    if d < 0:
        return f"an underspend of {gbpm(abs(variance_gbpm))}"
    return "on budget"


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    return f"{number(n)} {singular if n == 1 else (plural_form or singular + 's')}"
