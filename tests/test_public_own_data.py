"""From a public-data pack to the authority's own pack: `cspack new-authority` scaffolds a profile in a
temporary project; adding one local input to it (the bundled synthetic SSDA903 returns, calibrated to
Derbyshire; the synthetic ledger; a budget return; a commentary) switches that section on, while every
section still without its input says in one line what fills it. Counts are checked against plain pandas reads
of the raw returns (each collection year's own return, as DfE counts) and against DfE's published file."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.public.authorities import match
from pipeline.public.local import SECTIONS, LocalInputError, compute_local
from pipeline.public.pack import build_public_pack, load_public_data
from pipeline.public.scaffold import new_authority

ROOT = Path(__file__).resolve().parents[1]
SYN = ROOT / "data" / "raw" / "synthetic"


@pytest.fixture(scope="module")
def data():
    return load_public_data(ROOT)


@pytest.fixture()
def project(tmp_path, data):
    """A project with Derbyshire's scaffolded profile and the synthetic returns and ledger copied in."""
    (tmp_path / "params").mkdir()
    (tmp_path / "notebooks").symlink_to(ROOT / "notebooks", target_is_directory=True)
    (tmp_path / "data/raw").mkdir(parents=True)
    (tmp_path / "data/raw/published").symlink_to(ROOT / "data/raw/published", target_is_directory=True)
    shutil.copytree(SYN / "ssda903", tmp_path / "data/raw/derbyshire/ssda903")
    shutil.copytree(SYN / "ledger", tmp_path / "data/raw/derbyshire/ledger")
    (tmp_path / "data/raw/derbyshire/returns").mkdir()
    shutil.copy(SYN / "returns/2026-27-Q2/budget_lines.csv", tmp_path / "data/raw/derbyshire/returns/budget_lines.csv")
    path, a = new_authority("Derbyshire", tmp_path, data=data)
    return tmp_path, path, a


def _enable(profile: Path, *keys: str, synthetic: bool = True) -> None:
    """Remove the # of each named input in the scaffolded profile (as the profile's comment says to)."""
    text = profile.read_text(encoding="utf-8")
    for k in keys:
        line = next(x for x in text.splitlines() if x.startswith(f"#  {k}:"))
        new = line[1:]
        if synthetic:
            new = new.replace("{path:", "{synthetic: true, path:")
        text = text.replace(line, new)
    profile.write_text(text, encoding="utf-8")


def _single_return_counts(year: int) -> dict[str, int]:
    """DfE's counts for the year to 31 March ``year`` from that collection year's own return, in plain pandas."""
    e = pd.read_csv(SYN / f"ssda903/{year - 1}-{str(year)[2:]}/episodes.csv", dtype=str, keep_default_na=False)
    decom = pd.to_datetime(e["DECOM"], format="%d/%m/%Y")
    dec = pd.to_datetime(e["DEC"].replace("", None), format="%d/%m/%Y")
    start, end = pd.Timestamp(year - 1, 4, 1), pd.Timestamp(year, 3, 31)
    return {"looked_after": e.loc[dec.isna() & (decom <= end), "CHILD"].nunique(),
            "started": e.loc[(e["RNE"] == "S") & (decom >= start) & (decom <= end), "CHILD"].nunique(),
            "ceased": e.loc[(dec >= start) & (dec <= end) & ~e["REC"].isin(["X1", ""]), "CHILD"].nunique()}


def _published(year: int) -> dict[str, int]:
    d = pd.read_csv(ROOT / "data/raw/published/dfe/cla_number_and_rate_per_10k_children.csv", dtype=str,
                    encoding="utf-8-sig")
    d = d[(d["la_name"] == "Derbyshire") & (d["time_period"] == str(year))].set_index("population_type")
    return {"looked_after": int(d.loc["Children looked after on 31 March each year", "children_count"]),
            "started": int(d.loc["Children starting to be looked after each year", "children_count"])}


def test_the_scaffolded_profile_names_no_input_and_every_section_says_what_fills_it(project):
    root, path, a = project
    local = compute_local(a, root)
    assert local.profile == path and local.given == []
    needed = dict(local.still_needed())
    assert list(needed) == [s for s, *_ in SECTIONS]
    assert "finance ledger" in needed["Budget monitoring"] and "SSDA903" in needed[
        "Placements and children looked after by child"]
    # one line each, for a reader: no file names or profile keys
    assert all("\n" not in v and "inputs." not in v and ".csv" not in v for v in needed.values())
    # the log tells the developer which key fills each
    assert any("inputs.ssda903" in line for line in local.log_lines())


def test_ssda903_switches_its_section_on_with_dfe_counts(project, data):
    root, path, a = project
    _enable(path, "ssda903")
    hist = data.cla_wide[data.cla_wide["la_code"] == a.code]
    local = compute_local(a, root, hist[["year", "cla_at_31_march", "cla_started", "cla_ceased"]])
    assert local.given == ["ssda903"] and local.any_synthetic
    assert "Placements and children looked after by child" not in dict(local.still_needed())
    assert "Budget monitoring" in dict(local.still_needed())
    t = local.cla.set_index("year")
    assert list(t.index) == list(range(2020, 2027))  # 31 March 2020 to 2026; the returns run to September 2026
    for y in range(2020, 2027):
        want = _single_return_counts(y)
        assert t.loc[y, "looked_after"] == want["looked_after"], y
        assert t.loc[y, "started"] == want["started"], y
        assert t.loc[y, "ceased"] == want["ceased"], y
    # the synthetic authority is calibrated to Derbyshire: its 31 March counts and starts are DfE's published ones
    for y in range(2021, 2026):  # the years DfE's bundled file gives
        pub = _published(y)
        assert t.loc[y, "looked_after"] == pub["looked_after"] == t.loc[y, "looked_after_published"], y
        assert t.loc[y, "started"] == pub["started"] == t.loc[y, "started_published"], y
    assert local.latest_part["to"] == "30 September 2026"
    assert local.mix["children"].sum() == t.loc[2026, "looked_after"] and abs(local.mix["pct"].sum() - 100) < 1e-9
    rows = local.inputs["ssda903"]["rows"]
    assert rows["read"] == rows["kept"] + rows["dropped by rule"] + rows["quarantined"]


def test_ledger_and_budget_return_switch_budget_monitoring_on(project):
    root, path, a = project
    _enable(path, "ledger", "cost_centres", "budget_lines")
    local = compute_local(a, root)
    assert set(local.given) == {"ledger", "cost_centres", "budget_lines"}
    assert "Budget monitoring" not in dict(local.still_needed())
    led = pd.read_csv(SYN / "ledger/ledger_2026-27.csv")
    at = led[led["month"] == led["month"].max()]
    assert local.ledger_year == "2026-27" and local.ledger_month == pd.Timestamp(led["month"].max() + "-01")
    lines = local.ledger_lines.set_index("service_line")
    for name, g in led.groupby("service_line"):
        assert round(float(lines.loc[name, "actual_to_date_gbpm"]), 6) == round(g["actual"].sum() / 1e6, 6)
    assert round(float(local.ledger_lines["budget_gbpm"].sum()), 6) == round(at["budget_annual"].sum() / 1e6, 6)
    assert round(float(local.ledger_lines["forecast_gbpm"].sum()), 6) == round(at["forecast_full_year"].sum() / 1e6, 6)
    by_year = local.spend_by_year.set_index("financial_year")["actual_gbpm"]
    for f in sorted((SYN / "ledger").glob("ledger_*.csv")):
        y = f.stem.split("_")[1]
        assert round(float(by_year[y]), 6) == round(pd.read_csv(f)["actual"].sum() / 1e6, 6), y
    ret = pd.read_csv(SYN / "returns/2026-27-Q2/budget_lines.csv")
    assert local.budget_lines["budget_gbpm"].sum() == pytest.approx(ret["controllable_budget_gbpm"].sum(), abs=1e-9)
    assert local.budget_lines["forecast_gbpm"].sum() == pytest.approx(ret["full_year_forecast_gbpm"].sum(), abs=1e-9)


def test_bad_profiles_are_refused_naming_the_key(project, tmp_path_factory):
    root, path, a = project
    text = path.read_text(encoding="utf-8")
    path.write_text(text + "  ssda930: {path: data/raw/derbyshire/ssda903, source: x}\n", encoding="utf-8")
    with pytest.raises(LocalInputError, match=r"inputs.ssda930 is not an input.*did you mean ssda903"):
        compute_local(a, root)
    outside = tmp_path_factory.mktemp("elsewhere")
    path.write_text(text + f"  ssda903: {{path: {outside}, source: x}}\n", encoding="utf-8")
    with pytest.raises(LocalInputError, match="outside the project"):
        compute_local(a, root)
    path.write_text(text + "  ssda903: {path: data/raw/derbyshire/ssda903}\n", encoding="utf-8")
    with pytest.raises(LocalInputError, match="'source' is required"):
        compute_local(a, root)
    path.write_text(text + "  ledger: {path: data/raw/derbyshire/nothing, source: x}\n", encoding="utf-8")
    with pytest.raises(LocalInputError, match="does not exist"):
        compute_local(a, root)
    path.write_text(text.replace("authority_code: E10000007", "authority_code: E08000035"), encoding="utf-8")
    with pytest.raises(LocalInputError, match="Derbyshire's profile"):
        compute_local(a, root)


def _text(page: str) -> str:
    body = re.sub(r"<(style|head)\b.*?</\1>", " ", page, flags=re.DOTALL)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<img\b[^>]*>", " ", body)))


@pytest.mark.build  # builds Derbyshire's pack (papermill, a kernel): not in make test-fast
def test_own_pack_with_one_local_input_end_to_end(project, data, tmp_path_factory):
    root, path, a = project
    _enable(path, "ssda903")
    out = tmp_path_factory.mktemp("own") / "derbyshire"
    res = build_public_pack(match("Derbyshire", ROOT), out, data=data, root=root, pdf=False)
    page = res.pack.read_text(encoding="utf-8")
    text = _text(page)
    assert "The authority's own data" in re.findall(r"<h2[^>]*>(.*?)</h2>", page)
    assert "Children looked after from the authority's own returns" in text
    assert "Synthetic data" in text and "SSDA903 returns are synthetic" in text  # the title block says so
    # the own-returns table: 31 March 2025 from the 2024-25 return, beside DfE's published count
    want = _single_return_counts(2025)["looked_after"]
    own = re.search(r"<caption>Children looked after, starting and ceasing: own returns and published</caption>"
                    r"(.*?)</table>", page, re.DOTALL).group(1)
    row = re.search(r'<th[^>]*scope="row"[^>]*>2025</th>(.*?)</tr>', own, re.DOTALL)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
    assert cells[0] == f"{want:,}" and cells[1] == f"{_published(2025)['looked_after']:,}" and cells[2] == "the same"
    # the rest is still public data: benchmarks against England and neighbours
    assert "Children looked after per 10,000 children" in text and "Statistical neighbours" in text
    # sections still needing data say what fills them; the SSDA903 one no longer does
    needed = re.search(r"<caption>Sections that need the authority's own data</caption>(.*?)</table>", page, re.DOTALL)
    assert "Budget monitoring" in needed.group(1) and "finance ledger" in needed.group(1)
    assert "Placements and children looked after by child" not in needed.group(1)
    # no child's identifier reaches the pack
    ids = set(pd.read_csv(SYN / "ssda903/2024-25/episodes.csv", dtype=str)["CHILD"])
    found = set(re.findall(r"\b\d{8}\b", text))
    assert not (ids & found)
    man = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert man["own_data"]["profile"] == "params/derbyshire.yaml"
    assert list(man["own_data"]["inputs"]) == ["ssda903"] and len(man["own_data"]["inputs"]["ssda903"]["sha256"]) == 64
    assert "Budget monitoring" in man["own_data"]["sections_still_needing_data"]
    sheet = pd.read_excel(out / "tables.xlsx", sheet_name="Own returns", engine="openpyxl")
    assert int(sheet.loc[sheet["Year (31 March)"] == 2025, "Looked after (own returns)"].iloc[0]) == want


def test_commentary_is_read_by_heading_and_escaped(project):
    root, path, a = project
    (root / "params" / "commentary").mkdir()
    (root / "params" / "commentary" / "derbyshire.md").write_text(
        "## Budget monitoring\n\nOver budget by <b>£2m</b>.\n<!-- a note to self -->\n\n## Empty\n\n",
        encoding="utf-8")
    _enable(path, "commentary", synthetic=False)
    local = compute_local(a, root)
    assert local.commentary == {"Budget monitoring": "Over budget by &lt;b&gt;£2m&lt;/b&gt;."}
    assert "Commentary" not in dict(local.still_needed())


def test_the_command_refuses_a_wrong_profile_before_building(project, monkeypatch, capsys):
    root, path, a = project
    path.write_text(path.read_text(encoding="utf-8") + "  ssda903: {path: data/raw/derbyshire/ssda903}\n",
                    encoding="utf-8")
    monkeypatch.setenv("CSPACK_ROOT", str(root))
    assert main(["run", "--authority", "Derbyshire", "--no-pdf"]) == 1
    err = capsys.readouterr().err
    assert "params/derbyshire.yaml: inputs.ssda903: 'source' is required" in err and "Traceback" not in err
    assert not (root / "outputs").exists()
