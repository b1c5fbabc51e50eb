"""Citizen side of the web interface: chat page, aid finder, information and accessibility pages, cited
sources, the chat's streaming API and feedback, the embeddable widget (routes listed in router.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, Literal, Optional

from fastapi import APIRouter, Header, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from territoria.core.errors import TerritoriaError
from territoria.core.settings import tenant_dirname
from territoria.core.settings import get_settings
from territoria.trust import answer_log
from territoria.web.ui import tenants
from territoria.web.ui.common import (
    STATIC, _addressable, _base_url, _error_json, _error_page, _public_ctx,
    _public_tenant_or_error, _public_tenant_or_json, _tenant, log, nombre_fr, render, snippet, static_url,
)

router = APIRouter(include_in_schema=False)


# -- theme --------------------------------------------------------------------------------------

@router.get("/ui/theme.css")
def theme_css(tenant: Optional[str] = None):
    try:
        ui = tenants.load(_tenant(tenant))
        color = ui.color
    except TerritoriaError:
        color = tenants.DEFAULT_COLOR
    css = f":root {{ --primaire: {color}; }}\n"
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=60"})


# -- citizen pages ------------------------------------------------------------------------------

@router.get("/", response_class=HTMLResponse)
def citizen_page(request: Request, tenant: Optional[str] = None):
    t, err = _public_tenant_or_error(request, tenant)
    if err:
        return err
    return render("chat.html", **_public_ctx(t))


_AUDIENCES_FORM = [("particulier", "Un particulier"), ("entreprise", "Une entreprise"),
                   ("association", "Une association"), ("commune", "Une commune ou une intercommunalité")]
_STATUTS_FORM = [("", "Non précisée"), ("collegien", "Collégien ou collégienne"), ("lyceen", "Lycéen ou lycéenne"),
                 ("etudiant", "Étudiant ou étudiante"), ("apprenti", "Apprenti ou apprentie"),
                 ("demandeur_emploi", "Demandeur ou demandeuse d'emploi"), ("salarie", "Salarié ou salariée"),
                 ("independant", "Indépendant ou indépendante"), ("retraite", "Retraité ou retraitée")]
_ELIGIBILITY = {"eligible": ("Vous y avez droit d'après vos réponses", "etiquette-succes"),
                "to_check": ("À vérifier", "etiquette-alerte")}


@router.get("/aides", response_class=HTMLResponse)
def aids_page(request: Request, tenant: Optional[str] = None, besoin: str = "", commune: str = "", age: str = "",
              public: str = "particulier", situation: str = ""):
    """The aid finder for citizens and businesses: a plain form, results rendered by the server (no script)."""
    import time

    from territoria.aids.audit import audit_aids
    from territoria.aids.finder import find_with_context
    from territoria.trust import quotas
    from territoria.web.security import public_caller

    t, err = _public_tenant_or_error(request, tenant)
    if err:
        return err
    form = {"besoin": besoin.strip()[:500], "commune": commune.strip()[:120], "age": age.strip()[:3],
            "public": public if public in dict(_AUDIENCES_FORM) else "particulier",
            "situation": situation if situation in dict(_STATUTS_FORM) else ""}
    ctx = dict(form=form, audiences=_AUDIENCES_FORM, statuts=_STATUTS_FORM, labels=_ELIGIBILITY, out=None,
               error=None, age_error=None, **_public_ctx(t))
    if not (form["besoin"] or form["commune"]):
        return render("aides.html", **ctx)
    if form["age"] and not (form["age"].isdigit() and 0 < int(form["age"]) < 120):
        return render("aides.html", status=400, **{**ctx, "age_error": "L'âge doit être un nombre d'années, par exemple 19."})
    try:
        caller = public_caller(t, "aides", request)
    except quotas.QuotaExceeded as exc:
        return render("aides.html", status=429, **{**ctx, "error": f"{exc.message} {exc.hint or ''}"})
    profile = {"audience": form["public"]}
    if form["commune"]:
        profile["commune"] = form["commune"]
    if form["age"]:
        profile["age"] = int(form["age"])
    if form["situation"]:
        profile["statut"] = form["situation"]
    t0 = time.perf_counter()
    try:
        out = find_with_context(profile, form["besoin"] or None, k=10, tenant=t)
    except TerritoriaError as exc:  # e.g. no catalogue imported yet: the operator's message goes to the log
        log.warning("aid finder unavailable for %s: %s", t, exc)
        who = ctx["ui"].contact_label or "votre mairie"
        return render("aides.html", status=503, **{**ctx, "error": "La recherche d'aides n'est pas encore disponible "
                                                   f"ici. Pour connaître les aides possibles, adressez-vous à {who}."})
    audit_aids(out, t, profile, form["besoin"] or None, (time.perf_counter() - t0) * 1000, actor=caller.actor)
    return render("aides.html", **{**ctx, "out": out})


@router.get("/informations", response_class=HTMLResponse)
def information_page(request: Request, tenant: Optional[str] = None):
    import os

    t, err = _public_tenant_or_error(request, tenant)
    if err:
        return err
    backend = (os.environ.get("TERRITORIA_LLM_BACKEND") or "embedded").strip().lower()
    return render("informations.html", backend=backend, **_public_ctx(t))


@router.get("/accessibilite", response_class=HTMLResponse)
def accessibility_page(request: Request, tenant: Optional[str] = None):
    t, err = _public_tenant_or_error(request, tenant)
    if err:
        return err
    return render("accessibilite.html", **_public_ctx(t))


_DOC_TYPES = {"pdf": "Document PDF", "docx": "Document Word", "odt": "Document OpenDocument", "html": "Page web",
              "txt": "Texte", "csv": "Tableau (CSV)", "image": "Image", "jsonl": "Fiche", "md": "Texte"}


def uploaded_file(tenant: str, doc) -> Optional[Path]:
    """The original uploaded file of a document, if it came through an upload and is still on disk."""
    name = Path(str((doc.metadata or {}).get("file_name") or "")).name
    if not name or name != doc.doc_id:
        return None
    safe = tenant_dirname(tenant)
    root = (get_settings().data_dir / "uploads" / safe).resolve()
    if not root.is_dir():
        return None
    found = [d / name for d in root.iterdir() if d.is_dir() and (d / name).is_file()]
    found = [p for p in found if p.resolve().parent.parent == root]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def public_document(tenant: str, doc_id: str):
    """(owner tenant, document) of a *public* document readable by the tenant's citizens: its own, or one of
    a commons corpus attached to it. Internal documents are never shown on public pages."""
    from territoria.store import get_store

    if not doc_id:
        return tenant, None
    store = get_store()
    for owner in store.scope(tenant):
        d = store.get_document(owner, doc_id, visibility=("public",))
        if d is not None:
            return owner, d
    return tenant, None


@router.get("/sources", response_class=HTMLResponse)
def source_page(request: Request, doc: str = "", tenant: Optional[str] = None):
    t, err = _public_tenant_or_error(request, tenant)
    if err:
        return err
    owner, d = public_document(t, doc)
    if d is None:
        return _error_page(request, "Document introuvable", f"Le document « {doc} » n'existe pas ou a été retiré.",
                           status=404, tenant=t)
    f = uploaded_file(owner, d)
    label = ""
    if f is not None:
        size = f.stat().st_size
        label = f"{f.suffix.lstrip('.').upper() or 'fichier'}, " + (
            f"{nombre_fr(size / 1024 / 1024, 1)} Mo" if size >= 1024 * 1024 else f"{max(1, size // 1024)} ko")
    return render("source.html", doc=d, has_file=f is not None, file_label=label,
                  doc_type_label=_DOC_TYPES.get(d.doc_type, d.doc_type or "Document"), **_public_ctx(t))


@router.get("/sources/fichier")
def source_file(request: Request, doc: str = "", tenant: Optional[str] = None):
    t, err = _public_tenant_or_error(request, tenant)
    if err:
        return err
    owner, d = public_document(t, doc)
    f = uploaded_file(owner, d) if d is not None else None
    if f is None:
        return _error_page(request, "Fichier introuvable", "Le fichier d'origine de ce document n'est pas disponible.",
                           status=404, tenant=t)
    return FileResponse(f, filename=f.name, headers={"X-Content-Type-Options": "nosniff",
                                                     "Content-Security-Policy": "sandbox"})


# -- chat API (public) --------------------------------------------------------------------------

class UiAskRequest(BaseModel):
    question: str = Field(..., max_length=20000)
    conversation_id: Optional[str] = Field(None, max_length=64)
    tenant: Optional[str] = None
    channel: Literal["page", "widget"] = "page"


class UiFeedbackRequest(BaseModel):
    answer_id: str = Field(..., max_length=64)
    rating: Optional[Literal["utile", "pas_utile"]] = None
    comment: Optional[str] = Field(None, max_length=answer_log.MAX_COMMENT)
    tenant: Optional[str] = None


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post("/ui/api/ask")
def ui_ask(req: UiAskRequest, request: Request, x_territoria_tenant: Optional[str] = Header(None)):
    from territoria.assistant import conversations
    from territoria.assistant.service import _clean_question, ask_stream
    from territoria.trust import quotas
    from territoria.web.security import public_caller

    t, err = _public_tenant_or_json(x_territoria_tenant or req.tenant)
    if err:
        return err
    _clean_question(req.question)  # French JSON error before the stream starts
    cid = req.conversation_id
    try:
        if cid is not None:
            conversations.check_id(cid)  # the assistant's own rule for the file names of conversations
    except TerritoriaError:
        return _error_json("Identifiant de conversation invalide.", "invalid_conversation",
                           "Commencez une nouvelle conversation.")
    try:
        caller = public_caller(t, req.channel, request, tokens=True)
    except quotas.QuotaExceeded as exc:
        return JSONResponse({"error": {"message": exc.message, "hint": exc.hint, "code": "quota_exceeded"}},
                            status_code=429, headers={"Retry-After": str(exc.retry_after)})

    def events() -> Iterator[str]:
        for ev in ask_stream(req.question, tenant=t, conversation_id=cid, caller=caller, visibility=("public",)):
            kind = ev.pop("type", "message")
            if kind == "answer":
                try:
                    ev["answer_id"] = answer_log.record(t, ev, channel=req.channel)
                except Exception:  # the answer is still shown; only its feedback cannot be stored
                    log.exception("answer log failed")
                    ev["answer_id"] = None
                for k in ("evidence", "usage", "notes"):  # for the operator, not for citizens
                    ev.pop(k, None)
            yield _sse(kind, ev)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/ui/api/feedback")
def ui_feedback(req: UiFeedbackRequest, x_territoria_tenant: Optional[str] = Header(None)):
    t, err = _public_tenant_or_json(x_territoria_tenant or req.tenant)
    if err:
        return err
    if req.rating is None and not (req.comment or "").strip():
        return _error_json("L'avis est vide.", "empty_feedback", "Indiquez si la réponse est utile, ou écrivez un commentaire.")
    if not answer_log.set_feedback(t, req.answer_id, req.rating, req.comment):
        return _error_json("Réponse introuvable : l'avis n'a pas pu être enregistré.", "not_found",
                           "La réponse a peut-être été supprimée ; posez à nouveau votre question.", status=404)
    return {"ok": True, "answer_id": req.answer_id}


# -- widget ---------------------------------------------------------------------------------------

@router.get("/widget.js")
def widget_js(tenant: Optional[str] = None):
    # errors stay JavaScript (never an HTML page inside the host site), loadable from any site, not cached
    def failed(message: str, status: int) -> Response:
        return Response(f"console.error({json.dumps('Territoria : ' + message)});",
                        media_type="text/javascript; charset=utf-8", status_code=status,
                        headers={"Cache-Control": "no-store", "Cross-Origin-Resource-Policy": "cross-origin",
                                 "X-Content-Type-Options": "nosniff"})

    try:
        t = _tenant(tenant)
    except TerritoriaError as exc:
        return failed(exc.message, 400)
    if not _addressable(t):  # the page is left as it is: no button opening a chat that cannot answer
        return failed("cette collectivité n'existe pas sur ce service : vérifiez le nom écrit après « tenant= » "
                      "dans l'adresse du script (la ligne à recopier est dans l'espace agent, « Personnalisation et module »).", 404)
    ui = tenants.load(t)
    src = (STATIC / "widget.js").read_text(encoding="utf-8")
    cfg = json.dumps({**ui.public(), "css": static_url("widget.css")}, ensure_ascii=False).replace("<", "\\u003c")
    return Response(src.replace("__TERRITORIA_CONFIG__", cfg), media_type="text/javascript; charset=utf-8",
                    headers={"Cache-Control": "max-age=300", "Cross-Origin-Resource-Policy": "cross-origin",
                             "X-Content-Type-Options": "nosniff"})


@router.get("/widget/panneau", response_class=HTMLResponse)
def widget_panel(request: Request, tenant: Optional[str] = None):
    t, err = _public_tenant_or_error(request, tenant, panel=True)
    if err:
        return err
    ctx = _public_ctx(t)
    origins = [o for o in ctx["ui"].widget_origins if o]
    ancestors = ("'self' " + " ".join(origins)) if origins else "*"
    return render("chat.html", frame_ancestors=ancestors, compact=True, **ctx)


@router.get("/widget/demo", response_class=HTMLResponse)
def widget_demo(request: Request, tenant: Optional[str] = None):
    t, err = _public_tenant_or_error(request, tenant)
    if err:
        return err
    return render("widget_demo.html", snippet=snippet(request, t), base_url=_base_url(request), **_public_ctx(t))
