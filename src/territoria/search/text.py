"""French text analysis shared by every lexical index (one analyzer for index and query).

Steps: lower-case, split elisions (l', d', qu'…), fold accents, drop stop words, Snowball French stem.
Accents are folded *before* stemming so that "électricité" and "electricite" give the same term.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

_ELISION = re.compile(r"\b(?:l|d|j|m|n|s|t|c|qu|jusqu|lorsqu|puisqu|quoiqu)['’ʼ`]", re.IGNORECASE)
_TOKEN = re.compile(r"[a-z0-9]+")

# French stop words (folded). Kept short: negations and quantity words carry meaning in questions.
STOP_WORDS = frozenset(
    """
    a au aux avec ce ces cet cette dans de des du elle elles en et eux il ils je la le les leur leurs lui ma
    mais me meme mes moi mon ne nos notre nous on ou par pour qu que qui sa se ses son sur ta te tes toi ton tu
    un une vos votre vous y c d j l m n s t est sont etre ete suis es sommes etes etait etaient sera seront
    ai as avons avez ont avait avaient aura auront eu ceci cela ca celui celle ceux celles dont donc or ni car
    si alors aussi bien tres plus moins tout tous toute toutes quel quelle quels quelles quand comment
    faut fait faire peut peux peuvent pouvez puis dois doit doivent devez est-ce estce ya
    """.split()
)


def fold_accents(text: str) -> str:
    """'Électricité' -> 'electricite' (also ligatures œ→oe, æ→ae)."""
    text = text.replace("œ", "oe").replace("Œ", "OE").replace("æ", "ae").replace("Æ", "AE")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("french")


def raw_tokens(text: str) -> list[str]:
    """Folded, lower-cased word tokens with elisions split; no stop-word removal, no stemming."""
    text = _ELISION.sub(" ", text.lower())
    return _TOKEN.findall(fold_accents(text))


def analyze(text: str, *, keep_stop_words: bool = False) -> list[str]:
    """Index/query terms for `text`."""
    toks = raw_tokens(text)
    if not keep_stop_words:
        toks = [t for t in toks if t not in STOP_WORDS and (len(t) > 1 or t.isdigit())]
    return _stemmer().stemWords(toks)
