"""Shared helpers of the web pages: templates and rendering (CSP, caching), French formatting of dates
and numbers, JSON and HTML errors, the tenant of a public request."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from territoria.core.dates import MONTHS_FR
from territoria.core.errors import TerritoriaError
from territoria.core.settings import get_settings
from territoria.trust import answer_log
from territoria.web.ui import tenants

log = logging.getLogger("territoria.web.ui")
HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_PREFIX = "/ui/static"
PAGE_SIZE = 50


# -- templates ----------------------------------------------------------------------------------

@lru_cache(maxsize=64)
def _asset_version(name: str, mtime: float) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]


def static_url(name: str) -> str:
    p = STATIC / name
    try:
        return f"{STATIC_PREFIX}/{name}?v={_asset_version(name, p.stat().st_mtime)}"
    except OSError:
        return f"{STATIC_PREFIX}/{name}"


def date_fr(value: Any, with_time: bool = False) -> str:
    if not value:
        return ""
    s = str(value)
    try:
        d = datetime.fromisoformat(s.replace("Z", "+00:00")) if "T" in s else datetime.fromisoformat(s[:10])
    except ValueError:
        return s
    suffix = ""
    if d.tzinfo is not None:  # UTC times (audit log) are shown in French local time
        try:
            from zoneinfo import ZoneInfo

            d = d.astimezone(ZoneInfo("Europe/Paris"))
        except Exception:  # no time-zone database: say it is UTC
            suffix = " (UTC)"
    out = f"{d.day}{'er' if d.day == 1 else ''} {MONTHS_FR[d.month - 1]} {d.year}"
    if with_time and "T" in s:
        out += f" à {d.hour} h {d.minute:02d}{suffix}"
    return out


def nombre_fr(value: Any, digits: int = 0) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return ""
    s = f"{v:,.{digits}f}".replace(",", "\u202f").replace(".", ",")
    return s


def score_fr(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return ""
    return (f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}").replace(".", ",")


_env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)
_env.globals["static"] = static_url
_env.filters.update(date_fr=date_fr, nombre_fr=nombre_fr, score_fr=score_fr)


def _csp(frame_ancestors: str = "'none'") -> str:
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            f"frame-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors {frame_ancestors}")


def render(template: str, *, status: int = 200, frame_ancestors: str = "'none'", private: bool = False,
           headers: dict[str, str] | None = None, **ctx) -> HTMLResponse:
    ctx.setdefault("compact", False)
    html = _env.get_template(template).render(**ctx)
    h = {"Content-Security-Policy": _csp(frame_ancestors), "X-Content-Type-Options": "nosniff",
         "Referrer-Policy": "same-origin"}
    if frame_ancestors == "'none'":
        h["X-Frame-Options"] = "DENY"
    if private:
        h["Cache-Control"] = "no-store"
    h.update(headers or {})
    return HTMLResponse(html, status_code=status, headers=h)


def _error_json(message: str, code: str, hint: str | None = None, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "hint": hint, "code": code}}, status_code=status)


def _tenant(value: Optional[str]) -> str:
    return tenants.check_tenant(value or get_settings().tenant)


def _public_ctx(tenant: str) -> dict[str, Any]:
    return {"tenant": tenant, "ui": tenants.load(tenant), "retention_days": answer_log.retention_days()}


def _addressable(tenant: str) -> bool:
    from territoria.trust.tenants import addressable

    return addressable(tenant)


def _error_page_tenant(tenant: Optional[str]) -> str:
    """The collectivity whose layout frames an error page: the default one unless `tenant` exists (the
    links of a misspelt one would lead back to an error)."""
    default = get_settings().tenant
    if not tenant or tenant == default:
        return default
    try:
        return tenant if _addressable(tenant) else default
    except Exception:  # malformed name, or the store unreachable (e.g. while rendering a 500 page)
        return default


def _error_page(request: Request, title: str, message: str, hint: str | None = None, status: int = 400,
                tenant: str | None = None, headers: dict[str, str] | None = None, *, compact: bool = False,
                frame_ancestors: str = "'none'") -> HTMLResponse:
    t = _error_page_tenant(tenant)
    try:
        ctx = _public_ctx(t)
    except TerritoriaError:
        ctx = _public_ctx(get_settings().tenant)
    back = {"back_url": "/espace-agent", "back_label": "Revenir à l'espace agent"} \
        if request.url.path.startswith("/espace-agent") else {}
    return render("erreur.html", status=status, title=title, message=message, hint=hint, headers=headers,
                  compact=compact, frame_ancestors=frame_ancestors, **back, **ctx)


# -- error pages of the whole app, for browsers ---------------------------------------------------

_NOT_PAGES = ("/api/", "/v1/", "/ui/api/", "/ui/static/", "/espace-agent/api/", "/docs", "/redoc", "/openapi.json")
_HTTP_PAGES = {
    404: ("Page introuvable", "L'adresse demandée n'existe pas, ou la page a été déplacée ou retirée.",
          "Vérifiez l'adresse, ou revenez à l'accueil."),
    405: ("Page indisponible", "Cette adresse ne peut pas être ouverte directement dans le navigateur.",
          "Revenez à la page précédente et utilisez ses boutons."),
}


def _wants_page(request: Request) -> bool:
    """A browser asking for a page (not the API, the chat's calls or a static file)."""
    return "text/html" in request.headers.get("accept", "") and not request.url.path.startswith(_NOT_PAGES)


def _page_tenant(request: Request) -> Optional[str]:
    return request.query_params.get("tenant") or None


def install_error_pages(app) -> None:
    """404, 405, invalid query parameters and internal errors as French pages in the site layout when a
    browser asks for a page; every other client keeps the JSON errors of the API (web/app.py)."""
    import inspect

    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    def wrap(exc_class, page):
        previous = app.exception_handlers.get(exc_class)

        async def handler(request: Request, exc):
            if _wants_page(request):
                out = page(request, exc)
                if out is not None:
                    return out
            if previous is None:
                raise exc
            out = previous(request, exc)
            return await out if inspect.isawaitable(out) else out

        app.add_exception_handler(exc_class, handler)

    def http_page(request: Request, exc):
        if exc.status_code not in _HTTP_PAGES:
            return None
        title, message, hint = _HTTP_PAGES[exc.status_code]
        return _error_page(request, title, message, hint, status=exc.status_code, tenant=_page_tenant(request),
                           headers=getattr(exc, "headers", None))

    def invalid_page(request: Request, exc):
        return _error_page(request, "Adresse incorrecte",
                           "Un élément de l'adresse de la page n'est pas valide (par exemple un numéro de page).",
                           "Revenez à la page précédente, ou repartez de l'accueil.", status=400,
                           tenant=_page_tenant(request))

    def internal_page(request: Request, exc):
        log.error("internal error on %s", request.url.path, exc_info=exc)
        return _error_page(request, "Erreur du service",
                           "Une erreur inattendue s'est produite : la page n'a pas pu être affichée.",
                           "Réessayez dans un instant ; si le problème persiste, prévenez l'administrateur du site.",
                           status=500, tenant=_page_tenant(request))

    wrap(HTTPException, http_page)
    wrap(RequestValidationError, invalid_page)
    wrap(Exception, internal_page)


# A public address naming a collectivity that does not exist (a misspelt link: /?tenant=montpelier) gets a
# 404, never a chat over an empty corpus. The message neither repeats the name nor lists the collectivities
# of the instance, and carries none of the operator's hints (the API's UnknownTenant, web/security.py, does).
UNKNOWN_TENANT_TITLE = "Collectivité introuvable"
UNKNOWN_TENANT_MESSAGE = "Cette collectivité n'existe pas sur ce service : vérifiez l'adresse de la page."
UNKNOWN_TENANT_HINT = ("Le lien que vous avez suivi est peut-être mal orthographié ou ancien. Vous pouvez "
                       "aussi vous adresser directement à l'accueil de votre mairie.")
_NO_STORE = {"Cache-Control": "no-store"}  # the collectivity may be created later: no cached 404


def _public_tenant_or_error(request: Request, tenant: Optional[str], *, panel: bool = False):
    """(tenant, None) for a public page, or (None, French error page): 400 for a malformed name, 404 for a
    collectivity that does not exist (trust.tenants.addressable). `panel`: the widget's chat, whose error
    page must stay displayable inside the host site's frame."""
    try:
        t = _tenant(tenant)
    except TerritoriaError as exc:
        return None, _error_page(request, "Collectivité inconnue", exc.message, exc.hint)
    if not _addressable(t):
        return None, _error_page(request, UNKNOWN_TENANT_TITLE, UNKNOWN_TENANT_MESSAGE, UNKNOWN_TENANT_HINT,
                                 status=404, headers=_NO_STORE, compact=panel,
                                 frame_ancestors="*" if panel else "'none'")
    return t, None


def _public_tenant_or_json(value: Optional[str]):
    """The same for the chat's JSON calls: (tenant, None) or (None, French JSON 404, code "unknown_tenant").
    A malformed name raises TerritoriaError (the API's 400)."""
    t = _tenant(value)
    if not _addressable(t):
        return None, JSONResponse({"error": {"message": UNKNOWN_TENANT_MESSAGE, "hint": UNKNOWN_TENANT_HINT,
                                             "code": "unknown_tenant"}}, status_code=404, headers=_NO_STORE)
    return t, None


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def snippet(request: Request, tenant: str) -> str:
    return f'<script src="{_base_url(request)}/widget.js?tenant={quote(tenant)}" defer></script>'
