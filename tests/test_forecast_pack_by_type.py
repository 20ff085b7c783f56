"""The placement backtest by placement type (issue 15): each type's average error 12 months ahead for
no change, the Markov model and the forecast used (its total split by the cspack model's mix), recomputed
here in plain Python from a constructed backtest frame and from the built default pack's own rows; a
type with fewer children on average than the small-count threshold shows words, never a number; and the
pack's placements section carries the table."""

import html
import re
from decimal import ROUND_HALF_UP, Decimal
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from pipeline.core.params import load_params
from pipeline.ingest.ssda903 import CATEGORIES, CATEGORY_LABELS
from pipeline.placements.accuracy_by_type import accuracy_by_type
from pipeline.report.sections import placements_backtest as pbt


def _pct(x: float) -> str:
    """One decimal, halves rounded up, as reports print them."""
    return f"{Decimal(repr(float(x))).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP):,}%"


def _rows(table: str) -> dict[str, list[str]]:
    """A table's body rows: row header -> the cells' texts (attributes in any order, as the pack's HTML
    writes them)."""
    body = re.search(r"<tbody>(.*?)</tbody>", table, re.S).group(1)
    return {re.search(r"<th[^>]*>(.*?)</th>", tr, re.S).group(1): re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
            for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)}


def _frame(seed: int = 3, small: str = "secure", small_counts=(0, 4, 9, 2, 3, 1, 2, 4)) -> pd.DataFrame:
    """A backtest frame by placement type: 8 origins at 12 months (one with an empty model mix) and 8 at
    24 months with different numbers, every type large except ``small``."""
    rng = np.random.default_rng(seed)
    rows = []
    for h in (12, 24):
        for i in range(8):
            r = {"origin": pd.Timestamp(2023, 3, 31) + pd.offsets.QuarterEnd(i), "horizon": h}
            for j, c in enumerate(CATEGORIES):
                base = small_counts[i] if c == small else 20 + 10 * j
                r[f"cat_actual_{c}"] = float(base + (rng.integers(0, 6) if c != small else 0) + (h == 24) * 7)
                r[f"cat_naive_{c}"] = float(base + rng.integers(-4, 5))
                r[f"cat_markov_{c}"] = float(max(base + rng.integers(-6, 7), 0))
                r[f"cat_model_{c}"] = 0.0 if (h == 12 and i == 5) else float(max(base + rng.normal(0, 3), 0))
            r["actual"] = sum(r[f"cat_actual_{c}"] for c in CATEGORIES)
            r["used"] = r["actual"] + float(rng.integers(-15, 16))
            rows.append(r)
    return pd.DataFrame(rows)


def _plain(rows: pd.DataFrame, threshold: int) -> dict:
    """Plain Python: per type (and ``all``) the WAPE at 12 months of no change, Markov and the used total
    split by the model's mix; ``None`` for a type whose mean outcome is below ``threshold``."""
    g = [r for _, r in rows.iterrows() if r["horizon"] == 12]
    out = {}
    errs = {m: 0.0 for m in ("naive", "markov", "used")}
    total = 0.0
    for c in CATEGORIES:
        act = [r[f"cat_actual_{c}"] for r in g]
        e = {}
        for m in ("naive", "markov", "used"):
            s = 0.0
            for r in g:
                if m == "used":
                    mix_total = sum(r[f"cat_model_{k}"] for k in CATEGORIES)
                    f = r[f"cat_model_{c}"] / mix_total * r["used"] if mix_total else 0.0
                else:
                    f = r[f"cat_{m}_{c}"]
                s += abs(f - r[f"cat_actual_{c}"])
            e[m] = s
            errs[m] += s
        total += sum(act)
        out[c] = None if sum(act) / len(act) < threshold else {m: e[m] / sum(act) * 100 for m in e}
    out["all"] = {m: errs[m] / total * 100 for m in errs}
    return out


def test_accuracy_by_type_matches_a_plain_computation():
    rows = _frame()
    want = _plain(rows, 5)
    got = accuracy_by_type(rows, threshold=5, horizon=12).set_index("category")
    assert list(got.index) == CATEGORIES + ["all"]
    assert (got["origins"] == 8).all()
    for c, w in want.items():
        if w is None:
            continue
        assert got.at[c, "scored"]
        for m in ("naive", "markov", "used"):
            assert got.at[c, f"{m}_wape"] == pytest.approx(w[m]), (c, m)
    # the 24-month rows are different: another horizon gives other figures
    other = accuracy_by_type(rows, threshold=5, horizon=24).set_index("category")
    assert other.at["all", "naive_wape"] != pytest.approx(got.at["all", "naive_wape"])
    # no counts of children come back, only errors and the number of quarter ends
    assert not any("actual" in c or "children" in c for c in got.columns)


def test_a_small_type_is_not_scored_and_shows_words_not_numbers():
    rows = _frame()
    assert rows.loc[rows["horizon"] == 12, "cat_actual_secure"].mean() < 5  # the constructed small type
    a = accuracy_by_type(rows, threshold=5, horizon=12)
    small = a.set_index("category").loc["secure"]
    assert not small["scored"] and small[["naive_wape", "markov_wape", "model_wape", "used_wape"]].isna().all()
    assert a.set_index("category").drop(index="secure")["scored"].all()
    # its errors still count in the all-types row (the sum over every type)
    assert a.set_index("category").at["all", "naive_wape"] == pytest.approx(_plain(rows, 5)["all"]["naive"])
    # a higher threshold leaves more types unscored; a lower one scores the small type
    assert accuracy_by_type(rows, threshold=1, horizon=12).set_index("category").at["secure", "scored"]
    ctx = SimpleNamespace(params=SimpleNamespace(settings=SimpleNamespace(small_count_threshold=5)))
    lead, table = pbt.render_type_accuracy(ctx, a, total_wape=2.0,
                                           cost=pd.Series({"external_childrens_home": 9.0, "agency_fostering": 3.0,
                                                           "secure": 20.0}))
    page = html.unescape(table.data)
    row = _rows(page)["Secure children's homes"]
    cells = row
    assert cells[0] == "Too few children to measure" and not any(re.search(r"\d", c) for c in cells)
    assert "<caption>Backtest: average error by placement type, 12 months ahead (8 quarter ends tested)" in page
    text = lead.data
    assert "too few children on average (fewer than 5) to measure secure children's homes" in text
    # the types carrying most of the cost are named with their errors (the small type, unscored, is skipped)
    g = a.set_index("category")
    assert (f"On external children's homes and agency fostering, which carry most of the placement cost, it erred by "
            f"{_pct(g.at['external_childrens_home', 'used_wape'])} and {_pct(g.at['agency_fostering', 'used_wape'])}"
            in text)
    # no figure is tied to the small type in the words either
    assert "secure children's homes (" not in text and "secure children's homes and" not in text


def test_the_default_pack_shows_accuracy_by_type_recomputed_from_its_own_rows(built_pack):
    root, result = built_pack
    rows = pd.read_parquet(root / "data" / "processed" / result.quarter / "derived" / "placements" /
                           "backtest_by_type.parquet")
    g = rows[rows["horizon"] == 12]
    assert len(g) >= 3
    page = html.unescape((result.out_dir / "pack.html").read_text(encoding="utf-8"))
    m = re.search(r"<caption>Backtest: average error by placement type, 12 months ahead \((\d+) quarter ends tested\)"
                  r"</caption>(.*?)</table>", page, re.S)
    assert m and int(m.group(1)) == len(g)
    table = m.group(2)
    heads = re.findall(r"<th[^>]*scope=\"col\"[^>]*>(.*?)</th>", table)
    assert heads == ["Placement type", "Forecast used (its total split by the stock-flow model's mix) %", "No change %",
                     "Markov model %"]
    body = _rows(table)
    labels = {CATEGORY_LABELS[c]: c for c in CATEGORIES}
    assert set(body) == set(labels) | {"All types (each type's errors added up)"}
    threshold = load_params(result.quarter, root).settings.small_count_threshold
    errs, total = {"used": 0.0, "naive": 0.0, "markov": 0.0}, 0.0
    for label, cells in body.items():
        if label.startswith("All types"):
            continue
        c = labels[label]
        act = g[f"cat_actual_{c}"]
        mix = g[[f"cat_model_{k}" for k in CATEGORIES]].sum(axis=1)
        fc = {"used": (g[f"cat_model_{c}"] / mix * g["used"]).where(mix > 0, 0.0), "naive": g[f"cat_naive_{c}"],
              "markov": g[f"cat_markov_{c}"]}
        want = {k: (v - act).abs().sum() / act.sum() * 100 for k, v in fc.items()}
        for k in errs:
            errs[k] += (fc[k] - act).abs().sum()
        total += act.sum()
        if act.mean() < threshold:
            assert cells[0] == "Too few children to measure" and not any(re.search(r"\d", x) for x in cells), label
        else:
            assert cells == [_pct(want[k]) for k in ("used", "naive", "markov")], label
    assert body["All types (each type's errors added up)"] == [_pct(errs[k] / total * 100) for k in ("used", "naive", "markov")]
    assert "By placement type, 12 months ahead at " in page and "which carry most of the placement cost" in page
    # the counts by type stay out of the published backtest rows (small counts among them)
    published = pd.read_excel(result.out_dir / "tables.xlsx", sheet_name="placements_backtest", engine="openpyxl")
    assert not any(str(c).startswith("cat_") for c in published.columns)
