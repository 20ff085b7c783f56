"""Realism benchmark (not a test): DfE's SSDA903 validation rules on the bundled synthetic returns.

Run with `make validate-synthetic`. The validator (PyPI ``csc-validator-be-903==0.1.17``, module
``lac_validator``) pins pandas<2, so it lives in its own virtual environment, ``.venv-validator``
beside ``.venv``, created on first use. Each bundled collection year that has a rule set (2022-23
onwards) is validated with the previous year supplied, as the authority E10000007 (Derbyshire), each
rule on its own copy of the data. Prints the failing rules with the rows and children they flag,
the validator's known quirks separately, and the share of children flagged by any other rule.
Results: benchmarks/results/validate_synthetic.json; recorded in docs/synthetic.md.

    python benchmarks/validate_synthetic.py [DATA_DIR]      # default data/raw/synthetic/ssda903
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-validator"
PIN = "csc-validator-be-903==0.1.17"
AUTHORITY = "E10000007"
# developer shortcuts: VALIDATE_RULES=168,393 runs only those rules; VALIDATE_YEARS=2024-25 only those years
SELECT = [r for r in os.environ.get("VALIDATE_RULES", "").split(",") if r] or None
YEARS = [r for r in os.environ.get("VALIDATE_YEARS", "").split(",") if r]
# File name in the bundled returns -> the validator's table (it recognises CSVs by their columns).
TABLES = ["episodes", "header", "uasc", "missing", "oc2", "oc3", "ad1", "placed_for_adoption",
          "previous_permanence", "reviews", "sw_episodes"]
# Rules that fail for the validator's reasons, not the data's (see issue 19 and docs/synthetic.md).
QUIRKS = {
    "202": "compares SEX with last year's, so the change from 1/2 to M/F in 2024-25 flags every child",
    "575": "rule 365 fills blank MIS_END in place, and the copy leaks into this rule",
    "577": "as 575: blank end dates filled in place by another rule",
    "231": "crashes on CSV uploads",
    "233": "crashes on CSV uploads",
}
QUIRKS_BY_YEAR = {"2024-25": {"146": "compares PLACE case-sensitively with a lower-case 'k3' in its code list"}}
AUTHORITY_NOTE = ("the validator maps postcodes to authorities with a 2021 lookup (qlacref_authorities 2021.4): "
                  "placements in authorities reorganised since (Cumbria, North Yorkshire, Somerset) may be misplaced")


def ensure_venv() -> Path:
    py = VENV / "bin" / "python"
    if not py.exists():
        print(f"creating {VENV.name} with {PIN} (once)", flush=True)
        venv.create(VENV, with_pip=True)
    probe = subprocess.run([str(py), "-c", "import lac_validator"], capture_output=True)
    if probe.returncode:
        subprocess.run([str(py), "-m", "pip", "install", "-q", PIN], check=True)
    return py


def ruleset_for(label: str) -> str:
    y = int(label[:4])
    return f"lac{y}_{(y + 1) % 100:02d}"


# ---- inside the validator's environment -----------------------------------------------------------
def validate_year(data_dir: Path, label: str, prev: str | None) -> dict:
    import importlib
    import logging


    logging.disable(logging.CRITICAL)  # the validator logs every rule at INFO and crashes with tracebacks
    from lac_validator.lac_validator import LacValidator

    files = []
    for desc, lab in (("This year", label), ("Prev year", prev)):
        if lab is None:
            continue
        for t in TABLES:
            p = data_dir / lab / f"{t}.csv"
            if p.exists():
                files.append({"name": p.name, "file_content": p.read_bytes(), "description": desc})
    registry = importlib.import_module(f"lac_validator.rules.{ruleset_for(label)}").registry
    y = int(label[:4])
    try:
        v = LacValidator(metadata={"collectionYear": f"{y + 1}", "localAuthority": AUTHORITY}, files=files,
                         registry=registry, selected_rules=SELECT)
    except Exception as exc:  # the upload itself refused (e.g. a file whose columns match no table)
        return {"year": label, "previous_year": prev, "rejected": f"{type(exc).__name__}: {exc}"}
    header = v.ds_results["Header"]
    children = set(header["CHILD"].dropna())
    rules: dict[str, dict] = {}
    for table, df in v.ds_results.items():
        if table == "metadata" or not hasattr(df, "columns") or table.endswith("_last"):
            continue
        for col in [c for c in df.columns if str(c).startswith("ERR_")]:
            hit = df[col].eq(True)
            if not hit.any():
                continue
            r = rules.setdefault(col[4:], {"rows": 0, "children": set(), "tables": []})
            r["rows"] += int(hit.sum())
            r["tables"].append(table)
            if "CHILD" in df.columns:
                r["children"] |= set(df.loc[hit, "CHILD"].dropna())
    quirks = {**QUIRKS, **QUIRKS_BY_YEAR.get(label, {})}
    flagged = set()
    for code, r in rules.items():
        if code not in quirks:
            flagged |= r["children"]
    return {
        "year": label, "previous_year": prev, "ruleset": ruleset_for(label), "rules_in_set": len(registry),
        "rules_run": len(v.dones), "rules_skipped": len(v.skips), "rules_crashed": sorted(v.fails),
        "children": len(children),
        "failing": {c: {"rows": r["rows"], "children": len(r["children"]), "tables": sorted(set(r["tables"]))}
                    for c, r in sorted(rules.items()) if c not in quirks},
        "quirks": {c: {"rows": r["rows"], "children": len(r["children"]), "why": quirks[c]}
                   for c, r in sorted(rules.items()) if c in quirks},
        "children_flagged": len(flagged & children) if children else len(flagged),
        "pct_children_flagged": round(100 * len(flagged) / max(len(children), 1), 2),
    }


def inner(data_dir: Path) -> int:
    labels = sorted(p.name for p in data_dir.iterdir() if p.is_dir())
    import importlib.util
    results = []
    for i, label in enumerate(labels):
        if YEARS and label not in YEARS:
            continue
        if importlib.util.find_spec(f"lac_validator.rules.{ruleset_for(label)}") is None:
            results.append({"year": label, "skipped": "the validator has no rule set for this year"})
            continue
        results.append(validate_year(data_dir, label, labels[i - 1] if i else None))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(json.dumps(results))
    return 0


# ---- outside ---------------------------------------------------------------------------------------
def report(results: list[dict]) -> str:
    lines = []
    for r in results:
        if "skipped" in r:
            lines.append(f"{r['year']}: not validated ({r['skipped']})")
            continue
        if "rejected" in r:
            lines.append(f"{r['year']}: upload REJECTED by the validator: {r['rejected']}")
            continue
        lines.append(f"{r['year']} (previous year {r['previous_year']}, {r['ruleset']}: {r['rules_in_set']} rules, "
                     f"{r['rules_run']} run, {r['rules_skipped']} skipped for absent tables, crashed: "
                     f"{', '.join(r['rules_crashed']) or 'none'})")
        lines.append(f"  {len(r['failing'])} rules failing apart from quirks; {r['children_flagged']:,} of "
                     f"{r['children']:,} children flagged ({r['pct_children_flagged']}%)")
        for code, f in r["failing"].items():
            lines.append(f"    {code:>8}: {f['rows']:>6,} rows, {f['children']:>5,} children ({', '.join(f['tables'])})")
        for code, f in r["quirks"].items():
            lines.append(f"    quirk {code:>4}: {f['rows']:>6,} rows ({f['why']})")
    lines.append(f"note: {AUTHORITY_NOTE}")
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) >= 2 and sys.argv[1] == "--inner":
        return inner(Path(sys.argv[2]))
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "data" / "raw" / "synthetic" / "ssda903"
    py = ensure_venv()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    if SELECT or YEARS:
        print(f"(subset: rules {SELECT or 'all'}, years {YEARS or 'all'}; results not saved)")
    out = subprocess.run([str(py), __file__, "--inner", str(data_dir.resolve())], capture_output=True, text=True,
                         env=env)
    if out.returncode:
        print(out.stderr[-4000:], file=sys.stderr)
        return out.returncode
    results = json.loads(out.stdout.strip().splitlines()[-1])
    if not (SELECT or YEARS):
        dest = ROOT / "benchmarks" / "results"
        dest.mkdir(exist_ok=True)
        (dest / "validate_synthetic.json").write_text(json.dumps(results, indent=1))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
