"""Financial quarters in UK local-government form: financial year 2024-25, Q1 = April to June."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_QUARTER_RE = re.compile(r"^(\d{4})-(\d{2})-Q([1-4])$")
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]


class QuarterError(ValueError):
    """A string that is not a financial quarter such as ``2026-27-Q2``."""


@dataclass(frozen=True, order=True)
class Quarter:
    fy_start: int  # the calendar year in which the financial year starts (2024 for 2024-25)
    q: int  # 1..4

    @classmethod
    def parse(cls, text: str) -> Quarter:
        m = _QUARTER_RE.match(str(text).strip())
        if not m:
            raise QuarterError(
                f"{text!r} is not a financial quarter: expected the form 2026-27-Q2 "
                "(financial year, then Q1 to Q4; Q1 is April to June)")
        start, end2, q = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if (start + 1) % 100 != end2:
            raise QuarterError(
                f"{text!r} is not a financial quarter: {start}-{end2:02d} is not a financial year "
                f"(did you mean {start}-{(start + 1) % 100:02d}-Q{q}?)")
        return cls(start, q)

    @property
    def fy(self) -> str:
        """Financial year label, e.g. ``2024-25``."""
        return f"{self.fy_start}-{(self.fy_start + 1) % 100:02d}"

    @property
    def name(self) -> str:
        return f"Q{self.q}"

    @property
    def label(self) -> str:
        return f"{self.fy}-{self.name}"

    def __str__(self) -> str:
        return self.label

    @property
    def start(self) -> date:
        month = 4 + 3 * (self.q - 1)
        year = self.fy_start
        if month > 12:
            month -= 12
            year += 1
        return date(year, month, 1)

    @property
    def end(self) -> date:
        nxt = self.next().start
        return date.fromordinal(nxt.toordinal() - 1)

    @property
    def long_label(self) -> str:
        """``Quarter 1 2021-22 (April to June 2021)``."""
        s, e = self.start, self.end
        return (f"Quarter {self.q} {self.fy} ({_MONTHS[s.month - 1]} to "
                f"{_MONTHS[e.month - 1]} {e.year})")

    def next(self) -> Quarter:
        return Quarter(self.fy_start + 1, 1) if self.q == 4 else Quarter(self.fy_start, self.q + 1)

    def previous(self) -> Quarter:
        return Quarter(self.fy_start - 1, 4) if self.q == 1 else Quarter(self.fy_start, self.q - 1)
