"""Retrieval evaluation over distinct documents: recall@k, MRR@10, nDCG@10, latency."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

import numpy as np

from territoria.core.errors import TerritoriaError, os_reason


def _clear_query_cache() -> None:
    from territoria.search.engine import _query_vector

    _query_vector.cache_clear()


def load_qa(path: Path) -> list[dict]:
    """Question rows ({"question", "relevant_ids", ...}); a bad file or row is named with its line, in French."""
    rows = []
    try:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    raise TerritoriaError(f"{path} ligne {lineno} : JSON invalide.",
                                          hint="Chaque ligne doit être un objet JSON.")
                if not isinstance(row, dict) or not isinstance(row.get("question"), str) or not row["question"].strip():
                    raise TerritoriaError(f"{path} ligne {lineno} : champ « question » absent ou vide.",
                                          hint='Chaque ligne : {"question": "…", "relevant_ids": ["…"]}.')
                ids = row.get("relevant_ids", row.get("fiche_ids") or row.get("doc_ids") or [])
                if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                    raise TerritoriaError(f"{path} ligne {lineno} : « relevant_ids » doit être une liste "
                                          "d'identifiants de documents (vide si le corpus ne répond pas).")
                row["relevant_ids"] = ids
                rows.append(row)
    except (OSError, UnicodeDecodeError) as exc:
        raise TerritoriaError(f"Impossible de lire {path} : {os_reason(exc)}.",
                              hint="Donnez le chemin d'un fichier JSONL enregistré en UTF-8.") from exc
    return rows


def doc_ranking(hits) -> list[str]:
    seen, out = set(), []
    for h in hits:
        if h.doc_id not in seen:
            seen.add(h.doc_id)
            out.append(h.doc_id)
    return out


def metrics_for(ranked: list[str], relevant: set[str]) -> dict[str, float]:
    out = {}
    for k in (1, 5, 10):
        out[f"recall@{k}"] = len(relevant & set(ranked[:k])) / len(relevant)
    rr = 0.0
    for i, d in enumerate(ranked[:10]):
        if d in relevant:
            rr = 1.0 / (i + 1)
            break
    out["mrr@10"] = rr
    dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(ranked[:10]) if d in relevant)
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    out["ndcg@10"] = dcg / idcg if idcg else 0.0
    return out


def evaluate(rows: list[dict], search_fn: Callable[[str, str], tuple[list, float]], modes: list[str],
             k: int = 10, on_progress: Callable[[], None] | None = None, by: str | None = "style") -> dict:
    rows = [r for r in rows if r.get("relevant_ids")]
    result: dict = {"n": len(rows), "modes": {}}
    for mode in modes:
        _clear_query_cache()  # each mode pays for its own query encoding (honest latency)
        per: list[dict] = []
        lat: list[float] = []
        groups: dict[str, list[dict]] = {}
        misses = []
        for r in rows:
            hits, ms = search_fn(r["question"], mode)
            lat.append(ms)
            ranked = doc_ranking(hits)
            m = metrics_for(ranked, set(r["relevant_ids"]))
            per.append(m)
            if by and r.get(by):
                groups.setdefault(str(r[by]), []).append(m)
            if m["recall@5"] == 0:
                misses.append(r.get("id"))
            if on_progress:
                on_progress()
        agg = {key: round(float(np.mean([p[key] for p in per])), 4) if per else 0.0
               for key in ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")}
        agg["p50_ms"] = round(float(np.percentile(lat, 50)), 2) if lat else 0.0
        agg["p95_ms"] = round(float(np.percentile(lat, 95)), 2) if lat else 0.0
        if groups:
            agg[f"recall@5_by_{by}"] = {g: round(float(np.mean([p["recall@5"] for p in ps])), 4)
                                        for g, ps in sorted(groups.items())}
        agg["missed@5"] = misses
        result["modes"][mode] = agg
    return result
