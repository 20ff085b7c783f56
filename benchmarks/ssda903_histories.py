"""Issue 13 measured as a new user would: each third-party SSDA903 history (and hostile layouts of them) is
laid out as data/raw/<name>/ssda903/<year>/ in a fresh temporary project, `cspack check --params ...` is run
as a separate process, and the children in care cspack keeps at each 31 March are compared with a count
written here in plain pandas from the files' own rows.

    PYTHONPATH=$PWD python benchmarks/ssda903_histories.py            # prints a Markdown table
    PYTHONPATH=$PWD python benchmarks/ssda903_histories.py hostile    # only the histories whose name has "hostile"

Histories: the DfE validator's fake 2017-18 return (CSV, and its XML submission), Social Finance's five-year
regional sample, the three-year "foreign" history derived from the validator data, and the hostile layouts of
tests/test_ssda903_hostile.py (2013-14 to 2016-17 in XML, Excel without leading zeros, system-named CSVs with
odd headings and folders; 2022-23 to 2025-26 with SEX written 1/2 after M/F came in)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.ingest import ssda903  # noqa: E402
from tests.test_ssda903_hostile import write_old_years, write_recent_years  # noqa: E402
from tests.test_ssda903_thirdparty import (  # noqa: E402
    FAKE,
    derive_history,
    foreign_files,
    in_care,
    independent_history,
    layout_sf,
)

PARAMS = """\
authority: Testshire County Council
authority_code: E99999999
portfolio: Children's Services
quarter: {quarter}
data_as_at: {as_at}
commentary: params/commentary/{quarter}.md
inputs:
  ssda903:
    path: data/raw/{name}/ssda903
    kind: ssda903
    source: "{name}"
"""


def fake(d: Path):
    (d / "2017-18").mkdir(parents=True)
    for t in ("episodes", "header", "uasc", "missing"):
        (d / "2017-18" / f"{t}.csv").write_bytes((FAKE / f"{t}.csv").read_bytes())
    e = pd.read_csv(FAKE / "episodes.csv", dtype=str, keep_default_na=False)
    return {"2017-18": set(e.loc[e["DEC"] == "", "CHILD"])}, None


def fake_xml(d: Path):
    import xml.etree.ElementTree as ET
    (d / "2017-18").mkdir(parents=True)
    (d / "2017-18" / "fake_903.xml").write_bytes((FAKE / "fake_903.xml").read_bytes())
    root = ET.parse(FAKE / "fake_903.xml").getroot()
    own = {c.findtext("HEADER/CHILDID") for c in root.iter("CHILD") for e in c.iter("EPISODE") if not e.findtext("DEC")}
    return {"2017-18": own}, None


def sf(d: Path):
    raw = layout_sf(d)
    own = {y: set(e.loc[e["DEC"] == "", "CHILD"]) for y, e in raw.items()}
    hist = independent_history(raw)
    return own, {y: in_care(hist, pd.Timestamp(int(y[:4]) + 1, 3, 31)) for y in raw}


def foreign(d: Path):
    eps, heads, truth = derive_history()
    foreign_files(d, eps, heads, np.random.default_rng(7))
    return truth, None


def old_years(d: Path):
    return write_old_years(d), None


def recent_years(d: Path):
    return write_recent_years(d), None


HISTORIES = [("validator fake 2017-18, CSV", fake), ("validator fake 2017-18, DfE XML", fake_xml),
             ("Social Finance regional sample 2017-18 to 2021-22", sf),
             ("foreign-style 2017-18 to 2019-20 (derived)", foreign),
             ("hostile 2013-14 to 2016-17: XML, Excel, system-named CSV, odd folders, old codes", old_years),
             ("hostile 2022-23 to 2025-26: K3, Z11-Z14, SEX 1/2 after M/F", recent_years)]


def run(label, build) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        proj = Path(tmp)
        for sub in ("params/commentary", "notebooks"):
            (proj / sub).mkdir(parents=True)
        d = proj / "data" / "raw" / "h" / "ssda903"
        d.mkdir(parents=True)
        own, hist = build(d)
        last = max(own)
        quarter = f"{last}-Q4"
        as_at = f"{int(last[:4]) + 1}-03-31"
        (proj / "params" / f"{quarter}.yaml").write_text(PARAMS.format(quarter=quarter, as_at=as_at, name="h"))
        (proj / "params" / "commentary" / f"{quarter}.md").write_text("# Commentary\n")
        env = {**os.environ, "CSPACK_ROOT": str(proj), "PYTHONPATH": str(ROOT)}
        p = subprocess.run([sys.executable, "-m", "pipeline.cli", "check", "--params", f"params/{quarter}.yaml"],
                           cwd=proj, env=env, capture_output=True, text=True)
        try:
            years, notes = ssda903.find_returns(d)
            m = ssda903.merge_returns({y: ssda903.read_return(p) for y, p in years.items()}, notes)
        except ValueError as exc:
            return {"history": label, "exit": p.returncode, "error": str(exc)}
    r = dict(zip(m["reconciliation"]["item"], m["reconciliation"]["count"]))
    t = m["tables"]
    per_year = []
    for y in sorted(own):
        got = in_care(m["episodes"], pd.Timestamp(int(y[:4]) + 1, 3, 31))
        per_year.append((y, len(got), len(own[y]), len(hist[y]) if hist else None, len(own[y] - got)))
    fail = [ln.strip() for ln in p.stdout.splitlines() if ln.strip()[:2] in ("1.", "2.", "3.") or "ERROR" in ln]
    return {"history": label, "exit": p.returncode, "rows": r["rows read (all returns)"],
            "quarantined": r["rows quarantined"], "header_rows": int(t.loc[t["table"] == "header", "rows_read"].sum()),
            "header_quarantined": int(t.loc[t["table"] == "header", "rows_quarantined"].sum()),
            "per_year": per_year, "why": fail[:3], "stderr": p.stderr.strip()[-300:]}


def main() -> None:
    print("| history | exit | episode rows quarantined | header rows quarantined | children in care at 31 March: "
          "kept / open in the year's own return / independent merged history (own-return children not kept) |")
    print("|---|---|---|---|---|")
    for label, build in HISTORIES:
        if len(sys.argv) > 1 and not any(a in label for a in sys.argv[1:]):
            continue
        x = run(label, build)
        if "error" in x:
            print(f"| {label} | {x['exit']} | not read: {x['error']} | | |")
            continue
        years = "; ".join(f"{y}: {k:,} / {o:,}" + (f" / {h:,}" if h is not None else "") + f" ({lost})"
                          for y, k, o, h, lost in x["per_year"])
        print(f"| {label} | {x['exit']} | {x['quarantined']:,} of {x['rows']:,} ({100 * x['quarantined'] / x['rows']:.2f}%) "
              f"| {x['header_quarantined']:,} of {x['header_rows']:,} | {years} |")
        for w in x["why"]:
            print(f"|  | why: {w[:220]} | | | |")
        if x["stderr"]:
            print(f"|  | stderr: {x['stderr']} | | | |")


if __name__ == "__main__":
    main()
