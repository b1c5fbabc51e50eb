"""Shared helpers for benchmarks: paths, peak memory, result files."""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from pathlib import Path

import territoria  # noqa: F401  (first, before NumPy: it sets OpenBLAS's thread timeout, see its __init__)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TERRITORIA_SHARED", REPO.parent / "shared"))
RESULTS = REPO / "bench" / "results"
FICHES = SHARED / "data" / "service-public" / "fiches.jsonl.gz"
QA_PARA = SHARED / "data" / "qa" / "dev_paraphrased.jsonl"
QA_TITLES = SHARED / "data" / "qa" / "dev.jsonl"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M")}


def write_result(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {"machine": machine(), **data}
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2))
    print(f"→ {path.relative_to(REPO)}")
    return path
