"""Search over a tenant's chunks: French BM25, dense (e5), and hybrid rank fusion at document level.

The index lives in memory, built from the store and cached on disk (data dir `cache/`), keyed by the
tenant's generation and the number of vectors, so a fresh process loads it in a fraction of a second and
vectors computed in the background become searchable as they arrive.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import sparse

from territoria.core.dates import check_period, parse_day
from territoria.core.errors import TerritoriaError
from territoria.core.settings import tenant_dirname
from territoria.core.settings import Settings, get_settings
from territoria.core.types import MAX_QUERY_CHARS, Hit
from territoria.search.bm25 import BM25Index
from territoria.search.dense import DEFAULT_PLAN, DenseMatrix

log = logging.getLogger("territoria.search")

MODES = ("bm25", "dense", "hybrid")
RRF_K = 60
HEAD_WEIGHT = 0.5  # share of the head chunk's BM25 score added to a document's best passage
BM25_K1, BM25_B = 0.9, 0.4
FUSION = os.environ.get("TERRITORIA_FUSION", "z")  # "z" (standardised scores) or "rrf"
SIGNAL_WEIGHTS = {"bm25": 1.5, "e5-small": 1.0, "use-m3": 1.0}  # short chunks of similar length: light length normalisation


@dataclass
class Filters:
    source: str | None = None
    doc_type: str | None = None
    date_from: str | None = None  # ISO dates, inclusive
    date_to: str | None = None
    # allowed document visibilities (None: all). Citizens and public keys get ("public",).
    visibility: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.doc_type:  # "PDF", ".pdf" and "pdf" are the same type
            self.doc_type = self.doc_type.strip().lower().lstrip(".") or None
        self.date_from = parse_filter_date(self.date_from, end=False)
        self.date_to = parse_filter_date(self.date_to, end=True)
        check_period(self.date_from, self.date_to)

    def active(self) -> bool:
        return any((self.source, self.doc_type, self.date_from, self.date_to)) or self.visibility is not None


_MONTH_OR_YEAR = re.compile(r"(\d{4})(?:-(\d{1,2}))?")


def parse_filter_date(value: str | None, *, end: bool) -> str | None:
    """A filter date as ISO AAAA-MM-JJ: a day (core.dates.parse_day), or AAAA-MM and AAAA, which stand for
    their first day as a start and their last day as an end (so « 2024 » to « 2024 » is the whole year)."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    day = parse_day(text)
    if day is not None:
        return day.isoformat()
    m = _MONTH_OR_YEAR.fullmatch(text)
    if m and 1 <= int(m[2] or 1) <= 12:
        y, mo = int(m[1]), int(m[2] or (12 if end else 1))
        if not end:
            return _dt.date(y, mo, 1).isoformat()
        return (_dt.date(y + (mo == 12), mo % 12 + 1, 1) - _dt.timedelta(days=1)).isoformat()
    which = "de fin" if end else "de début"
    raise TerritoriaError(f"Date {which} « {text} » illisible ou impossible.",
                          hint="Écrivez-la AAAA-MM-JJ (par exemple 2024-03-31), JJ/MM/AAAA, AAAA-MM ou AAAA.")


@dataclass
class ChunkIndex:
    rows: np.ndarray  # chunk row ids (store), index position = chunk position
    doc_pos: np.ndarray  # per chunk: position of its document in doc_ids
    doc_ids: list[str]
    doc_meta: list[tuple]  # per doc: (source, doc_type, date, visibility, tenant)
    is_head: np.ndarray
    bm25: BM25Index
    dense: dict[str, tuple[np.ndarray, DenseMatrix]] = field(default_factory=dict)  # model -> (chunk pos, M)
    version: tuple = ()

    @property
    def n_docs(self) -> int:
        return len(self.doc_ids)

    def doc_mask(self, f: Filters | None) -> np.ndarray | None:
        if f is None or not f.active():
            return None
        m = np.ones(self.n_docs, dtype=bool)
        for i, (src, dtype, date, vis, _tenant) in enumerate(self.doc_meta):
            if f.visibility is not None and vis not in f.visibility:
                m[i] = False
            elif f.source and src != f.source:
                m[i] = False
            elif f.doc_type and dtype != f.doc_type:
                m[i] = False
            elif f.date_from and (not date or date < f.date_from):
                m[i] = False
            elif f.date_to and (not date or date > f.date_to):
                m[i] = False
        return m


def _version(store, tenant: str) -> tuple:
    return ("v4", store.generation(tenant), store.embeddings_version())


def _build(store, tenant: str, version: tuple) -> ChunkIndex:
    """The index of one tenant's own documents (a commons corpus is a tenant too: built once, shared)."""
    rows, doc_pos, is_head, terms = [], [], [], []
    doc_index: dict[tuple[str, str], int] = {}
    for sc in store.iter_chunks(tenant):
        rows.append(sc.row)
        doc_pos.append(doc_index.setdefault((sc.tenant, sc.chunk.doc_id), len(doc_index)))
        is_head.append(sc.chunk.kind == "head")
        terms.append(sc.terms)
    meta = {(t, d): (s, dt, date, vis, t) for t, d, s, dt, date, vis in store.doc_filters(tenant)}
    keys = list(doc_index)
    idx = ChunkIndex(
        rows=np.asarray(rows, dtype=np.int64), doc_pos=np.asarray(doc_pos, dtype=np.int32),
        doc_ids=[d for _, d in keys], doc_meta=[meta.get(k, ("", "", None, "public", k[0])) for k in keys],
        is_head=np.asarray(is_head, dtype=bool), bm25=BM25Index(k1=BM25_K1, b=BM25_B).fit(terms), version=version,
    )
    _attach_dense(store, tenant, idx)
    return idx


def _attach_dense(store, tenant: str, idx: ChunkIndex) -> None:
    pos_of = {int(r): i for i, r in enumerate(idx.rows)}
    for model in DEFAULT_PLAN:
        rows, mat = store.load_embeddings(tenant, model)
        if len(rows) == 0:
            continue
        pos = np.asarray([pos_of[int(r)] for r in rows], dtype=np.int64)
        idx.dense[model] = (pos, DenseMatrix(rows, mat))


# -- disk cache ---------------------------------------------------------------------------------

def _cache_path(settings: Settings, tenant: str) -> Path:
    safe = tenant_dirname(tenant)
    return settings.cache_dir / f"index-{safe}"


def _save(idx: ChunkIndex, path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    m = idx.bm25.matrix.tocsc()
    arrays = {"rows": idx.rows, "doc_pos": idx.doc_pos, "is_head": idx.is_head, "data": m.data,
              "indices": m.indices, "indptr": m.indptr, "shape": np.asarray(m.shape)}
    for model, (pos, dm) in idx.dense.items():
        arrays[f"dense_pos__{model}"] = pos
        arrays[f"dense_rows__{model}"] = dm.rows
        arrays[f"dense_mat__{model}"] = dm.matrix
        if dm.proj is not None:
            arrays[f"dense_proj__{model}"] = dm.proj
            arrays[f"dense_red__{model}"] = dm.reduced
    tmp = path / "index.tmp.npz"
    np.savez(tmp, **arrays)
    meta = {"version": list(idx.version), "doc_ids": idx.doc_ids, "doc_meta": idx.doc_meta,
            "vocab": list(idx.bm25.vocab), "k1": idx.bm25.k1, "b": idx.bm25.b, "models": list(idx.dense)}
    (path / "meta.tmp.json").write_text(json.dumps(meta, ensure_ascii=False))
    tmp.replace(path / "index.npz")
    (path / "meta.tmp.json").replace(path / "meta.json")


def _load(path: Path, version: tuple) -> ChunkIndex | None:
    try:
        meta = json.loads((path / "meta.json").read_text())
        if tuple(meta["version"]) != tuple(version):
            return None
        z = np.load(path / "index.npz")
    except (OSError, ValueError, KeyError):
        return None
    bm = BM25Index(k1=meta["k1"], b=meta["b"])
    bm.vocab = {t: i for i, t in enumerate(meta["vocab"])}
    shape = tuple(int(x) for x in z["shape"])
    bm.matrix = sparse.csc_matrix((z["data"], z["indices"], z["indptr"]), shape=shape)
    bm.n_docs = shape[0]
    idx = ChunkIndex(rows=z["rows"], doc_pos=z["doc_pos"], doc_ids=meta["doc_ids"],
                     doc_meta=[tuple(x) for x in meta["doc_meta"]], is_head=z["is_head"], bm25=bm,
                     version=tuple(version))
    for model in meta["models"]:
        proj = z[f"dense_proj__{model}"] if f"dense_proj__{model}" in z.files else None
        red = z[f"dense_red__{model}"] if proj is not None else None
        idx.dense[model] = (z[f"dense_pos__{model}"],
                            DenseMatrix(z[f"dense_rows__{model}"], z[f"dense_mat__{model}"], proj, red))
    return idx


_cache: dict[tuple[str, str], "ChunkIndex | ScopeIndex"] = {}
_cache_lock = threading.Lock()


class _VocabUnion:
    def __init__(self, vocabs):
        self.vocabs = vocabs

    def __contains__(self, term) -> bool:
        return any(term in v for v in self.vocabs)


class ScopeIndex:
    """What a tenant searches when commons corpora are attached to it: its own index plus each commons
    index (cached once, shared by every tenant that reads it: nothing is copied per tenant). Scores are
    computed per segment and concatenated in one document space; BM25 uses the idf of the whole scope."""

    def __init__(self, segments: list[ChunkIndex], version: tuple, tenants: list[str]):
        self.segments = segments
        self.tenants = tenants  # one per segment: the tenant itself, then its commons
        self.version = version
        self.doc_off = np.cumsum([0] + [s.n_docs for s in segments])
        self.chunk_off = np.cumsum([0] + [len(s.rows) for s in segments])
        self.rows = np.concatenate([s.rows for s in segments]) if segments else np.zeros(0, np.int64)
        self.doc_ids = [d for s in segments for d in s.doc_ids]
        self.doc_meta = [m for s in segments for m in s.doc_meta]
        self.dense = {m: None for s in segments for m in s.dense}
        self.vocab = _VocabUnion([s.bm25.vocab for s in segments])

    @property
    def n_docs(self) -> int:
        return int(self.doc_off[-1])

    @property
    def bm25(self) -> BM25Index:  # term statistics for callers that need one (the largest segment)
        return max(self.segments, key=lambda s: s.bm25.n_docs).bm25

    doc_mask = ChunkIndex.doc_mask

    def lift(self, name: str, parts: list["Signal | None"]) -> "Signal | None":
        if all(p is None for p in parts):
            return None
        scores = np.concatenate([p.doc_scores if p is not None else np.full(s.n_docs, -np.inf, np.float32)
                                 for p, s in zip(parts, self.segments)])
        return Signal(name, scores, _SegmentPicker(self, [p.best_chunk if p is not None else None for p in parts]))

    def global_idf(self, terms) -> dict[str, float]:
        n = sum(s.bm25.n_docs for s in self.segments)
        out = {}
        for t in set(terms):
            df = 0
            for s in self.segments:
                j = s.bm25.vocab.get(t)
                if j is not None:
                    df += int(s.bm25.matrix.indptr[j + 1] - s.bm25.matrix.indptr[j])
            out[t] = float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))
        return out


class _SegmentPicker:
    def __init__(self, scope: ScopeIndex, pickers: list):
        self.scope, self.pickers = scope, pickers

    def __getitem__(self, doc: int) -> int:
        k = int(np.searchsorted(self.scope.doc_off, doc, side="right") - 1)
        p = self.pickers[k]
        if p is None:
            return -1
        c = p[int(doc - self.scope.doc_off[k])]
        return int(c + self.scope.chunk_off[k]) if c >= 0 else -1


def get_index(tenant: str | None = None, settings: Settings | None = None) -> "ChunkIndex | ScopeIndex":
    """The index a tenant searches: its own, or its own plus the attached commons (ScopeIndex)."""
    from territoria.store import get_store

    settings = settings or get_settings()
    tenant = tenant or settings.tenant
    scope = get_store(settings).scope(tenant)
    if len(scope) == 1:
        return get_segment(tenant, settings)
    segments = [get_segment(t, settings) for t in scope]
    version = (tuple(scope), *(s.version for s in segments))
    key = (str(settings.db_path.resolve()), "scope:" + tenant)
    with _cache_lock:
        idx = _cache.get(key)
        if idx is None or idx.version != version:
            idx = _cache[key] = ScopeIndex(segments, version, scope)
        return idx


def get_segment(tenant: str, settings: Settings | None = None) -> ChunkIndex:
    """One tenant's own index: in memory, else from the disk cache, else built from the store."""
    from territoria.store import get_store

    settings = settings or get_settings()
    store = get_store(settings)
    version = _version(store, tenant)
    key = (str(settings.db_path.resolve()), tenant)
    with _cache_lock:
        idx = _cache.get(key)
        if idx is not None and idx.version == version:
            return idx
        path = _cache_path(settings, tenant)
        idx = _load(path, version)
        if idx is None:
            idx = _build(store, tenant, version)
            try:
                _save(idx, path)
            except OSError:
                pass  # a read-only data dir still searches, just without the disk cache
        _cache[key] = idx
        return idx


# -- scoring ------------------------------------------------------------------------------------

def _doc_max(idx: ChunkIndex, chunk_pos: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, "ChunkPicker"]:
    """Per document: best chunk score (-inf if none), and a picker for the position of that chunk.

    `chunk_pos` is ascending and a document's chunks are contiguous (they are written together), so
    documents form segments and a segment-wise max (reduceat) replaces any sort.
    """
    best = np.full(idx.n_docs, -np.inf, dtype=np.float32)
    if chunk_pos.size == 0:
        return best, ChunkPicker(chunk_pos, scores, np.zeros(0, np.int64), np.zeros(0, np.int64), idx.n_docs)
    docs = idx.doc_pos[chunk_pos]
    starts = np.concatenate(([0], np.flatnonzero(np.diff(docs)) + 1))
    best[docs[starts]] = np.maximum.reduceat(scores, starts)
    return best, ChunkPicker(chunk_pos, scores, starts, docs[starts], idx.n_docs)


class ChunkPicker:
    """Finds, for a few documents, the position of their best-scoring chunk (on demand)."""

    def __init__(self, chunk_pos, scores, starts, seg_docs, n_docs):
        self.chunk_pos, self.scores, self.starts = chunk_pos, scores, starts
        self.seg_of_doc = np.full(n_docs, -1, dtype=np.int64)
        self.seg_of_doc[seg_docs] = np.arange(len(seg_docs))
        self.override: dict[int, int] = {}

    def __getitem__(self, doc: int) -> int:
        if doc in self.override:
            return self.override[doc]
        seg = self.seg_of_doc[doc]
        if seg < 0:
            return -1
        a = self.starts[seg]
        b = self.starts[seg + 1] if seg + 1 < len(self.starts) else len(self.scores)
        return int(self.chunk_pos[a + int(np.argmax(self.scores[a:b]))])


def _rank_docs(doc_scores: np.ndarray, mask: np.ndarray | None, depth: int) -> np.ndarray:
    s = doc_scores.copy()
    if mask is not None:
        s[~mask] = -np.inf
    valid = np.isfinite(s) & (s > -np.inf)
    n_valid = int(valid.sum())
    if n_valid == 0:
        return np.zeros(0, dtype=np.int64)
    depth = min(depth, n_valid)
    part = np.argpartition(-s, depth - 1)[:depth]
    return part[np.argsort(-s[part], kind="stable")]


@dataclass
class Signal:
    name: str
    doc_scores: np.ndarray
    best_chunk: "ChunkPicker"
    weight: float = 1.0


def bm25_signal(idx: "ChunkIndex | ScopeIndex", query: str, lq=None, idf: dict | None = None) -> Signal | None:
    from territoria.search.query import lexical_query

    if isinstance(idx, ScopeIndex):
        lq = lexical_query(query, idx.vocab)
        if not lq.terms:
            return None
        g = idx.global_idf(lq.terms)
        return idx.lift("bm25", [bm25_signal(s, query, lq, g) for s in idx.segments])
    lq = lq or lexical_query(query, idx.bm25.vocab)
    if not lq.terms or idx.bm25.n_docs == 0:
        return None
    weights = list(lq.weights) if lq.weights is not None else [1.0] * len(lq.terms)
    if idf is not None:  # rescale this segment's idf (baked into its weights) to the scope's
        m = idx.bm25.matrix
        n = idx.bm25.n_docs
        for i, t in enumerate(lq.terms):
            j = idx.bm25.vocab.get(t)
            if j is not None:
                df = float(m.indptr[j + 1] - m.indptr[j])
                local = float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))
                weights[i] *= idf[t] / local if local > 0 else 1.0
    s = idx.bm25.score_terms(lq.terms, weights)
    nz = np.flatnonzero(s > 0)
    if nz.size == 0:
        return None
    body = nz[~idx.is_head[nz]]
    best, picker = _doc_max(idx, body, s[body])
    # a document whose head (title + summary + keywords) matches gets that on top of its best passage
    head = nz[idx.is_head[nz]]
    hdocs = idx.doc_pos[head]
    no_body = ~np.isfinite(best[hdocs])
    best[hdocs] = np.where(no_body, 0.0, best[hdocs]) + HEAD_WEIGHT * s[head]
    for d, h in zip(hdocs[no_body], head[no_body]):
        picker.override[int(d)] = int(h)
    return Signal("bm25", best, picker)


@lru_cache(maxsize=2048)
def _query_vector(model: str, query: str) -> np.ndarray:
    from territoria.models.embeddings import get_embedder

    return get_embedder(model).embed_queries([query])[0]


def dense_signal(idx: "ChunkIndex | ScopeIndex", query: str, model: str = "e5-small",
                 mask: np.ndarray | None = None) -> Signal | None:
    """`mask`: the documents the filters allow (None: all); a large matrix's scan looks among their
    passages only."""
    if isinstance(idx, ScopeIndex):
        off = idx.doc_off
        return idx.lift(model, [dense_signal(s, query, model, None if mask is None else mask[off[k]:off[k + 1]])
                                for k, s in enumerate(idx.segments)])
    entry = idx.dense.get(model)
    if entry is None:
        return None
    pos, dm = entry
    q = _query_vector(model, query)
    s = dm.scores(q, allowed=None if mask is None else mask[idx.doc_pos[pos]])
    if dm.reduced is not None:  # two-stage scan: only its candidates have a score (the others are -inf)
        scored = np.flatnonzero(np.isfinite(s))
        pos, s = pos[scored], s[scored]
    best, chunk = _doc_max(idx, pos, s)
    return Signal(model, best, chunk)


def fuse_z(signals: list[Signal], n_docs: int, mask: np.ndarray | None, depth: int = 200
           ) -> tuple[np.ndarray, "_FusedPicker"]:
    """Weighted sum of standardised scores (z-scores over each signal's top documents).

    Unlike rank fusion it keeps how far ahead a document is in each signal; a document missing from a
    signal's top list gets that list's lowest z-score.
    """
    fused = np.zeros(n_docs, dtype=np.float64)
    seen = np.zeros(n_docs, dtype=bool)
    owner = np.full(n_docs, -1, dtype=np.int64)
    best_z = np.full(n_docs, -np.inf)
    for i, sig in enumerate(signals):
        ranked = _rank_docs(sig.doc_scores, mask, depth)
        if len(ranked) == 0:
            continue
        top = sig.doc_scores[ranked].astype(np.float64)
        mu, sd = float(top.mean()), float(top.std()) or 1.0
        z = (top - mu) / sd
        floor = float(z.min())
        contrib = np.full(n_docs, floor * sig.weight)
        contrib[ranked] = z * sig.weight
        fused += contrib
        seen[ranked] = True
        better = z > best_z[ranked]
        best_z[ranked[better]] = z[better]
        owner[ranked[better]] = i
    fused[~seen] = -np.inf
    return fused, _FusedPicker(signals, owner)


def fuse(signals: list[Signal], n_docs: int, mask: np.ndarray | None, depth: int = 200
         ) -> tuple[np.ndarray, "ChunkPicker | _FusedPicker"]:
    """Weighted reciprocal-rank fusion of document rankings → (fused doc scores, best chunk per doc)."""
    fused = np.zeros(n_docs, dtype=np.float64)
    seen = np.zeros(n_docs, dtype=bool)
    best_rank = np.full(n_docs, np.iinfo(np.int64).max, dtype=np.int64)
    owner = np.full(n_docs, -1, dtype=np.int64)
    for i, sig in enumerate(signals):
        ranked = _rank_docs(sig.doc_scores, mask, depth)
        ranks = np.arange(len(ranked))
        fused[ranked] += sig.weight / (RRF_K + 1 + ranks)
        seen[ranked] = True
        # display chunk: the one from the signal that ranks the document best
        better = ranks < best_rank[ranked]
        best_rank[ranked[better]] = ranks[better]
        owner[ranked[better]] = i
    fused[~seen] = -np.inf
    return fused, _FusedPicker(signals, owner)


class _FusedPicker:
    def __init__(self, signals: list[Signal], owner: np.ndarray):
        self.signals, self.owner = signals, owner

    def __getitem__(self, doc: int) -> int:
        o = self.owner[doc]
        return self.signals[o].best_chunk[int(doc)] if o >= 0 else -1


def search(query: str, *, k: int = 10, mode: str = "hybrid", tenant: str | None = None,
           filters: Filters | None = None, settings: Settings | None = None) -> list[Hit]:
    if mode not in MODES:
        raise ValueError(f"Mode de recherche inconnu : {mode!r} (choisir parmi {', '.join(MODES)}).")
    if len(query) > MAX_QUERY_CHARS:
        raise TerritoriaError(f"La recherche est trop longue ({len(query)} caractères, {MAX_QUERY_CHARS} au plus).",
                              hint="Gardez les mots essentiels ou une question courte.")
    settings = settings or get_settings()
    idx = get_index(tenant, settings)
    if idx.n_docs == 0 or not query.strip():
        return []
    mask = idx.doc_mask(filters)
    signals: list[Signal] = []
    # The query encoders run one after the other, each with every core: on 2 cores, running e5 and USE
    # side by side (or BM25 beside them) made the slower one twice as slow (measured, bench/search_latency.py).
    if mode in ("bm25", "hybrid"):
        s = bm25_signal(idx, query)
        if s:
            signals.append(s)
    failure: TerritoriaError | None = None
    if mode != "bm25":
        for model in idx.dense:
            try:
                s = dense_signal(idx, query, model, mask)
            except TerritoriaError as exc:  # a remote embedding server down: search with the other signals
                log.warning("signal %s ignoré : %s", model, exc)
                failure = exc
                continue
            if s:
                signals.append(s)
    if not signals:
        if failure is not None and mode == "dense":
            raise failure  # nothing else to search with: say why rather than find nothing
        return []
    for sig in signals:
        sig.weight = SIGNAL_WEIGHTS.get(sig.name, 1.0)
    if len(signals) == 1:
        scores, chunks = signals[0].doc_scores, signals[0].best_chunk
    elif FUSION == "rrf":
        scores, chunks = fuse(signals, idx.n_docs, mask)
    else:
        scores, chunks = fuse_z(signals, idx.n_docs, mask)
    top = _rank_docs(scores, mask, k)
    return _hits(idx, tenant or settings.tenant, settings, top, scores, chunks,
                 filters.visibility if filters else None)


NO_HITS = {
    "empty_query": "La recherche est vide : écrivez quelques mots ou une question.",
    "empty_index": "Aucun document n'est encore indexé ici. Ajoutez-en avec « territoria ingest DOSSIER ».",
    "filtered_out": "Aucun document ne correspond aux filtres demandés (source, type, dates) : élargissez-les.",
    "no_match": "Aucun passage ne correspond à ces mots. Essayez d'autres mots, plus simples ou plus généraux.",
}


def no_hits_reason(query: str, *, tenant: str | None = None, filters: Filters | None = None,
                   settings: Settings | None = None) -> str:
    """Why a search found nothing: a key of NO_HITS, so that the user is told what to change."""
    if not query.strip():
        return "empty_query"
    idx = get_index(tenant, settings or get_settings())
    if idx.n_docs == 0:
        return "empty_index"
    mask = idx.doc_mask(filters)
    if mask is not None and not mask.any():
        return "filtered_out"
    return "no_match"


def _hits(idx: ChunkIndex, tenant: str, settings: Settings, docs: np.ndarray, scores: np.ndarray,
          chunks: np.ndarray, visibility: tuple[str, ...] | None = None) -> list[Hit]:
    from territoria.store import get_store

    picked = {int(d): chunks[int(d)] for d in docs}
    rows = [int(idx.rows[c]) for c in picked.values() if c >= 0]
    store = get_store(settings)
    # checked again in the store: only the scope's chunks, of the allowed visibility, come back
    scope = idx.tenants if isinstance(idx, ScopeIndex) else [tenant]  # no second registry lookup
    meta = store.chunk_meta(scope, rows, visibility=visibility)
    hits = []
    for d in docs:
        c = picked[int(d)]
        if c < 0:
            continue
        m = meta.get(int(idx.rows[c]))
        if m is None:
            continue
        hits.append(Hit(doc_id=m["doc_id"], chunk_id=m["chunk_id"], title=m["title"], url=m["url"],
                        section=m["section"], page=m["page"], score=float(scores[d]), text=m["text"],
                        source=m["source"], tenant=m["tenant"], visibility=m["visibility"]))
    return hits


def timed_search(query: str, **kw) -> tuple[list[Hit], float]:
    t = time.perf_counter()
    hits = search(query, **kw)
    return hits, (time.perf_counter() - t) * 1000
