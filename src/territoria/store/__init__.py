"""Storage backends. `get_store()` returns the one configured (SQLite by default)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from territoria.core.settings import Settings, get_settings


@lru_cache(maxsize=8)
def _sqlite(path: Path):
    from territoria.store.sqlite import SQLiteStore

    return SQLiteStore(path)


def get_store(settings: Settings | None = None):
    settings = (settings or get_settings()).ensure()
    return _sqlite(settings.db_path.resolve())
