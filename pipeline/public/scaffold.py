"""``cspack new-authority``: an authority's profile, params/<slug>.yaml, from published data: its codes,
region, boundary note, DfE statistical neighbours (2025 model) and unit-cost defaults from its section 251
outturn (LAIT's approximate weekly unit costs), so the public-data pack builds at once and a quarter's params
can start from it."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from pipeline.core.paths import params_dir, project_root, shown_path
from pipeline.measures.benchmarks import neighbours
from pipeline.public.authorities import Authority, match
from pipeline.public.data import FILES, PublicData, _finance, _read

UNIT_COSTS = {"LACFinance": "looked_after_per_week", "FosteringFinance": "fostering_per_week",
              "RescareFinance": "residential_per_week", "AdoptionFinance": "adoption_per_week",
              "SWFinance": "social_work_per_week"}


class ScaffoldError(ValueError):
    """new-authority cannot write the profile; the message says why."""


def _q(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def profile_text(a: Authority, sn: list[tuple[str, str]], costs: dict[str, float], cost_year: str) -> str:
    lines = [f"# {a.name}: authority profile scaffolded by `cspack new-authority` from published data.",
             "# The public-data pack builds from it at once:  cspack run --authority " + a.code,
             "# Each of the authority's own inputs named under `inputs:` below switches its section of that pack on",
             "# (the rest stays from published data).",
             f"authority: {_q(a.name)}", f"authority_code: {a.code}", f"dfe_la_code: {_q(a.old_code)}",
             f"region: {_q(a.region)}"]
    if a.boundary_note:
        lines.append(f"boundary_note: {_q(a.boundary_note)}")
    lines.append("# DfE statistical neighbour model 2025: the ten nearest authorities, nearest first")
    lines.append("statistical_neighbours:")
    lines += [f"  - {{dfe_la_code: {_q(o)}, name: {_q(n)}}}" for o, n in sn]
    lines.append("measure_catalogue: params/measures/catalogue.csv")
    lines.append(f"# weekly unit costs, £: DfE LAIT's approximate unit costs from the {cost_year} section 251 outturn")
    lines.append("# (spend / children placed / 365 x 7); defaults until the authority's own rates are given")
    lines.append("unit_cost_defaults:")
    lines.append(f"  year: {_q(cost_year)}")
    for measure, key in UNIT_COSTS.items():
        v = costs.get(measure)
        lines.append(f"  {key}: {'null' if v is None or math.isnan(v) else round(v)}")
    lines += ["# The authority's own data: remove the # of an input, give its path (inside the project's data/ or",
              "# params/ folder) and its source, and build again (cspack run --authority " + a.code + ").",
              "# Add `synthetic: true` to an input that is generated (cspack demo-data), not the authority's data.",
              "inputs:"]
    d = f"data/raw/{a.slug}"
    lines += [f'#  ssda903: {{path: {d}/ssda903, source: "{a.name} SSDA903 returns, one folder per year"}}',
              f'#  ledger: {{path: {d}/ledger, source: "{a.name} finance ledger, one file per financial year"}}',
              f'#  cost_centres: {{path: {d}/ledger/cost_centres.csv, source: "{a.name} cost-centre mapping"}}',
              f'#  budget_lines: {{path: {d}/returns/budget_lines.csv, source: "{a.name} budget monitoring return"}}',
              f"#  commentary: {{path: params/commentary/{a.slug}.md}}"]
    return "\n".join(lines) + "\n"


def new_authority(query: str, root: Path | None = None, data: PublicData | None = None,
                  force: bool = False) -> tuple[Path, Authority]:
    """Write params/<slug>.yaml for the authority ``query`` names; refuses to overwrite unless ``force``."""
    root = (root or project_root()).resolve()
    a = match(query, root)
    target = params_dir(root) / f"{a.slug}.yaml"
    if target.exists() and not force:
        raise ScaffoldError(f"{shown_path(target, root)} already exists; edit it, or remove it to scaffold again")
    if data is not None:
        sn_df, fin = data.sn_2025, data.finance
    else:
        sn_df, fin = _read(root, "sn_2025"), _finance(_read(root, "finance"))
    olds = neighbours(sn_df, None, a.old_code, "2025")
    names = sn_df.set_index("old_la_code")["la_name"]
    sn = [(o, str(names.get(o, o))) for o in olds]
    mine = fin[fin["old_code"] == a.old_code]
    year = str(mine.loc[mine["measure"] == "LACFinance", "year"].max()) if len(mine) else ""
    costs = {m: float(v) for m, v in mine[mine["year"] == year].set_index("measure")["value_num"].items()
             if m in UNIT_COSTS and pd.notna(v)}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(profile_text(a, sn, costs, year), encoding="utf-8")
    return target, a


__all__ = ["FILES", "ScaffoldError", "new_authority"]
