"""Evaluation of the finder on cases: `{"profile", "need", "expected_ids", "ineligible_ids"}` per line.

top-k = share of cases with at least one expected id in the first k results; ineligible_in_top3_rate =
share of cases with any ineligible id in the first 3; p95_ms = 95th percentile of the time to answer one
case (profile preparation, eligibility of the whole catalogue, hybrid relevance, ranking; no LLM).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from territoria.aids.finder import WEIGHTS, Weights, get_index, prepare_profile, rank
from territoria.aids.profile import ProfileError, normalize_profile
from territoria.core.errors import TerritoriaError


def load_cases(path: Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise TerritoriaError(f"Fichier de cas introuvable : {path}.", hint="Indiquez un fichier JSONL de cas.")
    cases = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                c = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TerritoriaError(f"Ligne {i} de {path.name} : JSON invalide ({exc.msg}).")
            if not isinstance(c, dict) or "profile" not in c:
                raise TerritoriaError(f"Ligne {i} de {path.name} : champ « profile » manquant.",
                                      hint="Chaque cas : profile, need, expected_ids, ineligible_ids.")
            try:
                normalize_profile(c["profile"])
            except ProfileError as exc:
                raise TerritoriaError(f"Ligne {i} de {path.name} : {exc.message}", hint=exc.hint) from exc
            cases.append(c)
    if not cases:
        raise TerritoriaError(f"Aucun cas dans {path}.")
    return cases


def evaluate_cases(cases: list[dict], *, k: int = 10, weights: Weights | None = None, today=None,
                   details: bool = False, query_cache: bool = True, settings=None, tenant: str | None = None
                   ) -> dict:
    """Metrics on these cases. The need-vector cache starts empty (a need seen earlier in the same run is
    served from it, as in production); `query_cache=False` embeds every need."""
    from territoria.aids import finder

    w = weights or WEIGHTS
    index = get_index(settings=settings, tenant=tenant)
    finder.clear_need_cache()
    finder.QVEC_CACHE_ENABLED = query_cache
    # Warm-up: load the embedder and the reference data outside the timed loop.
    st = prepare_profile(cases[0].get("profile"), cases[0].get("need"))
    rank(index, st, cases[0].get("need") or "", k=k, today=today, w=w)
    hits1 = hits3 = inel3 = 0
    times = []
    rows = []
    for c in cases:
        exp = set(c.get("expected_ids") or [])
        inel = set(c.get("ineligible_ids") or [])
        t0 = time.perf_counter()
        state = prepare_profile(c.get("profile"), c.get("need"))
        ranked = rank(index, state, c.get("need"), k=k, today=today, w=w)
        times.append((time.perf_counter() - t0) * 1000)
        ids = [index.aids[i].id for i, _, _, _ in ranked]
        h1 = bool(exp & set(ids[:1]))
        h3 = bool(exp & set(ids[:3]))
        i3 = bool(inel & set(ids[:3]))
        hits1 += h1
        hits3 += h3
        inel3 += i3
        if details:
            rows.append({"id": c.get("id"), "need": c.get("need"), "top1": h1, "top3": h3, "ineligible_in_top3": i3,
                         "results": [{"id": index.aids[i].id, "eligibility": e.status, "score": round(s, 4)}
                                     for i, s, e, _ in ranked[:5]]})
    finder.QVEC_CACHE_ENABLED = True
    n = len(cases)
    out = {
        "n": n,
        "top1": round(hits1 / n, 4),
        "top3": round(hits3 / n, 4),
        "ineligible_in_top3_rate": round(inel3 / n, 4),
        "p95_ms": round(float(np.percentile(times, 95)), 1),
        "mean_ms": round(float(np.mean(times)), 1),
        "catalogue_size": len(index),
        "dense": index.vectors is not None,
        "distinct_needs": len({c.get("need") for c in cases}),
        "query_cache": query_cache,
    }
    if details:
        out["cases"] = rows
    return out
