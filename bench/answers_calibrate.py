"""Evidence signals on a QA set, without the LLM: the data used to calibrate abstention thresholds.

For each question: policy screen, hybrid search, evidence signals (assistant/evidence.py), whether a
relevant document is among the excerpts. Writes bench/results/answers_calibration.jsonl and prints,
for candidate thresholds, the answered rate / abstain rate / citation hit rate they would give.

Usage: python bench/answers_calibrate.py QA.jsonl [--data-dir D] [--tenant T] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("qa", type=Path)
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--tenant")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "answers_calibration.jsonl")
    ap.add_argument("--reuse", action="store_true", help="re-read --out instead of recomputing")
    args = ap.parse_args()
    from territoria.core.settings import Settings, set_settings

    if args.data_dir:
        set_settings(Settings(data_dir=args.data_dir))
    rows = [json.loads(l) for l in args.qa.read_text(encoding="utf-8").splitlines() if l.strip()][:args.limit]
    if args.reuse:
        recs = [json.loads(l) for l in args.out.read_text().splitlines()]
    else:
        recs = compute(rows, args.tenant)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in recs) + "\n")
    report(recs)


def compute(rows, tenant):
    from territoria.assistant.evidence import gather
    from territoria.assistant.policy import screen
    from territoria.assistant.service import _place_covered, corpus_latest_year
    from territoria.search.engine import search

    recs = []
    search("échauffement", k=3, tenant=tenant)
    for r in rows:
        t0 = time.perf_counter()
        q = r["question"]
        sc = screen(q)
        hits = search(q, k=8, mode="hybrid", tenant=tenant)
        ev = gather(q, hits, tenant=tenant)
        rel = set(r.get("relevant_ids") or [])
        ranks = [i + 1 for i, h in enumerate(hits) if h.doc_id in rel]
        recs.append({
            "id": r.get("id"), "answerable": bool(rel), "theme": r.get("theme"), "style": r.get("style"),
            "reason": sc.reason, "places": sc.places, "places_missing": [p for p in sc.places if not _place_covered(p, q, ev.candidates)],
            "local_cue": sc.local_cue, "years": sorted(sc.years), "latest_year": corpus_latest_year(tenant),
            "rank": ranks[0] if ranks else None, **ev.to_dict(),
            "kept": [p.doc_id for p in ev.passages], "kept_hit": bool(rel & {p.doc_id for p in ev.passages}),
            "cand_ev": [round(c.evidence, 4) for c in ev.candidates],
            "cand_ids": [c.doc_id for c in ev.candidates],
            "ms": round((time.perf_counter() - t0) * 1000),
        })
        print(json.dumps(recs[-1], ensure_ascii=False), file=sys.stderr)
    return recs


def report(recs):
    ans = [r for r in recs if r["answerable"]]
    un = [r for r in recs if not r["answerable"]]
    print(f"{len(ans)} answerable, {len(un)} unanswerable")
    print("rank distribution:", {k: sum(1 for r in ans if (r['rank'] or 99) <= k) / max(1, len(ans)) for k in (1, 2, 3, 4, 8)})
    print("kept_hit:", sum(r["kept_hit"] for r in ans) / max(1, len(ans)))
    for th in (-0.10, -0.08, -0.06, -0.05, -0.045, -0.04, -0.03, -0.02, -0.01, 0.0, 0.01):
        a_ans = [r for r in ans if r["score"] >= th]
        u_abs = [r for r in un if r["reason"] or r["score"] < th or (r["places_missing"] and r["local_cue"])
                 or any(y > (r["latest_year"] or 9999) for y in r["years"])]
        hit = sum(r["kept_hit"] for r in a_ans) / max(1, len(a_ans))
        print(f"th {th:+.2f}: answered {len(a_ans) / len(ans):.3f}  abstain {len(u_abs) / max(1, len(un)):.3f}  "
              f"hit(kept) {hit:.3f}")


if __name__ == "__main__":
    main()
