"""Pseudonymisation of the child-level tables written to ``data/processed/``: so that a lost or copied
processed folder does not identify a child.

- ``CHILD`` becomes a keyed hash (HMAC-SHA256, 20 hex characters) under a secret key kept outside the
  project and its outputs. The same child gets the same pseudonym in every table and every quarter
  prepared with the same key, so episodes, header, UASC and missing rows still join; without the key
  the pseudonym cannot be turned back into the council's child code (nor checked against a guess).
- ``UPN`` (unique pupil number) is removed: no analysis needs it.
- Postcodes (``HOME_POST``, ``PL_POST``) are cut to their sector ("DE4 3AG" to "DE4 3").
- Dates of birth (``DOB``, ``MC_DOB``) are cut to the month, stored as the first day of that month. Ages
  read from them can be up to a month older than the child's true age: the placement model's age bands
  and 18th birthdays move by at most that, which is far inside its ranges.
- Quarantined values from these columns are withheld; the file, row and column still say where to look.

The key: ``CSPACK_PSEUDONYM_KEY`` (a secret string in the environment), else the file named by
``CSPACK_KEY_FILE``, else ``~/.config/cspack/pseudonym.key``, created with 32 random bytes (owner-only
permissions) the first time it is needed. A key file inside the project folder is refused. Nothing
derived from the key reaches a pack: the placement model orders children by their circumstances, not
their pseudonyms, so a pack is the same whichever key prepared it."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

import numpy as np
import pandas as pd

KEY_ENV = "CSPACK_PSEUDONYM_KEY"
KEY_FILE_ENV = "CSPACK_KEY_FILE"
WITHHELD = "(withheld: identifying value; see the file at this row)"
IDENTIFYING = {"CHILD", "UPN", "DOB", "MC_DOB", "HOME_POST", "PL_POST"}
_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")


class PseudonymKeyError(ValueError):
    """The pseudonymisation key cannot be found or is in an unsafe place."""


def default_key_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cspack" / "pseudonym.key"


def load_key(project_root: Path | None = None) -> bytes:
    """The secret key (see the module note). Refuses a key file inside ``project_root``, where it could
    be committed or shipped with the outputs."""
    env = os.environ.get(KEY_ENV, "")
    if env:
        if len(env) < 16:
            raise PseudonymKeyError(f"{KEY_ENV} is set but shorter than 16 characters: use a long random secret")
        return env.encode("utf-8")
    path = Path(os.environ.get(KEY_FILE_ENV) or default_key_file()).expanduser().resolve()
    if project_root is not None:
        root = Path(project_root).resolve()
        if path == root or root in path.parents:
            raise PseudonymKeyError(f"the pseudonymisation key file {path} is inside the project folder {root}: keep it "
                            f"outside (set {KEY_FILE_ENV} to a path elsewhere, or {KEY_ENV})")
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
        key = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise PseudonymKeyError(f"the pseudonymisation key file {path} cannot be made or read ({exc.strerror}): set "
                                f"{KEY_FILE_ENV} to a writable path outside the project, or {KEY_ENV}") from None
    if len(key) < 16:
        raise PseudonymKeyError(f"the pseudonymisation key file {path} holds fewer than 16 characters: delete it to have a "
                        "new one made, or write a long random secret in it")
    return key.encode("utf-8")


def key_id(key: bytes) -> str:
    """A short fingerprint naming which key prepared a folder (it does not reveal the key)."""
    return hashlib.sha256(b"cspack key id:" + key).hexdigest()[:12]


def child_pseudonyms(ids: pd.Series, key: bytes) -> pd.Series:
    """Keyed hash of each child code (HMAC-SHA256, first 20 hex characters), computed once per code."""
    codes = ids.astype(str)
    uniq = pd.unique(codes)
    mapping = {c: hmac.new(key, c.encode("utf-8"), hashlib.sha256).hexdigest()[:20] for c in uniq}
    return codes.map(mapping)


def postcode_sector(values: pd.Series) -> pd.Series:
    """Full postcodes cut to the sector ("DE4 3AG" to "DE4 3"); a value that is already a sector or
    district is kept as it is; anything else that is not a postcode is blanked."""
    text = values.fillna("").astype(str).str.upper().str.strip()
    s = text.str.replace(r"\s+", "", regex=True)
    full = s.str.match(_POSTCODE.pattern)
    partial = text.str.match(r"^[A-Z]{1,2}[0-9][A-Z0-9]?( [0-9])?$")
    return pd.Series(np.where(full, s.str[:-3] + " " + s.str[-3:-2], np.where(partial, text, "")), index=values.index)


def month_of(dates: pd.Series) -> pd.Series:
    d = pd.to_datetime(dates)
    return d.dt.to_period("M").dt.to_timestamp().astype(d.dtype) if len(d) else d


def ssda903_tables(tables: dict[str, pd.DataFrame], key: bytes) -> dict[str, pd.DataFrame]:
    """The merged SSDA903 tables (episodes, header, uasc, missing) pseudonymised for writing."""
    out = {}
    for name, df in tables.items():
        d = df.copy()
        if "CHILD" in d:
            d["CHILD"] = child_pseudonyms(d["CHILD"], key)
        for c in ("HOME_POST", "PL_POST"):
            if c in d:
                d[c] = postcode_sector(d[c])
        for c in ("DOB", "MC_DOB"):
            if c in d:
                d[c] = month_of(d[c])
        d = d.drop(columns=["UPN"], errors="ignore")
        out[name] = d
    return out


def quarantine_values(q: pd.DataFrame) -> pd.DataFrame:
    """Quarantine rows with values from identifying columns withheld."""
    q = q.copy()
    hide = q["column"].astype(str).isin(IDENTIFYING)
    q.loc[hide, "value"] = WITHHELD
    return q
