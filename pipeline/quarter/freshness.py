"""What period each input covers, and whether it reaches the quarter being built.

A pack built on inputs that stop before its quarter prints a stale headline as if it were current
(issue 14: a Quarter 3 pack from Quarter 2's ledger showed "an underspend of £6.310m"). So every
input states or reveals the period it covers:

- a ledger (``kind: ledger``): the last month with actuals;
- SSDA903 returns (``kind: ssda903``): the latest start or end of an episode;
- a folder of quarterly returns (``kind: returns_history``): the latest quarter folder;
- a file whose path names a quarter (``returns/2026-27-Q2/budget_lines.csv``, ``seed004_2021-22-Q1/``):
  that quarter;
- anything else (published national statistics, the measure catalogue, mappings, unit costs) is
  reference data, not tied to a quarter, and is never stale.

An input reaches the quarter when it covers the quarter's last month (the ledger: actuals for that
month; SSDA903: an episode starting or ending in it; returns: the quarter itself or a later one).
A build and ``cspack check`` refuse (exit 1) when an input does not, naming each one and what it
covers, unless the params list it under ``allow_stale``; the pack then says so in its summary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from pipeline.core.formatting import day_words, month_words  # noqa: F401  (used here and by export)
from pipeline.core.params import QuarterParams
from pipeline.core.quarters import Quarter, QuarterError
from pipeline.quarter.context import QuarterContext

_LABEL = re.compile(r"(?<!\d)(\d{4}-\d{2}-Q[1-4])(?![0-9])")


class StaleInputs(RuntimeError):
    """Inputs that do not reach the quarter and are not allowed to be stale."""


def quarter_words(q: Quarter) -> str:
    return f"Quarter {q.q} {q.fy}"


@dataclass(frozen=True)
class Coverage:
    input: str
    kind: str  # "ledger", "ssda903", "returns", "quarter file", "reference"
    covers_to: date | None  # the last day the input covers; None for reference data
    covers: str  # in words: "the ledger runs to September 2026"
    reaches: bool
    allowed: bool  # listed under allow_stale

    @property
    def stale(self) -> bool:
        return not self.reaches


def _quarter_in_path(rel_path: str) -> Quarter | None:
    found = []
    for m in _LABEL.finditer(rel_path):
        try:
            found.append(Quarter.parse(m.group(1)))
        except QuarterError:
            continue
    return found[-1] if found else None


def _month_end(d: date) -> date:
    nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


def ledger_coverage(ledger: pd.DataFrame) -> date | None:
    """The last day of the last month with actuals (any non-zero actual) in a prepared ledger."""
    if ledger is None or not len(ledger) or "month" not in ledger:
        return None
    actual = pd.to_numeric(ledger["actual"], errors="coerce").fillna(0)
    months = pd.to_datetime(ledger.loc[actual != 0, "month"], errors="coerce").dropna()
    return _month_end(months.max().date()) if len(months) else None


def ssda903_coverage(episodes: pd.DataFrame) -> date | None:
    """The latest date an episode starts or ends in the merged SSDA903 history."""
    if episodes is None or not len(episodes):
        return None
    dates = pd.concat([pd.to_datetime(episodes["DECOM"], errors="coerce"),
                       pd.to_datetime(episodes.get("DEC"), errors="coerce")]).dropna()
    return dates.max().date() if len(dates) else None


def _latest_quarter_folder(folder: Path, upto: Quarter) -> Quarter | None:
    qs = []
    for p in folder.iterdir() if folder.is_dir() else []:
        try:
            q = Quarter.parse(p.name)
        except QuarterError:
            continue
        if p.is_dir() and q <= upto:
            qs.append(q)
    return max(qs) if qs else None


def _describe(key: str) -> str:
    return key.replace("_", " ")


def assess(params: QuarterParams, table=None) -> list[Coverage]:
    """Each input's coverage. ``table(key)`` reads a prepared table (``QuarterContext.table``); it is
    needed for ledgers and SSDA903 returns, whose period is read from their rows."""
    q = params.quarter
    last_month = date(q.end.year, q.end.month, 1)
    allowed = set(getattr(params, "allow_stale", ()) or ())
    out = []
    for key, spec in params.inputs.items():
        if spec.kind == "ledger":
            to = ledger_coverage(table(key)) if table else None
            words = (f"the ledger runs to {month_words(to)} (the last month with actuals)" if to
                     else "the ledger has no actuals")
            reaches = to is not None and to >= q.end
            kind = "ledger"
        elif spec.kind == "ssda903":
            to = ssda903_coverage(table(f"{key}_episodes")) if table else None
            words = (f"the SSDA903 returns run to {day_words(to)} (the latest episode start or end)" if to
                     else "the SSDA903 returns hold no episodes")
            reaches = to is not None and to >= last_month
            kind = "ssda903"
        elif spec.kind == "returns_history":
            latest = _latest_quarter_folder(spec.path, q)
            to = latest.end if latest else None
            words = (f"the quarterly returns run to {quarter_words(latest)}" if latest
                     else "no quarterly returns up to this quarter")
            reaches = latest is not None and latest >= q
            kind = "returns"
        elif (fq := _quarter_in_path(spec.rel_path)) is not None:
            to = fq.end
            words = f"the {_describe(key)} return is for {quarter_words(fq)}"
            reaches = fq >= q
            if reaches and table and (due := _all_past_due(table, key, q)):
                words, reaches = words + f", but every item in it was due by {day_words(due)}", False
            kind = "quarter file"
        else:
            out.append(Coverage(key, "reference", None, f"{_describe(key)}: reference data, not tied to a quarter",
                                True, key in allowed))
            continue
        out.append(Coverage(key, kind, to, words, reaches, key in allowed))
    return out


def _all_past_due(table, key: str, q: Quarter) -> date | None:
    """The latest due date of a return whose every item (its ``expected_completion``) was due before the
    quarter began, such as Council Plan deliverables not refreshed from the current plan; else None."""
    try:
        t = table(key)
    except Exception:  # noqa: BLE001 - a table that cannot be read is named by the preparation
        return None
    if t is None or "expected_completion" not in t or not len(t):
        return None
    due = pd.to_datetime(t["expected_completion"], errors="coerce").dropna()
    return due.max().date() if len(due) and due.max().date() < q.start else None


def stale_inputs(coverage: list[Coverage]) -> list[Coverage]:
    return [c for c in coverage if c.stale]


def refusal_message(params: QuarterParams, coverage: list[Coverage]) -> str:
    """The refusal naming each stale input not allowed to be stale, or "" when none."""
    bad = [c for c in stale_inputs(coverage) if not c.allowed]
    if not bad:
        return ""
    q = params.quarter
    lines = [f"{len(bad)} input(s) do not reach {quarter_words(q)} (to {day_words(q.end)}):"]
    lines += [f"  - {c.input}: {c.covers}" for c in bad]
    lines.append(f"point them at this quarter's files in {params.path.name}, or, to build on them knowingly, "
                 f"list them under allow_stale: [{', '.join(c.input for c in bad)}] (the pack then says so)")
    return "\n".join(lines)


def reader_notice(params: QuarterParams, coverage: list[Coverage]) -> str:
    """For the pack: the inputs allowed to be stale, in words ("" when every input reaches the quarter)."""
    late = [c for c in stale_inputs(coverage) if c.allowed]
    if not late:
        return ""
    q = params.quarter
    what = "; ".join(c.covers for c in late)
    return (f"Some figures in this pack do not reach the end of {quarter_words(q)} ({day_words(q.end)}): "
            f"{what}. The pack was built on these inputs knowingly; read the figures that depend on them "
            "as at the earlier date.")


def coverage_table(coverage: list[Coverage]) -> pd.DataFrame:
    """What each input covers, for the data quality section."""
    rows = []
    for c in coverage:
        status = ("not tied to a quarter" if c.kind == "reference" else
                  "reaches the quarter" if c.reaches else
                  "does not reach the quarter (allowed)" if c.allowed else "does not reach the quarter")
        rows.append({"Input": _describe(c.input), "Covers": c.covers[0].upper() + c.covers[1:], "Status": status})
    return pd.DataFrame(rows, columns=["Input", "Covers", "Status"])


def check_prepared(params: QuarterParams, root: Path, work_dir: Path) -> str:
    """Prepare (or reuse the preparation in) ``work_dir`` and return the refusal for stale inputs, or ""
    when every input reaches the quarter or is allowed to be stale. Inputs that cannot be read are
    left to the preparation notebook, which names them."""

    ctx = QuarterContext(params=params, root=root, work_dir=work_dir)
    try:
        ctx.ensure_prepared()
    except Exception:  # noqa: BLE001 - any input that cannot be read is named by the preparation notebook
        return ""
    return refusal_message(params, assess(params, ctx.table))
