"""Background ingestion jobs for uploaded documents.

Uploaded files are saved under `<data dir>/uploads/<tenant>/<job id>/`, then one worker thread ingests
them (lexical index at once) and computes their dense vectors; jobs run one at a time, since ingestion
and embedding already use the machine's cores. A job's state is kept in memory and written to
`<data dir>/jobs/<job id>.json`, so that it can still be read after a restart.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from territoria.core.errors import TerritoriaError
from territoria.core.settings import tenant_dirname
from territoria.core.settings import Settings, get_settings

_NAME_RE = re.compile(r"[^\w.\- ()àâäéèêëîïôöùûüç]")


class FileTooLarge(TerritoriaError):
    pass


def safe_name(filename: str | None) -> str:
    """The base name of an uploaded file, without path or unusual characters."""
    return _NAME_RE.sub("_", Path(filename or "document").name).strip(". ") or "document"


async def save_uploads(files, folder: Path, max_bytes: int) -> list[str]:
    """Write uploaded files (Starlette UploadFile) into `folder`, 1 MiB at a time; a file over `max_bytes`
    is removed and FileTooLarge raised (French message). Returns the saved names."""
    names = []
    for f in files:
        name = safe_name(f.filename)
        dest = folder / name
        size = 0
        with open(dest, "wb") as out:
            while chunk := await f.read(1024 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    out.close()
                    dest.unlink(missing_ok=True)
                    raise FileTooLarge(f"Le fichier « {name} » dépasse la taille maximale ({max_bytes // (1024 * 1024)} Mo).",
                                       hint="Découpez-le, ou demandez à l'administrateur d'augmenter TERRITORIA_MAX_FILE_MB.")
                out.write(chunk)
        names.append(name)
    return names


@dataclass
class Job:
    job_id: str
    tenant: str
    files: list[str]
    source: str
    visibility: str = "public"
    status: str = "queued"  # queued | running | done | failed
    created_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S"))
    started_at: str | None = None
    finished_at: str | None = None
    summary: dict[str, Any] | None = None
    doc_ids: list[str] = field(default_factory=list)
    embedded: dict[str, int] | None = None
    error: str | None = None
    message: str = "En attente de traitement."

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class JobManager:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-job")

    @staticmethod
    def new_id() -> str:
        return "job-" + secrets.token_hex(6)

    def upload_dir(self, settings: Settings, tenant: str, job_id: str) -> Path:
        safe = tenant_dirname(tenant)
        d = settings.data_dir / "uploads" / safe / job_id
        d.mkdir(parents=True, exist_ok=True)
        return d

    def _save(self, settings: Settings, job: Job) -> None:
        d = settings.data_dir / "jobs"
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f"{job.job_id}.tmp"
        tmp.write_text(json.dumps(job.to_dict(), ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, d / f"{job.job_id}.json")

    def submit(self, settings: Settings, job: Job, folder: Path, dense: bool = True) -> Job:
        with self._lock:
            self._jobs[job.job_id] = job
        self._save(settings, job)
        self._pool.submit(self._run, settings, job, folder, dense)
        return job

    def _run(self, settings: Settings, job: Job, folder: Path, dense: bool) -> None:
        from territoria.ingest.pipeline import ingest_paths
        from territoria.search.dense import embed_pending
        from territoria.store import get_store

        job.status, job.started_at, job.message = "running", time.strftime("%Y-%m-%dT%H:%M:%S"), "Ingestion en cours."
        self._save(settings, job)
        try:
            summary = ingest_paths([folder], tenant=job.tenant, source=job.source, settings=settings,
                                   visibility=job.visibility)
            job.summary = summary.to_dict()
            job.doc_ids = list(summary.doc_ids)
            if dense and settings.embed_mode != "off":
                job.message = "Calcul des vecteurs de recherche en cours."
                self._save(settings, job)
                job.embedded = embed_pending(get_store(settings), job.tenant)
            if summary.failed and not summary.doc_ids:
                job.status = "failed"
                job.error = "; ".join(f"{Path(f).name} : {r}" for f, r in summary.failed)
                job.message = "Aucun document n'a pu être ingéré."
            else:
                job.status = "done"
                n_fail = len(summary.failed)
                job.message = (f"{len(summary.doc_ids)} document(s) indexé(s)"
                               + (f", {n_fail} en échec." if n_fail else "."))
        except Exception as exc:  # reported in the job status, in French
            job.status, job.error = "failed", f"{exc.__class__.__name__} : {exc}"
            job.message = "L'ingestion a échoué."
        job.finished_at = time.strftime("%Y-%m-%dT%H:%M:%S")
        self._save(settings, job)

    def get(self, job_id: str, settings: Settings | None = None) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None:
            return job
        settings = settings or get_settings()
        if not job_id.replace("-", "").isalnum():
            return None
        p = settings.data_dir / "jobs" / f"{job_id}.json"
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        job = Job(**{k: v for k, v in data.items() if k in Job.__dataclass_fields__})
        if job.status in ("queued", "running"):  # not in this process: it was interrupted by a restart
            job.status, job.message = "failed", "Tâche interrompue (redémarrage du service) ; déposez à nouveau les fichiers."
        return job

    def wait(self, job_id: str, timeout: float = 60.0) -> Job | None:
        t = time.monotonic() + timeout
        while time.monotonic() < t:
            job = self.get(job_id)
            if job is None or job.status in ("done", "failed"):
                return job
            time.sleep(0.05)
        return self.get(job_id)


jobs = JobManager()
