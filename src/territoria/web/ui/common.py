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


_MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"]


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
    out = f"{d.day}{'er' if d.day == 1 else ''} {_MONTHS[d.month - 1]} {d.year}"
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


def _error_page(request: Request, title: str, message: str, hint: str | None = None, status: int = 400,
                tenant: str | None = None) -> HTMLResponse:
    t = tenant or get_settings().tenant
    try:
        ctx = _public_ctx(t)
    except TerritoriaError:
        ctx = _public_ctx(get_settings().tenant)
    return render("erreur.html", status=status, title=title, message=message, hint=hint, **ctx)


def _public_tenant_or_error(request: Request, tenant: Optional[str]):
    try:
        return _tenant(tenant), None
    except TerritoriaError as exc:
        return None, _error_page(request, "Collectivité inconnue", exc.message, exc.hint)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def snippet(request: Request, tenant: str) -> str:
    return f'<script src="{_base_url(request)}/widget.js?tenant={quote(tenant)}" defer></script>'
