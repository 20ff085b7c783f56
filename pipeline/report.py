"""What a notebook displays: escaped HTML tables, Markdown narrative, charts with alt text.

Every string that comes from data or commentary is escaped here, so notebooks never build HTML."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Callable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

# Government Analysis Function palette (DESIGN.md, Presentation)
DARK_BLUE, TURQUOISE, DARK_PINK, ORANGE, DARK_GREY, LIGHT_PURPLE = (
    "#12436D", "#28A197", "#801650", "#F46A25", "#3D3D3D", "#A285D1")
FOCUS_GREY = "#BFBFBF"

plt.rcParams.update({
    "font.family": "DejaVu Sans", "font.size": 10, "axes.spines.top": False, "axes.spines.right": False,
    "axes.titlesize": 12, "axes.titleweight": "bold", "axes.titlelocation": "left",
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
    num_cls = ' class="num"'
    head = "".join(f'<th scope="col"{num_cls if c in numeric else ""}>{html.escape(str(c))}</th>'
                   for c in df.columns)
    rows = []
    for i, (_, r) in enumerate(df.iterrows()):
        cells = []
        for j, c in enumerate(df.columns):
            v = r[c]
            text = formats[c](v) if c in formats else ("" if pd.isna(v) else str(v))
            cls = ' class="num"' if c in numeric else ""
            tag = "th" if j == 0 else "td"
            scope = ' scope="row"' if j == 0 else ""
            cells.append(f"<{tag}{scope}{cls}>{html.escape(text)}</{tag}>")
        cls = ' class="total"' if i in total_rows else ""
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    foot = f'<p class="table-note">{html.escape(note)}</p>' if note else ""
    return (f'<table class="cspack-table"><caption>{html.escape(caption)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{foot}")


def figure_png(fig) -> bytes:
    """PNG bytes with fixed metadata, so the same figure gives the same bytes on every run."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def chart(fig, alt: str):
    """An IPython image carrying its alt text (the pack template writes it into ``alt``)."""
    from IPython.display import Image

    if not alt or len(alt) < 20:
        raise ValueError("every chart needs alt text that says what it shows (at least 20 characters)")
    return Image(data=figure_png(fig), format="png", alt=alt)


def variance_chart(lines: pd.DataFrame, title: str, subtitle: str):
    """Horizontal bars of forecast under (-)/over spend by line: the largest in focus colour."""
    d = lines.sort_values("variance_gbpm")
    fig, ax = plt.subplots(figsize=(8, 0.38 * len(d) + 1.4))
    top = d["variance_gbpm"].idxmax()
    colours = [DARK_BLUE if i == top else FOCUS_GREY for i in d.index]
    ax.barh(d["service_line"], d["variance_gbpm"], color=colours, edgecolor=DARK_GREY, linewidth=0.4)
    ax.axvline(0, color=DARK_GREY, linewidth=0.8)
    for y, v in enumerate(d["variance_gbpm"]):
        ax.annotate(f"{v:,.3f}", (v, y), xytext=(4 if v >= 0 else -4, 0), textcoords="offset points",
                    ha="left" if v >= 0 else "right", va="center", fontsize=8, color=DARK_GREY)
    ax.set_xlabel("Forecast under (-) / over spend, £m")
    ax.set_ylabel("")
    titled(fig, ax, title, subtitle)
    ax.margins(x=0.15)
    return fig


def titled(fig, ax, title: str, subtitle: str) -> None:
    """Finding as the bold title, measure/geography/period as the subtitle, both left-aligned."""
    ax.set_title(subtitle, loc="left", fontsize=9, fontweight="normal", color=DARK_GREY, pad=10)
    fig.suptitle(title, x=0.02, ha="left", fontsize=12, fontweight="bold", color="#0b0c0c")
    fig.tight_layout()
