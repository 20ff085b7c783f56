"""Where things live. Every path is resolved from the project root, never from the cwd of a kernel."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # pipeline/ (this file is pipeline/core/paths.py)


def project_root() -> Path:
    """The project root: ``$CSPACK_ROOT`` if set, else the nearest folder above the cwd holding
    ``params/`` and ``notebooks/``, else the folder above this package (an editable install)."""
    env = os.environ.get("CSPACK_ROOT")
    if env:
        return Path(env).resolve()
    cwd = Path.cwd().resolve()
    for candidate in (cwd, *cwd.parents):
        if (candidate / "params").is_dir() and (candidate / "notebooks").is_dir():
            return candidate
    return PACKAGE_DIR.parent


def params_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "params"


def notebooks_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "notebooks"


def outputs_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "outputs"


def processed_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "data" / "processed"


def shown_path(path: Path, root: Path) -> str:
    """``path`` relative to the project root where it lies inside it, else absolute."""
    path = Path(path)
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def folder_hash(h, *folders: str) -> None:
    """Feed every ``.py`` file under the named folders of the package (relative to ``pipeline/``, a folder
    or a single file) into the hash ``h``, in a fixed order. Cache keys hash whole folders, not a list of
    file names, so moving or splitting a module cannot silently leave it out of a key."""
    for name in folders:
        target = PACKAGE_DIR / name
        files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
        for f in files:
            h.update(f.relative_to(PACKAGE_DIR).as_posix().encode())
            h.update(f.read_bytes())
