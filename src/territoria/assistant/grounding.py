"""Grounding in code: sentences, support of an answer by the passages, number checks, citations.

The small embedded model writes fluent French but does not cite and sometimes adds facts
(../shared/MODELS.md §2), so the checks here decide what reaches the user:
- every answer sentence must share most of its content words with one passage, and every number or
  date in it must appear in the passages; it is then cited with that passage's number;
- sentences that fail are dropped; when nothing survives, an extractive answer quotes the best passage;
- instruction-like sentences inside documents are removed before the model sees them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from territoria.search.text import STOP_WORDS, analyze, fold_accents, raw_tokens

# -- sentences ------------------------------------------------------------------------------------

_ABBREV = ("art", "M", "Mme", "Mlle", "Dr", "etc", "cf", "n°", "p", "av", "bd", "St", "Ste", "env", "min", "max")
_SENT_END = re.compile(r"(?<=[.!?…])[\"»”)]*\s+(?=[\"«“(]?[A-ZÀ-ÖØ-Þ0-9-])|\n+|(?<=[;:])\s*\n")


def split_sentences(text: str) -> list[str]:
    """Split French text into sentences / list items (keeps abbreviations such as « art. » together)."""
    text = text.replace("\r", "")
    parts: list[str] = []
    for line in re.split(r"\n+", text):
        line = line.strip()
        if not line:
            continue
        buf = ""
        for piece in re.split(r"(?<=[.!?…])\s+(?=[\"«“(]?[A-ZÀ-ÖØ-Þ0-9])", line):
            if buf:
                buf = f"{buf} {piece}"
            else:
                buf = piece
            last = re.findall(r"(\w+)\.$", buf)
            if last and (last[0] in _ABBREV or len(last[0]) == 1):
                continue
            parts.append(buf.strip())
            buf = ""
        if buf:
            parts.append(buf.strip())
    return [p for p in parts if p]


def terms(text: str) -> set[str]:
    return set(analyze(text))


# -- numbers --------------------------------------------------------------------------------------

_NUM = re.compile(r"\d+(?:[\s\u00a0\u202f.]\d{3})*(?:,\d+)?")
_YEAR = re.compile(r"\b(19[5-9]\d|20\d\d)\b")


def numbers(text: str) -> set[str]:
    """Numbers in canonical form: '1 000' → '1000', '2,5' → '2.5'."""
    out = set()
    for m in _NUM.findall(text):
        s = re.sub(r"[\s\u00a0\u202f.]", "", m).replace(",", ".")
        s = s.lstrip("0") or "0"
        if "." in s:
            s = s.rstrip("0").rstrip(".")
        out.add(s)
    return out


def years(text: str) -> set[int]:
    return {int(y) for y in _YEAR.findall(text)}


# -- instructions inside documents (prompt injection) ------------------------------------------------

_INJECTION = re.compile(
    r"(ignor|oubli|ne\s+(?:tiens|tenez|tenir)\s+pas\s+compte|disregard|forget|override)\w*\b[^.\n]{0,60}?"
    r"\b(instructions?|consignes?|r[eè]gles|directives|prompt|ce\s+qui\s+pr[eé]c[eè]de|pr[eé]c[eé]dent\w*|previous|above)"
    r"|\b(?:tu\s+es|vous\s+[eê]tes|you\s+are)\s+(?:d[eé]sormais|maintenant|now)\b"
    r"|\bnouvelles?\s+(?:instructions?|consignes?)\b|\bnew\s+instructions?\b"
    r"|\b(?:system\s+prompt|prompt\s+syst[eè]me|invite\s+syst[eè]me|jailbreak)\b"
    r"|\b(?:note|message|instructions?|consignes?)\s+(?:[aà]|pour)\s+(?:l['’]\s*)?(?:ia|assistant|intelligence\s+artificielle|mod[eè]le|chatbot|robot|ai)\b"
    r"|\b(?:si\s+(?:tu\s+es|vous\s+[eê]tes)\s+(?:une?\s+)?(?:ia|assistant|intelligence\s+artificielle|mod[eè]le|chatbot|robot))\b"
    r"|\b(?:assistant|ia|chatbot|mod[eè]le\s+de\s+langue|llm)\b[^.\n]{0,40}\b(?:doit|dois|devra|devez)\s+(?:r[eé]pondre|dire|[eé]crire|afficher|ignorer)",
    re.IGNORECASE,
)


def strip_instructions(text: str) -> tuple[str, bool]:
    """Remove sentences that address the assistant (prompt injection). Returns (clean text, found)."""
    if not _INJECTION.search(text):
        return text, False
    kept: list[str] = []
    for line in text.split("\n"):
        sents = split_sentences(line) if line.strip() else []
        good = [s for s in sents if not _INJECTION.search(s)]
        if good or not sents:
            kept.append(" ".join(good))
    return "\n".join(kept).strip(), True


# -- support --------------------------------------------------------------------------------------

_REFUSAL = re.compile(
    r"\b(?:extraits?|documents?|textes?|passages?|sources?|informations?\s+(?:fournies|disponibles))\b"
    r"[^.]{0,60}?\bne\s+(?:\w+\s+){1,2}?pas\b"
    r"|\bje\s+ne\s+(?:sais|peux|trouve|dispose|suis\s+pas)\b|\bpas\s+d['’]\s*informations?\b"
    r"|\baucune\s+(?:information|mention|pr[eé]cision)\b|\bimpossible\s+de\s+r[eé]pondre\b"
    r"|\bn['’]\s*(?:est|sont)\s+pas\s+(?:mentionn|pr[eé]cis|indiqu|abord|pr[eé]sent)\w*\s+dans\s+(?:les|ces)\s+"
    r"(?:extraits|documents)",
    re.IGNORECASE,
)
_META = re.compile(r"^(?:selon|d['’]\s*apr[eè]s|dans)\s+(?:les|l['’]|cet|ces|le)\s*(?:extraits?|documents?)\b[^,:]*[,:]\s*",
                   re.IGNORECASE)


_LIST_MARK = re.compile(r"^\s*(?:[-*•–]\s+|\d{1,2}[.)]\s+|\(?[a-z][.)]\s+)")


def is_refusal(sentence: str) -> bool:
    return bool(_REFUSAL.search(sentence))


_CITE = re.compile(r"\s*\[(\d{1,2}(?:\s*[,;-]\s*\d{1,2})*)\]")
_SOURCE_TAIL = re.compile(r"\s*\(?\s*(?:source|sources|extrait|extraits|réf\.?)\s*:?\s*(?:\[\d+\]\s*,?\s*)+\)?\s*\.?\s*$",
                          re.IGNORECASE)


def strip_citations(sentence: str) -> tuple[str, list[int]]:
    """Remove the model's own markers ([1], [1, 2], « Source : [1] ») and return them."""
    found: list[int] = []
    for m in _CITE.finditer(sentence):
        found.extend(int(x) for x in re.findall(r"\d+", m.group(1)))
    s = _SOURCE_TAIL.sub("", sentence)
    s = _CITE.sub("", s)
    s = re.sub(r"\s+([.,;:!?])", r"\1", s).strip()
    return s, found


@dataclass
class Passage:
    """One excerpt given to the model, with everything needed to cite it."""

    n: int
    doc_id: str
    chunk_id: str
    title: str
    url: str | None
    section: str
    page: int | None
    text: str  # full passage text (instructions removed) — support is checked against it
    excerpt: str  # the part shown to the model
    score: float = 0.0
    evidence: float = 0.0
    date: str | None = None
    _terms: set[str] | None = field(default=None, repr=False)
    _numbers: set[str] | None = field(default=None, repr=False)

    @property
    def all_terms(self) -> set[str]:
        if self._terms is None:
            self._terms = terms(self.title + "\n" + self.text)
        return self._terms

    @property
    def all_numbers(self) -> set[str]:
        if self._numbers is None:
            self._numbers = numbers(self.title + "\n" + self.text)
        return self._numbers


@dataclass
class SentenceCheck:
    text: str  # the sentence without the model's markers
    passage: int | None  # number of the supporting passage
    support: float  # share of the sentence's content words found in that passage
    numbers_ok: bool
    refusal: bool
    model_refs: list[int]

    @property
    def ok(self) -> bool:
        return self.passage is not None and self.numbers_ok and not self.refusal


# Share of a sentence's content words that must appear in one passage (stems, accents folded).
# Chosen on dev answers of the 1.5B model: faithful paraphrases score 0.6–1.0, added facts ≤ 0.4.
MIN_SUPPORT = 0.5
# A sentence is cited with the first passage (search order) whose support is within this margin of the
# best one (dev answers of the 1.5B model: citation hits 0.48 → 0.50 with 0.2).
CITE_MARGIN = 0.2


def check_sentence(sentence: str, passages: list[Passage], question_numbers: set[str] | None = None) -> SentenceCheck:
    text, refs = strip_citations(sentence)
    text = _LIST_MARK.sub("", text)  # "1. ", "- ", "• ": list markers are not numbers to check
    text = _META.sub("", text)
    text = text[:1].upper() + text[1:] if text else text
    st = terms(text)
    refusal = is_refusal(text)
    nums = numbers(text)
    all_nums: set[str] = set().union(*(p.all_numbers for p in passages)) if passages else set()
    # a number must appear in the passages (the question's own numbers are allowed: "j'ai 58 ans")
    q_nums = question_numbers or set()
    numbers_ok = all(n in all_nums or n in q_nums for n in nums)
    best, best_s = None, 0.0
    if st:
        sup = []
        for p in passages:
            x = len(st & p.all_terms) / len(st)
            if p.n in refs:
                x += 0.1  # the model's own marker breaks ties
            sup.append((p, x))
        best_s = max(x for _, x in sup) if sup else 0.0
        # cite the first passage in search order whose support is close to the best one: word overlap
        # alone often points to a neighbouring passage, and search order is the better evidence
        for p, x in sorted(sup, key=lambda px: px[0].n):
            if x >= best_s - CITE_MARGIN and x >= MIN_SUPPORT:
                best = p.n
                break
    support = min(best_s, 1.0)
    if best_s < MIN_SUPPORT:
        best = None
    if not st and text:  # "Oui." / "Non." : no content word, carried by the next sentence
        support, best = 1.0, None
    return SentenceCheck(text=text, passage=best, support=support, numbers_ok=numbers_ok, refusal=refusal,
                         model_refs=refs)


# -- streaming sentence splitter -------------------------------------------------------------------

class SentenceStream:
    """Feed model tokens; get back complete sentences as soon as they end."""

    _END = re.compile(r"(?<=[.!?…])[\"»”)\]]*\s+|\n+")

    def __init__(self) -> None:
        self.buf = ""

    def feed(self, piece: str) -> list[str]:
        self.buf += piece
        out: list[str] = []
        while True:
            m = None
            for cand in self._END.finditer(self.buf):
                before = self.buf[:cand.start()]
                word = re.findall(r"(\w+)[.]$", before)
                list_number = re.search(r"(?:^|\n)\s*\d{1,2}\.$", before)
                if (word and (word[0] in _ABBREV or (len(word[0]) == 1 and not word[0].isdigit()))) or list_number:
                    # "art." / "M." / "1." (a list number): not the end of a sentence
                    if "\n" not in cand.group(0):
                        continue
                m = cand
                break
            if m is None:
                break
            sent = self.buf[:m.end()].strip()
            self.buf = self.buf[m.end():]
            if sent:
                out.append(sent)
        return out

    def flush(self) -> list[str]:
        s, self.buf = self.buf.strip(), ""
        return [s] if s else []


# -- passage trimming -----------------------------------------------------------------------------

def best_window(sentences: list[str], scores: list[float], max_chars: int) -> tuple[int, int]:
    """Contiguous window of sentences with the highest total score that fits in max_chars."""
    best, best_span = -1.0, (0, min(1, len(sentences)))
    for i in range(len(sentences)):
        total, length = 0.0, 0
        for j in range(i, len(sentences)):
            length += len(sentences[j]) + 1
            if length > max_chars and j > i:
                break
            total += scores[j]
            if total > best:
                best, best_span = total, (i, j + 1)
    return best_span


def lexical_scores(sentences: list[str], question: str) -> list[float]:
    q = terms(question)
    if not q:
        return [0.0] * len(sentences)
    return [len(terms(s) & q) / (len(q) ** 0.5) for s in sentences]


def fold(text: str) -> str:
    return fold_accents(text.lower())


def content_words(text: str) -> list[str]:
    return [t for t in raw_tokens(text) if t not in STOP_WORDS and len(t) > 2]
