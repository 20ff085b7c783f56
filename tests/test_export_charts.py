"""Charts readable on paper (issue 14, point 8): every chart the pack shows goes through report.chart, which
fits it to the printed width, keeps every text at 8 pt or more, wraps titles instead of cutting them, draws
honest axes, keeps value labels apart and off the axis, and carries the chart's figures as a table."""

from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from pipeline.report import render as report  # noqa: E402

LONG = ("Children ceasing care through special guardianship orders placed in foster care with relatives and "
        "friends, as a share of all children ceasing care")


def _texts(fig):
    return [t for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]


def test_a_long_title_wraps_inside_the_figure_and_nothing_is_cut():
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.plot([1, 2, 3], [10, 12, 11])
    report.titled(fig, ax, LONG, LONG + "; Testshire County Council, 2021-22 to 2026-27")
    report.print_ready(fig)
    r = fig.canvas.get_renderer()
    width = fig.get_size_inches()[0] * fig.dpi
    titles = [t for t in _texts(fig) if t.get_text().replace("\n", " ").startswith("Children ceasing care")]
    assert len(titles) == 2  # the finding and the subtitle, both kept whole
    for t in titles:
        assert "\n" in t.get_text()
        assert " ".join(t.get_text().split()) in (LONG, LONG + "; Testshire County Council, 2021-22 to 2026-27")
        box = t.get_window_extent(r)
        assert box.x0 >= 0 and box.x1 <= width
    assert fig.get_size_inches()[0] <= report.PRINT_WIDTH_IN


def _breaks(ax):
    return sum(p.get_gid() == "axis-break" for p in ax.patches)


def test_every_text_is_at_least_8_pt_at_print_size():
    fig, axes = plt.subplots(2, 3, figsize=(9, 4.8))
    for ax in axes.flat:
        ax.plot([2019, 2020, 2021], [1, 2, 3])
        ax.set_title("A measure", fontsize=6)
        ax.tick_params(labelsize=6)
        ax.text(0.9, 0.1, "✓ Good", fontsize=5, transform=ax.transAxes)
    fig.legend(handles=[plt.Line2D([], [], label="Value")], loc="lower center", fontsize=6)
    img = report.chart(fig, "Small multiples of six measures over three years")
    small = [(t.get_text(), t.get_fontsize()) for t in _texts(fig) if t.get_fontsize() < 8]
    assert small == []
    notes = [t for ax in fig.axes for t in ax.texts]  # the in-panel ratings sit above the lines, on white
    assert len(notes) == 6 and all(t.get_zorder() > max(ln.get_zorder() for ln in t.axes.get_lines()) and
                                   t.get_bbox_patch() is not None for t in notes)
    # shown at its drawn size: the width the pack gives the picture is its printed width at 96 px per inch
    w_px = int.from_bytes(img.data[16:20], "big")
    assert img.width == round(w_px * 96 / report.SAVE_DPI)
    assert img.width / 96 <= report.PRINT_WIDTH_IN + 0.3


def test_a_rate_axis_is_not_stretched_and_a_count_axis_starts_at_zero():
    fig, ax = plt.subplots()
    ax.plot(["2024-25", "2025-26", "2026-27"], [69.2, 70.2, 69.6])
    report.honest_axis(ax)
    lo, hi = ax.get_ylim()
    assert hi - lo >= 0.25 * 70.2 - 1e-9 and lo <= 69.2 and hi >= 70.2
    # a count far from zero is fitted to its data (line charts need not start at zero), still spanning a
    # quarter of its largest value, with a break on the axis and a note in the subtitle
    fig, ax = plt.subplots()
    ax.plot(pd.date_range("2024-01-31", periods=3, freq="ME"), [1006, 1012, 1020])
    ax.set_ylabel("Children in care")
    ax.set_title("Children looked after at each month end", loc="left")
    report.honest_axis(ax)
    lo, hi = ax.get_ylim()
    assert 0 < lo <= 1006 and hi >= 1020 and hi - lo >= 0.25 * 1020 - 1e-9
    assert ax.get_title(loc="left").endswith("; " + report.AXIS_BREAK_NOTE) and _breaks(ax) == 1
    fig, ax = plt.subplots()  # a count that comes near zero starts at zero, with no break
    ax.plot([1, 2, 3], [120, 400, 900])
    ax.set_ylabel("Children in care")
    report.honest_axis(ax)
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] >= 900 and not _breaks(ax)
    fig, ax = plt.subplots()  # a chart that set its own lower limit keeps it
    ax.plot([1, 2, 3], [1006, 1012, 1020])
    ax.set_ylabel("Number of children")
    ax.set_ylim(bottom=0)
    report.honest_axis(ax)
    assert ax.get_ylim()[0] == 0 and not _breaks(ax)
    fig, ax = plt.subplots()  # a rate that already varies a lot is left alone
    ax.plot([1, 2, 3], [10, 40, 20])
    before = ax.get_ylim()
    report.honest_axis(ax)
    assert ax.get_ylim() == before


def test_value_labels_do_not_overlap_or_sit_on_the_axis():
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    xs = np.array([1.0, 1.05, 2.0])
    vals = [16.260, 14.878, -0.815]
    ax.bar(xs, vals, width=0.05)
    for x, v in zip(xs, vals):
        ax.annotate(f"{v:,.3f}", (x, v), xytext=(0, 3 if v >= 0 else -10), textcoords="offset points", ha="center",
                    fontsize=8)
    ax.set_ylim(-0.9, 16.3)  # the labels of the tallest and the negative bar start outside the panel
    report.titled(fig, ax, "Forecast overspend has grown", "Total forecast under (-) / over spend, £m")
    report.print_ready(fig)
    r = fig.canvas.get_renderer()
    notes = [c for c in ax.get_children() if isinstance(c, matplotlib.text.Annotation)]
    boxes = [a.get_window_extent(r) for a in notes]
    assert not any(boxes[i].overlaps(boxes[j]) for i in range(3) for j in range(i))
    panel = ax.get_window_extent(r)
    assert all(b.y0 >= panel.y0 - 0.5 and b.y1 <= panel.y1 + 0.5 for b in boxes)


def test_the_chart_table_holds_the_numbers_drawn():
    lines = pd.DataFrame({"service_line": ["Placements", "Fostering", "Early help"],
                          "variance_gbpm": [14.23, -0.446, 0.089]})
    fig = report.variance_chart(lines, "Placements: most of the overspend", "Forecast under (-) / over spend, £m")
    img = report.chart(fig, "Bar chart of the forecast variance by service line")
    table = img.metadata["cspack_table"]
    cells = re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", table)
    for name, v in zip(lines["service_line"], lines["variance_gbpm"]):
        i = cells.index(name)
        assert cells[i + 1] == f"{v:,.3f}"  # money to three decimals
    assert "<caption>Data for the chart: Placements: most of the overspend</caption>" in table
    # a stacked area and a line over months
    fig, ax = plt.subplots()
    months = pd.date_range("2026-04-30", periods=3, freq="ME")
    ax.fill_between(months, 0, [10, 11, 12], label="Fostering")
    ax.fill_between(months, [10, 11, 12], [30, 32, 31], label="Residential")
    ax.plot(months, [69.2, 69.5, 70.1], label="Rate")
    df = report.chart_data(fig)
    got = {(r["Series"], r["Category or date"]): r["Value"] for _, r in df.iterrows()}
    assert got[("Fostering", "April 2026")] == "0 to 10" and got[("Residential", "June 2026")] == "12 to 31"
    assert got[("Rate", "May 2026")] == "69.5"
    plt.close("all")


def test_every_chart_in_the_pipeline_goes_through_report_chart():
    """No module saves or shows a figure by itself: report.chart (print_ready, the data table) is the
    only way out."""
    from pathlib import Path

    root = Path(report.__file__).resolve().parents[1]  # the whole pipeline package
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path == Path(report.__file__).resolve():
            continue
        assert "savefig(" not in text and "plt.show(" not in text and "Image(" not in text, path.name
    buf = io.BytesIO()  # and report.figure_png is deterministic
    fig, ax = plt.subplots()
    ax.bar([1, 2], [3, 4])
    a = report.figure_png(fig)
    fig, ax = plt.subplots()
    ax.bar([1, 2], [3, 4])
    assert a == report.figure_png(fig) and not buf.getvalue()


def test_no_chart_title_in_the_default_pack_is_cut_mid_word(built_pack):
    """The titles the pack's charts carry (alt text, and the data table's caption: the chart's title) are
    whole: none ends in an ellipsis cut into a word, as "placed in foster car…" once did."""
    import html as html_lib

    _, result = built_pack
    page = result.pack.read_text(encoding="utf-8")
    alts = [html_lib.unescape(a) for a in re.findall(r'<img[^>]*\balt="([^"]*)"', page)]
    tables = [t for t in re.findall(r"<table\b.*?</table>", page, flags=re.S) if "Data for the chart:" in t]
    captions = [html_lib.unescape(re.sub(r"<[^>]+>", "", c)) for t in tables  # the caption and every cell
                for c in re.findall(r"<(?:caption|td|th)\b[^>]*>(.*?)</(?:caption|td|th)>", t, flags=re.S)]
    assert len(alts) >= 5 and tables
    cut = re.compile(r"\w(…|\.\.\.)(?=[\s,;:)]|$)")
    bad = [t for t in alts + captions if cut.search(t)]
    assert not bad, bad
    # the small multiples name their measures in full (the default pack has names over 45 characters)
    assert any(len(n) > 45 for t in alts if t.startswith("Small multiples")
               for n in re.findall(r"(?:: |; )([^:;]+?): \d{4}-\d{2} ", t))
