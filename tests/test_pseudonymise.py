"""Child-level tables in data/processed/ are pseudonymised: keyed hash of CHILD, no UPN, postcode
sectors, month of birth; the key lives outside the project."""

import os
import stat

import pandas as pd
import pytest

from pipeline.ingest import pseudonymise as ps


def test_postcodes_are_cut_to_sector():
    s = pd.Series(["DE4 3AG", "de43ag", "SW1A 1AA", "S41 7", "DE55", "XXXXXXX", "", None])
    assert ps.postcode_sector(s).tolist() == ["DE4 3", "DE4 3", "SW1A 1", "S41 7", "DE55", "", "", ""]


def test_child_codes_become_keyed_hashes():
    ids = pd.Series(["86700098", "86700212", "86700098"])
    a = ps.child_pseudonyms(ids, b"k" * 32)
    assert a[0] == a[2] and a[0] != a[1]  # the same child joins across rows and tables
    assert all(len(x) == 20 and int(x, 16) >= 0 for x in a)
    assert not any("86700" in x for x in a)
    b = ps.child_pseudonyms(ids, b"another key, also long enough")
    assert set(a).isdisjoint(b)  # without the key a pseudonym cannot be recomputed from a guessed code


def test_dates_of_birth_are_cut_to_the_month():
    d = pd.Series(pd.to_datetime(["2010-02-20", "2009-12-31", "2015-01-01"]))
    assert ps.month_of(d).dt.strftime("%Y-%m-%d").tolist() == ["2010-02-01", "2009-12-01", "2015-01-01"]


def test_ssda903_tables_drop_upn_and_pseudonymise_every_identifier():
    t = ps.ssda903_tables({
        "episodes": pd.DataFrame({"CHILD": ["A1"], "HOME_POST": ["DE4 3AG"], "PL_POST": ["NG1 5DT"]}),
        "header": pd.DataFrame({"CHILD": ["A1"], "DOB": pd.to_datetime(["2011-07-19"]), "UPN": ["A123456789012"],
                                "MC_DOB": pd.to_datetime(["2030-03-03"])})}, b"x" * 32)
    assert "UPN" not in t["header"]
    assert t["episodes"].at[0, "CHILD"] == t["header"].at[0, "CHILD"] != "A1"
    assert t["episodes"][["HOME_POST", "PL_POST"]].iloc[0].tolist() == ["DE4 3", "NG1 5"]
    assert t["header"].at[0, "DOB"] == pd.Timestamp("2011-07-01") and t["header"].at[0, "MC_DOB"] == pd.Timestamp("2030-03-01")


def test_quarantined_identifying_values_are_withheld():
    q = pd.DataFrame({"column": ["DOB", "PLACE", "CHILD", "HOME_POST"], "value": ["31/02/2010", "Z9", "867", "DE4 3AG"]})
    assert ps.quarantine_values(q)["value"].tolist() == [ps.WITHHELD, "Z9", ps.WITHHELD, ps.WITHHELD]


def test_key_is_made_once_outside_the_project_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv(ps.KEY_ENV, raising=False)
    monkeypatch.delenv(ps.KEY_FILE_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    k1 = ps.load_key(tmp_path / "project")
    f = tmp_path / "config" / "cspack" / "pseudonym.key"
    assert f.exists() and stat.S_IMODE(os.stat(f).st_mode) == 0o600
    assert ps.load_key(tmp_path / "project") == k1 and len(k1) >= 32


def test_a_key_inside_the_project_or_too_short_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv(ps.KEY_ENV, raising=False)
    inside = tmp_path / "project" / "params" / "pseudonym.key"
    inside.parent.mkdir(parents=True)
    inside.write_text("a" * 64)
    monkeypatch.setenv(ps.KEY_FILE_ENV, str(inside))
    with pytest.raises(ps.PseudonymKeyError, match="inside the project folder"):
        ps.load_key(tmp_path / "project")
    monkeypatch.setenv(ps.KEY_ENV, "short")
    with pytest.raises(ps.PseudonymKeyError, match="shorter than 16"):
        ps.load_key(tmp_path / "project")
    monkeypatch.setenv(ps.KEY_ENV, "a long enough secret for the test")
    assert ps.load_key(tmp_path / "project") == b"a long enough secret for the test"


def test_packs_are_the_same_whichever_key_prepared_them(tmp_path, monkeypatch):
    """Two builds of the default quarter under two keys: different pseudonyms in data/processed, byte-identical
    pack.html and tables.xlsx."""
    import hashlib

    import yaml

    from pipeline.build.runner import run_quarter

    from .conftest import copy_project

    root = copy_project(tmp_path / "proj")
    params = root / "params" / "2026-27-Q2.yaml"
    p = yaml.safe_load(params.read_text(encoding="utf-8"))
    p["settings"]["placement_paths"] = 100  # the model's size does not matter here
    params.write_text(yaml.safe_dump(p, sort_keys=False), encoding="utf-8")
    digests, children = [], []
    for key in ("first key, long enough to be a secret", "second key, also long enough to be one"):
        monkeypatch.setenv(ps.KEY_ENV, key)
        result = run_quarter(None, root, echo=False, progress=False)
        digests.append({f: hashlib.sha256((result.out_dir / f).read_bytes()).hexdigest()
                        for f in ("pack.html", "tables.xlsx")})
        eps = pd.read_parquet(root / "data" / "processed" / result.quarter / "inputs" / "ssda903_episodes.parquet")
        children.append(set(eps["CHILD"]))
    assert children[0].isdisjoint(children[1])  # re-prepared under the second key
    assert digests[0] == digests[1]


def test_an_unwritable_key_place_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(ps.KEY_ENV, raising=False)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the key's folder should be")
    monkeypatch.setenv(ps.KEY_FILE_ENV, str(blocker / "cspack" / "pseudonym.key"))
    with pytest.raises(ps.PseudonymKeyError, match="cannot be made or read.*set CSPACK_KEY_FILE"):
        ps.load_key(tmp_path / "project")
