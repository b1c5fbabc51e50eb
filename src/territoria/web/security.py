"""Authentication, roles, tenant scoping and quotas of the HTTP API.

Every route needs a credential and a role, except the explicitly public ones listed in `PUBLIC_ROUTES`
(citizen chat pages of a tenant and their JSON calls, the widget, health, OpenAPI documentation, the
agent-space login page). API calls carry `Authorization: Bearer tk_…` (`territoria apikey create`); the
agent space uses its session cookie (web/ui/auth.py). A key acts for its own tenant only; an instance key
(`--instance`) may address any existing tenant with `X-Territoria-Tenant` (or `?tenant=`) or a `tenant`
field; an unknown name is a 404 (`UnknownTenant`), never a silent search of an empty tenant.
`tests/test_trust.py` enumerates the application's routes and proves that each non-public one refuses an
anonymous call.
"""

from __future__ import annotations

from typing import Optional

from fastapi import Header, Request

from territoria.core.errors import NotFoundError
from territoria.trust import principal as _principal
from territoria.trust.principal import AccessDenied, Principal

# (method, path) pairs reachable without credentials; "*" = any method. Everything else requires a role.
PUBLIC_ROUTES: set[tuple[str, str]] = {
    ("GET", "/api/health"),
    ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc"), ("GET", "/openapi.json"),
    # citizen chat of a tenant (public documents only), its sources, the widget
    ("GET", "/"), ("GET", "/aides"), ("GET", "/informations"), ("GET", "/accessibilite"), ("GET", "/sources"),
    ("GET", "/sources/fichier"), ("GET", "/ui/theme.css"), ("POST", "/ui/api/ask"), ("POST", "/ui/api/feedback"),
    ("GET", "/widget.js"), ("GET", "/widget/panneau"), ("GET", "/widget/demo"),
    # agent space: the way in (login form, OpenID Connect round trip) and the redirect to it
    ("GET", "/espace-agent"), ("GET", "/espace-agent/connexion"), ("POST", "/espace-agent/connexion"),
    ("POST", "/espace-agent/deconnexion"), ("GET", "/espace-agent/oidc/connexion"), ("GET", "/espace-agent/oidc/retour"),
    ("GET", "/ui/static/{path:path}"),  # CSS, JS and fonts of the pages
}


class AuthRequired(Exception):
    pass


class UnknownTenant(NotFoundError):
    """An instance key addressed a tenant that does not exist (HTTP 404, code "unknown_tenant")."""


_CHANNELS = {"header": "l'en-tête X-Territoria-Tenant", "query": "le paramètre « tenant » de l'adresse",
             "body": "le champ « tenant » de la requête"}


def _switch_tenant(p: Principal, tenant: str, channel: str) -> Principal:
    """`p` acting on `tenant`: a tenant-bound key is refused another tenant (403, as before); an instance key
    may only name a tenant that exists (else 404: a misspelt name must not search an empty tenant)."""
    from territoria.trust import tenants

    tenants.check_name(tenant)
    switched = p.for_tenant(tenant)  # AccessDenied for a tenant-bound key: no hint whether the tenant exists
    if tenant != p.tenant and not tenants.addressable(tenant):
        raise UnknownTenant(
            f"Collectivité « {tenant} » inconnue (nommée par {_CHANNELS[channel]}).",
            hint="Vérifiez l'orthographe du nom ; l'exploitant liste les collectivités avec "
                 "« territoria tenant list » sur le serveur (et en crée une avec « territoria tenant create NOM »).")
    return switched


def _bearer(authorization: Optional[str]) -> str:
    a = (authorization or "").strip()
    return a[7:].strip() if a[:7].lower() == "bearer " else ""


def principal_from_request(authorization: Optional[str]) -> Principal:
    from territoria.trust.accounts import principal_for_key

    key = _bearer(authorization)
    p = principal_for_key(key) if key else None
    if p is None:
        raise AuthRequired("Clé d'accès invalide ou révoquée." if key else "Authentification requise.")
    return p


def require(role: str = "public"):
    """Dependency: the caller's principal for the requested tenant, with at least `role`, quota counted."""

    async def dep(request: Request, authorization: Optional[str] = Header(None),
                  x_territoria_tenant: Optional[str] = Header(None)) -> Principal:
        from territoria.trust import quotas

        p = principal_from_request(authorization)
        if x_territoria_tenant:
            p = _switch_tenant(p, x_territoria_tenant, "header")
        elif request.query_params.get("tenant"):
            p = _switch_tenant(p, request.query_params["tenant"], "query")
        if not p.allows(role):
            raise AccessDenied(f"Action réservée au rôle « {role} » (votre rôle : « {p.role} »).",
                               hint="Demandez à l'administrateur de la collectivité une clé avec le bon rôle.")
        quotas.check_request(p)
        _principal.set_current(p)
        request.state.principal = p
        return p

    return dep


def for_body_tenant(p: Principal, tenant: Optional[str]) -> Principal:
    """A `tenant` field in a request body: same rule as the header."""
    if tenant:
        p = _switch_tenant(p, tenant, "body")
        _principal.set_current(p)
    return p


def public_principal(tenant: str, channel: str = "page") -> Principal:
    """A citizen on the public chat of `tenant`: public documents only."""
    return Principal(tenant=tenant, role="public", actor=f"public:{channel}")


def public_caller(tenant: str, channel: str, request: Request, *, tokens: bool = False) -> Principal:
    """The citizen behind a public page, after the tenant's public quotas (requests per client address,
    and the daily token budget when the page calls the LLM). Raises quotas.QuotaExceeded."""
    from territoria.trust import quotas

    caller = public_principal(tenant, channel)
    quotas.check_request(caller, client=request.client.host if request.client else None)
    if tokens:
        quotas.check_tokens(caller)
    return caller


def iter_routes(routes, prefix: str = ""):
    """(method, full path, route) of every endpoint, through included routers and mounts."""
    from starlette.routing import Mount

    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:  # FastAPI's included router wrapper
            ctx = getattr(r, "include_context", None)
            yield from iter_routes(inner.routes, prefix + (getattr(ctx, "prefix", "") or ""))
        elif isinstance(r, Mount):
            yield "GET", prefix + r.path + "/{path:path}", r
        else:
            for m in sorted(getattr(r, "methods", None) or {"GET"}):
                if m not in ("HEAD", "OPTIONS"):
                    yield m, prefix + r.path, r
