"""Evidence that the retrieved passages answer the question, and the excerpts given to the model.

Signals (computed on the first hits of `search()`; the hybrid score itself is a rank-fusion score and
says little about relevance):
- `cos`: e5 cosine between the question and the document's best chunk (the vectors stored for search;
  measured as discriminative as embedding every sentence of the passages, for a fraction of the time);
- `coverage`: idf-weighted share of the question's content words that appear in the best passage
  (title included);
These two are combined in `score` and compared to a threshold calibrated on dev_paraphrased
(bench/answers_calibrate.py); see `ABSTAIN_BELOW`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from territoria.assistant.grounding import Passage, split_sentences, strip_instructions, terms

# How many hits are examined, and how many excerpts the model gets (MODELS.md: 2–3 short passages).
EXAMINE = 4
# TERRITORIA_ASSISTANT_PASSAGES / TERRITORIA_ASSISTANT_EXCERPT_CHARS trade time to first token (prompt
# evaluation, ~75 tokens/s for the 1.5B model on 2 cores) against context given to the model.
MAX_PASSAGES = int(os.environ.get("TERRITORIA_ASSISTANT_PASSAGES", "3"))
EXCERPT_CHARS = int(os.environ.get("TERRITORIA_ASSISTANT_EXCERPT_CHARS", "320"))  # ~90 tokens per excerpt
MAX_SENTENCES = 14  # per passage, for the embedding cost

# Calibrated on ../shared/data/qa/dev_paraphrased.jsonl (120 answerable, 25 unanswerable) with
# bench/answers_calibrate.py: the evidence score of answerable questions vs. questions no document answers.
# See docs/assistant.md, "Abstention".
W_COS = 1.0
W_COV = 0.25
# score = W_COS*(cos - COS0) + W_COV*(coverage - COV0) of the best examined hit. On dev_paraphrased (full
# fiche corpus, e5 head vectors + USE body vectors): answerable questions score -0.051 … 0.17 (3 of 120
# below -0.045); questions no document answers that the policy rules do not catch score -0.075 … -0.021
# (5 of 6 below -0.045; the last one is left to the model check).
ABSTAIN_BELOW = -0.045
COS0 = 0.80
COV0 = 0.5
# Excerpts for the prompt follow the search order (re-ordering by these signals was measured worse: the
# best-evidence hit is the relevant one for 47/120 dev questions, search's first for 52/120); the 2nd and
# 3rd hits are kept unless their evidence is far below the best one.
KEEP_MARGIN = 0.08


@dataclass
class Evidence:
    passages: list[Passage]  # excerpts for the prompt, numbered from 1
    candidates: list[Passage] = field(default_factory=list)  # every examined hit
    cos: float = 0.0
    coverage: float = 0.0
    score: float = 0.0
    injection: bool = False
    signals: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"cos": round(self.cos, 4), "coverage": round(self.coverage, 4), "score": round(self.score, 4),
                **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.signals.items()}}


def _idf_lookup(tenant: str | None):
    """Term → idf from the tenant's BM25 index (document frequency over chunks)."""
    from territoria.search.engine import get_index

    try:
        idx = get_index(tenant)
        bm = idx.bm25
        if bm.matrix is None or bm.n_docs == 0:
            raise ValueError
        m = bm.matrix
        df = np.diff(m.indptr) if m.format == "csc" else np.bincount(m.indices, minlength=m.shape[1])
        n = bm.n_docs
        vocab = bm.vocab

        def idf(t: str) -> float:
            j = vocab.get(t)
            d = float(df[j]) if j is not None else 0.0
            return math.log(1.0 + (n - d + 0.5) / (d + 0.5))

        return idf
    except Exception:
        return lambda t: 1.0


def coverage(question_terms: set[str], passage_terms: set[str], idf) -> float:
    if not question_terms:
        return 0.0
    w = {t: idf(t) for t in question_terms}
    tot = sum(w.values()) or 1.0
    return sum(v for t, v in w.items() if t in passage_terms) / tot


def excerpt_around(sents: list[str], i: int, max_chars: int) -> str:
    """Sentence i, then the following ones (the answer usually follows the matching sentence), then the
    preceding ones, within max_chars; a single over-long sentence is cut at a word boundary."""
    lo, hi = i, i + 1
    length = len(sents[i])
    while hi < len(sents) and length + len(sents[hi]) + 1 <= max_chars:
        length += len(sents[hi]) + 1
        hi += 1
    while lo > 0 and length + len(sents[lo - 1]) + 1 <= max_chars:
        lo -= 1
        length += len(sents[lo]) + 1
    text = " ".join(sents[lo:hi])
    if len(text) > max_chars:
        text = text[:max_chars].rsplit(" ", 1)[0] + "…"
    return text


_pos_cache: dict[int, tuple[object, dict[str, int]]] = {}


def dense_cosines(question: str, tenant: str | None, doc_ids: list[str], texts: list[str], embedder=None
                  ) -> list[float]:
    """e5 cosine between the question and each document's best chunk.

    Uses the vectors already stored for search (one query embedding, one product over the matrix: a few
    milliseconds); a document without stored vectors gets its passage embedded on the fly.
    """
    from territoria.models.embeddings import get_embedder
    from territoria.search.engine import dense_signal, get_index

    out = [float("nan")] * len(doc_ids)
    try:
        idx = get_index(tenant)
        if "e5-small" in idx.dense:
            cached = _pos_cache.get(id(idx))
            if cached is None or cached[0] is not idx:
                cached = (idx, {d: i for i, d in enumerate(idx.doc_ids)})
                _pos_cache.clear()
                _pos_cache[id(idx)] = cached
            pos = cached[1]
            sig = dense_signal(idx, question, "e5-small")
            if sig is not None:
                for i, d in enumerate(doc_ids):
                    j = pos.get(d)
                    if j is not None and np.isfinite(sig.doc_scores[j]):
                        out[i] = float(sig.doc_scores[j])
    except Exception:  # no index / no vectors: computed below
        pass
    todo = [i for i, v in enumerate(out) if not np.isfinite(v)]
    if todo:
        emb = embedder or get_embedder("e5-small")
        q = emb.embed_queries([question])[0]
        vecs = emb.embed_passages([texts[i] for i in todo])
        for i, v in zip(todo, vecs @ q):
            out[i] = float(v)
    return out


def gather(question: str, hits, *, tenant: str | None = None, embedder=None) -> Evidence:
    """Score the first hits and build the excerpts for the prompt."""
    hits = list(hits)[:EXAMINE]
    if not hits:
        return Evidence(passages=[], score=-1.0)
    injection = False
    cands: list[Passage] = []
    for i, h in enumerate(hits):
        text, found = strip_instructions(h.text or "")
        title, found_t = strip_instructions(h.title or "")
        injection |= found or found_t
        cands.append(Passage(n=i + 1, doc_id=h.doc_id, chunk_id=h.chunk_id, title=title or h.doc_id, url=h.url,
                             section=h.section or "", page=h.page, text=text, excerpt="", score=float(h.score)))
    idf = _idf_lookup(tenant)
    qt = terms(question)
    cos = dense_cosines(question, tenant, [c.doc_id for c in cands],
                        [f"{c.title}\n{c.text[:1200]}" for c in cands], embedder)
    per_cov = []
    for c, c_cos in zip(cands, cos):
        sents = split_sentences(c.text) or [c.text[:EXCERPT_CHARS]]
        if len(c.text) <= EXCERPT_CHARS:
            c.excerpt = " ".join(sents)
        else:
            # the sentence holding most of the question's (idf-weighted) words, then what follows it
            scores = [sum(idf(t) for t in terms(x) & qt) / (1 + len(terms(x))) ** 0.3 for x in sents]
            c.excerpt = excerpt_around(sents, int(np.argmax(scores)), EXCERPT_CHARS)
        c_cov = coverage(qt, c.all_terms, idf)
        per_cov.append(c_cov)
        c.evidence = W_COS * (c_cos - COS0) + W_COV * (c_cov - COV0)
    best = int(np.argmax([c.evidence for c in cands]))
    ev = Evidence(passages=[], candidates=cands, cos=max(cos), coverage=per_cov[best],
                  score=cands[best].evidence, injection=injection)
    ev.signals = {"cos_top1": cos[0], "cov_top1": per_cov[0], "best_rank": best + 1, "cov_max": max(per_cov)}
    # excerpts for the model: search order; the first hit always, the next ones unless far weaker
    kept = [c for i, c in enumerate(cands) if i == 0 or c.evidence >= ev.score - KEEP_MARGIN][:MAX_PASSAGES]
    for c in cands:
        c.n = 0
    for n, c in enumerate(kept, 1):
        c.n = n
    ev.passages = kept
    return ev
