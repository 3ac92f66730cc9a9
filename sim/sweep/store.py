"""The sweep results store: one SQLite row per evaluated point (resolved config + all metrics), committed as
each point finishes, so an interrupted sweep loses nothing and a rerun skips every finished point.

Only the driver process writes (workers return results), so there is a single writer; WAL mode keeps readers
(e.g. `sim sweep --status`) from blocking it.
"""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pandas as pd

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    point_id   TEXT PRIMARY KEY,
    config     TEXT NOT NULL,
    metrics    TEXT,
    error      TEXT,
    status     TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    seconds    REAL,
    finished   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sweep (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class StoreError(ValueError):
    """A results store that cannot be used: not an SQLite database, corrupt, or of another sweep (names the file)."""


class ResultStore:
    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(self.path), timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            self._db.commit()
            self._db.execute("SELECT point_id, config, metrics, status, seconds FROM points LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:   # sqlite3's own message does not say which file
            raise StoreError(f"results store {self.path}: {exc} (not a usable results.sqlite; use another --out "
                             f"folder or delete it to start over)") from None

    def close(self):
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def bind_spec(self, spec_json: str):
        """Remember which sweep this store belongs to; refuse to mix results of a different sweep."""
        row = self._db.execute("SELECT value FROM sweep WHERE key='spec'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO sweep VALUES ('spec', ?)", (spec_json,))
            self._db.commit()
        elif row[0] != spec_json:
            raise StoreError(f"results store {self.path} belongs to a different sweep specification; "
                             f"use another --out folder or delete the store to start over")

    def done_ids(self) -> set:
        return {r[0] for r in self._db.execute("SELECT point_id FROM points WHERE status='done'")}

    def get(self, pid: str):
        row = self._db.execute("SELECT metrics FROM points WHERE point_id=? AND status='done'", (pid,)).fetchone()
        return None if row is None else json.loads(row[0])

    def record(self, pid: str, config: dict, metrics: dict | None, seconds: float, error: str | None = None):
        status = "done" if error is None else "failed"
        self._db.execute(
            "INSERT OR REPLACE INTO points VALUES (?, ?, ?, ?, ?, ?, ?)",
            (pid, json.dumps(config, sort_keys=True), None if metrics is None else json.dumps(metrics),
             error, status, seconds, time.time()))
        self._db.commit()

    def frame(self) -> pd.DataFrame:
        """Tidy table: one row per finished point, config flattened with dotted column names, then metrics."""
        try:
            return self._frame()
        except (sqlite3.DatabaseError, json.JSONDecodeError, TypeError) as exc:  # rows damaged after the open
            raise StoreError(f"results store {self.path}: unreadable row ({exc}); delete it and rerun the sweep") \
                from None

    def _frame(self) -> pd.DataFrame:
        rows = []
        for pid, cfg, met, status, secs in self._db.execute(
                "SELECT point_id, config, metrics, status, seconds FROM points ORDER BY point_id"):
            row = {"point_id": pid, "status": status, "seconds": secs}
            row.update({f"config.{k}": v for k, v in _flatten(json.loads(cfg)).items()})
            if met:
                row.update(json.loads(met))
            rows.append(row)
        return pd.DataFrame(rows)


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out
