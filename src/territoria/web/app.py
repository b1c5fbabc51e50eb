"""Territoria HTTP API (FastAPI). OpenAPI documentation at /docs.

- `POST /api/search`              hybrid / lexical / dense search
- `POST /api/ask`                 grounded answer (JSON, or Server-Sent Events with "stream": true
                                  or `Accept: text/event-stream`)
- `POST /api/documents`           upload files (multipart), ingested in the background → job
- `GET  /api/jobs/{job_id}`       status of an ingestion job
- `GET  /api/documents`           list; `GET/DELETE /api/documents/{doc_id}`
- `POST /v1/chat/completions`     OpenAI-compatible chat (stream and non-stream), answered by the grounded
                                  assistant with its citations; `GET /v1/models`; `POST /v1/embeddings`
- `GET  /`                        a small chat page for phones and desks

Errors are JSON: {"error": {"message": "<French message>", "hint": "...", "code": "..."}}.
Every route needs `Authorization: Bearer <key>` (`territoria apikey create --tenant T --role R`) except the
public ones (citizen chat, widget, health, documentation: web/security.py). A key acts for its tenant, with
its role: public (public documents only), agent (internal documents too), admin (documents, audit log).
An instance key may address another tenant with `X-Territoria-Tenant` or a `tenant` field; a tenant that
does not exist is a 404 (code "unknown_tenant") naming it, not an empty answer.
Over quota: HTTP 429 with a French message and `Retry-After`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from typing import Any, Iterator, Literal, Optional, Union

from fastapi import Depends, FastAPI, File, Form, Header, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from territoria.core.errors import NotFoundError, TerritoriaError
from territoria.core.settings import get_settings
from territoria.trust.principal import AccessDenied, Principal
from territoria.trust.quotas import QuotaExceeded
from territoria.web.security import AuthRequired, UnknownTenant, for_body_tenant, require

log = logging.getLogger("territoria.web")
ASSISTANT_MODEL_ID = "territoria-assistant"


class ApiError(TerritoriaError):
    def __init__(self, message: str, *, status: int = 400, code: str = "bad_request", hint: str | None = None):
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code


# pydantic error kinds (prefix) -> what the field expects, for the French validation message
_EXPECTED = {"int": "nombre entier", "float": "nombre", "decimal": "nombre", "string": "texte", "bool": "true ou false",
             "list": "liste", "dict": "objet JSON", "model": "objet JSON", "date": "date AAAA-MM-JJ"}


def _error_body(message: str, code: str, hint: str | None = None) -> dict:
    return {"error": {"message": message, "hint": hint, "code": code}}


# -- request models ---------------------------------------------------------------------------------

class SearchFilters(BaseModel):
    source: Optional[str] = None
    doc_type: Optional[str] = None
    date_from: Optional[str] = Field(None, description="AAAA-MM-JJ")
    date_to: Optional[str] = Field(None, description="AAAA-MM-JJ")


class SearchRequest(BaseModel):
    query: str = Field(..., description="La question ou les mots cherchés.")
    k: int = Field(10, ge=1, le=200)
    mode: Literal["bm25", "dense", "hybrid"] = "hybrid"
    tenant: Optional[str] = None
    filters: Optional[SearchFilters] = None


class AskRequest(BaseModel):
    question: str = Field(..., description="La question de l'usager, en français.")
    tenant: Optional[str] = None
    conversation_id: Optional[str] = Field(None, description="Pour les questions de suivi d'un même échange.")
    backend: Optional[Literal["embedded", "openai"]] = None
    stream: bool = Field(False, description="Réponse en Server-Sent Events, phrase par phrase.")


class ChatMessage(BaseModel):
    role: str
    content: Union[str, list[Any], None] = None


class ChatRequest(BaseModel):
    model: Optional[str] = None
    messages: list[ChatMessage]
    stream: bool = False
    n: Optional[int] = Field(None, ge=1, le=1, description="Une seule réponse par requête.")
    max_tokens: Optional[int] = Field(None, ge=1, le=1024, description="Longueur maximale de la réponse.")
    temperature: Optional[float] = Field(None, description="Acceptée et ignorée : les réponses sont produites "
                                                           "à température 0 (reproductibles).")
    user: Optional[str] = None
    tenant: Optional[str] = None  # extension


class EmbeddingsRequest(BaseModel):
    input: Union[str, list[str]]
    model: Optional[str] = None
    encoding_format: Optional[str] = None
    input_type: Optional[Literal["query", "passage"]] = Field(
        None, description="Extension : e5 distingue requêtes et passages (par défaut : query, symétrique).")


# -- helpers -------------------------------------------------------------------------------------

def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _text_of(content) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for p in content:  # OpenAI "content parts"
        if isinstance(p, dict) and p.get("type") == "text":
            parts.append(str(p.get("text") or ""))
        elif isinstance(p, str):
            parts.append(p)
    return "\n".join(parts)


def _sources_block(citations: list[dict]) -> str:
    from territoria.assistant.prompts import SOURCES_HEADER

    if not citations:
        return ""
    lines = [SOURCES_HEADER]
    for c in citations:
        where = f", p. {c['page']}" if c.get("page") else ""
        lines.append(f"[{c['n']}] {c['title']}{where}" + (f" — {c['url']}" if c.get("url") else ""))
    return "\n\n" + "\n".join(lines)


def _history_from_messages(msgs: list[ChatMessage]) -> tuple[str, list[dict]]:
    """Last user message = the question; earlier user/assistant pairs = conversation history."""
    users = [i for i, m in enumerate(msgs) if m.role == "user"]
    if not users:
        raise ApiError("Aucun message de l'usager (« role »: « user ») dans la requête.", code="no_question",
                       hint="Ajoutez un message « role »: « user » contenant la question.")
    last = users[-1]
    question = _text_of(msgs[last].content)
    history: list[dict] = []
    pending: dict | None = None
    for m in msgs[:last]:
        if m.role == "user":
            pending = {"question": _text_of(m.content), "answer": ""}
            history.append(pending)
        elif m.role == "assistant" and pending is not None:
            pending["answer"] = re.split(r"\n\nSources :", _text_of(m.content))[0]
    return question, history[-4:]


# -- the application -------------------------------------------------------------------------------

def create_app() -> FastAPI:
    app = FastAPI(
        title="Territoria",
        description="API de Territoria : recherche et assistant documentaire sourcé pour les collectivités, "
                    "API compatible OpenAI (/v1).",
        version="0.1.0",
    )

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return JSONResponse(_error_body(exc.message, exc.code, exc.hint), status_code=exc.status)

    @app.exception_handler(AuthRequired)
    async def _auth_error(request: Request, exc: AuthRequired):
        from territoria.web.security import _bearer

        if _bearer(request.headers.get("authorization")):  # a key was sent: the key is wrong, not the request
            hint = ("Vérifiez la clé (l'administrateur voit les clés actives avec « territoria apikey list ») "
                    "ou demandez-en une nouvelle.")
        else:
            hint = ("Ajoutez l'en-tête « Authorization: Bearer <clé> » ; l'administrateur crée une clé "
                    "avec « territoria apikey create --tenant <collectivité> --role agent ».")
        return JSONResponse(_error_body(str(exc), "unauthorized", hint),
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(AccessDenied)
    async def _forbidden(request: Request, exc: AccessDenied):
        return JSONResponse(_error_body(exc.message, "forbidden", exc.hint), status_code=403)

    @app.exception_handler(QuotaExceeded)
    async def _quota(request: Request, exc: QuotaExceeded):
        return JSONResponse(_error_body(exc.message, "quota_exceeded", exc.hint), status_code=429,
                            headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(UnknownTenant)
    async def _unknown_tenant(request: Request, exc: UnknownTenant):
        return JSONResponse(_error_body(exc.message, "unknown_tenant", exc.hint), status_code=404)

    @app.exception_handler(NotFoundError)
    async def _nf_error(request: Request, exc: NotFoundError):
        return JSONResponse(_error_body(exc.message, "not_found", exc.hint), status_code=404)

    @app.exception_handler(TerritoriaError)
    async def _t_error(request: Request, exc: TerritoriaError):
        return JSONResponse(_error_body(exc.message, "error", exc.hint), status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        problems = []
        for e in exc.errors():
            parts = list(e.get("loc", ()))
            if parts and parts[0] in ("body", "query", "path", "header"):  # where, not which field
                parts = parts[1:]
            loc = ".".join(str(x) for x in parts)
            kind = e.get("type", "")
            if kind == "json_invalid":
                problems.append("le corps de la requête n'est pas du JSON valide")
            elif not loc and kind in ("model_type", "model_attributes_type", "dict_type"):
                problems.append("le corps de la requête doit être un objet JSON")
            elif kind == "missing":
                problems.append(f"champ « {loc} » manquant")
            elif kind.startswith("literal") or kind == "enum":
                problems.append(f"valeur non autorisée pour « {loc} »")
            elif kind in ("string_too_long", "too_long"):
                limit = (e.get("ctx") or {}).get("max_length")
                problems.append(f"« {loc} » trop long" + (f" ({limit} au plus)" if limit else ""))
            elif kind in ("string_too_short", "too_short"):
                problems.append(f"« {loc} » trop court ou vide")
            elif "greater" in kind or "less" in kind:
                problems.append(f"valeur hors limites pour « {loc} »")
            elif kind.split("_")[0] in _EXPECTED:
                problems.append(f"valeur invalide pour « {loc} » ({_EXPECTED[kind.split('_')[0]]} attendu)")
            else:
                problems.append(f"valeur invalide pour « {loc} »")
        return JSONResponse(_error_body("Requête invalide : " + "; ".join(problems) + ".", "invalid_request",
                                        "Consultez la documentation de l'API sur /docs."), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        messages = {404: "Adresse introuvable.", 405: "Méthode non autorisée pour cette adresse.",
                    413: "Fichier trop volumineux."}
        msg = messages.get(exc.status_code, f"Erreur HTTP {exc.status_code}.")
        return JSONResponse(_error_body(msg, f"http_{exc.status_code}", "Consultez la documentation sur /docs."),
                            status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.exception("internal error")
        return JSONResponse(_error_body(f"Erreur interne ({exc.__class__.__name__}).", "internal_error",
                                        "Réessayez ; si le problème persiste, contactez l'administrateur."),
                            status_code=500)

    # -- pages (web interface: citizen chat at /, agent space, widget; see web/ui/) --
    from territoria.web.ui import mount_ui

    mount_ui(app)

    from territoria.web.aids_routes import router as aids_router

    app.include_router(aids_router)

    @app.get("/api/health", tags=["système"], summary="État du service (public)")
    def health():
        from territoria.store import get_store

        get_store()  # the database opens
        return {"status": "ok", "version": app.version}

    @app.get("/api/me", tags=["système"], summary="Qui suis-je (collectivité, rôle, quotas du jour)")
    def me(p: Principal = Depends(require("public"))):
        from territoria.store import get_store
        from territoria.trust import quotas

        store = get_store()
        rpm, tok = quotas.tenant_limits(p.tenant)
        return {"tenant": p.tenant, "role": p.role, "actor": p.actor, "instance": p.instance,
                "documents": store.count_documents(store.scope(p.tenant), visibility=p.visibility),
                "quotas": {"tenant_rpm": rpm, "tenant_tokens_per_day": tok, "key_rpm": p.rpm,
                           "key_tokens_per_day": p.tokens_per_day,
                           "tenant_tokens_used_today": quotas.tokens_used(p.tenant)}}

    # -- search --
    @app.post("/api/search", tags=["recherche"], summary="Rechercher dans les documents")
    def api_search(req: SearchRequest, p: Principal = Depends(require("public"))):
        from territoria.search.engine import NO_HITS, Filters, no_hits_reason, search

        p = for_body_tenant(p, req.tenant)
        t = p.tenant
        if not req.query.strip():
            raise ApiError(NO_HITS["empty_query"], code="empty_query")
        f = req.filters or SearchFilters()
        t0 = time.perf_counter()
        filters = Filters(source=f.source, doc_type=f.doc_type, date_from=f.date_from, date_to=f.date_to,
                          visibility=p.visibility)
        hits = search(req.query, k=req.k, mode=req.mode, tenant=t, filters=filters)
        out = {"query": req.query, "mode": req.mode, "tenant": t, "hits": [h.to_dict() for h in hits],
               "took_ms": round((time.perf_counter() - t0) * 1000, 1)}
        if not hits:  # say what to change rather than an empty list alone
            out["message"] = NO_HITS[no_hits_reason(req.query, tenant=t, filters=filters)]
        return out

    # -- assistant --
    @app.post("/api/ask", tags=["assistant"], summary="Poser une question à l'assistant (réponse sourcée)",
              responses={200: {"content": {"application/json": {}, "text/event-stream": {}}}})
    def api_ask(req: AskRequest, accept: Optional[str] = Header(None), p: Principal = Depends(require("public"))):
        from territoria.assistant.service import ask, ask_stream
        from territoria.trust import quotas

        p = for_body_tenant(p, req.tenant)
        t = p.tenant
        quotas.check_tokens(p)
        kw = dict(tenant=t, conversation_id=req.conversation_id, backend=req.backend, caller=p,
                  visibility=p.visibility)
        if req.stream or "text/event-stream" in (accept or ""):
            from territoria.assistant.service import _clean_question

            _clean_question(req.question)  # validation errors as JSON, before the stream starts
            if req.conversation_id is not None:
                from territoria.assistant import conversations

                conversations.check_id(req.conversation_id)

            def events() -> Iterator[str]:
                for ev in ask_stream(req.question, **kw):
                    kind = ev.pop("type", "message")
                    yield _sse(kind, ev)

            return StreamingResponse(events(), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        return ask(req.question, **kw).to_dict()

    # -- documents --
    @app.post("/api/documents", tags=["documents"], status_code=202,
              summary="Déposer des documents (ingestion en arrière-plan ; rôle admin)")
    async def upload(files: list[UploadFile] = File(..., description="PDF, DOCX, ODT, HTML, TXT, CSV, JSONL…"),
                     tenant: Optional[str] = Form(None), source: Optional[str] = Form(None),
                     visibility: Literal["public", "internal"] = Form("public"),
                     p: Principal = Depends(require("admin"))):
        from territoria.trust import tenants
        from territoria.web.jobs import FileTooLarge, Job, jobs, save_uploads

        settings = get_settings().ensure()
        p = for_body_tenant(p, tenant)
        t = p.tenant
        tenants.ensure(t)
        if not files:
            raise ApiError("Aucun fichier reçu.", code="no_file", hint="Envoyez un ou plusieurs champs « files ».")
        job_id = jobs.new_id()
        folder = jobs.upload_dir(settings, t, job_id)
        try:
            names = await save_uploads(files, folder, settings.max_file_bytes)
        except FileTooLarge as exc:
            raise ApiError(exc.message, status=413, code="file_too_large", hint=exc.hint)
        job = jobs.submit(settings, Job(job_id=job_id, tenant=t, files=names, source=source or "upload",
                                        visibility=visibility), folder)
        return {**job.to_dict(), "status_url": f"/api/jobs/{job_id}"}

    @app.get("/api/jobs/{job_id}", tags=["documents"], summary="État d'une ingestion")
    def job_status(job_id: str, p: Principal = Depends(require("agent"))):
        from territoria.web.jobs import jobs

        job = jobs.get(job_id)
        if job is None or job.tenant != p.tenant:
            raise ApiError(f"Tâche « {job_id} » introuvable.", status=404, code="not_found")
        return job.to_dict()

    @app.get("/api/documents", tags=["documents"], summary="Lister les documents de la collectivité")
    def list_documents(tenant: Optional[str] = None, source: Optional[str] = None,
                       limit: int = Query(50, ge=1, le=1000), offset: int = Query(0, ge=0),
                       p: Principal = Depends(require("public"))):
        from dataclasses import asdict

        from territoria.store import get_store

        t = p.tenant
        store = get_store()
        docs = store.list_documents(t, source=source, limit=limit, offset=offset, visibility=p.visibility)
        return {"tenant": t, "total": store.count_documents(t, visibility=p.visibility),
                "documents": [asdict(d) for d in docs]}

    @app.get("/api/documents/{doc_id:path}", tags=["documents"], summary="Un document")
    def get_document(doc_id: str, tenant: Optional[str] = None, p: Principal = Depends(require("public"))):
        from dataclasses import asdict

        from territoria.store import get_store

        t = p.tenant
        d = get_store().get_document(t, doc_id, visibility=p.visibility)
        if d is None:
            raise ApiError(f"Document « {doc_id} » introuvable.", status=404, code="not_found",
                           hint="Listez les documents avec GET /api/documents.")
        return asdict(d)

    @app.delete("/api/documents/{doc_id:path}", tags=["documents"], summary="Supprimer un document (rôle admin)")
    def delete_document(doc_id: str, tenant: Optional[str] = None, p: Principal = Depends(require("admin"))):
        from territoria.store import get_store

        t = p.tenant
        if not get_store().delete_document(t, doc_id):
            raise ApiError(f"Document « {doc_id} » introuvable.", status=404, code="not_found",
                           hint="Listez les documents avec GET /api/documents.")
        return {"deleted": True, "doc_id": doc_id, "tenant": t}

    # -- audit log (trust layer) --
    @app.get("/api/audit", tags=["audit"], summary="Exporter le journal d'audit de la collectivité (rôle admin)",
             responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}})
    def audit_export(date_from: Optional[str] = Query(None, alias="from", description="AAAA-MM-JJ"),
                     date_to: Optional[str] = Query(None, alias="to", description="AAAA-MM-JJ"),
                     format: Literal["jsonl", "csv"] = "jsonl", p: Principal = Depends(require("admin"))):
        from territoria.trust import audit

        body = "".join(audit.export(format, tenant=p.tenant, start=date_from, end=date_to))
        media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
        from fastapi.responses import Response

        return Response(body, media_type=media, headers={
            "Content-Disposition": f'attachment; filename="audit-{p.tenant}.{format}"'})

    @app.get("/api/audit/verify", tags=["audit"], summary="Vérifier la chaîne du journal (clé d'exploitation)")
    def audit_verify(p: Principal = Depends(require("admin"))):
        from territoria.trust import audit

        if not p.instance:
            raise AccessDenied("La vérification porte sur le journal de toutes les collectivités : elle demande une "
                               "clé d'exploitation (--instance).", hint="territoria audit verify sur le serveur.")
        return audit.verify().to_dict()

    @app.get("/api/audit/head", tags=["audit"], summary="Tête du journal, à relever par un autre système (clé d'exploitation)")
    def audit_head(p: Principal = Depends(require("admin"))):
        """`{"seq", "hash", "at", "rows", "last_at"}` (audit.head): a log server polls it daily and keeps the
        answers, so that `territoria audit verify --expect-file` can later detect a rewritten chain."""
        from territoria.trust import audit

        if not p.instance:
            raise AccessDenied("La tête du journal porte sur toutes les collectivités : elle demande une clé "
                               "d'exploitation (--instance).", hint="territoria audit head sur le serveur.")
        return audit.head() or {"seq": 0, "hash": None, "at": None, "rows": 0, "last_at": None}

    # -- OpenAI-compatible --
    @app.get("/v1/models", tags=["compatible OpenAI"], dependencies=[Depends(require("public"))])
    def models():
        now = int(time.time())
        return {"object": "list", "data": [
            {"id": ASSISTANT_MODEL_ID, "object": "model", "created": now, "owned_by": "territoria",
             "description": "Assistant documentaire sourcé (réponses à partir des documents de la collectivité)."},
            {"id": "e5-small", "object": "model", "created": now, "owned_by": "territoria",
             "description": "Embeddings multilingual-e5-small (384 dimensions)."},
            {"id": "use-m3", "object": "model", "created": now, "owned_by": "territoria",
             "description": "Embeddings Universal Sentence Encoder multilingue (512 dimensions)."},
        ]}

    @app.post("/v1/chat/completions", tags=["compatible OpenAI"],
              summary="Chat compatible OpenAI, répondu par l'assistant sourcé")
    def chat_completions(req: ChatRequest, p: Principal = Depends(require("public"))):
        from territoria.assistant.service import _clean_question, ask, ask_stream
        from territoria.trust import quotas

        p = for_body_tenant(p, req.tenant)
        t = p.tenant
        quotas.check_tokens(p)
        who = dict(caller=p, visibility=p.visibility)
        question, history = _history_from_messages(req.messages)
        _clean_question(question)
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        model = req.model or ASSISTANT_MODEL_ID
        if not req.stream:
            a = ask(question, tenant=t, history=history, max_tokens=req.max_tokens, **who).to_dict()
            content = a["answer"] + _sources_block(a["citations"])
            n_prompt = len(question) // 4
            n_comp = len(content) // 4
            usage = a.get("usage") or {}
            return {
                "id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": usage.get("prompt_tokens", n_prompt),
                          "completion_tokens": usage.get("completion_tokens", n_comp),
                          "total_tokens": usage.get("prompt_tokens", n_prompt) + usage.get("completion_tokens", n_comp)},
                "citations": a["citations"], "abstained": a["abstained"], "latency_ms": a["latency_ms"],
                "energy_wh": a["energy_wh"], "territoria": {k: a[k] for k in ("mode", "reason", "prompt_version", "model")},
            }

        def chunk(delta: dict, finish: str | None = None, **extra) -> str:
            body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
            return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

        def events() -> Iterator[str]:
            yield chunk({"role": "assistant", "content": ""})
            for ev in ask_stream(question, tenant=t, history=history, max_tokens=req.max_tokens, **who):
                kind = ev.get("type")
                if kind == "token":
                    yield chunk({"content": ev["text"]})
                elif kind == "answer":
                    src = _sources_block(ev["citations"])
                    if src:
                        yield chunk({"content": src})
                    yield chunk({}, "stop", citations=ev["citations"], abstained=ev["abstained"],
                                latency_ms=ev["latency_ms"], energy_wh=ev["energy_wh"])
                elif kind == "error":
                    yield f"data: {json.dumps({'error': {'message': ev['message'], 'hint': ev.get('hint')}}, ensure_ascii=False)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.post("/v1/embeddings", tags=["compatible OpenAI"], dependencies=[Depends(require("public"))])
    def embeddings(req: EmbeddingsRequest):
        from territoria.models.embeddings import LOCAL_MODELS, get_embedder

        texts = [req.input] if isinstance(req.input, str) else list(req.input)
        if not texts or any(not isinstance(x, str) for x in texts):
            raise ApiError("Le champ « input » doit être un texte ou une liste de textes.", code="invalid_input")
        if len(texts) > 256:
            raise ApiError("Trop de textes dans une seule requête (256 au plus).", code="too_many_inputs")
        # encoding time grows with the text: bound one request (the passages of search are ~1,200 characters)
        longest, total = max(len(x) for x in texts), sum(len(x) for x in texts)
        if longest > 8000 or total > 200_000:
            raise ApiError(f"Textes trop longs ({longest} caractères pour le plus long, {total} en tout ; "
                           "8 000 par texte et 200 000 en tout au plus).",
                           code="input_too_long", status=413, hint="Découpez les textes en passages plus courts.")
        name = req.model or "e5-small"
        if name in ("text-embedding-ada-002", "text-embedding-3-small", "text-embedding-3-large"):
            name = "e5-small"  # OpenAI clients with a hard-coded model name
        try:
            if name not in LOCAL_MODELS:  # this instance's own models only, never a relay to another server
                raise ValueError(name)
            emb = get_embedder(name)
        except ValueError:
            raise ApiError(f"Modèle d'embedding inconnu : « {req.model} ».", code="model_not_found", status=404,
                           hint="Modèles disponibles : e5-small, use-m3 (voir GET /v1/models).")
        vecs = emb.embed_passages(texts) if req.input_type == "passage" else emb.embed_queries(texts)
        n_tok = sum(max(1, len(x) // 4) for x in texts)
        return {"object": "list", "model": emb.name, "usage": {"prompt_tokens": n_tok, "total_tokens": n_tok},
                "data": [{"object": "embedding", "index": i, "embedding": [round(float(v), 6) for v in row]}
                         for i, row in enumerate(vecs)]}

    return app


app = create_app()


def serve(host: str = "127.0.0.1", port: int = 8000, *, preload: bool = False, backend: str | None = None) -> None:
    """Run the API with uvicorn (one process: the embedded model is loaded once and shared)."""
    import uvicorn

    if backend:
        os.environ["TERRITORIA_LLM_BACKEND"] = backend
    if preload:
        from territoria.models.llm import get_llm

        get_llm(backend)
    from territoria.trust.accounts import list_keys

    if not any(k["revoked_at"] is None for k in list_keys()):
        import sys

        print("Aucune clé d'API active : le chat public (/) fonctionne, mais l'API demande une clé. Créez-en une avec "
              "« territoria apikey create --tenant <collectivité> --role agent ».", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_level="info")
