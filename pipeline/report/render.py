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

from pipeline.report.chart_fit import (  # noqa: E402, F401  (AXIS_BREAK_NOTE, honest_axis, quarter_text: API)
    _QUARTER_CODE,
    AXIS_BREAK_NOTE,
    _distinct_series,
    _fit_ylabels,
    _notes_off_the_data,
    _quarters_in_figure,
    honest_axis,
    quarter_text,
)
from pipeline.report.chart_table import _fmt, chart_data  # noqa: E402, F401  (_fmt: the tables' number form)

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
