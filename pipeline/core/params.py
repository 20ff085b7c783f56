"""One YAML file per quarter in ``params/`` names the authority, the quarter, the inputs and the
analyst's commentary. Loading it validates every field and names the file and key on error."""

from __future__ import annotations

import difflib
import math
import os
import re
import stat
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path

import yaml

from pipeline.core.paths import params_dir, project_root, shown_path
from pipeline.core.quarters import Quarter, QuarterError


class ParamsError(ValueError):
    """A params file that is missing, unreadable or wrong; the message names the file and key."""


@dataclass(frozen=True)
class InputSpec:
    key: str
    path: Path  # absolute
    rel_path: str  # as written in the params file, relative to the project root
    description: str
    source: str
    synthetic: bool
    group: str = "Other inputs"  # how the data overview groups inputs
    kind: str = ""  # "ledger" (a file, or a folder of ledger_* files), "ssda903" (a folder of yearly
    # returns), "returns_history" (a folder of quarter folders of returns), or "" for a table


def _setting(default, accepts, doc: str):
    """A field of ``Settings``: its default, the YAML types it accepts (checked by ``load_params``) and what
    it means."""
    return field(default=default, metadata={"accepts": accepts, "doc": doc})


NUMBER = (int, float)


@dataclass
class Settings:
    """The ``settings:`` of a params file, every key declared here once with its type and default. A key the
    file does not give (or gives as blank text) takes the default; an unknown key is refused by
    ``load_params``. Read as attributes: ``ctx.params.settings.small_count_threshold``."""

    small_count_threshold: int = _setting(
        5, int, "counts of children below this are suppressed in tables.xlsx and the pack (DfE uses 5)")
    allow_small_count_threshold: bool = _setting(
        False, bool, "true allows a small-count threshold below MIN_SMALL_COUNT_THRESHOLD (the pack then warns)")
    material_variance_gbpm: float = _setting(0.1, NUMBER, "a line's variance is material from this many £m ...")
    material_variance_pct: float = _setting(2.0, NUMBER, "... and this percentage of its budget")
    projected_lines: tuple[str, ...] = _setting(
        (), list, "service lines projected from this year's spending instead of the budget holder's forecast")
    placements_line: str = _setting("placements", str, "the budget line the placement projection forecasts")
    placement_inflation: float = _setting(0.03, NUMBER, "yearly inflation of placement unit costs")
    placement_paths: int = _setting(1000, int, "simulated paths of the placement model")
    placement_seed: int = _setting(2026, int, "random seed of the placement model")
    placements_forecast: str = _setting(
        "model", str, "the placements line's forecast in the budget total: model (the projection: at each horizon "
                      "the forecast its own backtest found best, see docs/forecast.md) or budget_holder")
    benchmark_authority: str = _setting("", str, "the DfE code or name benchmarked (blank: the authority_code)")
    rating_basis: str = _setting("relative", str, "how measures are rated against target: relative or points")
    synthetic_calibration: str = _setting("", str, "what the synthetic authority was calibrated to (said in the pack)")
    measure_grouping: str = _setting("outcome", str, "the catalogue column measures are grouped by")
    max_quarantine_pct: float = _setting(5.0, NUMBER, "cspack check fails when an input quarantines more rows")

    @classmethod
    def from_mapping(cls, given: dict) -> Settings:
        """Settings from a checked ``settings:`` mapping (``_check_setting``); lists become tuples."""
        known = {f.name for f in fields(cls)}
        unknown = set(given) - known
        if unknown:
            raise ParamsError(f"unknown setting(s) {', '.join(sorted(map(str, unknown)))}")
        kept = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items()
                if not (isinstance(v, str) and not v.strip())}
        return cls(**kept)


# the type(s) each setting accepts in the YAML, from Settings
SETTINGS: dict[str, type | tuple] = {f.name: f.metadata["accepts"] for f in fields(Settings)}


@dataclass(frozen=True)
class QuarterParams:
    path: Path
    authority: str
    authority_code: str
    portfolio: str
    quarter: Quarter
    data_as_at: date
    inputs: dict[str, InputSpec]
    commentary: Path
    settings: Settings = field(default_factory=Settings)
    allow_stale: tuple = ()  # inputs that may stop before the quarter (pipeline/freshness.py)

    @property
    def any_synthetic(self) -> bool:
        return any(s.synthetic for s in self.inputs.values())


KINDS = ("", "ledger", "ssda903", "returns_history")
OPTIONAL = ("settings", "allow_stale")
INPUT_KEYS = ("path", "kind", "group", "description", "source", "synthetic", "allow_outside_project")
# list settings: the type of every element and the most elements allowed
LIST_SETTINGS: dict[str, tuple[type, int]] = {"projected_lines": (str, 200)}
# number settings with a range (inclusive); small_count_threshold's floor is MIN_SMALL_COUNT_THRESHOLD
# unless allow_small_count_threshold is true
SETTING_RANGES: dict[str, tuple[float, float]] = {
    "small_count_threshold": (1, 1000), "material_variance_gbpm": (0, 1e6), "material_variance_pct": (0, 1000),
    "placement_inflation": (-0.5, 1.0), "placement_paths": (1, 100_000), "placement_seed": (0, 2**32 - 1),
}
MAX_TEXT_SETTING = 500  # characters in a text setting
MIN_SMALL_COUNT_THRESHOLD = 3  # DfE suppresses counts below 5; below 3 needs an explicit override
MAX_PARAMS_BYTES = 1_000_000
MAX_COMMENTARY_BYTES = 2_000_000
MAX_FOLDER_ENTRIES = 20_000  # files and folders inside one folder input
# any one input file: the largest real inputs are a few tens of MB (a 100,000-row ledger is about 15 MB);
# a larger file (a 1 GB sparse file) would be read into memory several times over before being refused
MAX_INPUT_FILE_BYTES = 250_000_000
REQUIRED = ("authority", "authority_code", "portfolio", "quarter", "data_as_at", "inputs", "commentary")


_LABEL = re.compile(r"(?<!\d)(\d{4}-\d{2}-Q[1-4])(?![0-9])")


def quarter_of_name(stem: str) -> Quarter | None:
    """The quarter a params file is named for: ``2026-27-Q2.yaml`` or a name that contains the label,
    such as ``derbyshire-2021-22-Q1-published.yaml``."""
    m = _LABEL.search(stem)
    if not m:
        return None
    try:
        return Quarter.parse(m.group(1))
    except QuarterError:
        return None


def params_path(quarter: Quarter, root: Path | None = None) -> Path:
    """The params file for a quarter: the one file in ``params/`` named for it (``<label>.yaml`` when
    none exists yet). Two files for one quarter must be chosen between with ``--params``."""
    d = params_dir(root)
    found = [p for p in sorted(d.glob("*.yaml")) if quarter_of_name(p.stem) == quarter]
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise ParamsError(f"{len(found)} params files are named for {quarter.label} ({names}); "
                          "choose one with --params")
    return found[0] if found else d / f"{quarter.label}.yaml"


def available_quarters(root: Path | None = None) -> list[Quarter]:
    """Quarters with a params file, oldest first. Files not named for a quarter are ignored."""
    return sorted({q for p in params_dir(root).glob("*.yaml") if (q := quarter_of_name(p.stem)) is not None})


def resolve_quarter(text: str | None, root: Path | None = None) -> Quarter:
    """The quarter named (validated) or, when blank, the latest with a params file."""
    if text:
        return Quarter.parse(text)
    quarters = available_quarters(root)
    if not quarters:
        raise ParamsError(f"no params files in {params_dir(root)}: create one with "
                          "`cspack new-quarter 2026-27-Q2` or copy an existing one")
    return quarters[-1]


class _NoAliasLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without anchors' aliases (``*name``, ``<<: *name``): a params file never needs
    them, and a few nested aliases expand to billions of nodes (the "billion laughs")."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"an alias (*{event.anchor}) is not allowed in a params file: write the value out "
                "in full (aliases can expand a small file into billions of values)", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        """A key written twice in one mapping is an error: YAML keeps the last silently, so a second
        ``placement_paths:`` or a second input of the same name would replace the first unseen."""
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: the safe loader's own error follows
                continue
            if first != key_node.start_mark.line + 1:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is written twice (first on line {first}): keep one", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path, limit: int = MAX_PARAMS_BYTES):
    """A params file's YAML: safe types only, no aliases, at most ``limit`` bytes, a regular file.
    Raises ``ParamsError`` (its message does not name the file: the caller adds it) or ``yaml.YAMLError``."""
    kind = file_kind(path)
    if kind != "file":
        raise ParamsError(f"is {kind}, not a regular file: only regular files are read")
    size = path.stat().st_size
    if size > limit:
        raise ParamsError(f"{size:,} bytes, more than a params file may hold ({limit:,})")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_NoAliasLoader)
    except RecursionError:
        raise ParamsError("not valid YAML: nested too deeply") from None


def file_kind(path: Path) -> str:
    """'file', 'folder', or what else the path is (following symlinks), in words."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing (or a broken link)"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _hint(key, allowed) -> str:
    near = difflib.get_close_matches(str(key), list(allowed), n=1, cutoff=0.6)
    return f" (did you mean {near[0]}?)" if near else ""


def _inside(p: Path, root: Path) -> bool:
    return any(p.is_relative_to((root / d).resolve()) for d in ("data", "params"))


def _check_path(name: str, written: str, p: Path, root: Path, allow_outside: bool, want: tuple[str, ...],
                problems: list[str]) -> None:
    """``p`` (resolved: symlinks followed) exists, is one of ``want`` ('file', 'folder'), lies inside the
    project's data/ and params/ unless allowed; a folder's every entry too (a symlink inside a folder
    input is followed and checked; a named pipe or device anywhere is refused)."""
    kind = file_kind(p)
    if kind.startswith("missing"):
        problems.append(f"{name}: file {written} does not exist")
        return
    if kind not in want:
        problems.append(f"{name}: {written} is {kind}, not a regular file" + (" or folder" if "folder" in want else "")
                        + ": only regular files are read")
        return
    if not allow_outside and not _inside(p, root):
        problems.append(f"{name}: {written} lies outside the project's data/ and params/ folders; "
                        f"move it in, or say `allow_outside_project: true` for this {'input' if name != 'commentary' else 'file'}")
        return
    if kind != "folder":
        _check_size(name, written, p, problems)
        return
    seen, todo, n = {p}, [p], 0
    while todo:
        d = todo.pop()
        try:
            entries = sorted(d.iterdir())
        except OSError as exc:
            problems.append(f"{name}: cannot list {shown_path(d, root)}: {exc.strerror}")
            return
        for e in entries:
            n += 1
            if n > MAX_FOLDER_ENTRIES:
                problems.append(f"{name}: {written} holds more than {MAX_FOLDER_ENTRIES:,} files and folders")
                return
            if _not_utf8(e.name):
                problems.append(f"{name}: the name of {_escaped(shown_path(e, root))} is not UTF-8 text (the byte shown "
                                "as \\x..): rename it, or move it out of the folder")
                continue
            real = _resolve(e)
            k = file_kind(real)
            shown = shown_path(e, root)
            if k not in ("file", "folder"):
                problems.append(f"{name}: {shown} is {k}, not a regular file: only regular files are read; remove it")
            elif not allow_outside and not _inside(real, root):
                problems.append(f"{name}: {shown} links to {real}, outside the project's data/ and params/ folders; "
                                "copy the file in, or say `allow_outside_project: true` for this input")
            elif k == "folder" and real not in seen:
                seen.add(real)
                todo.append(real)
            elif k == "file":
                _check_size(name, shown, real, problems)


def _resolve(p: Path) -> Path:
    """``p`` with symlinks followed; a link that loops is left as written (``file_kind`` then says so)."""
    try:
        return p.resolve()
    except (RuntimeError, OSError):  # "Symlink loop from ...": never a traceback
        return p


def _not_utf8(text: str) -> bool:
    """A file name the operating system gave as bytes that are not UTF-8 (Python keeps them as lone
    surrogates, which cannot be printed, written to a log or hashed as text)."""
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _escaped(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _check_size(name: str, shown: str, p: Path, problems: list[str]) -> None:
    if name == "commentary":
        return  # the commentary has its own, smaller limit
    try:
        size = p.stat().st_size
    except OSError:
        return
    if size > MAX_INPUT_FILE_BYTES:
        problems.append(f"{name}: {shown} is {size:,} bytes, more than the {MAX_INPUT_FILE_BYTES:,} an input file may "
                        "hold; check it is the right file (a quarter's inputs are a few megabytes)")


def _check_setting(rel, k, v, problems: list[str], settings: dict) -> None:
    want = SETTINGS[k]
    types = want if isinstance(want, tuple) else (want,)
    if not isinstance(v, want) or isinstance(v, bool) and bool not in types:
        names = " or ".join(t.__name__ for t in types)
        problems.append(f"settings.{k}: expected {names}, got {_short(v)}")
        return
    if isinstance(v, float) and not math.isfinite(v):
        problems.append(f"settings.{k}: expected a finite number, got {v!r}")
        return
    if isinstance(v, str) and len(v) > MAX_TEXT_SETTING:
        problems.append(f"settings.{k}: {len(v):,} characters, more than {MAX_TEXT_SETTING} allowed")
    if k in LIST_SETTINGS:
        item, most = LIST_SETTINGS[k]
        if len(v) > most:
            problems.append(f"settings.{k}: {len(v):,} elements, more than {most} allowed")
            return
        for i, x in enumerate(v, 1):
            if not isinstance(x, item) or isinstance(x, bool) and item is not bool:
                problems.append(f"settings.{k}: element {i}: expected {item.__name__}, got {_short(x)}")
            elif isinstance(x, str) and not (0 < len(x) <= MAX_TEXT_SETTING):
                problems.append(f"settings.{k}: element {i}: expected text of 1 to {MAX_TEXT_SETTING} characters")
    if k in SETTING_RANGES and isinstance(v, (int, float)):
        lo, hi = SETTING_RANGES[k]
        if k == "small_count_threshold" and settings.get("allow_small_count_threshold") is not True:
            lo = MIN_SMALL_COUNT_THRESHOLD
            if v < lo:
                problems.append(f"settings.{k}: {v} would publish counts of fewer than {lo} children; the threshold "
                                f"must be at least {lo} (DfE uses 5) unless the params also say "
                                "`allow_small_count_threshold: true` under settings (the pack then carries a warning)")
                return
        if not lo <= v <= hi:
            problems.append(f"settings.{k}: expected a number from {lo:g} to {hi:g}, got {v!r}")


def _short(v) -> str:
    r = repr(v)
    return r if len(r) <= 80 else r[:77] + "..."


def settings_findings(params: QuarterParams) -> list[dict]:
    """Data-quality findings (``quality.FINDING_COLUMNS``) the params themselves call for: a small-count
    threshold below the usual floor, allowed by an explicit override, is a warning in the pack."""
    t = params.settings.small_count_threshold
    if t < MIN_SMALL_COUNT_THRESHOLD:
        shown = "no count is suppressed" if t <= 1 else f"counts of {t - 1} child are published" if t == 2 else ""
        return [{"input": "Disclosure control", "check": "small counts",
                 "finding": f"Small counts of children are not suppressed as usual: {shown} (DfE's tables suppress "
                            "counts below 5). The analyst chose this threshold explicitly; check before sharing.",
                 "count": 0, "level": "warning"}]
    return []


def load_params(quarter: Quarter | str | None = None, root: Path | None = None,
                path: Path | str | None = None) -> QuarterParams:
    """A quarter's params (blank: the latest), or the params file at ``path`` (then its own
    ``quarter`` key names the quarter, and must match the quarter in its file name)."""
    root = root or project_root()
    if path is not None:
        path = Path(path)
        path = (path if path.is_absolute() else root / path).resolve()
        if not path.exists():
            raise ParamsError(f"no params file {path}")
        q = quarter_of_name(path.stem)
        if q is None:
            raise ParamsError(f"{path.name}: a params file's name must contain its quarter, such as 2021-22-Q1")
        if quarter and (Quarter.parse(quarter) if isinstance(quarter, str) else quarter) != q:
            raise ParamsError(f"{path.name} is named for {q.label}, not {quarter}")
    else:
        q = quarter if isinstance(quarter, Quarter) else resolve_quarter(quarter, root)
        path = params_path(q, root)
    if not path.exists():
        have = ", ".join(x.label for x in available_quarters(root)) or "none"
        raise ParamsError(f"no params file for {q.label}: expected {path.relative_to(root)} "
                          f"(quarters with params: {have}; scaffold one with "
                          f"`cspack new-quarter {q.label}`)")
    rel = path.relative_to(root) if path.is_relative_to(root) else path
    try:
        raw = read_yaml(path)
    except yaml.MarkedYAMLError as exc:  # one line: the file, the line and the problem (no quoted snippet)
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}" if mark else ""
        what = "; ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise ParamsError(f"{rel}{where}: not valid YAML: {what}") from exc
    except yaml.YAMLError as exc:
        raise ParamsError(f"{rel}: not valid YAML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ParamsError(f"{rel}: not UTF-8 text (byte {exc.start})") from exc
    except ParamsError as exc:
        raise ParamsError(f"{rel}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ParamsError(f"{rel}: expected a mapping of keys ({', '.join(REQUIRED)})")
    unknown = [k for k in raw if k not in REQUIRED + OPTIONAL]
    missing = [k for k in REQUIRED if k not in raw]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"unknown key(s) {', '.join(str(k) + _hint(k, missing or REQUIRED + OPTIONAL) for k in unknown)} "
                         f"(allowed: {', '.join(REQUIRED + OPTIONAL)}); a misspelt key would otherwise be ignored")
        if missing:
            parts.append(f"missing key(s) {', '.join(missing)}")
        raise ParamsError(f"{rel}: " + "; ".join(parts))
    for k in ("authority", "authority_code", "portfolio"):
        if not isinstance(raw[k], str) or not raw[k].strip():
            raise ParamsError(f"{rel}: key '{k}': expected text, got {_short(raw[k])}")
    comm = raw["commentary"]
    if isinstance(comm, str):
        comm = {"path": comm}
    if (not isinstance(comm, dict) or not isinstance(comm.get("path"), str) or not comm["path"].strip()
            or set(comm) - {"path", "allow_outside_project"}):
        raise ParamsError(f"{rel}: key 'commentary': expected a file path (or a mapping with 'path' and "
                          f"'allow_outside_project'), got {_short(raw['commentary'])}")
    settings = raw.get("settings") or {}
    if not isinstance(settings, dict):
        raise ParamsError(f"{rel}: key 'settings': expected a mapping, got {_short(settings)}")
    problems = []
    for k, v in settings.items():
        if k not in SETTINGS:
            problems.append(f"settings.{k} is not a known setting{_hint(k, SETTINGS)} (known: {', '.join(sorted(SETTINGS))})")
        else:
            _check_setting(rel, k, v, problems, settings)
    if problems:
        raise ParamsError(f"{rel}: " + "; ".join(problems))
    try:
        file_q = Quarter.parse(str(raw["quarter"]))
    except QuarterError as exc:
        raise ParamsError(f"{rel}: key 'quarter': {exc}") from exc
    if file_q != q:
        raise ParamsError(f"{rel}: key 'quarter' says {file_q.label} but the file is named for {q.label}")
    as_at = raw["data_as_at"]
    if isinstance(as_at, str):
        try:
            as_at = date.fromisoformat(as_at)
        except ValueError as exc:
            raise ParamsError(f"{rel}: key 'data_as_at': expected a date like 2021-06-30, got {as_at!r}") from exc
    if not isinstance(as_at, date):
        raise ParamsError(f"{rel}: key 'data_as_at': expected a date like 2021-06-30, got {as_at!r}")
    if not isinstance(raw["inputs"], dict) or not raw["inputs"]:
        raise ParamsError(f"{rel}: key 'inputs': expected a mapping of input name to file")
    inputs = {}
    problems = []
    for key, spec in raw["inputs"].items():
        if isinstance(spec, str):
            spec = {"path": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("path"), str) or not spec["path"].strip():
            problems.append(f"inputs.{key}: expected a file path or a mapping with 'path'")
            continue
        extra = [k for k in spec if k not in INPUT_KEYS]
        if extra:
            problems.append(f"inputs.{key}: unknown key(s) {', '.join(str(k) + _hint(k, INPUT_KEYS) for k in extra)} "
                            f"(allowed: {', '.join(INPUT_KEYS)})")
        p = _resolve(root / spec["path"])
        kind = str(spec.get("kind") or "")
        if kind not in KINDS:
            problems.append(f"inputs.{key}: kind {kind!r} is not one of {', '.join(repr(k) for k in KINDS)}")
        _check_path(f"inputs.{key}", spec["path"], p, root, spec.get("allow_outside_project") is True,
                    ("file", "folder") if kind else ("file",), problems)
        if not spec.get("source"):
            problems.append(f"inputs.{key}: 'source' is required (where the figures come from)")
        inputs[key] = InputSpec(key=key, path=p, rel_path=str(spec["path"]),
                                description=str(spec.get("description", "")),
                                source=str(spec.get("source", "")),
                                synthetic=bool(spec.get("synthetic", False)),
                                group=str(spec.get("group") or "Other inputs"), kind=kind)
    commentary = _resolve(root / comm["path"])
    n_before = len(problems)
    _check_path("commentary", comm["path"], commentary, root, comm.get("allow_outside_project") is True,
                ("file",), problems)
    if len(problems) == n_before and commentary.stat().st_size > MAX_COMMENTARY_BYTES:
        problems.append(f"commentary: {comm['path']} is {commentary.stat().st_size:,} bytes, more than the "
                        f"{MAX_COMMENTARY_BYTES:,} a commentary file may hold; shorten it (a quarter's commentary "
                        "is usually a few pages)")
    elif len(problems) == n_before:
        data = commentary.read_bytes()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            problems.append(f"commentary: {comm['path']} is not UTF-8 text (line {line}, byte {exc.start}: "
                            f"{data[exc.start:exc.start + 1]!r}); save it as UTF-8 (in Notepad: Save as, Encoding UTF-8)")
    allow_stale = raw.get("allow_stale") or []
    if not isinstance(allow_stale, list) or not all(isinstance(x, str) for x in allow_stale):
        problems.append(f"allow_stale: expected a list of input names, got {allow_stale!r}")
        allow_stale = []
    problems += [f"allow_stale: {x!r} is not one of the inputs" for x in allow_stale if x not in raw["inputs"]]
    if problems:
        raise ParamsError(f"{rel}: " + "; ".join(problems))
    return QuarterParams(path=path, authority=str(raw["authority"]),
                         authority_code=str(raw["authority_code"]), portfolio=str(raw["portfolio"]),
                         quarter=q, data_as_at=as_at, inputs=inputs, commentary=commentary,
                         settings=Settings.from_mapping(settings), allow_stale=tuple(allow_stale))
