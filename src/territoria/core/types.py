"""Shared types passed between layers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A question or a search, not a document: encoding cost grows with the text (an 85,000-character query kept
# both cores busy for over a minute), so one request must not be able to monopolise the server.
MAX_QUERY_CHARS = 2000


@dataclass
class Section:
    """A piece of extracted text with where it comes from (for citations)."""

    text: str
    heading_path: list[str] = field(default_factory=list)  # e.g. ["Conditions", "Pour un mineur"]
    page: int | None = None  # 1-based page number when the source has pages


@dataclass
class ExtractedDocument:
    """What a loader returns: text sections plus metadata, before chunking."""

    title: str
    sections: list[Section]
    doc_type: str  # "pdf", "docx", "odt", "html", "md", "txt", "csv", "eml", "image", "jsonl"
    metadata: dict[str, Any] = field(default_factory=dict)
    url: str | None = None
    ocr_pages: int = 0  # number of pages/images read by OCR

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections if s.text.strip())


@dataclass
class DocumentRecord:
    """A document ready to store: identity, metadata and full text sections."""

    doc_id: str
    title: str
    sections: list[Section]
    source: str = "upload"  # corpus / origin name, used as a search filter
    doc_type: str = "txt"
    url: str | None = None
    date: str | None = None  # ISO date (YYYY-MM-DD) if known
    summary: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    visibility: str = "public"


@dataclass
class Chunk:
    chunk_id: str
    doc_id: str
    ord: int
    text: str  # the passage as shown to users
    title: str
    section: str  # heading path joined with " > "
    page: int | None = None
    char_start: int = 0
    char_end: int = 0
    kind: str = "body"  # "head" (title + summary) or "body"


@dataclass
class Hit:
    doc_id: str
    chunk_id: str
    title: str
    url: str | None
    section: str
    page: int | None
    score: float
    text: str
    source: str | None = None
    tenant: str | None = None  # where the document lives: the caller's tenant or a commons corpus
    visibility: str = "public"

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "chunk_id": self.chunk_id,
            "title": self.title,
            "url": self.url,
            "section": self.section,
            "page": self.page,
            "score": round(float(self.score), 6),
            "text": self.text,
            "source": self.source,
            "tenant": self.tenant,
            "visibility": self.visibility,
        }
