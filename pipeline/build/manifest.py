"""``manifest.json``: enough to re-run a pack and to trust it: inputs with SHA-256 and row counts,
parameters, package versions, git commit, per-notebook timings and status."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from pipeline import __version__
from pipeline.core.paths import shown_path
from pipeline.ingest.inputs import sha256_of

PACKAGES = ["cspack", "jupyterlab", "ipykernel", "papermill", "nbconvert", "nbformat", "pandas", "numpy",
            "matplotlib", "seaborn", "statsmodels", "pyyaml", "openpyxl"]


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_state(root: Path) -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=20)
    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None, "note": "not a git checkout, or no commits"}
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError) as exc:
        return {"commit": None, "dirty": None, "note": f"git unavailable: {exc}"}


def version_label(root: Path) -> str:
    g = git_state(root)
    if g.get("commit"):
        return f"cspack {__version__} (commit {g['commit'][:7]}{', modified' if g['dirty'] else ''})"
    return f"cspack {__version__}"


def build_manifest(*, params, root: Path, register: list[dict], notebooks: list[dict], status: str,
                   started: str, finished: str, outputs: list[str], error: str | None = None) -> dict:

    return {
        "cspack_version": __version__,
        "status": status,
        "error": error,
        "quarter": params.quarter.label,
        "authority": params.authority,
        "authority_code": params.authority_code,
        "data_as_at": params.data_as_at.isoformat(),
        "started": started,
        "finished": finished,
        "params_file": {"path": shown_path(params.path, root), "sha256": sha256_of(params.path)},
        "commentary_file": {"path": shown_path(params.commentary, root),
                            "sha256": sha256_of(params.commentary)},
        "inputs": [{"input": r["input"], "path": r["file"], "sha256": r["sha256"], "rows": int(r["rows_in"]),
                    "rows_kept": int(r["rows_kept"]), "rows_fixed": int(r.get("rows_fixed", 0)),
                    "rows_dropped": int(r.get("rows_dropped", 0)), "rows_quarantined": int(r["rows_quarantined"]),
                    "synthetic": str(r["synthetic"]).lower() == "true", "source": r["source"]}
                   for r in register],
        "notebooks": notebooks,
        "outputs": outputs,
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git": git_state(root),
    }
