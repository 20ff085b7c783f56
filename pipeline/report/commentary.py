"""The analyst's commentary in the pack: a section's commentary (``commentary``), and a record of the places
printed with "No commentary supplied" (``missing_commentary``), which the data section lists for the
analyst and the build log names with the heading to add. Used by every notebook's sections module."""

from __future__ import annotations

import json
import sys

from IPython.display import Markdown

from pipeline.quarter.context import QuarterContext


def commentary(ctx: QuarterContext, section: str) -> Markdown:
    text = ctx.commentary(section)
    if not text:
        missing_commentary(ctx, section, f"## {section}")
        return Markdown("*No commentary supplied.*")
    return Markdown(text)


MISSING = "missing_commentary.json"


def missing_commentary(ctx: QuarterContext, where: str, heading: str) -> None:
    """Record a place in the pack with no commentary: the data section lists them for the analyst, and
    the build log (the executed notebook's output stream) says which heading of which file to add."""
    path = ctx.work_dir / "tables" / MISSING  # beside this build's tables: a new build starts without them
    path.parent.mkdir(parents=True, exist_ok=True)
    seen = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    if where not in [w for w, _ in seen]:
        seen.append([where, heading])
        path.write_text(json.dumps(seen, indent=1), encoding="utf-8")
    print(f"cspack: no commentary for {where}: add a section '{heading}' to {ctx.params.commentary.name}",
          file=sys.stderr)
