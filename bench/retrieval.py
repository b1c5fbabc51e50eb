"""Benchmark: retrieval quality on both dev question sets, over a data dir where the fiches are ingested
and embedded (`territoria --data-dir DIR ingest ../shared/data/service-public/fiches.jsonl.gz`, or
bench/ingest.py --data-dir DIR).

    python bench/retrieval.py --data-dir DIR [--limit N]

Prints and writes bench/results/retrieval.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import QA_PARA, QA_TITLES, write_result

from territoria.core.settings import Settings, set_settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    data_dir = args.data_dir
    settings = set_settings(Settings(data_dir=data_dir))
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
    write_result("retrieval", out)


if __name__ == "__main__":
    main()
