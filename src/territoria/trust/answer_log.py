"""Answer log of the web chat, with the users' feedback (useful / not useful, comment).

Each answer given by the citizen page or the widget is recorded with its question, text, citations,
abstention and tenant; the feedback is stored on the same row (storage: `store.get_answer_log()`). Rows
older than TERRITORIA_ANSWER_RETENTION_DAYS (default 90) are deleted as new answers arrive: questions may
hold personal data, and the citizen page says how long they are kept. Deleting a tenant deletes its rows.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Optional

RATINGS = ("utile", "pas_utile")
MAX_COMMENT = 2000


def retention_days() -> int:
    try:
        return max(1, int(os.environ.get("TERRITORIA_ANSWER_RETENTION_DAYS", "90")))
    except ValueError:
        return 90


def _log():
    from territoria.store import get_answer_log

    return get_answer_log()


def db_path():
    return _log().path


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
    def from_row(cls, d: dict[str, Any]) -> "LoggedAnswer":
        d = dict(d)  # the columns of store/answers_sqlite.COLUMNS, one per field
        d["citations"] = json.loads(d.get("citations") or "[]")
        d["abstained"] = bool(d.get("abstained"))
        return cls(**d)


def _now(offset_s: float = 0.0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + offset_s))


def record(tenant: str, result: dict[str, Any], *, channel: str = "page") -> str:
    """Store one answer (the `answer` event / `Answer.to_dict()` of the assistant); returns its id."""
    answer_id = "r-" + secrets.token_hex(10)
    cits = [{k: c.get(k) for k in ("n", "doc_id", "title", "url", "page", "quote")} for c in result.get("citations") or []]
    _log().add_answer({
        "answer_id": answer_id, "tenant": tenant, "at": _now(), "question": str(result.get("question") or ""),
        "answer": str(result.get("answer") or ""), "citations": json.dumps(cits, ensure_ascii=False),
        "abstained": int(bool(result.get("abstained"))), "reason": result.get("reason"), "mode": result.get("mode"),
        "model": result.get("model"), "conversation_id": result.get("conversation_id"), "channel": channel,
        "latency_ms": (result.get("latency_ms") or {}).get("total"),
    }, expire_before=_now(-retention_days() * 86400))
    return answer_id


def set_feedback(tenant: str, answer_id: str, rating: Optional[str], comment: Optional[str] = None) -> bool:
    """Attach (or change) the feedback of an answer of this tenant. False when the answer is unknown."""
    if rating is not None and rating not in RATINGS:
        raise ValueError(rating)
    comment = (comment or "").strip()[:MAX_COMMENT] or None
    return _log().set_feedback(tenant, answer_id, rating, comment, _now())


def get(tenant: str, answer_id: str) -> Optional[LoggedAnswer]:
    r = _log().get_answer(tenant, answer_id)
    return LoggedAnswer.from_row(r) if r else None


def list_answers(tenant: str, *, filter: str = "", limit: int = 50, offset: int = 0) -> tuple[int, list[LoggedAnswer]]:
    total, rows = _log().list_answers(tenant, filter=filter, limit=limit, offset=offset)
    return total, [LoggedAnswer.from_row(r) for r in rows]


def stats(tenant: str) -> dict[str, int]:
    return _log().answer_stats(tenant)


def delete_tenant(tenant: str) -> int:
    return _log().delete_tenant_answers(tenant)
