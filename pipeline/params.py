"""One YAML file per quarter in ``params/`` names the authority, the quarter, the inputs and the
analyst's commentary. Loading it validates every field and names the file and key on error."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from .paths import params_dir, project_root
from .quarters import Quarter, QuarterError


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
    settings: dict = field(default_factory=dict)
    allow_stale: tuple = ()  # inputs that may stop before the quarter (pipeline/freshness.py)

    @property
    def any_synthetic(self) -> bool:
        return any(s.synthetic for s in self.inputs.values())


KINDS = ("", "ledger", "ssda903", "returns_history")
OPTIONAL = ("settings", "allow_stale")
INPUT_KEYS = ("path", "kind", "group", "description", "source", "synthetic", "allow_outside_project")
SETTINGS: dict[str, type | tuple] = {
    "small_count_threshold": int, "material_variance_gbpm": (int, float), "material_variance_pct": (int, float),
    "projected_lines": list, "placements_line": str, "placement_inflation": (int, float), "placement_paths": int,
    "placement_seed": int, "benchmark_authority": str, "rating_basis": str, "synthetic_calibration": str, "measure_grouping": str,
}
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
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ParamsError(f"{rel}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ParamsError(f"{rel}: expected a mapping of keys ({', '.join(REQUIRED)})")
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise ParamsError(f"{rel}: missing key(s) {', '.join(missing)}")
    unknown = [k for k in raw if k not in REQUIRED + OPTIONAL]
    if unknown:
        raise ParamsError(f"{rel}: unknown key(s) {', '.join(map(str, unknown))} (allowed: "
                          f"{', '.join(REQUIRED + OPTIONAL)}); a misspelt key would otherwise be ignored")
    for k in ("authority", "authority_code", "portfolio", "commentary"):
        if not isinstance(raw[k], str) or not raw[k].strip():
            raise ParamsError(f"{rel}: key '{k}': expected text, got {raw[k]!r}")
    settings = raw.get("settings") or {}
    if not isinstance(settings, dict):
        raise ParamsError(f"{rel}: key 'settings': expected a mapping, got {settings!r}")
    for k, v in settings.items():
        want = SETTINGS.get(k)
        if want is None:
            raise ParamsError(f"{rel}: settings.{k} is not a known setting (known: {', '.join(sorted(SETTINGS))})")
        if not isinstance(v, want) or isinstance(v, bool) and bool not in (want if isinstance(want, tuple) else (want,)):
            names = " or ".join(t.__name__ for t in (want if isinstance(want, tuple) else (want,)))
            raise ParamsError(f"{rel}: settings.{k}: expected {names}, got {v!r}")
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
        if not isinstance(spec, dict) or "path" not in spec:
            problems.append(f"inputs.{key}: expected a file path or a mapping with 'path'")
            continue
        extra = [k for k in spec if k not in INPUT_KEYS]
        if extra:
            problems.append(f"inputs.{key}: unknown key(s) {', '.join(map(str, extra))} (allowed: {', '.join(INPUT_KEYS)})")
        p = (root / spec["path"]).resolve()
        if not p.exists():
            problems.append(f"inputs.{key}: file {spec['path']} does not exist")
        elif not spec.get("allow_outside_project") and not any(p.is_relative_to((root / d).resolve()) for d in ("data", "params")):
            problems.append(f"inputs.{key}: {spec['path']} lies outside the project's data/ and params/ folders; "
                            "move it in, or say `allow_outside_project: true` for this input")
        kind = str(spec.get("kind") or "")
        if kind not in KINDS:
            problems.append(f"inputs.{key}: kind {kind!r} is not one of {', '.join(repr(k) for k in KINDS)}")
        if not spec.get("source"):
            problems.append(f"inputs.{key}: 'source' is required (where the figures come from)")
        inputs[key] = InputSpec(key=key, path=p, rel_path=str(spec["path"]),
                                description=str(spec.get("description", "")),
                                source=str(spec.get("source", "")),
                                synthetic=bool(spec.get("synthetic", False)),
                                group=str(spec.get("group") or "Other inputs"), kind=str(spec.get("kind") or ""))
    allow_stale = raw.get("allow_stale") or []
    if not isinstance(allow_stale, list) or not all(isinstance(x, str) for x in allow_stale):
        problems.append(f"allow_stale: expected a list of input names, got {allow_stale!r}")
        allow_stale = []
    problems += [f"allow_stale: {x!r} is not one of the inputs" for x in allow_stale if x not in raw["inputs"]]
    commentary = (root / str(raw["commentary"])).resolve()
    if not commentary.exists():
        problems.append(f"commentary: file {raw['commentary']} does not exist")
    if problems:
        raise ParamsError(f"{rel}: " + "; ".join(problems))
    return QuarterParams(path=path, authority=str(raw["authority"]),
                         authority_code=str(raw["authority_code"]), portfolio=str(raw["portfolio"]),
                         quarter=q, data_as_at=as_at, inputs=inputs, commentary=commentary,
                         settings=dict(raw.get("settings") or {}), allow_stale=tuple(allow_stale))
