"""A quarter's working context: its params, its prepared inputs in ``data/processed/<quarter>/``,
the tables it publishes and the analyst's commentary. Every notebook starts with ``open_quarter``."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import quality
from .inputs import QUARANTINE_COLUMNS, SCHEMAS, InputError, read_input, sha256_of
from .params import QuarterParams, load_params
from .paths import processed_dir, project_root
from .tables import TableStore

# params input key -> schema family, where they differ
SCHEMA_OF = {"kpi_service_plan_2023_25": "service_plan_measures"}
PREP_MODULES = ("context.py", "inputs.py", "quality.py", "finance.py", "params.py", "ledger.py", "ssda903.py",
                "parsing.py")


def code_fingerprint() -> str:
    """SHA-256 of the modules that prepare inputs: a preparation made by other code is stale."""
    import hashlib

    from . import __version__
    from .paths import PACKAGE_DIR

    h = hashlib.sha256(__version__.encode())
    for name in PREP_MODULES:
        h.update((PACKAGE_DIR / name).read_bytes())
    return h.hexdigest()


REGISTER_COLUMNS = ["input", "group", "file", "description", "source", "synthetic", "sha256", "rows_in",
                    "rows_kept", "rows_fixed", "rows_dropped", "rows_quarantined", "columns"]
# rows_in = rows_kept + rows_dropped (subtotals, blank rows, duplicates merged) + rows_quarantined;
# rows_fixed are kept rows changed by a documented rule


@dataclass
class QuarterContext:
    params: QuarterParams
    root: Path
    work_dir: Path

    @property
    def quarter(self):
        return self.params.quarter

    @property
    def tables(self) -> TableStore:
        return TableStore(self.work_dir)

    # ---- preparation -------------------------------------------------------------------------
    def prepare(self) -> pd.DataFrame:
        """Read, hash, count and validate every input; write typed tables, the quarantine, the
        register and the quality findings into the work folder. Returns the register."""
        inputs_dir = self.work_dir / "inputs"
        inputs_dir.mkdir(parents=True, exist_ok=True)
        register, quarantine, findings = [], [], []
        typed = {}
        errors = []
        for key, spec in self.params.inputs.items():
            try:
                entry = self._prepare_one(key, spec, inputs_dir, quarantine, findings, typed)
            except (InputError, ValueError) as exc:  # LedgerError and ParseError are ValueErrors
                errors.append(str(exc))
                continue
            register.append(entry)
        if errors:
            raise InputError(f"{len(errors)} input(s) of {self.params.path.name} could not be read:\n  - "
                             + "\n  - ".join(errors))
        self._finish_prepare(register, quarantine, findings, typed)
        return pd.DataFrame(register, columns=REGISTER_COLUMNS)

    def _prepare_one(self, key, spec, inputs_dir, quarantine, findings, typed) -> dict:
        entry = {"input": key, "group": spec.group, "file": spec.rel_path, "description": spec.description,
                 "source": spec.source, "synthetic": spec.synthetic, "sha256": sha256_of(spec.path),
                 "rows_fixed": 0, "rows_dropped": 0}
        if spec.kind == "ledger":
            entry.update(self._prepare_ledger(key, spec, inputs_dir, quarantine, findings))
        elif spec.kind == "ssda903":
            entry.update(self._prepare_ssda903(key, spec, inputs_dir, quarantine, findings))
        else:
            res = read_input(spec, SCHEMA_OF.get(key, key))
            entry.update(rows_in=res.rows_in, rows_kept=len(res.kept),
                         rows_quarantined=res.rows_in - len(res.kept), columns=len(res.columns))
            if len(res.quarantined):
                quarantine.append(res.quarantined)
            if SCHEMA_OF.get(key, key) in SCHEMAS:
                res.kept.to_csv(inputs_dir / f"{key}.csv", index=False, encoding="utf-8")
                typed[key] = res.kept
            else:
                findings += quality.marker_findings(key, res.kept)
                findings += quality.confidence_findings(key, res.kept)
        return entry

    def _finish_prepare(self, register, quarantine, findings, typed) -> None:
        if "budget_lines" in typed:
            findings += quality.budget_findings(typed["budget_lines"], typed.get("budget_totals"))
        if "measures" in typed:
            findings += quality.measure_value_findings("measures", typed["measures"], ["value_raw"])
        if "kpi_service_plan_2023_25" in typed:
            t = typed["kpi_service_plan_2023_25"]
            findings += quality.measure_value_findings("kpi_service_plan_2023_25", t,
                                                       [c for c in t.columns if c[:6] in ("actual", "latest")],
                                                       [c for c in t.columns if c.startswith("target")])
        reg = pd.DataFrame(register, columns=REGISTER_COLUMNS)
        reg.to_csv(self.work_dir / "register.csv", index=False)
        q = pd.concat(quarantine) if quarantine else pd.DataFrame(columns=QUARANTINE_COLUMNS)
        q.to_csv(self.work_dir / "quarantine.csv", index=False)
        pd.DataFrame(findings, columns=quality.FINDING_COLUMNS).to_csv(self.work_dir / "findings.csv", index=False)
        (self.work_dir / "prepared.json").write_text(json.dumps(
            {"quarter": self.quarter.label, "params": str(self.params.path.relative_to(self.root)),
             "code": code_fingerprint(),
             "inputs": {r["input"]: r["sha256"] for r in register}}, indent=1), encoding="utf-8")

    def _prepare_ledger(self, key, spec, inputs_dir, quarantine, findings) -> dict:
        from .ledger import read_ledger

        mapping_spec = self.params.inputs.get("cost_centres")
        mapping = (pd.read_csv(mapping_spec.path, dtype=str, keep_default_na=False) if mapping_spec else None)
        r = read_ledger(spec.path, mapping, input_key=key)
        r.kept.to_csv(inputs_dir / f"{key}.csv", index=False, encoding="utf-8")  # money in integer pence
        if len(r.quarantined):
            quarantine.append(r.quarantined[QUARANTINE_COLUMNS])
        findings += quality.ledger_findings(key, r)
        return {"rows_in": r.rows_read, "rows_kept": len(r.kept), "rows_dropped": r.total_rows + r.blank_rows,
                "rows_quarantined": int(r.quarantined["row"].nunique()), "columns": len(r.kept.columns)}

    def _prepare_ssda903(self, key, spec, inputs_dir, quarantine, findings) -> dict:
        from . import ssda903

        years = sorted(p for p in spec.path.iterdir() if p.is_dir() and (p / "episodes.csv").exists())
        if not years:
            raise InputError(f"{spec.rel_path} (input '{key}'): expected one folder per collection year "
                             "(2024-25/episodes.csv, 2024-25/header.csv, ...)")
        m = ssda903.merge_returns({p.name: ssda903.read_return(p) for p in years})
        m["episodes"].drop(columns=["DECOM_date", "DEC_date"]).to_csv(inputs_dir / f"{key}_episodes.csv", index=False)
        m["header"].to_csv(inputs_dir / f"{key}_header.csv", index=False)
        q = m["quarantine"]
        if len(q):  # never the child's identifier: file, row, column, code and rule only
            quarantine.append(pd.DataFrame({"input": key, "file": spec.rel_path + "/" + q["collection_year"] + "/episodes.csv",
                                            "row": q["row"], "column": q["column"], "value": q["value"],
                                            "reason": q["reason"]}))
        findings += quality.ssda903_findings(key, m)
        r = dict(zip(m["reconciliation"]["item"], m["reconciliation"]["count"]))
        return {"rows_in": r["rows read (all returns)"], "rows_kept": r["episodes kept"],
                "rows_fixed": r["of which overlaps truncated"], "rows_dropped": r["rows dropped by rule"],
                "rows_quarantined": r["rows quarantined"], "columns": len(ssda903.EPISODE_COLUMNS)}

    def is_prepared(self) -> bool:
        """True when the work folder holds a preparation of exactly the current input files, made by
        the current preparation code."""
        p = self.work_dir / "prepared.json"
        if not p.exists():
            return False
        done = json.loads(p.read_text(encoding="utf-8"))
        if done.get("code") != code_fingerprint() or done.get("quarter") != self.quarter.label:
            return False
        want = {k: s.path for k, s in self.params.inputs.items()}
        if set(done.get("inputs", {})) != set(want):
            return False
        return all(sha256_of(path) == done["inputs"][k] for k, path in want.items())

    def ensure_prepared(self) -> None:
        if not self.is_prepared():
            self.prepare()

    # ---- reading prepared data ---------------------------------------------------------------
    def table(self, key: str) -> pd.DataFrame:
        """A typed, validated input table (quarantined rows removed and counted in the register)."""
        p = self.work_dir / "inputs" / f"{key}.csv"
        if not p.exists():
            have = ", ".join(sorted(x.stem for x in (self.work_dir / "inputs").glob("*.csv")))
            raise KeyError(f"no prepared input '{key}' for {self.quarter.label} (prepared: {have}); "
                           f"is it named under 'inputs' in {self.params.path.name}?")
        return pd.read_csv(p, keep_default_na=False, na_values=[""])

    def register(self) -> pd.DataFrame:
        return pd.read_csv(self.work_dir / "register.csv", keep_default_na=False)

    def findings(self) -> pd.DataFrame:
        return pd.read_csv(self.work_dir / "findings.csv", keep_default_na=False)

    def quarantine(self) -> pd.DataFrame:
        return pd.read_csv(self.work_dir / "quarantine.csv", keep_default_na=False)

    def publish(self, name: str, df: pd.DataFrame, title: str, section: str) -> str:
        return self.tables.publish(name, df, title, section)

    # ---- commentary --------------------------------------------------------------------------
    def commentary(self, section: str) -> str:
        """The analyst's commentary for a section (``## Section`` in the quarter's commentary file),
        as Markdown with any HTML escaped. Blank when the analyst wrote nothing."""
        text = self.params.commentary.read_text(encoding="utf-8")
        sections = split_commentary(text)
        return html.escape(sections.get(section.strip().lower(), "").strip(), quote=False)


def split_commentary(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^##\s+(.+?)\s*$", line)
        if m:
            current = m.group(1).strip().lower()
            out[current] = ""
        elif current is not None and not line.lstrip().startswith("<!--"):
            out[current] += line + "\n"
    return out


def open_quarter(quarter: str = "", work_dir: str = "", root: Path | None = None) -> QuarterContext:
    """The context for a quarter (blank: the latest params file). ``work_dir`` blank means
    ``data/processed/<quarter>``; the runner passes a staging folder instead."""
    root = root or project_root()
    params = load_params(quarter or None, root)
    wd = Path(work_dir) if work_dir else processed_dir(root) / params.quarter.label
    if not wd.is_absolute():
        wd = root / wd
    wd.mkdir(parents=True, exist_ok=True)
    ctx = QuarterContext(params=params, root=root, work_dir=wd)
    ctx.ensure_prepared()
    return ctx
