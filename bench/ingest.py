"""Benchmark: ingestion of all Service-Public fiches (lexical, then dense vectors).

    python bench/ingest.py                   # full run: lexical + every vector (about 17 minutes idle)
    python bench/ingest.py --dense-sample 300  # lexical + vectors for a random sample, full time extrapolated

Writes bench/results/ingest_fiches.json (docs/s, chunks/s, peak RSS, minutes, and the load average,
since the dense throughput depends on what else runs on the 2 cores).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from _common import FICHES, peak_rss_mb, write_result

from territoria.core.settings import Settings, set_settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--dense-sample", type=int, default=None,
                    help="embed only N random passages per model and extrapolate the full time")
    args = ap.parse_args()
    settings = set_settings(Settings(data_dir=args.data_dir or Path(tempfile.mkdtemp(prefix="territoria-ingest-"))))

    from territoria.ingest.pipeline import ingest_paths
    from territoria.models.embeddings import get_embedder
    from territoria.search.dense import DEFAULT_PLAN, embed_pending
    from territoria.store import get_store

    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    summary = ingest_paths([FICHES], settings=settings)
    lexical_s = time.perf_counter() - t0
    print(f"lexical: {summary.ingested} docs, {summary.chunks} chunks in {lexical_s:.1f} s "
          f"({summary.ingested / lexical_s:.0f} docs/s, {summary.chunks / lexical_s:.0f} chunks/s), searchable now")
    store = get_store(settings)
    out = {"documents": summary.ingested, "chunks": summary.chunks, "failed": len(summary.failed),
           "lexical_seconds": round(lexical_s, 1), "docs_per_s": round(summary.ingested / lexical_s, 1),
           "chunks_per_s": round(summary.chunks / lexical_s, 1),
           "dense_plan": {k: list(v) for k, v in DEFAULT_PLAN.items()}, "load_avg_start": round(load0, 2)}
    dense = {}
    if args.dense_sample:
        rng = random.Random(0)
        for model, kinds in DEFAULT_PLAN.items():
            todo = store.missing_embeddings(settings.tenant, model, kinds)
            sample = rng.sample(todo, min(args.dense_sample, len(todo)))
            emb = get_embedder(model)
            emb.embed_passages([sample[0][1]])  # load the model
            t = time.perf_counter()
            for i in range(0, len(sample), 32):
                emb.embed_passages([x[1] for x in sample[i:i + 32]])
            per = (time.perf_counter() - t) / len(sample)
            dense[model] = {"passages": len(todo), "sampled": len(sample), "passages_per_s": round(1 / per, 1),
                            "extrapolated_minutes": round(per * len(todo) / 60, 1)}
            print(f"{model}: {1 / per:.1f} passages/s on a sample of {len(sample)} → {per * len(todo) / 60:.1f} min "
                  f"for the {len(todo)} passages")
        total = lexical_s / 60 + sum(d["extrapolated_minutes"] for d in dense.values())
        out.update(dense=dense, total_minutes_extrapolated=round(total, 1))
    else:
        t1 = time.perf_counter()
        done = embed_pending(store, settings.tenant)
        dense_s = time.perf_counter() - t1
        out.update(dense={m: {"passages": n} for m, n in done.items()}, dense_minutes=round(dense_s / 60, 1),
                   total_minutes=round((lexical_s + dense_s) / 60, 1))
        print(f"dense: {done} in {dense_s / 60:.1f} min")
    out["load_avg_end"] = round(os.getloadavg()[0], 2)
    out["peak_rss_mb"] = round(peak_rss_mb())
    write_result("ingest_fiches", out)


if __name__ == "__main__":
    main()
