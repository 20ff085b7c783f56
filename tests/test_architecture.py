"""The shape of pipeline/ (issue 17; the rule is in pipeline/__init__.py's docstring, the layout in
docs/architecture.md): every module's imports are read with ``ast`` (nothing is imported), then

- a lower layer never imports a higher one, and sibling subpackages of one layer do not import each other;
- only cli (and benchmarks and tests) import the synthetic-authority generator, which may import core,
  ingest and placements only;
- no cycle between modules, counting imports inside functions too (the circle of issue 17 was one);
- every ``pipeline...`` import in the package, the tests, the benchmarks and the notebooks names a module
  that exists in this package (an editable install elsewhere must not answer for a stale path);
- an import inside a function carries a comment saying why it cannot be at the top;
- no module is over 600 lines, except the generator while it is being split (named below).

The checker functions are tested on small synthetic import graphs too, so the test can fail."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pipeline"
MAX_LINES = 600
# modules exempt while another branch of issue 17 reworks them: the generator (pipeline/synthetic.py) is
# being split along its banners there, its imports updated from docs/architecture.md's table at the merge.
# Until then it may be over 600 lines, name the old flat paths (pipeline.ssda903, pipeline.paths) and import
# inside functions. Remove it from here when the split is merged (the last test below fails to say so).
IN_PROGRESS = {"pipeline.synthetic"}
LONG_EXEMPT = IN_PROGRESS

# the layers, lowest first; subpackages in one layer are siblings and do not import each other
LAYERS = [["core"], ["ingest"], ["finance", "placements", "measures"], ["quarter"], ["report"], ["build"],
          ["public"], ["batch"], ["cli"]]
SYNTHETIC = "synthetic"
SYNTHETIC_MAY_IMPORT = {"core", "ingest", "placements"}
SYNTHETIC_IMPORTED_BY = {"cli"}


def layer_of(part: str) -> int:
    """The layer of a top-level part of pipeline (a subpackage or cli); the package root is below all."""
    for i, parts in enumerate(LAYERS):
        if part in parts:
            return i
    if part == "":
        return -1
    raise KeyError(part)


def top(module: str) -> str:
    """``pipeline.report.sections.budget`` -> ``report``; ``pipeline`` -> ``""``."""
    bits = module.split(".")
    return bits[1] if len(bits) > 1 else ""


# ---- reading the imports -----------------------------------------------------------------------------------
def module_name(path: Path, package: Path = PACKAGE) -> str:
    rel = path.relative_to(package.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    return {module_name(p, package): p for p in sorted(package.rglob("*.py")) if "__pycache__" not in p.parts}


def package_names(package: Path = PACKAGE) -> dict[str, set[str]]:
    """The names each package's ``__init__`` defines or imports (its interface, e.g. ``__version__``)."""
    out = {}
    for m, p in modules(package).items():
        if p.name == "__init__.py":
            names = set()
            for node in ast.parse(p.read_text(encoding="utf-8")).body:
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    names |= {(a.asname or a.name).split(".")[0] for a in node.names}
                elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    names.add(node.name)
                elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                    tg = node.targets if isinstance(node, ast.Assign) else [node.target]
                    names |= {n.id for x in tg for n in ast.walk(x) if isinstance(n, ast.Name)}
            out[m] = names
    return out


def imports_of(source: str, module: str, is_package: bool, known: set[str],
               exports: dict[str, set[str]] | None = None) -> list[tuple[str, int, bool, bool]]:
    """(imported pipeline module, line, inside a function, line has a comment) for every import of
    pipeline in ``source``. ``from pipeline.x import y`` counts as an import of ``pipeline.x.y`` when that is a
    module, else of ``pipeline.x``; when ``pipeline.x`` is a package whose ``__init__`` does not define ``y``
    (``exports``), of ``pipeline.x.y``, so a stale path is seen. Relative imports are resolved against
    ``module``."""
    exports = package_names() if exports is None else exports
    tree = ast.parse(source)
    lines = source.splitlines()
    out = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for a in child.names:
                    if a.name == "pipeline" or a.name.startswith("pipeline."):
                        out.append((a.name, child.lineno, in_function, "#" in lines[child.lineno - 1]))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    pkg = module.split(".") if is_package else module.split(".")[:-1]
                    pkg = pkg[: len(pkg) - (child.level - 1)]
                    base = ".".join(pkg + ([base] if base else []))
                if base == "pipeline" or base.startswith("pipeline."):
                    comment = "#" in lines[child.lineno - 1]
                    for a in child.names:
                        sub = f"{base}.{a.name}"
                        missing = base in exports and a.name not in exports[base]
                        out.append((sub if sub in known or missing else base, child.lineno, in_function, comment))
            visit(child, inner)

    visit(tree, False)
    return out


def import_graph(package: Path = PACKAGE) -> dict[str, list[tuple[str, int, bool, bool]]]:
    mods = modules(package)
    known = set(mods)
    return {m: imports_of(p.read_text(encoding="utf-8"), m, p.name == "__init__.py", known) for m, p in mods.items()}


# ---- the rules ---------------------------------------------------------------------------------------------
def layer_violations(graph: dict[str, list]) -> list[str]:
    """Imports that break the one-way rule: a lower layer importing a higher one, siblings importing each
    other, the generator importing beyond core/ingest/placements, or anything but cli importing it."""
    bad = []
    for mod, imps in graph.items():
        a = top(mod)
        for target, line, *_ in imps:
            b = top(target)
            if a == b:
                continue
            where = f"{mod} line {line} imports {target}"
            if b == SYNTHETIC:
                if a not in SYNTHETIC_IMPORTED_BY:
                    bad.append(f"{where}: only {', '.join(sorted(SYNTHETIC_IMPORTED_BY))} may import the generator")
                continue
            if a == SYNTHETIC:
                if b not in SYNTHETIC_MAY_IMPORT and b != "":
                    bad.append(f"{where}: the generator may import {', '.join(sorted(SYNTHETIC_MAY_IMPORT))} only")
                continue
            la, lb = layer_of(a), layer_of(b)
            if lb > la:
                bad.append(f"{where}: {a or 'pipeline'} is below {b}")
            elif lb == la:
                bad.append(f"{where}: {a} and {b} are siblings of one layer")
    return bad


def cycles(graph: dict[str, list]) -> list[list[str]]:
    """The import cycles between modules (strongly connected components of more than one module, or a
    module importing itself), by Tarjan's algorithm."""
    edges = {m: sorted({t for t, *_ in imps if t in graph}) for m, imps in graph.items()}
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in edges[v]:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return out


def unexplained_function_imports(graph: dict[str, list]) -> list[str]:
    return [f"{m} line {line} imports {t} inside a function without a comment saying why"
            for m, imps in graph.items() for t, line, inside, comment in imps if inside and not comment]


def unknown_imports(graph: dict[str, list], known: set[str], exempt: set[str] = frozenset()) -> list[str]:
    return [f"{m} line {line} imports {t}, which is not a module of this package"
            for m, imps in graph.items() if m not in exempt for t, line, *_ in imps if t not in known]


def long_modules(package: Path = PACKAGE, limit: int = MAX_LINES, exempt: set[str] = frozenset()) -> list[str]:
    return [f"{m} has {n} lines (over {limit})" for m, p in modules(package).items()
            if m not in exempt and (n := len(p.read_text(encoding="utf-8").splitlines())) > limit]


# ---- the package as it is ------------------------------------------------------------------------------------
GRAPH = import_graph()
KNOWN = set(modules())


def test_the_rule_is_written_where_a_newcomer_looks():
    import pipeline

    doc = pipeline.__doc__ or ""
    for part in ("core", "ingest", "finance", "placements", "measures", "quarter", "report", "build", "cli"):
        assert part in doc, part
    assert "tests/test_architecture.py" in doc


def test_every_subpackage_of_the_layout_is_a_layer():
    parts = {top(m) for m in KNOWN} - {"", SYNTHETIC}
    assert parts <= {p for layer in LAYERS for p in layer}, parts - {p for layer in LAYERS for p in layer}
    assert {"core", "ingest", "finance", "placements", "measures", "quarter", "report", "build", "cli"} <= parts


def _without(graph: dict[str, list], exempt: set[str]) -> dict[str, list]:
    return {m: imps for m, imps in graph.items() if m not in exempt}


def test_no_lower_layer_imports_a_higher_one():
    assert layer_violations(_without(GRAPH, IN_PROGRESS)) == []


def test_no_import_cycle_between_modules():
    assert cycles(GRAPH) == []


def test_every_pipeline_import_names_a_module_of_this_package():
    assert unknown_imports(GRAPH, KNOWN, IN_PROGRESS) == []
    # and the tests, benchmarks and notebooks (their code cells) that import the package
    outside = {}
    for folder in ("tests", "benchmarks"):
        for p in sorted((ROOT / folder).glob("*.py")):
            outside[f"{folder}/{p.name}"] = imports_of(p.read_text(encoding="utf-8"), f"{folder}.{p.stem}", False, KNOWN)
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
        outside[f"notebooks/{nb.name}"] = imports_of(code, "notebooks", False, KNOWN)
    assert sum(len(v) for v in outside.values()) > 50  # they were read
    assert unknown_imports(outside, KNOWN) == []


def test_notebooks_import_only_their_section_and_the_context():
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        got = {t for t, *_ in imports_of(code, "notebooks", False, KNOWN)}
        assert got, nb.name
        assert all(t == "pipeline.quarter.context" or t.startswith("pipeline.report.sections.") for t in got), (nb.name, got)


def test_imports_inside_functions_say_why():
    assert unexplained_function_imports(_without(GRAPH, IN_PROGRESS)) == []


def test_no_module_over_600_lines():
    assert long_modules(exempt=LONG_EXEMPT) == []
    # an exemption is only for a module still there and still long: remove it when the generator is split
    for m in LONG_EXEMPT:
        assert m in KNOWN and len(modules()[m].read_text(encoding="utf-8").splitlines()) > MAX_LINES, \
            f"{m} is split or short now: remove it from IN_PROGRESS in tests/test_architecture.py"


# ---- the checkers catch what they are for (synthetic graphs) --------------------------------------------------
def _graph(edges: dict[str, list[str]], inside: bool = False, comment: bool = False) -> dict[str, list]:
    return {m: [(t, i + 1, inside, comment) for i, t in enumerate(ts)] for m, ts in edges.items()}


def test_checker_finds_a_lower_layer_importing_a_higher_one():
    g = _graph({"pipeline.core.paths": ["pipeline.report.render"], "pipeline.report.render": ["pipeline.core.paths"]})
    bad = layer_violations(g)
    assert len(bad) == 1 and "pipeline.core.paths line 1 imports pipeline.report.render" in bad[0]
    assert layer_violations(_graph({"pipeline.report.render": ["pipeline.core.paths", "pipeline.quarter.context"]})) == []


def test_checker_finds_siblings_and_the_generator_rules():
    assert layer_violations(_graph({"pipeline.finance.budget": ["pipeline.placements.history"]}))
    assert layer_violations(_graph({"pipeline.report.render": ["pipeline.synthetic"]}))
    assert layer_violations(_graph({"pipeline.synthetic": ["pipeline.quarter.context"]}))
    assert layer_violations(_graph({"pipeline.cli": ["pipeline.synthetic"],
                                    "pipeline.synthetic": ["pipeline.ingest.ssda903", "pipeline.core.paths"]})) == []
    with pytest.raises(KeyError):
        layer_violations(_graph({"pipeline.newthing.x": ["pipeline.core.paths"]}))


def test_checker_finds_a_cycle_even_through_a_function_level_import():
    # the circle of issue 17: budget sections <-> placement sections, each importing the other in a function
    g = _graph({"pipeline.report.sections.budget": ["pipeline.report.sections.placements"],
                "pipeline.report.sections.placements": ["pipeline.report.sections.budget"],
                "pipeline.core.paths": []}, inside=True)
    assert cycles(g) == [["pipeline.report.sections.budget", "pipeline.report.sections.placements"]]
    assert cycles(_graph({"a": ["b"], "b": ["c"], "c": []})) == []
    assert cycles(_graph({"a": ["a"]})) == [["a"]]
    assert len(unexplained_function_imports(g)) == 2
    assert unexplained_function_imports(_graph({"a": ["b"], "b": []}, inside=True, comment=True)) == []


def test_checker_reads_relative_and_from_imports_and_finds_stale_paths():
    known = {"pipeline", "pipeline.core", "pipeline.core.paths", "pipeline.report", "pipeline.report.render"}
    src = ("from . import render\nfrom ..core.paths import project_root\nimport pipeline.core.paths\n"
           "def f():\n    from pipeline import budget_sections  # old flat path\n")
    got = imports_of(src, "pipeline.report.narrative", False, known, {"pipeline": {"__version__"}})
    assert [(t, line, inside) for t, line, inside, _ in got] == [
        ("pipeline.report.render", 1, False), ("pipeline.core.paths", 2, False), ("pipeline.core.paths", 3, False),
        ("pipeline.budget_sections", 5, True)]
    assert imports_of("from pipeline import __version__\n", "x", False, known, {"pipeline": {"__version__"}})[0][0] == "pipeline"
    stale = imports_of("from pipeline.budget_sections import view\n", "x", False, known)
    assert unknown_imports({"x": stale}, known) == ["x line 1 imports pipeline.budget_sections, which is not a module of this package"]


def test_checker_finds_a_long_module(tmp_path):
    pkg = tmp_path / "pipeline"
    (pkg / "core").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "__init__.py").write_text("")
    (pkg / "core" / "big.py").write_text("x = 1\n" * 601)
    (pkg / "core" / "small.py").write_text("x = 1\n" * 600)
    assert long_modules(pkg) == ["pipeline.core.big has 601 lines (over 600)"]
    assert long_modules(pkg, exempt={"pipeline.core.big"}) == []
