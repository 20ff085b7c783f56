"""cspack batch on Dask with a fake builder (a real pack takes a minute): isolation, a failing authority,
retries of transient failures, a worker that dies, and the roll-up (index.html, tables.xlsx, manifest.json)
checked against the summaries the builder returned, computed again here."""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import dask
import openpyxl
import pytest
from bs4 import BeautifulSoup

from pipeline.batch.rollup import MEASURES
from pipeline.batch.run import authority_slug, build_one, is_transient, plain_reason, run_batch


@dataclass(frozen=True)
class FakeAuthority:  # the fields of pipeline.public.authorities.Authority
    code: str
    old_code: str
    name: str
    region: str
    boundary_note: str = ""


def fake_summary(code: str) -> dict:
    """A summary computed from the code alone, so the test can compute it again independently."""
    n = sum(ord(c) for c in code)
    return {"cla_rate_per_10k": 40 + (n % 97) / 3, "cla_rate_change": ((n % 11) - 5) / 2, "cla_number": 200 + n % 900,
            "projection_next_year": 210 + n % 950, "spend_per_child_in_care": 60000 + 37 * n, "year": "2025",
            "bands": {"Children looked after rate": "A" if n % 2 else "D",
                      "Placement stability": "=HYPERLINK(\"http://x\")" if code == "E2" else "B"}}


def fake_builder(authority, out_dir, *, data=None, work_dir=None, root=None):
    """Writes a pack naming the authority, the folders it was given and the runtime folder its kernel
    would use; fails as the authority's code says."""
    out_dir, work_dir = Path(out_dir), Path(work_dir)
    marks = Path(data["marks"])
    if authority.code == "EBAD":
        raise ValueError("no published figures for this authority in 2025")
    if authority.code == "EFLAKY":  # the first attempt meets a kernel port collision, the second succeeds
        mark = marks / "flaky-tried"
        if not mark.exists():
            mark.write_text("1")
            raise RuntimeError("Kernel died before replying to kernel_info") from OSError(98, "Address already in use")
    if authority.code == "EPORT":  # every attempt meets a port collision
        (marks / f"port-{os.getpid()}-{len(list(marks.glob('port-*')))}").write_text("1")
        raise OSError(98, "Address already in use")
    if authority.code == "EDIE":
        os._exit(1)  # the worker process dies
    (out_dir / "pack.html").write_text(
        json.dumps({"name": authority.name, "out": str(out_dir), "work": str(work_dir), "exists": work_dir.is_dir(),
                    "runtime": os.environ.get("JUPYTER_RUNTIME_DIR"),
                    "tmp": tempfile.gettempdir(), "pid": os.getpid(), "data": data["token"]}),
        encoding="utf-8")
    return SimpleNamespace(authority=authority, out_dir=out_dir, pack=out_dir / "pack.html", seconds=0.01,
                           summary=fake_summary(authority.code))


GOOD = [FakeAuthority("E1", "801", "Alphaton", "East Midlands"),
        FakeAuthority("E2", "802", 'Bad & "Co" <script>alert(1)</script>', "East Midlands"),
        FakeAuthority("E3", "803", "Gammashire", "London")]
BAD = FakeAuthority("EBAD", "804", "Brokenshire", "London")
FLAKY = FakeAuthority("EFLAKY", "805", "Flakeford", "North West")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("batch") / "out"
    marks = tmp_path_factory.mktemp("marks")
    result = run_batch(GOOD[:2] + [BAD, FLAKY] + GOOD[2:], out, workers=2, builder=fake_builder,
                       data={"marks": str(marks), "token": "shared-data-42"}, attempts=3, pause=0.01, echo=None)
    return result, out


def test_transient_errors_are_told_apart():
    assert is_transient(OSError(98, "Address already in use"))
    try:
        try:
            raise OSError("zmq.error.ZMQError: Address already in use (addr='tcp://127.0.0.1:52311')")
        except OSError as inner:
            raise RuntimeError("notebook 10_summary failed") from inner
    except RuntimeError as chained:
        assert is_transient(chained)  # found through the chain
    assert is_transient(RuntimeError("Kernel died before replying to kernel_info"))
    assert not is_transient(ValueError("no published figures for this authority in 2025"))
    assert not is_transient(KeyError("cla_rate"))
    assert plain_reason(OSError(98, "Address already in use")).startswith("the notebook kernel could not get a free")
    assert plain_reason(ValueError("no published figures\nmore")) == "no published figures"


def test_build_one_in_its_own_folders_then_moved_into_place(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    before = os.environ.get("JUPYTER_RUNTIME_DIR")
    rec = build_one(GOOD[0], tmp_path / "out", {"marks": str(marks), "token": "t"}, fake_builder, attempts=1)
    assert rec["status"] == "ok" and rec["attempts"] == 1 and rec["error"] is None
    slug = authority_slug(GOOD[0])
    assert slug == "E1-alphaton" and rec["pack"] == f"{slug}/pack.html"
    written = json.loads((tmp_path / "out" / rec["pack"]).read_text())
    task = Path(written["out"]).parent
    assert task.parent == (tmp_path / "out" / ".batch-work") and written["exists"]
    runtime = Path(written["runtime"])  # the kernel's connection file goes in a folder of the task's own,
    assert runtime.name == "runtime" and runtime.parent.name.startswith("cspack-b-")
    assert len(str(runtime)) < 50  # short: Chromium's and ZMQ's Unix sockets go there (at most 107 bytes)
    assert Path(written["tmp"]) == runtime.parent / "tmp"
    assert not task.exists() and not runtime.parent.exists()  # the task's folders are removed
    assert os.environ.get("JUPYTER_RUNTIME_DIR") == before  # and the worker's environment restored
    assert rec["summary"] == fake_summary("E1") and rec["peak_memory_mb"] > 0 and rec["cpu_seconds"] >= 0


def test_build_one_records_a_failure_and_leaves_the_previous_pack(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    old = tmp_path / "out" / authority_slug(BAD)
    old.mkdir(parents=True)
    (old / "pack.html").write_text("previous pack")
    rec = build_one(BAD, tmp_path / "out", {"marks": str(marks), "token": "t"}, fake_builder, attempts=3, pause=0.01)
    assert rec["status"] == "failed" and rec["attempts"] == 1  # not transient: no second attempt
    assert rec["reason"] == "no published figures for this authority in 2025"
    assert rec["errors"][0]["type"] == "ValueError" and rec["errors"][0]["transient"] is False
    assert (old / "pack.html").read_text() == "previous pack"
    assert not (tmp_path / "out" / ".batch-work" / f"{authority_slug(BAD)}-{os.getpid()}-1").exists()


def test_a_transient_failure_is_retried_up_to_the_limit(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    port = FakeAuthority("EPORT", "806", "Portsby", "London")
    rec = build_one(port, tmp_path / "out", {"marks": str(marks), "token": "t"}, fake_builder, attempts=3, pause=0.01)
    assert rec["status"] == "failed" and rec["attempts"] == 3 and len(list(marks.glob("port-*"))) == 3
    assert [e["transient"] for e in rec["errors"]] == [True, True, True]
    assert "free network port" in rec["reason"]
    assert not (tmp_path / "out" / authority_slug(port)).exists()


def test_batch_builds_the_others_and_fails_one(batch):
    result, out = batch
    status = {r["code"]: r["status"] for r in result.records}
    assert status == {"E1": "ok", "E2": "ok", "EBAD": "failed", "EFLAKY": "ok", "E3": "ok"}
    assert result.exit_code == 1 and [r["code"] for r in result.failed] == ["EBAD"]
    assert [r["code"] for r in result.records] == ["E1", "E2", "EBAD", "EFLAKY", "E3"]  # the order asked for
    for r in result.records:
        if r["status"] == "ok":
            written = json.loads((out / r["pack"]).read_text())
            assert written["data"] == "shared-data-42"  # the scattered public data reached the worker
    assert not (out / ".batch-work").exists()


def test_batch_retried_the_transient_failure(batch):
    result, _ = batch
    flaky = next(r for r in result.records if r["code"] == "EFLAKY")
    assert flaky["status"] == "ok" and flaky["attempts"] == 2
    assert flaky["errors"][0]["transient"] is True and "kernel_info" in flaky["errors"][0]["message"]


def test_batch_runs_on_two_worker_processes_each_task_isolated(batch):
    result, out = batch
    written = [json.loads((out / r["pack"]).read_text()) for r in result.records if r["status"] == "ok"]
    assert len({w["pid"] for w in written} | {os.getpid()}) >= 2  # not in this process
    assert os.getpid() not in {w["pid"] for w in written}
    assert len({w["work"] for w in written}) == len(written) and len({w["runtime"] for w in written}) == len(written)
    assert result.workers == 2


def _table(soup, caption_start):
    t = next(t for t in soup.find_all("table") if t.caption.get_text().startswith(caption_start))
    heads = [th.get_text(" ", strip=True) for th in t.thead.find_all("th")]
    rows = []
    for tr in t.tbody.find_all("tr"):
        cells = tr.find_all(["th", "td"])
        rows.append({h: c for h, c in zip(heads, cells)})
    return t, heads, rows


def _number(text: str) -> float:
    return float(re.sub(r"[£,+]", "", text.replace("no change", "0")))


def test_index_links_values_and_markup(batch):
    result, out = batch
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower()  # the authority named with a script tag is shown as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", page)  # nothing loaded or linked outside
    assert "default-src &#x27;none&#x27;" in page and '<html lang="en-GB">' in page
    soup = BeautifulSoup(page, "html.parser")
    t, heads, rows = _table(soup, "Children looked after, projection")
    assert all(th.get("scope") == "col" for th in t.thead.find_all("th"))
    assert [r["Authority"].name for r in rows] == ["th"] * 4 and all(r["Authority"]["scope"] == "row" for r in rows)
    ok = [r for r in result.records if r["status"] == "ok"]
    assert [r["Authority"].get_text() for r in rows] == [a["name"] for a in ok]
    for row, rec in zip(rows, ok):
        href = row["Authority"].a["href"]
        assert (out / href).is_file() and json.loads((out / href).read_text())["name"] == rec["name"]
        s = fake_summary(rec["code"])  # computed again, not read from the batch
        assert row["Year to 31 March"].get_text() == s["year"]
        assert _number(row["Children looked after per 10,000 children"].get_text()) == round(s["cla_rate_per_10k"], 1)
        assert _number(row["Change on the year before (per 10,000)"].get_text()) == round(s["cla_rate_change"], 1)
        assert _number(row["Children looked after"].get_text()) == round(s["cla_number"])
        assert _number(row["Projected children looked after next year"].get_text()) == round(s["projection_next_year"])
        assert _number(row["Spend per child in care (£)"].get_text()) == round(s["spend_per_child_in_care"])
        assert row["Spend per child in care (£)"].get_text().startswith("£")
        for measure, band in s["bands"].items():
            assert row[f"Quartile band: {measure}"].get_text() == band
    f, fheads, frows = _table(soup, "Authorities whose pack was not built")
    assert fheads == ["Authority", "Region", "Reason", "Attempts"]
    assert [(r["Authority"].get_text(), r["Reason"].get_text()) for r in frows] == [
        ("Brokenshire", "no published figures for this authority in 2025")]
    assert soup.find(id="not-built") is not None


def test_tables_xlsx_numbers_and_no_formula(batch):
    result, out = batch
    wb = openpyxl.load_workbook(out / "tables.xlsx")
    assert wb.sheetnames == ["contents", "comparison", "not_built"]
    ws = wb["comparison"]
    heads = [c.value for c in ws[1]]
    rows = [dict(zip(heads, [c for c in r])) for r in ws.iter_rows(min_row=2)]
    ok = [r for r in result.records if r["status"] == "ok"]
    assert [r["Authority"].value for r in rows] == [a["name"] for a in ok]
    key = {k: h for k, h, _ in MEASURES}
    for row, rec in zip(rows, ok):
        s = fake_summary(rec["code"])
        for k in ("cla_rate_per_10k", "cla_rate_change", "cla_number", "projection_next_year", "spend_per_child_in_care"):
            assert row[key[k]].data_type == "n" and row[key[k]].value == pytest.approx(s[k])
        assert row["Quartile band: Placement stability"].value == s["bands"]["Placement stability"]
        assert row["Quartile band: Placement stability"].data_type == "s"  # "=HYPERLINK(...)" kept as text
    with zipfile.ZipFile(out / "tables.xlsx") as z:
        assert not any(b"<f>" in z.read(n) or b"<f " in z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/"))
    nb = wb["not_built"]
    assert [c.value for c in nb[2]][:2] == ["Brokenshire", "EBAD"]


def test_manifest_per_authority(batch):
    result, out = batch
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "failed" and (m["authorities"], m["built"], m["failed"]) == (5, 4, 1)
    assert m["workers"] == 2 and m["versions"]["dask"] == dask.__version__
    by = {r["code"]: r for r in m["results"]}
    assert by["EBAD"]["status"] == "failed" and "ValueError" in by["EBAD"]["error"]
    assert by["EFLAKY"]["attempts"] == 2
    for r in m["results"]:
        assert r["seconds"] >= 0 and r["started"] and r["finished"]
        if r["status"] == "ok":
            assert r["summary"] == fake_summary(r["code"]) and r["peak_memory_mb"] > 0


def test_a_worker_that_dies_is_recorded_and_the_others_built(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    die = FakeAuthority("EDIE", "807", "Diesworth", "London")
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        result = run_batch([GOOD[0], die, GOOD[2]], tmp_path / "out", workers=2, builder=fake_builder,
                           data={"marks": str(marks), "token": "t"}, attempts=1, echo=None)
    status = {r["code"]: r["status"] for r in result.records}
    assert status == {"E1": "ok", "EDIE": "failed", "E3": "ok"} and result.exit_code == 1
    dead = result.failed[0]
    assert dead["reason"] == "the worker process building it stopped (it may have run out of memory)"
    assert "Diesworth" in (tmp_path / "out" / "index.html").read_text()


def test_batch_on_an_existing_cluster(tmp_path):
    import logging

    from distributed import LocalCluster

    marks = tmp_path / "marks"
    marks.mkdir()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.CRITICAL) as cluster:
        result = run_batch(GOOD[:2], tmp_path / "out", scheduler=cluster.scheduler_address, builder=fake_builder,
                           data={"marks": str(marks), "token": "t"}, echo=None)
        assert cluster.scheduler_address.startswith("tcp://")
    assert [r["status"] for r in result.records] == ["ok", "ok"] and result.exit_code == 0
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m["scheduler"] == cluster.scheduler_address and m["workers"] == 1
