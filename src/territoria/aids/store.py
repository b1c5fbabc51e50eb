"""The imported aid catalogue of a tenant: `data_dir/aids/<tenant>/catalogue.sqlite3`.

Why SQLite rather than a JSON file: re-importing one source replaces its aids in a single transaction
(a failed import never leaves a half-written catalogue, other sources are untouched), several processes
(CLI, API, assistant) can read while one writes, and aid vectors are cached in the same file keyed by
the hash of the embedded text, so an unchanged aid is never embedded twice. Python's stdlib only.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Iterable

import numpy as np

from territoria.aids.model import Aid
from territoria.core.settings import Settings, get_settings

SCHEMA = """
CREATE TABLE IF NOT EXISTS aids (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    hash TEXT NOT NULL,
    data TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS aids_source ON aids(source);
CREATE TABLE IF NOT EXISTS vectors (
    text_hash TEXT NOT NULL,
    model TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vec BLOB NOT NULL,
    PRIMARY KEY (text_hash, model)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


def catalogue_dir(settings: Settings | None = None, tenant: str | None = None) -> Path:
    s = settings or get_settings()
    return Path(s.data_dir) / "aids" / (tenant or s.tenant)


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class AidStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(SCHEMA)

    @classmethod
    def open(cls, settings: Settings | None = None, tenant: str | None = None) -> "AidStore":
        return cls(catalogue_dir(settings, tenant) / "catalogue.sqlite3")

    @classmethod
    def exists(cls, settings: Settings | None = None, tenant: str | None = None) -> bool:
        return (catalogue_dir(settings, tenant) / "catalogue.sqlite3").is_file()

    def close(self) -> None:
        self._conn.close()

    # -- aids ---------------------------------------------------------------------------------------
    def replace_source(self, source: str, aids: Iterable[Aid]) -> dict:
        """Make `source` hold exactly these aids (one transaction). Returns counts."""
        aids = list(aids)
        counts = {"added": 0, "updated": 0, "unchanged": 0, "removed": 0}
        now = time.time()
        with self._conn:
            known = dict(self._conn.execute("SELECT id, hash FROM aids WHERE source = ?", (source,)))
            seen = set()
            for a in aids:
                h = a.content_hash()
                seen.add(a.id)
                old = known.get(a.id)
                if old == h:
                    counts["unchanged"] += 1
                    continue
                self._conn.execute(
                    "INSERT OR REPLACE INTO aids(id, source, hash, data, updated_at) VALUES (?, ?, ?, ?, ?)",
                    (a.id, source, h, json.dumps(a.to_dict(), ensure_ascii=False), now))
                counts["updated" if old else "added"] += 1
            gone = [i for i in known if i not in seen]
            for i in gone:
                self._conn.execute("DELETE FROM aids WHERE id = ?", (i,))
            counts["removed"] = len(gone)
            self._conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('version', ?)", (str(now),))
        return counts

    def remove_source(self, source: str) -> int:
        with self._conn:
            n = self._conn.execute("DELETE FROM aids WHERE source = ?", (source,)).rowcount
            self._conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('version', ?)", (str(time.time()),))
        return n

    def version(self) -> str:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        n = self._conn.execute("SELECT COUNT(*) FROM aids").fetchone()[0]
        return f"{row[0] if row else '0'}:{n}"

    def count(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM aids").fetchone()[0]

    def sources(self) -> dict[str, int]:
        return dict(self._conn.execute("SELECT source, COUNT(*) FROM aids GROUP BY source ORDER BY source"))

    def load_all(self) -> list[Aid]:
        rows = self._conn.execute("SELECT data FROM aids ORDER BY id").fetchall()
        return [Aid.from_dict(json.loads(r[0])) for r in rows]

    def get(self, aid_id: str) -> Aid | None:
        row = self._conn.execute("SELECT data FROM aids WHERE id = ?", (aid_id,)).fetchone()
        return Aid.from_dict(json.loads(row[0])) if row else None

    # -- vectors ------------------------------------------------------------------------------------
    def get_vectors(self, hashes: list[str], model: str) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        uniq = list(dict.fromkeys(hashes))
        for i in range(0, len(uniq), 500):
            chunk = uniq[i:i + 500]
            q = f"SELECT text_hash, dim, vec FROM vectors WHERE model = ? AND text_hash IN ({','.join('?' * len(chunk))})"
            for h, dim, blob in self._conn.execute(q, [model, *chunk]):
                out[h] = np.frombuffer(blob, dtype=np.float32, count=dim)
        return out

    def put_vectors(self, items: dict[str, np.ndarray], model: str) -> None:
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO vectors(text_hash, model, dim, vec) VALUES (?, ?, ?, ?)",
                [(h, model, int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes()) for h, v in items.items()])
