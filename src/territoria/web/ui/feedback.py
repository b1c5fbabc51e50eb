"""Answer log of the web chat, with the users' feedback (useful / not useful, comment).

One small SQLite database, `<data dir>/answers.sqlite3`, separate from the document store so that chat
traffic never waits on ingestion. Each answer given by the citizen page or the widget is recorded with its
question, text, citations, abstention and tenant; the feedback is stored on the same row. Rows older than
TERRITORIA_ANSWER_RETENTION_DAYS (default 90) are deleted as new answers arrive: questions may hold
personal data, and the citizen page says how long they are kept.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

RATINGS = ("utile", "pas_utile")
MAX_COMMENT = 2000
_SCHEMA = """
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
_lock = threading.Lock()
_ready: set[str] = set()


def retention_days() -> int:
    try:
        return max(1, int(os.environ.get("TERRITORIA_ANSWER_RETENTION_DAYS", "90")))
    except ValueError:
        return 90


def db_path() -> Path:
    from territoria.core.settings import get_settings

    return get_settings().ensure().data_dir / "answers.sqlite3"


def _connect() -> sqlite3.Connection:
    p = db_path()
    conn = sqlite3.connect(p, timeout=10)
    conn.row_factory = sqlite3.Row
    key = str(p.resolve())
    if key not in _ready:
        with _lock:
            conn.executescript(_SCHEMA)
            conn.commit()
            _ready.add(key)
    return conn


@dataclass
class LoggedAnswer:
    answer_id: str
    tenant: str
    at: str
    question: str
    answer: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    abstained: bool = False
    reason: Optional[str] = None
    mode: Optional[str] = None
    model: Optional[str] = None
    conversation_id: Optional[str] = None
    channel: str = "page"
    latency_ms: Optional[float] = None
    rating: Optional[str] = None
    comment: Optional[str] = None
    feedback_at: Optional[str] = None

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> "LoggedAnswer":
        d = dict(r)
        d["citations"] = json.loads(d.get("citations") or "[]")
        d["abstained"] = bool(d.get("abstained"))
        return cls(**d)


def record(tenant: str, result: dict[str, Any], *, channel: str = "page") -> str:
    """Store one answer (the `answer` event / `Answer.to_dict()` of the assistant); returns its id."""
    answer_id = "r-" + secrets.token_hex(10)
    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    cutoff = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - retention_days() * 86400))
    cits = [{k: c.get(k) for k in ("n", "doc_id", "title", "url", "page", "quote")} for c in result.get("citations") or []]
    with closing(_connect()) as conn, conn:
        conn.execute("DELETE FROM answers WHERE at < ?", (cutoff,))
        conn.execute(
            "INSERT INTO answers (answer_id, tenant, at, question, answer, citations, abstained, reason, mode, model,"
            " conversation_id, channel, latency_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (answer_id, tenant, now, str(result.get("question") or ""), str(result.get("answer") or ""),
             json.dumps(cits, ensure_ascii=False), int(bool(result.get("abstained"))), result.get("reason"),
             result.get("mode"), result.get("model"), result.get("conversation_id"), channel,
             (result.get("latency_ms") or {}).get("total")))
    return answer_id


def set_feedback(tenant: str, answer_id: str, rating: Optional[str], comment: Optional[str] = None) -> bool:
    """Attach (or change) the feedback of an answer of this tenant. False when the answer is unknown."""
    if rating is not None and rating not in RATINGS:
        raise ValueError(rating)
    comment = (comment or "").strip()[:MAX_COMMENT] or None
    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    with closing(_connect()) as conn, conn:
        row = conn.execute("SELECT rating, comment FROM answers WHERE answer_id = ? AND tenant = ?",
                           (answer_id, tenant)).fetchone()
        if row is None:
            return False
        conn.execute("UPDATE answers SET rating = ?, comment = ?, feedback_at = ? WHERE answer_id = ?",
                     (rating or row["rating"], comment if comment is not None else row["comment"], now, answer_id))
    return True


def get(tenant: str, answer_id: str) -> Optional[LoggedAnswer]:
    with closing(_connect()) as conn:
        r = conn.execute("SELECT * FROM answers WHERE answer_id = ? AND tenant = ?", (answer_id, tenant)).fetchone()
    return LoggedAnswer.from_row(r) if r else None


_FILTERS = {
    "": "",
    "utile": " AND rating = 'utile'",
    "pas_utile": " AND rating = 'pas_utile'",
    "commentaire": " AND comment IS NOT NULL",
    "sans_avis": " AND rating IS NULL",
    "abstention": " AND abstained = 1",
}


def list_answers(tenant: str, *, filter: str = "", limit: int = 50, offset: int = 0) -> tuple[int, list[LoggedAnswer]]:
    cond = _FILTERS.get(filter, "")
    with closing(_connect()) as conn:
        total = conn.execute(f"SELECT COUNT(*) FROM answers WHERE tenant = ?{cond}", (tenant,)).fetchone()[0]
        rows = conn.execute(f"SELECT * FROM answers WHERE tenant = ?{cond} ORDER BY at DESC, rowid DESC LIMIT ? OFFSET ?",
                            (tenant, limit, offset)).fetchall()
    return int(total), [LoggedAnswer.from_row(r) for r in rows]


def stats(tenant: str) -> dict[str, int]:
    with closing(_connect()) as conn:
        r = conn.execute(
            "SELECT COUNT(*) AS total, COALESCE(SUM(abstained), 0) AS abstained,"
            " COALESCE(SUM(rating = 'utile'), 0) AS utile, COALESCE(SUM(rating = 'pas_utile'), 0) AS pas_utile,"
            " COALESCE(SUM(comment IS NOT NULL), 0) AS comments FROM answers WHERE tenant = ?", (tenant,)).fetchone()
    return {k: int(r[k] or 0) for k in ("total", "abstained", "utile", "pas_utile", "comments")}
