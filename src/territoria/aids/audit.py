"""Audit-log rows of the aid finder (trust layer): what was shown to whom, for which profile."""

from __future__ import annotations

from typing import Optional


def audit_aids(out, tenant: str, profile: dict, need: Optional[str], latency_ms: float, actor: str | None = None):
    """One audit row per aid-finder result list (ids, eligibility and scores of what was shown)."""
    import json

    from territoria.trust import audit

    results = out.get("results") or []
    shown = [{k: r.get(k) for k in ("id", "eligibility", "score")} for r in results]
    audit.record("aids.find", tenant=tenant, actor=actor,
                 input=json.dumps({"profile": profile, "need": need}, ensure_ascii=False, sort_keys=True),
                 output={"results": shown}, model="aid-finder (règles + recherche lexicale)",
                 retrieved=[str(s["id"]) for s in shown], latency_ms=latency_ms)
