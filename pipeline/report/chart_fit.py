"""Chart fitting that ``render.print_ready`` applies to every chart: quarter codes as the pack writes them,
honest value axes (with an axis break when a count is fitted to its data), value-axis labels that fit their
panel, notes that never cover the data and lines never told apart by colour alone. docs/print.md"""

from __future__ import annotations

import re

import matplotlib
import matplotlib.artist
import matplotlib.text
import matplotlib.transforms

from pipeline.core.quarters import Quarter
from pipeline.quarter.freshness import quarter_words

AXIS_GREY = "#3D3D3D"  # render.DARK_GREY (render imports this module)

# A quarter code as the data and params write it ("2024-25-Q3") or a chart drew it ("2024-25 Q3")
_QUARTER_CODE = re.compile(r"(?<![\w-])(\d{4})-(\d{2})[- ]Q([1-4])(?![\w-])")
_SHORT_QUARTER = re.compile(r"(?<![\w-])Q([1-4]) (\d{4})-(\d{2})(?![\w-])")  # an axis' "Q3 2024-25"


def quarter_text(text: str, short: bool = False) -> str:
    """Quarter codes in ``text`` written as the pack writes quarters (``quarter_words``): "2024-25-Q3" and
    "2024-25 Q3" (and an axis' "Q3 2024-25") -> "Quarter 3 2024-25", or with ``short`` (a chart's axis)
    "Q3 2024-25". Anything that is not a financial year ("2024-27 Q3") is left as it is."""
    def words(m):
        start, end = int(m.group(1)), int(m.group(2))
        if (start + 1) % 100 != end:
            return m.group(0)
        q = Quarter(start, int(m.group(3)))
        return f"{q.name} {q.fy}" if short else quarter_words(q)

    text = _QUARTER_CODE.sub(words, str(text))
    if short:
        return text
    return _SHORT_QUARTER.sub(lambda m: m.group(0) if (int(m.group(2)) + 1) % 100 != int(m.group(3))
                              else f"Quarter {m.group(1)} {m.group(2)}-{m.group(3)}", text)


_MONEY_OR_COUNT = re.compile(r"£|\bchildren\b|\bnumber\b|\bcount\b|\bcases\b", re.I)
_RATE = re.compile(r"%|\bper\b|\brate\b|\bshare\b", re.I)


def _values(ax, axis: str) -> list[float]:
    """The data values a chart draws on ``axis`` ('y' or 'x'): lines, bars and bands (fill_between)."""
    import numpy as np
    from matplotlib.collections import PolyCollection

    vals: list[float] = []
    across = ax.get_xaxis_transform() if axis == "y" else ax.get_yaxis_transform()
    for line in ax.get_lines():
        if line.get_transform() is across:  # a reference line drawn across the panel (axvline/axhline)
            continue
        d = line.get_ydata() if axis == "y" else line.get_xdata()
        try:
            vals += [float(v) for v in np.asarray(d, dtype=float).ravel() if np.isfinite(v)]
        except (TypeError, ValueError):
            continue
    for c in ax.containers:
        for r in getattr(c, "patches", []):
            lo, hi = ((r.get_y(), r.get_y() + r.get_height()) if axis == "y" else (r.get_x(), r.get_x() + r.get_width()))
            vals += [lo, hi]
    for coll in ax.collections:
        if isinstance(coll, PolyCollection) and coll.get_transform() is ax.transData:
            for path in coll.get_paths():
                v = path.vertices[:, 1 if axis == "y" else 0]
                vals += [float(x) for x in v if np.isfinite(x)]
    return vals


AXIS_BREAK_NOTE = "the value axis does not start at zero"


def honest_axis(ax) -> None:
    """Axes that do not exaggerate. A line chart (rates, percentages, counts, money) spans at least a quarter
    of its largest value, so a change from 69.2 to 70.2 is not drawn as a leap. A line chart of money or
    counts whose values come near zero starts at zero; one whose values stay far from zero (a fan of 800 to
    1,300 children) is fitted to its data, as the Analysis Function's guidance allows for line charts, and
    says so: a break on the value axis and ``AXIS_BREAK_NOTE`` in its subtitle. A lower limit the chart set
    itself is kept. Bars already start at zero (matplotlib keeps the bar base in view)."""
    if not ax.axison or not ax.get_lines() or ax.get_yscale() != "linear":
        return
    if ax.containers:
        return
    vals = _values(ax, "y")
    if not vals:
        return
    lo, hi = ax.get_ylim()
    dmin, dmax = min(vals), max(vals)
    label = ax.get_ylabel()
    span = 0.25 * max(abs(dmin), abs(dmax))
    if dmin >= 0 and label and _MONEY_OR_COUNT.search(label) and not _RATE.search(label):
        if not ax.get_autoscaley_on():  # the chart chose its range (e.g. counts from zero): keep it
            return
        pad = 0.06 * max(dmax - dmin, span)
        if dmin - pad <= 0.35 * dmax:  # near zero anyway: start at zero
            ax.set_ylim(0, max(hi, dmax * 1.05))
            return
        mid = (dmin + dmax) / 2
        half = max(dmax - dmin + 2 * pad, span) / 2
        ax.set_ylim(mid - half, mid + half)
        _mark_axis_break(ax)
        return
    if span and hi - lo < span:
        mid = (hi + lo) / 2
        lo, hi = mid - span / 2, mid + span / 2
        if dmin >= 0 and lo < 0:
            lo, hi = 0, span
        ax.set_ylim(lo, hi)


def _mark_axis_break(ax) -> None:
    """Two short slanted strokes across the foot of the value axis (the usual sign of a broken axis), and
    the note in the panel's subtitle that the axis does not start at zero."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path

    # a patch, not lines: the chart's data table and value ranges read lines, never loose patches
    strokes = Path([(-0.012, 0.02), (0.012, 0.05), (-0.012, 0.055), (0.012, 0.085)],
                   [Path.MOVETO, Path.LINETO, Path.MOVETO, Path.LINETO])
    brk = PathPatch(strokes, transform=ax.transAxes, fill=False, edgecolor=AXIS_GREY, linewidth=1.0, clip_on=False,
                    zorder=7)
    brk.set_gid("axis-break")
    ax.add_patch(brk)
    sub = ax._left_title.get_text()
    if AXIS_BREAK_NOTE not in sub:
        ax._left_title.set_text(f"{sub.rstrip('. ')}; {AXIS_BREAK_NOTE}" if sub
                                else AXIS_BREAK_NOTE[0].upper() + AXIS_BREAK_NOTE[1:])
    ax._cspack_axis_break = True


def _quarters_in_figure(fig) -> None:
    """Quarter codes anywhere in a chart as the pack writes them (see ``quarter_text``): "2024-25-Q3" or
    "2024-25 Q3" -> "Quarter 3 2024-25" in titles, "Q3 2024-25" on axes, in keys and in notes."""
    from matplotlib.text import Text

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            locs = list(axis.get_majorticklocs())
            old = [t.get_text() for t in axis.get_majorticklabels()]
            new = [quarter_text(t, short=True) for t in old]
            if new != old and len(locs) == len(new):
                axis.set_ticks(locs, new)
    titles = {id(t) for t in fig.texts + [fig._suptitle]} | {id(t) for ax in fig.axes
                                                             for t in (ax.title, ax._left_title, ax._right_title)}
    for t in fig.findobj(Text):  # titles in words ("Quarter 3 2024-25"), labels and keys short
        text = t.get_text()
        if text and (_QUARTER_CODE.search(text) or (id(t) in titles and _SHORT_QUARTER.search(text))):
            t.set_text(quarter_text(text, short=id(t) not in titles))


def _fit_ylabels(fig, renderer) -> bool:
    """A value axis label longer than its panel is tall (it would run into the title above or the legend
    below) is set on two or more lines. True if any was."""
    import textwrap

    changed = False
    for ax in fig.axes:
        lab = ax.yaxis.label
        raw = " ".join(lab.get_text().split())
        if not raw or not ax.axison:
            continue
        panel = ax.get_window_extent(renderer).height
        room = 0.9 * panel  # wrapped, with some room to spare: the layout may shrink the panel
        lab.set_text(raw)
        if lab.get_window_extent(renderer).height <= panel:
            continue
        for n in range(len(raw) - 2, 6, -2):
            lab.set_text("\n".join(textwrap.wrap(raw, n, break_long_words=False)))
            if lab.get_window_extent(renderer).height <= room:
                break
        changed = True
    return changed


def _across(artist, ax) -> bool:
    """Drawn across the panel (axhline, axvline, axhspan, axvspan), by identity: ``in`` or ``==`` on
    transforms can match a blended transform to the data transform."""
    t = matplotlib.artist.Artist.get_transform(artist)  # a patch's own get_transform adds its patch transform
    return t is ax.get_xaxis_transform() or t is ax.get_yaxis_transform()


def _marks(ax, renderer, with_references: bool = True) -> list:
    """Small boxes (display pixels) over what a panel draws: each marker, points along each line, each bar;
    with ``with_references``, reference lines drawn across the panel too."""
    import numpy as np

    boxes = []
    for line in ax.get_lines():
        if not line.get_visible() or (_across(line, ax) and not with_references):
            continue
        try:
            xy = line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float))
        except (TypeError, ValueError):
            continue
        xy = xy[np.isfinite(xy).all(axis=1)]
        if not len(xy):
            continue
        r = max(line.get_markersize() * fig_dpi(ax) / 72 / 2 if line.get_marker() not in (None, "", "None", " ") else 0,
                line.get_linewidth() * fig_dpi(ax) / 72 / 2) + 1
        pts = [xy[0]]
        if line.get_linestyle() not in ("None", "", " "):
            for a, b in zip(xy, xy[1:]):  # along each segment, a point every 3 pixels
                n = int(max(abs(b - a)) // 3) + 1
                pts += [a + (b - a) * k / n for k in range(1, n + 1)]
        else:
            pts = list(xy)
        boxes += [matplotlib.transforms.Bbox([[x - r, y - r], [x + r, y + r]]) for x, y in pts]
    for c in ax.containers:
        boxes += [p.get_window_extent(renderer) for p in getattr(c, "patches", [])]
    return boxes


def fig_dpi(ax) -> float:
    return ax.figure.dpi


_CORNERS = ((0.98, 0.04, "right", "bottom"), (0.98, 0.96, "right", "top"), (0.02, 0.96, "left", "top"),
            (0.02, 0.04, "left", "bottom"))


def _notes_off_the_data(fig, renderer) -> None:
    """A note placed in a panel's own coordinates (a rating such as "★ Strong") never covers a point or a line
    of the panel: if it does where the chart put it, it goes to the first corner where it covers neither
    data nor a reference line (else no data), and if every corner is taken the value range grows at the top
    to make room for it there."""
    for ax in fig.axes:
        notes = [t for t in ax.texts if t.get_text().strip() and t.get_visible() and t.get_transform() is ax.transAxes
                 and not isinstance(t, matplotlib.text.Annotation)]
        if not notes:
            continue
        data, every = _marks(ax, renderer, with_references=False), _marks(ax, renderer)

        def clear(t, marks, notes=notes):
            box = t.get_window_extent(renderer).padded(2)
            others = [o.get_window_extent(renderer) for o in notes if o is not t]
            return not any(box.overlaps(m) for m in marks + others)

        for t in notes:
            if clear(t, data):
                continue
            home = (t.get_position(), t.get_ha(), t.get_va())
            placed = False
            for marks in (every, data):
                for x, y, ha, va in _CORNERS:
                    t.set_position((x, y))
                    t.set_ha(ha)
                    t.set_va(va)
                    if clear(t, marks):
                        placed = True
                        break
                if placed:
                    break
            if placed:
                continue
            t.set_position(home[0])
            t.set_ha(home[1])
            t.set_va(home[2])
            for _ in range(4):  # no free corner: more room above the data, the note at the top right
                lo, hi = ax.get_ylim()
                h = t.get_window_extent(renderer).height + 8
                ax.set_ylim(lo, hi + (hi - lo) * h / max(ax.get_window_extent(renderer).height - h, 1))
                t.set_position((0.98, 0.96))
                t.set_ha("right")
                t.set_va("top")
                if clear(t, _marks(ax, renderer, with_references=False)):
                    break


_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">"]
_DASHES = ["-", "--", "-.", ":"]


def _distinct_series(fig) -> None:
    """Named lines of one panel that share a line style and marker over the same stretch of the axis (so
    told apart only by colour or shade) are given each their own marker and dash pattern, the legend's
    keys too: never colour alone. The thickest line (the one in focus) stays solid."""
    import numpy as np

    for ax in fig.axes:
        named = [ln for ln in ax.get_lines() if not _across(ln, ax)
                 and not ln.get_label().startswith("_") and ln.get_visible()]
        if len(named) < 2:
            continue

        def xrange(ln):
            try:
                x = np.asarray(ln.get_xdata(), dtype=float)
            except (TypeError, ValueError):
                x = np.arange(len(ln.get_xdata()), dtype=float)
            return (np.nanmin(x), np.nanmax(x)) if len(x) else (0.0, 0.0)

        def clash(a, b):
            (a0, a1), (b0, b1) = xrange(a), xrange(b)
            same = (a.get_linestyle(), str(a.get_marker())) == (b.get_linestyle(), str(b.get_marker()))
            return same and min(a1, b1) > max(a0, b0)

        if not any(clash(a, b) for i, a in enumerate(named) for b in named[:i]):
            continue
        order = sorted(named, key=lambda ln: -ln.get_linewidth())
        for k, ln in enumerate(order):
            ln.set_linestyle(_DASHES[k % len(_DASHES)])
            ln.set_marker(_MARKERS[k % len(_MARKERS)])
            if len(ln.get_xdata()) > 24:  # a long series: a marker every few points
                ln.set_markevery(max(len(ln.get_xdata()) // 6, 1))
        leg = ax.get_legend()
        if leg is not None:
            style = {ln.get_label(): ln for ln in named}
            for handle, text in zip(leg.legend_handles, leg.get_texts()):
                ln = style.get(text.get_text())
                if ln is not None and hasattr(handle, "set_marker"):
                    handle.set_linestyle(ln.get_linestyle())
                    handle.set_marker(ln.get_marker())
