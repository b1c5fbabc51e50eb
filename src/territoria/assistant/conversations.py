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


def _path(tenant: str, conversation_id: str) -> Path:
    from territoria.core.settings import get_settings

    if not _ID.match(conversation_id or "") or conversation_id.startswith("."):
        raise TerritoriaError(f"Identifiant de conversation invalide : « {conversation_id} ».",
                              hint="Utilisez 1 à 64 lettres, chiffres, tirets ou points.")
    return get_settings().data_dir / "conversations" / _safe(tenant) / f"{conversation_id}.json"


def load(tenant: str, conversation_id: str) -> list[dict]:
    p = _path(tenant, conversation_id)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        return list(data.get("turns") or [])
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        return []


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
