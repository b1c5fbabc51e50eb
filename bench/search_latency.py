"""Benchmark: hybrid search latency (warm) at ~100k chunks.

The Service-Public corpus (~41k chunks) is replicated with distinct document ids until the target size is
reached. Vectors are content-addressed, so the replicas reuse the vectors of the originals (pass
`--from-data-dir` with a data dir where the fiches are already embedded, to copy its vectors).

    python bench/search_latency.py --from-data-dir DIR [--chunks 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sqlite3
import tempfile
import time
from pathlib import Path

from _common import FICHES, QA_PARA, QA_TITLES, peak_rss_mb, write_result

import numpy as np

from territoria.core.settings import Settings, set_settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--from-data-dir", type=Path, required=True, help="data dir with the fiches embedded")
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="territoria-latency-"))
    settings = set_settings(Settings(data_dir=data_dir))

    from territoria.ingest.pipeline import ingest_records, record_from_row
    from territoria.search.engine import get_index, search
    from territoria.store import get_store

    store = get_store(settings)
    src = sqlite3.connect(args.from_data_dir / "territoria.sqlite3")
    n_vec = 0
    for model, key, vec in src.execute("SELECT model, key, vec FROM embeddings"):
        store._conn.execute("INSERT OR IGNORE INTO embeddings VALUES (?, ?, ?)", (model, key, vec))
        n_vec += 1
    print(f"copied {n_vec} vectors")
    rows = [json.loads(line) for line in gzip.open(FICHES, "rt", encoding="utf-8")]
    replica = 0
    t0 = time.perf_counter()
    while store.count_chunks(settings.tenant) < args.chunks:
        recs = []
        for r in rows:
            r = dict(r)
            if replica:
                r["id"] = f"{r['id']}-r{replica}"
            recs.append(record_from_row(r, "service-public"))
        ingest_records(recs, settings=settings)
        replica += 1
        print(f"replica {replica}: {store.count_chunks(settings.tenant)} chunks", flush=True)
    ingest_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    idx = get_index(settings=settings)
    build_s = time.perf_counter() - t1
    n_chunks = len(idx.rows)
    dense_n = {m: len(v[0]) for m, v in idx.dense.items()}
    questions = [json.loads(l)["question"] for l in open(QA_PARA, encoding="utf-8")]
    questions += [json.loads(l)["question"] for l in open(QA_TITLES, encoding="utf-8")]
    questions = questions[: args.queries]
    for q in questions[:5]:  # warm-up: models loaded, index in memory
        search(q, k=10, settings=settings)
    out = {"chunks": n_chunks, "documents": idx.n_docs, "vectors": dense_n, "index_build_s": round(build_s, 2),
           "replication_ingest_s": round(ingest_s, 1)}
    from territoria.search.engine import _query_vector

    for mode in ("bm25", "dense", "hybrid"):
        _query_vector.cache_clear()  # no query seen before: each search encodes its question
        lat = []
        for q in questions:
            t = time.perf_counter()
            search(q, k=10, mode=mode, settings=settings)
            lat.append((time.perf_counter() - t) * 1000)
        out[mode] = {"p50_ms": round(float(np.percentile(lat, 50)), 2),
                     "p95_ms": round(float(np.percentile(lat, 95)), 2), "queries": len(lat)}
        print(f"{mode:7} p50 {out[mode]['p50_ms']:.1f} ms  p95 {out[mode]['p95_ms']:.1f} ms")
    t2 = time.perf_counter()
    from territoria.search import engine
    engine._cache.clear()
    get_index(settings=settings)
    out["index_load_from_disk_s"] = round(time.perf_counter() - t2, 2)
    out["peak_rss_mb"] = round(peak_rss_mb())
    write_result("search_latency", out)


if __name__ == "__main__":
    main()
