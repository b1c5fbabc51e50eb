"""Storage interface. Callers depend on this, never on a backend's SQL.

The SQLite backend (`store/sqlite.py`) is the embedded default; a PostgreSQL backend implements the
same methods. Every call is scoped to one tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Protocol

import numpy as np

from territoria.core.types import Chunk, DocumentRecord


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

    def get_document(self, tenant: str, doc_id: str) -> DocumentInfo | None: ...

    def list_documents(self, tenant: str, *, source: str | None = None, limit: int = 100,
                       offset: int = 0) -> list[DocumentInfo]: ...

    def count_documents(self, tenant: str) -> int: ...

    def iter_chunks(self, tenant: str) -> Iterator[StoredChunk]: ...

    def chunk_meta(self, tenant: str, rows: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Per chunk row: the chunk fields plus the document's url, source, doc_type, date."""

    def generation(self, tenant: str) -> int:
        """A counter that changes whenever the tenant's documents change (for index caches)."""

    # Dense vectors, content-addressed by (model, sha1 of the embedded text).
    def missing_embeddings(self, tenant: str, model: str, kinds: tuple[str, ...]) -> list[tuple[str, str]]:
        """(key, text) pairs of this tenant's chunks of the given kinds that have no vector yet."""

    def put_embeddings(self, model: str, items: list[tuple[str, np.ndarray]]) -> None: ...

    def load_embeddings(self, tenant: str, model: str) -> tuple[np.ndarray, np.ndarray]:
        """(chunk rows, matrix) for this tenant's chunks that have a vector for `model`."""

    def close(self) -> None: ...
