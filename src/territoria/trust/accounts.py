"""Users (web login) and API keys.

- Passwords: Argon2id via argon2-cffi (the OWASP-recommended default), parameters upgraded on login.
- API keys: `tk_<id>_<secret>` with 256 random bits; only SHA-256 of the whole key is stored (a key is
  high-entropy, so a fast hash is enough and lookups stay cheap); the key is shown once, at creation.
- Users are unique per instance (use e-mail addresses for agents), each belongs to one tenant with one role.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from territoria.core.errors import NotFoundError, TerritoriaError
from territoria.trust.principal import Principal, check_role

_ph = PasswordHasher()
USER_RE = re.compile(r"^[A-Za-z0-9_.@+-]{2,128}$")
MIN_PASSWORD = 10
_DUMMY_HASH = _ph.hash("territoria-dummy-password")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _ts():
    from territoria.store import get_trust_store

    return get_trust_store()


# -- users ---------------------------------------------------------------------------------------

def create_user(username: str, *, tenant: str, role: str, password: str | None = None,
                oidc_subject: str | None = None) -> dict:
    from territoria.trust import tenants

    check_role(role)
    tenants.get(tenant)
    if not USER_RE.match(username or ""):
        raise TerritoriaError(f"Identifiant invalide : « {username} ».",
                              hint="2 à 128 caractères : lettres, chiffres, . _ - + @ (une adresse e-mail convient).")
    if password is not None and len(password) < MIN_PASSWORD:
        raise TerritoriaError(f"Mot de passe trop court ({MIN_PASSWORD} caractères au moins).")
    if oidc_subject is not None:
        oidc_subject = oidc_subject.strip() or None  # an empty identity would never match a login
    if password is None and oidc_subject is None:
        raise TerritoriaError("Il faut un mot de passe ou une identité OpenID Connect pour créer un utilisateur.")
    ts = _ts()
    if _find_user(ts, username) is not None:  # e-mail addresses: « Marie.D@… » and « marie.d@… » are one person
        raise TerritoriaError(f"L'utilisateur « {username} » existe déjà.",
                              hint="Choisissez un autre identifiant ou supprimez l'ancien compte.")
    if oidc_subject is not None and ts.user_by_subject(oidc_subject) is not None:
        # one identity, one account: else a login would land in whichever tenant the database returns first
        raise TerritoriaError(f"L'identité OpenID Connect « {oidc_subject} » est déjà liée à un autre compte.",
                              hint="Une identité ne peut ouvrir qu'un seul compte : supprimez l'autre compte "
                                   "ou choisissez une autre identité.")
    u = {"username": username, "tenant": tenant, "role": role,
         "password_hash": _ph.hash(password) if password is not None else None,
         "oidc_subject": oidc_subject, "created_at": _now(), "disabled": 0}
    ts.put_user(u)
    return public_user(u)


def public_user(u: dict) -> dict:
    return {k: u[k] for k in ("username", "tenant", "role", "created_at")} | {
        "password": bool(u.get("password_hash")), "oidc": bool(u.get("oidc_subject")), "disabled": bool(u["disabled"])}


def list_users(tenant: str | None = None) -> list[dict]:
    return [public_user(u) for u in _ts().list_users(tenant)]


def delete_user(username: str) -> None:
    if not _ts().delete_user(username):
        raise NotFoundError(f"Utilisateur « {username} » introuvable.")


def set_password(username: str, password: str) -> None:
    ts = _ts()
    u = ts.get_user(username)
    if u is None:
        raise NotFoundError(f"Utilisateur « {username} » introuvable.")
    if len(password) < MIN_PASSWORD:
        raise TerritoriaError(f"Mot de passe trop court ({MIN_PASSWORD} caractères au moins).")
    u["password_hash"] = _ph.hash(password)
    ts.put_user(u)


def _find_user(ts, username: str) -> dict | None:
    """The account of this identifier, else the one account it names up to letter case (an e-mail address
    typed « Marie.Dupont@… » at login for « marie.dupont@… »)."""
    u = ts.get_user(username)
    if u is None:
        same = [x for x in ts.list_users() if x["username"].lower() == username.lower()]
        u = same[0] if len(same) == 1 else None
    return u


def authenticate(username: str, password: str) -> dict | None:
    """The user when the password matches (constant work whether or not the user exists)."""
    ts = _ts()
    u = _find_user(ts, username.strip())
    h = (u or {}).get("password_hash") or _DUMMY_HASH
    try:
        _ph.verify(h, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if u is None or not u.get("password_hash") or u["disabled"]:
        return None
    if _ph.check_needs_rehash(h):
        u["password_hash"] = _ph.hash(password)
        ts.put_user(u)
    return u


# -- API keys ---------------------------------------------------------------------------------------

def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(*, tenant: str, role: str, name: str = "", instance: bool = False, rpm: int | None = None,
               tokens_per_day: int | None = None) -> dict:
    """Create a key; the returned dict holds the clear key under "key" — the only time it exists."""
    from territoria.trust import tenants

    check_role(role)
    tenants.get(tenant)
    key_id = secrets.token_hex(4)
    key = f"tk_{key_id}_{secrets.token_urlsafe(32)}"
    row = {"key_id": key_id, "tenant": tenant, "role": role, "name": name, "key_hash": _digest(key),
           "instance": int(instance), "rpm": rpm, "tokens_per_day": tokens_per_day, "created_at": _now(),
           "revoked_at": None, "last_used_at": None}
    _ts().put_key(row)
    return {**public_key(row), "key": key}


def public_key(k: dict) -> dict:
    return {"key_id": k["key_id"], "tenant": k["tenant"], "role": k["role"], "name": k["name"],
            "instance": bool(k["instance"]), "rpm": k["rpm"], "tokens_per_day": k["tokens_per_day"],
            "created_at": k["created_at"], "revoked_at": k["revoked_at"], "last_used_at": k["last_used_at"]}


def list_keys(tenant: str | None = None) -> list[dict]:
    return [public_key(k) for k in _ts().list_keys(tenant)]


def revoke_key(key_id: str) -> str:
    """Revoke by id (as `apikey list` shows it; the whole key `tk_<id>_…` is accepted too); returns the id."""
    m = re.match(r"^tk_([0-9a-f]{8})_", (key_id or "").strip())
    kid = m.group(1) if m else (key_id or "").strip()
    ts = _ts()
    k = ts.get_key(kid)
    if k is None:
        raise NotFoundError(f"Clé « {key_id} » introuvable.",
                            hint="Les identifiants des clés sont affichés par : territoria apikey list")
    if k["revoked_at"]:
        raise TerritoriaError(f"La clé {kid} est déjà révoquée (le {k['revoked_at'][:10]}).")
    if not ts.revoke_key(kid, _now()):  # revoked meanwhile by another process
        raise TerritoriaError(f"La clé {kid} est déjà révoquée.")
    return kid


_KEY_RE = re.compile(r"^tk_([0-9a-f]{8})_[A-Za-z0-9_-]{20,}$")


def principal_for_key(key: str) -> Principal | None:
    m = _KEY_RE.match(key or "")
    if not m:
        return None
    ts = _ts()
    k = ts.get_key(m.group(1))
    if k is None or k["revoked_at"] or not hmac.compare_digest(k["key_hash"], _digest(key)):
        return None
    last = k["last_used_at"]
    now = _now()
    if last is None or last[:16] != now[:16]:  # at most one write per key and minute
        ts.touch_key(k["key_id"], now)
    return Principal(tenant=k["tenant"], role=k["role"], actor=f"key:{k['key_id']}", key_id=k["key_id"],
                     instance=bool(k["instance"]), rpm=k["rpm"], tokens_per_day=k["tokens_per_day"])
