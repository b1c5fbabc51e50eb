"""Conversations: the last turns of an exchange, so that follow-up questions can be understood.

Stored as one small JSON file per conversation under `<data dir>/conversations/<tenant>/<id>.json`
(only the last MAX_TURNS turns are kept). Conversations are isolated per tenant.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from pathlib import Path

from territoria.core.errors import TerritoriaError

MAX_TURNS = 6
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_lock = threading.Lock()


def new_id() -> str:
    return "c-" + secrets.token_hex(8)


def _safe(tenant: str) -> str:
    from territoria.core.settings import tenant_dirname

    return tenant_dirname(tenant)


def check_id(conversation_id: str | None) -> str:
    """The id itself, or a French error (callers that stream validate it before the stream starts)."""
    # fullmatch: "$" would also accept a trailing newline in the file name
    if not isinstance(conversation_id, str) or not _ID.fullmatch(conversation_id) or conversation_id.startswith("."):
        shown = str(conversation_id)
        shown = shown if len(shown) <= 64 else shown[:64] + "…"  # do not echo a huge id back
        raise TerritoriaError(f"Identifiant de conversation invalide : « {shown} ».",
                              hint="Utilisez 1 à 64 lettres, chiffres, tirets, points ou soulignés.")
    return conversation_id


def _path(tenant: str, conversation_id: str) -> Path:
    from territoria.core.settings import get_settings

    check_id(conversation_id)
    return get_settings().data_dir / "conversations" / _safe(tenant) / f"{conversation_id}.json"


def load(tenant: str, conversation_id: str) -> list[dict]:
    """The stored turns; a missing or damaged file (not JSON, not the expected shape) is an empty history."""
    p = _path(tenant, conversation_id)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        return []
    turns = data.get("turns") if isinstance(data, dict) else None
    if not isinstance(turns, list):
        return []
    return [t for t in turns if isinstance(t, dict)
            and all(isinstance(t.get(k), (str, type(None))) for k in ("question", "search_query", "answer"))]


def append(tenant: str, conversation_id: str, turn: dict) -> None:
    p = _path(tenant, conversation_id)
    with _lock:
        turns = load(tenant, conversation_id)
        turns.append({**turn, "at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        turns = turns[-MAX_TURNS:]
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps({"id": conversation_id, "tenant": tenant, "turns": turns}, ensure_ascii=False),
                       encoding="utf-8")
        os.replace(tmp, p)


def delete(tenant: str, conversation_id: str) -> bool:
    p = _path(tenant, conversation_id)
    try:
        p.unlink()
        return True
    except FileNotFoundError:
        return False
