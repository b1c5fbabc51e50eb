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


@lru_cache(maxsize=8)
def _sqlite_trust(path: Path):
    from territoria.store.trust_sqlite import SQLiteTrustStore

    return SQLiteTrustStore(path)


def get_trust_store(settings: Settings | None = None):
    """Users, API keys, quotas and the audit log (same database file as the documents)."""
    settings = (settings or get_settings()).ensure()
    return _sqlite_trust(settings.db_path.resolve())


@lru_cache(maxsize=8)
def _sqlite_answers(path: Path):
    from territoria.store.answers_sqlite import SQLiteAnswerLog

    return SQLiteAnswerLog(path)


def get_answer_log(settings: Settings | None = None):
    """The answer log of the web chat, with feedback (its own file, `answers.sqlite3`, in the data dir)."""
    settings = (settings or get_settings()).ensure()
    return _sqlite_answers((settings.data_dir / "answers.sqlite3").resolve())
