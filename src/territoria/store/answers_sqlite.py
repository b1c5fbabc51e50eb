"""SQLite backend of the answer log: the answers given by the citizen page and the widget, with the users'
feedback on the same row (trust/answer_log.py holds the rules).

Its own file, `<data dir>/answers.sqlite3`, so that chat traffic never waits on an ingestion holding the
document database's write lock.
"""

from __future__ import annotations

from typing import Any

from territoria.store.sqlite_base import SQLiteBase

COLUMNS = ("answer_id", "tenant", "at", "question", "answer", "citations", "abstained", "reason", "mode", "model",
           "conversation_id", "channel", "latency_ms", "rating", "comment", "feedback_at")

# conditions of the agent space's filters (fixed SQL, chosen by key: never built from user input)
FILTERS = {
    "": "",
    "utile": " AND rating = 'utile'",
    "pas_utile": " AND rating = 'pas_utile'",
    "commentaire": " AND comment IS NOT NULL",
    "sans_avis": " AND rating IS NULL",
    "abstention": " AND abstained = 1",
}


class SQLiteAnswerLog(SQLiteBase):
    SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    answer_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    at TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL DEFAULT '[]',
    abstained INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    mode TEXT,
    model TEXT,
    conversation_id TEXT,
    channel TEXT NOT NULL DEFAULT 'page',
    latency_ms REAL,
    rating TEXT,
    comment TEXT,
    feedback_at TEXT
);
CREATE INDEX IF NOT EXISTS answers_tenant_at ON answers (tenant, at);
"""

    def add_answer(self, row: dict[str, Any], expire_before: str) -> None:
        """Insert one answer and delete those older than `expire_before` (retention), in one transaction."""
        cols = [c for c in COLUMNS if c in row]
        with self._tx() as c:
            c.execute("DELETE FROM answers WHERE at < ?", (expire_before,))
            c.execute(f"INSERT INTO answers ({', '.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                      [row[k] for k in cols])

    def set_feedback(self, tenant: str, answer_id: str, rating: str | None, comment: str | None, at: str) -> bool:
        """Set the rating and/or the comment (a None keeps the stored one). False when unknown here."""
        with self._tx() as c:
            n = c.execute("UPDATE answers SET rating = COALESCE(?, rating), comment = COALESCE(?, comment), "
                          "feedback_at = ? WHERE answer_id = ? AND tenant = ?",
                          (rating, comment, at, answer_id, tenant)).rowcount
        return n > 0

    def get_answer(self, tenant: str, answer_id: str) -> dict[str, Any] | None:
        r = self._conn.execute(f"SELECT {', '.join(COLUMNS)} FROM answers WHERE answer_id = ? AND tenant = ?",
                               (answer_id, tenant)).fetchone()
        return dict(zip(COLUMNS, r)) if r else None

    def list_answers(self, tenant: str, *, filter: str = "", limit: int = 50, offset: int = 0
                     ) -> tuple[int, list[dict[str, Any]]]:
        cond = FILTERS.get(filter, "")
        total = self._conn.execute(f"SELECT COUNT(*) FROM answers WHERE tenant = ?{cond}", (tenant,)).fetchone()[0]
        rows = self._conn.execute(f"SELECT {', '.join(COLUMNS)} FROM answers WHERE tenant = ?{cond} "
                                  "ORDER BY at DESC, rowid DESC LIMIT ? OFFSET ?", (tenant, limit, offset)).fetchall()
        return int(total), [dict(zip(COLUMNS, r)) for r in rows]

    def answer_stats(self, tenant: str) -> dict[str, int]:
        r = self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(abstained), 0), COALESCE(SUM(rating = 'utile'), 0),"
            " COALESCE(SUM(rating = 'pas_utile'), 0), COALESCE(SUM(comment IS NOT NULL), 0)"
            " FROM answers WHERE tenant = ?", (tenant,)).fetchone()
        return dict(zip(("total", "abstained", "utile", "pas_utile", "comments"), (int(x or 0) for x in r)))

    def delete_tenant_answers(self, tenant: str) -> int:
        with self._tx() as c:
            return c.execute("DELETE FROM answers WHERE tenant = ?", (tenant,)).rowcount
