"""One end-to-end build of the public-data pack (Leeds): the pack names Leeds, holds its benchmarks, says
"Public data only" with the data's latest year, and carries no developer text. Also the command line's
errors for an unknown authority."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.public.pack import build_public_pack, load_public_data

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("public") / "leeds"
    res = build_public_pack("Leeds", out, data=load_public_data(ROOT), root=ROOT, pdf=False)
    return res


def _text(page: str) -> str:
    body = re.sub(r"<(style|head)\b.*?</\1>", " ", page, flags=re.DOTALL)
    body = re.sub(r"<img\b[^>]*>", " ", body)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


@pytest.mark.build  # builds the Leeds pack (papermill, a kernel): not in make test-fast
def test_leeds_pack_names_leeds_with_its_benchmarks(built):
    page = built.pack.read_text(encoding="utf-8")
    text = _text(page)
    assert built.authority.name == "Leeds" and built.pack.exists()
    assert "<title>Children's services: public data pack: Leeds</title>" in page
    assert "Public data only" in text and "31 March 2025" in text
    # the benchmark tables, Leeds's rate of children looked after and England's from DfE's file
    cla = pd.read_csv(ROOT / "data/raw/published/dfe/cla_number_and_rate_per_10k_children.csv", dtype=str,
                      encoding="utf-8-sig")
    cla = cla[(cla["time_period"] == "2025") & (cla["population_type"] == "Children looked after on 31 March each year")]
    leeds = cla.loc[cla["la_name"] == "Leeds", "rate_per_10000"].iloc[0]
    eng = cla.loc[cla["geographic_level"] == "National", "rate_per_10000"].iloc[0]
    row = re.search(r"<tr><th[^>]*scope=\"row\"[^>]*>Children looked after per 10,000 children</th>(.*?)</tr>", page, re.DOTALL)
    assert row, "no benchmark row for the children looked after rate"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
    assert cells[1] == f"{float(leeds):.1f}" and cells[2] == f"{float(eng):.1f}"
    assert "Child protection: Leeds against England, its region and its statistical neighbours" in text
    assert "Sheffield" in text  # a statistical neighbour in DfE's 2025 model
    assert "Quartile band" in text and "of 151" in text
    # every chart has alt text and its data table
    imgs = re.findall(r"<img\b[^>]*>", page)
    assert len(imgs) >= 8 and all(re.search(r'alt="[^"]{20,}"', i) for i in imgs)
    assert page.count("The chart's figures as a table") == len(imgs)
    # sections that need local data say what would fill them
    assert "Budget monitoring" in text and "ledger" in text


@pytest.mark.build  # builds the Leeds pack (papermill, a kernel): not in make test-fast
def test_leeds_pack_has_no_developer_text(built):
    text = _text(built.pack.read_text(encoding="utf-8"))
    for bad in (".csv", ".parquet", ".yaml", ".pkl", "params", "Traceback", "E08000035", "NaN", "nan%", "None",
                "_rate", "cla_", "figures_file", "TotalLACFinance", "DataFrame"):
        assert bad not in text, bad
    assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", text), "a date not in words"
    assert not re.search(r"\*\*|##|`", text), "Markdown left in the pack"


@pytest.mark.build  # builds the Leeds pack (papermill, a kernel): not in make test-fast
def test_leeds_outputs_and_manifest(built):
    m = json.loads((built.out_dir / "manifest.json").read_text())
    assert m["status"] == "ok" and m["code"] == "E08000035" and m["summary"]["cla_number"] == 1498
    assert set(m["summary"]["bands"].values()) <= set("ABCD")
    assert (built.out_dir / "tables.xlsx").exists()
    sheets = pd.read_excel(built.out_dir / "tables.xlsx", sheet_name=None, engine="openpyxl")
    assert "Benchmarks" in sheets and "Leeds" in sheets["Benchmarks"].columns
    assert built.summary["year"] == 2025 and built.seconds > 0


def test_cli_unknown_authority_lists_nearest(capsys):
    assert main(["run", "--authority", "Sheffeild"]) == 2
    err = capsys.readouterr().err
    assert "Sheffield" in err and "Traceback" not in err


def test_kernel_sockets_are_the_builds_own(tmp_path):
    """Builds side by side must not share a kernel socket: the kernel manager talks over Unix sockets in the
    build's own folder, not TCP ports nor jupyter_client's default name in the shared working folder."""
    from pipeline.public.pack import _ipc_kernel_manager

    a = _ipc_kernel_manager(tmp_path / "a.log", tmp_path / "a")(kernel_name="cspack")
    b = _ipc_kernel_manager(tmp_path / "b.log", tmp_path / "b")(kernel_name="cspack")
    assert a.transport == b.transport == "ipc"
    assert a.ip == str(tmp_path / "a" / "k") and b.ip == str(tmp_path / "b" / "k")
