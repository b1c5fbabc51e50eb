"""Query understanding for lexical search: SMS spellings, glued elisions, everyday vocabulary.

Produces weighted BM25 terms: the user's own words weigh 1, expansions from the lexicon weigh less.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from territoria.search.lexicon import ABBREVIATIONS, SYNONYMS
from territoria.search.text import STOP_WORDS, _stemmer, raw_tokens

EXPANSION_WEIGHT = 0.4
_GLUED = ("qu", "j", "d", "l", "c", "s", "m", "n", "t")
_MAX_PHRASE = 4


@lru_cache(maxsize=1)
def _phrases() -> dict[tuple[str, ...], str]:
    out = {}
    for k, v in SYNONYMS.items():
        out[tuple(raw_tokens(k))] = v
    return out


@dataclass
class LexicalQuery:
    terms: list[str] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    expansions: list[str] = field(default_factory=list)  # words added from the lexicon (folded)
    text: str = ""  # normalised query text (for display / dense query)


def normalise_tokens(text: str, vocab: dict[str, int] | None = None) -> list[str]:
    """Folded tokens with SMS abbreviations replaced and glued elisions (jachete, doccasion) split."""
    out: list[str] = []
    stem = _stemmer().stemWord
    for tok in raw_tokens(text):
        rep = ABBREVIATIONS.get(tok)
        if rep is not None:
            out.extend(rep.split())
            continue
        if vocab is not None and len(tok) > 4 and stem(tok) not in vocab:
            for p in _GLUED:
                rest = tok[len(p):]
                if tok.startswith(p) and rest[:1] in "aeiouyh" and stem(rest) in vocab:
                    out.extend([p, rest])
                    break
            else:
                out.append(tok)
            continue
        out.append(tok)
    return out


def lexical_query(text: str, vocab: dict[str, int] | None = None) -> LexicalQuery:
    toks = normalise_tokens(text, vocab)
    stem = _stemmer().stemWords
    own = [t for t in toks if t not in STOP_WORDS and (len(t) > 1 or t.isdigit())]
    q = LexicalQuery(text=" ".join(toks))
    own_stems = stem(own)
    q.terms.extend(own_stems)
    q.weights.extend([1.0] * len(own_stems))
    seen = set(own_stems)
    phrases = _phrases()
    i = 0
    while i < len(toks):
        for n in range(min(_MAX_PHRASE, len(toks) - i), 0, -1):
            exp = phrases.get(tuple(toks[i:i + n]))
            if exp:
                q.expansions.append(exp)
                for t in stem([w for w in raw_tokens(exp) if w not in STOP_WORDS]):
                    if t not in seen:
                        seen.add(t)
                        q.terms.append(t)
                        q.weights.append(EXPANSION_WEIGHT)
                i += n - 1
                break
        i += 1
    return q


_CLEAN = re.compile(r"\s+")


def dense_query_text(text: str) -> str:
    return _CLEAN.sub(" ", text).strip()
