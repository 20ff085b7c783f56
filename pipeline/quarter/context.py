"""A quarter's working context: its params, its prepared inputs in ``data/processed/<quarter>/``,
the tables it publishes and the analyst's commentary. Every notebook starts with ``open_quarter``."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.core.params import MAX_COMMENTARY_BYTES, QuarterParams, load_params, settings_findings
from pipeline.core.paths import processed_dir, project_root
from pipeline.core.tables import TableStore
from pipeline.ingest import pseudonymise
from pipeline.ingest.schemas import read_table
from pipeline.quarter import prepare
from pipeline.quarter.prepare import SCHEMA_OF


@dataclass
class QuarterContext:
    """A quarter's params, its work folder and what has been computed from them in this run.

    ``cache`` is the one place a computation keeps its result for the rest of the run (the budget view,
    the placement bundle, the DfE files read, ...), keyed by a name its module declares; use ``cached``.
    A new ``open_quarter`` starts with an empty cache. Nothing else is set on a context after it is made."""

    params: QuarterParams
    root: Path
    work_dir: Path
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    def cached(self, key: str, compute):
        """``compute()``, computed once per context under ``key`` (a result of None is kept too)."""
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]

    @property
    def quarter(self):
        return self.params.quarter

    @property
    def pseudonym_key(self) -> bytes:
        """The secret key for pseudonymising child-level tables (read once; see pipeline.ingest.pseudonymise)."""
        return self.cached("pseudonym_key", lambda: pseudonymise.load_key(self.root))

    @property
    def tables(self) -> TableStore:
        return TableStore(self.work_dir)

    # ---- preparation (pipeline.quarter.prepare) -----------------------------------------------
    def prepare(self) -> pd.DataFrame:
        """Read, hash, count and validate every input; write typed tables, the quarantine, the
        register and the quality findings into the work folder. Returns the register."""
        return prepare.prepare_inputs(self)

    def is_prepared(self) -> bool:
        """True when the work folder holds a preparation of exactly the current input files, made by
        the current preparation code."""
        return prepare.is_prepared(self)

    def ensure_prepared(self) -> None:
        if not self.is_prepared():
            self.prepare()

    # ---- reading prepared data ---------------------------------------------------------------
    def table(self, key: str) -> pd.DataFrame:
        """A typed, validated input table (quarantined rows removed and counted in the register)."""
        p = self.work_dir / "inputs" / f"{key}.parquet"
        if not p.exists():
            have = ", ".join(sorted(x.stem for x in (self.work_dir / "inputs").glob("*.parquet")))
            raise KeyError(f"no prepared input '{key}' for {self.quarter.label} (prepared: {have}); "
                           f"is it named under 'inputs' in {self.params.path.name}?")
        return read_table(p, self._schema_of(key))

    def _schema_of(self, key: str) -> str:
        spec = self.params.inputs.get(key) or self.params.inputs.get(key.rsplit("_", 1)[0])
        if spec is not None and spec.kind == "ledger":
            return "ledger"
        if spec is not None and spec.kind == "ssda903":
            return "ssda903_" + key.rsplit("_", 1)[1]
        for k, s in self.params.inputs.items():
            if s.kind == "returns_history" and key.startswith(k + "_"):
                return "history_" + key[len(k) + 1:]
        return SCHEMA_OF.get(key, key)

    def register(self) -> pd.DataFrame:
        return read_table(self.work_dir / "register.parquet", "register")

    def findings(self) -> pd.DataFrame:
        """The quality findings of the preparation, and those the params call for (params.settings_findings:
        read from the params each time, so a changed setting is never missed by a cached preparation)."""

        f = read_table(self.work_dir / "findings.parquet", "findings")
        extra = settings_findings(self.params)
        return pd.concat([f, pd.DataFrame(extra, columns=f.columns)], ignore_index=True) if extra else f

    def quarantine(self) -> pd.DataFrame:
        return read_table(self.work_dir / "quarantine.parquet", "quarantine")

    def publish(self, name: str, df: pd.DataFrame, title: str, section: str, child_counts: list[str] | None = None) -> str:
        """Publish a table to the pack's tables.xlsx. ``child_counts`` names the columns counting children:
        they are checked for unsuppressed small counts (settings.small_count_threshold)."""
        return self.tables.publish(name, df, title, section, child_counts,
                                   self.params.settings.small_count_threshold)

    # ---- commentary --------------------------------------------------------------------------
    def commentary(self, section: str) -> str:
        """The analyst's commentary for a section (``## Section`` in the quarter's commentary file),
        as Markdown with any HTML escaped. Blank when the analyst wrote nothing."""
        sections = read_commentary(self.params.commentary)
        return html.escape(sections.get(section.strip().lower(), "").strip(), quote=False)


class CommentaryError(ValueError):
    """A commentary file that cannot be read (too large, not a regular file, not UTF-8)."""


_COMMENTARY_CACHE: dict = {}


def read_commentary(path: Path) -> dict[str, str]:
    """The sections of a commentary file (see ``split_commentary``), read once per version of the file.
    Only a regular file of at most ``params.MAX_COMMENTARY_BYTES`` is read (params checks it too; this
    guards a file changed since)."""
    import os
    import stat

    path = Path(path)
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise CommentaryError(f"commentary {path} is not a regular file: only regular files are read")
    if st.st_size > MAX_COMMENTARY_BYTES:
        raise CommentaryError(f"commentary {path} is {st.st_size:,} bytes, more than the {MAX_COMMENTARY_BYTES:,} "
                              "a commentary file may hold")
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _COMMENTARY_CACHE:
        with open(path, "rb") as fh:
            data = fh.read(MAX_COMMENTARY_BYTES + 1)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CommentaryError(f"commentary {path}: not UTF-8 text at byte {exc.start}") from None
        _COMMENTARY_CACHE.clear()
        _COMMENTARY_CACHE[key] = split_commentary(text)
    return _COMMENTARY_CACHE[key]


def split_commentary(text: str) -> dict[str, str]:
    """``## Heading`` sections of a commentary file, keyed by the heading in lower case, each the
    lines under it (HTML comment lines left out). Linear in the length of the text: lines are gathered
    in lists and joined once (appending to a string held in a dict copies it every time), and headings
    are recognised without a backtracking pattern."""
    parts: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("##") and line[2:3].isspace() and line[2:].strip():
            current = line[2:].strip().lower()
            parts[current] = []  # a repeated heading starts its section again, as before
        elif current is not None and not line.lstrip().startswith("<!--"):
            parts[current].append(line)
    return {k: "".join(x + "\n" for x in v) for k, v in parts.items()}


def open_quarter(quarter: str = "", work_dir: str = "", root: Path | None = None,
                 params_file: str = "") -> QuarterContext:
    """The context for a quarter (blank: the latest params file). ``work_dir`` blank means
    ``data/processed/<quarter>``; the runner passes a staging folder instead. ``params_file`` names
    the params file when it is not the one in ``params/`` named for the quarter."""
    root = root or project_root()
    params = load_params(quarter or None, root, path=params_file or None)
    wd = Path(work_dir) if work_dir else processed_dir(root) / params.quarter.label
    if not wd.is_absolute():
        wd = root / wd
    wd.mkdir(parents=True, exist_ok=True)
    ctx = QuarterContext(params=params, root=root, work_dir=wd)
    ctx.ensure_prepared()
    return ctx
