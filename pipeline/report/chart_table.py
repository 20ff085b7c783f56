"""The numbers a chart draws, read back from the figure for the data table shown with it (screen readers,
and anyone who wants the figures). docs/print.md"""

from __future__ import annotations

import re

import matplotlib.artist
import pandas as pd

from pipeline.core.formatting import number
from pipeline.report.chart_fit import _RATE, _across


def _fmt(v: float, money: bool, whole: bool = False) -> str:
    if money:
        return f"{v:,.3f}"
    if whole:  # counts of children: whole numbers (a projection's 1,026.194 children is shown as 1,026)
        return number(v)
    return f"{v:,.3f}".rstrip("0").rstrip(".") if abs(v) < 1e15 else str(v)


def chart_data(fig) -> pd.DataFrame:
    """The numbers a chart draws, read back from the figure, for the data table shown with it: every bar
    (its category and value), every named line (each point) and every named band (its low and high at
    each point). Reference lines (targets, England) are given once. Read before the figure is closed."""
    import matplotlib.dates as mdates
    import numpy as np
    from matplotlib.category import StrCategoryFormatter
    from matplotlib.collections import PathCollection, PolyCollection
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
                near = int(np.argmin([abs(t - xf) for t in locs]))
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
