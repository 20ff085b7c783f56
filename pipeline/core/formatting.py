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


def and_list(items) -> str:
    """Words joined for a sentence: "a", "a and b", "a, b and c"."""
    items = [str(x) for x in items]
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + (items[-1] if items else "")


def first_upper(text: str) -> str:
    """A sentence's first letter in capitals, the rest as written ("the Markov model" -> "The Markov model";
    str.capitalize would lower "Markov")."""
    return text[:1].upper() + text[1:]


def first_lower(text: str) -> str:
    """A sentence's first letter in lower case, for use after a colon ("The ledger's spend" -> "the ledger's spend")."""
    return text[:1].lower() + text[1:]


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    return f"{number(n)} {singular if n == 1 else (plural_form or singular + 's')}"


_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]


def month_words(d) -> str:
    """A date's month in words: "September 2026"."""
    return f"{_MONTHS[d.month - 1]} {d.year}"


def day_words(d) -> str:
    """A date in words: "30 September 2026"."""
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"


def period_words(text: str) -> str:
    """ISO dates inside prose in words: "year to 2026-09" -> "year to September 2026", "2022-03-31" ->
    "31 March 2022". Financial years (2026-27) are left as they are."""
    import re

    def day(m):
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        return f"{d} {_MONTHS[mo - 1]} {y}" if 1 <= mo <= 12 and 1 <= d <= 31 else m.group(0)

    def month(m):
        y, mo = int(m.group(1)), int(m.group(2))
        return f"{_MONTHS[mo - 1]} {y}" if 1 <= mo <= 12 and not (mo == (y + 1) % 100) else m.group(0)

    text = re.sub(r"\b(\d{4})-(\d{2})-(\d{2})\b", day, str(text))
    return re.sub(r"\b(\d{4})-(\d{2})\b(?!-)", month, text)


def reader_text(text) -> str:
    """Text written for developers (a params source or an input's description) as a reader sees it:
    no file paths or file names. "seed 2026 (data/raw/synthetic/README.md)" -> "seed 2026";
    "header.csv of each collection year" -> "header of each collection year"; "ledger:ledger_2019-20.csv"
    -> "ledger 2019-20"; "see data/raw/x/README.md for how" -> "for how"."""
    import re

    s = str(text)
    s = re.sub(r"\s*\((?:see\s+)?(?:data|params)/[^()]*\)", "", s)
    s = re.sub(r",?\s*see\s+(?:data|params)/[\w./-]*[\w/]", "", s)
    s = re.sub(r"(?<![\w/])(?:data|params)/[\w./-]+", "the source files", s)
    s = re.sub(r"\b(\w+):(?=\1)", "", s)
    s = re.sub(r"\b([\w-]+)\.(?:csv|xlsx|xls|md|yaml|yml|parquet)\b",
               lambda m: m.group(1).replace("_", " "), s)
    return re.sub(r"\s{2,}", " ", s).strip()
