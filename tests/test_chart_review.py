"""The director's review of the 2026-27 Q2 pack (chart findings): the data tables under the charts name what
each value is (a quarter, an authority), counts of children are whole, quarter codes are written as the
pack writes quarters, notes never cover the data, long axis labels and legends stay clear of other text,
lines are never told apart by shade alone, and a fan of counts is fitted to its data with the axis break
said. Each test draws a chart as the sections do and checks the drawn figure or its table."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.report import render as report  # noqa: E402


def _cells(img) -> list[list[str]]:
    table = img.metadata["cspack_table"]
    head = re.findall(r"<th scope=\"col\"[^>]*>([^<]*)</th>", table)
    body = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1])
    return [dict(zip(head, re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", r))) for r in body]


def test_grouped_bars_are_named_by_their_quarter_not_their_position():
    data = {"2025-26": [27.923, 26.144, 25.534, 24.793], "2026-27": [23.1, 21.907]}
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    width = 0.38
    for i, (fy, vals) in enumerate(data.items()):
        xs = np.arange(1, len(vals) + 1) + (i - 0.5) * width
        ax.bar(xs, vals, width=width, label=fy)
    ax.set_xticks([1, 2, 3, 4], ["Q1", "Q2", "Q3", "Q4"])
    ax.set_ylabel("Forecast under (-) / over spend, £m")
    report.titled(fig, ax, "Forecast overspend has eased this year", "Total forecast, £m")
    rows = _cells(report.chart(fig, "Bar chart of the total forecast at each quarter end"))
    got = [(r["Series"], r["Category or date"], r["Value"]) for r in rows]
    want = [(fy, f"Q{q + 1}", f"{v:,.3f}") for fy, vals in data.items() for q, v in enumerate(vals)]
    assert got == want


def test_quarter_codes_are_written_as_the_pack_writes_quarters():
    assert report.quarter_text("totals: 2024-25-Q3 £0.052m; 2025-26 Q1") == "totals: Quarter 3 2024-25 £0.052m; Quarter 1 2025-26"
    assert report.quarter_text("2023-24 Q3", short=True) == "Q3 2023-24"
    assert report.quarter_text("2024-26 Q3 and 2026-27-Q5") == "2024-26 Q3 and 2026-27-Q5"  # not quarters: as they are
    quarters = ["2024-25-Q3", "2024-25-Q4", "2025-26-Q1"]
    fig, ax = plt.subplots(figsize=(8, 3.6))  # categories on the axis, as the aged debt chart draws them
    ax.bar(quarters, [0.052, 0.054, 0.057], label="Debt")
    ax.set_ylabel("Debt outstanding, £m")
    report.titled(fig, ax, "Debt outstanding has risen", "Aged debt at each quarter end, £m; up from 2024-25-Q3")
    img = report.chart(fig, "Stacked bar chart of aged debt: " + "; ".join(quarters))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Q3 2024-25", "Q4 2024-25", "Q1 2025-26"]
    assert any(" ".join(t.get_text().split()).endswith("up from Quarter 3 2024-25") for t in fig.texts)  # subtitle
    assert img.alt.endswith("Quarter 3 2024-25; Quarter 4 2024-25; Quarter 1 2025-26")
    assert [r["Category or date"] for r in _cells(img)] == ["Quarter 3 2024-25", "Quarter 4 2024-25", "Quarter 1 2025-26"]


def test_every_authority_is_named_and_the_council_marked():
    rng = np.random.default_rng(7)
    las = pd.DataFrame({"name": [f"Authority {i:03d}" for i in range(151)], "value": rng.uniform(20, 150, 151)})
    las = las.sort_values("value").reset_index(drop=True)
    own = las["name"].iloc[71]
    fig, ax = plt.subplots(figsize=(9, 2.8))
    ax.bar(range(len(las)), las["value"], color=["#12436D" if n == own else "#BFBFBF" for n in las["name"]],
           width=1.0, label=list(las["name"]))
    ax.set_xticks([])
    ax.set_ylabel("Per 10,000 children")
    report.titled(fig, ax, f"{own}: rank 72 of 151", "Children looked after per 10,000, every authority")
    rows = _cells(report.chart(fig, "Bar chart of the rate in 151 authorities, lowest first"))
    assert len(rows) == 151
    marked = [r for r in rows if "highlighted" in r["Category or date"]]
    assert [r["Category or date"] for r in marked] == [f"{own} (highlighted in the chart)"]
    names = [r["Category or date"].replace(" (highlighted in the chart)", "") for r in rows]
    assert names == list(las["name"])
    assert [float(r["Value"]) for r in rows] == [float(report._fmt(v, False)) for v in las["value"]]
    # bars with no names at all are numbered in the order drawn, and the odd one is still marked
    fig, ax = plt.subplots()
    ax.bar(range(5), [1, 2, 3, 4, 5], color=["grey", "grey", "navy", "grey", "grey"])
    ax.set_xticks([])
    df = report.chart_data(fig)
    assert list(df["Category or date"]) == ["1 of 5", "2 of 5", "3 of 5 (highlighted in the chart)", "4 of 5", "5 of 5"]
    plt.close("all")


def test_counts_of_children_are_whole_in_the_table():
    months = pd.date_range("2026-10-31", periods=4, freq="ME")
    median = np.array([1026.194, 1030.5, 1043.5, 1050.49])
    fig, ax = plt.subplots()
    ax.fill_between(months, median - 100.25, median + 120.6, label="80% range")
    ax.plot(months, median, label="Projection used (median)")
    ax.set_ylabel("Children in care")
    df = report.chart_data(fig)
    med = df[df["Series"] == "Projection used (median)"]["Value"].tolist()
    assert med == [f"{int(np.floor(v + 0.5)):,}" for v in median]  # halves up: 1,043.5 -> 1,044
    band = df[df["Series"] == "80% range"]["Value"].tolist()
    assert band[0] == "926 to 1,147"
    fig, ax = plt.subplots()  # a rate keeps its decimals
    ax.plot([1, 2], [66.25, 70.5], label="Rate")
    ax.set_ylabel("Children looked after per 10,000 children")
    assert report.chart_data(fig)["Value"].tolist() == ["66.25", "70.5"]
    plt.close("all")


def _point_box(ax, line, i, r):
    x, y = line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float)[i])
    rad = line.get_markersize() * ax.figure.dpi / 72 / 2
    return matplotlib.transforms.Bbox([[x - rad, y - rad], [x + rad, y + rad]])


def test_a_rating_never_covers_the_latest_point():
    """The social worker vacancy panel: the latest value, the lowest, sits where the rating was written."""
    fig, axes = plt.subplots(2, 3, figsize=(9, 4.8))
    series = [[84.7, 85.7, 89.2], [89.1, 90.0, 91.2], [12.7, 13.1, 11.2], [9.2, 8.3, 9.2], [18.2, 17.9, 17.6],
              [89.4, 89.3, 93.0]]
    for ax, ys in zip(axes.flat, series):
        ax.plot(["2024-25", "2025-26", "2026-27"], ys, marker="o", linewidth=1.6)
        ax.axhline(ys[0] + 1.5, linestyle=":")
        ax.set_ylabel("Per cent", fontsize=8)
        ax.text(0.98, 0.04, "★ Strong", transform=ax.transAxes, ha="right", fontsize=8)
    fig.suptitle("Outcome 5", x=0.02, ha="left")
    report.print_ready(fig)
    r = fig.canvas.get_renderer()
    for ax in axes.flat:
        note = ax.texts[0].get_window_extent(r)
        line = ax.get_lines()[0]
        for i in range(3):
            assert not note.overlaps(_point_box(ax, line, i, r)), (ax.get_lines()[0].get_ydata(), i)
        assert ax.get_window_extent(r).contains(note.x0 + 1, note.y0 + 1)  # still inside its panel
    plt.close("all")


def test_a_long_value_axis_label_stays_beside_its_panel():
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    ax.bar([1, 2, 3, 4], [27.9, 26.1, 25.5, 24.8])
    ax.set_xticks([1, 2, 3, 4], ["Q1", "Q2", "Q3", "Q4"])
    ax.set_ylabel("Forecast under (-) / over spend, £m")
    ax.legend(["2025-26"], frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    report.titled(fig, ax, "Forecast overspend has eased this year",
                  "Total forecast under (-) / over spend at each quarter end, £m; Synthetic County Council (synthetic "
                  "data calibrated to Derbyshire). This quarter's placements forecast is the placement projection; "
                  "earlier quarters' the spending-profile projection")
    report.print_ready(fig)
    r = fig.canvas.get_renderer()
    label = ax.yaxis.label.get_window_extent(r)
    panel = ax.get_window_extent(r)
    assert label.height <= panel.height + 0.5 and " ".join(ax.get_ylabel().split()) == "Forecast under (-) / over spend, £m"
    titles = [t.get_window_extent(r) for t in fig.texts + [fig._suptitle] if t.get_text()]
    assert titles and not any(label.overlaps(t) for t in titles)
    crop = fig.get_tightbbox(r)  # the saved picture keeps the title
    assert crop.y1 * fig.dpi >= fig._suptitle.get_window_extent(r).y1 - 0.5
    fig, ax = plt.subplots(figsize=(7.5, 3.6))  # with no legend under the panel too (the accuracy chart)
    ax.plot([1, 2, 3, 4], [1.6, 0.7, 0.4, 0.0], label="2025-26")
    ax.set_ylabel("Forecast less outturn, % of outturn")
    report.titled(fig, ax, "Forecasts close in on the outturn through the year",
                  "Total forecast error at each quarter end, % of outturn; Synthetic County Council (synthetic data "
                  "calibrated to Derbyshire), 2019-20 to 2025-26")
    report.print_ready(fig)
    r = fig.canvas.get_renderer()
    assert "\n" in ax.get_ylabel()
    assert fig.get_tightbbox(r).y1 * fig.dpi >= fig._suptitle.get_window_extent(r).y1 - 0.5
    plt.close("all")


def test_a_legend_under_the_panel_clears_rotated_quarter_labels():
    quarters = [f"{y}-{(y + 1) % 100:02d} Q{q}" for y in (2023, 2024, 2025) for q in (1, 2, 3, 4)]
    fig, ax = plt.subplots(figsize=(8.5, 4))
    x = np.arange(len(quarters))
    ax.bar(x - 0.2, np.full(len(x), 110), width=0.4, label="Started care")
    for k, lab in enumerate(["Ceased: returned home", "Ceased: special guardianship order", "Ceased: adopted",
                             "Ceased: reached 18", "Ceased: other reasons (and any reason with fewer than 5)"]):
        ax.bar(x + 0.2, np.full(len(x), 20), bottom=20 * k, width=0.4, label=lab)
    ax.set_xticks(x, quarters, rotation=45, fontsize=7, ha="right")
    ax.set_ylabel("Children per quarter")
    ax.legend(frameon=False, fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    report.titled(fig, ax, "437 started care and 428 left in the last year", "Children starting and ceasing care")
    report.print_ready(fig)
    r = fig.canvas.get_renderer()
    ticks = [t for t in ax.get_xticklabels() if t.get_text()]
    assert [t.get_text() for t in ticks][:2] == ["Q1 2023-24", "Q2 2023-24"]
    legend = ax.get_legend().get_window_extent(r)
    assert all(legend.y1 <= t.get_window_extent(r).y0 for t in ticks)  # wholly below the lowest label
    height, width = fig.get_size_inches()[1] * fig.dpi, fig.get_size_inches()[0] * fig.dpi
    assert legend.y0 >= 0 and legend.y1 <= height and legend.x0 >= 0 and legend.x1 <= width
    assert ax.get_window_extent(r).width >= 0.7 * width  # a wide legend does not squeeze the panel
    crop = fig.get_tightbbox(r)  # what the saved picture keeps (in inches)
    assert crop.y0 * fig.dpi <= legend.y0 + 0.5 and crop.x0 * fig.dpi <= legend.x0 + 0.5
    # and the turned labels stay apart: at 45 degrees, labels one tick apart are dx * sin 45 apart across
    # their lines, which must be at least a line of text
    xs = [ax.transData.transform((x, 0))[0] for x in ax.get_xticks()]
    line_px = ticks[0].get_fontsize() * fig.dpi / 72
    assert min(b - a for a, b in zip(xs, xs[1:])) * np.sin(np.pi / 4) >= line_px
    plt.close("all")


def test_lines_are_never_told_apart_by_shade_alone():
    years = [f"{y}-{(y + 1) % 100:02d}" for y in range(2019, 2026)]
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    greys = plt.get_cmap("Greys")
    for i, y in enumerate(years):
        last = i == len(years) - 1
        ax.plot([1, 2, 3, 4], np.linspace(1.5 - 0.4 * i, 0, 4), marker="o",
                color="#12436D" if last else greys(0.35 + 0.5 * i / 7), linewidth=2 if last else 1, label=y)
    ax.legend(frameon=False, fontsize=7, ncol=4, loc="best")
    report.titled(fig, ax, "Forecasts close in on the outturn", "Total forecast error, % of outturn")
    report.print_ready(fig)
    styles = [(ln.get_linestyle(), ln.get_marker()) for ln in ax.get_lines() if not ln.get_label().startswith("_")]
    assert len(styles) == 7 and len({m for _, m in styles}) == 7 and len({s for s, _ in styles}) >= 4
    focus = [ln for ln in ax.get_lines() if ln.get_label() == "2025-26"][0]
    assert focus.get_linestyle() == "-"  # the line in focus stays solid
    keys = {t.get_text(): (h.get_linestyle(), h.get_marker())
            for h, t in zip(ax.get_legend().legend_handles, ax.get_legend().get_texts())}
    assert keys == {ln.get_label(): (ln.get_linestyle(), ln.get_marker()) for ln in ax.get_lines()}
    # lines already told apart by dashes are left as they are
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [1, 2, 3], "-", label="A")
    ax.plot([1, 2, 3], [2, 3, 4], "--", label="B")
    report.print_ready(fig)
    assert [(ln.get_linestyle(), ln.get_marker()) for ln in ax.get_lines()] == [("-", "None"), ("--", "None")]
    plt.close("all")


def test_a_fan_of_counts_is_fitted_to_its_data_and_says_so():
    months = pd.date_range("2021-10-31", periods=60, freq="ME")
    actual = 900 + np.arange(36) * 3.5
    fan_m = months[36:]
    median = np.full(24, actual[-1])
    fig, ax = plt.subplots(figsize=(8.5, 4))
    ax.plot(months[:36], actual, label="Actual (month end)")
    ax.fill_between(fan_m, median - np.linspace(20, 160, 24), median + np.linspace(20, 170, 24), label="80% range")
    ax.plot(fan_m, median, label="Projection used (median)")
    ax.set_ylabel("Children in care")
    report.titled(fig, ax, "Children in care projected at 1,023", "Children looked after at each month end")
    report.print_ready(fig)
    lo, hi = ax.get_ylim()
    data_lo, data_hi = min(actual.min(), (median - 160).min()), (median + 170).max()
    assert 0 < lo <= data_lo and hi >= data_hi and (data_hi - data_lo) / (hi - lo) > 0.75  # the data fill the panel
    notes = " ".join(t.get_text() for t in fig.texts)
    assert report.AXIS_BREAK_NOTE in " ".join(notes.split())
    assert sum(p.get_gid() == "axis-break" for p in ax.patches) == 1
    plt.close("all")


def test_a_target_range_is_in_the_chart_table():
    fig, ax = plt.subplots()
    ax.scatter(np.linspace(10, 25, 40), np.zeros(40))
    ax.scatter([17.6], [0], label="Testshire")
    ax.axvline(15.2, linestyle=":", label="England")
    ax.axvspan(15, 20, alpha=0.15, label="Target range")
    ax.set_xlabel("Number")
    df = report.chart_data(fig)
    got = {r["Series"]: r["Value"] for _, r in df.iterrows() if r["Category or date"] in ("(all)", "")}
    assert got["Target range"] == "15 to 20" and got["England"] == "15.2" and got["Testshire"] == "17.6"
    plt.close("all")
