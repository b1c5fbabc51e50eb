"""SQLite backend of the storage interface (embedded default, one file in the data dir).

Vectors are float32 BLOBs in an `embeddings` table keyed by (model, sha1 of the embedded text), so an
unchanged passage is never embedded twice, even when its document is re-ingested. Similarity search runs
in memory on a NumPy matrix loaded from that table (search/dense.py): exact, and at 100k × 384 dims a
matrix-vector product of a few milliseconds, so an ANN extension such as sqlite-vec (also brute force)
would add a native dependency for no gain at this scale.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from territoria.core.store import DocumentInfo, StoredChunk
from territoria.store.sqlite_base import SQLiteBase
from territoria.core.types import Chunk, DocumentRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    tenant TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    title TEXT NOT NULL,
    source TEXT NOT NULL,
    doc_type TEXT NOT NULL,
    url TEXT,
    date TEXT,
    summary TEXT,
    visibility TEXT NOT NULL DEFAULT 'public',
    metadata TEXT NOT NULL DEFAULT '{}',
    content_hash TEXT NOT NULL,
    n_chunks INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant, doc_id)
);
CREATE TABLE IF NOT EXISTS chunks (
    row INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    chunk_id TEXT NOT NULL,
    ord INTEGER NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    section TEXT NOT NULL,
    page INTEGER,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    text TEXT NOT NULL,
    terms TEXT NOT NULL,
    embed_key TEXT NOT NULL,
    embed_text TEXT NOT NULL,
    FOREIGN KEY (tenant, doc_id) REFERENCES documents (tenant, doc_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks (tenant, doc_id);
CREATE INDEX IF NOT EXISTS chunks_key ON chunks (embed_key);
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL,
    key TEXT NOT NULL,
    vec BLOB NOT NULL,
    PRIMARY KEY (model, key)
);
CREATE TABLE IF NOT EXISTS tenant_state (
    tenant TEXT PRIMARY KEY,
    generation INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tenants (
    tenant TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT 'local',      -- 'local' or 'commons' (shared read-only corpus)
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tenant_commons (
    tenant TEXT NOT NULL,
    commons TEXT NOT NULL,
    PRIMARY KEY (tenant, commons)
);
"""


def _many(tenants: "str | Sequence[str]") -> list[str]:
    return [tenants] if isinstance(tenants, str) else list(tenants)


def _in(tenants: "str | Sequence[str]", column: str = "tenant") -> tuple[str, list[str]]:
    ts = _many(tenants)
    return f"{column} IN ({','.join('?' * len(ts))})", ts


def _vis(visibility: "Sequence[str] | None", column: str = "visibility") -> tuple[str, list[str]]:
    if visibility is None:
        return "", []
    vs = list(visibility)
    return f" AND {column} IN ({','.join('?' * len(vs))})" if vs else " AND 0", vs


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class SQLiteStore(SQLiteBase):
    SCHEMA = SCHEMA

    # -- documents --
    def _bump(self, c: sqlite3.Connection, tenant: str) -> None:
        c.execute(
            "INSERT INTO tenant_state (tenant, generation) VALUES (?, 1) "
            "ON CONFLICT (tenant) DO UPDATE SET generation = generation + 1",
            (tenant,),
        )

    def generation(self, tenant: str) -> int:
        r = self._conn.execute("SELECT generation FROM tenant_state WHERE tenant = ?", (tenant,)).fetchone()
        return int(r[0]) if r else 0

    def document_hashes(self, tenant: str) -> dict[str, str]:
        rows = self._conn.execute("SELECT doc_id, content_hash FROM documents WHERE tenant = ?", (tenant,))
        return dict(rows.fetchall())

    def replace_document(self, tenant: str, record: DocumentRecord, content_hash: str, chunks: list[Chunk],
                         terms: list[list[str]], embed_texts: list[str]) -> None:
        from territoria.search.dense import embed_key  # content address of a passage

        with self._tx() as c:
            c.execute("DELETE FROM chunks WHERE tenant = ? AND doc_id = ?", (tenant, record.doc_id))
            c.execute(
                "INSERT OR REPLACE INTO documents (tenant, doc_id, title, source, doc_type, url, date, summary, "
                "visibility, metadata, content_hash, n_chunks, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (tenant, record.doc_id, record.title, record.source, record.doc_type, record.url, record.date,
                 record.summary, record.visibility, json.dumps(record.metadata, ensure_ascii=False),
                 content_hash, len(chunks), _now()),
            )
            c.executemany(
                "INSERT INTO chunks (tenant, doc_id, chunk_id, ord, kind, title, section, page, char_start, "
                "char_end, text, terms, embed_key, embed_text) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (tenant, record.doc_id, ch.chunk_id, ch.ord, ch.kind, ch.title, ch.section, ch.page,
                     ch.char_start, ch.char_end, ch.text, " ".join(t), embed_key(et), et)
                    for ch, t, et in zip(chunks, terms, embed_texts)
                ],
            )
            self._bump(c, tenant)

    def delete_document(self, tenant: str, doc_id: str) -> bool:
        with self._tx() as c:
            c.execute("DELETE FROM chunks WHERE tenant = ? AND doc_id = ?", (tenant, doc_id))
            n = c.execute("DELETE FROM documents WHERE tenant = ? AND doc_id = ?", (tenant, doc_id)).rowcount
            if n:
                self._bump(c, tenant)
        return bool(n)

    def delete_tenant(self, tenant: str) -> int:
        with self._tx() as c:
            c.execute("DELETE FROM chunks WHERE tenant = ?", (tenant,))
            n = c.execute("DELETE FROM documents WHERE tenant = ?", (tenant,)).rowcount
            self._bump(c, tenant)
        return n

    @staticmethod
    def _info(r: sqlite3.Row | tuple) -> DocumentInfo:
        (doc_id, title, source, doc_type, url, date, visibility, metadata, content_hash, n_chunks, updated) = r
        return DocumentInfo(doc_id, title, source, doc_type, url, date, visibility, n_chunks, content_hash,
                            updated, json.loads(metadata or "{}"))

    _INFO_COLS = ("doc_id, title, source, doc_type, url, date, visibility, metadata, content_hash, n_chunks, "
                  "updated_at")

    def get_document(self, tenant: str, doc_id: str, *, visibility: Sequence[str] | None = None
                     ) -> DocumentInfo | None:
        v, vargs = _vis(visibility)
        r = self._conn.execute(
            f"SELECT {self._INFO_COLS} FROM documents WHERE tenant = ? AND doc_id = ?{v}", (tenant, doc_id, *vargs)
        ).fetchone()
        return self._info(r) if r else None

    def list_documents(self, tenant: str, *, source: str | None = None, limit: int = 100,
                       offset: int = 0, visibility: Sequence[str] | None = None) -> list[DocumentInfo]:
        v, vargs = _vis(visibility)
        sql = f"SELECT {self._INFO_COLS} FROM documents WHERE tenant = ?{v}"
        args: list[Any] = [tenant, *vargs]
        if source:
            sql += " AND source = ?"
            args.append(source)
        sql += " ORDER BY doc_id LIMIT ? OFFSET ?"
        args += [limit, offset]
        return [self._info(r) for r in self._conn.execute(sql, args).fetchall()]

    def count_documents(self, tenant: "str | Sequence[str]", *, visibility: Sequence[str] | None = None) -> int:
        w, args = _in(tenant)
        v, vargs = _vis(visibility)
        return int(self._conn.execute(f"SELECT COUNT(*) FROM documents WHERE {w}{v}", [*args, *vargs]).fetchone()[0])

    def count_chunks(self, tenant: str) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM chunks WHERE tenant = ?", (tenant,)).fetchone()[0])

    # -- chunks --
    def iter_chunks(self, tenant: "str | Sequence[str]") -> Iterator[StoredChunk]:
        w, args = _in(tenant)
        cur = self._conn.execute(
            "SELECT row, chunk_id, doc_id, ord, text, title, section, page, char_start, char_end, kind, terms, "
            f"embed_text, tenant FROM chunks WHERE {w} ORDER BY row", args,
        )
        for (row, chunk_id, doc_id, ord_, text, title, section, page, cs, ce, kind, terms, et, t) in cur:
            yield StoredChunk(row, Chunk(chunk_id, doc_id, ord_, text, title, section, page, cs, ce, kind),
                              terms.split(), et, t)

    def chunk_meta(self, tenant: "str | Sequence[str]", rows: Iterable[int], *,
                   visibility: Sequence[str] | None = None) -> dict[int, dict[str, Any]]:
        rows = list(rows)
        if not rows:
            return {}
        marks = ",".join("?" * len(rows))
        w, targs = _in(tenant, "+c.tenant")
        v, vargs = _vis(visibility, "d.visibility")
        cur = self._conn.execute(
            f"SELECT c.row, c.chunk_id, c.doc_id, c.title, c.section, c.page, c.text, c.kind, c.char_start, "
            f"c.char_end, d.url, d.source, d.doc_type, d.date, d.visibility, c.tenant FROM chunks c JOIN documents d "
            f"ON d.tenant = c.tenant AND d.doc_id = c.doc_id WHERE c.row IN ({marks}) AND {w}{v}",
            [*rows, *targs, *vargs],
        )
        keys = ("row", "chunk_id", "doc_id", "title", "section", "page", "text", "kind", "char_start",
                "char_end", "url", "source", "doc_type", "date", "visibility", "tenant")
        return {r[0]: dict(zip(keys, r)) for r in cur.fetchall()}

    def doc_filters(self, tenant: "str | Sequence[str]") -> list[tuple[str, str, str, str, str | None, str]]:
        """(tenant, doc_id, source, doc_type, date, visibility) of every document, for metadata filters."""
        w, args = _in(tenant)
        return self._conn.execute(
            f"SELECT tenant, doc_id, source, doc_type, date, visibility FROM documents WHERE {w}", args
        ).fetchall()

    # -- embeddings --
    def missing_embeddings(self, tenant: str, model: str, kinds: tuple[str, ...]) -> list[tuple[str, str]]:
        marks = ",".join("?" * len(kinds))
        cur = self._conn.execute(
            f"SELECT DISTINCT c.embed_key, c.embed_text FROM chunks c LEFT JOIN embeddings e "
            f"ON e.model = ? AND e.key = c.embed_key WHERE c.tenant = ? AND c.kind IN ({marks}) "
            f"AND e.key IS NULL ORDER BY c.row",
            [model, tenant, *kinds],
        )
        return cur.fetchall()

    def put_embeddings(self, model: str, items: list[tuple[str, np.ndarray]]) -> None:
        with self._tx() as c:
            c.executemany(
                "INSERT OR REPLACE INTO embeddings (model, key, vec) VALUES (?, ?, ?)",
                [(model, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items],
            )

    def load_embeddings(self, tenant: "str | Sequence[str]", model: str) -> tuple[np.ndarray, np.ndarray]:
        w, args = _in(tenant, "c.tenant")
        cur = self._conn.execute(
            "SELECT c.row, e.vec FROM chunks c JOIN embeddings e ON e.model = ? AND e.key = c.embed_key "
            f"WHERE {w} ORDER BY c.row",
            (model, *args),
        )
        rows, vecs = [], []
        for row, blob in cur:
            rows.append(row)
            vecs.append(np.frombuffer(blob, dtype=np.float32))
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        return np.asarray(rows, dtype=np.int64), np.vstack(vecs)

    def embeddings_version(self) -> int:
        r = self._conn.execute("SELECT MAX(rowid) FROM embeddings").fetchone()
        return int(r[0] or 0)

    def embedding_counts(self, tenant: str, model: str) -> tuple[int, int]:
        """(chunks with a vector, chunks in all) for this tenant."""
        done = self._conn.execute(
            "SELECT COUNT(*) FROM chunks c JOIN embeddings e ON e.model = ? AND e.key = c.embed_key "
            "WHERE c.tenant = ?", (model, tenant)).fetchone()[0]
        return int(done), self.count_chunks(tenant)

    # -- tenants (registry, and the shared "commons" corpora a tenant reads without copying them) --
    def tenant_info(self, tenant: str) -> dict[str, Any] | None:
        r = self._conn.execute("SELECT tenant, name, kind, created_at FROM tenants WHERE tenant = ?",
                               (tenant,)).fetchone()
        if r is None:
            return None
        commons = [x[0] for x in self._conn.execute(
            "SELECT commons FROM tenant_commons WHERE tenant = ? ORDER BY commons", (tenant,))]
        return {"tenant": r[0], "name": r[1], "kind": r[2], "created_at": r[3], "commons": commons,
                "documents": self.count_documents(tenant)}

    def list_tenants(self) -> list[dict[str, Any]]:
        names = [r[0] for r in self._conn.execute("SELECT tenant FROM tenants ORDER BY tenant")]
        return [i for i in (self.tenant_info(n) for n in names) if i]

    def create_tenant(self, tenant: str, *, name: str = "", kind: str = "local") -> bool:
        """False when it already exists (nothing changed)."""
        with self._tx() as c:
            n = c.execute("INSERT OR IGNORE INTO tenants (tenant, name, kind, created_at) VALUES (?, ?, ?, ?)",
                          (tenant, name, kind, _now())).rowcount
            self._bump(c, tenant)
        return bool(n)

    def attach_commons(self, tenant: str, commons: str, attach: bool = True) -> None:
        with self._tx() as c:
            if attach:
                c.execute("INSERT OR IGNORE INTO tenant_commons (tenant, commons) VALUES (?, ?)", (tenant, commons))
            else:
                c.execute("DELETE FROM tenant_commons WHERE tenant = ? AND commons = ?", (tenant, commons))
            self._bump(c, tenant)

    def drop_tenant(self, tenant: str) -> int:
        """Delete the tenant's documents and registry rows; returns the number of documents deleted."""
        n = self.delete_tenant(tenant)
        with self._tx() as c:
            c.execute("DELETE FROM tenant_commons WHERE tenant = ? OR commons = ?", (tenant, tenant))
            c.execute("DELETE FROM tenants WHERE tenant = ?", (tenant,))
            for t in [r[0] for r in c.execute("SELECT tenant FROM tenant_state")]:
                self._bump(c, t)  # tenants that read it as commons see it gone
        return n

    def scope(self, tenant: str) -> list[str]:
        """The tenants whose documents `tenant` reads: itself first, then the commons attached to it."""
        return [tenant, *[r[0] for r in self._conn.execute(
            "SELECT tc.commons FROM tenant_commons tc JOIN tenants t ON t.tenant = tc.commons "
            "WHERE tc.tenant = ? ORDER BY tc.commons", (tenant,))]]

    def scope_version(self, tenant: str) -> tuple:
        ts = self.scope(tenant)
        return tuple(ts) + tuple(self.generation(t) for t in ts)
