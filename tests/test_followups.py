"""Follow-ups to issue 14: readers' labels for every finding level, full chart titles, the aged-debt
direction against the previous quarter, and the stale notice in the title block."""

import pandas as pd
import pytest

from pipeline import sections
from pipeline.context import open_quarter

from .conftest import copy_project


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("followups") / "proj")


@pytest.fixture(scope="module")
def ctx(project, tmp_path_factory):
    return open_quarter("2025-26-Q2", work_dir=str(tmp_path_factory.mktemp("w")), root=project)


def test_error_findings_are_labelled_for_readers(ctx, monkeypatch):
    real = ctx.findings()
    error = {c: "" for c in real.columns}
    error.update(input="budget", check="required columns", finding="A column the pack needs is missing.",
                 level="error")
    f = pd.concat([real, pd.DataFrame([error])], ignore_index=True)
    monkeypatch.setattr(type(ctx), "findings", lambda self: f)
    html = sections.findings_table(ctx).data
    published = ctx.tables.load("data_quality_findings")
    levels = set(published["Level"])
    assert "error" not in levels and "Must fix" in levels
    assert levels <= {"Note", "Check", "Must fix"}
    # every level the findings hold has a reader's label, and the key beneath the table explains it
    assert set(real["level"]) <= set(sections.LEVEL_LABELS)
    assert ">Must fix<" in html and "Must fix: " in html
