"""The ``cspack`` command: run a quarter, scaffold the next one, list what can be run and built."""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import sys
from datetime import UTC
from pathlib import Path

from pipeline.batch.command import add_parser as add_batch_parser
from pipeline.build.runner import BuildError, BuildLocked, pack_dir, run_quarter
from pipeline.core.params import ParamsError, available_quarters, load_params, params_path, read_yaml
from pipeline.core.paths import outputs_dir, project_root, shown_path
from pipeline.core.quarters import Quarter, QuarterError
from pipeline.ingest.inputs import InputError
from pipeline.public.authorities import UnknownAuthority
from pipeline.public.pack import PublicPackError, build_public_pack
from pipeline.public.scaffold import ScaffoldError, new_authority
from pipeline.quarter import freshness, quality
from pipeline.quarter.context import QuarterContext


def cmd_run(args) -> int:
    root = project_root()
    if args.authority:  # the public-data pack for any authority (pipeline.public)
        res = build_public_pack(args.authority, Path(args.out) if args.out else None, root=root,
                                pdf=not args.no_pdf)
        print(f"{res.authority.name}: public-data pack built in {res.seconds:.1f}s: {shown_path(res.pack, root)}")
        return 0
    if args.out or args.no_pdf:
        raise ParamsError("--out and --no-pdf go with --authority (a quarter's pack goes to outputs/<year>/<quarter>)")
    result = run_quarter(args.quarter, root, echo=True, progress=None if not args.no_progress else False,
                         params_file=args.params)
    print(f"pack: {result.pack.relative_to(root)}")
    return 0


def new_quarter(label: str, root: Path | None = None) -> tuple[Path, Path]:
    """Write ``params/<label>.yaml`` and its commentary file from the latest earlier quarter:
    same inputs (to be updated by the analyst), the new quarter and date, empty commentary headings."""
    root = root or project_root()
    q = Quarter.parse(label)
    target = params_path(q, root)
    if target.exists():
        raise ParamsError(f"{target.relative_to(root)} already exists; edit it instead")
    earlier = [x for x in available_quarters(root) if x < q]
    if not earlier:
        raise ParamsError(f"no params file before {q.label} to copy from in {target.parent.relative_to(root)}")
    prev = earlier[-1]

    text = params_path(prev, root).read_text(encoding="utf-8")
    old = read_yaml(params_path(prev, root))  # the earlier quarter's file loaded as load_params does
    if not isinstance(old, dict) or not isinstance(old.get("commentary"), str):
        raise ParamsError(f"{params_path(prev, root).relative_to(root)}: new-quarter copies a params file whose "
                          "'commentary' is one path inside the project; run `cspack check` on it first")
    old_comm = root / old["commentary"]
    new_comm_rel = str(Path(old["commentary"]).with_name(f"{q.label}.md"))
    subs = {"quarter": q.label, "data_as_at": q.end.isoformat(), "commentary": new_comm_rel}
    for key, value in subs.items():
        text, n = re.subn(rf"(?m)^{key}:.*$", f"{key}: {value}", text)
        if n != 1:
            raise ParamsError(f"{params_path(prev, root).relative_to(root)}: expected one top-level '{key}:' line")
    header = (f"# Scaffolded from {prev.label} by `cspack new-quarter {q.label}`: check every input path below\n"
              f"# points at this quarter's files before running `cspack run --quarter {q.label}`.\n")
    target.write_text(header + text, encoding="utf-8")
    headings = [l for l in old_comm.read_text(encoding="utf-8").splitlines() if l.startswith("## ")]
    body = [f"# Analyst commentary, {q.long_label}", "",
            "<!-- One section per heading; the pack prints each under its section. HTML is shown as text. -->", ""]
    for h in headings:
        body += [h, "", f"<!-- commentary for {h[3:]} in {q.label} -->", ""]
    comm = root / new_comm_rel
    comm.parent.mkdir(parents=True, exist_ok=True)
    if not comm.exists():
        comm.write_text("\n".join(body), encoding="utf-8")
    return target, comm


def cmd_new_authority(args) -> int:
    root = project_root()
    path, a = new_authority(args.authority, root, force=args.force)
    print(f"{a.name}: wrote {shown_path(path, root)}; build its public-data pack with "
          f"`cspack run --authority {a.code}`")
    return 0


def cmd_new_quarter(args) -> int:
    root = project_root()
    p, c = new_quarter(args.quarter, root)
    print(f"created {p.relative_to(root)} and {c.relative_to(root)}")
    return 0


def quarters_status(root: Path | None = None) -> list[dict]:
    root = root or project_root()
    rows = []
    for q in available_quarters(root):
        m = pack_dir(q, root) / "manifest.json"
        built = json.loads(m.read_text(encoding="utf-8")) if m.exists() else None
        failed = sorted((outputs_dir(root) / "failed").glob(f"{q.label}-*"))
        rows.append({"quarter": q.label, "built": built["finished"] if built else "",
                     "status": built["status"] if built else "not built",
                     "failed_runs": len(failed),
                     "pack": str((pack_dir(q, root) / "pack.html").relative_to(root)) if built else ""})
    return rows


def cmd_quarters(args) -> int:
    rows = quarters_status()
    if not rows:
        print("no quarters: add params/<FY>-<Q>.yaml (cspack new-quarter 2026-27-Q2)")
        return 0
    print(f"{'quarter':<12} {'status':<10} {'built (UTC)':<26} {'failed runs':<12} pack")
    for r in rows:
        print(f"{r['quarter']:<12} {r['status']:<10} {r['built']:<26} {r['failed_runs']:<12} {r['pack']}")
    return 0


def check_quarter(quarter: str | None, root: Path | None = None, params_file: str | None = None) -> tuple[int, list[str]]:
    """Validate a quarter's inputs without building the pack. Returns (exit code, report lines)."""
    import tempfile

    root = root or project_root()
    params = load_params(quarter or None, root, path=params_file)
    lines = [f"cspack check {params.quarter.label}: {len(params.inputs)} inputs in {shown_path(params.path, root)}"]
    with tempfile.TemporaryDirectory() as tmp:
        ctx = QuarterContext(params=params, root=root, work_dir=Path(tmp))
        try:
            reg = ctx.prepare()
        except InputError as exc:
            return 1, lines + [f"ERROR {exc}"]
        for r in reg.itertuples():
            flag = "QUARANTINE" if r.rows_quarantined else "ok"
            lines.append(f"  {flag:<10} {r.input:<28} {r.rows_in:>8,} read {r.rows_kept:>8,} kept {r.rows_fixed:>6,} fixed "
                         f"{r.rows_dropped:>7,} dropped {r.rows_quarantined:>6,} quarantined")
        grouped = quality.group_quarantine(ctx.quarantine())
        if grouped:
            lines.append("Quarantined rows:")
            lines += [f"  {g}" for g in grouped]
        from pipeline.report.commentary import all_findings  # here only: it reads the performance section

        checks = all_findings(ctx)
        checks = checks[checks["level"].isin(["warning", "error"])]
        if len(checks):
            lines.append("Findings to check:")
            lines += [f"  {'ERROR ' if c.level == 'error' else ''}{c.input}: {c.check}: {c.finding}"
                      for c in checks.itertuples()]
        # exit 1 when an input lost too many rows to quarantine, or a continuity check failed
        limit = float(params.settings.max_quarantine_pct)
        share = 100 * reg["rows_quarantined"] / reg["rows_in"].where(reg["rows_in"] > 0)
        over = reg[share > limit].assign(pct=share[share > limit])
        errors = checks[checks["level"] == "error"]
        if len(over) or len(errors):
            first = []
            for r in over.sort_values("pct", ascending=False).itertuples():
                first.append(f"input '{r.input}' ({r.file}): {r.rows_quarantined:,} of {r.rows_in:,} rows ({r.pct:.1f}%) "
                             f"quarantined, more than settings.max_quarantine_pct ({limit:g}%); look first at its "
                             "quarantined rows above (the most frequent reason is usually one column or one date format)")
            for c in errors.itertuples():
                first.append(f"input '{c.input}': {c.check}: {c.finding}")
            lines.append("Result: FAILED; look first at:")
            lines += [f"  {i}. {t}" for i, t in enumerate(first, 1)]
            return 1, lines
        coverage = freshness.assess(params, ctx.table)
        refusal = freshness.refusal_message(params, coverage)
        lines.append("Result: FAILED; look first at: the inputs that do not reach the quarter (ERROR below)" if refusal
                     else f"Result: every input read; {int(reg['rows_quarantined'].sum()):,} rows quarantined, "
                     f"{quality.plural(len(checks), 'finding')} to check")
        lines += ["Periods covered:"] + [f"  {'STALE' if c.stale else 'ok':<10} {c.input:<28} {c.covers}"
                                         + (" (allowed: allow_stale)" if c.stale and c.allowed else "")
                                         for c in coverage if c.kind != "reference"]
        from pipeline.quarter.placement_bundle import unit_cost_check  # here only: it loads the placement model

        lines += [f"Note: {n}" for n in unit_cost_check(ctx)]
        missing = [h for h in ("Summary", "Performance", "Data quality and method", "Recommendations", "Report author")
                   if not ctx.commentary(h)]
        if missing:  # the pack prints "No commentary supplied" there (key variances: see the pack's data section)
            lines.append(f"Commentary: {params.commentary.name} has no section "
                         + ", ".join(f"'## {h}'" for h in missing))
        if refusal:
            return 1, lines + [f"ERROR {refusal}"]
    return 0, lines


def cmd_check(args) -> int:
    code, lines = check_quarter(args.quarter, params_file=args.params)
    print("\n".join(lines))
    return code


def cmd_demo_data(args) -> int:
    import time

    from pipeline.synthetic import Config, write_demo  # a developer tool: loaded only for demo-data

    root = project_root()
    cfg = Config(seed=args.seed, scale=args.scale, pinned=not args.unpinned)
    if args.authority:
        cfg.authority = args.authority.strip().upper()
    if (cfg.authority != Config().authority or not cfg.pinned) and not args.out:
        print("cspack: --authority and --unpinned write another authority's data: give --out FOLDER "
              "(data/raw/synthetic holds the bundled demonstration)", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else root / "data" / "raw" / "synthetic"
    t = time.perf_counter()
    try:
        files = write_demo(out, cfg, messy=args.messy)
    except ValueError as exc:  # an authority without published counts for every year
        print(f"cspack: {exc}", file=sys.stderr)
        return 2
    size = sum(len(b) for b in files.values())
    print(f"wrote {len(files)} synthetic files ({size / 1e6:.1f} MB) to {out} in {time.perf_counter() - t:.1f}s "
          f"(seed {args.seed}, scale {args.scale}, authority {cfg.authority}{'' if cfg.pinned else ', unpinned'}"
          f"{', messy' if args.messy else ''})")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cspack", description="Build Children's Services quarterly packs.")
    ap.add_argument("--debug", action="store_true",
                    help="show the Python traceback of an unexpected error (also: CSPACK_DEBUG=1)")
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="build a quarter's pack (default: the latest params file)")
    r.add_argument("--quarter", help="financial quarter such as 2026-27-Q2")
    r.add_argument("--params", help="params file to use (default: the one in params/ named for the quarter)")
    r.add_argument("--no-progress", action="store_true", help="no per-cell progress bar")
    r.add_argument("--authority", help="build the public-data pack for any authority in England instead "
                                       "(a name, or its DfE or ONS code such as 383 or E08000035)")
    r.add_argument("--out", help="with --authority: output folder (default outputs/public/<code>)")
    r.add_argument("--no-pdf", action="store_true", help="with --authority: no pack.pdf")
    r.set_defaults(func=cmd_run)
    na = sub.add_parser("new-authority", help="scaffold params/<authority>.yaml from published data "
                                              "(codes, region, neighbours, unit-cost defaults)")
    na.add_argument("authority", help="a name, or its DfE or ONS code")
    na.add_argument("--force", action="store_true", help="overwrite an existing profile")
    na.set_defaults(func=cmd_new_authority)
    n = sub.add_parser("new-quarter", help="scaffold params and commentary for a quarter from the previous one")
    n.add_argument("quarter")
    n.set_defaults(func=cmd_new_quarter)
    s = sub.add_parser("quarters", help="list quarters that can be run and what has been built")
    s.set_defaults(func=cmd_quarters)
    c = sub.add_parser("check", help="validate a quarter's inputs without building the pack")
    c.add_argument("--quarter", help="financial quarter such as 2026-27-Q2 (default: the latest)")
    c.add_argument("--params", help="params file to use (default: the one in params/ named for the quarter)")
    c.set_defaults(func=cmd_check)
    d = sub.add_parser("demo-data", help="generate the synthetic authority's data (SSDA903, ledger, returns, oracle)")
    d.add_argument("--seed", type=int, default=2026, help="random seed (default 2026, the bundled data)")
    d.add_argument("--scale", type=float, default=1.0, help="multiply the authority (national is about 80)")
    d.add_argument("--out", help="output folder (default data/raw/synthetic)")
    d.add_argument("--messy", action="store_true", help="write the files as councils' systems export them")
    d.add_argument("--authority", help="calibrate to this authority's published counts (code such as E08000025)")
    d.add_argument("--unpinned", action="store_true",
                   help="published flows as expectations only: the stock wanders, its truth in oracle/ (for forecasts)")
    d.set_defaults(func=cmd_demo_data)
    add_batch_parser(sub)  # cspack batch (pipeline/batch)
    args = ap.parse_args(argv)
    debug = args.debug or os.environ.get("CSPACK_DEBUG", "") not in ("", "0")
    try:
        return args.func(args)
    except (ParamsError, QuarterError) as exc:
        print(f"cspack: {exc}", file=sys.stderr)
        return 2
    except (UnknownAuthority, ScaffoldError) as exc:  # the public-data pack (pipeline.public)
        print(f"cspack: {exc}", file=sys.stderr)
        return 2
    except PublicPackError as exc:
        print(f"cspack: {exc}", file=sys.stderr)
        return 1
    except BuildLocked as exc:
        print(f"cspack: {exc}", file=sys.stderr)
        return 3
    except BuildError as exc:
        print(f"cspack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cspack: interrupted; the previous pack is untouched", file=sys.stderr)
        return 130
    except OSError as exc:
        if debug:
            raise
        print(f"cspack: {os_error_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # no Python traceback reaches a user: one line, the details in a log
        if debug:
            raise
        log = _error_log(exc)
        where = f"; details in {log}" if log else ""
        print(f"cspack: unexpected error: {type(exc).__name__}: {_one_line(exc)}{where} "
              "(run with --debug to see the traceback)", file=sys.stderr)
        return 1


OS_HINTS = {errno.EACCES: "check you may write there (and that the folder is not read-only)",
            errno.EPERM: "check you may write there (and that the folder is not read-only)",
            errno.EROFS: "the disk is mounted read-only; build on a writable disk",
            errno.ENOSPC: "free some space on the disk and run again",
            errno.EDQUOT: "your disk quota is full; free some space and run again",
            errno.ENOENT: "check the path exists", errno.EISDIR: "a folder is where a file was expected",
            errno.ENOTDIR: "a file is where a folder was expected"}


def os_error_line(exc: OSError) -> str:
    """An OSError in one line: what failed, the path (or paths) and what to do."""
    what = exc.strerror or str(exc) or type(exc).__name__
    paths = " -> ".join(_shown(x) for x in (exc.filename, exc.filename2) if x)
    hint = OS_HINTS.get(exc.errno or 0, "")
    return f"{what}: {paths or 'no path given by the system'}" + (f" ({hint})" if hint else "")


def _shown(path) -> str:
    try:
        return shown_path(Path(os.fsdecode(path)).resolve(), project_root())
    except Exception:
        return str(path)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _error_log(exc: BaseException) -> str:
    """Write the traceback of an unexpected error to ``outputs/cspack-error.log`` (else the temporary
    folder); returns the path shown to the user, or "" when no log could be written."""
    import tempfile
    import traceback
    from datetime import datetime

    text = (f"{datetime.now(UTC).isoformat(timespec='seconds')} cspack {' '.join(sys.argv[1:])}\n"
            + "".join(traceback.format_exception(exc)))
    for folder in (outputs_dir(), Path(tempfile.gettempdir())):
        try:
            path = folder / "cspack-error.log"
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(text + "\n")
            return shown_path(path, project_root())
        except Exception:
            continue
    return ""


if __name__ == "__main__":
    sys.exit(main())
