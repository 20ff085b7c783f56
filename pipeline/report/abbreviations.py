"""Abbreviations a reader may not know, spelled out under the table that uses them ("SORE: Sport, Outdoor
and Residential Education"): the returns use the service's own short names, so the note is built from
the cells, never hard-coded to a table."""

from __future__ import annotations

import re

import pandas as pd

# children's services abbreviations found in councils' returns; each spelled out once under its table
GLOSSARY = {
    "SORE": "Sport, Outdoor and Residential Education",
    "FSM": "free school meals",
    "SEMH": "social, emotional and mental health",
    "SEND": "special educational needs and disabilities",
    "SEN": "special educational needs",
    "EHCP": "education, health and care plan",
    "CiC": "children in care",
    "CLA": "children looked after",
    "UASC": "unaccompanied asylum-seeking children",
    "DSG": "Dedicated Schools Grant",
    "NEET": "not in education, employment or training",
    "SGO": "special guardianship order",
    "ICPC": "initial child protection conference",
}


def used(cells) -> list[str]:
    """The glossary's abbreviations used as whole words in ``cells`` (any iterable of values, or a
    DataFrame's cells), in the order first used."""
    if isinstance(cells, pd.DataFrame):
        cells = [v for col in cells.columns for v in [col, *cells[col].tolist()]]
    found = []
    for v in cells:
        for word in re.findall(r"[A-Za-z]+", str(v)):
            if word in GLOSSARY and word not in found:
                found.append(word)
    return found


def note(cells) -> str:
    """"SORE: Sport, Outdoor and Residential Education; FSM: free school meals." for the abbreviations
    ``cells`` use ("" when none)."""
    words = used(cells)
    return ("; ".join(f"{w}: {GLOSSARY[w]}" for w in words) + ".") if words else ""
