import pipeline.quarter.prepare as prepare
from pipeline.quarter.context import open_quarter, split_commentary


def test_preparation_is_reused_only_for_identical_inputs_and_code(small_project, monkeypatch):
    ctx = open_quarter("2021-22-Q1", root=small_project)
    assert ctx.is_prepared()
    reg = ctx.register()
    assert (reg["rows_in"] == reg["rows_kept"] + reg["rows_dropped"] + reg["rows_quarantined"]).all()
    lines = small_project / "data/raw/seed004_2021-22-Q1/budget_lines.csv"
    lines.write_text(lines.read_text().replace("43.072", "43.100"))
    assert not ctx.is_prepared()  # an input changed
    ctx = open_quarter("2021-22-Q1", root=small_project)
    assert ctx.table("budget_lines").set_index("line_id").at["placements", "controllable_budget_gbpm"] == 43.1
    monkeypatch.setattr(prepare, "code_fingerprint", lambda: "other code")
    assert not ctx.is_prepared()  # the preparation code changed


def test_commentary_sections_and_escaping(small_project):
    ctx = open_quarter("2021-22-Q1", root=small_project)
    ctx.params.commentary.write_text("# t\n\n## Summary\n\nA <b>bold</b> & **fine** claim.\n<!-- hidden -->\n")
    assert ctx.commentary("summary") == "A &lt;b&gt;bold&lt;/b&gt; &amp; **fine** claim."
    assert ctx.commentary("Performance") == ""
    assert split_commentary("## A\nx\n## B\ny\n") == {"a": "x\n", "b": "y\n"}


def test_the_context_caches_through_its_one_declared_field(small_project):
    ctx = open_quarter("2021-22-Q1", root=small_project)
    calls = []
    assert ctx.cached("k", lambda: calls.append(1)) is None  # a None result is kept, not recomputed
    assert ctx.cached("k", lambda: calls.append(1)) is None
    assert calls == [1] and "k" in ctx.cache
    key = ctx.pseudonym_key
    assert ctx.cache["pseudonym_key"] == key
    # nothing is bolted onto the context: only its declared fields (issue 17)
    assert set(vars(ctx)) == {"params", "root", "work_dir", "cache"}
    # a new context starts with an empty cache
    assert open_quarter("2021-22-Q1", root=small_project).cache == {}


def test_no_module_sets_attributes_on_a_context():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "pipeline"
    bad = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py") if p.name != "synthetic.py"
           for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
           if "__setattr__(ctx" in line or "ctx.__dict__" in line or "getattr(ctx, \"_" in line]
    assert bad == []
