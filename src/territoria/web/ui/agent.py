"""Agent space of the web interface: login (password or OpenID Connect), documents (upload with
progress, delete, failures), search, answers and feedback, audit log, accounts and API keys, page settings
(routes listed in router.py)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from territoria.core.dates import check_period
from territoria.core.errors import TerritoriaError
from territoria.core.settings import get_settings
from territoria.trust import answer_log
from territoria.web.ui import auth, tenants
from territoria.web.ui.common import PAGE_SIZE, _error_json, _error_page, _public_ctx, log, render, snippet

router = APIRouter(include_in_schema=False)


# -- agent space: session ---------------------------------------------------------------------------

def _session(request: Request) -> Optional[auth.Session]:
    return auth.load(request.cookies.get(auth.COOKIE))


def _secure(request: Request) -> bool:
    import os

    return request.url.scheme == "https" or os.environ.get("TERRITORIA_SECURE_COOKIES", "") in ("1", "true", "yes")


def _set_cookie(resp: Response, request: Request, session: auth.Session) -> Response:
    resp.set_cookie(auth.COOKIE, auth.dump(session), max_age=auth.SESSION_SECONDS, httponly=True, samesite="lax",
                    secure=_secure(request), path="/")
    return resp


def _agent_tenant(session: auth.Session) -> str:
    try:
        return tenants.check_tenant(session.tenant or get_settings().tenant)
    except TerritoriaError:
        return get_settings().tenant


def _forbidden(request: Request, session: auth.Session, role: str):
    """An error page when the session's role is below `role` (None when allowed)."""
    if session.allows(role):
        return None
    return _error_page(request, "Accès réservé", "Cette page est réservée aux administrateurs de la collectivité.",
                       "Demandez à l'administrateur les droits nécessaires.", status=403)


def _admin_form(request: Request, csrf: str):
    """(session, None) for an admin with a valid form token, else (None, response)."""
    s = _session(request)
    if s is None:
        return None, _login_redirect(request)
    if not auth.check_csrf(s, csrf):
        return None, _error_page(request, "Action refusée", "Le formulaire a expiré.", "Rechargez la page.", status=403)
    if (err := _forbidden(request, s, "admin")) is not None:
        return None, err
    from territoria.trust import tenants as registry

    registry.ensure(_agent_tenant(s))
    return s, None


_PAGES = ("documents", "recherche", "reponses", "journal", "comptes", "personnalisation")


def _login_redirect(request: Request) -> RedirectResponse:
    nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":  # a form sent after the session ended: back to its page, not to the action
        part = request.url.path.split("/")[2:3]
        nxt = f"/espace-agent/{part[0]}" if part and part[0] in _PAGES else "/espace-agent/documents"
    return RedirectResponse(f"/espace-agent/connexion?suite={quote(nxt)}", status_code=303)


def _agent_ctx(request: Request, session: auth.Session, title: str, **ctx) -> dict[str, Any]:
    t = _agent_tenant(session)
    known = tenants.known_tenants() if session.instance else [t]
    if t not in known:
        known = sorted(known + [t])
    return {"session": session, "tenant": t, "ui": tenants.load(t), "tenants": known, "page_title": title,
            "request_path": request.url.path, "retention_days": answer_log.retention_days(), **ctx}


def _safe_next(url: Optional[str]) -> str:
    if url and url.startswith("/espace-agent") and not url.startswith("//") and "\\" not in url:
        return url
    return "/espace-agent/documents"


@router.get("/espace-agent")
def agent_home():
    return RedirectResponse("/espace-agent/documents", status_code=303)


def _oidc_ctx() -> dict[str, Any]:
    from territoria.web.ui import oidc

    return {"oidc_label": oidc.label() if oidc.configured() else None}


def _login_form(request: Request, suite: Optional[str], *, status: int = 200, login_error: Optional[str] = None,
                user_value: str = "") -> HTMLResponse:
    """The login page, with its anti-CSRF pair: the pre-login cookie (nonce kept when still valid, so that
    another open login tab keeps working) and the hidden field derived from it."""
    cookie, nonce = auth.login_cookie(auth.login_nonce(request.cookies.get(auth.LOGIN_COOKIE)))
    a = auth.admin()
    t = get_settings().tenant
    resp = render("agent/login.html", status=status, private=True, session=None, tenant=t, ui=tenants.load(t),
                  tenants=[], page_title="Connexion", request_path=request.url.path, next_url=_safe_next(suite),
                  generated=a.generated, admin_user=a.user, login_error=login_error, user_value=user_value,
                  login_csrf=auth.login_token(nonce), **_oidc_ctx())
    resp.set_cookie(auth.LOGIN_COOKIE, cookie, max_age=auth.LOGIN_SECONDS, httponly=True, samesite="lax",
                    secure=_secure(request), path="/espace-agent")
    return resp


@router.get("/espace-agent/connexion", response_class=HTMLResponse)
def login_page(request: Request, suite: Optional[str] = None):
    if _session(request):
        return RedirectResponse(_safe_next(suite), status_code=303)
    return _login_form(request, suite)


@router.post("/espace-agent/connexion", response_class=HTMLResponse)
def login_submit(request: Request, identifiant: str = Form(""), mot_de_passe: str = Form(""),
                 suite: str = Form(""), csrf: str = Form("")):
    if not auth.check_login_csrf(request.cookies.get(auth.LOGIN_COOKIE), csrf):
        # posted from another site (login CSRF), a page older than LOGIN_SECONDS, or cookies refused:
        # nothing is checked, nothing counts as a failed attempt
        back = "/espace-agent/connexion" + (f"?suite={quote(_safe_next(suite))}" if suite else "")
        return render("erreur.html", status=403, private=True, title="Connexion impossible",
                      message="La page de connexion a expiré : rechargez-la, puis saisissez à nouveau vos identifiants.",
                      hint="Si le problème persiste, vérifiez que votre navigateur accepte les cookies de ce site.",
                      back_url=back, back_label="Recharger la page de connexion", **_public_ctx(get_settings().tenant))
    client = request.client.host if request.client else "?"
    error = None
    session = None
    try:
        session = auth.check_login(identifiant, mot_de_passe, client)
        if session is None:
            error = "Identifiant ou mot de passe incorrect."
    except auth.TooManyAttempts:
        error = "Trop de tentatives de connexion : réessayez dans quelques minutes."
    if session is not None:
        resp = RedirectResponse(_safe_next(suite), status_code=303)
        resp.delete_cookie(auth.LOGIN_COOKIE, path="/espace-agent")
        return _set_cookie(resp, request, session)
    return _login_form(request, suite, status=401, login_error=error, user_value=identifiant)


@router.get("/espace-agent/oidc/connexion")
async def oidc_login(request: Request, suite: Optional[str] = None):
    from territoria.web.ui import oidc

    if not oidc.configured():
        return _error_page(request, "Connexion indisponible", "La connexion par identité numérique n'est pas configurée.",
                           "Utilisez votre identifiant et votre mot de passe.", status=404)
    request.session["territoria_next"] = _safe_next(suite)
    redirect_uri = str(request.url_for("oidc_callback"))
    try:
        return await oidc.client().authorize_redirect(request, redirect_uri)
    except Exception as exc:  # issuer unreachable, bad metadata
        log.warning("OIDC login failed: %s", exc)
        return _error_page(request, "Connexion indisponible", f"Le fournisseur d'identité ne répond pas ({oidc.label()}).",
                           "Réessayez plus tard ou utilisez votre mot de passe.", status=502)


@router.get("/espace-agent/oidc/retour", name="oidc_callback")
async def oidc_callback(request: Request):
    from territoria.web.ui import oidc

    if not oidc.configured():
        return _error_page(request, "Connexion indisponible", "La connexion par identité numérique n'est pas configurée.",
                           status=404)
    try:
        token = await oidc.client().authorize_access_token(request)
    except Exception as exc:  # state mismatch, refused code, bad signature…
        log.warning("OIDC callback refused: %s", exc)
        return _error_page(request, "Connexion refusée", "L'identité renvoyée par le fournisseur n'a pas pu être vérifiée.",
                           "Recommencez la connexion.", status=401)
    claims = dict(token.get("userinfo") or {})
    u = oidc.user_for(claims)
    if u is None:
        who = claims.get("email") or claims.get("sub") or "?"
        return _error_page(request, "Compte non autorisé",
                           f"L'identité « {who} » n'est rattachée à aucun compte de l'espace agent.",
                           "Demandez à l'administrateur de la collectivité de créer votre compte "
                           f"(territoria user create {who} --tenant … --role agent --oidc-subject {who}).", status=403)
    nxt = _safe_next(request.session.pop("territoria_next", None))
    session = auth.new_session(u["username"], tenant=u["tenant"], role=u["role"], instance=False)
    return _set_cookie(RedirectResponse(nxt, status_code=303), request, session)


@router.post("/espace-agent/deconnexion")
def logout(request: Request, csrf: str = Form("")):
    s = _session(request)
    if s and not auth.check_csrf(s, csrf):
        return _error_page(request, "Action refusée", "Le formulaire a expiré.", "Rechargez la page.", status=403)
    resp = RedirectResponse("/espace-agent/connexion", status_code=303)
    resp.delete_cookie(auth.COOKIE, path="/")
    return resp


@router.post("/espace-agent/collectivite")
def switch_tenant(request: Request, tenant: str = Form(""), csrf: str = Form(""), suite: str = Form("")):
    s = _session(request)
    if s is None:
        return _login_redirect(request)
    if not auth.check_csrf(s, csrf):
        return _error_page(request, "Action refusée", "Le formulaire a expiré.", "Rechargez la page.", status=403)
    if not s.instance:
        return _error_page(request, "Action refusée", "Votre compte est rattaché à une seule collectivité.",
                           status=403)
    try:
        tenants.check_tenant(tenant)
    except TerritoriaError as exc:
        return _error_page(request, "Collectivité invalide", exc.message, exc.hint)
    s.tenant = tenant
    return _set_cookie(RedirectResponse(_safe_next(suite), status_code=303), request, s)


# -- agent space: documents ---------------------------------------------------------------------------

def recent_failures(tenant: str, limit: int = 20) -> list[dict[str, str]]:
    """Files that could not be ingested, newest first, with the French reason (from the jobs' records)."""
    d = get_settings().data_dir / "jobs"
    if not d.is_dir():
        return []
    rows: list[dict[str, str]] = []
    for p in d.glob("job-*.json"):
        try:
            j = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if j.get("tenant") != tenant:
            continue
        at = j.get("finished_at") or j.get("created_at") or ""
        failed = ((j.get("summary") or {}).get("failed")) or []
        for f in failed:
            rows.append({"file": Path(str(f.get("file") or "")).name, "reason": str(f.get("reason") or ""), "at": at})
        if j.get("status") == "failed" and not failed:
            rows.append({"file": ", ".join(j.get("files") or []), "reason": j.get("error") or j.get("message") or "",
                         "at": at})
    rows.sort(key=lambda r: r["at"], reverse=True)
    return rows[:limit]


def _filter_docs(store, tenant: str, q: str, cap: int = 20000) -> list:
    needle = q.casefold()
    out, offset = [], 0
    while offset < cap:
        batch = store.list_documents(tenant, limit=1000, offset=offset)
        if not batch:
            break
        out += [d for d in batch if needle in d.title.casefold() or needle in d.doc_id.casefold()]
        offset += len(batch)
    return out


@router.get("/espace-agent/documents", response_class=HTMLResponse)
def documents_page(request: Request, q: str = "", page: int = Query(1, ge=1), message: str = "", doc: str = ""):
    from territoria.store import get_store

    s = _session(request)
    if s is None:
        return _login_redirect(request)
    t = _agent_tenant(s)
    store = get_store()
    total = store.count_documents(t)
    q = q.strip()
    if q:
        matches = _filter_docs(store, t, q)
        shown_total = len(matches)
        docs = matches[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    else:
        shown_total = total
        docs = store.list_documents(t, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    notice = f"Le document « {doc} » a été supprimé." if message == "supprime" and doc else None
    error = f"Le document « {doc} » est introuvable (déjà supprimé ?)." if message == "introuvable" and doc else None
    return render("agent/documents.html", private=True, docs=docs, total=total, shown_total=shown_total, q=q,
                  page=page, pages=max(1, math.ceil(shown_total / PAGE_SIZE)), failures=recent_failures(t),
                  max_mb=get_settings().max_file_bytes // (1024 * 1024), notice=notice, error=error,
                  **_agent_ctx(request, s, "Documents"))


@router.post("/espace-agent/documents/supprimer")
def delete_document(request: Request, doc_id: str = Form(""), csrf: str = Form("")):
    from territoria.store import get_store

    s, err = _admin_form(request, csrf)
    if err:
        return err
    ok = get_store().delete_document(_agent_tenant(s), doc_id)
    msg = "supprime" if ok else "introuvable"
    return RedirectResponse(f"/espace-agent/documents?message={msg}&doc={quote(doc_id)}", status_code=303)


def _api_session(request: Request, csrf: Optional[str]):
    s = _session(request)
    if s is None:
        return None, _error_json("Session expirée : reconnectez-vous.", "unauthorized", status=401)
    if not auth.check_csrf(s, csrf):
        return None, _error_json("Jeton de sécurité invalide.", "csrf", "Rechargez la page.", status=403)
    return s, None


class SessionExpired(Exception):
    """No valid agent session on a JSON call of the agent space (answered by `session_expired`)."""


def session_expired(request: Request, exc: SessionExpired) -> JSONResponse:
    # not the API's 401, whose hint speaks of API keys: the agent only has to log in again
    return _error_json("Session expirée : reconnectez-vous.", "unauthorized",
                       "Rechargez la page pour vous reconnecter, puis recommencez.", status=401)


def _session_required(request: Request) -> None:
    """Dependency of the agent space's JSON calls: refuse before the body is even read."""
    if _session(request) is None:
        raise SessionExpired()


@router.post("/espace-agent/api/televersement", status_code=202, dependencies=[Depends(_session_required)])
async def agent_upload(request: Request, files: list[UploadFile] = File(...), visibility: str = Form("public"),
                       x_csrf_token: Optional[str] = Header(None)):
    """Same job mechanism as POST /api/documents (web/jobs.py), behind the agent session."""
    from territoria.web.jobs import FileTooLarge, Job, jobs, save_uploads

    s, err = _api_session(request, x_csrf_token)
    if err:
        return err
    if not s.allows("admin"):
        return _error_json("Le dépôt de documents est réservé aux administrateurs.", "forbidden", status=403)
    if visibility not in ("public", "internal"):
        return _error_json("Visibilité inconnue.", "invalid_visibility", "Choisissez « public » ou « interne ».")
    settings = get_settings().ensure()
    t = _agent_tenant(s)
    from territoria.trust import tenants as registry

    registry.ensure(t)
    job_id = jobs.new_id()
    folder = jobs.upload_dir(settings, t, job_id)
    try:
        names = await save_uploads(files, folder, settings.max_file_bytes)
    except FileTooLarge as exc:
        return _error_json(exc.message, "file_too_large", exc.hint, status=413)
    if not names:
        return _error_json("Aucun fichier reçu.", "no_file", "Choisissez un ou plusieurs fichiers.")
    job = jobs.submit(settings, Job(job_id=job_id, tenant=t, files=names, source="upload", visibility=visibility),
                      folder)
    return {**job.to_dict(), "status_url": f"/espace-agent/api/taches/{job_id}"}


@router.get("/espace-agent/api/taches/{job_id}", dependencies=[Depends(_session_required)])
def agent_job(request: Request, job_id: str):
    from territoria.web.jobs import jobs

    s = _session(request)
    if s is None:
        return _error_json("Session expirée : reconnectez-vous.", "unauthorized", status=401)
    job = jobs.get(job_id)
    if job is None or job.tenant != _agent_tenant(s):
        return _error_json(f"Tâche « {job_id} » introuvable.", "not_found", status=404)
    d = job.to_dict()
    failed = (d.get("summary") or {}).get("failed") or []
    d["failed"] = [{"file": Path(str(f.get("file") or "")).name, "reason": f.get("reason")} for f in failed]
    return JSONResponse(d, headers={"Cache-Control": "no-store"})


# -- agent space: search, answers, settings ---------------------------------------------------------------

_MODES = {"hybrid": "hybride", "bm25": "par mots", "dense": "par le sens"}


@router.get("/espace-agent/recherche", response_class=HTMLResponse)
def search_page(request: Request, q: str = "", mode: str = "hybrid", k: int = 10):
    import time

    from territoria.search.engine import search

    s = _session(request)
    if s is None:
        return _login_redirect(request)
    t = _agent_tenant(s)
    mode = mode if mode in _MODES else "hybrid"
    k = k if k in (5, 10, 20, 50) else 10
    hits, error, hint, took = [], None, None, 0.0
    q = q.strip()
    if q:
        t0 = time.perf_counter()
        try:
            hits = [h.to_dict() for h in search(q, k=k, mode=mode, tenant=t)]
        except TerritoriaError as exc:
            error, hint = exc.message, exc.hint
        except ValueError as exc:
            error = str(exc)
        took = (time.perf_counter() - t0) * 1000
        if mode == "dense" and not hits and not error:
            error = "La recherche par le sens ne donne rien : les vecteurs des documents ne sont peut-être pas encore calculés."
            hint = "Essayez la recherche hybride ou par mots, ou lancez « territoria embed » sur le serveur."
    return render("agent/search.html", private=True, q=q, mode=mode, k=k, hits=hits, took_ms=took,
                  mode_label=_MODES[mode], error=error, error_hint=hint, **_agent_ctx(request, s, "Recherche"))


_ANSWER_FILTERS = [("", "Toutes les réponses"), ("pas_utile", "Jugées pas utiles"), ("utile", "Jugées utiles"),
                   ("commentaire", "Avec un commentaire"), ("abstention", "Sans réponse (« je ne sais pas »)"),
                   ("sans_avis", "Sans avis")]


@router.get("/espace-agent/reponses", response_class=HTMLResponse)
def answers_page(request: Request, avis: str = "", page: int = Query(1, ge=1)):
    s = _session(request)
    if s is None:
        return _login_redirect(request)
    t = _agent_tenant(s)
    avis = avis if avis in dict(_ANSWER_FILTERS) else ""
    total, rows = answer_log.list_answers(t, filter=avis, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render("agent/answers.html", private=True, answers=rows, total=total, avis=avis, page=page,
                  pages=max(1, math.ceil(total / PAGE_SIZE)), filters=_ANSWER_FILTERS, stats=answer_log.stats(t),
                  **_agent_ctx(request, s, "Réponses et avis"))


_USE_CASES = {"assistant.answer": "Réponse de l'assistant", "aids.find": "Recherche d'aides",
              "canteen.forecast": "Prévision des cantines", "audit.purge": "Purge du journal"}
_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CHANNELS = {"page": "page de l'assistant", "widget": "module intégré", "aides": "page des aides"}


def audit_actor(actor: str) -> str:
    """Who, in words: « Usager (page de l'assistant) », « Clé 1a2b3c4d », « agent@mairie.fr »…"""
    kind, _, rest = (actor or "").partition(":")
    if kind == "public":
        return f"Usager ({_CHANNELS.get(rest, rest)})"
    if kind == "key":
        return f"Clé {rest}"
    if kind == "user":
        return rest
    if kind == "cli":
        return f"Serveur ({rest})"
    return actor or "—"


def audit_summary(row: dict) -> tuple[str, str]:
    """(request, result) of an audit row in a few French words, for the journal page."""
    inp, out = row.get("input"), row.get("output_data")
    if inp is None:
        request_text = f"empreinte {row.get('input_hash', '')[:12]}…"
    else:
        request_text = inp
    use = row.get("use_case")
    try:
        if use == "aids.find":
            d = json.loads(inp) if inp else {}
            prof = d.get("profile") or {}
            bits = [f"« {d['need']} »"] if d.get("need") else []
            bits += [str(prof[k]) for k in ("commune",) if prof.get(k)]
            bits += [f"{prof['age']} ans"] if prof.get("age") else []
            if inp is not None:
                request_text = ", ".join(bits) or "profil sans besoin précisé"
            res = (out or {}).get("results") or []
            n_ok = sum(1 for r in res if r.get("eligibility") == "eligible")
            return request_text, f"{len(res)} aide(s) montrée(s), dont {n_ok} éligible(s) d'après les réponses"
        if use == "canteen.forecast":
            d = json.loads(inp) if inp else {}
            if inp is not None:
                request_text = f"du {d.get('from')} au {d.get('to')}"
            return request_text, f"{len((out or {}).get('forecasts') or [])} prévision(s) cantine-jour"
        if isinstance(out, dict) and "answer" in out:
            return request_text, ("Sans réponse : " if out.get("abstained") else "") + str(out.get("answer") or "")
    except (ValueError, TypeError, AttributeError):
        pass
    return request_text, row.get("output") or ""


def _audit_dates(du: str, au: str) -> tuple[Optional[str], Optional[str], Optional[str]]:
    du, au = du.strip(), au.strip()
    for v in (du, au):
        if v and not _DAY_RE.match(v):
            return None, None, f"Date invalide : « {v} » (format attendu : AAAA-MM-JJ)."
    try:
        check_period(du or None, au or None)
    except TerritoriaError as exc:
        return None, None, f"{exc.message} {exc.hint}"
    return du or None, au or None, None


@router.get("/espace-agent/journal", response_class=HTMLResponse)
def audit_page(request: Request, du: str = "", au: str = "", page: int = Query(1, ge=1), verifier: str = ""):
    """Audit log of the tenant (AI Act art. 12): every AI output, newest first; chain check on demand."""
    from territoria.trust import audit

    s = _session(request)
    if s is None:
        return _login_redirect(request)
    if (err := _forbidden(request, s, "admin")) is not None:
        return err
    t = _agent_tenant(s)
    start, end, error = _audit_dates(du, au)
    total, rows = (0, []) if error else audit.page(tenant=t, start=start, end=end, limit=PAGE_SIZE,
                                                   offset=(page - 1) * PAGE_SIZE)
    check = audit.verify() if verifier else None
    for r in rows:
        r["who"] = audit_actor(r["actor"])
        r["request_text"], r["result_text"] = audit_summary(r)
    return render("agent/journal.html", private=True, rows=rows, total=total, du=du, au=au, page=page,
                  pages=max(1, math.ceil(total / PAGE_SIZE)), use_cases=_USE_CASES, check=check, error=error,
                  anonymised=audit.anonymise_enabled(), retention=audit.retention_days(),
                  **_agent_ctx(request, s, "Journal d'audit"))


@router.get("/espace-agent/journal/export")
def audit_export_file(request: Request, format: str = "csv", du: str = "", au: str = ""):
    from territoria.trust import audit

    s = _session(request)
    if s is None:
        return _login_redirect(request)
    if (err := _forbidden(request, s, "admin")) is not None:
        return err
    start, end, error = _audit_dates(du, au)
    if error or format not in ("csv", "jsonl"):
        return _error_page(request, "Export impossible", error or "Format inconnu (csv ou jsonl).", status=400)
    t = _agent_tenant(s)
    body = "".join(audit.export(format, tenant=t, start=start, end=end))
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return Response(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="journal-audit-{t}.{format}"', "Cache-Control": "no-store"})


# -- agent space: accounts (users and API keys of the tenant; admins) -----------------------------------

_ROLE_LABELS = {"admin": "Administrateur", "agent": "Agent", "public": "Public (site web, usagers)"}


def _accounts_page(request: Request, s: auth.Session, *, status: int = 200, notice: str | None = None,
                   error: str | None = None, new_key: str | None = None, form: dict | None = None):
    from territoria.trust import accounts

    ctx = _agent_ctx(request, s, "Comptes et clés d'accès")
    t = ctx["tenant"]
    return render("agent/accounts.html", status=status, private=True, users=accounts.list_users(t),
                  keys=[k for k in accounts.list_keys(t) if not k["instance"]], roles=_ROLE_LABELS, notice=notice,
                  error=error, new_key=new_key, form=form or {}, **ctx)


@router.get("/espace-agent/comptes", response_class=HTMLResponse)
def accounts_page(request: Request):
    s = _session(request)
    if s is None:
        return _login_redirect(request)
    if (err := _forbidden(request, s, "admin")) is not None:
        return err
    return _accounts_page(request, s)


@router.post("/espace-agent/comptes/utilisateur", response_class=HTMLResponse)
def account_create(request: Request, csrf: str = Form(""), identifiant: str = Form(""), role: str = Form("agent"),
                   mot_de_passe: str = Form(""), oidc: str = Form("")):
    from territoria.trust import accounts

    s, err = _admin_form(request, csrf)
    if err:
        return err
    form = {"identifiant": identifiant, "role": role, "oidc": oidc}
    if role not in ("agent", "admin"):
        return _accounts_page(request, s, status=400, error="Rôle inconnu.", form=form)
    try:
        accounts.create_user(identifiant.strip(), tenant=_agent_tenant(s), role=role,
                             password=mot_de_passe or None, oidc_subject=oidc.strip() or None)
    except TerritoriaError as exc:  # the message goes under the field it is about (trust/accounts.py's wording)
        field = ("mot_de_passe" if "mot de passe" in exc.message.lower() else
                 "oidc" if "OpenID" in exc.message else "identifiant")
        form.update(error_field=field, error_message=exc.message + (f" {exc.hint}" if exc.hint else ""))
        return _accounts_page(request, s, status=400, error="Le compte n'a pas été créé : corrigez le champ signalé.",
                              form=form)
    return _accounts_page(request, s, notice=f"Le compte « {identifiant.strip()} » a été créé ({_ROLE_LABELS[role].lower()}).")


def _own_item(request: Request, csrf: str, lookup, usable, missing: str):
    """Admin form acting on one account or key of the agent's tenant: (session, item, None) when `lookup`
    finds it in this tenant and `usable(item)`, else (…, None, the page with the error or the refusal)."""
    s, err = _admin_form(request, csrf)
    if err:
        return s, None, err
    item = lookup()
    if item is None or item["tenant"] != _agent_tenant(s) or not usable(item):
        return s, None, _accounts_page(request, s, status=404, error=missing)
    return s, item, None


@router.post("/espace-agent/comptes/utilisateur/supprimer", response_class=HTMLResponse)
def account_delete(request: Request, csrf: str = Form(""), identifiant: str = Form("")):
    from territoria.store import get_trust_store
    from territoria.trust import accounts

    s, _, err = _own_item(request, csrf, lambda: get_trust_store().get_user(identifiant), lambda u: True,
                          f"Compte « {identifiant} » introuvable.")
    if err:
        return err
    if identifiant == s.user:
        return _accounts_page(request, s, status=400, error="Vous ne pouvez pas supprimer votre propre compte.")
    accounts.delete_user(identifiant)
    return _accounts_page(request, s, notice=f"Le compte « {identifiant} » a été supprimé.")


@router.post("/espace-agent/comptes/cle", response_class=HTMLResponse)
def key_create(request: Request, csrf: str = Form(""), nom: str = Form(""), role: str = Form("public")):
    from territoria.trust import accounts

    s, err = _admin_form(request, csrf)
    if err:
        return err
    if role not in _ROLE_LABELS:
        return _accounts_page(request, s, status=400, error="Rôle inconnu.")
    k = accounts.create_key(tenant=_agent_tenant(s), role=role, name=nom.strip()[:120])
    return _accounts_page(request, s, new_key=k["key"],
                          notice=f"Clé {k['key_id']} créée. Copiez-la maintenant : elle ne sera plus jamais affichée.")


@router.post("/espace-agent/comptes/cle/revoquer", response_class=HTMLResponse)
def key_revoke(request: Request, csrf: str = Form(""), key_id: str = Form("")):
    from territoria.store import get_trust_store
    from territoria.trust import accounts

    s, _, err = _own_item(request, csrf, lambda: get_trust_store().get_key(key_id),
                          lambda k: not k["instance"] and not k["revoked_at"],
                          f"Clé « {key_id} » introuvable ou déjà révoquée.")
    if err:
        return err
    accounts.revoke_key(key_id)
    return _accounts_page(request, s, notice=f"La clé {key_id} est révoquée : elle ne donne plus accès.")


@router.get("/espace-agent/personnalisation", response_class=HTMLResponse)
def settings_page(request: Request, message: str = ""):
    s = _session(request)
    if s is None:
        return _login_redirect(request)
    if (err := _forbidden(request, s, "admin")) is not None:
        return err
    ctx = _agent_ctx(request, s, "Personnalisation")
    notice = "Les réglages ont été enregistrés." if message == "enregistre" else None
    return render("agent/settings.html", private=True, errors={}, snippet=snippet(request, ctx["tenant"]),
                  notice=notice, **ctx)


def _origin(value: str) -> Optional[str]:
    u = urlsplit(value.strip())
    if u.scheme in ("http", "https") and u.netloc and not u.path.strip("/") and not u.query:
        return f"{u.scheme}://{u.netloc}"
    return None


@router.post("/espace-agent/personnalisation", response_class=HTMLResponse)
def settings_submit(request: Request, csrf: str = Form(""), name: str = Form(""), welcome: str = Form(""),
                    contact_label: str = Form(""), contact_phone: str = Form(""), contact_url: str = Form(""),
                    contact_address: str = Form(""), color: str = Form(""), examples: str = Form(""),
                    widget_origins: str = Form("")):
    s, err = _admin_form(request, csrf)
    stale = False
    if err:
        s = _session(request)
        if s is None or not s.allows("admin") or auth.check_csrf(s, csrf):
            return err
        stale = True  # e.g. a new login in another tab: show what was typed again, with a fresh token
    ctx = _agent_ctx(request, s, "Personnalisation")
    ui: tenants.TenantUI = ctx["ui"]
    errors: dict[str, str] = {}
    ui.name = name.strip()[:120]
    ui.welcome = welcome.strip()[:600] or tenants.TenantUI(tenant=ui.tenant).welcome
    ui.contact_label = contact_label.strip()[:200]
    ui.contact_phone = contact_phone.strip()[:40]
    ui.contact_address = contact_address.strip()[:300]
    ui.contact_url = contact_url.strip()[:300]
    if ui.contact_url and not re.match(r"^https?://[^\s/]+", ui.contact_url):
        errors["contact_url"] = "L'adresse du site doit commencer par https:// (ou http://)."
    try:
        ui.color = tenants.check_color(color.strip() or tenants.DEFAULT_COLOR)
    except TerritoriaError as exc:
        errors["color"] = exc.message
        ui.color = color.strip()
    ui.examples = [line.strip()[:200] for line in examples.splitlines() if line.strip()][:6]
    origins, bad = [], []
    for line in widget_origins.splitlines():
        if line.strip():
            o = _origin(line)
            (origins.append(o) if o else bad.append(line.strip()))
    ui.widget_origins = origins
    if bad:
        errors["widget_origins"] = "Adresse(s) invalide(s) : " + ", ".join(bad) + " (forme attendue : https://www.exemple.fr)."
    if errors or stale:
        error = ("Le formulaire a expiré : rien n'a été enregistré. Vos saisies sont conservées ci-dessous ; "
                 "vérifiez-les puis cliquez à nouveau sur « Enregistrer ».") if stale else \
            "Le formulaire contient des erreurs : corrigez les champs signalés."
        return render("agent/settings.html", status=403 if stale else 400, private=True, errors=errors,
                      snippet=snippet(request, ctx["tenant"]), error=error,
                      **{k: v for k, v in ctx.items() if k != "ui"}, ui=ui)
    tenants.save(ui)
    return RedirectResponse("/espace-agent/personnalisation?message=enregistre", status_code=303)
