"""Rating key measures against their targets with the council's own key (seed 004; DESIGN.md):

- **Strong**: more than 5% better than target (more than 2% better where the target is above 95%);
- **Good**: otherwise not worse than 2%;
- **Review**: more than 2% worse than target;
- **Action**: more than 10% worse than target;
- **Data not available / target not set**.

Better and worse follow the measure's polarity and are read relative to the target (15.1% against 18.0%
is 16.1% worse); ``basis="points"`` reads them in percentage points instead, as some councils do. A
range target ("15-20") is Good inside it; a target relative to the national average uses the national
figure for the same period; a quartile target uses the authority's band (in the target band Good, one
band short Review, two or more Action); a trend target ("to rise") is rated with the same key against the
previous year's figure; baseline years are not rated. Every rating explains itself in one sentence."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.core.formatting import number, pct
from pipeline.ingest.parsing import TargetRule, parse_target

RATINGS = ["Strong", "Good", "Review", "Action", "Not available"]
SYMBOLS = {"Strong": "★ Strong", "Good": "✓ Good", "Review": "! Review", "Action": "✗ Action",
           "Not available": "– Not available"}


@dataclass
class Rating:
    rating: str
    sentence: str
    better_by: float = math.nan  # % (or points) better than target; negative = worse

    @property
    def label(self) -> str:
        return SYMBOLS[self.rating]


def _fmt(v: float, unit: str | None) -> str:
    if unit == "percent":
        return pct(v)
    if unit == "gbp":
        return f"£{number(v)}"
    return number(v, 1 if abs(v - round(v)) > 1e-9 else 0)


def _grade(better: float, target: float, unit: str | None, basis: str) -> str:
    strong = 2.0 if (unit == "percent" and target > 95) else 5.0
    if better > strong:
        return "Strong"
    if better < -10:
        return "Action"
    if better < -2:
        return "Review"
    return "Good"


def _against(value: float, target: float, higher_better: bool, unit: str | None, basis: str, what: str) -> Rating:
    if basis == "points":
        better = (value - target) if higher_better else (target - value)
        how = f"{abs(better):.1f} points"
    else:
        better = ((value - target) if higher_better else (target - value)) / abs(target) * 100 if target else math.nan
        how = pct(abs(better))
    if math.isnan(better):
        return Rating("Not available", f"{_fmt(value, unit)} cannot be compared with a target of zero.")
    r = _grade(better, target, unit, basis)
    word = "better" if better > 0 else "worse" if better < 0 else "different"
    sentence = (f"{_fmt(value, unit)} against {what} of {_fmt(target, unit)} is "
                + (f"{how} {word}" if better else "on target") + f": {r}.")
    return Rating(r, sentence, better)


def rate(value: float | None, target: str | TargetRule | None, polarity: str, unit: str | None = None, *,
         basis: str = "relative", national: float | None = None, previous: float | None = None,
         quartile_band: str | None = None) -> Rating:
    """Rate ``value`` against a target (text as the service plan writes it, or a parsed rule).
    ``polarity``: "higher" or "lower" is better. ``national`` is England's figure for the same period,
    ``previous`` last year's value, ``quartile_band`` the authority's band (A best ... D)."""
    rule = target if isinstance(target, TargetRule) else parse_target(target)
    higher = polarity != "lower"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Rating("Not available", "No value for the period: data not available.")
    k = rule.kind
    if k == "baseline":
        return Rating("Not available", f"{_fmt(value, unit)} sets the baseline: baseline years are not rated.")
    if k in ("tbc", "none", "monitor"):
        reason = {"tbc": "the target is to be confirmed", "none": "no target is set",
                  "monitor": "the measure is monitored without a target"}[k]
        return Rating("Not available", f"{_fmt(value, unit)}: not rated, because {reason}.")
    if k == "threshold":
        t = rule.value
        if rule.unit == "percent" and unit != "percent" and t is not None:
            unit = "percent"
        side = higher if rule.op in (None, "=") else rule.op.startswith(">")
        return _against(value, t, side, unit or rule.unit, basis, "a target")
    if k == "range":
        lo, hi = rule.value, rule.high
        if lo <= value <= hi:
            return Rating("Good", f"{_fmt(value, unit)} is inside the target range {_fmt(lo, unit)} to {_fmt(hi, unit)}: Good.", 0.0)
        bound = lo if value < lo else hi
        r = _against(value, bound, value < lo, unit, basis, "the edge of the target range")
        return Rating("Review" if r.rating in ("Good", "Strong") else r.rating, r.sentence.replace(": Good.", ": Review.")
                      .replace(": Strong.", ": Review."), r.better_by)
    if k == "national":
        if national is None or (isinstance(national, float) and math.isnan(national)):
            return Rating("Not available", f"{_fmt(value, unit)}: the national figure for the period is not available, "
                          "so the target cannot be rated.")
        if rule.basis == "rate of improvement":
            return Rating("Not available", "A target on the rate of improvement against national needs both series' "
                          "changes; not rated.")
        higher = (polarity != "lower") if rule.direction == "better" else rule.direction == "above"
        return _against(value, national, higher, unit, basis, "the national average")
    if k == "quartile":
        if not quartile_band:
            return Rating("Not available", f"{_fmt(value, unit)}: the quartile band is not available, so the target "
                          "cannot be rated.")
        need = "A" if rule.quartile == "top" else "B"
        gap = ord(quartile_band) - ord(need)
        r = "Good" if gap <= 0 else "Review" if gap == 1 else "Action"
        return Rating(r, f"{_fmt(value, unit)} is in quartile band {quartile_band} (A best) against a target of "
                         f"{rule.quartile} quartile (band {need}{' or better' if need != 'A' else ''}): {r}.")
    if k == "trend":
        if previous is None or (isinstance(previous, float) and math.isnan(previous)):
            return Rating("Not available", f"{_fmt(value, unit)}: no previous year to compare the trend with.")
        # the same key as every other target, with last year's figure as the target: a target to rise
        # is met by a rise; a fall of 2% or less is Good, more than 2% Review, more than 10% Action
        rise = rule.direction == "increase"
        r = _against(value, previous, rise, unit, basis, "last year's figure")
        return Rating(r.rating, r.sentence.replace(f": {r.rating}.", f", with a target to {'rise' if rise else 'fall'}: "
                                                   f"{r.rating}."), r.better_by)
    if k == "thresholds":
        return Rating("Not available", "The target has several parts (for example primary and secondary); each "
                      "part is rated with its own value, not this combined row.")
    if k == "gap":
        return Rating("Not available", "A gap target needs the gap to the national figure for both years; not rated.")
    return Rating("Not available", f"The target {rule.original!r} is not in a form cspack can rate; listed as unrated.")
