"""Storage interface. Callers depend on this, never on a backend's SQL.

The SQLite backend (`store/sqlite.py`) is the embedded default; a PostgreSQL backend implements the
same methods. Every call is scoped to one tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence, Union

import numpy as np

from territoria.core.types import Chunk, DocumentRecord

Tenants = Union[str, Sequence[str]]  # one tenant, or a scope (a tenant and the commons it reads)


@dataclass
class StoredChunk:
    row: int  # backend row id, stable while the chunk exists
    chunk: Chunk
    terms: list[str]
    embed_text: str  # the text given to the dense embedder
    tenant: str = ""


@dataclass
class DocumentInfo:
    doc_id: str
    title: str
    source: str
    doc_type: str
    url: str | None
    date: str | None
    visibility: str
    n_chunks: int
    content_hash: str
    updated_at: str
    metadata: dict[str, Any]


class Store(Protocol):
    def document_hashes(self, tenant: str) -> dict[str, str]: ...

    def replace_document(
        self, tenant: str, record: DocumentRecord, content_hash: str, chunks: list[Chunk],
        terms: list[list[str]], embed_texts: list[str],
    ) -> None:
        """Insert or atomically replace a document and all its chunks."""

    def delete_document(self, tenant: str, doc_id: str) -> bool: ...

    # `visibility`: allowed document visibilities (None: all; citizens get ("public",))
    def get_document(self, tenant: str, doc_id: str, *, visibility: Sequence[str] | None = None
                     ) -> DocumentInfo | None: ...

    def list_documents(self, tenant: str, *, source: str | None = None, limit: int = 100,
                       offset: int = 0, visibility: Sequence[str] | None = None) -> list[DocumentInfo]: ...

    def count_documents(self, tenant: Tenants, *, visibility: Sequence[str] | None = None) -> int: ...

    def iter_chunks(self, tenant: Tenants) -> Iterator[StoredChunk]: ...

    def chunk_meta(self, tenant: Tenants, rows: Iterable[int], *, visibility: Sequence[str] | None = None
                   ) -> dict[int, dict[str, Any]]:
        """Per chunk row of these tenants (others are left out): the chunk fields plus the document's url,
        source, doc_type, date, visibility and tenant."""

    def doc_filters(self, tenant: Tenants) -> list[tuple]:
        """(tenant, doc_id, source, doc_type, date, visibility) of every document."""

    def generation(self, tenant: str) -> int:
        """A counter that changes whenever the tenant's documents change (for index caches)."""

    # Dense vectors, content-addressed by (model, sha1 of the embedded text).
    def missing_embeddings(self, tenant: str, model: str, kinds: tuple[str, ...]) -> list[tuple[str, str]]:
        """(key, text) pairs of this tenant's chunks of the given kinds that have no vector yet."""

    def put_embeddings(self, model: str, items: list[tuple[str, np.ndarray]]) -> None: ...

    def load_embeddings(self, tenant: Tenants, model: str) -> tuple[np.ndarray, np.ndarray]:
        """(chunk rows, matrix) for these tenants' chunks that have a vector for `model`."""

    # Tenant registry and commons corpora (trust layer)
    def tenant_info(self, tenant: str) -> dict[str, Any] | None: ...

    def list_tenants(self) -> list[dict[str, Any]]: ...

    def create_tenant(self, tenant: str, *, name: str = "", kind: str = "local") -> bool: ...

    def attach_commons(self, tenant: str, commons: str, attach: bool = True) -> None: ...

    def drop_tenant(self, tenant: str) -> int: ...

    def scope(self, tenant: str) -> list[str]:
        """The tenants whose documents `tenant` reads: itself first, then the commons attached to it."""

    def scope_version(self, tenant: str) -> tuple: ...

    def close(self) -> None: ...


class TrustStore(Protocol):
    """Users, API keys, quotas and the audit log (store/trust_sqlite.py). The audit append must be atomic
    across processes: read the head and insert the next row inside one write transaction."""

    def get_user(self, username: str) -> dict[str, Any] | None: ...
    def user_by_subject(self, subject: str) -> dict[str, Any] | None: ...
    def list_users(self, tenant: str | None = None) -> list[dict[str, Any]]: ...
    def put_user(self, u: dict[str, Any]) -> None: ...
    def delete_user(self, username: str) -> bool: ...
    def delete_tenant_accounts(self, tenant: str) -> tuple[int, int]: ...
    def get_key(self, key_id: str) -> dict[str, Any] | None: ...
    def list_keys(self, tenant: str | None = None) -> list[dict[str, Any]]: ...
    def put_key(self, k: dict[str, Any]) -> None: ...
    def revoke_key(self, key_id: str, at: str) -> bool: ...
    def touch_key(self, key_id: str, at: str) -> None: ...
    def tenant_quota(self, tenant: str) -> tuple[int | None, int | None]: ...
    def set_tenant_quota(self, tenant: str, rpm: int | None, tokens_per_day: int | None) -> None: ...
    def add_usage(self, day: str, items: list[tuple[str, str]], tokens: int, requests: int = 0) -> None: ...
    def usage(self, day: str, scope: str, ident: str) -> int: ...
    def audit_append(self, make_row: Callable[[int, str], dict[str, Any]]) -> dict[str, Any]: ...
    def audit_rows(self, *, tenant: str | None = None, start: str | None = None, end: str | None = None,
                   newest_first: bool = False, limit: int | None = None, offset: int = 0) -> Iterator[dict[str, Any]]: ...
    def audit_count(self, *, tenant: str | None = None, start: str | None = None, end: str | None = None) -> int: ...
    def audit_head(self) -> tuple[int, str] | None: ...
    def audit_anchor(self) -> dict[str, Any] | None: ...
    def audit_purge(self, cutoff: str, at: str) -> dict[str, Any] | None: ...


class AnswerLog(Protocol):
    """Answers given by the web chat, with their feedback (store/answers_sqlite.py). Every read and write is
    scoped to one tenant; rows are plain dicts with the columns of `answers_sqlite.COLUMNS`."""

    def add_answer(self, row: dict[str, Any], expire_before: str) -> None: ...
    def set_feedback(self, tenant: str, answer_id: str, rating: str | None, comment: str | None, at: str) -> bool: ...
    def get_answer(self, tenant: str, answer_id: str) -> dict[str, Any] | None: ...
    def list_answers(self, tenant: str, *, filter: str = "", limit: int = 50, offset: int = 0
                     ) -> tuple[int, list[dict[str, Any]]]: ...
    def answer_stats(self, tenant: str) -> dict[str, int]: ...
    def delete_tenant_answers(self, tenant: str) -> int: ...
