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
    """`TERRITORIA_DENSE_PLAN="e5-small:head,body;use-m3:body"` → {model: kinds}. A model served by an
    OpenAI-compatible server is named `openai/<model>` (its name may hold ":", as Ollama's do)."""
    spec = os.environ.get("TERRITORIA_DENSE_PLAN", default)
    plan: dict[str, tuple[str, ...]] = {}
    for part in spec.split(";"):
        if ":" in part:
            model, kinds = part.rsplit(":", 1)
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


# Above this many vectors, similarity is computed in two stages: a 128-dimension projection (PCA of the
# vectors themselves) picks the best CANDIDATES passages, whose exact scores are then computed. On the
# fiches (USE, 37,927 passages) the top 50 documents of the two-stage scan match the exact one at 99.9 %
# and retrieval metrics are unchanged; at 122k passages the scan reads 62 MB instead of 250 MB per query.
APPROX_MIN_ROWS = 30_000
APPROX_DIM = 128
CANDIDATES = 2_000


def projection(matrix: np.ndarray, dim: int | None = None, sample: int = 20_000) -> np.ndarray:
    """Orthonormal (d × dim) basis of the main directions of the vectors (SVD of a fixed random sample)."""
    dim = dim or APPROX_DIM
    rng = np.random.default_rng(0)
    pick = rng.choice(len(matrix), min(sample, len(matrix)), replace=False)
    _, _, vt = np.linalg.svd(matrix[np.sort(pick)], full_matrices=False)
    return np.ascontiguousarray(vt[:dim].T, dtype=np.float32)


class DenseMatrix:
    """Inner-product search over L2-normalised vectors held in memory: exact, or two-stage (exact scores
    of the candidates of a reduced projection) for large matrices. Passages that are not candidates score
    -inf, so documents without any candidate are absent from the signal."""

    def __init__(self, rows: np.ndarray, matrix: np.ndarray, proj: np.ndarray | None = None,
                 reduced: np.ndarray | None = None):
        self.rows = rows
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self.proj, self.reduced = proj, reduced
        if self.proj is None and len(self.rows) >= APPROX_MIN_ROWS and self.matrix.shape[1] > APPROX_DIM:
            self.proj = projection(self.matrix)
            self.reduced = np.ascontiguousarray(self.matrix @ self.proj)

    def __len__(self) -> int:
        return len(self.rows)

    def scores(self, qvec: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
        """Scores of every row (-inf where not computed). `allowed` (bool per row): the candidates of the
        two-stage scan are taken among these rows only, so a filter never leaves the scan empty-handed."""
        if len(self.rows) == 0:
            return np.zeros(0, dtype=np.float32)
        q = qvec.astype(np.float32)
        if self.reduced is None or len(self.rows) <= CANDIDATES:
            return self.matrix @ q
        coarse = self.reduced @ (self.proj.T @ q)
        if allowed is not None:
            coarse[~allowed] = -np.inf
        cand = np.argpartition(-coarse, CANDIDATES)[:CANDIDATES]
        if allowed is not None:
            cand = cand[allowed[cand]]  # fewer allowed rows than candidates
        out = np.full(len(self.rows), -np.inf, dtype=np.float32)
        out[cand] = self.matrix[cand] @ q
        return out
