"""England's children's services authorities, from DfE's own files: the 153 in DfE's 2025 statistical
neighbour model, with their current ONS codes and regions from DfE's 2025 children looked after file.

``match`` finds one from an old (three-digit DfE) code, a new (nine-character ONS) code or its name, forgiving
case, punctuation, "&" for "and", "County Council", "City of" and the like; an unknown one raises
``UnknownAuthority`` naming the nearest names. ``select`` reads a batch's list: "all", a region, or codes
and names separated by commas.

Boundary changes (Bournemouth, Christchurch and Poole and Dorset in 2019, North and West Northamptonshire in
2021, Cumberland and Westmorland and Furness in 2023) are carried as a note on the authority; its series are
never joined to its predecessors'."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from pipeline.core.paths import project_root

SN_FILE = Path("data/raw/published/dfe/sn_model_2025_wide.csv")
CLA_FILE = Path("data/raw/published/dfe/cla_number_and_rate_per_10k_children.csv")

BOUNDARY_NOTES = {
    "E06000058": ("Created 1 April 2019 from Bournemouth, Poole and Christchurch (part of Dorset county); figures "
                  "before 31 March 2020 are for the former councils and are not combined with its own"),
    "E06000059": ("Created 1 April 2019 from Dorset county less Christchurch; figures before 31 March 2020 are for "
                  "the former county and are not combined with its own"),
    "E06000061": ("Created 1 April 2021 from part of Northamptonshire; figures before 31 March 2022 are for the "
                  "former county and are not combined with its own"),
    "E06000062": ("Created 1 April 2021 from part of Northamptonshire; figures before 31 March 2022 are for the "
                  "former county and are not combined with its own"),
    "E06000063": ("Created 1 April 2023 from part of Cumbria; figures before 31 March 2024 are for the former "
                  "county and are not combined with its own"),
    "E06000064": ("Created 1 April 2023 from part of Cumbria; figures before 31 March 2024 are for the former "
                  "county and are not combined with its own"),
}
# the predecessor authorities whose figures a boundary note refers to (new code -> predecessor new codes)
PREDECESSORS = {
    "E06000058": ("E06000028", "E06000029"), "E06000059": ("E10000009",),
    "E06000061": ("E10000021",), "E06000062": ("E10000021",),
    "E06000063": ("E10000006",), "E06000064": ("E10000006",),
}
# common short names not reachable by the normalisation below
ALIASES = {"hull": "810", "bcp": "839", "bournemouth christchurch poole": "839", "durham": "840",
           "bristol": "801", "herefordshire": "884", "st helens": "342", "saint helens": "342",
           "windsor and maidenhead": "868", "kensington and chelsea": "207", "kingston": "314",
           "richmond": "318", "southend": "882"}
# DfE splits London into two regions in its files; a batch may name either or all of London
SUB_REGIONS = {"inner london": "London", "outer london": "London"}


class UnknownAuthority(LookupError):
    """No authority matches ``query``; ``nearest`` holds the closest names."""

    def __init__(self, query: str, nearest: list[str]):
        self.query, self.nearest = query, list(nearest)
        super().__init__(query, nearest)

    def __str__(self) -> str:
        near = "; ".join(self.nearest) if self.nearest else "none close"
        return (f"No children's services authority matches {self.query!r}. Nearest names: {near}. "
                "Give a name, a three-digit DfE code (such as 383) or a nine-character code (such as E08000035).")


@dataclass(frozen=True)
class Authority:
    code: str           # current ONS code, E06/E08/E09/E10 followed by six digits
    old_code: str       # DfE's three-digit local authority code
    name: str
    region: str         # one of England's nine regions (London whole)
    boundary_note: str | None = None

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


_DROP = re.compile(r"\b(metropolitan district council|district council|metropolitan borough council|metropolitan borough|borough council|county council|city council|"
                   r"council|royal borough of|london borough of|borough of|city and county of|city of|county of|"
                   r"the|mbc|cc)\b")


def _norm(text: str) -> str:
    t = str(text).lower().replace("&", " and ").replace("st.", "st ").replace("northants", "northamptonshire")
    t = re.sub(r"[^a-z0-9 ]+", " ", t)
    return " ".join(t.split())


def _short(text: str) -> str:
    t = _norm(text)
    if t in ("city of london", "london"):
        return t
    t = _DROP.sub(" ", t)
    t = re.sub(r"\bcounty\b", " ", t)
    return " ".join(t.split())


@lru_cache(maxsize=4)
def _load(root: str) -> tuple[Authority, ...]:
    r = Path(root)
    sn = pd.read_csv(r / SN_FILE, dtype=str, encoding="utf-8-sig")
    cla = pd.read_csv(r / CLA_FILE, dtype=str, encoding="utf-8-sig")
    las = cla[cla["geographic_level"] == "Local authority"].sort_values("time_period", ascending=False)
    las = las.drop_duplicates("old_la_code").set_index("old_la_code")
    out = []
    for _, row in sn.iterrows():
        old = str(row["old_la_code"]).strip()
        if old not in las.index:
            raise ValueError(f"{SN_FILE.name}: authority {row['la_name']} ({old}) has no row in {CLA_FILE.name}; "
                             "expected every authority in the neighbour model to be in the children looked after file")
        code = str(las.loc[old, "new_la_code"])
        out.append(Authority(code, old, str(row["la_name"]).strip(), str(row["region_name"]).strip(),
                             BOUNDARY_NOTES.get(code)))
    return tuple(sorted(out, key=lambda a: a.name))


def all_authorities(root: Path | None = None) -> list[Authority]:
    """The current children's services authorities (153), by name."""
    return list(_load(str((root or project_root()).resolve())))


def regions(root: Path | None = None) -> list[str]:
    return sorted({a.region for a in all_authorities(root)})


def match(query: str, root: Path | None = None) -> Authority:
    """The authority ``query`` names (old code, new code or name, forgivingly); ``UnknownAuthority`` if none."""
    if isinstance(query, Authority):
        return query
    auths = all_authorities(root)
    q = str(query).strip()
    by_old = {a.old_code: a for a in auths}
    by_code = {a.code.upper(): a for a in auths}
    if q in by_old:
        return by_old[q]
    if q.upper() in by_code:
        return by_code[q.upper()]
    full = {_norm(a.name): a for a in auths}
    short = {_short(a.name): a for a in auths}
    for key, table in ((_norm(q), full), (_short(q), short), (_short(q), full)):
        if key in table:
            return table[key]
    for key in (_norm(q), _short(q)):
        if key in ALIASES:
            return by_old[ALIASES[key]]
    # a unique authority whose name contains the query's words ("Telford" -> Telford and Wrekin)
    words = _short(q)
    if len(words) >= 4:
        hits = [a for k, a in short.items() if re.search(rf"\b{re.escape(words)}\b", k)]
        if len(hits) == 1:
            return hits[0]
    raise UnknownAuthority(str(query), nearest(str(query), root))


def nearest(query: str, root: Path | None = None, n: int = 5) -> list[str]:
    auths = all_authorities(root)
    keys = {_short(a.name): a.name for a in auths}
    near = difflib.get_close_matches(_short(query), list(keys), n=n, cutoff=0.5)
    if not near:
        near = difflib.get_close_matches(_short(query), list(keys), n=n, cutoff=0.3)
    return [keys[k] for k in near]


def _region_part(part: str, root: Path | None) -> list[Authority] | None:
    """The authorities of the region ``part`` names (a region, "Inner London" / "Outer London", or a word
    that starts exactly one region's name, such as "Yorkshire"), else None."""
    auths = all_authorities(root)
    key = _norm(part)
    regs = {_norm(r): r for r in regions(root)}
    if key in SUB_REGIONS:
        inner = _inner_london(root)
        want = key == "inner london"
        return [a for a in auths if a.region == "London" and (a.old_code in inner) == want]
    hits = [r for k, r in regs.items() if k == key] or [r for k, r in regs.items() if len(key) >= 4 and k.startswith(key)]
    if len(hits) == 1:
        return [a for a in auths if a.region == hits[0]]
    return None


def select(spec: str, root: Path | None = None) -> list[Authority]:
    """"all", regions ("East Midlands", "London", "Yorkshire"; DfE's "Inner London" and "Outer London" give
    London's authorities in that part), or codes and names, separated by commas ("North East, Leeds, 830").
    Unknown names raise ``UnknownAuthority``; each authority is given once, in the order named."""
    auths = all_authorities(root)
    s = str(spec).strip()
    if _norm(s) in ("all", "england", "all authorities"):
        return auths
    out: list[Authority] = []
    for part in [p.strip() for p in s.split(",") if p.strip()]:
        found = _region_part(part, root)
        for a in found if found is not None else [match(part, root)]:
            if a not in out:
                out.append(a)
    if not out:
        raise UnknownAuthority(spec, [])
    return out


@lru_cache(maxsize=4)
def _inner_london_cached(root: str) -> frozenset[str]:
    cla = pd.read_csv(Path(root) / CLA_FILE, dtype=str, encoding="utf-8-sig", usecols=["region_name", "old_la_code"])
    return frozenset(cla.loc[cla["region_name"] == "Inner London", "old_la_code"].dropna())


def _inner_london(root: Path | None) -> frozenset[str]:
    return _inner_london_cached(str((root or project_root()).resolve()))
