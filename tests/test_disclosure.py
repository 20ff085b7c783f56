"""No child-level data leaves the pipeline: every output file of the default pack is scanned for every
child identifier, UPN and date of birth present in the raw SSDA903 inputs."""

import re
import zipfile
from pathlib import Path

import pandas as pd

from .conftest import ROOT

DATA_URI = re.compile(rb"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+")


def _identifiers() -> dict[str, set[str]]:
    ids, upns, dobs = set(), set(), set()
    for f in (ROOT / "data" / "raw" / "synthetic" / "ssda903").rglob("*.csv"):
        d = pd.read_csv(f, dtype=str, keep_default_na=False)
        ids |= set(d["CHILD"])
        if "UPN" in d:
            upns |= {u for u in d["UPN"] if u}
        if "DOB" in d:
            dobs |= {x for x in d["DOB"] if x}
    return {"CHILD": ids, "UPN": upns, "DOB": dobs}


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
    assert len(ids["CHILD"]) > 1000 and len(ids["UPN"]) > 1000
    patterns = {k: re.compile(rb"(?<![0-9A-Za-z])(" + b"|".join(re.escape(v.encode()) for v in sorted(vals)) + rb")(?![0-9A-Za-z])")
                for k, vals in ids.items()}
    hits = []
    for name, data in _texts(result.out_dir):
        for kind, pat in patterns.items():
            m = pat.search(data)
            if m:
                hits.append((name, kind, m.group(1).decode()))
    assert hits == []
