"""No child-level data leaves the pipeline: every output file of the default pack is scanned for every
child identifier, UPN, date of birth and postcode present in the raw SSDA903 inputs; and the processed
folder itself holds pseudonyms only (a lost data/processed/ does not identify a child)."""

import re
import zipfile
from pathlib import Path

import pandas as pd

from .conftest import ROOT

DATA_URI = re.compile(rb"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+")


def _identifiers() -> dict[str, set[str]]:
    ids, upns, dobs, posts = set(), set(), set(), set()
    for f in (ROOT / "data" / "raw" / "synthetic" / "ssda903").rglob("*.csv"):
        d = pd.read_csv(f, dtype=str, keep_default_na=False)
        ids |= set(d["CHILD"])
        if "UPN" in d:
            upns |= {u for u in d["UPN"] if u}
        if "DOB" in d:
            dobs |= {x for x in d["DOB"] if x}
        for c in ("HOME_POST", "PL_POST"):
            if c in d:
                posts |= {x for x in d[c] if x and x != "XXXXXXX"}
    return {"CHILD": ids, "UPN": upns, "DOB": dobs, "POSTCODE": posts}


def _texts(out: Path):
    for f in sorted(out.rglob("*")):
        if not f.is_file():
            continue
        if f.suffix == ".xlsx":
            with zipfile.ZipFile(f) as z:
                for n in z.namelist():
                    yield f"{f.name}:{n}", z.read(n)
        else:
            yield f.name, DATA_URI.sub(b"", f.read_bytes())  # embedded chart images are pixels, not text


def test_no_identifier_in_any_output_file(built_pack):
    _, result = built_pack
    ids = _identifiers()
    assert len(ids["CHILD"]) > 1000 and len(ids["UPN"]) > 1000 and len(ids["POSTCODE"]) > 20
    patterns = {k: re.compile(rb"(?<![0-9A-Za-z])(" + b"|".join(re.escape(v.encode()) for v in sorted(vals)) + rb")(?![0-9A-Za-z])")
                for k, vals in ids.items()}
    hits = []
    for name, data in _texts(result.out_dir):
        for kind, pat in patterns.items():
            m = pat.search(data)
            if m:
                hits.append((name, kind, m.group(1).decode()))
    assert hits == []


def test_processed_folder_holds_pseudonyms_only(built_pack):
    """Every table in the quarter's processed folder: no raw child code or UPN in any cell, no UPN
    column, dates of birth on the first of a month, postcodes no finer than a sector; and no text file
    there carries a raw code, UPN or date of birth."""
    root, result = built_pack
    work = root / "data" / "processed" / result.quarter
    ids = _identifiers()
    raw_codes = ids["CHILD"] | ids["UPN"]
    dob_pat = re.compile(rb"(?<![0-9])(" + b"|".join(re.escape(v.encode()) for v in sorted(ids["DOB"])) + rb")(?![0-9])")
    seen_episodes = False
    for f in sorted(work.rglob("*")):
        if f.suffix == ".parquet":
            t = pd.read_parquet(f)
            assert "UPN" not in t.columns, f
            for c in t.columns:
                if t[c].dtype == object:
                    leaked = set(t[c].dropna().astype(str)) & raw_codes
                    assert not leaked, (f, c, sorted(leaked)[:3])
                if c in ("DOB", "MC_DOB"):
                    assert (pd.to_datetime(t[c]).dropna().dt.day == 1).all(), (f, c)
                if c in ("HOME_POST", "PL_POST"):
                    assert t[c].fillna("").str.fullmatch(r"([A-Z]{1,2}[0-9][A-Z0-9]?( [0-9])?)?").all(), (f, c)
            if f.name.endswith("ssda903_episodes.parquet"):
                seen_episodes = True
                assert t["CHILD"].str.fullmatch(r"[0-9a-f]{20}").all()
        elif f.is_file():
            data = f.read_bytes()
            tokens = set(re.findall(rb"[0-9A-Za-z]+", data))
            assert not ({c.encode() for c in raw_codes} & tokens), f
            assert not dob_pat.search(data), f
    assert seen_episodes
