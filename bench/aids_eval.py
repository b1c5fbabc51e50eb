"""Aid finder benchmark: import the shared sources into a data dir, evaluate on the shared dev cases and on
our own cases, print the figures and write bench/results/aids_eval.json.

    .venv/bin/python bench/aids_eval.py [--shared ../shared/data] [--data-dir DIR] [--ablations]

--data-dir reuses a data dir (aid vectors are cached by text hash, so a second run does not re-embed);
by default a temporary one is used. The reference date is 2026-12-02 (TERRITORIA_TODAY) so that the
figures do not move with the calendar (aids that have ended are never offered).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REF_DATE = "2026-12-02"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--own", default=str(REPO / "bench" / "aids_cases_own.jsonl"))
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "aids_eval.json"))
    ap.add_argument("--ablations", action="store_true", help="Also measure without dense / lexicon / title index.")
    ap.add_argument("--index", action="store_true", help="Also index the aids as documents (slower).")
    args = ap.parse_args()
    os.environ.setdefault("TERRITORIA_TODAY", REF_DATE)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    shared = Path(args.shared)
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="territoria-aids-"))

    from territoria.aids.catalogue import import_paths
    from territoria.aids.evaluate import evaluate_cases, load_cases
    from territoria.aids.finder import WEIGHTS
    from territoria.core.settings import Settings, set_settings

    settings = set_settings(Settings(data_dir=data_dir))
    t0 = time.perf_counter()
    rep = import_paths([shared / "aids"], index=args.index, settings=settings,
                       on_progress=lambda m: print(m, file=sys.stderr))
    import_s = time.perf_counter() - t0
    print(f"import: {rep.total} aids in {import_s:.0f} s ({rep.embedded} embedded)", file=sys.stderr)

    dev = load_cases(shared / "aids" / "dev_cases.jsonl")
    own = load_cases(Path(args.own))
    sets = {
        "dev_cases": dev,
        "own_business_association": [c for c in own if c.get("group") == "business_association"],
        "own_citizen_own_words": [c for c in own if c.get("group") == "citizen_own_words"],
        "own_all": own,
    }
    results = {"date": REF_DATE, "catalogue": rep.total, "import_seconds": round(import_s, 1),
               "sources": {s["source"]: s["aids"] for s in rep.sources}, "weights": dataclasses.asdict(WEIGHTS),
               "sets": {}}
    for name, cases in sets.items():
        r = evaluate_cases(cases, details=True)
        misses = [{"id": c["id"], "need": c["need"], "got": [x["id"] for x in c["results"][:3]]}
                  for c in r.pop("cases") if not c["top1"]]
        r["top1_misses"] = misses
        results["sets"][name] = r
        print(f"{name:28s} n={r['n']:3d} top1={r['top1']:.3f} top3={r['top3']:.3f} "
              f"ineligible_in_top3={r['ineligible_in_top3_rate']:.3f} p95={r['p95_ms']} ms")
    r = evaluate_cases(dev, query_cache=False)
    results["dev_cases_no_query_cache"] = {k: r[k] for k in ("top1", "top3", "ineligible_in_top3_rate", "p95_ms",
                                                             "mean_ms")}
    print(f"{'dev_cases (no query cache)':28s} p95={r['p95_ms']} ms mean={r['mean_ms']} ms")
    if args.ablations:
        variants = {
            "lexical_only (no dense)": dataclasses.replace(WEIGHTS, dense=0.0),
            "no_lexicon": dataclasses.replace(WEIGHTS, expansion=0.0, dense_expand=False),
            "no_title_index": dataclasses.replace(WEIGHTS, bm25=0.5, bm25_title=0.0),
            "portal_baseline (filter + BM25 title+description)": dataclasses.replace(
                WEIGHTS, bm25=1.0, bm25_title=0.0, dense=0.0, expansion=0.0, dense_expand=False, specificity=0.0,
                eligible_bonus=0.0, min_relative_relevance=0.0),
        }
        results["ablations"] = {}
        for vname, w in variants.items():
            row = {}
            for name in ("dev_cases", "own_citizen_own_words", "own_business_association"):
                r = evaluate_cases(sets[name], weights=w)
                row[name] = {k: r[k] for k in ("top1", "top3", "ineligible_in_top3_rate", "p95_ms")}
            results["ablations"][vname] = row
            print(f"  {vname}: " + "  ".join(f"{k} {v['top1']:.3f}/{v['top3']:.3f}" for k, v in row.items()))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"written {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
