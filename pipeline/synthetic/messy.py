"""The same content as councils' systems export it: finance-system ledgers, hand-exported CSVs and
Excel-saved quarterly returns."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from pipeline.synthetic.calibration import Config

LEDGER_HEADINGS = {"financial_year": "Fin Year", "period": "Period", "month": "Month", "cost_centre": "Cost Centre",
                   "cost_centre_name": "Cost Centre Description", "service_line_id": "Service Line Code",
                   "service_line": "Service Line", "division": "Division", "subjective": "Subjective",
                   "budget_annual": "Annual Budget", "budget_month": "Budget (Month)", "actual": "Actual",
                   "commitment": "Commitments", "forecast_full_year": "Forecast Outturn"}
MONEY = ["budget_annual", "budget_month", "actual", "commitment", "forecast_full_year"]


def _messy_money(values: pd.Series, rng) -> pd.Series:
    """"£1,234.56", "(1,234.56)", "1,234.56-" and "-" for nil, as finance systems print money."""
    v = values.astype(float)
    text = v.abs().map(lambda x: f"{x:,.2f}")
    style = rng.integers(0, 3, len(v))
    neg = np.where(style == 0, "(" + text + ")", np.where(style == 1, text + "-", "-" + text))
    pos = np.where(rng.random(len(v)) < 0.5, "£" + text, text)
    return pd.Series(np.where(v < 0, neg, np.where(v == 0, "-", pos)), index=values.index)


def messy_ledger(df: pd.DataFrame, fy: str, rng) -> bytes:
    """A ledger as a finance system exports it: title rows, human headings in a shuffled order,
    subtotals per service line, a grand total, stray blank rows, money as text, months as "Apr-26",
    cp1252 with a £ sign."""
    d = df.copy()
    for c in MONEY:
        d[c] = _messy_money(df[c], rng)
    d["month"] = pd.to_datetime(df["month"], format="%Y-%m").dt.strftime("%b-%y")  # "Apr-26", as Oracle prints it
    order = list(rng.permutation(list(LEDGER_HEADINGS)))
    parts = []
    for sl, g in d.groupby("service_line", sort=False):
        g = g[order].rename(columns=LEDGER_HEADINGS)
        parts.append(g)
        tot = {LEDGER_HEADINGS[c]: "" for c in order}
        tot[LEDGER_HEADINGS["cost_centre_name"]] = f"Total {sl}"
        for c in ("actual", "budget_month"):
            tot[LEDGER_HEADINGS[c]] = f"{df.loc[g.index, c].astype(float).sum():,.2f}"
        parts.append(pd.DataFrame([tot]))
        if rng.random() < 0.3:
            parts.append(pd.DataFrame([{LEDGER_HEADINGS[c]: "" for c in order}]))
    grand = {LEDGER_HEADINGS[c]: "" for c in order}
    grand[LEDGER_HEADINGS["cost_centre_name"]] = "GRAND TOTAL"
    grand[LEDGER_HEADINGS["actual"]] = f"{df['actual'].astype(float).sum():,.2f}"
    body = pd.concat(parts + [pd.DataFrame([grand])], ignore_index=True).to_csv(index=False, lineterminator="\r\n")
    title = (f"Synthetic County Council (SYNTHETIC DATA),,,\r\nChildren's Services - revenue monitoring extract {fy},,,\r\n"
             f"Report: GL_DETAIL_CS  Amounts in £,,,\r\n,,,\r\n")
    return (title + body).encode("cp1252")


def messy_csv(data: bytes, rng) -> bytes:
    """A return as exported by hand: byte-order mark, CRLF, shuffled columns, stray blank rows."""
    df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    df = df[list(rng.permutation(df.columns))]
    text = df.to_csv(index=False, lineterminator="\r\n").split("\r\n")
    out = [text[0]]
    for line in text[1:]:
        out.append(line)
        if line and rng.random() < 0.01:
            out.append("," * (len(df.columns) - 1))
    return ("\ufeff" + "\r\n".join(out)).encode("utf-8")


def messy_return(data: bytes, title: str, rng) -> bytes:
    """A quarterly return as a finance officer saves it from Excel: title rows, human headings
    ("Controllable Budget £m"), money as "£1.234", "(0.500)" or "0.500-", "-" for nil, a stray
    blank row; then the byte-order mark, CRLF and shuffled columns of ``messy_csv``."""
    df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    for c in [c for c in df.columns if c.endswith("_gbpm")]:
        v = pd.to_numeric(df[c], errors="coerce")
        text = df[c].str.lstrip("-")
        neg = np.where(rng.random(len(v)) < 0.5, "(" + text + ")", text + "-")
        pos = np.where(rng.random(len(v)) < 0.5, "£" + text, text)
        df[c] = np.where(df[c] == "", "", np.where(v < 0, neg, np.where(v == 0, "-", pos)))
    df.columns = [" ".join(w.capitalize() for w in c.split("_")).replace("Gbpm", "£m") for c in df.columns]
    body = messy_csv(df.to_csv(index=False).encode("utf-8"), rng).decode("utf-8").lstrip("\ufeff")
    width = "," * (len(df.columns) - 1)
    return ("\ufeff" + f"Synthetic County Council (SYNTHETIC DATA){width}\r\n{title}{width}\r\n{width}\r\n"
            + body).encode("utf-8")


def messify(files: dict[str, bytes], cfg: Config) -> dict[str, bytes]:
    """The same content as councils' systems export it; the oracle and metadata stay clean."""
    rng = np.random.default_rng([cfg.seed, 999])
    out = {}
    for path, data in files.items():
        if path.startswith("ledger/ledger_"):
            df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
            out[path] = messy_ledger(df, path[-11:-4], rng)
        elif path.startswith("returns/") and path.endswith(".csv"):
            out[path] = messy_return(data, f"Children's Services {path.split('/')[1]}: {path.split('/')[-1][:-4]}", rng)
        elif path.startswith("ssda903/") and path.endswith(".csv"):
            out[path] = messy_csv(data, rng)
        else:
            out[path] = data
    return out
