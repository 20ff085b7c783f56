"""SSDA903 histories laid out as a council might hand them over (issue 13, "inputs as councils hold them"):
years 2013-14 to 2016-17 with the codes of those years (Q1/Q2 foster codes, H5, P1-P3, R1-R5, T0-T4, Z1, E4,
no REASON_PLACE_CHANGE column before 2015-16), one year as DfE's XML submission, one as an Excel workbook
whose CHILD codes lost their leading zeros, one with differently-cased and extra columns and files named by the
council's system, and year folders named oddly. Built from the DfE validator's fake return (MIT, copied in
tests/fixtures/ssda903/validator-fake) by ``derive_history``; every count is checked against the clean
history's own open episodes, computed in plain pandas before the files were made hostile."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.ingest import ssda903

from .test_ssda903_thirdparty import derive_history, in_care

TOLERANCE = 0.02


def shift_years(text: pd.Series, years: int) -> pd.Series:
    """dd/mm/yyyy text moved by whole years (29 February kept: the shifts used here are multiples of 4)."""
    d = pd.to_datetime(text.where(text != ""), format="%d/%m/%Y")
    return (d + pd.DateOffset(years=years)).dt.strftime("%d/%m/%Y").fillna("")


def clean_history(shift: int, last: int = 2020, seed: int = 13):
    """The derived clean history (2017-18 to ``last``-``last+1``) moved by ``shift`` years: (episodes by
    year, headers by year, children open at each year's end), with dates as dd/mm/yyyy text."""
    eps, heads, truth = derive_history(seed, last)
    out_e, out_h, out_t = {}, {}, {}
    for y in eps:
        label = ssda903.collection_year_label(int(y[:4]) + shift)
        e, h = eps[y].copy(), heads[y].copy()
        for c in ("DECOM", "DEC"):
            e[c] = shift_years(e[c], shift)
        for c in ("DOB", "MC_DOB"):
            h[c] = shift_years(h[c].fillna(""), shift)
        out_e[label], out_h[label], out_t[label] = e, h, truth[y]
    return out_e, out_h, out_t


OLD_PLACES = ["H5", "P1", "P2", "P3", "R1", "R2", "R3", "R5", "T0", "T1", "T2", "T3", "T4", "Z1"]


def old_codes(e: pd.DataFrame, year: str, rng) -> pd.DataFrame:
    """The codes a 2013-14 to 2016-17 return holds: Q1/Q2 for foster placements and E4 for 'returned home'
    where those years used them, and a share of placements in the old-style codes H5, P1-P3, R1-R5, T0-T4, Z1
    (T and Z with no provider, as DfE requires)."""
    e = e.copy()
    y = int(year[:4])
    if y <= 2014:
        e.loc[e["PLACE"].isin(["U1", "U2", "U3"]), "PLACE"] = "Q1"
        e.loc[e["PLACE"].isin(["U4", "U5", "U6"]) & (rng.random(len(e)) < 0.5), "PLACE"] = "Q2"
        e.loc[e["REC"].isin(["E4A", "E4B"]), "REC"] = "E4"
    pick = rng.random(len(e)) < 0.15
    e.loc[pick, "PLACE"] = rng.choice(OLD_PLACES, int(pick.sum()))
    tz = e["PLACE"].str.fullmatch(r"T\d|Z1")
    e.loc[tz, "PLACE_PROVIDER"] = ""
    if y < 2015:
        e = e.drop(columns="REASON_PLACE_CHANGE")
    else:
        e.loc[~e["REASON_PLACE_CHANGE"].isin(ssda903.valid_codes("REASON_PLACE_CHANGE", year)), "REASON_PLACE_CHANGE"] = ""
    return e


def iso(text: pd.Series) -> pd.Series:
    return pd.to_datetime(text.where(text != ""), format="%d/%m/%Y").dt.strftime("%Y-%m-%d").fillna("")


def write_xml(path: Path, e: pd.DataFrame, h: pd.DataFrame) -> None:
    """DfE's XML submission: <EXPSSDA903><CHILD><HEADER>...</HEADER><EPISODE>...</EPISODE></CHILD>, dates as
    XML dates (yyyy-mm-dd), the placement as <PL>."""
    root = ET.Element("EXPSSDA903")
    h = h.set_index("CHILD")
    for child, g in e.groupby("CHILD", sort=False):
        c = ET.SubElement(root, "CHILD")
        hd = ET.SubElement(c, "HEADER")
        ET.SubElement(hd, "CHILDID").text = child
        for col in ("SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"):
            v = h.at[child, col] if child in h.index else ""
            ET.SubElement(hd, col).text = iso(pd.Series([v])).iloc[0] if col in ("DOB", "MC_DOB") else v
        for r in g.itertuples(index=False):
            ep = ET.SubElement(c, "EPISODE")
            for col, v in r._asdict().items():
                if col == "CHILD":
                    continue
                ET.SubElement(ep, "PL" if col == "PLACE" else col).text = \
                    iso(pd.Series([v])).iloc[0] if col in ("DECOM", "DEC") else v
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def write_old_years(root: Path, rng=None) -> dict[str, set]:
    """A council's history 2013-14 to 2016-17 written as a new user might find it; returns the children open
    at each year's end (the truth, from the clean returns)."""
    rng = rng or np.random.default_rng(2013)
    eps, heads, truth = clean_history(-4, last=2020)
    assert sorted(eps) == ["2013-14", "2014-15", "2015-16", "2016-17"]
    for y in eps:
        e, h = old_codes(eps[y], y, rng), heads[y]
        if y == "2013-14":  # DfE's XML submission, named by the case-management system
            d = root / "2013-14"
            d.mkdir(parents=True)
            write_xml(d / "LA999_SSDA903_2014.xml", e, h)
        elif y == "2014-15":  # an Excel workbook: CHILD codes as numbers (zeros lost), dates as date cells
            d = root / "2014-2015"
            d.mkdir(parents=True)
            x = e.assign(CHILD=e["CHILD"].astype(int))
            for c in ("DECOM", "DEC"):
                x[c] = pd.to_datetime(x[c].where(x[c] != ""), format="%d/%m/%Y")
            hx = h.assign(CHILD=h["CHILD"].astype(int), DOB=pd.to_datetime(h["DOB"], format="%d/%m/%Y"))
            with pd.ExcelWriter(d / "903 return 2014-15.xlsx") as xw:
                x.to_excel(xw, sheet_name="Episodes", index=False)
                hx.to_excel(xw, sheet_name="Header", index=False)
        elif y == "2015-16":  # the system's own file names and headings, extra columns, an odd folder name
            d = root / "SSDA903 2015-16 final"
            d.mkdir(parents=True)
            x = e.rename(columns={"CHILD": "Child", "DECOM": "decom", "PLACE": "Place", "PLACE_PROVIDER": "Place Provider",
                                  "REASON_PLACE_CHANGE": "reason_place_change", "DEC": " DEC "})
            x.insert(0, "LA", "Testshire")
            x["Notes"] = ""
            x.to_csv(d / "SSDA903_2015_Episodes.csv", index=False)
            h.rename(columns={"CHILD": "child", "DOB": "Dob"}).to_csv(d / "SSDA903_2015_Header.csv", index=False)
        else:  # ISO dates, Windows-1252
            d = root / "2016_17"
            d.mkdir(parents=True)
            x = e.assign(DECOM=iso(e["DECOM"]), DEC=iso(e["DEC"]))
            x.to_csv(d / "episodes.csv", index=False, encoding="cp1252")
            h.assign(DOB=iso(h["DOB"])).to_csv(d / "header.csv", index=False, encoding="cp1252")
    return truth


def write_recent_years(root: Path) -> dict[str, set]:
    """2022-23 to 2025-26: K3 for supported accommodation from 2024-25, Z1 split into Z11-Z14 from 2025-26; the
    2024-25 header still writes SEX as 1/2 (the council's system not yet updated to M/F)."""
    rng = np.random.default_rng(2024)
    eps, heads, truth = clean_history(5, last=2020)
    eps = {y: e for y, e in eps.items() if y <= "2025-26"}
    for y, e in eps.items():
        e = e.copy()
        h = heads[y].copy()
        if y >= "2024-25":
            e.loc[e["PLACE"].isin(["H5", "P2"]), "PLACE"] = "K3"
            h["SEX"] = h["SEX"].replace({"M": "1", "F": "2"})
        else:
            e.loc[e["PLACE"].eq("K3"), "PLACE"] = "H5"
        if y >= "2025-26":
            z = e["PLACE"].eq("Z1")
            e.loc[z, "PLACE"] = rng.choice(["Z11", "Z12", "Z13", "Z14"], int(z.sum()))
        d = root / y
        d.mkdir(parents=True)
        e.to_csv(d / "episodes.csv", index=False)
        h.to_csv(d / "header.csv", index=False)
    return {y: t for y, t in truth.items() if y in eps}


def eps_2016_17_dates(root: Path) -> pd.Series:
    e = pd.read_csv(root / "2016_17" / "episodes.csv", dtype=str, keep_default_na=False, encoding="cp1252")
    return pd.concat([e["DECOM"], e["DEC"][e["DEC"] != ""]])


def merged(root: Path):
    years, notes = ssda903.find_returns(root)
    return years, ssda903.merge_returns({y: ssda903.read_return(p) for y, p in years.items()}, notes)


def kept_at_each_end(m, truth):
    return {y: (len(in_care(m["episodes"], pd.Timestamp(int(y[:4]) + 1, 3, 31))), len(t)) for y, t in truth.items()}


def test_old_years_in_xml_excel_and_odd_csv_keep_every_child_in_care(tmp_path):
    truth = write_old_years(tmp_path)
    years, m = merged(tmp_path)
    # every year found, the oddly named folders included
    assert sorted(years) == ["2013-14", "2014-15", "2015-16", "2016-17"]
    assert years["2015-16"].name == "SSDA903 2015-16 final"
    r = dict(zip(m["reconciliation"]["item"], m["reconciliation"]["count"]))
    assert r["rows quarantined"] == 0
    assert len(m["tables"]) and m["tables"]["rows_quarantined"].sum() == 0
    # the Excel year's CHILD codes got their zeros back: one child across the years
    assert any(n.startswith("2014-15") and "leading zeros" in n for n in m["notes"])
    for y, want in truth.items():
        got = in_care(m["episodes"], pd.Timestamp(int(y[:4]) + 1, 3, 31))
        assert got == want, y  # exactly the children open at the end of each clean return
    c = m["continuity"]
    assert (c["difference"] == 0).all() and c["lost_to_quarantine"].sum() == 0
    # a full year's return is checked on 31 March, though its last episode event is a few days earlier
    last = pd.to_datetime(eps_2016_17_dates(tmp_path), format="%Y-%m-%d").max()
    assert last < pd.Timestamp(2017, 3, 31) and c["date"].iloc[-1] == pd.Timestamp(2017, 3, 31)
    # old codes of their years are not flagged; the 2013-14 and 2014-15 files have no REASON_PLACE_CHANGE
    fl = m["flags"]
    codes = fl[fl["rule"] == "codes"]
    assert not codes["value"].isin(["Q1", "Q2", "E4", "H5", "P1", "P2", "R1", "R5", "T0", "T4", "Z1"]).any()
    # nor is the blank provider DfE asks for on temporary (T) and other (Z) placements
    tz = m["episodes"]["PLACE"].str.fullmatch(r"T\d|Z1") & (m["episodes"]["PLACE_PROVIDER"] == "")
    assert tz.sum() > 100 and not ((codes["column"] == "PLACE_PROVIDER") & (codes["value"] == "")).any()
    cat = ssda903.place_category(pd.Series(["Q1", "Q2", "H5", "P2", "R1", "T2", "Z1"]), pd.Series(["PR1"] * 7))
    assert cat.tolist() == ["kinship_fostering", "in_house_fostering", "supported_accommodation",
                            "supported_accommodation", "other", "other", "other"]


def test_recent_years_with_sex_written_as_1_and_2_keep_every_header(tmp_path):
    truth = write_recent_years(tmp_path)
    years, m = merged(tmp_path)
    assert sorted(years) == ["2022-23", "2023-24", "2024-25", "2025-26"]
    heads = {y: pd.read_csv(tmp_path / y / "header.csv", dtype=str, keep_default_na=False) for y in years}
    # plain pandas: SEX 1/2 in 2024-25 and 2025-26 (M/F collected from 2024-25)
    old_style = sum(int(h["SEX"].isin(["1", "2"]).sum()) for y, h in heads.items() if y >= "2024-25")
    assert old_style > 100
    t = m["tables"]
    assert t.loc[t["table"] == "header", "rows_quarantined"].sum() == 0
    assert (m["flags"]["rule"] == "header_codes").sum() == old_style
    assert set(m["header"]["SEX"].dropna()) <= {"M", "F"}
    for y, want in truth.items():
        assert in_care(m["episodes"], pd.Timestamp(int(y[:4]) + 1, 3, 31)) == want, y


@pytest.mark.parametrize("name", ["SSDA903 2019-20", "903_2019_20", "2019-20 final", "FY2019-20"])
def test_a_year_folder_named_around_its_year_is_read(tmp_path, name):
    (tmp_path / name).mkdir()
    years, notes = ssda903.find_returns(tmp_path)
    assert list(years) == ["2019-20"] and years["2019-20"].name == name
    assert any(f"'{name}' read as collection year 2019-20" in n for n in notes)


def test_a_copy_beside_its_year_is_ignored_and_two_loose_folders_for_one_year_are_an_error(tmp_path):
    (tmp_path / "2019-20").mkdir()
    (tmp_path / "2019-20 - Copy").mkdir()
    (tmp_path / "old").mkdir()
    years, notes = ssda903.find_returns(tmp_path)
    assert {y: p.name for y, p in years.items()} == {"2019-20": "2019-20"}
    assert sum("not read" in n for n in notes) == 2
    other = tmp_path / "other"
    for name in ("2018-19 draft", "2018-19 final"):
        (other / name).mkdir(parents=True)
    with pytest.raises(ValueError, match="two folders for collection year 2018-19"):
        ssda903.find_returns(other)


def test_a_namespaced_xml_submission_and_spreadsheet_dates_are_read(tmp_path):
    e = pd.DataFrame([{"CHILD": "0042", "DECOM": "01/05/2019", "RNE": "S", "LS": "C2", "CIN": "N1", "PLACE": "U4",
                       "PLACE_PROVIDER": "PR1", "DEC": "", "REC": "", "REASON_PLACE_CHANGE": "", "HOME_POST": "",
                       "PL_POST": "", "URN": ""}])
    h = pd.DataFrame([{"CHILD": "0042", "SEX": "1", "DOB": "01/01/2010", "ETHNIC": "WBRI", "UPN": "", "MOTHER": "",
                       "MC_DOB": ""}])
    d = tmp_path / "2019-20"
    d.mkdir()
    write_xml(d / "return.xml", e, h)
    text = (d / "return.xml").read_text().replace("<EXPSSDA903>", '<EXPSSDA903 xmlns="urn:example:ssda903">')
    (d / "return.xml").write_text(text)
    m = ssda903.merge_returns({"2019-20": ssda903.read_return(d)})
    assert m["episodes"]["CHILD"].tolist() == ["0042"] and m["header"]["DOB"].tolist() == [pd.Timestamp(2010, 1, 1)]
    # month names and two-digit years as spreadsheets write them
    got = ssda903.parse_dates(pd.Series(["01-Apr-2015", "1 April 2015", "01/04/15", "31/02/2015"]))
    assert got[:3].tolist() == [pd.Timestamp(2015, 4, 1)] * 3 and pd.isna(got[3])


def test_a_return_with_no_episodes_is_an_error_naming_it(tmp_path):
    d = tmp_path / "2019-20"
    d.mkdir()
    (d / "return.xml").write_text('<?xml version="1.0"?><EXPSSDA903 xmlns="urn:other"><LA>999</LA></EXPSSDA903>')
    with pytest.raises(ValueError, match="2019-20/return.xml: no episodes read"):
        ssda903.read_return(d)


def test_a_missing_year_is_named_and_the_children_either_side_kept(tmp_path):
    eps, heads, truth = derive_history(last=2019)
    for y in ("2017-18", "2019-20"):  # 2018-19 left out
        (tmp_path / y).mkdir()
        eps[y].to_csv(tmp_path / y / "episodes.csv", index=False)
        heads[y].to_csv(tmp_path / y / "header.csv", index=False)
    years, m = merged(tmp_path)
    assert any(n.startswith("no return for 2018-19 between 2017-18 and 2019-20") for n in m["notes"])
    for y in ("2017-18", "2019-20"):
        assert in_care(m["episodes"], pd.Timestamp(int(y[:4]) + 1, 3, 31)) == truth[y], y


def test_a_utf16_csv_and_a_workbook_named_for_one_table_are_read(tmp_path):
    d = tmp_path / "2019-20"
    d.mkdir()
    row = {"CHILD": "7", "DECOM": "01/05/2019", "RNE": "S", "LS": "C2", "CIN": "N1", "PLACE": "U4",
           "PLACE_PROVIDER": "PR1", "DEC": "", "REC": ""}
    (d / "Episodes export.csv").write_bytes(pd.DataFrame([row]).to_csv(index=False, sep="\t").encode("utf-16"))
    with pd.ExcelWriter(d / "SSDA903 header 2019-20.xlsx") as xw:  # the header on its second, named sheet
        pd.DataFrame({"note": ["cover sheet"]}).to_excel(xw, sheet_name="Cover", index=False)
        pd.DataFrame([{"CHILD": 7, "SEX": 1, "DOB": pd.Timestamp(2010, 1, 1), "ETHNIC": "WBRI"}]).to_excel(
            xw, sheet_name="Header", index=False)
    m = ssda903.merge_returns({"2019-20": ssda903.read_return(d)})
    assert m["episodes"]["CHILD"].tolist() == ["7"] and m["quarantine"].empty
    assert m["header"]["DOB"].tolist() == [pd.Timestamp(2010, 1, 1)]


def test_an_unrelated_file_named_missing_is_not_taken_for_the_missing_table(tmp_path):
    d = tmp_path / "2019-20"
    d.mkdir()
    row = {"CHILD": "7", "DECOM": "01/05/2019", "RNE": "S", "LS": "C2", "CIN": "N1", "PLACE": "U4",
           "PLACE_PROVIDER": "PR1", "DEC": "", "REC": ""}
    pd.DataFrame([row]).to_csv(d / "episodes.csv", index=False)
    pd.DataFrame([{"CHILD": "7", "SEX": "1", "DOB": "01/01/2010", "ETHNIC": "WBRI"}]).to_csv(d / "header.csv", index=False)
    (d / "missing children report.csv").write_text("Name,Date\nsomeone,01/01/2020\n")
    tables = ssda903.read_return(d)
    assert sorted(tables) == ["episodes", "header"]
