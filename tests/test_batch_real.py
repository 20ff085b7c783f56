"""``cspack batch`` end to end on the real public-data pack: two small authorities on two worker processes
(about two minutes), checked against DfE's published counts read here with plain pandas; and the
selection of authorities (all, a region, a list) the command is given."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from pipeline.batch.rollup import key_bands
from pipeline.cli import main
from pipeline.public.authorities import UnknownAuthority, all_authorities, select

ROOT = Path(__file__).resolve().parents[1]
CLA = ROOT / "data" / "raw" / "published" / "dfe" / "cla_number_and_rate_per_10k_children.csv"


def published_cla(code: str) -> dict:
    """Children looked after at 31 March, the rate and its change, for ``code`` in DfE's file, read directly."""
    df = pd.read_csv(CLA, dtype=str, encoding="utf-8-sig")
    df = df[(df["geographic_level"] == "Local authority") & (df["new_la_code"] == code)
            & (df["population_type"] == "Children looked after on 31 March each year")]
    df = df.assign(year=df["time_period"].astype(int)).sort_values("year")
    last, prev = df.iloc[-1], df.iloc[-2]
    return {"year": int(last["year"]), "number": int(last["children_count"]), "rate": float(last["rate_per_10000"]),
            "change": float(last["rate_per_10000"]) - float(prev["rate_per_10000"])}


def test_select_all_region_and_list():
    everyone = all_authorities()
    assert len(select("all")) == len(everyone) >= 150
    em = select("East Midlands")
    assert {a.region for a in em} == {"East Midlands"} and "Derby" in {a.name for a in em}
    assert len(em) == sum(1 for a in everyone if a.region == "East Midlands")
    listed = select("E06000017,831,Leeds")  # a new code, an old code and a name
    assert [a.name for a in listed] == ["Rutland", "Derby", "Leeds"]
    with pytest.raises(UnknownAuthority):
        select("Derby,Nowhereshire")


def test_unknown_authority_stops_the_batch_before_anything_is_built(tmp_path, capsys):
    code = main(["batch", "--authorities", "Derby,Nowhereshire", "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "Nowhereshire" in err and "Nearest names" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_key_bands_of_the_real_summary_measures():
    measures = ["Children looked after per 10,000 children", "Children starting to be looked after per 10,000 children",
                "Children looked after with 3 or more placements in the year, %",
                "Looked after 2.5 years or more (under 16): same placement for 2 years, %",
                "Re-referrals within 12 months, %", "Initial child protection conferences within 15 working days, %",
                "Social worker turnover (full-time equivalent), %", "Average caseload per social worker holding cases"]
    assert key_bands(measures) == [measures[i] for i in (0, 2, 3, 4, 5, 6)]


@pytest.mark.e2e
def test_real_batch_of_two_authorities(tmp_path, capsys):
    out = tmp_path / "batch"
    code = main(["batch", "--authorities", "Rutland,Derby", "--out", str(out), "--workers", "2"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert re.search(r"\[\d/2\] Rutland \(E06000017\): built in", printed)
    m = json.loads((out / "manifest.json").read_text())
    assert (m["built"], m["failed"], m["workers"]) == (2, 0, 2)
    soup = BeautifulSoup((out / "index.html").read_text(encoding="utf-8"), "html.parser")
    assert not soup.find_all("script")
    table = soup.find("table")
    heads = [th.get_text(" ", strip=True) for th in table.thead.find_all("th")]
    rows = {tr.th.get_text(): dict(zip(heads, tr.find_all(["th", "td"]))) for tr in table.tbody.find_all("tr")}
    assert set(rows) == {"Rutland", "Derby"}
    for rec in m["results"]:
        row = rows[rec["name"]]
        pack = out / row["Authority"].a["href"]
        assert pack.is_file() and rec["name"] in pack.read_text(encoding="utf-8")[:20000]
        assert (pack.parent / "pack.pdf").is_file()  # Chromium printed it inside a batch task too
        own = json.loads((pack.parent / "manifest.json").read_text())  # the pack's own record of its summary
        assert own["summary"]["cla_number"] == rec["summary"]["cla_number"]
        dfe = published_cla(rec["code"])
        assert row["Year to 31 March"].get_text() == str(dfe["year"])
        assert float(row["Children looked after"].get_text().replace(",", "")) == dfe["number"]
        assert float(row["Children looked after per 10,000 children"].get_text()) == dfe["rate"]
        change = row["Change on the year before (per 10,000)"].get_text()
        assert (0.0 if change == "no change" else float(change)) == dfe["change"]
        band = row["Quartile band: Children looked after per 10,000 children"]
        assert band.get_text() == rec["summary"]["bands"]["Children looked after per 10,000 children"]
        assert band.get_text() in {"A", "B", "C", "D"}
    assert not (out / ".batch-work").exists()


def failing_for_derby(authority, out_dir, *, data=None, work_dir=None, root=None, **options):
    """A builder that fails for Derby with a reader's message and writes a one-line pack for the others."""
    if authority.name == "Derby":
        raise ValueError("no published spend for Derby in 2024-25")
    (Path(out_dir) / "pack.html").write_text(f"<p>{authority.name}</p>", encoding="utf-8")
    return SimpleNamespace(pack=Path(out_dir) / "pack.html", seconds=0.0,
                           summary={"cla_rate_per_10k": 40.0, "year": 2025, "bands": {}})


def test_the_command_exits_1_when_one_pack_fails_and_says_which(tmp_path, capsys, monkeypatch):
    import pipeline.batch.run as batch_run

    real = batch_run.run_batch

    def with_fake_builder(authorities, out, **kw):
        assert [a.name for a in authorities] == ["Rutland", "Derby"] and kw["workers"] == 2
        return real(authorities, out, **{**kw, "builder": failing_for_derby, "data": {"unused": True}})

    monkeypatch.setattr(batch_run, "run_batch", with_fake_builder)
    code = main(["batch", "--authorities", "Rutland,Derby", "--out", str(tmp_path / "out"), "--workers", "2"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "built 1 of 2 packs" in out and re.search(r"\[\d/2\] Derby \(E06000015\): FAILED: no published spend", out)
    assert "1 pack was not built: Derby: no published spend for Derby in 2024-25" in err and "Traceback" not in err
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m["status"] == "failed" and [r["status"] for r in m["results"]] == ["ok", "failed"]


@pytest.mark.parametrize("args, message", [(["--workers", "0"], "--workers must be 1 or more"),
                                           (["--workers", "2", "--scheduler", "tcp://x:8786"], "not both")])
def test_bad_worker_options_are_refused(tmp_path, capsys, args, message):
    assert main(["batch", "--authorities", "Rutland", "--out", str(tmp_path / "out"), *args]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "out").exists()
