"""Experiment: would e5 on every passage (not only each document's head) lift recall on citizens' questions?

Encoding all ~34,000 body passages of the fiches with e5 takes ~1 h 45 on 2 cores, so this measures it where
it can matter: every body passage of each question's top K hybrid documents is encoded (vectors cached by
content, so a rerun costs nothing), and the document's best e5 passage is fused as an extra signal (or
replaces the head vector) to rerank those K. Reranking the top K bounds recall@5 by recall@K.

    python bench/e5_body_rerank.py --data-dir DIR [--k 10] [--limit N]

DIR: the fiches ingested with the default vectors (see bench/retrieval.py). Prints and writes
bench/results/e5_body_rerank.json. Result (2026-12-03): not kept, see docs/search.md.
"""

from __future__ import annotations

import argparse
import pickle
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from _common import QA_PARA, write_result

from territoria.core.settings import Settings, set_settings

WEIGHTS = (0.5, 1.0, 1.5, 2.0, 3.0, 5.0)


def _z(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() or 1.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    settings = set_settings(Settings(data_dir=args.data_dir))
    from territoria.models.embeddings import get_embedder
    from territoria.search import engine as E
    from territoria.search.dense import embed_key
    from territoria.search.evaluation import load_qa, metrics_for
    from territoria.store import get_store

    idx = E.get_index(settings.tenant, settings)
    rows = [r for r in load_qa(QA_PARA) if r.get("relevant_ids")][:args.limit]
    per_q = []
    for r in rows:  # the hybrid ranking as search() fuses it, and each candidate's fused score
        q = r["question"]
        sigs = [s for s in [E.bm25_signal(idx, q)] + [E.dense_signal(idx, q, m) for m in idx.dense] if s]
        for s in sigs:
            s.weight = E.SIGNAL_WEIGHTS.get(s.name, 1.0)
        fused, _ = E.fuse_z(sigs, idx.n_docs, None)
        top = E._rank_docs(fused, None, 30)
        e5 = next(s for s in sigs if s.name == "e5-small").doc_scores[top[:args.k]]
        per_q.append({"r": r, "docs": [idx.doc_ids[d] for d in top], "fused": fused[top[:args.k]],
                      "head": np.where(np.isfinite(e5), e5, np.nan), "qv": E._query_vector("e5-small", q)})

    wanted = {d for p in per_q for d in p["docs"][:args.k]}
    keys: dict[str, list[str]] = defaultdict(list)
    texts: dict[str, str] = {}
    for sc in get_store(settings).iter_chunks(settings.tenant):
        if sc.chunk.kind == "body" and sc.chunk.doc_id in wanted:
            k = embed_key(sc.embed_text)
            keys[sc.chunk.doc_id].append(k)
            texts[k] = sc.embed_text
    cache_path = settings.cache_dir / "e5_body_rerank.pkl"
    cache = pickle.loads(cache_path.read_bytes()) if cache_path.exists() else {}
    todo = [k for k in texts if k not in cache]
    print(f"{len(wanted)} documents, {len(texts)} passages, {len(todo)} to encode", flush=True)
    emb, t0 = get_embedder("e5-small"), time.perf_counter()
    for i in range(0, len(todo), 32):
        part = todo[i:i + 32]
        cache.update(zip(part, emb.embed_passages([texts[k] for k in part])))
        if i % 640 == 0:
            cache_path.write_bytes(pickle.dumps(cache))
            print(f"  {i + len(part)}/{len(todo)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    cache_path.write_bytes(pickle.dumps(cache))
    encode_s = time.perf_counter() - t0

    def run(mode: str, w: float) -> dict:
        per, by_style = [], defaultdict(list)
        for p in per_q:
            head = np.nan_to_num(p["head"], nan=float(np.nanmin(p["head"])) if np.isfinite(p["head"]).any() else 0.0)
            body = np.asarray([max((float(cache[k] @ p["qv"]) for k in keys[d]), default=head[i])
                               for i, d in enumerate(p["docs"][:args.k])])
            extra = body if mode == "body" else np.maximum(head, body)
            score = p["fused"] + (w * _z(extra) if w else 0.0)
            ranked = [p["docs"][i] for i in np.argsort(-score, kind="stable")] + p["docs"][args.k:]
            m = metrics_for(ranked, set(p["r"]["relevant_ids"]))
            per.append(m)
            by_style[p["r"].get("style", "")].append(m["recall@5"])
        out = {key: round(float(np.mean([m[key] for m in per])), 4) for key in ("recall@1", "recall@5", "ndcg@10")}
        out["recall@5_by_style"] = {s: round(float(np.mean(v)), 4) for s, v in sorted(by_style.items())}
        return out

    results = {"baseline": run("all", 0.0)}
    print("baseline", results["baseline"])
    for mode in ("body", "all"):  # best body passage as a 4th signal / max(head, body) as the e5 signal
        for w in WEIGHTS:
            results[f"{mode}_w{w}"] = run(mode, w)
            print(mode, w, results[f"{mode}_w{w}"])
    write_result("e5_body_rerank", {"n": len(per_q), "k": args.k, "documents": len(wanted),
                                    "passages": len(texts), "encoded_now": len(todo), "encode_s": round(encode_s, 1),
                                    "passages_per_s": round(len(todo) / encode_s, 2) if todo else None,
                                    "results": results})


if __name__ == "__main__":
    main()
