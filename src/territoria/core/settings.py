"""Runtime settings: where state lives and which backends to use.

Resolution order: explicit argument > environment variable > default.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_TENANT = "default"


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


@dataclass
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(_env("TERRITORIA_DATA_DIR", ".territoria")))
    tenant: str = field(default_factory=lambda: _env("TERRITORIA_TENANT", DEFAULT_TENANT))
    # Max size of one file given to ingestion, in bytes.
    max_file_bytes: int = field(
        default_factory=lambda: int(_env("TERRITORIA_MAX_FILE_MB", "50")) * 1024 * 1024
    )
    # Dense embedding of documents: "background" (default), "inline" or "off".
    embed_mode: str = field(default_factory=lambda: _env("TERRITORIA_EMBED", "inline"))
    threads: int = field(default_factory=lambda: int(_env("TERRITORIA_THREADS", str(min(2, os.cpu_count() or 1)))))

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "territoria.sqlite3"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    def ensure(self) -> "Settings":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        return self


# The one rule for tenant names (CLI, API, pages, directories): no "/", never "." or "..".
TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def is_tenant_name(tenant: str | None) -> bool:
    return bool(TENANT_NAME.match(tenant or ""))


def tenant_dirname(tenant: str) -> str:
    """The directory name of a tenant's files (conversations, uploads, index cache): the tenant name itself.

    Names follow TENANT_NAME, so the mapping is one-to-one: two tenants can never share a directory
    (replacing characters would make "a.b" and "a_b" collide)."""
    if not is_tenant_name(tenant):
        raise ValueError(f"invalid tenant name: {tenant!r}")
    return tenant


_current: Settings | None = None


def get_settings() -> Settings:
    global _current
    if _current is None:
        _current = Settings()
    return _current


def set_settings(settings: Settings) -> Settings:
    global _current
    _current = settings
    return settings
