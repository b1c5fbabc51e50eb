"""HTTP API: search, ask (JSON and Server-Sent Events), documents with background ingestion jobs,
OpenAI-compatible /v1 routes (also through a real HTTP server and our own OpenAI client), French errors."""

import json
import os
import tempfile
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

os.environ.setdefault("TERRITORIA_MODEL_CACHE", str(Path(tempfile.gettempdir()) / f"territoria-test-models-{os.getuid()}"))

from territoria.models.llm import OpenAICompatLLM, set_llm  # noqa: E402
from territoria.web.app import create_app  # noqa: E402

from test_assistant import ScriptedLLM  # noqa: E402

FICHES = {"F1341", "F1344", "F14929", "F12918", "F10434"}


@pytest.fixture(scope="module")
def client(tmp_path_factory, shared_dir):
    from territoria.core.settings import Settings, get_settings, set_settings
    from territoria.ingest.pipeline import ingest_paths

    old = get_settings()
    d = tmp_path_factory.mktemp("api") / "data"
    set_settings(Settings(data_dir=d, embed_mode="off"))
    from conftest import fiche_rows, write_jsonl

    src = write_jsonl(tmp_path_factory.mktemp("src") / "fiches.jsonl", fiche_rows(shared_dir, FICHES))
    assert ingest_paths([src], tenant="t1").ok
    set_llm(ScriptedLLM())
    from conftest import auth_headers

    with TestClient(create_app()) as c:
        c.headers.update(auth_headers("t1", role="admin", instance=True))
        yield c
    set_llm(None)
    set_settings(old)


H = {"X-Territoria-Tenant": "t1"}


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
            out.append((ev, json.loads(data) if data != "[DONE]" else "[DONE]"))
    return out


def test_search_route(client):
    r = client.post("/api/search", json={"query": "carte d'identité perdue", "k": 3, "mode": "bm25"}, headers=H)
    assert r.status_code == 200
    hits = r.json()["hits"]
    assert hits and hits[0]["doc_id"] == "F1344" and hits[0]["url"].startswith("https://")
    r = client.post("/api/search", json={"query": "   "}, headers=H)
    assert r.status_code == 400 and "vide" in r.json()["error"]["message"]
    r = client.post("/api/search", json={"query": "piscine " * 300}, headers=H)  # one request cannot hog the CPU
    assert r.status_code == 400 and "trop longue" in r.json()["error"]["message"]
    r = client.post("/api/search", json={"query": "passeport", "filters": {"date_from": "2024-13-40"}}, headers=H)
    assert r.status_code == 400 and "illisible" in r.json()["error"]["message"] and r.json()["error"]["hint"]
    r = client.post("/api/search", json={"query": "passeport", "mode": "bm25", "filters": {"date_from": "2099"}},
                    headers=H)
    assert r.status_code == 200 and r.json()["hits"] == [] and "filtres" in r.json()["message"]


def test_invalid_requests_say_which_field_and_what_it_expects(client):
    def err(body, **kw):
        r = client.post("/api/search", headers={**H, "content-type": "application/json"}, content=body, **kw)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
        return r.json()["error"]["message"]

    assert "pas du JSON valide" in err("pas du json")
    assert "« query » (texte attendu)" in err('{"query": 12}')  # the field named query was dropped
    assert "« k » (nombre entier attendu)" in err('{"query": "x", "k": "beaucoup"}')
    assert "objet JSON" in err("[1, 2]")
    assert "« query » manquant" in err("{}")
    r = client.post("/v1/chat/completions", headers=H,
                    json={"n": 2, "messages": [{"role": "user", "content": "Comment refaire un passeport ?"}]})
    assert r.status_code == 422 and "« n »" in r.json()["error"]["message"]  # one answer per request, said so
    r = client.post("/v1/chat/completions", headers=H, json={"messages": [{"role": "system", "content": "x"}]})
    assert r.status_code == 400 and "« user »" in r.json()["error"]["hint"]
    r = client.post("/api/ask", headers=H, json={"question": "Et pour un enfant ?", "conversation_id": "../x",
                                                 "stream": True})
    assert r.status_code == 400 and "conversation" in r.json()["error"]["message"]  # JSON, not an SSE error
    r = client.post("/ui/api/ask", json={"question": "x" * 20001})  # the chat's own route has a length cap
    assert r.status_code == 422 and "« question » trop long (20000 au plus)" in r.json()["error"]["message"]


def test_ask_json_and_sse(client):
    r = client.post("/api/ask", json={"question": "Comment refaire une carte d'identité perdue ?"}, headers=H)
    assert r.status_code == 200
    d = r.json()
    assert set(d) >= {"answer", "abstained", "citations", "latency_ms", "model", "energy_wh"}
    assert not d["abstained"] and d["citations"][0]["doc_id"] in FICHES
    if "0.5B" in d["model"]:  # the fallback model is reported to the operator, as a note
        assert any("0.5B" in n for n in d["notes"]) and not any("0.5B" in w for w in d["warnings"])
    with client.stream("POST", "/api/ask", json={"question": "Comment refaire une carte d'identité perdue ?",
                                                 "stream": True}, headers=H) as s:
        assert s.status_code == 200 and s.headers["content-type"].startswith("text/event-stream")
        events = _sse(s.read().decode())
    kinds = [e for e, _ in events]
    assert kinds[0] == "sources" and "token" in kinds and kinds[-1] == "answer"
    final = events[-1][1]
    assert "".join(d["text"] for e, d in events if e == "token") == final["answer"]
    assert final["citations"]


def test_audit_head_for_a_log_server(client):
    from conftest import auth_headers
    from territoria.trust import audit

    client.post("/api/ask", json={"question": "Comment refaire une carte d'identité perdue ?"}, headers=H)
    r = client.get("/api/audit/head")  # the instance key of the fixture
    assert r.status_code == 200, r.text
    head = r.json()
    assert head["seq"] >= 1 and head["hash"] == audit.head()["hash"]
    assert audit.verify([(head["seq"], head["hash"])]).expected_checked == 1
    r = client.get("/api/audit/head", headers=auth_headers("t1", role="admin"))  # a tenant's admin: refused
    assert r.status_code == 403 and "clé d'exploitation" in r.json()["error"]["message"]


def test_instance_key_naming_an_unknown_tenant_gets_a_404_not_an_empty_answer(client):
    """A misspelt X-Territoria-Tenant (or ?tenant=, or a `tenant` field) with an instance key: a French 404
    naming the tenant, on every key-protected route, instead of searching an empty tenant."""
    from fastapi.routing import APIRoute

    from conftest import auth_headers
    from territoria.web.security import PUBLIC_ROUTES, iter_routes

    def unknown(r, name="t1-faute"):
        assert r.status_code == 404, (r.status_code, r.text)
        err = r.json()["error"]
        assert err["code"] == "unknown_tenant" and f"« {name} » inconnue" in err["message"]
        assert "territoria tenant list" in err["hint"]
        return err

    bad = {"X-Territoria-Tenant": "t1-faute"}
    err = unknown(client.post("/api/search", json={"query": "carte d'identité", "mode": "bm25"}, headers=bad))
    assert "X-Territoria-Tenant" in err["message"]
    unknown(client.post("/api/ask", json={"question": "Comment refaire une carte d'identité ?"}, headers=bad))
    unknown(client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "Carte d'identité ?"}]},
                        headers=bad))
    unknown(client.post("/api/documents", files=[("files", ("a.txt", b"texte", "text/plain"))], headers=bad))
    unknown(client.get("/api/documents", headers=bad))
    assert "paramètre « tenant »" in unknown(client.get("/api/documents", params={"tenant": "t1-faute"}))["message"]
    unknown(client.get("/api/documents/F1344", params={"tenant": "t1-faute"}))
    unknown(client.get("/api/audit", params={"tenant": "t1-faute"}))
    # the `tenant` field of a body, and of an upload form, follow the same rule
    err = unknown(client.post("/api/search", json={"query": "carte", "tenant": "t1-faute"}))
    assert "champ « tenant »" in err["message"]
    unknown(client.post("/api/ask", json={"question": "Carte d'identité ?", "tenant": "t1-faute"}))
    unknown(client.post("/api/documents", files=[("files", ("a.txt", b"texte", "text/plain"))],
                        data={"tenant": "t1-faute"}))
    from territoria.trust import tenants

    assert not tenants.exists("t1-faute")  # the upload did not create the misspelt tenant
    # every key-protected route of the application answers the same way
    checked = []
    for m, path, route in iter_routes(client.app.routes):
        if (m, path) in PUBLIC_ROUTES or not path.startswith(("/api/", "/v1/")) or not isinstance(route, APIRoute):
            continue
        unknown(client.request(m, path.replace("{job_id}", "x").replace("{doc_id:path}", "x"), headers=bad))
        checked.append(f"{m} {path}")
    assert {"POST /api/search", "GET /api/jobs/{job_id}", "DELETE /api/documents/{doc_id:path}", "GET /v1/models",
            "POST /v1/embeddings", "GET /api/audit/head"} <= set(checked), checked
    # the right name still works, and the default tenant of the install needs no registration
    r = client.post("/api/search", json={"query": "carte d'identité perdue", "mode": "bm25"}, headers=H)
    assert r.status_code == 200 and r.json()["hits"]
    assert client.get("/api/me", headers={"X-Territoria-Tenant": "default"}).status_code == 200
    # a key bound to its tenant keeps its 403 for any other name, existing or not (no hint that a name exists)
    own = auth_headers("t1", role="admin")
    tenants.ensure("t2")
    for other in ("t2", "t1-faute"):
        r = client.post("/api/search", json={"query": "carte"}, headers={**own, "X-Territoria-Tenant": other})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
        r = client.post("/api/search", json={"query": "carte", "tenant": other}, headers=own)
        assert r.status_code == 403
    assert client.post("/api/search", json={"query": "carte"}, headers={**own, **H}).status_code == 200


def test_errors_are_french_json(client):
    r = client.post("/api/ask", json={"questio": "x"}, headers=H)
    assert r.status_code == 422 and "Requête invalide" in r.json()["error"]["message"]
    assert "question" in r.json()["error"]["message"]
    r = client.get("/api/nulle-part")
    assert r.status_code == 404 and r.json()["error"]["message"] == "Adresse introuvable."
    r = client.post("/api/ask", json={"question": ""}, headers=H)
    assert r.status_code == 400 and "vide" in r.json()["error"]["message"]
    r = client.post("/api/search", json={"query": "x"}, headers={"X-Territoria-Tenant": "../etc"})
    assert r.status_code == 400 and "invalide" in r.json()["error"]["message"]
    r = client.get("/api/jobs/job-inexistant")
    assert r.status_code == 404 and "introuvable" in r.json()["error"]["message"]


def test_upload_job_list_get_delete(client):
    text = ("Règlement du cimetière communal de Valbrume\n\nLes concessions funéraires sont accordées pour "
            "quinze ou trente ans. Le tarif d'une concession trentenaire est fixé par le conseil municipal.")
    r = client.post("/api/documents", files=[("files", ("cimetiere.txt", text.encode(), "text/plain"))],
                    data={"source": "mairie"}, headers=H)
    assert r.status_code == 202
    job = r.json()
    assert job["status"] in ("queued", "running", "done") and job["status_url"] == f"/api/jobs/{job['job_id']}"
    deadline = time.time() + 60
    while time.time() < deadline:
        st = client.get(job["status_url"]).json()
        if st["status"] in ("done", "failed"):
            break
        time.sleep(0.2)
    assert st["status"] == "done", st
    assert st["doc_ids"] == ["cimetiere.txt"]
    listed = client.get("/api/documents", params={"source": "mairie"}, headers=H).json()
    assert [d["doc_id"] for d in listed["documents"]] == ["cimetiere.txt"]
    assert client.get("/api/documents/cimetiere.txt", headers=H).json()["title"]
    hits = client.post("/api/search", json={"query": "concession cimetière", "mode": "bm25"}, headers=H).json()["hits"]
    assert hits[0]["doc_id"] == "cimetiere.txt"
    assert client.delete("/api/documents/cimetiere.txt", headers=H).json()["deleted"] is True
    r = client.delete("/api/documents/cimetiere.txt", headers=H)
    assert r.status_code == 404 and "introuvable" in r.json()["error"]["message"]


def test_openai_models_embeddings_and_chat(client):
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert "territoria-assistant" in ids and "e5-small" in ids
    e = client.post("/v1/embeddings", json={"input": ["carte d'identité", "passeport"], "model": "e5-small"}).json()
    assert len(e["data"]) == 2 and len(e["data"][0]["embedding"]) == 384
    r = client.post("/v1/embeddings", json={"input": "x", "model": "inconnu"})
    assert r.status_code == 404 and "inconnu" in r.json()["error"]["message"]
    r = client.post("/v1/embeddings", json={"input": "x", "model": "openai/bge-m3"})  # never a relay elsewhere
    assert r.status_code == 404
    r = client.post("/v1/embeddings", json={"input": ["mot " * 2500], "model": "e5-small"})  # bounded work
    assert r.status_code == 413 and "trop longs" in r.json()["error"]["message"]
    body = {"model": "territoria-assistant", "messages": [
        {"role": "system", "content": "Tu es un assistant."},
        {"role": "user", "content": "Comment refaire une carte d'identité perdue ?"}]}
    d = client.post("/v1/chat/completions", json=body, headers=H).json()
    content = d["choices"][0]["message"]["content"]
    assert d["object"] == "chat.completion" and "[1]" in content and "Sources :" in content
    assert d["citations"][0]["doc_id"] in FICHES
    with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}, headers=H) as s:
        events = _sse(s.read().decode())
    assert events[-1][1] == "[DONE]"
    chunks = [d for _, d in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert "[1]" in text and "Sources :" in text and chunks[-1]["choices"][0]["finish_reason"] == "stop"
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "system", "content": "x"}]})
    assert r.status_code == 400 and "usager" in r.json()["error"]["message"]


def test_real_http_server_with_openai_client(client):
    """`territoria serve`'s /v1/chat/completions through uvicorn on loopback, read by our OpenAI backend."""
    from conftest import serving

    with serving(lambda port: create_app()) as port:
        key = client.headers["Authorization"].split(" ", 1)[1]  # OpenAI clients send the API key as a bearer token
        remote = OpenAICompatLLM(base_url=f"http://127.0.0.1:{port}/v1", model="territoria-assistant", headers=H,
                                 api_key=key)
        msgs = [{"role": "user", "content": "Comment refaire une carte d'identité perdue ?"}]
        pieces = []
        comp = remote.generate(msgs, on_token=pieces.append, max_tokens=100)
        assert len(pieces) >= 2 and "[1]" in comp.text and "Sources :" in comp.text
        assert remote.generate(msgs).text.startswith(comp.text.split("[1]")[0][:20])
        remote.close()


def test_openapi_docs_and_chat_page(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    for path in ("/api/search", "/api/ask", "/api/documents", "/api/jobs/{job_id}", "/v1/chat/completions",
                 "/v1/models", "/v1/embeddings"):
        assert path in spec["paths"]
    page = client.get("/")
    assert page.status_code == 200 and "Posez votre question" in page.text


def test_serve_says_in_french_why_it_cannot_listen(tmp_path):
    import socket

    from typer.testing import CliRunner

    from territoria.cli import app

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "serve", "--port", str(port)])
    assert r.exit_code == 1 and "déjà utilisé" in r.output  # uvicorn said it in English and exited with 0
    r = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "serve", "--port", "99999"])
    assert r.exit_code == 2
