"""Quotas: requests per minute and LLM tokens per day, per tenant and per API key → HTTP 429.

- Requests per minute: sliding 60-second window kept in memory (the API runs in one process, which also
  holds the embedded model; behind several workers each one counts its own share).
- LLM tokens per day: counted in the database (prompt + completion tokens of every answer), UTC days.
Defaults: TERRITORIA_QUOTA_RPM (tenant, default 600), TERRITORIA_QUOTA_TOKENS_DAY (tenant, default
2,000,000), TERRITORIA_QUOTA_PUBLIC_RPM (citizen chat, per address, default 20); `territoria tenant quota`
and `territoria apikey create --rpm --tokens-per-day` set them per tenant and per key.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from datetime import datetime, timezone

from territoria.core.errors import TerritoriaError
from territoria.trust.principal import Principal


class QuotaExceeded(TerritoriaError):
    def __init__(self, message: str, *, hint: str | None = None, retry_after: int = 60):
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


_lock = threading.Lock()
_windows: dict[str, deque] = {}


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def _today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def _ts():
    from territoria.store import get_trust_store

    return get_trust_store()


def tenant_limits(tenant: str) -> tuple[int, int]:
    rpm, tok = _ts().tenant_quota(tenant)
    return (rpm if rpm is not None else _env_int("TERRITORIA_QUOTA_RPM", 600),
            tok if tok is not None else _env_int("TERRITORIA_QUOTA_TOKENS_DAY", 2_000_000))


def _hit(bucket: str, limit: int, now: float) -> int | None:
    """Count one request in `bucket`; seconds to wait when the limit is reached (nothing counted)."""
    with _lock:
        q = _windows.setdefault(bucket, deque())
        while q and now - q[0] >= 60:
            q.popleft()
        if len(q) >= limit:
            return max(1, int(60 - (now - q[0])) + 1)
        q.append(now)
        return None


def check_request(p: Principal, *, client: str | None = None) -> None:
    """Count a request against the tenant's and the key's per-minute limits (and a citizen's address)."""
    now = time.monotonic()
    rpm, _ = tenant_limits(p.tenant)
    checks = [(f"t:{p.tenant}", rpm, "la collectivité")]
    if p.key_id and p.rpm:
        checks.append((f"k:{p.key_id}", p.rpm, "cette clé d'accès"))
    if client and p.actor.startswith("public:"):
        checks.append((f"c:{p.tenant}:{client}", _env_int("TERRITORIA_QUOTA_PUBLIC_RPM", 20), "votre connexion"))
    for bucket, limit, who in checks:
        wait = _hit(bucket, limit, now)
        if wait is not None:
            raise QuotaExceeded(f"Trop de requêtes pour {who} : {limit} par minute au plus.",
                                hint=f"Réessayez dans {wait} secondes.", retry_after=wait)


def check_tokens(p: Principal) -> None:
    """Refuse an LLM call when today's token budget of the tenant or of the key is spent."""
    ts = _ts()
    day = _today()
    _, limit = tenant_limits(p.tenant)
    if ts.usage(day, "tenant", p.tenant) >= limit:
        raise QuotaExceeded(f"Le quota quotidien de l'assistant pour la collectivité est atteint "
                            f"({limit} jetons par jour).", hint="Réessayez demain ou demandez à l'administrateur "
                            "d'augmenter le quota (territoria tenant quota).", retry_after=3600)
    if p.key_id and p.tokens_per_day and ts.usage(day, "key", p.key_id) >= p.tokens_per_day:
        raise QuotaExceeded(f"Le quota quotidien de cette clé est atteint ({p.tokens_per_day} jetons par jour).",
                            hint="Réessayez demain ou utilisez une clé au quota plus élevé.", retry_after=3600)


def record_tokens(p: Principal | None, tenant: str, tokens: int) -> None:
    if tokens <= 0:
        return
    items = [("tenant", tenant)]
    if p is not None and p.key_id:
        items.append(("key", p.key_id))
    _ts().add_usage(_today(), items, tokens, 1)


def tokens_used(tenant: str, key_id: str | None = None) -> int:
    ts = _ts()
    return ts.usage(_today(), "key", key_id) if key_id else ts.usage(_today(), "tenant", tenant)


def reset_windows() -> None:
    with _lock:
        _windows.clear()
