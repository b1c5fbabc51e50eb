"""Trust layer: tenant isolation under thousands of random calls, roles on every route, API keys and
passwords stored hashed, quotas (429), the hash-chained audit log (tamper detection, concurrent appends
from several processes, purge with an anchor, export) and the CLI contract."""

import json
import multiprocessing
import os
import random
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from conftest import REPO, auth_headers, fiche_rows

TENANTS = ("a", "b", "c")
COMMONS = "sp"
ATTACHED = {"a": [COMMONS], "b": [COMMONS], "c": []}
# unique marker words: each one lives in exactly one document
MARK = {(t, v): f"{w}" for (t, v), w in zip(
    [(t, v) for t in TENANTS for v in ("public", "internal")],
    ["quarvelin", "zostrapel", "mirvadonc", "plectugar", "vorniscal", "trebalmun"])}
MARK[(COMMONS, "public")] = "cobrintal"
FICHES = ["F1341", "F1344", "F14929", "F12918", "F10434", "F2726", "F1448", "F1427", "F31140", "F2741"]


@pytest.fixture(scope="module")
def world(tmp_path_factory, shared_dir):
    """Three tenants and a commons corpus, each document holding its own marker word; keys of every role."""
    from territoria.core.settings import Settings, get_settings, set_settings
    from territoria.ingest.pipeline import ingest_paths
    from territoria.models.llm import set_llm
    from territoria.search.dense import embed_pending
    from territoria.store import get_store
    from territoria.trust import tenants
    from territoria.web.app import create_app
    from test_assistant import ScriptedLLM

    old = get_settings()
    d = tmp_path_factory.mktemp("trust") / "data"
    set_settings(Settings(data_dir=d, embed_mode="off"))
    src = tmp_path_factory.mktemp("trust-src")
    fiches = fiche_rows(shared_dir, FICHES)
    assert len(fiches) >= 7
    tenants.create(COMMONS, kind="commons")
    docs = {}
    for i, ((t, vis), word) in enumerate(sorted(MARK.items())):
        if t != COMMONS:
            tenants.create(t, commons=ATTACHED[t])
        f = fiches[i]
        row = {"id": f"{t}-{vis}-{f['id']}", "title": f["title"],
               "text": f["text"][:900] + f"\n\nCode de suivi du dossier : {word}.", "url": f.get("url"),
               "visibility": vis}
        p = src / f"{t}-{vis}.jsonl"
        p.write_text(json.dumps(row, ensure_ascii=False), encoding="utf-8")
        assert ingest_paths([p], tenant=t).ok
        docs[row["id"]] = (t, vis, word)
    for t in (*TENANTS, COMMONS):
        embed_pending(get_store(), t)  # dense search is checked too
    llm = ScriptedLLM()
    set_llm(llm)
    keys = {(t, r): auth_headers(t, role=r) for t in TENANTS for r in ("public", "agent", "admin")}
    from territoria.store import get_trust_store

    for t in TENANTS:  # thousands of calls in a few minutes: above the default per-minute quota
        get_trust_store().set_tenant_quota(t, 100_000, None)
    with TestClient(create_app()) as client:
        yield {"client": client, "keys": keys, "docs": docs, "llm": llm, "dir": d}
    set_llm(None)
    set_settings(old)


def _allowed(tenant: str, role: str, docs: dict) -> set[str]:
    scope = [tenant, *ATTACHED[tenant]]
    return {d for d, (t, vis, _) in docs.items() if t in scope and (role != "public" or vis == "public")}


def _foreign_words(tenant: str, role: str, docs: dict) -> list[str]:
    ok = _allowed(tenant, role, docs)
    return [w for d, (_, _, w) in docs.items() if d not in ok]


def test_isolation_thousands_of_random_calls(world):
    """Random search / ask / documents / conversations / audit calls across tenants and roles: 0 leaks."""
    c, keys, docs, llm = world["client"], world["keys"], world["docs"], world["llm"]
    rng = random.Random(6)
    words = [w for (_, _, w) in docs.values()]
    fillers = ["", "carte d'identité", "démarche", "mairie", "dossier", "code de suivi"]
    leaks: list[str] = []
    own_found = 0
    ops = {"search": 0, "ask": 0, "list": 0, "get": 0, "audit": 0, "conversation": 0, "cross_header": 0,
           "public_page": 0}
    conversations: dict[str, str] = {}

    def check_text(where: str, text: str, foreign: list[str]) -> None:
        for w in foreign:
            if w in text:
                leaks.append(f"{where}: « {w} »")

    for i in range(2400):
        t = rng.choice(TENANTS)
        role = rng.choice(("public", "agent", "admin"))
        h = keys[(t, role)]
        allowed, foreign = _allowed(t, role, docs), _foreign_words(t, role, docs)
        op = rng.choices(list(ops), weights=[40, 3, 10, 15, 6, 2, 4, 6])[0]
        ops[op] += 1
        q = f"{rng.choice(words)} {rng.choice(fillers)}".strip()
        if op == "search":
            r = c.post("/api/search", json={"query": q, "k": 10, "mode": rng.choice(("bm25", "dense", "hybrid"))},
                       headers=h)
            assert r.status_code == 200, r.text
            for hit in r.json()["hits"]:
                if hit["doc_id"] not in allowed:
                    leaks.append(f"search {t}/{role}: {hit['doc_id']}")
                check_text(f"search {t}/{role}", hit["text"] + hit["title"], foreign)
                own_found += any(w in hit["text"] for w in words if w not in foreign)
        elif op == "ask":
            n_calls = len(llm.calls)
            question = f"Que dit le document au code de suivi {q} ?"
            r = c.post("/api/ask", json={"question": question}, headers=h)
            assert r.status_code == 200, r.text
            a = r.json()
            for cit in a["citations"]:
                if cit["doc_id"] not in allowed:
                    leaks.append(f"ask {t}/{role}: {cit['doc_id']}")
            # the question itself may name another tenant's word: what comes back beyond it must not
            shown = {k: a[k] for k in ("answer", "citations", "evidence")}
            check_text(f"ask {t}/{role}", json.dumps(shown, ensure_ascii=False).replace(q, ""), foreign)
            for call in llm.calls[n_calls:]:
                check_text(f"prompt {t}/{role}", json.dumps(call, ensure_ascii=False).replace(q, ""), foreign)
        elif op == "list":
            r = c.get("/api/documents", headers=h)
            assert r.status_code == 200
            for dd in r.json()["documents"]:
                if dd["doc_id"] not in allowed:
                    leaks.append(f"list {t}/{role}: {dd['doc_id']}")
        elif op == "get":
            did = rng.choice(list(docs))
            r = c.get(f"/api/documents/{did}", headers=h)
            own = did in allowed and docs[did][0] == t
            if (r.status_code == 200) != own:
                leaks.append(f"get {t}/{role}: {did} → {r.status_code}")
        elif op == "audit":
            r = c.get("/api/audit", headers=h)
            if role != "admin":
                assert r.status_code == 403
                continue
            assert r.status_code == 200
            for line in r.text.splitlines():
                row = json.loads(line)
                if row["tenant"] != t:
                    leaks.append(f"audit {t}: row of {row['tenant']}")
                other_words = _foreign_words(t, "admin", docs)
                check_text(f"audit {t}", json.dumps(row["retrieved"]) + json.dumps(
                    {k: v for k, v in json.loads(row["output"]).items() if k != "answer"}), other_words)
        elif op == "conversation":
            # another tenant's conversation id never brings its history
            other = rng.choice([x for x in TENANTS if x != t])
            cid = conversations.setdefault(other, f"conv-{other}")
            c.post("/api/ask", json={"question": f"code de suivi {MARK[(other, 'public')]}", "conversation_id": cid},
                   headers=keys[(other, "admin")])
            n_calls = len(llm.calls)
            r = c.post("/api/ask", json={"question": "et pour celui-là ?", "conversation_id": cid}, headers=h)
            assert r.status_code == 200
            check_text(f"conversation {t}/{role}", json.dumps(r.json(), ensure_ascii=False), foreign)
            for call in llm.calls[n_calls:]:
                check_text(f"conversation prompt {t}/{role}", json.dumps(call, ensure_ascii=False), foreign)
        elif op == "cross_header":
            other = rng.choice([x for x in TENANTS if x != t])
            r = c.post("/api/search", json={"query": q}, headers={**h, "X-Territoria-Tenant": other})
            if r.status_code != 403:
                leaks.append(f"cross header {t}→{other}: {r.status_code}")
            r = c.post("/api/search", json={"query": q, "tenant": other}, headers=h)
            if r.status_code != 403:
                leaks.append(f"cross body {t}→{other}: {r.status_code}")
        elif op == "public_page":
            did = rng.choice(list(docs))
            r = c.get("/sources", params={"tenant": t, "doc": did})
            visible = did in _allowed(t, "public", docs)
            if (r.status_code == 200) != visible:
                leaks.append(f"public page {t}: {did} → {r.status_code}")
            if r.status_code == 200:
                check_text(f"public page {t}", r.text, _foreign_words(t, "public", docs))
    print(f"\nisolation: {sum(ops.values())} calls {ops}, leaks: {len(leaks)}")
    assert leaks == [], leaks[:20]
    assert own_found > 100  # searches do find the caller's own documents (the test is not vacuous)
    assert ops["ask"] > 20 and ops["get"] > 200


def test_every_route_requires_a_role_except_the_public_ones(world):
    """Enumerate the application's routes: each one not declared public refuses an anonymous call."""
    from territoria.web.security import PUBLIC_ROUTES, iter_routes

    c = world["client"]
    seen_public, checked = set(), []
    for m, path, route in iter_routes(c.app.routes):
        if (m, path) in PUBLIC_ROUTES:
            seen_public.add((m, path))
            continue
        assert isinstance(route, APIRoute), f"{m} {path} is neither public nor protected"
        url = re.sub(r"\{[^}]+\}", "x", path)
        r = c.request(m, url, headers={"Authorization": ""}, follow_redirects=False)
        checked.append(f"{m} {path}")
        if path.startswith("/espace-agent") and not path.startswith("/espace-agent/api") and r.status_code == 303:
            assert r.headers["location"].startswith("/espace-agent/connexion"), (m, path)
            continue
        assert r.status_code in (401, 403), f"{m} {path} answered {r.status_code} without credentials"
        assert "message" in r.text or "refusée" in r.text
    print(f"\n{len(checked)} protected routes checked, {len(seen_public)} public")
    assert len(checked) >= 20 and "POST /api/ask" in checked and "GET /api/audit" in checked
    assert seen_public == PUBLIC_ROUTES  # every declared exception exists (no stale entry)
    assert c.get("/api/health").status_code == 200
    assert c.get("/", params={"tenant": "a"}).status_code == 200


def test_roles_and_keys(world):
    c, keys = world["client"], world["keys"]
    from territoria.store import get_trust_store
    from territoria.trust import accounts

    # public keys cannot upload or delete; agents cannot delete; admins can
    r = c.post("/api/documents", files={"files": ("x.txt", b"texte", "text/plain")}, headers=keys[("a", "agent")])
    assert r.status_code == 403 and "admin" in r.json()["error"]["message"]
    assert c.delete("/api/documents/whatever", headers=keys[("a", "public")]).status_code == 403
    assert c.delete("/api/documents/whatever", headers=keys[("a", "admin")]).status_code == 404
    # keys are stored as SHA-256 only; a revoked key is refused at once
    k = accounts.create_key(tenant="a", role="agent")
    dump = "\n".join(str(r) for r in get_trust_store().execute("SELECT * FROM api_keys").fetchall())
    assert k["key"] not in dump and k["key_id"] in dump
    h = {"Authorization": f"Bearer {k['key']}"}
    assert c.get("/api/me", headers=h).json()["role"] == "agent"
    accounts.revoke_key(k["key_id"])
    r = c.get("/api/me", headers=h)
    assert r.status_code == 401 and "révoquée" in r.json()["error"]["message"]
    assert "apikey list" in r.json()["error"]["hint"]  # the key is wrong: not "add the Authorization header"
    assert c.get("/api/me", headers={"Authorization": "Bearer tk_00000000_faux"}).status_code == 401
    assert "Ajoutez l'en-tête" in c.get("/api/me").json()["error"]["hint"]


def _login(c, identifiant: str, mot_de_passe: str):
    """The agent-space login form, posted with the token of its page (login CSRF protection)."""
    page = c.get("/espace-agent/connexion", follow_redirects=False)
    assert page.status_code == 200, page.status_code
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
    return c.post("/espace-agent/connexion", data={"identifiant": identifiant, "mot_de_passe": mot_de_passe,
                                                   "csrf": token}, follow_redirects=False)


def test_users_passwords_and_agent_space_roles(world):
    c = world["client"]
    from territoria.store import get_trust_store
    from territoria.trust import accounts

    accounts.create_user("agent.b@exemple.fr", tenant="b", role="agent", password="un mot de passe long")
    h = get_trust_store().get_user("agent.b@exemple.fr")["password_hash"]
    assert h.startswith("$argon2id$") and "un mot de passe long" not in h
    with pytest.raises(Exception):
        accounts.create_user("court", tenant="b", role="agent", password="court")
    assert accounts.authenticate("Agent.B@Exemple.fr", "un mot de passe long")["username"] == "agent.b@exemple.fr"
    with pytest.raises(Exception, match="existe déjà"):  # one person, whatever the letter case
        accounts.create_user("AGENT.B@exemple.fr", tenant="b", role="agent", password="un autre mot de passe")
    r = _login(c, "agent.b@exemple.fr", "faux mot de passe")
    assert r.status_code == 401
    r = _login(c, "agent.b@exemple.fr", "un mot de passe long")
    assert r.status_code == 303
    page = c.get("/espace-agent/documents")
    assert page.status_code == 200 and "b-internal" in page.text and "a-public" not in page.text
    assert c.get("/espace-agent/personnalisation").status_code == 403  # admin only
    assert c.get("/espace-agent/journal").status_code == 403
    assert c.get("/espace-agent/journal/export?format=csv").status_code == 403
    assert "Journal d'audit" not in page.text and 'name="tenant"' not in page.text  # no tenant switch either
    accounts.delete_user("agent.b@exemple.fr")  # a deleted user's session stops working at once
    r = c.get("/espace-agent/documents", follow_redirects=False)
    assert r.status_code == 303
    c.cookies.clear()


def test_quotas_answer_429_in_french(world):
    c, keys = world["client"], world["keys"]
    from territoria.store import get_trust_store
    from territoria.trust import quotas

    ts = get_trust_store()
    quotas.reset_windows()
    ts.set_tenant_quota("c", 5, None)
    codes = [c.post("/api/search", json={"query": "mairie"}, headers=keys[("c", "agent")]).status_code
             for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
    r = c.post("/api/search", json={"query": "mairie"}, headers=keys[("c", "agent")])
    assert r.status_code == 429 and "par minute" in r.json()["error"]["message"] and int(r.headers["Retry-After"]) > 0
    assert c.post("/api/search", json={"query": "mairie"}, headers=keys[("a", "agent")]).status_code == 200
    ts.set_tenant_quota("c", None, None)
    quotas.reset_windows()
    # LLM tokens per day: the tenant's budget is spent by an answer, the next question is refused
    budget = quotas.tokens_used("c") + 50  # what earlier tests used today, plus a small budget
    ts.set_tenant_quota("c", None, budget)
    r = c.post("/api/ask", json={"question": f"code de suivi {MARK[('c', 'public')]}"}, headers=keys[("c", "admin")])
    assert r.status_code == 200
    if quotas.tokens_used("c") < budget:
        ts.add_usage(quotas._today(), [("tenant", "c")], 50)
    r = c.post("/api/ask", json={"question": "une autre question"}, headers=keys[("c", "admin")])
    assert r.status_code == 429 and "quota quotidien" in r.json()["error"]["message"]
    ts.set_tenant_quota("c", None, None)


def test_answers_are_audited_with_actor_sources_and_prompt(world):
    c, keys = world["client"], world["keys"]
    from territoria.trust import audit

    r = c.post("/api/ask", json={"question": f"code de suivi {MARK[('a', 'internal')]} ?"}, headers=keys[("a", "agent")])
    a = r.json()
    row = next(x for x in audit.rows(tenant="a") if x["seq"] == a["audit_id"])
    assert row["use_case"] == "assistant.answer" and row["actor"].startswith("key:")
    assert row["prompt_version"] == a["prompt_version"] and "code de suivi" in row["input"]
    assert json.loads(row["retrieved"]) and row["latency_ms"] > 0 and row["energy_wh"] is not None
    assert audit.verify().ok


# -- audit log: tamper detection, concurrency, purge, export -----------------------------------------

def _fill(n: int):
    from territoria.trust import audit

    for i in range(n):
        audit.record("test.output", tenant=("a", "b")[i % 2], input=f"entrée {i}", output={"i": i},
                     retrieved=[f"doc{i}"], latency_ms=i, energy_wh=0.001)


def _db(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(data_dir / "territoria.sqlite3", isolation_level=None)


def test_audit_tamper_is_detected_and_named(data_dir):
    from territoria.trust import audit

    _fill(30)
    assert audit.verify().ok
    db = _db(data_dir)
    db.execute("UPDATE audit_log SET output = '{\"i\": 999}' WHERE seq = 5")            # edit
    db.execute("DELETE FROM audit_log WHERE seq = 10")                                  # delete
    r12, r13 = (db.execute("SELECT * FROM audit_log WHERE seq = ?", (s,)).fetchone() for s in (12, 13))
    cols = [x[1] for x in db.execute("PRAGMA table_info(audit_log)")]
    db.execute("DELETE FROM audit_log WHERE seq IN (12, 13)")                            # swap 12 and 13
    for seq, row in ((12, r13), (13, r12)):
        vals = dict(zip(cols, row), seq=seq)
        db.execute(f"INSERT INTO audit_log ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                   [vals[k] for k in cols])
    db.execute("DELETE FROM audit_log WHERE seq >= 29")                                 # cut the tail
    v = audit.verify()
    kinds = {(p.kind, p.seq) for p in v.problems}
    assert ("edited", 5) in kinds
    assert ("deleted", 10) in kinds
    assert ("reordered", 12) in kinds and ("reordered", 13) in kinds
    assert ("truncated", 29) in kinds
    assert not v.ok and all(p.message for p in v.problems)
    # the CLI says it too, with a non-zero exit code
    out = subprocess.run([sys.executable, "-m", "territoria.cli", "--data-dir", str(data_dir), "audit", "verify"],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 1 and "ligne 5 modifiée" in out.stdout and "ligne 10 supprimée" in out.stdout


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "territoria.cli", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, cwd=REPO)


def test_audit_rewritten_chain_is_caught_by_heads_recorded_elsewhere(data_dir, tmp_path):
    from territoria.trust import audit

    assert _cli(data_dir, "audit", "head", "--json").stdout.strip() == "null"
    _fill(8)
    heads = tmp_path / "tetes.jsonl"  # what a daily cron copies to another system
    heads.write_text("null\n", encoding="utf-8")  # a first day with an empty log
    out = _cli(data_dir, "audit", "head", "--json")
    assert out.returncode == 0, out.stderr
    with heads.open("a", encoding="utf-8") as f:
        f.write(out.stdout)
    assert json.loads(out.stdout)["seq"] == 8
    _fill(4)
    with heads.open("a", encoding="utf-8") as f:
        f.write(_cli(data_dir, "audit", "head").stdout)  # "SEQ HASH" form
    assert audit.verify(audit.parse_expected(heads.read_text())).expected_checked == 2

    # someone with write access edits row 5 and recomputes every later hash and the head: the chain is valid
    db = _db(data_dir)
    cols = [x[1] for x in db.execute("PRAGMA table_info(audit_log)")]
    rows = [dict(zip(cols, r)) for r in db.execute("SELECT * FROM audit_log ORDER BY seq")]
    prev = rows[3]["hash"]
    for r in rows[4:]:
        if r["seq"] == 5:
            r["output"] = '{"i": 999}'
        r["prev_hash"] = prev
        r["hash"] = prev = audit.row_hash(r)
        db.execute("UPDATE audit_log SET output = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                   (r["output"], r["prev_hash"], r["hash"], r["seq"]))
    db.execute("UPDATE audit_head SET last_hash = ?", (prev,))
    assert audit.verify().ok
    # ... but not against the heads recorded before
    v = audit.verify(audit.parse_expected(heads.read_text()))
    assert {(p.kind, p.seq) for p in v.problems} == {("rewritten", 8), ("rewritten", 12)}
    out = _cli(data_dir, "audit", "verify", "--expect-file", str(heads))
    assert out.returncode == 1 and "ligne 8 : son empreinte n'est plus celle relevée" in out.stdout
    # a tail cut below a recorded head is named too
    db.execute("DELETE FROM audit_log WHERE seq > 10")
    db.execute("UPDATE audit_head SET last_seq = 10, last_hash = (SELECT hash FROM audit_log WHERE seq = 10)")
    v = audit.verify(audit.parse_expected(heads.read_text()))
    assert ("missing", 12) in {(p.kind, p.seq) for p in v.problems}
    # an unreadable line is a clear error, not a silent pass
    bad = tmp_path / "bad.txt"
    bad.write_text("12 pas-une-empreinte\n", encoding="utf-8")
    out = _cli(data_dir, "audit", "verify", "--expect-file", str(bad))
    assert out.returncode == 2 and "n'est pas une empreinte SHA-256" in (out.stdout + out.stderr)  # usage, not altered


def test_audit_head_published_then_a_whole_rewritten_chain_fails_verify_expect(data_dir):
    """The head a DSI writes down (ticket, paper, another server): number, hash, row count, last time. The whole
    database is then rewritten consistently (every row changed, every hash and the head recomputed): plain
    `audit verify` passes, `audit verify --expect SEQ:HASH` with the published head fails, in French."""
    from territoria.trust import audit

    _fill(6)
    out = _cli(data_dir, "audit", "head", "--json")
    assert out.returncode == 0, out.stderr
    published = json.loads(out.stdout)
    last = list(audit.rows())[-1]
    assert published["seq"] == 6 and published["hash"] == last["hash"]
    assert published["rows"] == 6 and published["last_at"] == last["at"]
    out = _cli(data_dir, "audit", "head")
    assert out.stdout == f"6 {published['hash']}\n"  # the line to copy, alone on stdout (the --expect-file format)
    assert "6 ligne(s) conservée(s)" in out.stderr and "la dernière écrite le" in out.stderr
    assert f"audit verify --expect 6:{published['hash']}" in out.stderr
    expect = f"{published['seq']}:{published['hash']}"
    assert _cli(data_dir, "audit", "verify", "--expect", expect).returncode == 0

    # the whole chain rewritten in place from the first row, consistently
    db = _db(data_dir)
    cols = [x[1] for x in db.execute("PRAGMA table_info(audit_log)")]
    prev = audit.GENESIS
    for r in [dict(zip(cols, r)) for r in db.execute("SELECT * FROM audit_log ORDER BY seq")]:
        r["output"] = json.dumps({"i": -r["seq"]})
        r["actor"] = "cli:quelqu-un-d-autre"
        r["prev_hash"] = prev
        r["hash"] = prev = audit.row_hash(r)
        db.execute("UPDATE audit_log SET output = ?, actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                   (r["output"], r["actor"], r["prev_hash"], r["hash"], r["seq"]))
    db.execute("UPDATE audit_head SET last_hash = ?", (prev,))
    assert prev != published["hash"]
    out = _cli(data_dir, "audit", "verify")
    assert out.returncode == 0 and "Journal intègre : 6 ligne(s)" in out.stdout  # the chain alone cannot tell
    out = _cli(data_dir, "audit", "verify", "--expect", expect)
    assert out.returncode == 1
    assert "Journal ALTÉRÉ" in out.stdout and "ligne 6 : son empreinte n'est plus celle relevée auparavant" in out.stdout
    assert "le journal a été réécrit" in out.stdout
    out = _cli(data_dir, "audit", "verify", "--json", "--expect", expect)
    v = json.loads(out.stdout)
    assert out.returncode == 1 and not v["ok"] and v["expected_checked"] == 1
    assert [(p["kind"], p["seq"]) for p in v["problems"]] == [("rewritten", 6)]
    # a bare hash (no row number) is a clear usage error, not a silent pass
    out = _cli(data_dir, "audit", "verify", "--expect", published["hash"])
    assert out.returncode == 2 and "empreinte sans numéro de ligne" in (out.stdout + out.stderr)  # usage error
    assert "NUMÉRO:EMPREINTE" in (out.stdout + out.stderr)
    out = _cli(data_dir, "audit", "verify", "--json", "--expect", "six:" + published["hash"])
    assert out.returncode == 2 and "illisible" in (out.stdout + out.stderr) and "ALTÉRÉ" not in out.stdout


def test_a_deleted_recorded_row_is_reported_once(data_dir):
    from territoria.trust import audit

    _fill(12)
    heads = [(8, next(r["hash"] for r in audit.rows() if r["seq"] == 8)), (12, audit.head()["hash"])]
    _db(data_dir).execute("DELETE FROM audit_log WHERE seq IN (7, 8)")
    v = audit.verify(heads)
    assert [(p.kind, p.seq) for p in v.problems] == [("deleted", 7)]  # not a second "missing" for row 8
    assert "7 à 8 supprimées" in v.problems[0].message and "ligne 8 avait été relevée" in v.problems[0].message
    assert v.expected_checked == 2


def test_heads_older_than_a_purge_are_reported_unverifiable(data_dir):
    from territoria.trust import audit

    _fill(6)
    first = (3, next(r["hash"] for r in audit.rows() if r["seq"] == 3))
    last = (6, audit.head()["hash"])
    audit.purge(days=0)
    v = audit.verify([first, last])
    assert v.ok and v.expected_unverifiable == 1 and v.expected_checked == 1  # 6 is the anchor row
    v = audit.verify([(6, "0" * 64)])
    assert not v.ok and v.problems[0].kind == "rewritten"


def _appender(data_dir: str, n: int, tag: str) -> None:
    os.environ["TERRITORIA_DATA_DIR"] = data_dir
    from territoria.core.settings import Settings, set_settings
    from territoria.trust import audit

    set_settings(Settings(data_dir=Path(data_dir)))
    for i in range(n):
        audit.record("test.concurrent", tenant=tag, input=f"{tag}-{i}", output=i)


def test_audit_concurrent_appends_from_processes_keep_one_chain(data_dir):
    from territoria.trust import audit

    _fill(1)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_appender, args=(str(data_dir), 40, f"p{i}")) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    v = audit.verify()
    assert v.ok, [p.message for p in v.problems]
    assert v.rows == 161 and v.first_seq == 1 and v.last_seq == 161


def test_audit_purge_keeps_the_chain_verifiable_and_export(data_dir):
    from territoria.trust import audit

    _fill(12)
    jsonl = "".join(audit.export("jsonl", tenant="a"))
    rows = [json.loads(x) for x in jsonl.splitlines()]
    assert len(rows) == 6 and {r["tenant"] for r in rows} == {"a"} and rows[0]["retrieved"] == ["doc0"]
    csv_text = "".join(audit.export("csv"))
    assert csv_text.splitlines()[0].startswith("seq,tenant,actor,at") and len(csv_text.splitlines()) == 13
    today = time.strftime("%Y-%m-%d")
    assert len("".join(audit.export("jsonl", start=today, end=today)).splitlines()) == 12
    assert "".join(audit.export("jsonl", end="2000-01-01")) == ""
    res = audit.purge(days=0)
    assert res["purged"] == 12 and res["through_seq"] == 12
    v = audit.verify()
    assert v.ok and v.anchor["through_seq"] == 12 and v.rows == 1  # the purge itself is logged
    _fill(3)
    assert audit.verify().ok
    db = _db(data_dir)
    db.execute("UPDATE audit_anchor SET last_hash = ?", ("f" * 64,))  # a forged anchor breaks the first link
    assert not audit.verify().ok


def test_anonymised_inputs_are_stored_as_keyed_hashes(data_dir, monkeypatch):
    from territoria.trust import audit

    monkeypatch.setenv("TERRITORIA_AUDIT_ANONYMISE", "1")
    row = audit.record("assistant.answer", tenant="a", input="Je m'appelle Jeanne Martin", output="réponse")
    stored = next(audit.rows())
    assert stored["input"] is None and stored["input_hash"] == row["input_hash"] != ""
    assert "Jeanne" not in json.dumps(stored, ensure_ascii=False)
    assert audit.input_digest("Je m'appelle Jeanne Martin") == stored["input_hash"]
    assert audit.verify().ok


def test_cli_contract_tenants_are_isolated(tmp_path):
    d = tmp_path / "d"
    doc = tmp_path / "note.txt"
    doc.write_text("Le mot zorglubine n'apparaît que dans ce document de la collectivité a.", encoding="utf-8")

    def run(*args):
        return subprocess.run([sys.executable, "-m", "territoria.cli", "--data-dir", str(d), *args],
                              capture_output=True, text=True, cwd=REPO, timeout=300)

    assert run("tenant", "create", "a").returncode == 0
    assert run("ingest", "--tenant", "a", str(doc), "--dense", "off").returncode == 0
    out = run("search", "--tenant", "b", "zorglubine", "--json")
    assert out.returncode == 0 and json.loads(out.stdout) == []
    hits = json.loads(run("search", "--tenant", "a", "zorglubine", "--json").stdout)
    assert hits and hits[0]["doc_id"] == "note.txt"
    listed = json.loads(run("tenant", "list", "--json").stdout)
    assert [t["tenant"] for t in listed] == ["a"]
    key = run("apikey", "create", "--tenant", "a", "--role", "public", "--json")
    assert key.returncode == 0 and json.loads(key.stdout)["key"].startswith("tk_")
    bad = run("user", "create", "x@y.fr", "--tenant", "nulle-part", "--role", "agent", "--password", "0123456789ab")
    assert bad.returncode != 0 and "inconnue" in bad.stderr


# -- OpenID Connect: a real issuer on loopback (signed ID token), the authorization-code round trip ---------

def _issuer_app(port: int, key, seen: dict):
    import base64
    import secrets as _secrets
    from urllib.parse import urlencode

    from authlib.jose import jwt
    from fastapi import FastAPI, Form
    from fastapi.responses import RedirectResponse

    iss = f"http://127.0.0.1:{port}"
    app = FastAPI()
    codes: dict[str, dict] = {}

    @app.get("/.well-known/openid-configuration")
    def meta():
        return {"issuer": iss, "authorization_endpoint": f"{iss}/authorize", "token_endpoint": f"{iss}/token",
                "jwks_uri": f"{iss}/jwks", "userinfo_endpoint": f"{iss}/userinfo", "response_types_supported": ["code"],
                "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"]}

    @app.get("/jwks")
    def jwks():
        return {"keys": [key.as_dict(is_private=False) | {"kid": "k1", "use": "sig", "alg": "RS256"}]}

    @app.get("/authorize")
    def authorize(redirect_uri: str, state: str, nonce: str, client_id: str):
        code = _secrets.token_hex(8)
        codes[code] = {"nonce": nonce, "client_id": client_id}
        return RedirectResponse(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}", status_code=302)

    @app.post("/token")
    def token(code: str = Form(...)):
        c = codes.pop(code)
        now = int(time.time())
        claims = {"iss": iss, "sub": seen["sub"], "aud": c["client_id"], "iat": now, "exp": now + 300,
                  "nonce": c["nonce"], "email": seen["email"]}
        idt = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key).decode()
        return {"access_token": base64.b64encode(_secrets.token_bytes(12)).decode(), "token_type": "Bearer",
                "expires_in": 300, "id_token": idt}

    return app


def test_openid_connect_login_maps_to_a_user(world, monkeypatch):
    import httpx
    from authlib.jose import JsonWebKey

    from conftest import serving
    from territoria.trust import accounts
    from territoria.web.ui import oidc

    seen = {"sub": "pc-1234", "email": "agente@commune-a.fr"}
    key = JsonWebKey.generate_key("RSA", 2048, is_private=True)
    with serving(lambda port: _issuer_app(port, key, seen)) as port:
        monkeypatch.setenv("TERRITORIA_OIDC_ISSUER", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("TERRITORIA_OIDC_CLIENT_ID", "territoria-test")
        monkeypatch.setenv("TERRITORIA_OIDC_CLIENT_SECRET", "secret-de-test")
        oidc._client.cache_clear()
        c = world["client"]
        c.cookies.clear()
        assert "Se connecter avec ProConnect" in c.get("/espace-agent/connexion").text

        def round_trip():
            r = c.get("/espace-agent/oidc/connexion", follow_redirects=False)
            assert r.status_code == 302 and r.headers["location"].startswith(f"http://127.0.0.1:{port}/authorize")
            back = httpx.get(r.headers["location"], follow_redirects=False).headers["location"]
            return c.get(back.replace("http://testserver", ""), follow_redirects=False)

        r = round_trip()  # a valid identity without an account: refused, with what to do
        assert r.status_code == 403 and "territoria user create agente@commune-a.fr" in r.text
        accounts.create_user("agente@commune-a.fr", tenant="a", role="agent", oidc_subject="agente@commune-a.fr")
        r = round_trip()
        assert r.status_code == 303 and r.headers["location"] == "/espace-agent/documents"
        page = c.get("/espace-agent/documents")
        assert page.status_code == 200 and "a-internal" in page.text and "b-public" not in page.text
        # a forged callback (unknown state) is refused
        c.cookies.clear()
        r = c.get("/espace-agent/oidc/retour?code=x&state=forged", follow_redirects=False)
        assert r.status_code == 401
    oidc._client.cache_clear()
    world["client"].cookies.clear()


def test_agent_space_internal_upload_never_reaches_citizens(world):
    """An admin uploads an internal note in the agent space: agents find it, the public chat and pages do not."""
    c = world["client"]
    from territoria.trust import accounts

    accounts.create_user("admin.a@exemple.fr", tenant="a", role="admin", password="mot de passe administrateur")
    c.cookies.clear()
    r = _login(c, "admin.a@exemple.fr", "mot de passe administrateur")
    assert r.status_code == 303
    page = c.get("/espace-agent/documents").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert 'name="visibilite"' in page
    note = "Note interne : la procédure ombrevalise concerne le personnel communal seulement."
    r = c.post("/espace-agent/api/televersement", files={"files": ("note-interne.txt", note.encode(), "text/plain")},
               data={"visibility": "internal"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 202, r.text
    url = r.json()["status_url"]
    for _ in range(200):
        job = c.get(url).json()
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert job["status"] == "done", job
    found = c.get("/espace-agent/recherche", params={"q": "ombrevalise", "mode": "bm25"}).text
    assert "note-interne.txt" in found
    assert c.get("/sources", params={"tenant": "a", "doc": "note-interne.txt"}).status_code == 404
    r = c.post("/ui/api/ask", json={"question": "Qu'est-ce que la procédure ombrevalise ?", "tenant": "a"})
    assert r.status_code == 200 and "ombrevalise concerne" not in r.text and "note-interne" not in r.text
    hits = c.post("/api/search", json={"query": "ombrevalise"}, headers=world["keys"][("a", "public")]).json()["hits"]
    assert all(h["doc_id"] != "note-interne.txt" for h in hits)
    hits = c.post("/api/search", json={"query": "ombrevalise", "mode": "bm25"},
                  headers=world["keys"][("a", "agent")]).json()["hits"]
    assert hits and hits[0]["doc_id"] == "note-interne.txt" and hits[0]["visibility"] == "internal"
    c.cookies.clear()


def test_commons_index_is_shared_not_copied_and_detach_takes_effect(world):
    c, keys = world["client"], world["keys"]
    from territoria.search.engine import get_index, get_segment
    from territoria.trust import tenants

    ia, ib = get_index("a"), get_index("b")
    assert ia.segments[1] is ib.segments[1] is get_segment(COMMONS)  # one commons index for every tenant
    assert get_index("c") is get_segment("c")
    word = MARK[(COMMONS, "public")]

    def found(t):
        hits = c.post("/api/search", json={"query": word, "mode": "bm25"}, headers=keys[(t, "agent")]).json()["hits"]
        return any(word in h["text"] for h in hits)

    assert found("b") and not found("c")
    tenants.attach("b", COMMONS, False)
    try:
        assert not found("b") and found("a")
    finally:
        tenants.attach("b", COMMONS, True)
    assert found("b")


def test_similar_tenant_names_never_share_files(data_dir, tmp_path):
    """'a.b' and 'a_b' are two tenants: their index caches, conversations and uploads stay apart."""
    from territoria.assistant import conversations
    from territoria.core.settings import tenant_dirname
    from territoria.ingest.pipeline import ingest_paths
    from territoria.search.engine import _cache, search
    from territoria.trust import tenants

    for t, word in (("a.b", "pointilleux"), ("a_b", "souligneur")):
        tenants.create(t)
        f = tmp_path / f"{t}.txt"
        f.write_text(f"Document de la collectivité {t} : le mot {word} y figure.", encoding="utf-8")
        assert ingest_paths([f], tenant=t).ok
        conversations.append(t, "c-1", {"question": word, "answer": "", "abstained": True, "doc_ids": []})
    for t, word, other in (("a.b", "pointilleux", "souligneur"), ("a_b", "souligneur", "pointilleux")):
        _cache.clear()  # from the disk cache
        assert [h.text for h in search(word, tenant=t, mode="bm25")] and not search(other, tenant=t, mode="bm25")
        assert [x["question"] for x in conversations.load(t, "c-1")] == [word]
    with pytest.raises(ValueError):
        tenant_dirname("..")
    with pytest.raises(Exception):
        tenants.create("..")


def test_tenant_delete_removes_its_data_and_keeps_the_audit_log(data_dir, tmp_path):
    from territoria.assistant import conversations
    from territoria.ingest.pipeline import ingest_paths
    from territoria.store import get_store, get_trust_store
    from territoria.trust import accounts, answer_log, audit, tenants

    answer_ids = {}
    for t in ("x", "y"):
        tenants.create(t)
        answer_ids[t] = answer_log.record(t, {"question": f"question d'un habitant de {t}", "answer": "réponse"})
        f = tmp_path / f"{t}.txt"
        f.write_text(f"Note de la collectivité {t}.", encoding="utf-8")
        assert ingest_paths([f], tenant=t).ok
        accounts.create_user(f"agent@{t}.fr", tenant=t, role="agent", password="un mot de passe long")
        conversations.append(t, "c-1", {"question": "q", "answer": "", "abstained": True, "doc_ids": []})
    key = accounts.create_key(tenant="x", role="agent")["key"]
    audit.record("test.output", tenant="x", input="entrée", output="sortie")
    from territoria.core.settings import get_settings
    from territoria.search.engine import search

    for t in ("x", "y"):  # builds each tenant's search index, cached on disk with the documents' words
        assert search("note collectivité", mode="bm25", tenant=t)
    cached = {t: get_settings().cache_dir / f"index-{t}" for t in ("x", "y")}
    assert all(d.is_dir() for d in cached.values())
    out = subprocess.run([sys.executable, "-m", "territoria.cli", "--data-dir", str(data_dir), "tenant", "delete", "x",
                          "--yes"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0 and "supprimée" in out.stdout and "1 réponse(s)" in out.stdout
    get_store().close()  # the subprocess changed the database: read it afresh
    get_trust_store().close()
    assert get_store().count_documents("x") == 0 and get_store().count_documents("y") == 1
    assert get_trust_store().get_user("agent@x.fr") is None and get_trust_store().get_user("agent@y.fr")
    assert accounts.principal_for_key(key) is None
    assert conversations.load("x", "c-1") == [] and conversations.load("y", "c-1")
    assert answer_log.get("x", answer_ids["x"]) is None and answer_log.get("y", answer_ids["y"])  # citizens' questions
    assert [r["tenant"] for r in audit.rows()] == ["x"] and audit.verify().ok  # the legal trace stays
    assert not tenants.exists("x") and tenants.exists("y")
    assert not cached["x"].exists() and cached["y"].is_dir()  # no words of x's documents left on disk


# -- CLI of the trust layer on bad input: French messages, exit code 2 for usage errors, nothing half-written --

def _invoke(data_dir: Path, *args: str, input: str | None = None):
    """(exit code, output with line breaks folded: rich wraps long messages) of one in-process CLI call."""
    from typer.testing import CliRunner

    from territoria.cli import app

    out = CliRunner().invoke(app, ["--data-dir", str(data_dir), *args], input=input)
    assert out.exception is None or isinstance(out.exception, SystemExit), out.exception  # no traceback
    return out.exit_code, " ".join(out.output.split())


def test_tenant_cli_bad_input_leaves_nothing_half_created(data_dir):
    from territoria.trust import tenants

    code, text = _invoke(data_dir, "tenant", "create", "mairie-x", "--attach", "corpus-inconnu")
    assert code == 1 and "« corpus-inconnu » inconnue" in text
    assert not tenants.exists("mairie-x")  # the typo in --attach created nothing
    code, text = _invoke(data_dir, "tenant", "create", "mairie x")
    assert code == 2 and "invalide" in text
    assert _invoke(data_dir, "tenant", "create", "sp", "--commons")[0] == 0
    code, text = _invoke(data_dir, "tenant", "create", "sp")  # not silently « déjà existante » as a commune
    assert code == 1 and "corpus commun" in text and tenants.get("sp")["kind"] == "commons"
    code, text = _invoke(data_dir, "tenant", "delete", "mairie x", "--yes")
    assert code == 2 and "tenant create" not in text  # no hint to create a name that cannot exist
    assert _invoke(data_dir, "tenant", "create", "mairie-a", "--attach", "sp")[0] == 0
    code, text = _invoke(data_dir, "tenant", "delete", "sp", input="n\n")
    assert code == 1 and "lu par : mairie-a" in text and "annulée" in text and tenants.exists("sp")
    assert "[o/N]" in text  # asked in French: « o » / « oui » confirm
    code, text = _invoke(data_dir, "tenant", "delete", "mairie-a", input="oui\n")
    assert code == 0 and not tenants.exists("mairie-a")


def test_user_and_key_cli_bad_input(data_dir):
    from territoria.store import get_trust_store
    from territoria.trust import accounts, tenants

    tenants.create("mairie-a")
    tenants.create("mairie-b")
    code, text = _invoke(data_dir, "user", "create", "x@a.fr", "--tenant", "mairie a", "--role", "agent",
                         "--password", "0123456789ab")
    assert code == 2 and "invalide" in text and "tenant create" not in text
    assert _invoke(data_dir, "apikey", "create", "--tenant", "mairie-a", "--role", "Admin")[0] == 2
    # an empty OpenID identity would make an account nobody can ever open
    code, text = _invoke(data_dir, "user", "create", "x@a.fr", "--tenant", "mairie-a", "--role", "agent",
                         "--oidc-subject", " ")
    assert code == 1 and get_trust_store().get_user("x@a.fr") is None
    # one identity opens one account: else the login lands in whichever tenant the database returns first
    assert _invoke(data_dir, "user", "create", "maire@a.fr", "--tenant", "mairie-a", "--role", "admin",
                   "--oidc-subject", "maire@a.fr")[0] == 0
    code, text = _invoke(data_dir, "user", "create", "piege@b.fr", "--tenant", "mairie-b", "--role", "admin",
                         "--oidc-subject", "maire@a.fr")
    assert code == 1 and "déjà liée" in text and get_trust_store().get_user("piege@b.fr") is None
    # the password prompt answers in French, also without a terminal or with two different entries
    code, text = _invoke(data_dir, "user", "create", "y@a.fr", "--tenant", "mairie-a", "--role", "agent", input="")
    assert code == 1 and "--password-stdin" in text and "Aborted" not in text
    code, text = _invoke(data_dir, "user", "password", "maire@a.fr", input="0123456789ab\nautre chose 12\n" * 3)
    assert code == 1 and "diffèrent" in text and "do not match" not in text
    assert _invoke(data_dir, "user", "list", "--tenant", "mairie-b")[1].startswith("Aucun utilisateur")
    # revoking with the whole key (what the secretary has at hand), twice
    k = accounts.create_key(tenant="mairie-a", role="public")
    code, text = _invoke(data_dir, "apikey", "revoke", k["key"])
    assert code == 0 and f"Clé {k['key_id']} révoquée" in text and accounts.principal_for_key(k["key"]) is None
    code, text = _invoke(data_dir, "apikey", "revoke", k["key_id"])
    assert code == 1 and "déjà révoquée" in text


def test_audit_cli_bad_periods_never_purge_or_crash(data_dir, tmp_path, monkeypatch):
    from territoria.core.errors import TerritoriaError
    from territoria.trust import audit

    _fill(3)
    code, text = _invoke(data_dir, "audit", "purge", "--days", "-5")  # was: every row deleted, today's too
    assert code == 2 and "invalide" in text
    code, text = _invoke(data_dir, "audit", "purge", "--before", "2999-01-01")
    assert code == 2 and "futur" in text
    monkeypatch.setenv("TERRITORIA_AUDIT_RETENTION_DAYS", "un an")
    code, text = _invoke(data_dir, "audit", "purge")
    assert code == 1 and "TERRITORIA_AUDIT_RETENTION_DAYS" in text
    monkeypatch.delenv("TERRITORIA_AUDIT_RETENTION_DAYS")
    assert len(list(audit.rows())) == 3 and audit.verify().ok
    code, text = _invoke(data_dir, "audit", "export", "--out", str(tmp_path / "absent" / "f.jsonl"))
    assert code == 1 and "Impossible d'écrire" in text
    code, text = _invoke(data_dir, "audit", "export", "--from", "2026-12-05", "--to", "2026-12-01")
    assert code == 2 and "après la date de fin" in text
    with pytest.raises(TerritoriaError):  # GET /api/audit says it too (400) rather than an empty export
        list(audit.export(start="2026-12-05", end="2026-12-01"))
    assert _invoke(data_dir, "audit", "export", "--format", "xml")[0] == 2
    code, text = _invoke(data_dir, "audit", "verify", "--expect-file", str(tmp_path))
    assert code == 2 and "c'est un dossier" in text and "Errno" not in text  # usage error, not "log altered"
    code, text = _invoke(data_dir, "audit", "verify", "--expect-file", str(tmp_path / "absent.jsonl"))
    assert code == 2 and "Impossible de lire" in text
