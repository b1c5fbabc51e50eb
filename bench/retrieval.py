"""Benchmark: ingest all Service-Public fiches, then retrieval quality on both dev question sets.

    python bench/retrieval.py [--data-dir DIR] [--skip-ingest]

Prints and writes bench/results/ingest_fiches.json and bench/results/retrieval.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import FICHES, QA_PARA, QA_TITLES, peak_rss_mb, write_result

from territoria.core.settings import Settings, set_settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="territoria-bench-"))
    settings = set_settings(Settings(data_dir=data_dir))

    from territoria.ingest.pipeline import ingest_paths
    from territoria.search.dense import DEFAULT_PLAN, embed_pending
    from territoria.store import get_store

    if not args.skip_ingest:
        t0 = time.perf_counter()
        summary = ingest_paths([FICHES], settings=settings)
        lexical_s = time.perf_counter() - t0
        print(f"lexical: {summary.ingested} docs, {summary.chunks} chunks in {lexical_s:.1f} s "
              f"({summary.ingested / lexical_s:.0f} docs/s, {summary.chunks / lexical_s:.0f} chunks/s)")
        t1 = time.perf_counter()
        last = [0.0]

        def progress(model: str, n: int, total: int) -> None:
            if time.perf_counter() - last[0] > 30:
                last[0] = time.perf_counter()
                print(f"  {model}: {n}/{total} ({time.perf_counter() - t1:.0f} s)", flush=True)

        embedded = embed_pending(get_store(settings), settings.tenant, on_progress=progress)
        dense_s = time.perf_counter() - t1
        print(f"dense: {embedded} in {dense_s / 60:.1f} min")
        write_result("ingest_fiches", {
            "documents": summary.ingested, "chunks": summary.chunks, "failed": len(summary.failed),
            "lexical_seconds": round(lexical_s, 1), "docs_per_s": round(summary.ingested / lexical_s, 1),
            "chunks_per_s": round(summary.chunks / lexical_s, 1), "dense_plan": {k: list(v) for k, v in DEFAULT_PLAN.items()},
            "vectors": embedded, "dense_minutes": round(dense_s / 60, 2),
            "total_minutes": round((lexical_s + dense_s) / 60, 2), "peak_rss_mb": round(peak_rss_mb()),
        })

    from territoria.search.engine import timed_search
    from territoria.search.evaluation import evaluate, load_qa

    out = {}
    timed_search("échauffement", k=10, settings=settings)
    for name, path in (("dev_paraphrased", QA_PARA), ("dev", QA_TITLES)):
        rows = [r for r in load_qa(path) if r.get("relevant_ids")][: args.limit]
        res = evaluate(rows, lambda q, m: timed_search(q, k=10, mode=m, settings=settings),
                       ["bm25", "dense", "hybrid"], by="style" if name == "dev_paraphrased" else None)
        out[name] = res
        print(f"\n{name} ({res['n']} questions)")
        for m, v in res["modes"].items():
            print(f"  {m:7} R@1 {v['recall@1']:.3f}  R@5 {v['recall@5']:.3f}  R@10 {v['recall@10']:.3f}  "
                  f"MRR@10 {v['mrr@10']:.3f}  nDCG@10 {v['ndcg@10']:.3f}  p50 {v['p50_ms']:.1f} ms  p95 {v['p95_ms']:.1f} ms")
            if v.get("recall@5_by_style"):
                print("          recall@5 by style:", v["recall@5_by_style"])
            v.pop("missed@5", None) if name == "dev" else None
    write_result("retrieval", {"data_dir": str(data_dir), **out})


if __name__ == "__main__":
    main()
