"""Tables a notebook publishes: shown in the pack and written, one sheet each, to tables.xlsx."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

INDEX = "index.json"


def _slug(name: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not s:
        raise ValueError(f"table name {name!r} has no letters or digits")
    return s


class TableStore:
    """Tables live in ``<work_dir>/tables/<name>.parquet`` (types kept, so numbers stay numbers in
    tables.xlsx) with an index of titles and order."""

    def __init__(self, work_dir: Path):
        self.dir = Path(work_dir) / "tables"

    def _index(self) -> list[dict]:
        p = self.dir / INDEX
        return json.loads(p.read_text(encoding="utf-8")) if p.exists() else []

    def publish(self, name: str, df: pd.DataFrame, title: str, section: str) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        slug = _slug(name)
        df.reset_index(drop=True).to_parquet(self.dir / f"{slug}.parquet", index=False)
        index = [e for e in self._index() if e["name"] != slug]
        index.append({"name": slug, "title": title, "section": section})
        (self.dir / INDEX).write_text(json.dumps(index, indent=1), encoding="utf-8")
        return slug

    def entries(self) -> list[dict]:
        return self._index()

    def load(self, name: str) -> pd.DataFrame:
        return pd.read_parquet(self.dir / f"{_slug(name)}.parquet")

    def write_xlsx(self, out: Path, sheet_order: list[str] | None = None) -> list[str]:
        """One sheet per table, numbers as numbers; a contents sheet lists titles. Returns sheet names."""
        entries = self.entries()
        if sheet_order:
            rank = {s: i for i, s in enumerate(sheet_order)}
            entries = sorted(entries, key=lambda e: rank.get(e["section"], len(rank)))
        sheets = []
        contents = []
        with pd.ExcelWriter(out, engine="openpyxl") as xw:
            used = set()
            for e in entries:
                sheet = e["name"][:31]
                n = 2
                while sheet in used:
                    sheet = f"{e['name'][:28]}_{n}"
                    n += 1
                used.add(sheet)
                contents.append({"sheet": sheet, "title": e["title"], "section": e["section"]})
                sheets.append(sheet)
            pd.DataFrame(contents, columns=["sheet", "title", "section"]).to_excel(xw, sheet_name="contents", index=False)
            for e, sheet in zip(entries, sheets):
                self.load(e["name"]).to_excel(xw, sheet_name=sheet, index=False)
        return sheets
