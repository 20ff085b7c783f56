"""The roll-up of a batch: ``index.html`` (every pack linked, a comparison table, the packs not built and
why), ``tables.xlsx`` (the comparison as numbers) and ``manifest.json`` (per authority: status, attempts,
timings, peak memory, error; versions).

The index is self-contained like the packs: styles inline, no script, nothing loaded from anywhere (a
Content-Security-Policy says so too); links are relative, to each pack in its own folder beside it.
"""

from __future__ import annotations

import html
import json
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from pipeline.build.manifest import version_label
from pipeline.core.paths import project_root
from pipeline.core.tables import TableStore

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

# (summary key, column heading in the index and the workbook, how the index prints it)
MEASURES = [
    ("year", "Year to 31 March", "text"),
    ("cla_rate_per_10k", "Children looked after per 10,000 children", "rate"),
    ("cla_rate_change", "Change on the year before (per 10,000)", "signed"),
    ("cla_number", "Children looked after", "count"),
    ("projection_next_year", "Projected children looked after next year", "count"),
    ("spend_per_child_in_care", "Spend per child in care (£)", "money"),
    ("spend_year", "Spend year", "text"),
]
# The bands shown in the index (all of them are in tables.xlsx): the first band whose measure contains each
# phrase; when no measure matches any phrase, the first KEY_COUNT measures given.
KEY_BANDS = ["children looked after per 10,000", "3 or more placements", "same placement for 2 years",
             "re-referrals", "initial child protection conferences", "social worker turnover"]
KEY_COUNT = 6
STYLE = """
:root { --blue: #12436D; --grey: #3D3D3D; --light: #f3f2f1; --rule: #b1b4b6; --red: #a0001e; }
html { font-family: Arial, "Helvetica Neue", Helvetica, sans-serif; font-size: 16px; color: #0b0c0c;
       line-height: 1.45; background: #fff; }
body { margin: 0 auto; max-width: 80rem; padding: 0 1.5rem 3rem; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: 1rem; background: #fd0; padding: .3rem; }
header { border-bottom: 6px solid var(--blue); padding: 1.5rem 0 1rem; margin-bottom: 1rem; }
h1 { font-size: 1.9rem; margin: .2rem 0 .8rem; color: var(--blue); }
h2 { font-size: 1.4rem; color: var(--blue); border-top: 2px solid var(--blue); padding-top: .8rem; margin-top: 2rem; }
.facts { display: flex; flex-wrap: wrap; gap: .4rem 2rem; margin: 0; }
.facts div { display: flex; gap: .4rem; }
.facts dt { font-weight: bold; }
.facts dd { margin: 0; }
.wrap { overflow-x: auto; }
table { border-collapse: collapse; margin: .8rem 0 .3rem; font-size: .9rem; width: 100%; }
caption { text-align: left; font-weight: bold; padding: .3rem 0; }
th, td { border-bottom: 1px solid var(--rule); padding: .35rem .5rem; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid var(--grey); vertical-align: bottom; font-size: .85rem; min-width: 6rem; max-width: 11rem; }
thead th.band { min-width: 10rem; }
.wrap:focus { outline: 3px solid #fd0; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
a { color: var(--blue); }
a:focus { outline: 3px solid #fd0; background: #fd0; }
.failed { border-left: 6px solid var(--red); padding-left: .8rem; }
.note { font-size: .85rem; color: var(--grey); }
@media print { body { max-width: none; padding: 0; } .skip { display: none; } a { color: inherit; } }
"""


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip())


def _fmt(v, kind: str) -> str:
    if _missing(v):
        return "not available"
    if kind == "text":
        return str(v)
    v = float(v)
    if kind == "rate":
        return f"{v:,.1f}"
    if kind == "signed":
        return "no change" if round(v, 1) == 0 else f"{'+' if v > 0 else '-'}{abs(v):,.1f}"
    if kind == "count":
        return f"{round(v):,}"
    if kind == "money":
        return f"£{round(v):,}"
    return str(v)


def measure_heading(key: str) -> str:
    """A band's measure as a column heading: the summary's own words, or ``snake_case`` made readable."""
    k = str(key)
    if re.fullmatch(r"[a-z0-9_]+", k):
        k = k.replace("_", " ")
        k = k[:1].upper() + k[1:]
    return k


def band_heading(key: str) -> str:
    return f"Quartile band: {measure_heading(key)}"


def band_measures(records: list[dict]) -> list[str]:
    """Every measure any built pack gives a band for, in the order they first appear."""
    seen: dict[str, None] = {}
    for r in records:
        for k in ((r.get("summary") or {}).get("bands") or {}):
            seen.setdefault(str(k), None)
    return list(seen)


def key_bands(measures: list[str]) -> list[str]:
    """The key measures among ``measures`` (see KEY_BANDS), in KEY_BANDS order."""
    chosen = []
    for phrase in KEY_BANDS:
        m = next((m for m in measures if phrase in m.lower() and m not in chosen), None)
        if m:
            chosen.append(m)
    return chosen or measures[:KEY_COUNT]


def comparison_frame(records: list[dict]) -> pd.DataFrame:
    """The comparison of the built packs, numbers as numbers (one row per authority built)."""
    bands = band_measures(records)
    rows = []
    for r in records:
        if r["status"] != "ok":
            continue
        s = r.get("summary") or {}
        row = {"Authority": r["name"], "Code": r["code"], "Old code": r["old_code"], "Region": r["region"]}
        for key, head, kind in MEASURES:
            v = s.get(key)
            row[head] = (None if _missing(v) else str(v)) if kind == "text" else (None if _missing(v) else float(v))
        b = s.get("bands") or {}
        for m in bands:
            row[band_heading(m)] = None if _missing(b.get(m)) else str(b.get(m))
        row["Pack"] = r["pack"]
        rows.append(row)
    cols = (["Authority", "Code", "Old code", "Region"] + [h for _, h, _ in MEASURES]
            + [band_heading(m) for m in bands] + ["Pack"])
    df = pd.DataFrame(rows, columns=cols)
    for _, head, kind in MEASURES:
        if kind != "text":
            df[head] = pd.to_numeric(df[head], errors="coerce").astype("float64")
    return df


def failed_frame(records: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{"Authority": r["name"], "Code": r["code"], "Region": r["region"],
                          "Reason": r.get("reason") or "not built", "Attempts": int(r.get("attempts") or 0)}
                         for r in records if r["status"] != "ok"],
                        columns=["Authority", "Code", "Region", "Reason", "Attempts"])


NUM = ' class="num"'


def _e(s) -> str:
    return html.escape(str(s), quote=True)


def index_html(result, version: str, when: datetime) -> str:
    """The index page: every pack linked, the comparison table, the packs not built with the reason."""
    records = result.records
    ok = [r for r in records if r["status"] == "ok"]
    bad = [r for r in records if r["status"] != "ok"]
    everything = band_measures(records)
    bands = key_bands(everything)
    day = f"{when.day} {when.strftime('%B')} {when.year}"
    out = ['<!DOCTYPE html>', '<html lang="en-GB">', '<head>', '<meta charset="utf-8">',
           f'<meta http-equiv="Content-Security-Policy" content="{_e(CSP)}">',
           '<meta name="referrer" content="no-referrer">',
           '<meta name="viewport" content="width=device-width, initial-scale=1.0">',
           f'<meta name="generator" content="{_e(version)}">',
           "<title>Children's services public-data packs: comparison of authorities</title>",
           f"<style>{STYLE}</style>", "</head>", "<body>",
           '<a class="skip" href="#main">Skip to the comparison</a>',
           '<header>', "<h1>Children's services public-data packs</h1>", '<dl class="facts">',
           f"<div><dt>Built</dt><dd>{_e(day)}</dd></div>",
           f"<div><dt>Packs</dt><dd>{len(ok):,} of {len(records):,} authorities built</dd></div>",
           f"<div><dt>Built with</dt><dd>{_e(version)}</dd></div>", "</dl>", "</header>", '<main id="main">']
    if bad:
        out.append(f'<p class="failed"><strong>{len(bad):,} {"pack was" if len(bad) == 1 else "packs were"} not built.</strong> '
                   '<a href="#not-built">See which, and why</a>.</p>')
    out += ['<h2 id="comparison">Comparison of authorities</h2>',
            "<p>Each authority's name links to its pack. Figures are from each pack's summary: the rate of children "
            "looked after per 10,000 children, its change on the year before, the number looked after, the "
            "projection for next year, looked-after spend per child in care, and the quartile band of key measures "
            "against all authorities in England.</p>"]
    if ok:
        heads = [h for _, h, _ in MEASURES] + [band_heading(m) for m in bands]
        def head_class(i: int) -> str:
            return (NUM if MEASURES[i][2] != "text" else "") if i < len(MEASURES) else ' class="band"'

        # the table scrolls sideways in a region a keyboard can reach and a screen reader names
        out += ['<div class="wrap" role="region" aria-labelledby="comparison-caption" tabindex="0">', '<table>',
                f'<caption id="comparison-caption">Children looked after, projection, spend and bands: {len(ok):,} '
                f"{'authority' if len(ok) == 1 else 'authorities'}</caption>",
                '<thead><tr><th scope="col">Authority</th><th scope="col">Region</th>'
                + "".join(f'<th scope="col"{head_class(i)}>{_e(h)}</th>' for i, h in enumerate(heads))
                + "</tr></thead>", "<tbody>"]
        for r in ok:
            s = r.get("summary") or {}
            cells = [f'<th scope="row"><a href="{_e(r["pack"])}">{_e(r["name"])}</a></th>', f"<td>{_e(r['region'])}</td>"]
            for key, _, kind in MEASURES:
                cells.append(f'<td{"" if kind == "text" else NUM}>{_e(_fmt(s.get(key), kind))}</td>')
            b = s.get("bands") or {}
            for m in bands:
                cells.append(f"<td>{_e(_fmt(b.get(m), 'text'))}</td>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        out += ["</tbody>", "</table>", "</div>",
                '<p class="note">Quartile bands compare the authority with all authorities in England: A is the best '
                "quarter where a lower or higher value is better; for rates per 10,000 children (demand) there is no "
                "better direction, so A is the lowest quarter. Rates and bands are for the latest published year (where an "
                "authority's figure for that year is not published, its pack shows its latest). "
                + (f"The bands of all {len(everything)} measures are in the workbook beside this page. "
                   if len(everything) > len(bands) else "")
                + "Not available: the published data give no figure for that authority and year.</p>"]
    else:
        out.append("<p>No pack was built.</p>")
    if bad:
        out += ['<h2 id="not-built">Packs not built</h2>', "<table>",
                f"<caption>Authorities whose pack was not built, and why: {len(bad):,}</caption>",
                '<thead><tr><th scope="col">Authority</th><th scope="col">Region</th><th scope="col">Reason</th>'
                '<th scope="col" class="num">Attempts</th></tr></thead>', "<tbody>"]
        for r in bad:
            out.append(f'<tr><th scope="row">{_e(r["name"])}</th><td>{_e(r["region"])}</td>'
                       f'<td>{_e(r.get("reason") or "not built")}</td><td class="num">{int(r.get("attempts") or 0)}</td></tr>')
        out += ["</tbody>", "</table>"]
    out += ["</main>", "</body>", "</html>", ""]
    return "\n".join(out)


def _write_xlsx(result, path: Path) -> None:
    """The comparison (numbers as numbers) and the packs not built, through the project's safe writer:
    no formula cells, text starting with = stored as text, fixed times so the same batch gives the same bytes."""
    with tempfile.TemporaryDirectory(prefix="cspack-batch-") as tmp:
        store = TableStore(Path(tmp))
        store.publish("comparison", comparison_frame(result.records),
                      "Children looked after, projection, spend and bands by authority", "Comparison")
        store.publish("not_built", failed_frame(result.records), "Authorities whose pack was not built, and why",
                      "Not built")
        store.write_xlsx(path, ["Comparison", "Not built"])


def manifest(result, version: str) -> dict:
    recs = result.records
    ok = [r for r in recs if r["status"] == "ok"]
    secs = [r["seconds"] for r in ok if r.get("seconds") is not None]
    return {
        "kind": "cspack batch",
        "version": version,
        "status": "ok" if not result.failed else "failed",
        "started": result.extra.get("started"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": result.seconds,
        "setup_seconds": result.setup_seconds,
        "data_seconds": result.data_seconds,
        "scheduler": result.scheduler,
        "workers": result.workers,
        "authorities": len(recs),
        "built": len(ok),
        "failed": len(recs) - len(ok),
        "pack_seconds_mean": round(sum(secs) / len(secs), 3) if secs else None,
        "versions": result.extra.get("versions", {}),
        "results": recs,
    }


def write_rollup(result, root: Path | None = None, when: datetime | None = None) -> dict[str, Path]:
    """Write ``index.html``, ``tables.xlsx`` and ``manifest.json`` into the batch's folder."""
    out = Path(result.out_dir)
    version = version_label(root or project_root())
    when = when or datetime.now(UTC)
    paths = {"index": out / "index.html", "tables": out / "tables.xlsx", "manifest": out / "manifest.json"}
    paths["index"].write_text(index_html(result, version, when), encoding="utf-8")
    _write_xlsx(result, paths["tables"])
    paths["manifest"].write_text(json.dumps(manifest(result, version), indent=1, default=str), encoding="utf-8")
    return paths
