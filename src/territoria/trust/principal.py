"""Who is calling: tenant, role and actor, carried in a context variable for the layers below the routes."""

from __future__ import annotations

import contextvars
import getpass
from dataclasses import dataclass

from territoria.core.errors import TerritoriaError

ROLES = ("public", "agent", "admin")
_RANK = {r: i for i, r in enumerate(ROLES)}


class AccessDenied(TerritoriaError):
    """Authenticated, but not allowed (role or tenant)."""


def check_role(role: str) -> str:
    if role not in _RANK:
        raise TerritoriaError(f"Rôle inconnu : « {role} ».", hint=f"Choisissez parmi : {', '.join(ROLES)}.")
    return role


@dataclass
class Principal:
    tenant: str
    role: str
    actor: str                   # "key:<id>", "user:<name>", "cli:<os user>", "public:<channel>"
    key_id: str | None = None
    instance: bool = False       # instance operator: may address any tenant
    rpm: int | None = None       # per-key limits (None: only the tenant's)
    tokens_per_day: int | None = None

    def allows(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[check_role(role)]

    @property
    def visibility(self) -> tuple[str, ...] | None:
        """Document visibilities this caller may read (None: all)."""
        return ("public",) if self.role == "public" else None

    def for_tenant(self, tenant: str) -> "Principal":
        """The same caller acting on `tenant` (only an instance operator may switch)."""
        if tenant == self.tenant:
            return self
        if not self.instance:
            raise AccessDenied(f"Vous n'avez pas accès à la collectivité « {tenant} ».",
                               hint=f"Votre accès est limité à la collectivité « {self.tenant} ».")
        return Principal(tenant=tenant, role=self.role, actor=self.actor, key_id=self.key_id, instance=True,
                         rpm=self.rpm, tokens_per_day=self.tokens_per_day)


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("territoria_principal", default=None)


def current() -> Principal | None:
    return _current.get()


def set_current(p: Principal | None) -> contextvars.Token:
    return _current.set(p)


def cli_principal(tenant: str) -> Principal:
    """The operator at the command line: instance administrator (the data dir is theirs)."""
    try:
        who = getpass.getuser()
    except Exception:  # pragma: no cover - no user name in some containers
        who = "inconnu"
    return Principal(tenant=tenant, role="admin", actor=f"cli:{who}", instance=True)


def actor_of(tenant: str) -> str:
    p = current()
    return p.actor if p is not None else "system"
