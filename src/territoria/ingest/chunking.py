"""Section-aware chunking: chunks never cross a section, keep title, section path, page and offsets.

Each document gives one "head" chunk (title + summary, what the document is about) and "body" chunks
of about `target_words` words made of whole paragraphs of one section (a long paragraph is split on
sentences). Small neighbouring sections are merged under the first one's heading so that short
"question-answer" pages stay in one piece.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from territoria.core.types import Chunk, DocumentRecord, Section

_SENT = re.compile(r"(?<=[.!?;:])\s+")
_HEADING_MAX_WORDS = 14


def split_headings(text: str, page: int | None = None) -> list[Section]:
    """Cut plain text into sections where a short line stands alone after a blank line.

    This is the layout of converted web pages (Service-Public fiches) and of most text exports:
    "\\n\\nConditions à remplir\\n\\nVous devez..." → a section "Conditions à remplir".
    """
    blocks = re.split(r"\n\s*\n", text)
    sections: list[Section] = []
    heading: list[str] = []
    buf: list[str] = []

    def flush() -> None:
        body = "\n".join(buf).strip()
        if body:
            sections.append(Section(body, list(heading), page))
        buf.clear()

    for block in blocks:
        block = block.strip("\n")
        if not block.strip():
            continue
        lines = block.split("\n")
        first = lines[0].strip()
        is_heading = (
            len(first.split()) <= _HEADING_MAX_WORDS
            and not first.endswith((".", ",", ";", ":"))
            and not first.startswith(("- ", "* ", "1. "))
            and " | " not in first
        )
        if is_heading:
            if not buf and heading:  # a heading with no text of its own (decision trees): keep it as text
                sections.append(Section(heading[-1], list(heading), page))
            flush()
            heading = [first]
            buf.extend(lines[1:])
            continue
        buf.extend(lines)
    if not buf and heading and (not sections or sections[-1].heading_path != heading):
        sections.append(Section(heading[-1], list(heading), page))
    flush()
    return sections


@dataclass
class _Para:
    text: str
    start: int
    end: int
    section: Section


def _paragraphs(sections: list[Section]) -> tuple[str, list[list[_Para]]]:
    """The document's full text and, per section, its paragraphs with offsets in that text."""
    parts: list[str] = []
    pos = 0
    per_section: list[list[_Para]] = []
    for s in sections:
        paras: list[_Para] = []
        if s.heading_path:
            h = s.heading_path[-1]
            parts.append(h + "\n")
            pos += len(h) + 1
        for line in s.text.split("\n"):
            if line.strip():
                paras.append(_Para(line.strip(), pos, pos + len(line), s))
            parts.append(line + "\n")
            pos += len(line) + 1
        parts.append("\n")
        pos += 1
        per_section.append(paras)
    return "".join(parts), per_section


def _split_long(p: _Para, target: int) -> list[_Para]:
    words = p.text.split()
    if len(words) <= target * 1.3:
        return [p]
    out: list[_Para] = []
    sentences = _SENT.split(p.text)
    cur: list[str] = []
    offset = p.start
    for s in sentences:
        cur.append(s)
        if sum(len(x.split()) for x in cur) >= target:
            t = " ".join(cur)
            out.append(_Para(t, offset, offset + len(t), p.section))
            offset += len(t) + 1
            cur = []
    if cur:
        t = " ".join(cur)
        out.append(_Para(t, offset, min(p.end, offset + len(t)), p.section))
    # a "sentence" longer than the target (tables, lists without punctuation): hard split on words
    final: list[_Para] = []
    for q in out:
        w = q.text.split()
        if len(w) <= target * 2:
            final.append(q)
            continue
        for i in range(0, len(w), target):
            t = " ".join(w[i:i + target])
            final.append(_Para(t, q.start, q.end, q.section))
    return final


def section_label(s: Section) -> str:
    return " > ".join(h for h in s.heading_path if h)


def chunk_document(record: DocumentRecord, target_words: int = 180, min_words: int = 60) -> list[Chunk]:
    _, per_section = _paragraphs(record.sections)
    chunks: list[Chunk] = []
    summary = (record.summary or "").strip()
    if not summary:
        first = next((p.text for paras in per_section for p in paras), "")
        summary = " ".join(first.split()[:60])
    chunks.append(Chunk(f"{record.doc_id}#0", record.doc_id, 0, f"{record.title}\n{summary}".strip(),
                        record.title, "", None, 0, 0, kind="head"))

    cur: list[_Para] = []
    cur_words = 0

    def emit() -> None:
        nonlocal cur, cur_words
        if not cur:
            return
        lines: list[str] = []
        last_sec = None
        for p in cur:
            if p.section is not last_sec and p.section is not cur[0].section and p.section.heading_path:
                lines.append(p.section.heading_path[-1])
            lines.append(p.text)
            last_sec = p.section
        first = cur[0].section
        n = len(chunks)
        chunks.append(Chunk(f"{record.doc_id}#{n}", record.doc_id, n, "\n".join(lines), record.title,
                            section_label(first), first.page, cur[0].start, cur[-1].end, kind="body"))
        cur, cur_words = [], 0

    for paras in per_section:
        if not paras:
            continue
        sec_words = sum(len(p.text.split()) for p in paras)
        # a section starts a new chunk unless the current one is still small and the section too
        if cur and (cur_words >= min_words or cur_words + sec_words > target_words or
                    paras[0].section.page != cur[0].section.page):
            emit()
        for p in paras:
            for piece in _split_long(p, target_words):
                w = len(piece.text.split())
                if cur and cur_words + w > target_words:
                    emit()
                cur.append(piece)
                cur_words += w
    emit()
    return chunks
