import contextlib
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TERRITORIA_SHARED", REPO.parent / "shared"))
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "data").is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED


@pytest.fixture()
def data_dir(tmp_path, monkeypatch) -> Path:
    """A fresh Territoria data dir for one test, set as the current settings."""
    from territoria.core.settings import Settings, get_settings, set_settings

    previous = get_settings()
    d = tmp_path / "data"
    monkeypatch.setenv("TERRITORIA_DATA_DIR", str(d))
    set_settings(Settings(data_dir=d))
    yield d
    set_settings(previous)  # module-scoped fixtures of later tests keep their own data dir


def auth_headers(tenant: str = "default", role: str = "admin", instance: bool = False) -> dict:
    """`Authorization` header of a fresh API key (the tenant is created if needed), in the current data dir."""
    from territoria.trust import accounts, tenants

    tenants.ensure(tenant)
    k = accounts.create_key(tenant=tenant, role=role, instance=instance, name="tests")
    return {"Authorization": f"Bearer {k['key']}"}


def fiche_rows(shared_dir: Path, ids) -> list[dict]:
    """The Service-Public fiches with these ids, read from the shared corpus (in the order of `ids` when a list)."""
    import gzip
    import json

    want, found = set(ids), {}
    with gzip.open(shared_dir / "data" / "service-public" / "fiches.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r["id"] in want:
                found[r["id"]] = r
    order = ids if isinstance(ids, (list, tuple)) else sorted(found)
    return [found[i] for i in order if i in found]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    import json

    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return path


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(make_app):
    """Run the ASGI app `make_app(port)` with uvicorn on a loopback port, in a thread; yields the port."""
    import threading
    import time

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(make_app(port), host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    try:
        deadline = time.time() + 30
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        assert server.started, "the test server did not start"
        yield port
    finally:
        server.should_exit = True
        th.join(timeout=10)
