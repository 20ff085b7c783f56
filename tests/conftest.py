"""Shared fixtures: small fixture projects in temporary folders, and one real build of the default
pack (bundled data) shared by the export, browser, tables and manifest tests."""

from __future__ import annotations

import ast
import inspect
import re
import shutil
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# `make test-fast` runs `pytest -m "not build"`. A test is marked `build` here, automatically, when it builds a
# pack or a whole quarter of the bundled data, runs notebooks or opens a browser: an nbval notebook cell; a test
# marked e2e; or a test whose own code, a fixture it uses (at any depth) or a helper function of its module
# calls the runner (run_quarter), papermill (execute_notebook) or Chromium (sync_playwright, the CHROMIUM path),
# copies the whole bundled project (copy_project) or opens a quarter of the repository's own data
# (open_quarter without root=). Each of these prepares every input and runs the placement model: tens of
# seconds. Nothing else is marked, so a new unit test is in the fast set without anyone deciding it.
BUILD_CALLS = {"run_quarter", "execute_notebook", "sync_playwright", "_chromium", "copy_project"}


def _calls_a_build(src: str, helpers: dict) -> tuple[bool, set[str]]:
    """Whether source code calls a build directly, and which of its module's helper functions it calls."""
    try:
        tree = ast.parse(textwrap.dedent(src))
    except SyntaxError:
        return False, set()
    called = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "CHROMIUM":
            return True, set()
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.search(r"run_quarter\(\S", node.value):
            return True, set()  # a build in a child process (python -c "...run_quarter(...)")
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        if name in BUILD_CALLS:
            return True, set()
        if name == "open_quarter" and not any(k.arg == "root" for k in node.keywords) and len(node.args) < 3:
            return True, set()
        if name == "which" and any(isinstance(a, ast.Constant) and a.value == "chromium" for a in node.args):
            return True, set()
        if name in helpers:
            called.add(name)
    return False, called


def _builds(obj, helpers: dict, seen: set) -> bool:
    """Whether a test, fixture or helper builds, directly or through the helper functions of its module."""
    try:
        src = inspect.getsource(obj)
    except (OSError, TypeError):
        return False
    direct, called = _calls_a_build(src, helpers)
    if direct:
        return True
    for name in called - seen:
        seen.add(name)
        if _builds(helpers[name], helpers, seen):
            return True
    return False


# Unit tests that are slow themselves (measured with `pytest -m "not build" --durations=40`, docs/tests.md): marked
# `slow` here, so `make test-fast` (`-m "not build and not slow"`) leaves them out; `make test` still runs them. By
# module and test name (every parametrisation of a name); a module fixture costs its first user's setup, so every
# user of an expensive fixture is listed.
SLOW = {
    "tests/test_aggregate.py": {  # each projection reruns a backtest over every authority; `bt` is one
        "test_choice_and_projection_at_an_origin_ignore_the_future", "test_project_returns_points_inside_their_ranges",
        "test_naive_error_matches_an_independent_recomputation", "test_backtest_shape_boundary_changes_and_intervals"},
    "tests/test_aggregate_honesty.py": {
        "test_project_all_gives_the_rows_project_gives", "test_benchmark_naive_mae_equals_a_plain_pandas_recomputation",
        "test_backtest_forecasts_at_an_origin_ignore_every_later_value", "test_backtest_coverage_columns_match_their_ranges",
        "test_boundary_changed_authorities_are_never_spliced"},
    "tests/test_public_figures.py": {  # `data`: every published file read, the aggregate projection run
        "test_cla_rate_band_rank_and_neighbours_match_plain_reads", "test_children_in_need_rate_is_count_over_dfe_population",
        "test_workforce_and_icpc_match_plain_reads", "test_placement_mix_spend_and_sufficiency_match_plain_reads",
        "test_history_is_latest_published_and_projection_is_the_aggregate_one",
        "test_boundary_changed_authority_is_labelled_and_never_spliced"},
    "tests/test_batch.py": {  # Dask with real worker processes (`batch` starts a cluster)
        "test_batch_builds_the_others_and_fails_one", "test_batch_retried_the_transient_failure",
        "test_batch_runs_on_two_worker_processes_each_task_isolated", "test_index_links_values_and_markup",
        "test_tables_xlsx_numbers_and_no_formula", "test_manifest_per_authority",
        "test_a_worker_that_dies_is_recorded_and_the_others_built", "test_batch_on_an_existing_cluster"},
    "tests/test_batch_real.py": {"test_the_command_exits_1_when_one_pack_fails_and_says_which"},
    "tests/test_habits.py": {  # collects the whole suite in a child process; runs the nbstripout hook
        "test_test_fast_leaves_out_every_build_and_no_whole_module_of_unit_tests",
        "test_the_nbstripout_hook_removes_outputs_and_keeps_tags_ids_and_cspack_metadata"},
    "tests/test_ledger.py": {"test_messy_export_cleans_to_the_clean_generation"},
    "tests/test_synthetic.py": {  # whole generations of the synthetic authority
        "test_same_seed_same_bytes_and_bundled_data_match_a_fresh_generation", "test_messy_returns_read_to_the_clean_tables",
        "test_scale_multiplies_the_authority", "test_messy_differs_in_bytes_not_in_content",
        "test_published_counts_of_any_authority_and_the_unpinned_mode"},
    "tests/test_hostile_inputs.py": {"test_H57_any_cells_give_a_reconciled_read_or_a_ledger_error_never_a_traceback"},
    "tests/test_placements.py": {"test_markov_and_backtest_on_a_steady_state"},
    "tests/test_params_inputs.py": {"test_a_fifo_input_does_not_hang_cspack_check"},
    "tests/test_ssda903_check.py": {"test_check_passes_a_foreign_style_history_read_whole"},
    "tests/test_forecast_guards.py": {"test_entrants_outside_the_band_fall_back_to_the_observed_level"},
    "tests/test_forecast_choice.py": {"test_calibrated_ranges_hold_about_80_percent_where_the_models_own_are_too_narrow"},
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if getattr(item, "originalname", None) in SLOW.get(item.nodeid.split("::")[0], ()):
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("build"):
            continue
        fn = getattr(item, "function", None)
        if fn is None or item.get_closest_marker("e2e"):  # nbval cells (no Python function) and e2e tests
            item.add_marker(pytest.mark.build)
            continue
        module = inspect.getmodule(fn)
        helpers = {n: f for n, f in vars(module).items()
                   if inspect.isfunction(f) and f.__module__ == module.__name__ and not n.startswith("test_")}
        fixtures = [d.func for defs in item._fixtureinfo.name2fixturedefs.values() for d in defs]
        if any(_builds(obj, helpers, set()) for obj in [fn, *fixtures]):
            item.add_marker(pytest.mark.build)


def pytest_configure(config):
    """The test session's builds pseudonymise with a key of their own, outside every project folder
    (never the user's key in ~/.config/cspack)."""
    import os
    import tempfile

    config.addinivalue_line("markers", "slow: a unit test slow in itself; set in tests/conftest.py (SLOW), "
                                       "left out of make test-fast, run by make test")
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


# ---- a toy authority with a ledger: small enough for unit tests of the budget section and the forecast owner ----
TOY_PROFILE = [1, 1, 1, 1, 1, 1, 1.2, 1.2, 1.2, 1.2, 1.2, 1.6]  # the placements line's monthly spending shape
TOY_LINES = {"placements": ("Placements for children in care", "Placements", 12_000_000.0),
             "transport": ("Home to school transport", "Transport", 6_000_000.0)}


def toy_ledger_rows(fy: str, months: int) -> list[dict]:
    """One financial year of the toy ledger (£, as a finance system exports it). Placements spend on the
    TOY_PROFILE, exactly on budget in earlier years; in 2026-27 a quarter higher from July (so its profile
    projection is £12.000m at Quarter 1 and £13.500m at Quarter 2). Transport spends evenly; its budget
    holder forecasts £6.000m, and £5.700m from July 2026. Placements' holder always forecasts £12.600m."""
    start, rows = int(fy[:4]), []
    shape = {"placements": [x / sum(TOY_PROFILE) for x in TOY_PROFILE], "transport": [1 / 12] * 12}
    for p in range(1, months + 1):
        month = f"{start + (p > 9)}-{(p + 2) % 12 + 1:02d}"
        for lid, (name, _, annual) in TOY_LINES.items():
            up = 1.25 if (fy == "2026-27" and lid == "placements" and p > 3) else 1.0
            holder = 12_600_000.0 if lid == "placements" else (5_700_000.0 if fy == "2026-27" and p > 3 else 6_000_000.0)
            rows.append({"financial_year": fy, "period": p, "month": month, "cost_centre": lid[:3].upper() + "1",
                         "cost_centre_name": name, "service_line_id": lid, "service_line": name, "division": "Toy",
                         "subjective": "Toy", "budget_annual": annual, "budget_month": round(annual / 12, 2),
                         "actual": round(annual * shape[lid][p - 1] * up, 2), "commitment": 0.0,
                         "forecast_full_year": holder})
    return rows


def toy_ledger_project(root: Path, quarter: str = "2026-27-Q2", commentary: str = "") -> Path:
    """A project holding the toy authority's ledger (2024-25 and 2025-26 complete, 2026-27 to September)
    and its budget lines' names; params for ``quarter`` (settings.projected_lines: placements)."""
    import pandas as pd

    led = root / "data" / "raw" / "toy" / "ledger"
    led.mkdir(parents=True)
    for fy, months in (("2024-25", 12), ("2025-26", 12), ("2026-27", 6)):
        pd.DataFrame(toy_ledger_rows(fy, months)).to_csv(led / f"ledger_{fy}.csv", index=False)
    pd.DataFrame({"line_id": list(TOY_LINES), "service_line": [v[0] for v in TOY_LINES.values()],
                  "short_name": [v[1] for v in TOY_LINES.values()],
                  "controllable_budget_gbpm": [v[2] / 1e6 for v in TOY_LINES.values()],
                  "full_year_forecast_gbpm": [12.6, 5.7], "source": ["toy", "toy"]}).to_csv(
        root / "data" / "raw" / "toy" / "budget_lines.csv", index=False)
    (root / "params" / "commentary").mkdir(parents=True)
    (root / "params" / "commentary" / f"{quarter}.md").write_text("# Commentary\n\n" + commentary)
    (root / "params" / f"{quarter}.yaml").write_text(f"""\
authority: Toyshire County Council
authority_code: E99999999
portfolio: Children's Services
quarter: {quarter}
data_as_at: 2026-09-30
commentary: params/commentary/{quarter}.md
settings:
  projected_lines: [placements]
inputs:
  budget_lines:
    path: data/raw/toy/budget_lines.csv
    source: "toy authority (tests/conftest.py)"
  ledger:
    path: data/raw/toy/ledger
    kind: ledger
    source: "toy authority (tests/conftest.py)"
""")
    (root / "data" / "processed").mkdir(parents=True)
    (root / "outputs").mkdir()
    return root
