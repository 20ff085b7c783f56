"""A stale quarter never publishes silently (issue 14): `cspack new-quarter 2026-27-Q3` on the unchanged
Quarter 2 inputs fails `cspack check` and the build (exit 1), naming each input that does not reach the
quarter and what it covers; listing them under `allow_stale` builds, and the pack says so in words."""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest

from pipeline.build.runner import BuildError, run_quarter
from pipeline.cli import check_quarter, main
from pipeline.core.params import ParamsError, load_params
from pipeline.quarter import freshness

from .conftest import copy_project

STALE_Q2 = {"budget_lines", "savings_targets", "debt_written_off", "returns_history", "additional_funding",
            "savings_initiatives", "growth_items", "financial_risks", "earmarked_reserves", "aged_debt",
            "traded_fully", "traded_partially", "deliverables", "measures", "ledger", "ssda903"}


@pytest.fixture(scope="module")
def q3_project(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("fresh") / "proj")
    mp = pytest.MonkeyPatch()
    mp.setenv("CSPACK_ROOT", str(root))
    assert main(["new-quarter", "2026-27-Q3"]) == 0
    mp.undo()
    return root


def _allow(root, names, extra=""):
    p = root / "params" / "2026-27-Q3.yaml"
    text = re.sub(r"(?m)^allow_stale:.*\n", "", p.read_text())
    p.write_text(text + f"allow_stale: [{', '.join(names)}]\n" + extra)


def test_ledger_and_episodes_reveal_the_period_they_cover():
    ledger = pd.DataFrame({"month": pd.to_datetime(["2026-08-01", "2026-09-01", "2026-10-01"]),
                           "actual": [5, 7, 0]})  # October has budget rows but no actuals yet
    assert freshness.ledger_coverage(ledger) == date(2026, 9, 30)
    eps = pd.DataFrame({"DECOM": pd.to_datetime(["2026-01-03", "2026-11-20"]),
                        "DEC": pd.to_datetime(["2026-12-02", None])})
    assert freshness.ssda903_coverage(eps) == date(2026, 12, 2)


def test_a_scaffolded_quarter_fails_check_until_its_inputs_are_updated(q3_project, capsys, monkeypatch):
    code, lines = check_quarter("2026-27-Q3", q3_project)
    report = "\n".join(lines)
    assert code == 1
    assert "do not reach Quarter 3 2026-27 (to 31 December 2026)" in report
    assert "ledger: the ledger runs to September 2026" in report
    assert "ssda903: the SSDA903 returns run to 30 September 2026" in report
    assert "budget_lines: the budget lines return is for Quarter 2 2026-27" in report
    named = set(re.findall(r"^  - (\w+):", report, flags=re.M))
    assert named == STALE_Q2  # every dated input, and no reference data (DfE files, the catalogue)
    monkeypatch.setenv("CSPACK_ROOT", str(q3_project))
    assert main(["check", "--quarter", "2026-27-Q3"]) == 1
    assert "ledger runs to September 2026" in capsys.readouterr().out
    # the quarter the inputs are for passes
    code, lines = check_quarter("2026-27-Q2", q3_project)
    assert code == 0 and not any(l.startswith("ERROR") for l in lines)
    assert any("ok" in l and "ledger runs to September 2026" in l for l in lines)


def test_the_build_refuses_a_stale_quarter_and_leaves_nothing(q3_project):
    with pytest.raises(BuildError) as exc:
        run_quarter("2026-27-Q3", q3_project, echo=False, progress=False)
    msg = str(exc.value)
    assert "refused" in msg and "ledger runs to September 2026" in msg and "allow_stale" in msg
    assert not (q3_project / "outputs" / "2026-27" / "Q3").exists()
    assert not list((q3_project / "outputs" / "2026-27").glob(".Q3.staging-*"))
    assert not list((q3_project / "data" / "processed").glob(".2026-27-Q3.staging-*"))


def test_allow_stale_names_inputs(q3_project):
    _allow(q3_project, ["ledger", "no_such_input"])
    with pytest.raises(ParamsError, match="allow_stale: 'no_such_input' is not one of the inputs"):
        load_params("2026-27-Q3", q3_project)
    _allow(q3_project, ["ledger"])
    code, lines = check_quarter("2026-27-Q3", q3_project)
    report = "\n".join(lines)
    assert code == 1  # the other fifteen are still stale
    assert "(allowed: allow_stale)" in report and "  - ledger:" not in report


def test_with_allow_stale_it_builds_and_says_so(q3_project):
    _allow(q3_project, sorted(STALE_Q2))
    params = load_params("2026-27-Q3", q3_project)
    assert set(params.allow_stale) == STALE_Q2
    assert check_quarter("2026-27-Q3", q3_project)[0] == 0
    nbs = sorted((q3_project / "notebooks").glob("[0-9]*.ipynb"))
    result = run_quarter("2026-27-Q3", q3_project, echo=False, progress=False,
                         notebooks=[n for n in nbs if n.name.startswith(("00_", "10_", "90_"))])
    html = result.pack.read_text(encoding="utf-8")
    assert "Not up to date." in html
    assert "do not reach the end of Quarter 3 2026-27 (31 December 2026)" in html
    assert "the ledger runs to September 2026" in html
    assert "the SSDA903 returns run to 30 September 2026" in html
    # and the data section lists what each input covers
    assert "does not reach the quarter (allowed)" in html
