"""Evaluation of answers on a QA set (`territoria eval answers`, bench/answers_eval.py).

Each row: `question`, `relevant_ids` (an empty list: the corpus cannot answer, the assistant must abstain).
- answerable.answered_rate      share of answerable questions that got an answer (no abstention)
- answerable.citation_hit_rate  share of *answered* questions with at least one cited doc in relevant_ids
- answerable.citation_precision share of cited docs (over answered questions) that are relevant
- unanswerable.abstain_rate     share of unanswerable questions where the assistant abstained
- latency_ms                    over all questions: first token p50, total p50 / p95 (answered-only too)
- energy_wh_mean                mean estimated energy per question (see service.energy_wh)
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np


def load_rows(path: Path) -> list[dict]:
    """The same QA format as `eval retrieval` (search.evaluation.load_qa), with the same French errors."""
    from territoria.search.evaluation import load_qa

    return load_qa(Path(path))


def _pct(xs: list[float], q: float) -> float | None:
    return round(float(np.percentile(xs, q)), 1) if xs else None


def aggregate(recs: list[dict]) -> dict:
    ans = [r for r in recs if r["relevant_ids"]]
    un = [r for r in recs if not r["relevant_ids"]]
    answered = [r for r in ans if not r["abstained"]]
    hit = [r for r in answered if set(r["cited_ids"]) & set(r["relevant_ids"])]
    n_cited = sum(len(r["cited_ids"]) for r in answered)
    n_cited_ok = sum(len(set(r["cited_ids"]) & set(r["relevant_ids"])) for r in answered)
    first = [r["latency_ms"]["first_token"] for r in recs if r["latency_ms"].get("first_token") is not None]
    total = [r["latency_ms"]["total"] for r in recs]
    gen = [r for r in recs if not r["abstained"]]
    modes: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for r in recs:
        modes[r.get("mode") or "?"] = modes.get(r.get("mode") or "?", 0) + 1
        if r.get("reason"):
            reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1
    return {
        "n": len(recs),
        "answerable": {
            "n": len(ans),
            "answered_rate": round(len(answered) / len(ans), 4) if ans else None,
            "citation_hit_rate": round(len(hit) / len(answered), 4) if answered else None,
            "citation_precision": round(n_cited_ok / n_cited, 4) if n_cited else None,
        },
        "unanswerable": {
            "n": len(un),
            "abstain_rate": round(sum(1 for r in un if r["abstained"]) / len(un), 4) if un else None,
        },
        "latency_ms": {
            "first_token_p50": _pct(first, 50), "total_p50": _pct(total, 50), "total_p95": _pct(total, 95),
            "answered_first_token_p50": _pct([r["latency_ms"]["first_token"] for r in gen
                                              if r["latency_ms"].get("first_token") is not None], 50),
            "answered_total_p50": _pct([r["latency_ms"]["total"] for r in gen], 50),
            "answered_total_p95": _pct([r["latency_ms"]["total"] for r in gen], 95),
        },
        "energy_wh_mean": round(float(np.mean([r["energy_wh"] for r in recs])), 6) if recs else None,
        "modes": modes,
        "abstain_reasons": reasons,
        "model": next((r["model"] for r in recs if r.get("model")), None),
        "prompt_version": next((r["prompt_version"] for r in recs if r.get("prompt_version")), None),
    }


def evaluate_answers(rows: list[dict], *, tenant: str | None = None, backend: str | None = None,
                     out: Path | None = None, on_progress: Callable[[], None] | None = None,
                     ask_fn: Callable | None = None) -> dict:
    """Ask every question, write one JSON line per question to `out`, return the aggregate."""
    from territoria.assistant.service import ask

    ask_fn = ask_fn or (lambda q: ask(q, tenant=tenant, backend=backend))
    recs: list[dict] = []
    fh = None
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fh = open(out, "w", encoding="utf-8")
    try:
        for r in rows:
            t0 = time.perf_counter()
            a = ask_fn(r["question"])
            d = a.to_dict() if hasattr(a, "to_dict") else a
            cited = []
            for c in d["citations"]:
                if c["doc_id"] not in cited:
                    cited.append(c["doc_id"])
            rec = {
                "id": r.get("id"), "question": r["question"], "relevant_ids": list(r.get("relevant_ids") or []),
                "answer": d["answer"], "abstained": d["abstained"], "cited_ids": cited,
                "hit": bool(set(cited) & set(r.get("relevant_ids") or [])),
                "latency_ms": d["latency_ms"], "energy_wh": d["energy_wh"], "model": d.get("model"),
                "mode": d.get("mode"), "reason": d.get("reason"), "prompt_version": d.get("prompt_version"),
                "evidence": d.get("evidence"), "usage": d.get("usage"), "style": r.get("style"),
                "theme": r.get("theme"), "reference_answer": r.get("answer"),
                "wall_ms": round((time.perf_counter() - t0) * 1000, 1),
            }
            recs.append(rec)
            if fh:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                fh.flush()
            if on_progress:
                on_progress()
    finally:
        if fh:
            fh.close()
    return aggregate(recs)
