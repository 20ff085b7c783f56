"""The project's habits (issue 17): ruff clean, notebooks committed without outputs (and the pre-commit
hooks that keep them so without losing the tags the runner needs), `make help` listing every target,
`make test-fast` leaving out exactly the builds, and a short README whose links, like those of docs/, all
resolve."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import SLOW

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _hook(hook_id: str) -> dict:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}
    return hooks[hook_id]


# ---- ruff --------------------------------------------------------------------------------------------

def test_ruff_finds_nothing_in_the_project():
    """The rules are in pyproject.toml ([tool.ruff]); `make lint-fix` applies ruff's fixes."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is a dev dependency: pip install -e '.[dev]'"
    run = subprocess.run([ruff, "check", "--no-cache", "--output-format", "concise", "."], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 0, f"ruff found problems (run `make lint-fix`, then fix the rest by hand):\n{run.stdout}"


def test_ruff_configuration_is_the_agreed_one():
    import tomllib

    ruff = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]
    assert ruff["line-length"] == 120
    assert set(ruff["lint"]["select"]) >= {"E", "F", "W", "I", "B", "UP"}
    # every ignored rule is justified by a comment naming it
    text = (ROOT / "pyproject.toml").read_text()
    for rule in ruff["lint"]["ignore"]:
        assert re.search(rf"#\s*{rule}\b", text), f"{rule} is ignored without a comment saying why"


# ---- notebooks: no outputs, and the hooks keep them so --------------------------------------------------

def test_every_notebook_is_committed_without_outputs_or_execution_counts():
    assert len(NOTEBOOKS) >= 7
    found = []
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "code":
                continue
            if cell.get("outputs"):
                found.append(f"{path.name} cell {i}: {len(cell['outputs'])} output(s)")
            if cell.get("execution_count") is not None:
                found.append(f"{path.name} cell {i}: execution count {cell['execution_count']}")
    assert not found, "strip them with `nbstripout --keep-id notebooks/*.ipynb`:\n" + "\n".join(found)


def _with_outputs(nb: dict) -> dict:
    """The notebook as JupyterLab saves it after a run: outputs, counts and editor metadata."""
    nb = json.loads(json.dumps(nb))
    for n, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        cell["execution_count"] = n + 1
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["a figure\n"]},
                           {"output_type": "execute_result", "execution_count": n + 1, "metadata": {},
                            "data": {"text/plain": ["42"]}}]
        cell["metadata"]["ExecuteTime"] = {"end_time": "2026-11-29T23:00:00Z"}
    return nb


def test_the_nbstripout_hook_removes_outputs_and_keeps_tags_ids_and_cspack_metadata(tmp_path):
    entry = _hook("nbstripout")["entry"].split()
    exe = shutil.which(entry[0], path=str(Path(sys.executable).parent)) or shutil.which(entry[0])
    assert exe, "nbstripout is a dev dependency: pip install -e '.[dev]'"
    for path in NOTEBOOKS:
        dirty = tmp_path / path.name
        dirty.write_text(json.dumps(_with_outputs(json.loads(path.read_text(encoding="utf-8"))), indent=1))
    subprocess.run([exe, *entry[1:], *[str(tmp_path / p.name) for p in NOTEBOOKS]], check=True)
    for path in NOTEBOOKS:
        original = json.loads(path.read_text(encoding="utf-8"))
        stripped = json.loads((tmp_path / path.name).read_text(encoding="utf-8"))
        assert stripped["metadata"] == original["metadata"], path.name  # cspack: in_pack, kernelspec
        assert len(stripped["cells"]) == len(original["cells"])
        for before, after in zip(original["cells"], stripped["cells"], strict=True):
            assert after.get("id") == before.get("id")
            assert after["metadata"].get("tags") == before["metadata"].get("tags")  # parameters, remove
            assert "".join(after["source"]) == "".join(before["source"])
            if after["cell_type"] == "code":
                assert after["outputs"] == [] and after["execution_count"] is None
                assert "ExecuteTime" not in after["metadata"]
    tags = {t for p in NOTEBOOKS for c in json.loads(p.read_text())["cells"] for t in c["metadata"].get("tags", [])}
    assert {"parameters", "remove"} <= tags  # what the runner (papermill) and the export rely on


def test_the_outputs_hook_fails_on_an_output_or_a_count_and_passes_the_committed_notebooks(tmp_path):
    hook = _hook("notebook-outputs")
    assert hook["language"] == "pygrep" and "--multiline" in hook["args"]
    pattern = re.compile(hook["entry"], re.MULTILINE)
    for path in NOTEBOOKS:
        assert not pattern.search(path.read_text(encoding="utf-8")), path.name
        assert re.match(hook["files"], f"notebooks/{path.name}")
    nb = json.loads(NOTEBOOKS[1].read_text(encoding="utf-8"))
    run = _with_outputs(nb)
    assert pattern.search(json.dumps(run, indent=1))
    counts_only = json.loads(json.dumps(run))
    for cell in counts_only["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = []
    assert pattern.search(json.dumps(counts_only, indent=1))
    outputs_only = json.loads(json.dumps(run))
    for cell in outputs_only["cells"]:
        if cell["cell_type"] == "code":
            cell["execution_count"] = None
    assert pattern.search(json.dumps(outputs_only, indent=1))


# ---- Makefile ------------------------------------------------------------------------------------------

def _phony() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {t for line in re.findall(r"^\.PHONY:(.*)$", text, re.MULTILINE) for t in line.split()}


def test_make_help_lists_every_phony_target_with_its_description():
    make = shutil.which("make")
    assert make, "make is needed to build cspack"
    out = subprocess.run([make, "--no-print-directory", "-C", str(ROOT), "help"], capture_output=True, text=True,
                         check=True).stdout
    listed = {m.group(1): m.group(2) for m in re.finditer(r"^\s+([\w-]+)\s{2,}(\S.*)$", out, re.MULTILINE)}
    phony = _phony()
    assert {"help", "pack", "test", "test-fast", "lint", "lint-fix"} <= phony
    assert phony - set(listed) == set(), "give each target a `## description` on its line"
    assert set(listed) - phony == set(), "a target listed by help is not .PHONY"
    assert all(len(d) > 10 for d in listed.values())


def test_make_test_and_ci_are_the_whole_suite():
    text = (ROOT / "Makefile").read_text()
    test_recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", text, re.MULTILINE).group(1)
    assert test_recipe.strip() == "$(BIN)/python -m pytest"
    assert (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == "make test"
    fast = re.search(r"^test-fast:.*\n((?:\t.*\n)+)", text, re.MULTILINE).group(1)
    assert '-m "not build and not slow"' in fast


BUILDING = re.compile(r"\brun_quarter\(|\bsync_playwright\b|\bcopy_project\(")


def _builds_by_reading(path: Path) -> set[str]:
    """Names of the test functions in a module that, read plainly, build a pack or a whole bundled quarter or
    open Chromium: they take a fixture that does, or call the runner, copy the bundled project or drive a
    browser in their body (a plainer, independent reading of what tests/conftest.py marks)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    src = path.read_text(encoding="utf-8")
    fixtures = {"built_pack", "published_pack"}
    for _ in range(3):  # the module's own fixtures that build, and fixtures using them
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("test_"):
                body = ast.get_source_segment(src, node) or ""
                if BUILDING.search(body) or {a.arg for a in node.args.args} & fixtures:
                    fixtures.add(node.name)
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            body = ast.get_source_segment(src, node) or ""
            if {a.arg for a in node.args.args} & fixtures or BUILDING.search(body):
                names.add(node.name)
    return names


def test_every_test_listed_slow_exists():
    """tests/conftest.py's SLOW names tests by module and name: a renamed test must not silently return to test-fast."""
    for rel, names in SLOW.items():
        tree = ast.parse((ROOT / rel).read_text(encoding="utf-8"))
        tests = {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
        assert names <= tests, f"{rel}: {sorted(names - tests)} listed slow but not a test there"


@pytest.fixture(scope="module")
def fast_ids() -> list[str]:
    run = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "-m", "not build and not slow"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return [line for line in run.stdout.splitlines() if "::" in line]


def test_test_fast_leaves_out_every_build_and_no_whole_module_of_unit_tests(fast_ids):
    assert not [i for i in fast_ids if i.startswith("notebooks/")], "nbval cells run notebooks: not fast"
    fast = {(i.split("::")[0], i.split("::")[1].split("[")[0]) for i in fast_ids}
    modules = sorted((ROOT / "tests").glob("test_*.py"))
    for path in modules:
        rel = f"tests/{path.name}"
        builds = _builds_by_reading(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        tests = {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
        selected = {name for mod, name in fast if mod == rel}
        assert not selected & builds, f"{rel}: {sorted(selected & builds)} build a pack but run in test-fast"
        if tests - builds - SLOW.get(rel, set()):  # a module with unit tests not listed slow is in the fast set
            assert selected, f"{rel}: none of its unit tests runs in test-fast"
    assert len(fast_ids) >= 400


# ---- README and docs -----------------------------------------------------------------------------------

def test_the_readme_is_under_20_kb():
    size = (ROOT / "README.md").stat().st_size
    assert size < 20_000, f"README.md is {size:,} bytes: move detail to docs/"


LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _relative_links(path: Path) -> list[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    return [t for t in LINK.findall(text) if not re.match(r"^(?:[a-z][a-z0-9+.-]*:|#)", t, re.IGNORECASE)]


def test_every_relative_link_in_the_readme_and_docs_resolves():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    links = {p: _relative_links(p) for p in pages}
    assert len(links[ROOT / "README.md"]) >= 8, "the README links to the docs"
    broken = [f"{p.relative_to(ROOT)}: {t}" for p, ts in links.items() for t in ts
              if not (p.parent / t.split("#")[0]).resolve().exists()]
    assert not broken, "links to nothing:\n" + "\n".join(broken)


def test_every_dependency_is_named_in_docs_dependencies_with_a_reason():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower()
             for d in [*project["dependencies"], *[d for ds in project["optional-dependencies"].values() for d in ds]]]
    rows = {}
    for line in (ROOT / "docs" / "dependencies.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 2 and not set(cells[0]) <= set("-"):
            for name in re.split(r",\s*", re.sub(r"\s*\(dev\)", "", cells[0])):
                rows[name.lower()] = cells[1]
    missing = [n for n in names if len(rows.get(n, "")) < 15]
    assert not missing, f"say in docs/dependencies.md why cspack needs {missing}"

