"""Splitting a commentary file into sections: the linear splitter against the one it replaced (which
appended each line to a string held in a dict, copying the section every time: quadratic in a section's
length). Run: python benchmarks/bench_commentary.py [MB ...]. Results: docs/security.md."""

import re
import sys
import time

from pipeline.quarter.context import split_commentary


def old_split(text: str) -> dict[str, str]:  # the splitter before issue 18, for comparison
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


def one_section(mb: float) -> str:
    line = "Spending on placements is under review; the forecast is unchanged from last quarter.\n"
    return "## Summary\n" + line * int(mb * 1e6 / len(line))


if __name__ == "__main__":
    sizes = [float(x) for x in sys.argv[1:]] or [0.5, 1, 2, 4, 60]
    print(f"{'MB':>6} {'linear s':>9} {'old s':>9}")
    for mb in sizes:
        text = one_section(mb)
        t = time.perf_counter()
        new = split_commentary(text)
        t_new = time.perf_counter() - t
        if mb <= 4:
            t = time.perf_counter()
            old = old_split(text)
            t_old = f"{time.perf_counter() - t:9.2f}"
            assert old == new
        else:
            t_old = "  skipped"
        print(f"{mb:>6g} {t_new:9.3f} {t_old}")
