"""Answer quality of the assistant on a QA set, with the embedded model (default: Qwen2.5 1.5B).

Writes bench/results/answers_eval.json (aggregate + run conditions) and
bench/results/answers_eval_questions.jsonl (one line per question: answer, abstained, cited ids, latencies).

Usage:
  python bench/answers_eval.py [QA.jsonl] --data-dir D [--limit N] [--model qwen2.5-1.5b] [--tenant T]
Default QA: ../shared/data/qa/dev_paraphrased.jsonl. The data dir must hold the ingested fiches.
Time it on a quiet machine: llama.cpp throughput drops 5–10× when other jobs share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("qa", nargs="?", type=Path, default=REPO.parent / "shared" / "data" / "qa" / "dev_paraphrased.jsonl")
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--tenant")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--model", default=os.environ.get("TERRITORIA_LLM_MODEL", "qwen2.5-1.5b"))
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "answers_eval.json")
    args = ap.parse_args()
    from territoria.assistant.evaluate import evaluate_answers, load_rows
    from territoria.assistant.prompts import PROMPT_VERSION
    from territoria.core.settings import Settings, get_settings, set_settings
    from territoria.models.llm import get_llm

    if args.data_dir:
        set_settings(Settings(data_dir=args.data_dir))
    rows = load_rows(args.qa)
    if args.limit:
        # keep the answerable / unanswerable mix: first N of each, in file order
        ans = [r for r in rows if r.get("relevant_ids")]
        un = [r for r in rows if not r.get("relevant_ids")]
        k = max(1, round(args.limit * len(un) / len(rows)))
        rows = ans[:args.limit - k] + un[:k]
    t0 = time.perf_counter()
    llm = get_llm("embedded", args.model)
    load_s = time.perf_counter() - t0
    per_q = args.out.with_name(args.out.stem + "_questions.jsonl")
    load1 = os.getloadavg()[0]
    t1 = time.perf_counter()
    from territoria.assistant.service import ask

    res = evaluate_answers(rows, tenant=args.tenant, out=per_q,
                           ask_fn=lambda q: ask(q, tenant=args.tenant, llm=llm),
                           on_progress=lambda: print(".", end="", flush=True, file=sys.stderr))
    res["conditions"] = {
        "qa": str(args.qa.name), "limit": args.limit, "model": llm.model, "model_name": args.model,
        "llm_threads": getattr(llm, "threads", None), "model_load_s": round(load_s, 1),
        "prompt_version": PROMPT_VERSION, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_avg_start": round(load1, 2), "load_avg_end": round(os.getloadavg()[0], 2),
        "wall_s": round(time.perf_counter() - t1, 1), 
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(file=sys.stderr)
    print(json.dumps(res, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
