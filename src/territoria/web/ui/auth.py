"""Login of the agent space: users of the trust layer, plus the instance administrator from the settings.

- Users (`territoria user create --tenant T --role agent|admin`) log in with their Argon2id-hashed password
  (trust/accounts.py) and act for their tenant with their role; optional OpenID Connect login (oidc.py).
- The instance administrator, TERRITORIA_ADMIN_USER (default « admin ») and TERRITORIA_ADMIN_PASSWORD. When the password is not set,
  one is generated on first use and written to `<data dir>/ui/admin-password.txt` (mode 600); the server
  logs where it is.
- The session is a cookie signed with itsdangerous (TERRITORIA_SECRET_KEY, else a random key kept in
  `<data dir>/ui/secret.key`), valid 8 hours, HttpOnly, SameSite=Lax. Forms and JS calls of the agent
  space also carry a CSRF token derived from the session.
- The login form itself (no session yet) is protected against login CSRF (another site posting its own
  credentials to log the agent into the wrong account) by a double-submit token: the login page sets a
  short-lived pre-login cookie (a random nonce signed with the secret key, LOGIN_SECONDS) and puts
  HMAC(secret key, nonce) in a hidden field; the POST needs both to match.
- Passwords are compared as PBKDF2 hashes in constant time; repeated failures from one address are slowed
  down (10 failures in 5 minutes lock that address for 5 minutes).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from itsdangerous import BadSignature, URLSafeTimedSerializer

log = logging.getLogger("territoria.web.ui")
COOKIE = "territoria_agent"
SESSION_SECONDS = 8 * 3600
LOGIN_COOKIE = "territoria_connexion"  # pre-login cookie of the login form (login CSRF)
LOGIN_SECONDS = 3600
PBKDF2_ROUNDS = 120_000
MAX_FAILURES, FAILURE_WINDOW = 10, 300
_lock = threading.Lock()
_failures: dict[str, list[float]] = {}
_cache: dict[str, object] = {}


def _ui_dir() -> Path:
    from territoria.core.settings import get_settings

    d = get_settings().ensure().data_dir / "ui"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _write_private(p: Path, text: str) -> None:
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def secret_key() -> str:
    env = os.environ.get("TERRITORIA_SECRET_KEY")
    if env:
        return env
    p = _ui_dir() / "secret.key"
    key = f"secret:{p}"
    with _lock:
        if key not in _cache:
            if not p.exists():
                _write_private(p, secrets.token_urlsafe(48))
            _cache[key] = p.read_text(encoding="utf-8").strip()
        return _cache[key]  # type: ignore[return-value]


def password_file() -> Path:
    return _ui_dir() / "admin-password.txt"


@dataclass
class Admin:
    user: str
    salt: bytes
    digest: bytes
    generated: bool  # the password was generated into the data dir


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, PBKDF2_ROUNDS)


def admin() -> Admin:
    """The administrator account (password hashed once, then kept in memory)."""
    user = os.environ.get("TERRITORIA_ADMIN_USER", "admin").strip() or "admin"
    password = os.environ.get("TERRITORIA_ADMIN_PASSWORD") or ""
    generated = False
    if not password:
        p = password_file()
        with _lock:
            if not p.exists():
                _write_private(p, secrets.token_urlsafe(12) + "\n")
                msg = (f"Espace agent : aucun mot de passe défini (TERRITORIA_ADMIN_PASSWORD) ; un mot de passe a été "
                       f"généré pour le compte « {user} » dans {p}")
                log.warning(msg)
                print(msg, file=sys.stderr)
            password = p.read_text(encoding="utf-8").strip()
        generated = True
    key = f"{user}\0{hashlib.sha256(password.encode()).hexdigest()}"
    cached = _cache.get("admin")
    if cached is None or _cache.get("admin_key") != key:
        salt = secrets.token_bytes(16)
        cached = Admin(user=user, salt=salt, digest=_hash(password, salt), generated=generated)
        _cache["admin"], _cache["admin_key"] = cached, key
    return cached  # type: ignore[return-value]


class TooManyAttempts(Exception):
    pass


def check_login(user: str, password: str, client: str) -> "Session | None":
    """The new session when the credentials are right (instance administrator or a user), else None."""
    now = time.monotonic()
    with _lock:
        recent = [t for t in _failures.get(client, []) if now - t < FAILURE_WINDOW]
        _failures[client] = recent
        if len(recent) >= MAX_FAILURES:
            raise TooManyAttempts()
    a = admin()
    ok_user = hmac.compare_digest(user.strip().encode("utf-8"), a.user.encode("utf-8"))
    ok_pass = hmac.compare_digest(_hash(password, a.salt), a.digest)
    session = None
    if ok_user and ok_pass:
        session = new_session(a.user, role="admin", instance=True)
    elif not ok_user:
        from territoria.trust.accounts import authenticate

        u = authenticate(user, password)
        if u is not None and u["role"] in ("agent", "admin"):
            session = new_session(u["username"], tenant=u["tenant"], role=u["role"], instance=False)
    if session is not None:
        with _lock:
            _failures.pop(client, None)
        return session
    with _lock:
        _failures.setdefault(client, []).append(now)
    return None


# -- the session cookie ------------------------------------------------------------------------

@dataclass
class Session:
    user: str
    sid: str
    tenant: Optional[str] = None
    role: str = "admin"
    instance: bool = True  # the instance administrator (may switch tenant)

    def allows(self, role: str) -> bool:
        from territoria.trust.principal import ROLES

        return ROLES.index(self.role) >= ROLES.index(role)

    @property
    def csrf(self) -> str:
        return hmac.new(secret_key().encode(), f"csrf:{self.sid}".encode(), hashlib.sha256).hexdigest()[:32]


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key(), salt="territoria-agent-session")


def new_session(user: str, tenant: Optional[str] = None, role: str = "admin", instance: bool = True) -> Session:
    return Session(user=user, sid=secrets.token_hex(12), tenant=tenant, role=role, instance=instance)


def dump(session: Session) -> str:
    return _serializer().dumps({"u": session.user, "s": session.sid, "t": session.tenant, "i": session.instance})


def load(cookie: Optional[str]) -> Optional[Session]:
    if not cookie:
        return None
    try:
        d = _serializer().loads(cookie, max_age=SESSION_SECONDS)
    except BadSignature:
        return None
    if not isinstance(d, dict) or not d.get("u"):
        return None
    if d.get("i", True):
        if d["u"] != admin().user:
            return None
        return Session(user=d["u"], sid=str(d.get("s") or ""), tenant=d.get("t"), role="admin", instance=True)
    # a user: role and tenant read again from the database (a removed or demoted user loses access at once)
    from territoria.store import get_trust_store

    u = get_trust_store().get_user(d["u"])
    if u is None or u["disabled"] or u["role"] not in ("agent", "admin"):
        return None
    return Session(user=u["username"], sid=str(d.get("s") or ""), tenant=u["tenant"], role=u["role"], instance=False)


def check_csrf(session: Session, token: Optional[str]) -> bool:
    return bool(token) and hmac.compare_digest(session.csrf, token or "")


# -- login CSRF: double-submit token of the login form --------------------------------------------------

def _login_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key(), salt="territoria-login-csrf")


def login_nonce(cookie: Optional[str]) -> Optional[str]:
    """The nonce of a valid (signed, not expired) pre-login cookie, else None."""
    if not cookie:
        return None
    try:
        n = _login_serializer().loads(cookie, max_age=LOGIN_SECONDS)
    except BadSignature:  # also SignatureExpired
        return None
    return n if isinstance(n, str) and len(n) >= 32 else None


def login_cookie(nonce: Optional[str] = None) -> tuple[str, str]:
    """(cookie value, nonce) of a pre-login cookie: `nonce` kept (other open login tabs stay valid) with a fresh
    timestamp, or a new one."""
    nonce = nonce or secrets.token_hex(16)
    return _login_serializer().dumps(nonce), nonce


def login_token(nonce: str) -> str:
    """The hidden field of the login form that goes with the pre-login cookie holding `nonce`."""
    return hmac.new(secret_key().encode(), f"login-csrf:{nonce}".encode(), hashlib.sha256).hexdigest()[:32]


def check_login_csrf(cookie: Optional[str], token: Optional[str]) -> bool:
    nonce = login_nonce(cookie)
    return nonce is not None and bool(token) and hmac.compare_digest(login_token(nonce), token or "")
