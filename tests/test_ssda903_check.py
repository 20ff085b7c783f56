"""`cspack check` on SSDA903 histories (issue 13): exit 1, saying what to look at first, when an input has
more than settings.max_quarantine_pct of its rows quarantined or a year fails the continuity check; exit 0
on a history that is read whole. Also the identity and format cases of issue 18 (CHILD codes, DOB before
DECOM, ISO datetimes, stray folders) and a collection year outside the code lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import check_quarter
from pipeline.ingest import ssda903

from .test_ssda903_thirdparty import derive_history, foreign_files, in_care, layout_sf

PARAMS = """\
authority: Testshire County Council
authority_code: E99999999
portfolio: Children's Services
quarter: {quarter}
data_as_at: {as_at}
commentary: params/commentary/{quarter}.md
inputs:
  ssda903:
    path: data/raw/t/ssda903
    kind: ssda903
    source: "test history"
{settings}"""


def project(tmp_path: Path, quarter="2019-20-Q4", as_at="2020-03-31", settings="") -> Path:
    (tmp_path / "params" / "commentary").mkdir(parents=True)
    (tmp_path / "params" / "commentary" / f"{quarter}.md").write_text("# Commentary\n")
    (tmp_path / "params" / f"{quarter}.yaml").write_text(PARAMS.format(quarter=quarter, as_at=as_at, settings=settings))
    d = tmp_path / "data" / "raw" / "t" / "ssda903"
    d.mkdir(parents=True)
    return d


EP = {"CIN": "N1", "PLACE_PROVIDER": "PR1", "REASON_PLACE_CHANGE": "", "HOME_POST": "", "PL_POST": "", "URN": "",
      "LS": "C2", "RNE": "S", "PLACE": "U4", "DEC": "", "REC": ""}


def simple_return(folder: Path, episodes: list[dict], header: list[dict] | None = None) -> None:
    folder.mkdir(parents=True)
    eps = pd.DataFrame([EP | e for e in episodes])[ssda903.EPISODE_COLUMNS]
    eps.to_csv(folder / "episodes.csv", index=False)
    kids = list(dict.fromkeys(eps["CHILD"].str.strip()))
    h = header or [{"CHILD": k, "SEX": "1", "DOB": "01/01/2010", "ETHNIC": "WBRI"} for k in kids]
    pd.DataFrame(h).reindex(columns=ssda903.HEADER_COLUMNS).astype(object).fillna("").to_csv(folder / "header.csv", index=False)


def test_check_passes_a_foreign_style_history_read_whole(tmp_path):
    d = project(tmp_path)
    eps, heads, _ = derive_history()
    foreign_files(d, eps, heads, np.random.default_rng(7))
    code, lines = check_quarter("2019-20-Q4", root=tmp_path)
    text = "\n".join(lines)
    assert code == 0, text
    assert "Result: every input read" in text and "leading zeros" in text
    # stray folders are named for the user to check (a misnamed year would be a year not read)
    assert "folder 'old' is not named as a collection year" in text and "'2019-20 - Copy'" in text


def test_children_added_by_later_returns_are_a_warning_not_a_failure(tmp_path):
    d = project(tmp_path, "2021-22-Q4", "2022-03-31")
    returns = layout_sf(d)
    code, lines = check_quarter("2021-22-Q4", root=tmp_path)
    text = "\n".join(lines)
    assert code == 0, text
    # the sample's 2017-18 return leaves out children that later returns show in care on 31 March 2018: every
    # child of the 2017-18 return is kept and the extra ones come from later returns (the correction)
    assert "continuity 2017-18: children in care on 31 March 2018: 545 in the merged history against 432" in text
    assert "every child of that return is kept" in text
    assert "continuity 2021-22" not in text  # the last year agrees (62 and 62)
    # independent count in plain pandas: open on 31 March 2018 in the 2017-18 return
    e = returns["2017-18"]
    own = set(e.loc[(e["DEC"].fillna("") == "") & (pd.to_datetime(e["DECOM"]) <= "2018-03-31"), "CHILD"])
    assert len(own) == 432


def test_check_fails_when_children_of_a_return_are_lost(tmp_path):
    d = project(tmp_path, "2021-22-Q4", "2022-03-31")
    returns = layout_sf(d)
    last = returns["2021-22"].copy()
    open_rows = last.index[last["DEC"].fillna("") == ""][:10]  # ten of the 62 children in care: DECOM unreadable
    last.loc[open_rows, "DECOM"] = "not a date"
    last.to_csv(d / "2021-22" / "episodes.csv", index=False)
    code, lines = check_quarter("2021-22-Q4", root=tmp_path)
    text = "\n".join(lines)
    assert code == 1, text
    assert "Result: FAILED; look first at:" in text
    assert "continuity 2021-22: children in care on 31 March 2022" in text
    assert "(10 through quarantine)" in text


def test_check_fails_above_the_quarantine_limit_and_the_limit_is_a_setting(tmp_path):
    good = [{"CHILD": str(i), "DECOM": "01/05/2019"} for i in range(1, 91)]
    # 10% closed episodes with an unreadable end date (not in care at 31 March either way)
    bad = [{"CHILD": str(i), "DECOM": "01/05/2019", "DEC": "2019/13/45", "REC": "E8"} for i in range(91, 101)]
    d = project(tmp_path)
    simple_return(d / "2019-20", good + bad)
    code, lines = check_quarter("2019-20-Q4", root=tmp_path)
    text = "\n".join(lines)
    assert code == 1
    assert "input 'ssda903' (data/raw/t/ssda903): 10 of 100 rows (10.0%) quarantined, more than " \
           "settings.max_quarantine_pct (5%)" in text
    other = tmp_path / "other"
    d = project(other, settings="settings:\n  max_quarantine_pct: 12\nallow_stale: [ssda903]\n")
    simple_return(d / "2019-20", good + bad)
    code, lines = check_quarter("2019-20-Q4", root=other)
    assert code == 0, "\n".join(lines)


def test_a_collection_year_outside_the_code_lists_is_a_clear_error(tmp_path):
    d = project(tmp_path)
    simple_return(d / "2012-13", [{"CHILD": "1", "DECOM": "01/05/2012"}])
    code, lines = check_quarter("2019-20-Q4", root=tmp_path)
    assert code == 1
    assert "collection year 2012-13: cspack's SSDA903 code lists cover 2013-14 to 2026-27 only" in "\n".join(lines)
    with pytest.raises(ValueError, match="collection year 2027-28"):
        ssda903.valid_codes("PLACE", "2027-28")
    assert "Q1" in ssda903.valid_codes("PLACE", "2013-14") and "Q1" not in ssda903.valid_codes("PLACE", "2016-17")
    assert "K3" in ssda903.valid_codes("PLACE", "2024-25") and "H5" in ssda903.valid_codes("PLACE", "2013-14")


def test_child_codes_spaces_and_lower_case_codes_are_normalised(tmp_path):
    simple_return(tmp_path / "2019-20", [
        {"CHILD": " 7 ", "DECOM": "01/05/2019", "DEC": "01/06/2019", "REC": "x1", "PLACE": " u4"},
        {"CHILD": "7", "DECOM": "01/06/2019", "RNE": "p", "PLACE": "k2 "}])
    m = ssda903.merge_returns({"2019-20": ssda903.read_return(tmp_path / "2019-20")})
    assert m["flags"].empty and m["quarantine"].empty
    e = m["episodes"]
    assert e["CHILD"].tolist() == ["7", "7"] and e["PLACE"].tolist() == ["U4", "K2"] and e["REC"].tolist() == ["X1", ""]
    assert ssda903.place_category(e["PLACE"], e["PLACE_PROVIDER"]).tolist() == ["in_house_fostering",
                                                                                 "in_house_childrens_home"]


def test_dob_after_the_first_episode_quarantines_the_header_row_not_the_child(tmp_path):
    simple_return(tmp_path / "2019-20", [{"CHILD": "1", "DECOM": "01/05/2019"}, {"CHILD": "2", "DECOM": "01/05/2019"}],
                  header=[{"CHILD": "1", "SEX": "1", "DOB": "01/01/2010", "ETHNIC": "WBRI"},
                          {"CHILD": "2", "SEX": "2", "DOB": "01/06/2019", "ETHNIC": "WBRI"}])
    m = ssda903.merge_returns({"2019-20": ssda903.read_return(tmp_path / "2019-20")})
    q = m["quarantine"]
    assert list(zip(q["table"], q["rule"], q["value"])) == [("header", "dob_after_decom", "01/06/2019")]
    assert sorted(m["episodes"]["CHILD"]) == ["1", "2"]  # both children still in care
    assert m["continuity"].iloc[0]["in_history"] == 2


def test_iso_datetimes_and_month_first_files_are_read(tmp_path):
    simple_return(tmp_path / "2019-20", [{"CHILD": "1", "DECOM": "2019-05-01T00:00:00", "DEC": "2019-06-01 00:00:00",
                                          "REC": "X1"}, {"CHILD": "1", "DECOM": "2019-06-01", "RNE": "P"}],
                  header=[{"CHILD": "1", "SEX": "1", "DOB": "2010-01-31 00:00:00", "ETHNIC": "WBRI"}])
    # a month-first file: 05/13/2019 can only be 13 May; so 05/01/2019 is 1 May, not 5 January
    simple_return(tmp_path / "2020-21", [{"CHILD": "2", "DECOM": "05/13/2020"}, {"CHILD": "3", "DECOM": "05/01/2020"}])
    r = {y: ssda903.read_return(tmp_path / y) for y in ("2019-20", "2020-21")}
    m = ssda903.merge_returns(r)
    assert m["quarantine"].empty
    e = m["episodes"].set_index(["CHILD", "DECOM"])
    assert e.loc[("1", "2019-05-01T00:00:00"), "DEC_date"] == pd.Timestamp(2019, 6, 1)
    assert e.loc[("3", "05/01/2020"), "DECOM_date"] == pd.Timestamp(2020, 5, 1)
    assert m["header"].set_index("CHILD").loc["1", "DOB"] == pd.Timestamp(2010, 1, 31)
    assert any("2020-21 episodes: dates are written month-first" in n for n in m["notes"])


def test_a_file_mixing_day_first_and_month_first_dates_is_named(tmp_path):
    simple_return(tmp_path / "2019-20", [{"CHILD": "1", "DECOM": "25/04/2019"}, {"CHILD": "2", "DECOM": "04/25/2019"}])
    m = ssda903.merge_returns({"2019-20": ssda903.read_return(tmp_path / "2019-20")})
    assert any("written both day-first (1 dates) and month-first (1)" in n for n in m["notes"])
    assert list(zip(m["quarantine"]["rule"], m["quarantine"]["value"])) == [("bad_date", "04/25/2019")]


def test_an_excel_workbook_return_is_read(tmp_path):
    d = tmp_path / "2019-20"
    d.mkdir()
    eps = pd.DataFrame([EP | {"CHILD": 123, "DECOM": pd.Timestamp(2019, 5, 1)}, EP | {"CHILD": 124, "DECOM": "02/05/2019"}])
    head = pd.DataFrame({"CHILD": [123, 124], "SEX": [1, 2], "DOB": [pd.Timestamp(2010, 1, 1)] * 2, "ETHNIC": "WBRI"})
    with pd.ExcelWriter(d / "SSDA903 2019-20.xlsx") as xw:
        eps.to_excel(xw, sheet_name="Episodes", index=False)
        head.to_excel(xw, sheet_name="Header", index=False)
    m = ssda903.merge_returns({"2019-20": ssda903.read_return(d)})
    assert m["quarantine"].empty and sorted(m["episodes"]["CHILD"]) == ["123", "124"]
    assert sorted(m["episodes"]["DECOM_date"]) == [pd.Timestamp(2019, 5, 1), pd.Timestamp(2019, 5, 2)]
    assert sorted(m["header"]["SEX"]) == ["F", "M"]


def test_check_fails_on_a_history_that_ends_before_the_quarter(tmp_path):
    d = project(tmp_path, "2020-21-Q2", "2020-09-30")
    eps, heads, _ = derive_history()
    foreign_files(d, eps, heads, np.random.default_rng(7))
    last = max(pd.to_datetime(e[c].where(e[c] != ""), format="%d/%m/%Y").max() for e in eps.values() for c in ("DECOM", "DEC"))
    code, lines = check_quarter("2020-21-Q2", root=tmp_path)
    text = "\n".join(lines)
    assert code == 1
    assert "Result: FAILED; look first at: the inputs that do not reach the quarter" in text
    assert "do not reach Quarter 2 2020-21 (to 30 September 2020)" in text
    assert f"ssda903: the SSDA903 returns run to {last.day} {last:%B %Y}" in text
    assert "Result: every input read" not in text


def test_a_part_year_return_to_the_quarter_passes_and_keeps_every_child(tmp_path):
    """Four full years and the current year's return to 30 September, as a council runs it for its Quarter 2
    pack: check passes, and the children in care on 30 September are exactly those open in that return."""
    d = project(tmp_path, "2020-21-Q2", "2020-09-30")
    eps, heads, truth = derive_history(last=2020)
    cut = pd.Timestamp(2020, 9, 30)
    e = eps["2020-21"].copy()
    start = pd.to_datetime(e["DECOM"], format="%d/%m/%Y")
    end = pd.to_datetime(e["DEC"].where(e["DEC"] != ""), format="%d/%m/%Y")
    e = e[start <= cut].copy()
    later = (end > cut).reindex(e.index)
    e.loc[later, ["DEC", "REC"]] = ""
    eps["2020-21"] = e
    heads["2020-21"] = heads["2020-21"][heads["2020-21"]["CHILD"].isin(set(e["CHILD"]))]
    for y in eps:
        (d / y).mkdir()
        eps[y].to_csv(d / y / "episodes.csv", index=False)
        heads[y].to_csv(d / y / "header.csv", index=False)
    code, lines = check_quarter("2020-21-Q2", root=tmp_path)
    assert code == 0, "\n".join(lines)
    years, notes = ssda903.find_returns(d)
    m = ssda903.merge_returns({y: ssda903.read_return(p) for y, p in years.items()}, notes)
    open_now = set(e.loc[e["DEC"] == "", "CHILD"])  # plain pandas: open in the part-year return
    assert in_care(m["episodes"], cut) == open_now
    for y in ("2017-18", "2018-19", "2019-20"):
        assert in_care(m["episodes"], pd.Timestamp(int(y[:4]) + 1, 3, 31)) == truth[y], y


def test_a_csv_below_title_rows_and_separated_by_semicolons_is_read(tmp_path):
    d = tmp_path / "2019-20"
    d.mkdir()
    eps = pd.DataFrame([EP | {"CHILD": "1", "DECOM": "01/05/2019"}, EP | {"CHILD": "2", "DECOM": "02/05/2019"}])
    (d / "episodes.csv").write_text("SSDA903 episodes 2019-20\nrun 01/04/2020\n" + eps.to_csv(index=False, sep=";"))
    pd.DataFrame({"CHILD": ["1", "2"], "SEX": "1", "DOB": "01/01/2010", "ETHNIC": "WBRI"}).to_csv(d / "header.csv",
                                                                                                 index=False)
    m = ssda903.merge_returns({"2019-20": ssda903.read_return(d)})
    assert m["quarantine"].empty and sorted(m["episodes"]["CHILD"]) == ["1", "2"]
    assert m["continuity"].iloc[0]["in_history"] == 2


def test_the_findings_name_children_in_care_lost_to_quarantine_at_each_year_end(tmp_path):
    from pipeline.quarter import quality
    kids = [{"CHILD": str(i), "DECOM": "01/05/2019"} for i in range(1, 60)] + [{"CHILD": "60", "DECOM": "the 1st"}]
    simple_return(tmp_path / "2019-20", kids)
    m = ssda903.merge_returns({"2019-20": ssda903.read_return(tmp_path / "2019-20")})
    (f,) = [x for x in quality.ssda903_findings("ssda903", m) if x["check"] == "children in care at each year end"]
    # the return runs to 1 May 2019 (part-year, so counted at its last date)
    assert "1 May 2019: 59 in the history, 60 in 2019-20's return (1 of that return's children lost to " \
           "quarantine)" in f["finding"]
    assert f["finding"].endswith("children in care affected by quarantine: 1") and f["level"] == "warning"
