"""What a notebook displays: escaped HTML tables, Markdown narrative, charts with alt text.

Every string that comes from data or commentary is escaped here, so notebooks never build HTML."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Callable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.artist  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.text  # noqa: E402
import matplotlib.transforms  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.core.quarters import Quarter  # noqa: E402
from pipeline.quarter.freshness import quarter_words  # noqa: E402

# Government Analysis Function palette (DESIGN.md, Presentation), as in the Analysis Function's afcharts
DARK_BLUE, TURQUOISE, DARK_PINK, ORANGE, DARK_GREY, LIGHT_PURPLE = (
    "#12436D", "#28A197", "#801650", "#F46A25", "#3D3D3D", "#A285D1")
FOCUS_GREY = "#BFBFBF"

# The Analysis Function's own matplotlib style (afcharts: light value gridlines, no box, its palette), then
# what print needs: sizes for a chart printed 6.9 inches wide, and DejaVu Sans (shipped with matplotlib,
# so every machine draws the same bytes; Arial, afcharts' first choice, is not on Debian). docs/print.md
plt.style.use("afcharts.afcharts")
plt.rcParams.update({
    "font.family": "DejaVu Sans", "font.size": 10, "axes.spines.top": False, "axes.spines.right": False,
    "axes.spines.left": True, "axes.edgecolor": "#3D3D3D", "xtick.color": "#3D3D3D", "ytick.color": "#3D3D3D",
    "axes.titlesize": 12, "axes.titleweight": "bold", "axes.titlelocation": "left", "grid.color": "#D9D9D9",
    "svg.hashsalt": "cspack", "figure.dpi": 100,
})


def escape_md(text: str) -> str:
    """Make data text safe to place inside Markdown: no raw HTML, no accidental emphasis or links."""
    text = html.escape(str(text), quote=False)
    return re.sub(r"([\\`*_\[\]{}|#])", r"\\\1", text)


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


def table_html(df: pd.DataFrame, caption: str, formats: dict[str, Callable] | None = None,
               numeric: Sequence[str] = (), note: str | None = None, total_rows: Sequence[int] = ()) -> str:
    """An accessible HTML table: a caption, column headers with scope, numbers right-aligned,
    every cell escaped. ``formats`` maps column -> function(value) -> str."""
    formats = formats or {}
    col = {c: "col-" + (re.sub(r"[^a-z0-9]+", "-", str(c).lower()).strip("-") or "label") for c in df.columns}
    head = "".join(f'<th scope="col" class="{col[c]}{" num" if c in numeric else ""}">{html.escape(str(c))}</th>'
                   for c in df.columns)
    rows = []
    for i, (_, r) in enumerate(df.iterrows()):
        cells = []
        for j, c in enumerate(df.columns):
            v = r[c]
            text = formats[c](v) if c in formats else ("" if pd.isna(v) else str(v))
            cls = f' class="{col[c]}{" num" if c in numeric else ""}"'
            tag = "th" if j == 0 else "td"
            scope = ' scope="row"' if j == 0 else ""
            cells.append(f"<{tag}{scope}{cls}>{html.escape(text)}</{tag}>")
        cls = ' class="total"' if i in total_rows else ""
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    foot = f'<p class="table-note">{html.escape(note)}</p>' if note else ""
    return (f'<table class="cspack-table"><caption>{html.escape(caption)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{foot}")


# Print size: A4 less the PDF's 13 mm side margins is 184 mm (7.2 in); charts are drawn at most this wide
# and shown at their drawn size, so a font of 8 pt in the figure is 8 pt on paper.
PRINT_WIDTH_IN = 6.9
MIN_FONT_PT = 8.0
SAVE_DPI = 150
CSS_DPI = 96
_MONEY_OR_COUNT = re.compile(r"£|\bchildren\b|\bnumber\b|\bcount\b|\bcases\b", re.I)
_RATE = re.compile(r"%|\bper\b|\brate\b|\bshare\b", re.I)


def wrap_to_width(text_artist, width_px: float, renderer) -> None:
    """Wrap a title (a matplotlib Text) onto as many lines as it needs to fit ``width_px``; never cut."""
    import textwrap

    raw = " ".join(text_artist.get_text().split())
    if not raw:
        return
    text_artist.set_text(raw)
    if text_artist.get_window_extent(renderer).width <= width_px:
        return
    for n in range(len(raw), 8, -2):
        text_artist.set_text("\n".join(textwrap.wrap(raw, n, break_long_words=False)))
        if text_artist.get_window_extent(renderer).width <= width_px:
            return


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
    brk = PathPatch(strokes, transform=ax.transAxes, fill=False, edgecolor=DARK_GREY, linewidth=1.0, clip_on=False,
                    zorder=7)
    brk.set_gid("axis-break")
    ax.add_patch(brk)
    sub = ax._left_title.get_text()
    if AXIS_BREAK_NOTE not in sub:
        ax._left_title.set_text(f"{sub.rstrip('. ')}; {AXIS_BREAK_NOTE}" if sub
                                else AXIS_BREAK_NOTE[0].upper() + AXIS_BREAK_NOTE[1:])
    ax._cspack_axis_break = True


def _relayout(fig, renderer, top_px: float = 0.0) -> None:
    """Tight layout again, leaving ``top_px`` at the head for the title block and room at the foot for
    figure legends drawn below the panels."""
    height = fig.get_size_inches()[1] * fig.dpi
    bottom = 0.0
    below = [ax.get_legend() for ax in fig.axes if getattr(ax.get_legend(), "_cspack_below", False)]
    for leg in fig.legends + below:
        bottom = max(bottom, (leg.get_window_extent(renderer).height + 6) / height)
    for leg in below:  # room is kept for these at the foot: the layout must not narrow the panel to them
        leg.set_in_layout(False)
    fig.tight_layout(rect=(0, min(bottom, 0.4), 1, 1 - min(top_px / height, 0.5)))
    for leg in below:  # but the saved picture's crop must include them
        leg.set_in_layout(True)


def _title_block(fig, renderer) -> float:
    """A one-panel chart's title block across the whole figure: the finding (the figure's title) and
    under it the measure, place and period (the panel's left title, moved out of the panel so that it
    starts at the figure's left edge and is wrapped to the figure's width, not the panel's). Returns its
    height in pixels."""
    fig_w, fig_h = fig.get_size_inches() * fig.dpi
    ax = fig.axes[0]
    sup = fig._suptitle
    x = sup.get_position()[0] if sup is not None else 0.02
    y = 1 - 6 / fig_h
    bottom = y
    if sup is not None and sup.get_text():
        sup.set_in_layout(False)
        sup.set_y(y)
        sup.set_va("top")
        wrap_to_width(sup, fig_w * (0.98 - x), renderer)
        bottom = sup.get_window_extent(renderer).y0 / fig_h
    sub = ax._left_title
    if sub.get_text():
        moved = fig.text(x, bottom - 4 / fig_h, sub.get_text(), ha="left", va="top", fontsize=sub.get_fontsize(),
                         color=sub.get_color(), fontweight=sub.get_fontweight())
        sub.set_text("")
        wrap_to_width(moved, fig_w * (0.98 - x), renderer)
        bottom = moved.get_window_extent(renderer).y0 / fig_h
    return (1 - bottom) * fig_h + 8


def _separate_labels(fig, renderer) -> None:
    """Value labels (annotations) that overlap each other are stepped apart, and any that fall outside
    their panel (over the axis or its tick labels) widen the panel's range until they fit."""
    from matplotlib.text import Annotation

    for ax in fig.axes:
        notes = [c for c in ax.get_children() if isinstance(c, Annotation) and c.get_text() and c.get_visible()]
        for _ in range(3):
            moved = False
            boxes = [a.get_window_extent(renderer) for a in notes]
            for i in range(len(notes)):
                for j in range(i):
                    if boxes[i].overlaps(boxes[j]):
                        a = notes[i]
                        x, y = a.xyann
                        step = boxes[i].height * 72 / fig.dpi + 1
                        a.xyann = (x, y + step if y >= 0 else y - step)
                        boxes[i] = a.get_window_extent(renderer)
                        moved = True
            if not moved:
                break
        for _ in range(4):
            inside = ax.get_window_extent(renderer)
            out = [a.get_window_extent(renderer) for a in notes]
            over_y = max([b.y1 - inside.y1 for b in out] + [inside.y0 - b.y0 for b in out] + [0])
            over_x = max([b.x1 - inside.x1 for b in out] + [inside.x0 - b.x0 for b in out] + [0])
            if over_y <= 0 and over_x <= 0:
                break
            if over_y > 0:
                lo, hi = ax.get_ylim()
                pad = (hi - lo) * (over_y + 4) / max(inside.height, 1)
                ax.set_ylim(lo - pad if any(b.y0 < inside.y0 for b in out) else lo,
                            hi + pad if any(b.y1 > inside.y1 for b in out) else hi)
            if over_x > 0:
                lo, hi = ax.get_xlim()
                pad = (hi - lo) * (over_x + 4) / max(inside.width, 1)
                ax.set_xlim(lo - pad if any(b.x0 < inside.x0 for b in out) else lo,
                            hi + pad if any(b.x1 > inside.x1 for b in out) else hi)


def _legend_off_the_data(fig, renderer) -> bool:
    """A legend drawn inside a panel that covers any bar or line of it is moved below the panel (under
    its axis labels). True if any was moved."""
    moved = False
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is None or leg.get_bbox_to_anchor().bounds != ax.bbox.bounds:  # already placed outside
            continue
        box = leg.get_window_extent(renderer)
        marks = [r.get_window_extent(renderer) for c in ax.containers for r in getattr(c, "patches", [])]
        for line in ax.get_lines():
            path = line.get_transform().transform(line.get_xydata()) if len(line.get_xydata()) else []
            marks += [matplotlib.transforms.Bbox([[x - 1, y - 1], [x + 1, y + 1]]) for x, y in path]
        if not any(box.overlaps(m) for m in marks):
            continue
        handles, labels = ax.get_legend_handles_labels()
        size = leg.get_texts()[0].get_fontsize() if leg.get_texts() else MIN_FONT_PT
        new = ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, _below(ax, renderer)),
                        ncol=min(len(labels), 3), frameon=False, fontsize=size)
        _keep_below(ax, new, renderer)
        moved = True
    return moved


def _below(ax, renderer) -> float:
    """Where, in the panel's own coordinates, the space under its axis labels begins."""
    below = [t.get_window_extent(renderer).y0 for t in ax.get_xticklabels() + [ax.xaxis.label] if t.get_text()]
    return ((min(below) if below else ax.bbox.y0) - ax.bbox.y0) / max(ax.bbox.height, 1) - 0.03


def _reanchor_legends(fig, renderer) -> None:
    """Legends kept under their panel go under its axis labels again, centred on the panel but never past
    the figure's edges."""
    fig_w = fig.get_size_inches()[0] * fig.dpi
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is not None and getattr(leg, "_cspack_below", False):
            leg.set_bbox_to_anchor((0.5, _below(ax, renderer)), transform=ax.transAxes)
            box = leg.get_window_extent(renderer)
            shift = max(0.0, 4 - box.x0) - max(0.0, box.x1 - (fig_w - 4))
            if shift:
                leg.set_bbox_to_anchor((0.5 + shift / max(ax.bbox.width, 1), _below(ax, renderer)),
                                       transform=ax.transAxes)


def _keep_below(ax, leg, renderer):
    """Mark ``leg`` as kept under its panel (``_relayout`` keeps room for it at the foot instead of narrowing
    the panel to its width), in as few columns more as it needs to fit the figure's width. Returns the legend (a new one if its columns changed)."""
    fig = ax.figure
    fig_w = fig.get_size_inches()[0] * fig.dpi
    ncol = getattr(leg, "_ncols", 1)
    while leg.get_window_extent(renderer).width > fig_w - 8 and ncol > 1:
        ncol -= 1
        texts = [t.get_text() for t in leg.get_texts()]
        handles, labels = ax.get_legend_handles_labels()
        if labels != texts:
            handles, labels = list(leg.legend_handles), texts
        size = leg.get_texts()[0].get_fontsize() if leg.get_texts() else MIN_FONT_PT
        leg = ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, _below(ax, renderer)),
                        ncol=ncol, frameon=leg.get_frame_on(), fontsize=size)
    leg._cspack_below = True
    return leg


def _untangle_ticks(fig, renderer) -> bool:
    """Category labels along an x-axis that would overlap are turned to 45 degrees. True if any were."""
    turned = False
    for ax in fig.axes:
        labels = [t for t in ax.get_xticklabels() if t.get_text() and t.get_visible()]
        boxes = [t.get_window_extent(renderer) for t in labels]
        if any(a.x1 + 2 > b.x0 for a, b in zip(boxes, boxes[1:])) and all(t.get_rotation() == 0 for t in labels):
            for t in labels:
                t.set_rotation(45)
                t.set_ha("right")
                t.set_rotation_mode("anchor")
            turned = True
    return turned


def _title_block_height(fig, renderer) -> float:
    height = fig.get_size_inches()[1] * fig.dpi
    tops = [t.get_window_extent(renderer).y0 for t in fig.texts if t.get_text()]
    if fig._suptitle is not None and fig._suptitle.get_text():
        tops.append(fig._suptitle.get_window_extent(renderer).y0)
    if fig._suptitle is not None:
        fig._suptitle.set_in_layout(False)
    return height - min(tops) + 8 if tops else 0.0


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


def _legends_below(fig, renderer) -> bool:
    """Legends a chart anchored under its panel (``bbox_to_anchor`` below the axis) are kept under the axis'
    labels whatever the layout does to them (rotated quarter labels, wrapped titles). True if any."""
    found = False
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is None or getattr(leg, "_cspack_below", False):
            found = found or (leg is not None)
            continue
        anchor = leg.get_bbox_to_anchor()
        if anchor.bounds == ax.bbox.bounds:
            continue
        if (anchor.y1 - ax.bbox.y0) / max(ax.bbox.height, 1) < 0:
            leg._loc = 9  # upper center: the anchor is the legend's top
            _keep_below(ax, leg, renderer)
            found = True
    return found


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

        def clear(t, marks):
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


def print_ready(fig):
    """Make any chart readable on A4, whichever module drew it: at most the printed width, every text
    at least 8 pt, titles wrapped to the width instead of running off it, honest axes, value labels
    that neither collide nor sit on the axis. Called for every chart the pack shows."""
    from matplotlib.text import Text

    w, h = fig.get_size_inches()
    if w > PRINT_WIDTH_IN:
        k = PRINT_WIDTH_IN / w
        fig.set_size_inches(PRINT_WIDTH_IN, h * (1 + k) / 2 if len(fig.axes) == 1 else h)
    for ax in fig.axes:  # tick labels are remade from the axis' settings at each draw: set those
        for axis in (ax.xaxis, ax.yaxis):
            if any(t.get_fontsize() < MIN_FONT_PT for t in axis.get_ticklabels(which="both")):
                axis.set_tick_params(which="both", labelsize=MIN_FONT_PT)
    for t in fig.findobj(Text):
        if t.get_text() and t.get_fontsize() < MIN_FONT_PT:
            t.set_fontsize(MIN_FONT_PT)
    _quarters_in_figure(fig)
    _distinct_series(fig)
    for ax in fig.axes:
        honest_axis(ax)
        for t in ax.texts:  # notes inside a panel (a rating, a label) sit above the data on a white ground
            if t.get_text().strip() and not isinstance(t, matplotlib.text.Annotation) and t.get_bbox_patch() is None:
                t.set_zorder(6)
                t.set_bbox({"facecolor": "white", "edgecolor": "none", "pad": 1.0, "alpha": 0.85})
        if any(getattr(c, "orientation", "") == "horizontal" for c in ax.containers):
            ax.grid(False, axis="y")  # value gridlines run across the bars' values, not along them
            ax.grid(True, axis="x")
    renderer = fig.canvas.get_renderer()
    fig_px = fig.get_size_inches()[0] * fig.dpi
    if len(fig.axes) == 1:
        top = _title_block(fig, renderer)
        for t in (fig.axes[0].title, fig.axes[0]._right_title):
            wrap_to_width(t, fig_px * 0.9, renderer)
        _relayout(fig, renderer, top)
        if fig._suptitle is not None:
            fig._suptitle.set_in_layout(True)  # tight_layout counted it in ``top``; the saved crop must see it
    else:
        if fig._suptitle is not None:
            wrap_to_width(fig._suptitle, fig_px * (0.98 - fig._suptitle.get_position()[0]), renderer)
        for ax in fig.axes:
            spec = ax.get_subplotspec()
            cell = 0.9 * fig_px / spec.get_gridspec().ncols * (spec.colspan.stop - spec.colspan.start) if spec else fig_px
            for t in (ax.title, ax._left_title, ax._right_title):
                if t.get_text():
                    wrap_to_width(t, cell, renderer)
        _relayout(fig, renderer)
    if _fit_ylabels(fig, renderer):
        _relayout(fig, renderer, _title_block_height(fig, renderer) if len(fig.axes) == 1 else 0.0)
        if fig._suptitle is not None:
            fig._suptitle.set_in_layout(True)  # out of the layout's reckoning, in the saved crop
    if _untangle_ticks(fig, renderer) | _legend_off_the_data(fig, renderer) | _legends_below(fig, renderer):
        top = _title_block_height(fig, renderer) if len(fig.axes) == 1 else 0.0
        _relayout(fig, renderer, top)
        _reanchor_legends(fig, renderer)  # the layout moved the axis labels: put the legends under them again
        _relayout(fig, renderer, top)
        _reanchor_legends(fig, renderer)
        if fig._suptitle is not None:
            fig._suptitle.set_in_layout(True)
    _notes_off_the_data(fig, renderer)
    _separate_labels(fig, renderer)
    fig._cspack_ready = True
    return fig


def figure_png(fig) -> bytes:
    """PNG bytes with fixed metadata, so the same figure gives the same bytes on every run; the figure is
    first made print-ready (see ``print_ready``)."""
    if not getattr(fig, "_cspack_ready", False):
        print_ready(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=SAVE_DPI, bbox_inches="tight", pad_inches=0.08, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height in pixels from a PNG's header."""
    import struct

    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return struct.unpack(">II", data[16:24])


def _fmt(v: float, money: bool, whole: bool = False) -> str:
    if money:
        return f"{v:,.3f}"
    if whole:  # counts of children: whole numbers (a projection's 1,026.194 children is shown as 1,026)
        from pipeline.core.formatting import number

        return number(v)
    return f"{v:,.3f}".rstrip("0").rstrip(".") if abs(v) < 1e15 else str(v)


def chart_data(fig) -> pd.DataFrame:
    """The numbers a chart draws, read back from the figure, for the data table shown with it: every bar
    (its category and value), every named line (each point) and every named band (its low and high at
    each point). Reference lines (targets, England) are given once. Read before the figure is closed."""
    import matplotlib.dates as mdates
    import numpy as np
    from matplotlib.collections import PathCollection, PolyCollection

    from matplotlib.category import StrCategoryFormatter
    from matplotlib.ticker import FixedFormatter

    rows: list[dict] = []
    many = len([a for a in fig.axes if a.axison]) > 1
    for ax in fig.axes:
        if not ax.axison:
            continue
        panel = " ".join(ax.get_title(loc="left").split()) or " ".join(ax.get_title().split())
        money = "£" in ax.get_ylabel() + ax.get_xlabel() + panel
        dates = isinstance(ax.xaxis.get_major_formatter(), (mdates.AutoDateFormatter, mdates.ConciseDateFormatter))

        def children(label):  # a value axis of counts of children: whole numbers in the table
            return bool(re.search(r"\bchildren\b", label, re.I)) and not _RATE.search(label)

        def at(x, axis, ax=ax, dates=dates):
            locs = [float(t) for t in axis.get_ticklocs()]
            texts = [t_l.get_text() for t_l in axis.get_ticklabels()]
            lab = {round(t, 6): tx for t, tx in zip(locs, texts)}
            if not len(locs) and not dates:
                return ""  # an axis drawn without labels (a strip of every authority): the order is the rank
            try:
                xf = float(x)
            except (TypeError, ValueError):
                return str(pd.Timestamp(x).strftime("%B %Y")) if hasattr(x, "year") or isinstance(x, np.datetime64) else str(x)
            if dates and axis is ax.xaxis:
                return mdates.num2date(xf).strftime("%B %Y")
            if lab.get(round(xf, 6)):
                return lab[round(xf, 6)]
            named = isinstance(axis.get_major_formatter(), (FixedFormatter, StrCategoryFormatter)) or any(
                t and not re.fullmatch(r"[\u2212+-]?[\d,.]+%?", t) for t in texts)
            if named and any(texts):
                # categories with bars set beside each tick (grouped bars): the nearest tick's label
                near = min(range(len(locs)), key=lambda i: abs(locs[i] - xf))
                gaps = [b - a for a, b in zip(sorted(locs), sorted(locs)[1:]) if b > a]
                if abs(locs[near] - xf) <= (min(gaps) / 2 if gaps else 0.5) + 1e-9 and texts[near]:
                    return texts[near]
            return _fmt(xf, False)

        for c in ax.containers:
            bars = getattr(c, "patches", [])
            label = c.get_label() if c.get_label() and not c.get_label().startswith("_") else ""
            horizontal = getattr(c, "orientation", "vertical") == "horizontal"
            whole = not money and children(ax.get_xlabel() if horizontal else ax.get_ylabel())
            colours = [tuple(r.get_facecolor()) for r in bars]
            odd = [i for i, col in enumerate(colours) if colours.count(col) == 1]
            # one bar in a colour of its own among many with no name on the axis (the council among every
            # authority): its row says so, since the reader of the table cannot see the colour
            marked = odd[0] if len(bars) >= 3 and len(odd) == 1 and len(set(colours)) == 2 else None
            unnamed = not any(t.get_text() for t in (ax.yaxis if horizontal else ax.xaxis).get_ticklabels())
            for i, r in enumerate(bars):
                own = r.get_label() if r.get_label() and not r.get_label().startswith("_") else ""
                if horizontal:
                    cat, val = at(r.get_y() + r.get_height() / 2, ax.yaxis), r.get_width()
                else:
                    cat, val = at(r.get_x() + r.get_width() / 2, ax.xaxis), r.get_height()
                cat = own or cat
                if unnamed and not cat:
                    cat = f"{i + 1} of {len(bars)}"
                if unnamed and i == marked:
                    cat += " (highlighted in the chart)"
                rows.append({"Panel": panel, "Series": label, "Category or date": cat, "Value": _fmt(val, money, whole)})
        whole = not money and children(ax.get_ylabel())
        for line in ax.get_lines():
            label = line.get_label()
            x, y = line.get_xdata(), line.get_ydata()
            if _across(line, ax):
                vertical = line.get_transform() is ax.get_xaxis_transform()
                v = float(np.asarray(x if vertical else y, dtype=float)[0])
                if v == 0 and label.startswith("_"):
                    continue  # the zero line under bars of over and under spend: an axis, not a figure
                rows.append({"Panel": panel, "Series": label if not label.startswith("_") else "Reference line",
                             "Category or date": "(all)", "Value": _fmt(v, money, whole and not vertical)})
                continue
            if label.startswith("_") and len(fig.legends) == 0 and ax.get_legend() is None and len(ax.get_lines()) > 1:
                label = ""
            for xi, yi in zip(x, y):
                try:
                    yf = float(yi)
                except (TypeError, ValueError):
                    continue
                if np.isfinite(yf):
                    rows.append({"Panel": panel, "Series": "" if label.startswith("_") else label,
                                 "Category or date": at(xi, ax.xaxis), "Value": _fmt(yf, money, whole)})
        for p in ax.patches:  # a band across the panel (a target range: axhspan, or axvspan on a value axis)
            label = p.get_label()
            if not label or label.startswith("_") or not hasattr(p, "get_width"):
                continue
            t = matplotlib.artist.Artist.get_transform(p)  # without the patch's own (box) transform
            if t is ax.get_yaxis_transform():
                lo, hi = sorted((p.get_y(), p.get_y() + p.get_height()))
            elif t is ax.get_xaxis_transform() and not dates:
                lo, hi = sorted((p.get_x(), p.get_x() + p.get_width()))
            else:
                continue
            rows.append({"Panel": panel, "Series": label, "Category or date": "(all)",
                         "Value": f"{_fmt(float(lo), money)} to {_fmt(float(hi), money)}"})
        for coll in ax.collections:
            label = coll.get_label()
            if isinstance(coll, PathCollection) and len(coll.get_offsets()):
                xs = np.asarray(coll.get_offsets())[:, 0].astype(float)  # strip charts: values along x
                name = label if label and not label.startswith("_") else ""
                if len(xs) <= 3:
                    for v in xs:
                        rows.append({"Panel": panel, "Series": name or "Highlighted", "Category or date": "",
                                     "Value": _fmt(float(v), money)})
                else:
                    for what, v in (("lowest", xs.min()), ("median", float(np.median(xs))), ("highest", xs.max())):
                        rows.append({"Panel": panel, "Series": name or f"All {len(xs)} points",
                                     "Category or date": what, "Value": _fmt(float(v), money)})
                continue
            if not isinstance(coll, PolyCollection) or not label or label.startswith("_"):
                continue
            for path in coll.get_paths():
                v = path.vertices  # fill_between: start, one edge left to right, end, the other edge back, close
                n = (len(v) - 3) // 2
                if n < 1 or len(v) != 2 * n + 3:
                    continue
                lower, upper = v[1:n + 1], v[n + 2:2 * n + 2][::-1]
                for (xu, yu), (_, yl) in zip(upper, lower):
                    lo, hi = sorted((float(yl), float(yu)))
                    rows.append({"Panel": panel, "Series": label, "Category or date": at(xu, ax.xaxis),
                                 "Value": f"{_fmt(lo, money, whole)} to {_fmt(hi, money, whole)}"})
    df = pd.DataFrame(rows, columns=["Panel", "Series", "Category or date", "Value"])
    if not many:
        df = df.drop(columns="Panel")
    return df.loc[:, [c for c in df.columns if c == "Value" or df[c].astype(str).str.len().gt(0).any()]]


def chart(fig, alt: str, data: pd.DataFrame | None = None):
    """An IPython image carrying its alt text (the pack template writes it into ``alt``), shown at its
    drawn size (so its fonts print at the size they were drawn), with its numbers as a data table the
    pack shows collapsed beneath it (``data``, else read back from the figure: see ``chart_data``)."""
    from IPython.display import Image

    if not alt or len(alt) < 20:
        raise ValueError("every chart needs alt text that says what it shows (at least 20 characters)")
    alt = quarter_text(alt)
    print_ready(fig)
    table = data if data is not None else chart_data(fig)
    table = table.map(lambda v: quarter_text(v) if isinstance(v, str) else v)  # "Quarter 3 2024-25", as the text
    table.columns = [quarter_text(c) if isinstance(c, str) else c for c in table.columns]
    caption = " ".join((fig._suptitle.get_text() if fig._suptitle is not None else "").split()) or "Chart"
    caption = quarter_text(caption)
    data_html = table_html(table, f"Data for the chart: {caption}", numeric=[c for c in table.columns if c == "Value"]) \
        if len(table) else ""
    png = figure_png(fig)
    width_px, _ = png_size(png)
    return Image(data=png, format="png", alt=alt, width=round(width_px * CSS_DPI / SAVE_DPI),
                 metadata={"cspack_table": data_html})


def variance_chart(lines: pd.DataFrame, title: str, subtitle: str):
    """Horizontal bars of forecast under (-)/over spend by line: the largest in focus colour."""
    d = lines.sort_values("variance_gbpm")
    fig, ax = plt.subplots(figsize=(PRINT_WIDTH_IN, 0.27 * len(d) + 1.5))
    top = d["variance_gbpm"].idxmax()
    colours = [DARK_BLUE if i == top else FOCUS_GREY for i in d.index]
    ax.barh(d["service_line"], d["variance_gbpm"], color=colours, edgecolor=DARK_GREY, linewidth=0.4)
    ax.axvline(0, color=DARK_GREY, linewidth=0.8)
    for y, v in enumerate(d["variance_gbpm"]):
        ax.annotate(f"{v:,.3f}", (v, y), xytext=(4 if v >= 0 else -4, 0), textcoords="offset points",
                    ha="left" if v >= 0 else "right", va="center", fontsize=8, color=DARK_GREY)
    ax.set_xlabel("Forecast under (-) / over spend, £m")
    ax.set_ylabel("")
    ax.margins(x=0.15)
    titled(fig, ax, title, subtitle)
    return fig


def titled(fig, ax, title: str, subtitle: str) -> None:
    """Finding as the bold title, measure/geography/period as the subtitle, both left-aligned."""
    ax.set_title(subtitle, loc="left", fontsize=9, fontweight="normal", color=DARK_GREY, pad=10)
    fig.suptitle(title, x=0.02, ha="left", fontsize=12, fontweight="bold", color="#0b0c0c")
    fig.tight_layout()  # print_ready wraps both titles to the width and lays the figure out again
