"""Tables a notebook publishes: shown in the pack and written, one sheet each, to tables.xlsx."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
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

    def publish(self, name: str, df: pd.DataFrame, title: str, section: str, child_counts: list[str] | None = None,
                threshold: int = 5) -> str:
        """Publish ``df``. ``child_counts``: its columns that count children (from child-level data); the
        table is refused if any of them shows a count from 1 to ``threshold - 1`` (not suppressed), and is
        marked so the export checks it again."""
        slug = _slug(name)
        if child_counts:
            check_suppressed(df, child_counts, threshold, slug)
        self.dir.mkdir(parents=True, exist_ok=True)
        df.reset_index(drop=True).to_parquet(self.dir / f"{slug}.parquet", index=False)
        index = [e for e in self._index() if e["name"] != slug]
        entry = {"name": slug, "title": title, "section": section}
        if child_counts:
            entry.update(child_counts=list(child_counts), threshold=int(threshold))
        index.append(entry)
        (self.dir / INDEX).write_text(json.dumps(index, indent=1), encoding="utf-8")
        return slug

    def entries(self) -> list[dict]:
        return self._index()

    def check_disclosure(self) -> int:
        """Re-check every table marked as holding counts of children; returns how many were checked."""
        marked = [e for e in self.entries() if e.get("child_counts")]
        for e in marked:
            check_suppressed(self.load(e["name"]), e["child_counts"], e["threshold"], e["name"])
        return len(marked)

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
                text_safe(self.load(e["name"])).to_excel(xw, sheet_name=sheet, index=False)
            for ws in xw.book.worksheets:
                cells_as_text(ws)
            fixed = datetime(2000, 1, 1, tzinfo=UTC).replace(tzinfo=None)
            xw.book.properties.created = fixed
            xw.book.properties.modified = fixed
            xw.book.properties.creator = "cspack"
        normalise_zip(out)
        return sheets


# a cell whose text starts with one of these is read by spreadsheets as a formula when typed or re-entered
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_safe(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the control characters a workbook cannot hold (openpyxl refuses them) replaced by
    U+FFFD in every text cell and heading, so a stray byte in an input cannot stop the export."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    def clean(v):
        return ILLEGAL_CHARACTERS_RE.sub("\ufffd", v) if isinstance(v, str) else v

    out = df.copy()
    out.columns = [clean(c) for c in out.columns]
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].map(clean)
    return out


def cells_as_text(ws) -> int:
    """Every text cell of ``ws`` stored as text, never as a formula: openpyxl turns a string starting
    with ``=`` into a live formula (a commentary line, a deliverable's ``=HYPERLINK(...)``, the pack's own
    "= Unchanged"), so such cells are set back to text, and every text cell starting with a formula
    character is marked quote-prefixed so Excel keeps it as text when it is edited. Returns the number
    of cells changed."""
    n = 0
    for row in ws.iter_rows():
        for cell in row:
            if cell.data_type == "f":
                cell.data_type = "s"
            if cell.data_type == "s" and isinstance(cell.value, str) and cell.value.startswith(FORMULA_START):
                cell.quotePrefix = True
                n += 1
    return n


def normalise_zip(path: Path) -> None:
    """Rewrite a zip (an xlsx) with fixed entry timestamps and a fixed core.xml time, so the same
    tables give the same bytes on every build (openpyxl stamps the time of writing)."""
    import re
    import zipfile

    path = Path(path)
    with zipfile.ZipFile(path) as z:
        items = [(i, z.read(i.filename)) for i in z.infolist()]
    tmp = path.with_suffix(path.suffix + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for info, data in items:
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>2000-01-01T00:00:00Z", data)
            zi = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = info.external_attr
            z.writestr(zi, data)
    tmp.replace(path)


class DisclosureError(ValueError):
    """A table would publish a small count of children."""


def check_suppressed(df: pd.DataFrame, cols: list[str], threshold: int, name: str) -> None:
    """Raise if any of ``cols`` holds a count from 1 to ``threshold - 1``: every such count must have been
    replaced by the suppression marker (pipeline.report.disclosure) before publishing."""
    for c in cols:
        if c not in df:
            raise DisclosureError(f"table {name}: column {c!r}, declared as counting children, is missing")
        v = pd.to_numeric(df[c], errors="coerce")
        bad = v[(v > 0) & (v < threshold)]
        if len(bad):
            raise DisclosureError(f"table {name}: column {c!r} shows {len(bad)} count(s) of children from 1 to "
                                  f"{threshold - 1} (first at row {int(bad.index[0]) + 1}: {bad.iloc[0]:g}); small counts "
                                  "must be suppressed before publishing (pipeline.report.disclosure.suppress)")
