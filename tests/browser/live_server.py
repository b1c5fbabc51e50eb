"""A real Territoria server on loopback for the browser tests (and for looking at the pages by hand).

    python tests/browser/live_server.py [PORT]     # prepares a temp data dir, serves until Ctrl-C

The data dir holds a few real Service-Public fiches (lexical index only: `--dense off`, fast), the page
settings of a fictional commune, and the server uses the small embedded model (qwen2.5-0.5b).
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("TERRITORIA_SHARED", REPO.parent / "shared"))
FICHES = ["F1341", "F1344", "F1427", "F12918", "F34232", "F14929", "F21089", "F1887", "F35005", "F34752"]
ADMIN_PASSWORD = "mot-de-passe-de-test"
COMMUNE = {
    "name": "Commune de Saint-Exemple",
    "welcome": ("Bonjour, je réponds à vos questions sur les démarches administratives à partir des documents "
                "publiés par la commune et par Service-Public.fr."),
    "contact_label": "l'accueil de la mairie de Saint-Exemple",
    "contact_phone": "01 23 45 67 89",
    "contact_address": "1 place de la Mairie, 00000 Saint-Exemple",
    "contact_url": "https://www.saint-exemple.example",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "TERRITORIA_DATA_DIR": str(data_dir),
        "TERRITORIA_EMBED": "off",
        "TERRITORIA_LLM_MODEL": os.environ.get("TERRITORIA_TEST_LLM", "qwen2.5-0.5b"),
        "TERRITORIA_MODEL_CACHE": os.environ.get(
            "TERRITORIA_MODEL_CACHE", str(Path(tempfile.gettempdir()) / f"territoria-test-models-{os.getuid()}")),
        "TERRITORIA_ADMIN_USER": "admin",
        "TERRITORIA_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "TERRITORIA_SECRET_KEY": "clé-de-test-des-sessions",
        "TERRITORIA_THREADS": "2",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def prepare(data_dir: Path, fiches=FICHES, shared: Path = SHARED) -> None:
    """Ingest a few fiches (lexical only) and write the demo commune's page settings."""
    src = shared / "data" / "service-public" / "fiches.jsonl.gz"
    rows = []
    wanted = set(fiches)
    with gzip.open(src, "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r["id"] in wanted:
                rows.append(r)
    data_dir.mkdir(parents=True, exist_ok=True)
    corpus = data_dir.parent / "fiches.jsonl"
    corpus.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    subprocess.run([sys.executable, "-c", "from territoria.cli import main; main()", "ingest", str(corpus),
                    "--dense", "off", "--source", "service-public"],
                   env=server_env(data_dir), check=True, capture_output=True, timeout=300)
    ui = data_dir / "ui" / "tenants"
    ui.mkdir(parents=True, exist_ok=True)
    (ui / "default.json").write_text(json.dumps(COMMUNE, ensure_ascii=False), encoding="utf-8")


class Server:
    def __init__(self, data_dir: Path, port: int | None = None, log_path: Path | None = None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or data_dir.parent / "server.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> "Server":
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "territoria.web.app:app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warning"], env=server_env(self.data_dir), stdout=self._log, stderr=subprocess.STDOUT)
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"le serveur s'est arrêté au démarrage :\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/api/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"le serveur n'a pas répondu en {timeout:.0f} s :\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_log", None):
            self._log.close()


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    d = Path(tempfile.mkdtemp(prefix="territoria-ui-")) / "data"
    prepare(d)
    srv = Server(d, port).start()
    signal.signal(signal.SIGTERM, lambda *_: (srv.stop(), sys.exit(0)))
    print(f"{srv.url}  (données : {d} ; espace agent : admin / {ADMIN_PASSWORD})", flush=True)
    try:
        srv.proc.wait()
    except KeyboardInterrupt:
        srv.stop()
