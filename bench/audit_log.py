"""Benchmark: the audit log at the size of a year of use — append throughput (one process, and several
processes writing at once), time to verify the whole chain, export and purge.

    python bench/audit_log.py [--rows 50000] [--processes 4]

Writes bench/results/audit_log.json.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

from _common import write_result

from territoria.core.settings import Settings, set_settings

ANSWER = {"answer": "Pour refaire une carte d'identité perdue, faites une pré-demande en ligne puis prenez "
                    "rendez-vous en mairie [1].", "abstained": False, "reason": None, "mode": "generated",
          "citations": ["F1341"]}


def _append(data_dir: str, n: int, tag: str) -> None:
    set_settings(Settings(data_dir=Path(data_dir)))
    from territoria.trust import audit

    for i in range(n):
        audit.record("assistant.answer", tenant=tag, input=f"Comment refaire ma carte d'identité ? ({tag} {i})",
                     output=ANSWER, model="qwen2.5-1.5b", prompt_version="fr-rag-2026.12-v1",
                     retrieved=["F1341", "F1344", "F14929"], latency_ms=6100.0, energy_wh=0.03)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--processes", type=int, default=4)
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="territoria-audit-"))
    set_settings(Settings(data_dir=d))
    from territoria.trust import audit

    t = time.perf_counter()
    _append(str(d), args.rows, "mairie-a")
    one_s = time.perf_counter() - t
    per = max(1, args.rows // (5 * args.processes))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append, args=(str(d), per, f"mairie-{i}")) for i in range(args.processes)]
    t = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    multi_s = time.perf_counter() - t
    t = time.perf_counter()
    v = audit.verify()
    verify_s = time.perf_counter() - t
    t = time.perf_counter()
    n_export = sum(1 for _ in audit.export("jsonl", tenant="mairie-a"))
    export_s = time.perf_counter() - t
    t = time.perf_counter()
    res = audit.purge(days=0)
    purge_s = time.perf_counter() - t
    ok_after = audit.verify().ok
    out = {
        "rows": v.rows, "chain_ok": v.ok,
        "append_one_process_per_s": round(args.rows / one_s, 1),
        "append_concurrent": {"processes": args.processes, "rows": per * args.processes,
                              "per_s": round(per * args.processes / multi_s, 1), "seconds": round(multi_s, 2),
                              "note": "includes starting the processes"},
        "verify_s": round(verify_s, 2), "verify_rows_per_s": round(v.rows / verify_s, 1),
        "export_jsonl_rows": n_export, "export_s": round(export_s, 2),
        "purge": {"rows": res["purged"], "seconds": round(purge_s, 2), "chain_ok_after": ok_after},
        "db_mb": round((d / "territoria.sqlite3").stat().st_size / 1e6, 1),
    }
    for k, val in out.items():
        print(f"{k}: {val}")
    write_result("audit_log", out)


if __name__ == "__main__":
    main()
