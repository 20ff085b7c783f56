"""The public-data pack for any authority: ``build_public_pack`` computes the authority's figures from the
shared public tables (``load_public_data``, read once; a batch passes them in), runs the public pack's
notebook with papermill to render them, and exports the same self-contained HTML (and PDF where Chromium is
installed) as the quarterly pack, with its figures in tables.xlsx and what was built in manifest.json."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.build.export import export_pack, write_pdf
from pipeline.build.manifest import version_label
from pipeline.build.runner import KERNEL, _kernel_manager, _kernel_messages
from pipeline.core.formatting import day_words
from pipeline.core.paths import notebooks_dir, outputs_dir, processed_dir, project_root
from pipeline.core.tables import text_safe
from pipeline.public.authorities import Authority, UnknownAuthority, match
from pipeline.public.data import PublicData, load_public_data, period_words
from pipeline.public.figures import AuthorityFigures, compute
from pipeline.public.local import LocalInputError, compute_local, read_profile

NOTEBOOK = Path("public") / "public_pack.ipynb"
TITLE = "Children's services: public data pack"

__all__ = [
    "TITLE",
    "PublicData",
    "PublicPackError",
    "PublicPackResult",
    "UnknownAuthority",
    "build_public_pack",
    "default_out_dir",
    "load_public_data",
]


class PublicPackError(RuntimeError):
    """A public-data pack could not be built; the message says why, for a reader."""


@dataclass
class PublicPackResult:
    authority: Authority
    out_dir: Path
    pack: Path
    seconds: float
    summary: dict


def default_out_dir(a: Authority, root: Path | None = None) -> Path:
    return outputs_dir(root) / "public" / a.code


def _plain(v):
    if isinstance(v, (np.floating, float)):
        return None if np.isnan(v) else round(float(v), 3)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _tables(figs: AuthorityFigures) -> dict[str, pd.DataFrame]:
    """The pack's figures as reader-facing sheets."""
    b = figs.benchmarks.rename(columns={
        "theme": "Theme", "measure": "Measure", "period": "Year", "value": figs.authority.name,
        "england": "England", "region": "Region", "neighbours": "Statistical neighbours' mean",
        "band": "Quartile band", "rank": "Rank", "of": "Of", "direction": "Direction"})
    b["Year"] = [period_words(w, y) for w, y in zip(figs.benchmarks["when"], figs.benchmarks["period"])]
    b = b[["Theme", "Measure", "Year", figs.authority.name, "England", "Region", "Statistical neighbours' mean",
           "Quartile band", "Rank", "Of", "Direction"]]
    t = figs.trends.rename(columns={"measure": "Measure", "period": "Year", "authority": figs.authority.name,
                                    "england": "England", "region": "Region",
                                    "neighbours": "Statistical neighbours' mean"}).drop(columns="key")
    h = figs.cla_history.rename(columns={"year": "Year (31 March)", "cla_at_31_march": "Children looked after",
                                         "cla_started": "Started in the year", "cla_ceased": "Ceased in the year"})
    for c in ("Children looked after", "Started in the year", "Ceased in the year"):
        h[c] = _suppressed(h[c])
    p = figs.projection[["year", "point", "low80", "high80"]].rename(columns={
        "year": "Year (31 March)", "point": "Projected", "low80": "Low (80% range)", "high80": "High (80% range)"})
    bt = figs.backtest.rename(columns={"year": "Year (31 March)", "projected": "Projected a year ahead",
                                       "outcome": "Published", "ape_chosen": "Error, %"})
    bt = bt[[c for c in ("Year (31 March)", "Projected a year ahead", "Published", "Error, %") if c in bt]]
    pl = figs.placements.rename(columns={"placement": "Placement", "number": "Children",
                                         "authority_pct": f"{figs.authority.name}, %",
                                         "neighbours_pct": "Statistical neighbours' mean, %",
                                         "england_pct": "England, %"})
    small = (pl["number_value"] > 0) & (pl["number_value"] < 6)
    pl["Children"] = pl["Children"].where(~small, "c")
    pl[f"{figs.authority.name}, %"] = pl[f"{figs.authority.name}, %"].where(~small)
    pl = pl.drop(columns="number_value")
    sp = figs.spend.rename(columns={"measure": "Measure", "authority": figs.authority.name,
                                    "neighbours": "Statistical neighbours' mean", "england": "England"})
    sp = sp[["Measure", figs.authority.name, "Statistical neighbours' mean", "England"]]
    out = {"Benchmarks": b, "Trends": t, "Children looked after": h, "Projection": p, "Backtest": bt,
           "Placements": pl, f"Spend {figs.spend_year}": sp}
    return out | _local_tables(figs.local)


def _local_tables(local) -> dict[str, pd.DataFrame]:
    """The sheets of the authority's own data (counts of 1 to 5 children as "c", money in £m)."""
    out = {}
    if local is None:
        return out
    if local.cla is not None:
        c = local.cla.rename(columns={
            "year": "Year (31 March)", "looked_after": "Looked after (own returns)",
            "looked_after_published": "Looked after (published)", "started": "Started (own returns)",
            "started_published": "Started (published)", "ceased": "Ceased (own returns)",
            "ceased_published": "Ceased (published)"})
        out["Own returns"] = c.assign(**{k: _suppressed(c[k]) for k in c.columns if k != "Year (31 March)"})
    if local.mix is not None:
        m = local.mix[["placement", "children", "pct"]].rename(columns={
            "placement": "Placement", "children": "Children", "pct": "Share, %"})
        small = (m["Children"] > 0) & (m["Children"] < 6)
        m["Share, %"] = m["Share, %"].round(1).where(~small)
        m["Children"] = _suppressed(m["Children"])
        out[f"Own placements {local.mix_year}"] = m
    if local.budget_lines is not None:
        out["Budget return"] = local.budget_lines.rename(columns={
            "service_line": "Service line", "budget_gbpm": "Budget, £m", "forecast_gbpm": "Forecast, £m",
            "variance_gbpm": "Forecast less budget, £m"}).round(3)
    if local.ledger_lines is not None:
        out[f"Ledger {local.ledger_year}"] = local.ledger_lines.astype({c: float for c in local.ledger_lines.columns
                                                                        if c.endswith("gbpm")}).rename(columns={
            "service_line": "Service line", "budget_gbpm": "Budget, £m", "actual_to_date_gbpm": "Spent to date, £m",
            "forecast_gbpm": "Forecast, £m", "variance_gbpm": "Forecast less budget, £m"}).round(3)
        out["Ledger by year"] = local.spend_by_year.astype({"actual_gbpm": float}).rename(columns={
            "financial_year": "Financial year", "actual_gbpm": "Spent, £m"}).round(3)
    return out


def _suppressed(s: pd.Series) -> pd.Series:
    """Counts of children from 1 to 5 as "c", as in the pack."""
    return s.astype(object).where(~((s > 0) & (s < 6)), "c")


def _write_xlsx(tables: dict[str, pd.DataFrame], path: Path) -> None:
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, df in tables.items():
            text_safe(df).to_excel(xw, sheet_name=name[:31], index=False)


def build_public_pack(authority: str | Authority, out_dir: Path | None = None, *, data: PublicData | None = None,
                      work_dir: Path | None = None, root: Path | None = None, pdf: bool = True) -> PublicPackResult:
    """Build ``out_dir``/pack.html (with tables.xlsx, manifest.json and, where Chromium is installed and
    ``pdf``, pack.pdf) for one authority from public data alone. ``data``: the shared tables, read once by the
    caller; ``work_dir``: a folder of the build's own (its staging, executed notebook and kernel log; a
    temporary one when not given). The out folder is replaced only when the build succeeds. Raises
    ``UnknownAuthority`` or ``PublicPackError`` with a message for a reader."""
    import papermill as pm  # slow to import (nbclient, jupyter_client): only a build needs it

    t0 = time.perf_counter()
    cpu0 = os.times()
    root = Path(root or (data.root if data is not None else project_root())).resolve()
    a = authority if isinstance(authority, Authority) else match(authority, root)
    out_dir = Path(out_dir) if out_dir else default_out_dir(a, root)
    try:  # a wrong profile (params/<slug>.yaml) is refused before any work
        read_profile(a, root)
    except LocalInputError as exc:
        raise PublicPackError(f"the pack for {a.name} could not read its own data: {exc}") from None
    data = data if data is not None else load_public_data(root)
    own_work = work_dir is None
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix=f"public-{a.code}-",
                                                                  dir=_tmp_parent(root)))
    work.mkdir(parents=True, exist_ok=True)
    staging = out_dir.with_name(f".{out_dir.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    log: list[str] = []
    try:
        t = time.perf_counter()
        figs = compute(data, a)
        # the authority's own inputs named in its profile (params/<slug>.yaml), each switching its section on
        figs.local = compute_local(a, root, figs.cla_history)
        log += figs.local.log_lines()
        t_compute = time.perf_counter() - t
        fig_file = work / "figures.pkl"
        fig_file.write_bytes(pickle.dumps(figs))
        nb_in = notebooks_dir(root) / NOTEBOOK
        nb_out = work / NOTEBOOK.name
        kernel_err = work / "kernel-stderr.log"
        sock_dir = Path(tempfile.mkdtemp(prefix="cspack-k-"))  # short: a Unix socket path has at most 107 bytes
        t = time.perf_counter()
        old_env = os.environ.get("CSPACK_ROOT")
        os.environ["CSPACK_ROOT"] = str(root)
        try:
            pm.execute_notebook(str(nb_in), str(nb_out), kernel_name=KERNEL, cwd=str(root),
                                parameters={"figures_file": str(fig_file)}, progress_bar=False, log_output=False,
                                kernel_manager_class=_ipc_kernel_manager(kernel_err, sock_dir))
        except Exception as exc:
            msgs = _kernel_messages(kernel_err)
            name = getattr(exc, "ename", type(exc).__name__)
            value = (getattr(exc, "evalue", "") or str(exc)).splitlines()[0][:300] if str(exc) else ""
            raise PublicPackError(f"the public-data pack for {a.name} failed while rendering: {name}: {value}"
                                  + (f" (kernel: {msgs[-1]})" if msgs else "")) from exc
        finally:
            shutil.rmtree(sock_dir, ignore_errors=True)
            if old_env is None:
                os.environ.pop("CSPACK_ROOT", None)
            else:
                os.environ["CSPACK_ROOT"] = old_env
        t_render = time.perf_counter() - t
        log += [f"kernel: {m}" for m in _kernel_messages(kernel_err)]
        own = figs.local.given
        meta = {"title": f"{TITLE}: {a.name}", "authority": a.name,
                "portfolio": (f"Published statistics to 31 March {figs.year}, with the authority's own data" if own
                              else f"Public data only: published statistics to 31 March {figs.year}"),
                "quarter_long": f"Latest published year: to 31 March {figs.year}",
                "period_label": "Period",
                "data_as_at": day_words(datetime(figs.year, 3, 31)),
                "version": version_label(root),
                "synthetic": (_synthetic_words(figs.local.inputs) if figs.local.any_synthetic else ""), "stale": "",
                "notice": (("Published official statistics (Department for Education, Ofsted, Office for National "
                            "Statistics) with the authority's own data in the sections under \"The authority's own "
                            "data\". Sections still needing its data say what would fill them.") if own else
                           ("Public data only: every figure is published official statistics (Department for "
                            "Education, Ofsted, Office for National Statistics). Sections that need the authority's "
                            "own data say what would fill them."))}
        safety: list[str] = []
        t = time.perf_counter()
        (staging / "pack.html").write_text(export_pack([nb_out], meta, safety), encoding="utf-8")
        log += [f"pack safety: {s}" for s in safety]
        _write_xlsx(_tables(figs), staging / "tables.xlsx")
        pdf_info = (write_pdf(staging / "pack.html", staging / "pack.pdf", meta["title"], a.name) if pdf
                    else {"written": False, "reason": "not asked for"})
        t_export = time.perf_counter() - t
        seconds = time.perf_counter() - t0
        cpu1 = os.times()
        # processor time of this process and its finished children (the notebook's kernel, Chromium): on a busy
        # machine the wall time mostly measures waiting; this is what the build itself used
        cpu = sum(getattr(cpu1, k) - getattr(cpu0, k) for k in ("user", "system", "children_user", "children_system"))
        manifest = {"authority": a.name, "code": a.code, "old_code": a.old_code, "region": a.region,
                    "boundary_note": a.boundary_note, "status": "ok", "kind": "public-data pack",
                    "built": datetime.now(UTC).isoformat(timespec="seconds"),
                    "version": version_label(root), "seconds": round(seconds, 3),
                    "cpu_seconds": round(cpu, 3),
                    "timings": {"compute": round(t_compute, 3), "render": round(t_render, 3),
                                "export": round(t_export, 3)},
                    "summary": _plain(figs.summary), "pdf": pdf_info,
                    "own_data": {"profile": (str(figs.local.profile.relative_to(root)) if figs.local.profile else None),
                                 "inputs": figs.local.inputs,
                                 "sections_still_needing_data": [s for s, _ in figs.local.still_needed()]}, "log": log + data.notes,
                    "outputs": ["pack.html", "tables.xlsx", "manifest.json"] + (["pack.pdf"] if pdf_info.get("written")
                                                                               else [])}
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str), encoding="utf-8")
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, old)
            os.replace(staging, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, out_dir)
    except UnknownAuthority:
        raise
    except LocalInputError as exc:
        raise PublicPackError(f"the pack for {a.name} could not read its own data: {exc}") from None
    except PublicPackError:
        raise
    except Exception as exc:
        raise PublicPackError(f"the public-data pack for {a.name} could not be built: {type(exc).__name__}: "
                              f"{(str(exc).splitlines() or [''])[0][:300]}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    return PublicPackResult(a, out_dir, out_dir / "pack.html", round(time.perf_counter() - t0, 3), figs.summary)


def _synthetic_words(inputs: dict) -> str:
    words = {"ssda903": "SSDA903 returns", "ledger": "finance ledger", "cost_centres": "cost-centre mapping",
             "budget_lines": "budget monitoring return", "commentary": "commentary"}
    return ("the authority's " + ", ".join(words[k] for k, i in inputs.items() if i["synthetic"])
            + " are synthetic (generated, not real data); published statistics are real")


def _ipc_kernel_manager(stderr_path: Path, sock_dir: Path):
    """The runner's kernel manager, talking to its kernel over Unix sockets in ``sock_dir`` (a folder of this
    build's own) instead of TCP ports: builds running side by side (a batch) cannot pick the same port, nor
    the same socket (jupyter_client's default socket name is relative to the working folder, shared by every
    build)."""
    from traitlets import CaselessStrEnum, default  # with jupyter_client, only a build needs it

    base = _kernel_manager(stderr_path)
    prefix = str(sock_dir / "k")

    class IPCKernelManager(base):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

        @default("ip")
        def _own_ip(self) -> str:
            return prefix

    return IPCKernelManager


def _tmp_parent(root: Path) -> Path:
    d = processed_dir(root) / "public"
    d.mkdir(parents=True, exist_ok=True)
    return d
