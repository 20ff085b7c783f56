"""Parsers for values as councils and the DfE really write them: money, dates, measure values
("18 (Dec 22)", "48.1 (P)", "£2,964,938.51", "TBC") and targets ("Maintain >70%", "15-20",
"To remain lower than national average"). Each returns structured fields and keeps the original
text; anything not understood is reported as unparsed, never guessed."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: parsing itself does not need pandas at import
    import pandas as pd

# ---- money -----------------------------------------------------------------------------------------
_MONEY_RE = re.compile(r"^(?P<lead>[-(]?)\s*£?\s*(?P<num>\d{1,3}(?:,\d{3})+|\d+)?(?P<dec>\.\d+)?\s*(?P<trail>[-)]?)$")
NIL = {"-", "–", "—", "nil", ""}
# thousands separators as finance systems print them: space, no-break space, thin and narrow spaces,
# figure space, apostrophe (Swiss exports)
_SPACES = dict.fromkeys(map(ord, " \u00a0\u2009\u202f\u2007\u2008\u200a'"), None)
# minus signs other than the hyphen: Unicode minus, figure dash, en dash, small and full-width hyphen-minus
_MINUSES = str.maketrans({"\u2212": "-", "\u2012": "-", "\u2013": "-", "\uFE63": "-", "\uFF0D": "-"})
MAX_PENCE = 10 ** 15  # £10 trillion: anything larger is a broken cell, not money
NOISE_DECIMALS = 6  # "284303.63500000003": an Excel formula's floating-point noise, rounded to the penny


class ParseError(ValueError):
    """A value that could not be read; the message says what was expected."""


@dataclass
class Money:
    pence: int | None
    fix: str | None = None  # what was done to read it (rounded to the penny), for a finding


def _float_text(x: float) -> str:
    return repr(float(x))


def read_money(text, decimal: str = ".", numeric_cell: bool = False) -> Money:
    """Money as finance systems print it, to integer pence, exactly.

    Reads "£1,234.56", "(1,234.56)", "1,234.56-", "-1234.56", "711,562.43CR" (a credit: negative),
    "711,562.43 DR" (a debit: positive), a Unicode minus ("−1,234.56"), no-break, thin or plain spaces
    as thousands separators ("1 234 567.89"), and with ``decimal=","`` European numbers ("1.234.567,89",
    "1 234,56"): the convention is the file's, never guessed per cell (``money_convention``).
    "-", "nil" or blank is a nil amount (0); None or NaN is a missing cell (None).
    More than two decimals is refused, except floating-point noise from a formula: a value with six
    or more decimals ("284303.63500000003"), or any Excel number cell (``numeric_cell``), is rounded
    half-up to the penny and ``fix`` says so. Infinity, NaN text, scientific notation and amounts of
    £10 trillion or more are refused: the exact amount is not there to read."""
    if text is None:
        return Money(None)
    if isinstance(text, bool):
        raise ParseError(f"expected an amount, got {text!r}")
    if isinstance(text, float):
        if text != text:  # NaN
            return Money(None)
        if text in (float("inf"), float("-inf")):
            raise ParseError(f"expected a finite amount, got {text!r}")
        text, numeric_cell = _float_text(text), True
    if isinstance(text, int):
        if abs(text) * 100 >= MAX_PENCE:
            raise ParseError(f"expected an amount under £10 trillion, got {text!r}")
        return Money(text * 100)
    original = text
    s = str(text).strip().translate(_SPACES).translate(_MINUSES)
    if s.lower() in NIL:
        return Money(0)
    low = s.lower()
    if re.fullmatch(r"[-+]?(inf|infinity|nan|#n/a|#value!|#div/0!|#ref!|#num!|#name\?|#null!)", low):
        raise ParseError(f"expected an amount, got {original!r} (not a finite number: correct the cell in the source)")
    if re.fullmatch(r"[-+(]?£?[0-9.,]+e[-+]?[0-9]+\)?", low):
        raise ParseError(f"expected an amount written out in full, got {original!r} (scientific notation "
                         "loses the pence: format the column as a number with two decimals)")
    credit = None
    m = re.fullmatch(r"(.*?)(cr|dr)", s, re.I)
    if m:
        s, credit = m.group(1), m.group(2).lower() == "cr"
    s = s.replace("£", "")
    if decimal == ",":
        s = s.translate(str.maketrans({",": ".", ".": ","}))
    neg = False
    if s.startswith("(") and s.endswith(")"):
        neg, s = True, s[1:-1]
    elif s.endswith("-"):
        neg, s = True, s[:-1]
    elif s.startswith("-"):
        neg, s = True, s[1:]
    elif s.startswith("+"):
        s = s[1:]
    if credit is not None and neg:
        raise ParseError(f"expected one sign, got {original!r} (both a minus or brackets and CR/DR)")
    if not re.fullmatch(r"([0-9]{1,3}(,[0-9]{3})+|[0-9]+)(\.[0-9]*)?|\.[0-9]+", s):
        example = "1.234,56, (1.234,56) or 1.234,56-" if decimal == "," else "£1,234.56, (1,234.56) or 1,234.56-"
        raise ParseError(f"expected an amount such as {example}, got {original!r}")
    d = Decimal(s.replace(",", ""))
    fix = None
    if d.as_tuple().exponent < -2:
        if numeric_cell or -d.as_tuple().exponent >= NOISE_DECIMALS:
            d = d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            d = d if d else Decimal("0.00")  # never "-0.00"
            fix = f"{original!s} rounded to the penny ({d:,.2f})"
        else:
            raise ParseError(f"expected pounds and pence (at most two decimals), got {original!r}")
    pence = int(d * 100)
    if pence >= MAX_PENCE:
        raise ParseError(f"expected an amount under £10 trillion, got {original!r}")
    if credit:
        neg = True
    return Money(-pence if neg else pence, fix)


def parse_pence(text, decimal: str = ".") -> int | None:
    """Money text to integer pence, exactly: "£1,234.56" -> 123456, "(1,234)" -> -123400,
    "1,234.50-" -> -123450, "1,234.50CR" -> -123450, "-" or blank -> 0 for a nil amount, None only for
    a missing cell (NaN/None). Raises ParseError for anything else (``read_money`` has the rules)."""
    return read_money(text, decimal).pence


_UK_ONLY = re.compile(r"^[-(]?(?:\d{1,3}(?:,\d{3})+\.\d+|\d+\.(?:\d{1,2}|\d{4,}))[-)]?$")
_EU_ONLY = re.compile(r"^[-(]?(?:\d{1,3}(?:\.\d{3})+,\d+|\d+,(?:\d{1,2}|\d{4,}))[-)]?$")


_UK_LINES = re.compile(_UK_ONLY.pattern.replace("^", "^(").replace("$", ")$"), re.M)
_EU_LINES = re.compile(_EU_ONLY.pattern.replace("^", "^(").replace("$", ")$"), re.M)


def money_convention(cells) -> tuple[str, str | None]:
    """The decimal mark of a whole file's money cells: "." (1,234.56) or "," (1.234,56), with a note
    when European. A cell only one convention can read ("1,234.56", "12.5" or "1.234,56", "12,5")
    decides; cells either can read ("1,234") follow the file. Raises ParseError when the file mixes
    the two: that is never decided cell by cell."""
    # one pass over the file's cells joined as lines (the hot path of a large ledger)
    joined = "\n".join(str(c).strip() for c in cells).translate(_SPACES).translate(_MINUSES).replace("£", "")
    joined = re.sub(r"(?im)(?:cr|dr)$", "", joined)
    eu_found = _EU_LINES.findall(joined)
    if not eu_found:  # no cell only the European way can read: the file is read the UK way
        return ".", None
    uk_found = _UK_LINES.findall(joined)
    n_uk, n_eu = len(uk_found), len(eu_found)
    uk, eu = (uk_found[0] if uk_found else None), eu_found[0]
    if n_uk and n_eu:
        raise ParseError(f"money is written both with a decimal point ({n_uk:,} cells, e.g. {uk!r}) and with a "
                         f"decimal comma ({n_eu:,} cells, e.g. {eu!r}); export the file with one convention")
    if n_eu:
        return ",", f"amounts written with a decimal comma (European style, e.g. {eu!r}) in all {n_eu:,} cells that show it"
    return ".", None


# ---- dates -----------------------------------------------------------------------------------------
DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%y", "%d %b %Y", "%d %B %Y",
                "%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f",
                "%Y-%m-%dT%H:%M")
EXCEL_SERIALS = (36526, 73051)  # Excel date serials of 1 January 2000 and 31 December 2099


def parse_date(text) -> date | None:
    """A date in any of the formats councils' systems export (day first, never month first), an ISO
    datetime ("2026-09-01T00:00:00"), or an Excel date serial left in a CSV ("46266", 2000 to 2099).
    Blank -> None. Raises ParseError naming the formats tried."""
    if text is None:
        return None
    if isinstance(text, datetime):
        return text.date()
    if isinstance(text, date):
        return text
    s = str(text).strip()
    if not s or s.lower() in ("nat", "nan"):
        return None
    if re.fullmatch(r"\d{5}(?:\.0+)?", s) and EXCEL_SERIALS[0] <= float(s) <= EXCEL_SERIALS[1]:
        from datetime import timedelta

        return date(1899, 12, 30) + timedelta(days=int(float(s)))
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(s, fmt).date()
        except ValueError:
            continue
    raise ParseError(f"expected a date as dd/mm/yyyy (or yyyy-mm-dd), got {text!r}")


# ---- measure values --------------------------------------------------------------------------------
@dataclass
class MeasureValue:
    original: str
    status: str  # value | several | missing | unparsed
    value: float | None = None
    unit: str | None = None  # percent, gbp, gbp_m, number, days, per_10k, per_100k
    as_of: str | None = None
    provisional: bool = False
    comparable: bool = True
    note: str | None = None
    secondary: str | None = None  # "3,943,267 miles", "39 per 10K pop", "9 out of 11 responses"
    change_pp: float | None = None  # "+ 1.5 percentage points from Aug 22"
    parts: list = field(default_factory=list)  # [(label, value, unit)] for "Primary 96.3% Secondary 94.8%"

    def as_dict(self) -> dict:
        return asdict(self)


MISSING_WORDS = {
    "n/a": "not applicable", "na": "not applicable", "-": "no value", "–": "no value", "": "no value",
    "ad": "awaiting data", "tbc": "to be confirmed", "cancelled": "cancelled", "baseline": "baseline",
    "new measure": "new measure",
}
_NUM = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"


def _number(s: str) -> float:
    return float(s.replace(",", ""))


def _unit_of(token: str) -> tuple[float, str]:
    token = token.strip()
    m = re.fullmatch(rf"£({_NUM})m", token)
    if m:
        return _number(m.group(1)), "gbp_m"
    m = re.fullmatch(rf"£({_NUM})", token)
    if m:
        return _number(m.group(1)), "gbp"
    m = re.fullmatch(rf"({_NUM})%", token)
    if m:
        return _number(m.group(1)), "percent"
    m = re.fullmatch(rf"({_NUM})\s*days?", token)
    if m:
        return _number(m.group(1)), "days"
    m = re.fullmatch(rf"({_NUM})\s*per\s*(10|100)K\s*pop", token, re.I)
    if m:
        return _number(m.group(1)), f"per_{m.group(2)}k"
    m = re.fullmatch(_NUM, token)
    if m and re.search(r"\d", token):
        return _number(token), "number"
    raise ValueError(token)


def _bracket(v: MeasureValue, inner: str) -> None:
    """Interpret one bracketed or trailing qualifier."""
    t = inner.strip()
    low = t.lower()
    if low in ("p", "provisional"):
        v.provisional = True
    elif "not comparable" in low:
        v.comparable = False
        v.note = t
    elif low.startswith("published "):
        v.as_of = t
    elif re.search(r"out of \d+ responses", low) or re.search(r"\bmiles\b", low) or "per 10k" in low or \
            re.fullmatch(rf"{_NUM}%", t):
        m = re.match(r"(\d+ out of \d+ responses)\s*(.*)", t)
        if m:
            v.secondary = m.group(1)
            if m.group(2):
                v.as_of = m.group(2)
        else:
            v.secondary = t
    elif "baseline" in low:
        v.note = t
    elif re.search(_MONTH, t) or re.search(r"\d{2}/\d{2}/\d{2}", t) or "term" in low or re.search(r"\d{4}", t):
        v.as_of = t
    else:
        raise ValueError(t)


def parse_measure_value(text) -> MeasureValue:
    """One cell of a service-plan measures table, structured. Never raises: what it cannot read
    comes back with status ``unparsed``."""
    original = "" if text is None else str(text)
    s = re.sub(r"\s+", " ", original.replace("\u00a0", " ")).strip()
    s = re.sub(r"^[\u2212\u2013](?=\s*£?\d|\s*\.\d)", "-", s)  # a Unicode minus or en dash before the number
    s = re.sub(r"^(£?[-+]?[\d.,]*\d)\s+%", r"\1%", s)  # "69.6 %" as some exports print a percentage
    low = s.lower()
    if low in MISSING_WORDS or low.startswith(("new measure", "tbc", "due in", "awaiting", "baseline")):
        reason = MISSING_WORDS.get(low) or ("new measure" if low.startswith("new measure") else
                                            "to be confirmed" if low.startswith("tbc") else low)
        return MeasureValue(original, "missing", note=reason)
    v = MeasureValue(original, "value")
    # "(85.8 - Dec 22) + 1.5 percentage points from Aug 22": a level and its change
    m = re.fullmatch(rf"\(({_NUM}%?)\s*-\s*([^)]*)\)\s*([+-])\s*({_NUM})\s*percentage points(?: from (.*))?", s)
    if m:
        v.value, v.unit = _unit_of(m.group(1) if m.group(1).endswith("%") else m.group(1) + "%")
        v.as_of = m.group(2).strip()
        v.change_pp = _number(m.group(4)) * (-1 if m.group(3) == "-" else 1)
        v.note = f"change from {m.group(5)}" if m.group(5) else None
        return v
    # "Primary 96.3% Secondary 94.8%": labelled parts
    parts = re.findall(rf"([A-Za-z][A-Za-z ]*?)\s+({_NUM}%)", s)
    if len(parts) >= 2 and re.fullmatch(rf"(?:\s*[A-Za-z][A-Za-z ]*?\s+{_NUM}%)+", s):
        v.status = "several"
        v.parts = [(label.strip(), *_unit_of(val)) for label, val in parts]
        return v
    # a leading value, then bracketed or trailing qualifiers
    m = re.match(rf"^(£?{_NUM}m?%?(?:\s*days?)?(?:\s*per\s*(?:10|100)K\s*pop)?)(.*)$", s, re.I)
    if not m or not re.search(r"\d", m.group(1)):
        return MeasureValue(original, "unparsed", note="not a recognised value")
    try:
        v.value, v.unit = _unit_of(m.group(1))
        rest = m.group(2).strip()
        for inner in re.findall(r"\(([^()]*)\)", rest):
            _bracket(v, inner)
        trailing = re.sub(r"\([^()]*\)", " ", rest).strip()
        if trailing:
            _bracket(v, trailing)
    except ValueError as exc:
        return MeasureValue(original, "unparsed", note=f"did not understand {exc.args[0]!r}")
    return v


# ---- targets ---------------------------------------------------------------------------------------
@dataclass
class TargetRule:
    original: str
    kind: str  # threshold | thresholds | range | national | quartile | trend | gap | baseline | tbc | monitor | none | unparsed
    op: str | None = None  # for threshold: "<", ">", "<=", ">=", "=" (meet or beat, by polarity)
    value: float | None = None
    high: float | None = None  # for range
    unit: str | None = None
    direction: str | None = None  # above / below / increase / decrease / narrow
    quartile: str | None = None  # top / upper-middle
    basis: str | None = None  # level / rate of improvement
    maintain: bool = False
    parts: list = field(default_factory=list)  # [(label, value, unit)] for "Primary 96.2% Secondary 95.0%"

    def as_dict(self) -> dict:
        return asdict(self)


def parse_target(text) -> TargetRule:
    """A target as service plans write it, as a structured rule. Unknown wording -> ``unparsed``."""
    original = "" if text is None else str(text)
    s = re.sub(r"\s+", " ", original).strip()
    low = s.lower()
    if low in ("", "-", "–", "n/a", "na", "none"):
        return TargetRule(original, "none")
    if low.startswith("tbc") or low.startswith("to be set") or low.startswith("to be confirmed"):
        return TargetRule(original, "tbc")
    if low.startswith("baseline"):
        return TargetRule(original, "baseline")
    if low in ("to be monitored", "monitor"):
        return TargetRule(original, "monitor")
    maintain = low.startswith(("maintain", "to maintain", "to remain"))
    if "quartile" in low:
        q = "top" if "top" in low else "upper-middle" if re.search(r"upper[- ]middle", low) else None
        if q:
            return TargetRule(original, "quartile", quartile=q, maintain=maintain)
    if "gap" in low and re.search(r"narrow|reduc", low):
        return TargetRule(original, "gap", direction="narrow")
    if "national" in low:
        basis = "rate of improvement" if "improvement" in low else "level"
        if re.search(r"\b(better)\b", low) and not re.search(r"\b(above|higher|exceed|below|lower)\b", low):
            return TargetRule(original, "national", direction="better", basis=basis, maintain=maintain)
        if re.search(r"\b(above|higher|exceed)\b", low):
            return TargetRule(original, "national", direction="above", basis=basis, maintain=maintain)
        if re.search(r"\b(below|lower)\b", low):
            return TargetRule(original, "national", direction="below", basis=basis, maintain=maintain)
    since = r"trend|year|baseline|from (?:the )?(?:previous|last|\d{4}-\d{2})"
    if re.search(r"\b(increas\w*|rising)\b", low) and re.search(since, low):
        return TargetRule(original, "trend", direction="increase")
    if re.search(r"\b(reduc\w*|decreas\w*|falling)\b", low) and re.search(since, low):
        return TargetRule(original, "trend", direction="decrease")
    m = re.fullmatch(rf"({_NUM})\s*-\s*({_NUM})(%?)", s)
    if m and m.group(1) and m.group(2):
        return TargetRule(original, "range", value=_number(m.group(1)), high=_number(m.group(2)),
                          unit="percent" if m.group(3) else "number")
    several = parse_measure_value(s)
    if several.status == "several":
        return TargetRule(original, "thresholds", op="=", parts=several.parts)
    s = re.sub(r"^(maintain\s+(?:performance\s+)?)(above|over|below|under)\s+",
               lambda m: m.group(1) + (">" if m.group(2) in ("above", "over") else "<"), s, flags=re.I)
    m = re.fullmatch(rf"(?:maintain\s+(?:performance\s+)?)?([<>]=?|≤|≥)?\s*"
                     rf"(£?{_NUM}m?%?(?:\s*days?)?(?:\s*per\s*(?:10|100)K\s*pop)?)(?:\s*\(.*\))?", s, re.I)
    if m and re.search(r"\d", m.group(2)):
        try:
            value, unit = _unit_of(m.group(2))
        except ValueError:
            return TargetRule(original, "unparsed")
        op = {"≤": "<=", "≥": ">="}.get(m.group(1) or "", m.group(1) or "=")
        return TargetRule(original, "threshold", op=op, value=value, unit=unit, maintain=maintain)
    return TargetRule(original, "unparsed")


# ---- DfE statistics markers ---------------------------------------------------------------------------
DFE_MARKER_MEANINGS = {  # as DfE's explore-education-statistics files use them (GSS symbols guidance)
    "c": "confidential: suppressed to protect individuals",
    "x": "not available",
    "z": "not applicable",
    "k": "rounds to zero but is not zero",
    "low": "rounds to zero but is not zero",
    "u": "low reliability",
    ":": "not available",
}


def dfe_values(text):
    """A DfE statistics column as typed values: ``value`` (float, NaN where there is no number),
    ``marker`` and ``meaning`` (blank where the cell is a number). A marker is never read as zero."""
    import pandas as pd

    s = pd.Series(text, dtype=str).fillna("").str.strip()
    marker = s.str.lower().where(s.str.lower().isin(DFE_MARKER_MEANINGS), "")
    value = pd.to_numeric(s.str.replace(",", "").where(marker == ""), errors="coerce")
    return pd.DataFrame({"value": value, "marker": marker, "meaning": marker.map(DFE_MARKER_MEANINGS).fillna("")})


_FAST_RE = re.compile(r"(-)?(\()?(-)?([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)?(?:\.([0-9]{0,2}))?(\))?(-)?")


def _fast_pence(cell) -> int | None:
    """The common case of ``read_money`` for one text cell ("1,234.56", "(12.00)", "5-"), or None for
    anything else (the full reader then decides). The hot loop."""
    s = str(cell).strip().replace("\u00a0", " ").replace(" ", "")
    if s.lower() in NIL:
        return 0
    m = _FAST_RE.fullmatch(s.replace("£", ""))
    if m is None:
        return None
    n1, op, n2, whole, frac, cl, n3 = m.groups()
    if (op is None) != (cl is None) or (whole is None and not frac):
        return None
    negs = (n1 is not None) + (n2 is not None) + (n3 is not None) + (op is not None)
    if negs > 1:
        return None
    pence = int(whole.replace(",", "")) * 100 if whole else 0
    if frac:
        pence += int(frac.ljust(2, "0"))
    if pence >= MAX_PENCE:
        return None
    return -pence if negs else pence


def money_series(values, decimal: str = ".", numeric_cells=None) -> tuple[pd.Series, dict, dict]:
    """``read_money`` for a whole column: (Int64 pence, {index: reason} for cells that could not be
    read (missing in the result), {index: note} for cells read by a fix such as rounding noise).
    ``numeric_cells`` is a boolean mask of cells that were Excel number cells."""
    import pandas as pd

    s = pd.Series(values, dtype=object)
    numeric = (pd.Series(numeric_cells, index=s.index) if numeric_cells is not None
               else pd.Series(False, index=s.index))
    values = s.tolist()
    out = ([_fast_pence(v) if not isinstance(v, float) else None for v in values] if decimal == "."
           else [None] * len(values))
    errors, fixes = {}, {}
    nums = numeric.tolist()
    for k in [k for k, p in enumerate(out) if p is None]:  # the full reader for what the fast path leaves
        idx = s.index[k]
        try:
            m = read_money(values[k], decimal, bool(nums[k]))
            out[k] = m.pence
            if m.fix:
                fixes[idx] = m.fix
        except ParseError as exc:
            errors[idx] = str(exc)
    return pd.Series(pd.array(out, dtype="Int64"), index=s.index), errors, fixes


def parse_pence_series(values) -> tuple[pd.Series, pd.Series]:
    """``parse_pence`` for a whole column: (Int64 pence, mask of cells that could not be read).
    Same rules as ``parse_pence`` (a property test checks they agree)."""
    import pandas as pd

    out, errors, _ = money_series(values)
    bad = pd.Series(False, index=out.index)
    bad[list(errors)] = True
    return out, bad
