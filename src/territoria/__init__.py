"""Territoria: self-hosted AI platform for French local public administrations."""

import os as _os

# OpenBLAS worker threads busy-wait ~0.1 s after each matrix product by default. On a 2-core server they
# then steal a core from the next native job: a search's e5 query encoder (which uses every core) ran
# 1.6× slower (hybrid p50 152 → 94 ms at 122k chunks, bench/search_latency.py), whatever thread the
# search ran in. With the shortest timeout they sleep at once; batched encoding speed is unchanged
# (USE passages 72 vs 74/s). Read by OpenBLAS when NumPy loads it, so it is set before any import of NumPy
# by Territoria (an operator's own value wins).
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

__version__ = "0.1.0"
