"""cspack new-authority: the profile holds the authority's codes, region, DfE neighbours and unit-cost
defaults, checked against plain reads of the published files; it never overwrites a profile."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.cli import main
from pipeline.public.scaffold import ScaffoldError, new_authority

ROOT = Path(__file__).resolve().parents[1]
NEEDED = ["dfe/sn_model_2025_wide.csv", "dfe/cla_number_and_rate_per_10k_children.csv",
          "finance/lait_s251_finance_la_2015-16_to_2024-25.csv"]


@pytest.fixture()
def project(tmp_path):
    for rel in NEEDED:
        dest = tmp_path / "data" / "raw" / "published" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "data" / "raw" / "published" / rel, dest)
    (tmp_path / "params").mkdir()
    (tmp_path / "notebooks").mkdir()
    return tmp_path


def test_profile_from_published_data(project):
    path, a = new_authority("Leeds City Council", project)
    assert path == project / "params" / "leeds.yaml"
    prof = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert prof["authority"] == "Leeds" and prof["authority_code"] == "E08000035" and prof["dfe_la_code"] == "383"
    assert prof["region"] == "Yorkshire and The Humber"
    sn = pd.read_csv(ROOT / "data/raw/published/dfe/sn_model_2025_wide.csv", dtype=str, encoding="utf-8-sig")
    row = sn[sn["old_la_code"] == "383"].iloc[0]
    assert [n["dfe_la_code"] for n in prof["statistical_neighbours"]] == [row[f"SN_{i}"] for i in range(1, 11)]
    fin = pd.read_csv(ROOT / "data/raw/published/finance/lait_s251_finance_la_2015-16_to_2024-25.csv", dtype=str)
    fin = fin[(fin["la_number"] == "383.0") & (fin["period"] == "2024-25 (OT)")].set_index("measure")["value"]
    costs = prof["unit_cost_defaults"]
    assert costs["year"] == "2024-25"
    assert costs["fostering_per_week"] == int(fin["FosteringFinance"])
    assert costs["residential_per_week"] == int(fin["RescareFinance"])
    assert costs["looked_after_per_week"] == int(fin["LACFinance"])
    with pytest.raises(ScaffoldError, match="already exists"):
        new_authority("383", project)


def test_boundary_note_in_profile_and_cli_errors(project, monkeypatch, capsys):
    path, _ = new_authority("E06000063", project)
    prof = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert prof["authority"] == "Cumberland" and "Cumbria" in prof["boundary_note"]
    monkeypatch.setenv("CSPACK_ROOT", str(project))
    assert main(["new-authority", "Cumberland"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["new-authority", "cumberland", "--force"]) == 0
    assert main(["new-authority", "Atlantis"]) == 2
    assert "Nearest names" in capsys.readouterr().err
