"""Answer latency of the embedded model on this machine: first token, total, tokens/s.

For a fixed list of typical citizen questions (answerable ones from dev_paraphrased, or your own file),
runs the full assistant (retrieval, evidence, prompt, generation, checks) and reports medians of:
- first_token_ms: first checked text shown to the user (what a citizen waits for);
- first_model_token_ms: the model's first token (prompt processing done);
- total_ms, generation tok/s and prompt tok/s as timed by llama.cpp itself.
Writes bench/results/answers_latency.json. Time it when no other job runs on the cores (MODELS.md).

Usage: python bench/answers_latency.py --data-dir D [--n 10] [--model qwen2.5-1.5b] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--qa", type=Path, default=REPO.parent / "shared" / "data" / "qa" / "dev_paraphrased.jsonl")
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--model", default="qwen2.5-1.5b")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "answers_latency.json")
    args = ap.parse_args()
    if args.threads:
        os.environ["TERRITORIA_LLM_THREADS"] = str(args.threads)
    from territoria.assistant.service import ask
    from territoria.core.settings import Settings, set_settings
    from territoria.models.llm import get_llm

    if args.data_dir:
        set_settings(Settings(data_dir=args.data_dir))
    rows = [json.loads(l) for l in args.qa.read_text(encoding="utf-8").splitlines() if l.strip()]
    rows = [r for r in rows if r.get("relevant_ids")]
    step = max(1, len(rows) // args.n)
    rows = rows[::step][:args.n]  # spread over the file: every style of question
    load0 = os.getloadavg()[0]
    t = time.perf_counter()
    llm = get_llm("embedded", args.model)
    load_s = time.perf_counter() - t
    ask("Comment refaire une carte d'identité perdue ?", llm=llm)  # warm-up: caches, system prompt KV
    per = []
    for r in rows:
        a = ask(r["question"], llm=llm)
        lat, u = a.latency_ms, a.usage
        per.append({"id": r["id"], "mode": a.mode, "first_token_ms": lat.get("first_token"),
                    "first_model_token_ms": lat.get("first_model_token"), "total_ms": lat.get("total"),
                    "prompt_tokens": u.get("prompt_tokens"), "cached_tokens": u.get("cached_tokens"),
                    "completion_tokens": u.get("completion_tokens"), "gen_tok_s": u.get("tokens_per_s"),
                    "energy_wh": a.energy_wh})
        print(json.dumps(per[-1]), file=sys.stderr, flush=True)

    def med(k):
        xs = [p[k] for p in per if p.get(k) is not None]
        return round(statistics.median(xs), 1) if xs else None

    res = {"model": llm.model, "threads": getattr(llm, "threads", None), "model_load_s": round(load_s, 1),
           "n": len(per), "generated": sum(1 for p in per if p["mode"] == "generated"),
           "first_token_ms_p50": med("first_token_ms"), "first_model_token_ms_p50": med("first_model_token_ms"),
           "total_ms_p50": med("total_ms"), "total_ms_max": max((p["total_ms"] for p in per), default=None),
           "gen_tok_s_p50": med("gen_tok_s"), "prompt_tokens_p50": med("prompt_tokens"),
           "uncached_prompt_tokens_p50": round(statistics.median(
               [p["prompt_tokens"] - (p["cached_tokens"] or 0) for p in per if p.get("prompt_tokens")]), 1) if per else None,
           "energy_wh_p50": med("energy_wh"),
           "load_avg_start": round(load0, 2), "load_avg_end": round(os.getloadavg()[0], 2),
           "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M"), "questions": per}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in res.items() if k != "questions"}, indent=2))


if __name__ == "__main__":
    main()
