"""Web interface (web/ui/) through the ASGI app, without a browser: pages in French with no external asset,
chat stream with the answer log and feedback, agent login and session, uploads with job status and failures,
search with scores, per-tenant settings, widget loader and framing rules.

The real-browser tests (Chromium, keyboard, axe-core, screenshots) are in test_web_ui_browser.py."""

import json
import os
import re
import stat
import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

os.environ.setdefault("TERRITORIA_MODEL_CACHE", str(Path(tempfile.gettempdir()) / f"territoria-test-models-{os.getuid()}"))

from territoria.models.llm import set_llm  # noqa: E402
from territoria.web.app import create_app  # noqa: E402
from territoria.trust import answer_log  # noqa: E402
from territoria.web.ui import auth  # noqa: E402

from test_assistant import ScriptedLLM  # noqa: E402

FICHES = {"F1341", "F1344", "F12918", "F1427"}
UI = Path(__file__).resolve().parents[1] / "src" / "territoria" / "web" / "ui"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def app_env(tmp_path_factory, shared_dir):
    from territoria.core.settings import Settings, get_settings, set_settings
    from territoria.ingest.pipeline import ingest_paths

    old = get_settings()
    saved = {k: os.environ.get(k) for k in ("TERRITORIA_ADMIN_PASSWORD", "TERRITORIA_ADMIN_USER", "TERRITORIA_SECRET_KEY")}
    os.environ["TERRITORIA_ADMIN_PASSWORD"] = PASSWORD
    os.environ["TERRITORIA_ADMIN_USER"] = "admin"
    os.environ.pop("TERRITORIA_SECRET_KEY", None)
    d = tmp_path_factory.mktemp("webui") / "data"
    set_settings(Settings(data_dir=d, embed_mode="off"))
    from conftest import fiche_rows, write_jsonl

    src = write_jsonl(tmp_path_factory.mktemp("webui-src") / "fiches.jsonl", fiche_rows(shared_dir, FICHES))
    assert ingest_paths([src], tenant="default").ok
    set_llm(ScriptedLLM())
    yield d
    set_llm(None)
    set_settings(old)
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture()
def client(app_env):
    auth._failures.clear()
    with TestClient(create_app()) as c:
        yield c


def _login(client, identifiant: str = "admin", mot_de_passe: str = PASSWORD, **fields):
    """Post the login form as a browser does: the page first (its pre-login cookie and hidden token)."""
    page = client.get("/espace-agent/connexion", follow_redirects=False)
    assert page.status_code == 200, page.status_code
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
    return client.post("/espace-agent/connexion", data={"identifiant": identifiant, "mot_de_passe": mot_de_passe,
                                                        "csrf": token, **fields}, follow_redirects=False)


@pytest.fixture()
def agent(client):
    r = _login(client, suite="/espace-agent/documents")
    assert r.status_code == 303 and r.headers["location"] == "/espace-agent/documents"
    assert auth.COOKIE in r.cookies or auth.COOKIE in client.cookies
    return client


def _csrf(client, path="/espace-agent/documents") -> str:
    html = client.get(path).text
    return re.search(r'data-csrf="([0-9a-f]+)"', html).group(1)


def _sse(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.strip().split("\n\n"):
        ev = data = None
        for line in block.splitlines():
            if line.startswith("event: "):
                ev = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        if data is not None:
            out.append((ev, json.loads(data)))
    return out


# -- public pages -------------------------------------------------------------------------------------

PUBLIC_PAGES = ["/", "/informations", "/accessibilite", "/widget/panneau", "/widget/demo", "/espace-agent/connexion",
                "/sources?doc=F1344"]


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_public_pages_french_with_security_headers(client, path):
    r = client.get(path)
    assert r.status_code == 200, r.text[:500]
    html = r.text
    assert '<html lang="fr">' in html
    assert "<title>" in html and "<main" in html
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    # every asset is served by the app itself (air-gapped servers: no CDN)
    assert not re.search(r'<(?:script|link|img|iframe)[^>]+(?:src|href)="(?:https?:)?//(?!127\.0\.0\.1|testserver)', html), html
    assert "<script>" not in html  # no inline script (the CSP forbids it)


def test_no_external_asset_in_templates_and_static():
    for p in list((UI / "templates").rglob("*.html")) + list((UI / "static").glob("*.*")):
        text = p.read_text(encoding="utf-8")
        assert not re.search(r'(?:src|href)="(?:https?:)?//', text.replace('href="https://www.service-public.fr/"', "")), p
        assert not re.search(r"@import|url\(\s*['\"]?(?:https?:)?//", text), p
        assert "cdn" not in text.lower(), p


def test_citizen_page_ai_notice_and_live_region(client):
    html = client.get("/").text
    assert "assistant automatique (intelligence artificielle)" in html
    assert "conservés 90 jours" in html and "données personnelles" in html
    assert re.search(r'<ol id="fil"[^>]+aria-live="polite"', html)
    assert '<label for="question"' in html
    assert "Aller au contenu" in html  # skip link
    info = client.get("/informations").text
    assert "article 50" in info and "2024/1689" in info


def test_static_assets_and_theme(client):
    for name in ("territoria.css", "chat.js", "agent.js", "widget.css", "demo.css", "favicon.svg"):
        r = client.get(f"/ui/static/{name}")
        assert r.status_code == 200 and len(r.content) > 100, name
    assert "--primaire: #000091" in client.get("/ui/theme.css").text
    r = client.get("/?tenant=../../etc")
    assert r.status_code == 400 and "Collectivité inconnue" in r.text and 'lang="fr"' in r.text


UNKNOWN_PAGES = ["/", "/aides", "/aides?besoin=permis", "/informations", "/accessibilite", "/sources?doc=F1344",
                 "/sources/fichier?doc=F1344", "/widget/demo"]


@pytest.mark.parametrize("path", UNKNOWN_PAGES)
def test_public_page_of_an_unknown_tenant_is_a_french_404(client, path):
    """A citizen following a misspelt link (/?tenant=montpelier) gets a French 404 page in the site layout,
    not a chat over an empty corpus; it names neither the tenant nor the instance's other tenants."""
    from territoria.trust import tenants as registry

    registry.ensure("commune-b")  # an existing tenant, which the page must not reveal
    sep = "&" if "?" in path else "?"
    r = client.get(f"{path}{sep}tenant=montpelier")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), (path, r.status_code)
    html = r.text
    assert '<html lang="fr">' in html and "<title>Collectivité introuvable — " in html
    assert "<h1>Collectivité introuvable</h1>" in html
    assert "Cette collectivité n&#39;existe pas sur ce service : vérifiez l&#39;adresse" in html
    assert '<a href="/?tenant=default">Revenir à l&#39;accueil</a>' in html  # the link back does not loop
    assert 'href="/ui/theme.css?tenant=default"' in html and "Aller au contenu" in html  # site layout
    assert 'id="chat"' not in html and 'name="besoin"' not in html  # no chat, no aid form
    assert "montpelier" not in html and "commune-b" not in html and "territoria tenant" not in html
    assert r.headers["cache-control"] == "no-store" and r.headers["x-frame-options"] == "DENY"


def test_unknown_tenant_chat_api_and_widget(client):
    from territoria.trust import tenants as registry

    # the chat's JSON calls: a French 404, checked before anything else, nothing recorded
    for kw in ({"json": {"question": "Comment refaire une carte d'identité ?", "tenant": "montpelier"}},
               {"json": {"question": "Comment refaire une carte d'identité ?"}, "headers": {"X-Territoria-Tenant": "montpelier"}},
               {"json": {"question": "   ", "tenant": "montpelier"}}):
        r = client.post("/ui/api/ask", **kw)
        assert r.status_code == 404 and r.headers["content-type"].startswith("application/json"), r.text[:200]
        err = r.json()["error"]
        assert err["code"] == "unknown_tenant" and err["message"].startswith("Cette collectivité n'existe pas")
        assert "montpelier" not in r.text and "territoria tenant" not in r.text
    assert answer_log.list_answers("montpelier")[0] == 0
    r = client.post("/ui/api/feedback", json={"answer_id": "r-x", "rating": "utile", "tenant": "montpelier"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_tenant"
    assert client.post("/ui/api/ask", json={"question": "x", "tenant": "../x"}).status_code == 400  # malformed: as before
    # the widget loader stays JavaScript (never an HTML page in the host site), adds no button, is not cached
    js = client.get("/widget.js?tenant=montpelier")
    assert js.status_code == 404 and js.headers["content-type"].startswith("text/javascript")
    assert js.text.startswith("console.error(") and "__TERRITORIA_CONFIG__" not in js.text and "attachShadow" not in js.text
    assert "n'existe pas" in json.loads(js.text[len("console.error("):-2]) and "montpelier" not in js.text
    assert js.headers["cache-control"] == "no-store" and js.headers["cross-origin-resource-policy"] == "cross-origin"
    # the widget's chat panel: the 404 page stays displayable in the host site's frame, compact, and its
    # link opens a new window (the site's other pages refuse to be framed)
    panel = client.get("/widget/panneau?tenant=montpelier")
    assert panel.status_code == 404 and "<h1>Collectivité introuvable</h1>" in panel.text
    assert "frame-ancestors *" in panel.headers["content-security-policy"] and "x-frame-options" not in panel.headers
    assert 'class="entete"' not in panel.text and 'target="_blank" rel="noopener"' in panel.text
    assert "(nouvelle fenêtre)" in panel.text and 'id="chat"' not in panel.text
    # a registered tenant without documents yet, and the default tenant, keep their chat and widget
    registry.ensure("commune-vide")
    for t in ("commune-vide", "default"):
        assert 'id="chat"' in client.get(f"/?tenant={t}").text
        assert client.get(f"/widget/panneau?tenant={t}").status_code == 200
        assert client.get(f"/widget.js?tenant={t}").status_code == 200
        r = client.post("/ui/api/feedback", json={"answer_id": "r-absente", "rating": "utile", "tenant": t})
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.post("/ui/api/ask", json={"question": "Comment refaire une carte d'identité ?", "tenant": "commune-vide"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")


# -- chat stream, answer log, feedback ------------------------------------------------------------------

def test_chat_stream_records_answer_then_feedback(client):
    r = client.post("/ui/api/ask", json={"question": "Comment refaire une carte d'identité perdue ?",
                                         "conversation_id": "c-test1"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = _sse(r.text)
    kinds = [k for k, _ in events]
    assert "token" in kinds and kinds[-1] == "answer" and kinds.index("token") < kinds.index("answer")
    ans = events[-1][1]
    assert not ans["abstained"] and ans["citations"] and re.search(r"\[1\]", ans["answer"])
    assert ans["answer_id"].startswith("r-") and "evidence" not in ans
    # operator notes (e.g. "the small fallback model answered") never reach citizens
    assert "notes" not in ans and not any("0.5B" in w for w in ans["warnings"])
    logged = answer_log.get("default", ans["answer_id"])
    assert logged.question.startswith("Comment refaire") and logged.citations[0]["doc_id"] == ans["citations"][0]["doc_id"]
    assert logged.rating is None

    r = client.post("/ui/api/feedback", json={"answer_id": ans["answer_id"], "rating": "pas_utile"})
    assert r.status_code == 200 and r.json()["ok"]
    r = client.post("/ui/api/feedback", json={"answer_id": ans["answer_id"], "comment": "Il manque le prix du timbre."})
    assert r.status_code == 200
    logged = answer_log.get("default", ans["answer_id"])
    assert logged.rating == "pas_utile" and logged.comment == "Il manque le prix du timbre." and logged.feedback_at

    # another (existing) tenant cannot touch this answer; empty or invalid feedback is refused in French
    from territoria.trust import tenants as registry

    registry.ensure("autre")
    r = client.post("/ui/api/feedback", json={"answer_id": ans["answer_id"], "rating": "utile"},
                    headers={"X-Territoria-Tenant": "autre"})
    assert r.status_code == 404 and "introuvable" in r.json()["error"]["message"]
    assert r.json()["error"]["code"] == "not_found"
    r = client.post("/ui/api/feedback", json={"answer_id": ans["answer_id"]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "empty_feedback"
    r = client.post("/ui/api/feedback", json={"answer_id": ans["answer_id"], "rating": "bof"})
    assert r.status_code == 422 and "valeur non autorisée" in r.json()["error"]["message"]


def test_chat_abstention_and_errors(client):
    r = client.post("/ui/api/ask", json={"question": "Écris-moi un poème sur la mer"})
    ans = _sse(r.text)[-1][1]
    assert ans["abstained"] and ans["reason"] == "off_topic" and ans["answer_id"]
    r = client.post("/ui/api/ask", json={"question": "   "})
    assert r.status_code == 400 and r.json()["error"]["message"] == "La question est vide."
    r = client.post("/ui/api/ask", json={"question": "Bonjour ?", "conversation_id": "../../x"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_conversation"
    r = client.post("/ui/api/ask", json={"question": "Bonjour ?", "conversation_id": "abc\n"})  # not a file name
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_conversation"


def test_answer_log_retention(client, monkeypatch):
    import sqlite3

    aid = answer_log.record("default", {"question": "ancienne", "answer": "x", "citations": []})
    with sqlite3.connect(answer_log.db_path()) as c:
        c.execute("UPDATE answers SET at = '2000-01-01T00:00:00' WHERE answer_id = ?", (aid,))
    answer_log.record("default", {"question": "nouvelle", "answer": "y", "citations": []})
    assert answer_log.get("default", aid) is None  # older than the retention period: deleted


# -- agent space: login and session -----------------------------------------------------------------------

def test_agent_pages_need_login(client):
    r = client.get("/espace-agent/documents", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/espace-agent/connexion")
    r = client.post("/espace-agent/api/televersement", files={"files": ("a.txt", b"bonjour")})
    assert r.status_code == 401 and "reconnectez-vous" in r.json()["error"]["message"]
    r = client.get("/espace-agent/reponses", follow_redirects=False)
    assert r.status_code == 303


def test_login_errors_rate_limit_and_redirect_safety(client):
    r = _login(client, mot_de_passe="faux")
    assert r.status_code == 401 and "Identifiant ou mot de passe incorrect." in r.text
    assert 'aria-invalid="true"' in r.text and auth.COOKIE not in r.cookies
    r = _login(client, suite="https://pirate.example/")
    assert r.headers["location"] == "/espace-agent/documents"  # no open redirect
    client.cookies.clear()
    for _ in range(auth.MAX_FAILURES):
        _login(client, mot_de_passe="faux")
    r = _login(client)
    assert r.status_code == 401 and "Trop de tentatives" in r.text
    auth._failures.clear()


def test_login_form_is_protected_against_login_csrf(client):
    """Another site cannot post its own credentials to log the agent in (login CSRF): the form needs the
    pre-login cookie set by the login page and the hidden token derived from it."""
    def post(**extra):
        return client.post("/espace-agent/connexion", data={"identifiant": "admin", "mot_de_passe": PASSWORD,
                                                            "suite": "/espace-agent/journal", **extra},
                           follow_redirects=False)

    def refused(r):
        assert r.status_code == 403, r.status_code
        assert "La page de connexion a expiré : rechargez-la" in r.text and "<h1>Connexion impossible</h1>" in r.text
        assert 'href="/espace-agent/connexion?suite=/espace-agent/journal"' in r.text  # back to the login page
        assert auth.COOKIE not in r.cookies and auth.COOKIE not in client.cookies

    refused(post())                        # a cross-site form: no pre-login cookie, no token
    page = client.get("/espace-agent/connexion")
    assert page.headers["cache-control"] == "no-store"
    set_cookie = page.headers["set-cookie"]
    assert auth.LOGIN_COOKIE in set_cookie and "HttpOnly" in set_cookie and "samesite=lax" in set_cookie.lower()
    assert "Path=/espace-agent" in set_cookie and f"Max-Age={auth.LOGIN_SECONDS}" in set_cookie
    token = re.search(r'name="csrf" value="([0-9a-f]{32})"', page.text).group(1)
    refused(post())                        # the cookie alone (the other site cannot read the page's token)
    refused(post(csrf="0" * 32))           # a made-up token
    client.cookies.clear()
    refused(post(csrf=token))              # the token alone (e.g. copied from the attacker's own visit)
    forged = auth.URLSafeTimedSerializer("une autre clé", salt="territoria-login-csrf").dumps("a" * 32)
    client.cookies.clear()
    client.cookies.set(auth.LOGIN_COOKIE, forged, path="/espace-agent")
    refused(post(csrf=auth.login_token("a" * 32)))  # a cookie not signed by this server
    # an expired page: its cookie was signed more than LOGIN_SECONDS ago
    import time as _time

    from itsdangerous import TimestampSigner

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TimestampSigner, "get_timestamp", lambda self: int(_time.time()) - auth.LOGIN_SECONDS - 5)
        old, _ = auth.login_cookie("b" * 32)
    client.cookies.clear()
    client.cookies.set(auth.LOGIN_COOKIE, old, path="/espace-agent")
    refused(post(csrf=auth.login_token("b" * 32)))
    assert not auth._failures  # refused before the password is looked at: no failed attempt counted
    # the genuine pair logs in, and the pre-login cookie is dropped
    client.cookies.clear()
    token = re.search(r'name="csrf" value="([0-9a-f]{32})"', client.get("/espace-agent/connexion").text).group(1)
    r = post(csrf=token)
    assert r.status_code == 303 and r.headers["location"] == "/espace-agent/journal"
    assert auth.COOKIE in client.cookies and auth.LOGIN_COOKIE not in client.cookies
    client.cookies.clear()
    # two login tabs opened one after the other: both forms stay valid (the nonce is kept)
    first = re.search(r'name="csrf" value="([0-9a-f]{32})"', client.get("/espace-agent/connexion").text).group(1)
    second = re.search(r'name="csrf" value="([0-9a-f]{32})"', client.get("/espace-agent/connexion").text).group(1)
    assert first == second
    # a wrong password shows the form again, still usable
    r = post(csrf=first, mot_de_passe="faux")
    assert r.status_code == 401 and f'name="csrf" value="{first}"' in r.text
    assert post(csrf=first).status_code == 303
    client.cookies.clear()
    auth._failures.clear()


def test_forged_or_foreign_cookie_is_refused(client):
    from itsdangerous import URLSafeTimedSerializer

    forged = URLSafeTimedSerializer("une autre clé", salt="territoria-agent-session").dumps({"u": "admin", "s": "x"})
    client.cookies.set(auth.COOKIE, forged)
    assert client.get("/espace-agent/documents", follow_redirects=False).status_code == 303


def test_generated_admin_password(app_env, monkeypatch, tmp_path):
    from territoria.core.settings import Settings, get_settings, set_settings

    old = get_settings()
    set_settings(Settings(data_dir=tmp_path / "d", embed_mode="off"))
    monkeypatch.delenv("TERRITORIA_ADMIN_PASSWORD", raising=False)
    try:
        with TestClient(create_app()) as c:
            f = tmp_path / "d" / "ui" / "admin-password.txt"
            assert f.exists()  # generated when the server starts
            page = c.get("/espace-agent/connexion").text
            assert "ui/admin-password.txt" in page and "a été généré" in page
            assert stat.S_IMODE(f.stat().st_mode) == 0o600
            pw = f.read_text().strip()
            assert len(pw) >= 12
            r = _login(c, mot_de_passe=pw)
            assert r.status_code == 303
            assert stat.S_IMODE((tmp_path / "d" / "ui" / "secret.key").stat().st_mode) == 0o600
    finally:
        set_settings(old)


# -- agent space: documents, search, answers, settings ----------------------------------------------------

def test_upload_job_list_search_source_and_delete(agent):
    from territoria.web.jobs import jobs

    csrf = _csrf(agent)
    text = ("Règlement du marché de Noël de Saint-Exemple\n\nLes exposants versent une redevance de 45 euros par "
            "emplacement. Le marché se tient sur la place de la Mairie du 1er au 24 décembre.\n")
    r = agent.post("/espace-agent/api/televersement", files={"files": ("marche-noel.txt", text.encode())})
    assert r.status_code == 403  # no CSRF token
    r = agent.post("/espace-agent/api/televersement", files={"files": ("marche-noel.txt", text.encode())},
                   headers={"X-CSRF-Token": csrf})
    assert r.status_code == 202, r.text
    job = r.json()
    assert jobs.wait(job["job_id"], 60).status == "done"
    st = agent.get(job["status_url"]).json()
    assert st["status"] == "done" and st["doc_ids"] == ["marche-noel.txt"] and st["failed"] == []

    page = agent.get("/espace-agent/documents").text
    assert "Règlement du marché de Noël de Saint-Exemple" in page and "5 pour « default »" in page
    page = agent.get("/espace-agent/documents?q=noël").text
    assert "1 document(s) correspondant" in page

    page = agent.get("/espace-agent/recherche?q=redevance+marché+de+Noël&mode=bm25").text
    first = page.split('<li class="resultat">')[1]
    assert "marche-noel.txt" in first and re.search(r"Score : <strong>\d+,\d+</strong>", first)

    src = agent.get("/sources?doc=marche-noel.txt").text
    assert "Télécharger le fichier" in src
    r = agent.get("/sources/fichier?doc=marche-noel.txt")
    assert r.status_code == 200 and r.content == text.encode()
    assert agent.get("/sources/fichier?doc=../../secret.key").status_code == 404

    r = agent.post("/espace-agent/documents/supprimer", data={"doc_id": "marche-noel.txt", "csrf": "faux"})
    assert r.status_code == 403
    r = agent.post("/espace-agent/documents/supprimer", data={"doc_id": "marche-noel.txt", "csrf": csrf})
    assert r.status_code == 200 and "a été supprimé" in r.text
    assert "marche-noel.txt" not in agent.get("/espace-agent/documents").text.split("liste-documents")[1]


def test_upload_failure_has_french_reason(agent):
    from territoria.web.jobs import jobs

    csrf = _csrf(agent)
    r = agent.post("/espace-agent/api/televersement", files={"files": ("abime.pdf", b"%PDF-1.4 ceci n'est pas un PDF")},
                   headers={"X-CSRF-Token": csrf})
    job = jobs.wait(r.json()["job_id"], 60)
    assert job.status == "failed"
    st = agent.get(f"/espace-agent/api/taches/{job.job_id}").json()
    assert st["failed"][0]["file"] == "abime.pdf" and st["failed"][0]["reason"]
    page = agent.get("/espace-agent/documents").text
    assert "Échecs récents d'ingestion" in page and "abime.pdf" in page
    reason = st["failed"][0]["reason"]
    assert reason.split(" ")[0] in page and re.search(r"[éèàç]|PDF|fichier", reason)


def test_answers_page_shows_feedback(agent):
    r = agent.post("/ui/api/ask", json={"question": "Comment obtenir un acte de naissance ?", "channel": "widget"})
    ans = _sse(r.text)[-1][1]
    agent.post("/ui/api/feedback", json={"answer_id": ans["answer_id"], "rating": "utile", "comment": "Très clair."})
    page = agent.get("/espace-agent/reponses?avis=utile").text
    assert "Comment obtenir un acte de naissance ?" in page and "Très clair." in page and "module intégré" in page
    assert "Jugées utiles" in page
    assert "Comment obtenir un acte de naissance ?" not in agent.get("/espace-agent/reponses?avis=pas_utile").text


def test_audit_journal_page_lists_answers_exports_and_verifies(agent):
    r = agent.post("/ui/api/ask", json={"question": "Comment obtenir un acte de naissance ?"})
    ans = _sse(r.text)[-1][1]
    page = agent.get("/espace-agent/journal")
    assert page.status_code == 200 and "Journal d'audit" in page.text
    assert "Comment obtenir un acte de naissance ?" in page.text and "Usager (page de l&#39;assistant)" in page.text
    assert f">{ans['audit_id']}<" in page.text
    checked = agent.get("/espace-agent/journal?verifier=1").text
    assert "Journal intègre" in checked
    csv = agent.get("/espace-agent/journal/export?format=csv")
    assert csv.status_code == 200 and csv.text.startswith("seq,tenant,actor,at") and "acte de naissance" in csv.text
    assert "attachment" in csv.headers["content-disposition"]
    bad = agent.get("/espace-agent/journal?du=02/12/2026")
    assert bad.status_code == 200 and "Date invalide" in bad.text
    assert "Aucune ligne" in agent.get("/espace-agent/journal?au=2000-01-01").text
    inverted = agent.get("/espace-agent/journal/export?format=csv&du=2026-12-31&au=2026-01-01")
    assert inverted.status_code == 400 and "après la date de fin" in inverted.text and "<h1>" in inverted.text
    assert "après la date de fin" in agent.get("/espace-agent/journal?du=2026-12-31&au=2026-01-01").text


def test_settings_contrast_origins_and_widget(agent):
    csrf = _csrf(agent, "/espace-agent/personnalisation")
    base = {"csrf": csrf, "name": "Mairie de Saint-Exemple", "welcome": "Bonjour !", "contact_label": "l'accueil",
            "contact_phone": "01 23 45 67 89", "contact_url": "https://www.saint-exemple.example", "contact_address": "",
            "examples": "Question 1 ?\nQuestion 2 ?", "widget_origins": ""}
    r = agent.post("/espace-agent/personnalisation", data={**base, "color": "#99ccff"})
    assert r.status_code == 400 and "trop claire" in r.text and 'aria-invalid="true"' in r.text
    r = agent.post("/espace-agent/personnalisation", data={**base, "color": "#1f4d3a", "widget_origins": "pas une adresse"})
    assert r.status_code == 400 and "Adresse(s) invalide(s)" in r.text
    r = agent.post("/espace-agent/personnalisation",
                   data={**base, "color": "#1F4D3A", "widget_origins": "https://www.saint-exemple.example/"},
                   follow_redirects=False)
    assert r.status_code == 303
    page = agent.get(r.headers["location"]).text
    assert "Les réglages ont été enregistrés." in page and "widget.js?tenant=default" in page

    js = agent.get("/widget.js?tenant=default")
    assert js.headers["content-type"].startswith("text/javascript")
    assert '"name": "Mairie de Saint-Exemple"' in js.text and '"color": "#1f4d3a"' in js.text
    assert "__TERRITORIA_CONFIG__" not in js.text
    assert "--primaire: #1f4d3a" in agent.get("/ui/theme.css?tenant=default").text
    home = agent.get("/").text
    assert "Mairie de Saint-Exemple" in home and "Question 2 ?" in home and "01 23 45 67 89" in home

    # framing: only the widget's chat may be framed, by the configured sites
    panel = agent.get("/widget/panneau")
    assert "frame-ancestors 'self' https://www.saint-exemple.example" in panel.headers["content-security-policy"]
    assert "x-frame-options" not in panel.headers
    assert agent.get("/").headers["x-frame-options"] == "DENY"
    r = agent.post("/espace-agent/personnalisation", data={**base, "color": "#000091"}, follow_redirects=False)
    assert r.status_code == 303
    assert "frame-ancestors *" in agent.get("/widget/panneau").headers["content-security-policy"]


def test_tenant_switch(agent):
    csrf = _csrf(agent)
    r = agent.post("/espace-agent/collectivite", data={"tenant": "commune-b", "csrf": csrf,
                                                       "suite": "/espace-agent/documents"})
    assert r.status_code == 200 and "0 pour « commune-b »" in r.text
    r = agent.post("/espace-agent/collectivite", data={"tenant": "a/b", "csrf": _csrf(agent)})
    assert r.status_code == 400 and "invalide" in r.text
    agent.post("/espace-agent/collectivite", data={"tenant": "default", "csrf": _csrf(agent)})


def test_accounts_page_creates_users_and_keys(agent):
    """An administrator creates an agent account and a public API key in the browser, then revokes the key."""
    import re as _re

    page = agent.get("/espace-agent/comptes")
    assert page.status_code == 200 and "Créer un compte" in page.text
    csrf = _re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = agent.post("/espace-agent/comptes/utilisateur", data={"csrf": csrf, "identifiant": "secretaire@mairie.fr",
                                                               "role": "agent", "mot_de_passe": "court"})
    assert r.status_code == 400 and "trop court" in r.text and "secretaire@mairie.fr" in r.text  # form kept
    r = agent.post("/espace-agent/comptes/utilisateur", data={"csrf": csrf, "identifiant": "secretaire@mairie.fr",
                                                               "role": "agent", "mot_de_passe": "un mot de passe sûr"})
    assert r.status_code == 200 and "a été créé" in r.text
    r = agent.post("/espace-agent/comptes/cle", data={"csrf": csrf, "nom": "site web", "role": "public"})
    key = _re.search(r'<code id="nouvelle-cle">(tk_[^<]+)</code>', r.text).group(1)
    me = agent.get("/api/me", headers={"Authorization": f"Bearer {key}"}).json()
    assert me["role"] == "public" and me["tenant"] == "default"
    assert key not in agent.get("/espace-agent/comptes").text  # shown once
    key_id = key.split("_")[1]
    r = agent.post("/espace-agent/comptes/cle/revoquer", data={"csrf": csrf, "key_id": key_id})
    assert "révoquée" in r.text
    assert agent.get("/api/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    r = agent.post("/espace-agent/comptes/cle/revoquer", data={"csrf": csrf, "key_id": key_id})
    assert r.status_code == 404 and "déjà révoquée" in r.text
    r = agent.post("/espace-agent/comptes/utilisateur/supprimer", data={"csrf": csrf, "identifiant": "secretaire@mairie.fr"})
    assert "a été supprimé" in r.text
    r = agent.post("/espace-agent/comptes/utilisateur/supprimer", data={"csrf": csrf, "identifiant": "secretaire@mairie.fr"})
    assert r.status_code == 404 and "introuvable" in r.text
    assert agent.post("/espace-agent/comptes/cle", data={"csrf": "faux", "nom": "x"}).status_code == 403


# -- error pages, expired sessions, form markup ------------------------------------------------------------

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_browser_error_pages_are_french_pages_in_the_layout(app_env, client, monkeypatch):
    from territoria.trust import tenants as registry

    registry.ensure("commune-b")
    r = client.get("/page-inexistante?tenant=commune-b", headers=BROWSER)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert '<html lang="fr">' in r.text and "<h1>Page introuvable</h1>" in r.text and "Accessibilité" in r.text
    assert '<a href="/?tenant=commune-b">Revenir à l&#39;accueil</a>' in r.text  # stays with the collectivity
    # ... unless it does not exist: its links would lead to another error page
    r = client.get("/page-inexistante?tenant=commune-inexistante", headers=BROWSER)
    assert r.status_code == 404 and '<a href="/?tenant=default">Revenir à l&#39;accueil</a>' in r.text
    assert "commune-inexistante" not in r.text
    r = client.post("/", headers=BROWSER)
    assert r.status_code == 405 and "<h1>Page indisponible</h1>" in r.text and r.headers["allow"] == "GET"
    r = client.get("/espace-agent/inexistant", headers=BROWSER)
    assert r.status_code == 404 and '<a href="/espace-agent">Revenir à l&#39;espace agent</a>' in r.text
    # API clients keep the JSON errors
    assert client.get("/api/inexistant", headers=BROWSER).json()["error"]["code"] == "http_404"
    assert client.get("/page-inexistante").json()["error"]["code"] == "http_404"
    # an invalid page number in the address, and an internal error
    assert _login(client).status_code == 303
    r = client.get("/espace-agent/documents?page=abc", headers=BROWSER)
    assert r.status_code == 400 and "<h1>Adresse incorrecte</h1>" in r.text
    from territoria.web.ui import public

    def broken(tenant):
        raise RuntimeError("boum")

    monkeypatch.setattr(public, "_public_ctx", broken)
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        r = c.get("/informations", headers=BROWSER)
        assert r.status_code == 500 and "<h1>Erreur du service</h1>" in r.text and "boum" not in r.text
        assert "Traceback" not in r.text and '<html lang="fr">' in r.text
        assert c.get("/informations").json()["error"]["code"] == "internal_error"


def test_expired_session_messages_and_return_page(client):
    r = client.post("/espace-agent/api/televersement", files={"files": ("a.txt", b"bonjour")})
    err = r.json()["error"]
    assert r.status_code == 401 and "reconnectez-vous" in err["message"]
    assert "Authorization" not in err["hint"] and "Rechargez la page" in err["hint"]  # agent.js shows the hint
    # a form sent after the session ended comes back to its page after login, not to the POST-only action
    r = client.post("/espace-agent/documents/supprimer", data={"doc_id": "x", "csrf": "y"}, follow_redirects=False)
    assert r.headers["location"] == "/espace-agent/connexion?suite=/espace-agent/documents"
    r = client.post("/espace-agent/comptes/cle", data={"nom": "x", "csrf": "y"}, follow_redirects=False)
    assert r.headers["location"] == "/espace-agent/connexion?suite=/espace-agent/comptes"
    r = client.get("/espace-agent/recherche?q=carte&mode=bm25", follow_redirects=False)  # the search is kept
    r = client.get(r.headers["location"])
    assert 'name="suite" value="/espace-agent/recherche?q=carte&amp;mode=bm25"' in r.text


def test_form_markup_errors_once_and_pages_past_the_end(agent):
    page = agent.get("/espace-agent/personnalisation").text
    # attributes separated by whitespace (valid HTML), aria-describedby to the hint
    assert not re.search(r'="[^"<>]*"[a-z]', page)
    assert re.search(r'<input id="name"[^>]* aria-describedby="name-aide">', page)
    csrf = _csrf(agent, "/espace-agent/personnalisation")
    r = agent.post("/espace-agent/personnalisation", data={"csrf": csrf, "color": "#ffffff"})
    assert re.search(r'<input id="color"[^>]* aria-describedby="color-aide color-erreur" aria-invalid="true">', r.text)
    r = agent.post("/espace-agent/comptes/utilisateur", data={"csrf": csrf, "identifiant": "x@mairie.fr",
                                                               "role": "agent", "mot_de_passe": "court"})
    assert r.status_code == 400 and r.text.count("trop court") == 1  # one alert, not two
    r = agent.get("/espace-agent/documents?page=999")
    assert "Aucun document sur cette page" in r.text and "déposez vos premiers fichiers" not in r.text


def test_stale_form_keeps_settings_and_account_errors_on_their_field(agent):
    # a form token from an older session (new login in another tab): nothing saved, nothing typed lost
    r = agent.post("/espace-agent/personnalisation", data={"csrf": "ancien-jeton", "name": "Mairie de Test-sur-Mer",
                                                           "welcome": "Bienvenue !", "color": "#1f4d3a"})
    assert r.status_code == 403 and "Le formulaire a expiré : rien n&#39;a été enregistré" in r.text
    assert 'value="Mairie de Test-sur-Mer"' in r.text and f'name="csrf" value="{_csrf(agent)}"' in r.text
    assert "Mairie de Test-sur-Mer" not in agent.get("/espace-agent/personnalisation").text
    # account creation errors are tied to their field (aria-describedby, aria-invalid)
    csrf = _csrf(agent)
    r = agent.post("/espace-agent/comptes/utilisateur", data={"csrf": csrf, "identifiant": "y@mairie.fr", "role": "agent",
                                                               "mot_de_passe": "court"})
    assert '<p id="mdp-erreur" class="formulaire-erreur">Mot de passe trop court' in r.text
    assert re.search(r'<input id="mot-de-passe"[^>]* aria-describedby="mdp-aide mdp-erreur" aria-invalid="true">', r.text)
    r = agent.post("/espace-agent/comptes/utilisateur", data={"csrf": csrf, "identifiant": "", "role": "agent",
                                                               "mot_de_passe": "un mot de passe sûr"})
    assert re.search(r'<input id="identifiant"[^>]* aria-describedby="identifiant-aide identifiant-erreur" '
                     r'aria-invalid="true">', r.text)
