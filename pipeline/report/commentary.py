"""The analyst's commentary in the pack: a section's commentary (``commentary``), and a record of the places
printed with "No commentary supplied" (``missing_commentary``), which the data section lists for the
analyst and the build log names with the heading to add. Used by every notebook's sections module."""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass

import pandas as pd
from IPython.display import Markdown

from pipeline.measures.table import YEAR_RANGE, shown_value, value_of
from pipeline.quarter.context import QuarterContext, read_commentary
from pipeline.quarter.performance import catalogue_of, measures
from pipeline.report.deliverables import deliverable_findings
from pipeline.report.render import escape_md


def commentary(ctx: QuarterContext, section: str) -> Markdown:
    """A section's commentary; when it quotes a figure or a movement the quarter's figures contradict
    (``commentary_mismatches``), a note for the reader comes first and the build log names each one."""
    text = ctx.commentary(section)
    if not text:
        missing_commentary(ctx, section, f"## {section}")
        return Markdown("*No commentary supplied.*")
    try:
        wrong = commentary_mismatches(text, figures_of(ctx))
    except Exception as exc:  # noqa: BLE001 - the check must never stop the section: the text is printed as written
        print(f"cspack: the commentary under '## {section}' could not be checked against the figures ({exc})",
              file=sys.stderr)
        wrong = []
    for w in wrong:
        print(f"cspack: the commentary under '## {section}' in {ctx.params.commentary.name} does not match the "
              f"figures: {w}", file=sys.stderr)
    if wrong:
        note = ("*Note: this commentary does not match this quarter's figures, so read it with the tables: "
                + "; ".join(escape_md(w) for w in wrong) + ".*")
        return Markdown(note + "\n\n" + text)
    return Markdown(text)


def figures_of(ctx: QuarterContext) -> list:
    """The quarter's measures as the commentary guard sees them (none without the key measures input)."""
    if "measures" not in ctx.params.inputs:
        return []

    t = measures(ctx)
    if t is None or not len(t):
        return []
    return measure_figures(t, ctx.table("measures"), catalogue_of(ctx))


def content_findings(ctx: QuarterContext) -> list[dict]:
    """Findings on what the analyst and the owners wrote, read each time (never cached with the inputs):
    the commentary against the figures, and deliverables that cannot be current."""
    out = commentary_findings(ctx)
    if "deliverables" in ctx.params.inputs:
        try:
            out += deliverable_findings(ctx.table("deliverables"), ctx.quarter)
        except Exception as exc:  # noqa: BLE001 - a check that cannot run is a finding, never a traceback
            print(f"cspack: the deliverables could not be checked ({exc})", file=sys.stderr)
            out.append({"input": "deliverables", "check": "deliverables can be current", "finding": "could not be checked",
                        "count": 1, "level": "warning"})
    return out


def commentary_findings(ctx: QuarterContext) -> list[dict]:
    """Findings for ``cspack check`` (and the pack's data-quality findings, so in the reader's words: no
    file name or Markdown): each place a section of the commentary file contradicts the figures."""
    try:
        sections = read_commentary(ctx.params.commentary)
        figures = figures_of(ctx)
    except Exception as exc:  # noqa: BLE001 - a check that cannot run is itself a finding, never a traceback
        print(f"cspack: the commentary could not be checked against the figures ({exc})", file=sys.stderr)
        return [{"input": "commentary", "check": "commentary matches the figures",
                 "finding": "could not be checked", "count": 1, "level": "warning"}]
    out = []
    for heading, text in sections.items():
        for w in commentary_mismatches(text, figures):
            out.append({"input": "commentary", "check": "commentary matches the figures",
                        "finding": f"the commentary under the heading {heading[:1].upper() + heading[1:]}: {w}", "count": 1,
                        "level": "warning"})
    return out


MISSING = "missing_commentary.json"


def missing_commentary(ctx: QuarterContext, where: str, heading: str) -> None:
    """Record a place in the pack with no commentary: the data section lists them for the analyst, and
    the build log (the executed notebook's output stream) says which heading of which file to add."""
    path = ctx.work_dir / "tables" / MISSING  # beside this build's tables: a new build starts without them
    path.parent.mkdir(parents=True, exist_ok=True)
    seen = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    if where not in [w for w, _ in seen]:
        seen.append([where, heading])
        path.write_text(json.dumps(seen, indent=1), encoding="utf-8")
    print(f"cspack: no commentary for {where}: add a section '{heading}' to {ctx.params.commentary.name}",
          file=sys.stderr)


# ---- does the commentary match the figures? ---------------------------------------------------------
# Every number quoted near a measure's name (its name or an alias in the measure catalogue) is checked
# against that measure's figures this quarter: any year's value in the return, the target, England's and
# the neighbours' figures, and the change since last year (in points or per cent). Words saying which
# way a measure moved (rose, fell, held, slightly) are checked against its latest and previous values.
# A mismatch is a finding for the build log and ``cspack check``, and the pack prints a note for the
# reader before the commentary (never the commentary alone).

_STOP = {"the", "and", "for", "with", "who", "whom", "from", "into", "than", "that", "this", "their", "are", "was",
         "were", "per", "cent", "percentage", "percent", "pct", "number", "proportion", "measure", "national",
         "rate", "rated", "all", "its", "our", "more", "within"}
_NUM = re.compile(r"(?<![\w.,/-])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(\s*(?:%|per cent\b|percent\b))?")
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_FALL = re.compile(r"\b(?:fell|fall(?:s|ing|en)?|decreas\w*|dropp?\w*|declin\w*|reduc\w*)\b", re.I)
_RISE = re.compile(r"\b(?:rose|ris(?:e|es|ing|en)|increas\w*|grew|grow(?:s|ing|n)?)\b", re.I)
_STEADY = re.compile(r"\b(?:held (?:at|steady|up|level)|holding (?:at|steady)|steady|stable|unchanged|flat|"
                     r"maintained at|remain(?:s|ed)? (?:at|steady|stable|level|the same))\b", re.I)
_SLIGHT = re.compile(r"\b(?:slight(?:ly)?|marginal(?:ly)?|a little|small (?:fall|rise|drop|dip|increase|decrease|"
                     r"reduction|change|improvement))\b", re.I)
_CLAUSE = re.compile(r"[;:!?]\s+|\.\s+|\s+(?:while|whereas|but|although|though)\s+", re.I)


@dataclass
class MeasureFigures:
    """One measure as the commentary guard sees it: its names, unit and this quarter's figures."""

    name: str
    names: list[str]
    unit: str
    latest: float
    previous: float
    latest_label: str
    previous_label: str
    figures: list[float]


def _stems(text: str) -> set[str]:
    return {w[:5] for w in re.findall(r"[a-z0-9]+", text.lower().replace("_", " ")) if len(w) > 2 and w not in _STOP}


def measure_figures(t: pd.DataFrame, raw: pd.DataFrame | None = None, cat: pd.DataFrame | None = None,
                    label=lambda period: period) -> list[MeasureFigures]:
    """The figures of each measure of ``t`` (``measures.table.measure_table``): every year's value in the
    return ``raw``, the target's numbers, England's, the neighbours' and the region's figures, and the
    change since last year; named by its name, the catalogue's name and aliases (``cat``)."""

    cat_i = cat.set_index("id") if cat is not None and len(cat) else None
    out = []
    for r in t.itertuples():
        names = [str(r.measure)]
        if cat_i is not None and r.catalogue_id and r.catalogue_id in cat_i.index:
            c = cat_i.loc[r.catalogue_id]
            names += [str(c["name"])] + [a.strip() for a in str(c.get("aliases", "")).split(";") if a.strip()]
        figs = [r.latest, r.previous, r.national, getattr(r, "neighbours_mean", math.nan), getattr(r, "region", math.nan)]
        figs += [float(x.replace(",", "")) for x in re.findall(r"\d[\d,]*(?:\.\d+)?", str(r.target))]
        if raw is not None:
            g = raw[(raw["measure_ref"] == r.measure_ref) & raw["period"].astype(str).str.match(YEAR_RANGE)]
            figs += [value_of(v) for v in g["value_raw"]]
        if not (math.isnan(r.latest) or math.isnan(r.previous)):
            figs.append(abs(r.latest - r.previous))
            if r.previous:
                figs.append(abs(r.latest - r.previous) / abs(r.previous) * 100)
        # each row's own period labels where the table has them ("at 30 September 2026", "2026-27 to September")
        lat = getattr(r, "latest_label", None) or (label(str(r.latest_period)) if r.latest_period else "")
        prev = getattr(r, "previous_label", None) or (label(str(r.previous_period)) if r.previous_period else "")
        out.append(MeasureFigures(str(r.measure), list(dict.fromkeys(names)), str(r.unit), float(r.latest),
                                  float(r.previous), str(lat), str(prev),
                                  [float(f) for f in figs if f is not None and not math.isnan(float(f))]))
    return out


_NEAR = 10  # a number or a word about movement belongs to a measure named within this many words of it
_FUNCTION = {"in", "at", "to", "from", "and", "by", "on", "for", "against", "with", "this", "last", "of", "or", "a",
             "the", "compared", "than", "is", "was", "were", "are", "since", "over", "between", "year", "years",
             "quarter", "points", "point", "percentage"}


def _words(clause: str) -> list[tuple[int, str]]:
    return [(x.start(), x.group(0).lower()) for x in re.finditer(r"[A-Za-z0-9]+(?:[.,]\d+)*", clause)]


def _named(clause: str, measures: list[MeasureFigures]) -> tuple[MeasureFigures, list[int]] | None:
    """The measure a clause names, and where (word positions): the one sharing the most distinctive words
    with the clause (word stems weighted by how few measures use them), at least one and a half distinctive
    words' worth, and clearly ahead of the next; None when no measure, or more than one as well, is named."""
    stems = [set().union(*(_stems(n) for n in m.names)) for m in measures]
    df: dict[str, int] = {}
    for s in stems:
        for w in s:
            df[w] = df.get(w, 0) + 1
    said = _stems(clause)
    scores = sorted(((sum(1 / df[w] for w in s & said), i) for i, s in enumerate(stems)), reverse=True)
    if not scores or scores[0][0] < 1.5 or (len(scores) > 1 and scores[1][0] >= scores[0][0]):
        return None
    best = stems[scores[0][1]]
    at = [i for i, (_, w) in enumerate(_words(clause)) if len(w) > 2 and w not in _STOP and w[:5] in best]
    return measures[scores[0][1]], at


def _near(clause: str, pos: int, at: list[int]) -> bool:
    i = sum(1 for start, _ in _words(clause) if start < pos)
    return any(abs(i - j) <= _NEAR for j in at)


def _said_near(rx: re.Pattern, clause: str, at: list[int]) -> bool:
    return any(_near(clause, x.start(), at) for x in rx.finditer(clause))


def _quoted(clause: str, m: MeasureFigures, at: list[int]):
    """The numbers a clause quotes as the measure's figures, within ``_NEAR`` words of its name and in its
    unit (a percentage for a percentage measure, a plain number for a count; never money): not years,
    dates, quarters, numbers inside the measure's own name ("within 15 days"), or counts of something
    else ("27 women"). Yields (text, value, decimals)."""
    names = " ".join(m.names).lower()
    own = set().union(*(_stems(n) for n in m.names))
    low = clause.lower()
    if m.unit == "gbp":
        return
    for x in _NUM.finditer(clause):
        text, pct_sign = x.group(1), bool(x.group(2))
        before, after = low[max(0, x.start() - 12):x.start()], low[x.end(1):x.end(1) + 20]
        nxt = re.match(r"\s*([a-z]+)", after)
        if re.search(r"(?:quarter|q|outcome|deliverable|section|page|per|aged|age|under|over|£)\s*$", before) \
                or re.match(r"\s*[-/]\s*\d", after) or re.match(r"(?:st|nd|rd|th|m|k|bn)\b", after) \
                or re.match(r"\s*(?:million|billion|hours?|minutes?)\b", after) \
                or (nxt and nxt.group(1) in _MONTHS) or any(before.rstrip().endswith(mo) for mo in _MONTHS):
            continue
        if not pct_sign and re.fullmatch(r"(19|20)\d\d", text):
            continue  # a year
        if nxt and f"{text} {nxt.group(1)}" in names:
            continue  # part of the measure's name ("within 15 days")
        if pct_sign != (m.unit == "percent"):
            continue  # another kind of number (a count beside a percentage measure, a share beside a count)
        if not pct_sign and nxt and after.lstrip()[:1].isalpha() and nxt.group(1) not in _FUNCTION \
                and nxt.group(1)[:5] not in own:
            continue  # a count of something else: "27 women", "218 staff"
        if not _near(clause, x.start(), at):
            continue
        yield x.group(0).strip(), float(text.replace(",", "")), len(text.split(".")[1]) if "." in text else 0


def _shown(v: float, unit: str) -> str:

    return shown_value(v, unit)


def commentary_mismatches(text: str, measures: list[MeasureFigures]) -> list[str]:
    """Where ``text`` contradicts the figures, one sentence each for the reader: a number quoted near a
    measure's name that is none of its figures (as rounded in the text), or a word saying it rose, fell,
    held or moved slightly when its latest and previous values say otherwise."""
    out = []
    plain = re.sub(r"[*_`#>]", " ", text)
    for sentence in re.split(r"\n\s*\n", plain):
        for clause in _CLAUSE.split(" ".join(sentence.split())):
            found = _named(clause, measures) if clause.strip() else None
            if found is None:
                continue
            m, at = found
            for shown, v, dp in _quoted(clause, m, at):
                tol = 0.5 * 10 ** -dp + 1e-9
                if not any(abs(v - f) <= tol for f in m.figures):
                    out.append(f"it quotes {shown} for {m.name}, which is none of its figures this quarter "
                               f"({_known(m)})")
            if math.isnan(m.latest) or math.isnan(m.previous) or m.unit == "gbp":
                continue
            moved = m.latest - m.previous
            # relative change; from zero, any move counts as large (and none as none), never "inf%"
            rel = abs(moved) / abs(m.previous) * 100 if m.previous else (0.0 if moved == 0 else 100.0)
            span = (f"from {_shown(m.previous, m.unit)} ({m.previous_label}) to {_shown(m.latest, m.unit)} "
                    f"({m.latest_label})")
            change = f", a change of {rel:.1f}%" if m.previous else ""
            fall, rise, steady, slight = (_said_near(rx, clause, at) for rx in (_FALL, _RISE, _STEADY, _SLIGHT))
            if fall and not rise and moved > 0:
                out.append(f"it says {m.name} fell, but it rose {span}")
            elif rise and not fall and moved < 0:
                out.append(f"it says {m.name} rose, but it fell {span}")
            elif steady and not (fall or rise) and rel > 5:
                out.append(f"it says {m.name} held steady, but it moved {span}{change}")
            if slight and rel > 10:
                out.append(f"it says {m.name} moved slightly, but it moved {span}{change}")
    return list(dict.fromkeys(out))


def _known(m: MeasureFigures) -> str:
    parts = []
    if not math.isnan(m.latest):
        parts.append(f"{_shown(m.latest, m.unit)} in {m.latest_label}")
    if not math.isnan(m.previous):
        parts.append(f"{_shown(m.previous, m.unit)} in {m.previous_label}")
    return ", ".join(parts) if parts else "no figures"


def all_findings(ctx: QuarterContext):
    """The quarter's findings (``QuarterContext.findings``: the preparation's and the params') with the
    findings on what the analyst and the owners wrote (``content_findings``), for ``cspack check`` and the
    data section. Here, not in the context: the checks read the performance section's figures."""
    f = ctx.findings()
    extra = content_findings(ctx)
    return pd.concat([f, pd.DataFrame(extra, columns=f.columns)], ignore_index=True) if extra else f
