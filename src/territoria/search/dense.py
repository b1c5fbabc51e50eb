"""Dense vectors: which chunks get which embedder, computing the missing ones, exact similarity.

Embedding plan (measured on the Service-Public fiches, see bench/ and docs/search.md): e5-small is the
better model but costs ~700 words/s on 2 cores, too slow for every passage of a large corpus (~4 M words
for the 3,657 fiches: over 1.5 h), so it encodes each document's head passage (title + summary + opening);
USE, about 10× faster, encodes every passage, which finds answers buried deep in long pages.
"""

from __future__ import annotations

import hashlib
import time
from typing import Callable

import numpy as np

from territoria.models.embeddings import get_embedder

import os


def _plan_from_env(default: str) -> dict[str, tuple[str, ...]]:
    """`TERRITORIA_DENSE_PLAN="e5-small:head,body;use-m3:body"` → {model: kinds}."""
    spec = os.environ.get("TERRITORIA_DENSE_PLAN", default)
    plan: dict[str, tuple[str, ...]] = {}
    for part in spec.split(";"):
        if ":" in part:
            model, kinds = part.split(":", 1)
            plan[model.strip()] = tuple(k.strip() for k in kinds.split(",") if k.strip())
    return plan


# model name -> chunk kinds it encodes
DEFAULT_PLAN: dict[str, tuple[str, ...]] = _plan_from_env("e5-small:head;use-m3:head,body")


def embed_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def pending_count(store, tenant: str, plan: dict[str, tuple[str, ...]] | None = None) -> int:
    plan = plan or DEFAULT_PLAN
    return sum(len(store.missing_embeddings(tenant, m, kinds)) for m, kinds in plan.items())


def embed_pending(store, tenant: str, *, plan: dict[str, tuple[str, ...]] | None = None,
                  batch_size: int = 32, on_progress: Callable[[str, int, int], None] | None = None,
                  time_budget_s: float | None = None) -> dict[str, int]:
    """Compute vectors that are missing for the tenant's chunks. Head chunks first (they matter most).

    Vectors are committed batch by batch: an interrupted run keeps what it did, and search uses it.
    """
    plan = plan or DEFAULT_PLAN
    done: dict[str, int] = {}
    t0 = time.perf_counter()
    for model, kinds in plan.items():
        todo: list[tuple[str, str]] = []
        for kind in ("head",) + tuple(k for k in kinds if k != "head"):
            if kind in kinds:
                todo.extend(store.missing_embeddings(tenant, model, (kind,)))
        if not todo:
            done[model] = 0
            continue
        emb = get_embedder(model)
        n = 0
        for i in range(0, len(todo), batch_size):
            batch = todo[i:i + batch_size]
            vecs = emb.embed_passages([t for _, t in batch])
            store.put_embeddings(model, [(k, v) for (k, _), v in zip(batch, vecs)])
            n += len(batch)
            if on_progress:
                on_progress(model, n, len(todo))
            if time_budget_s is not None and time.perf_counter() - t0 > time_budget_s:
                break
        done[model] = n
    return done


class DenseMatrix:
    """Exact inner-product search over L2-normalised vectors held in memory."""

    def __init__(self, rows: np.ndarray, matrix: np.ndarray):
        self.rows = rows
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.rows)

    def scores(self, qvec: np.ndarray) -> np.ndarray:
        if len(self.rows) == 0:
            return np.zeros(0, dtype=np.float32)
        return self.matrix @ qvec.astype(np.float32)
