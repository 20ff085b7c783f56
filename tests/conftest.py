"""Shared fixtures: small fixture projects in temporary folders, and one real build of the default
pack (bundled data) shared by the export, browser, tables and manifest tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """The test session's builds pseudonymise with a key of their own, outside every project folder
    (never the user's key in ~/.config/cspack)."""
    import os
    import tempfile

    if not os.environ.get("CSPACK_PSEUDONYM_KEY"):
        os.environ["CSPACK_KEY_FILE"] = str(Path(tempfile.mkdtemp(prefix="cspack-test-key-")) / "pseudonym.key")
SEED004 = ROOT / "data" / "raw" / "seed004_2021-22-Q1"


def copy_project(dest: Path, with_published: bool = True) -> Path:
    """A copy of the project's notebooks, params and raw data in ``dest`` (a fresh project root)."""
    shutil.copytree(ROOT / "notebooks", dest / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(ROOT / "params", dest / "params")
    ignore = None if with_published else shutil.ignore_patterns("published")
    shutil.copytree(ROOT / "data" / "raw", dest / "data" / "raw", ignore=ignore)
    (dest / "data" / "processed").mkdir(parents=True)
    (dest / "outputs").mkdir()
    return dest


SMALL_PARAMS = """\
authority: Testshire County Council
authority_code: E99999999
portfolio: Children's Services
quarter: {quarter}
data_as_at: {as_at}
commentary: params/commentary/{quarter}.md
inputs:
  budget_lines:
    path: data/raw/seed004_2021-22-Q1/budget_lines.csv
    source: "seed 004, section 4.3"
    group: "Council report"
  budget_totals:
    path: data/raw/seed004_2021-22-Q1/budget_totals.csv
    source: "seed 004, section 4.3"
  additional_funding:
    path: data/raw/seed004_2021-22-Q1/additional_funding.csv
    source: "seed 004, section 4.3"
  deliverables:
    path: data/raw/seed004_2021-22-Q1/deliverables.csv
    source: "seed 004, Appendix 2"
  statistical_neighbours:
    path: data/raw/published/national/derbyshire_statistical_neighbours.csv
    source: "DfE statistical neighbours"
"""


@pytest.fixture
def small_project(tmp_path) -> Path:
    """A minimal project: the real notebooks, a few of the real inputs, one quarter of params."""
    root = tmp_path / "proj"
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    raw = root / "data" / "raw"
    shutil.copytree(SEED004, raw / "seed004_2021-22-Q1")
    (raw / "published" / "national").mkdir(parents=True)
    shutil.copy(ROOT / "data/raw/published/national/derbyshire_statistical_neighbours.csv", raw / "published/national")
    (root / "params" / "commentary").mkdir(parents=True)
    (root / "params" / "2021-22-Q1.yaml").write_text(SMALL_PARAMS.format(quarter="2021-22-Q1", as_at="2021-06-30"))
    (root / "params" / "commentary" / "2021-22-Q1.md").write_text(
        "# Commentary\n\n## Summary\n\nSpending is **under review**.\n\n## Data quality and method\n\nNothing to add.\n")
    (root / "data" / "processed").mkdir(parents=True)
    (root / "outputs").mkdir()
    return root


@pytest.fixture(scope="session")
def project_copy(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("default") / "proj")


@pytest.fixture(scope="session")
def built_pack(project_copy):
    """The default pack (the latest quarter: the synthetic authority), built once from a copy of
    the project with all bundled data."""
    from pipeline.build.runner import run_quarter

    return project_copy, run_quarter(None, project_copy, echo=False, progress=False)


@pytest.fixture(scope="session")
def published_pack(project_copy):
    """Derbyshire's published Q1 2021-22, built from the same copy."""
    from pipeline.build.runner import run_quarter

    # as `cspack run --params params/derbyshire-2021-22-Q1-published.yaml`
    return project_copy, run_quarter(root=project_copy, echo=False, progress=False,
                                     params_file="params/derbyshire-2021-22-Q1-published.yaml")
