"""Dates typed by users (options, filters, forms): ISO or the French day-first order, one rule everywhere."""

from __future__ import annotations

import re
from datetime import date

from territoria.core.errors import TerritoriaError

MONTHS_FR = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
             "novembre", "décembre"]
# month words as written in French texts: full names, usual abbreviations, without their accents too
_MONTH_WORDS = {
    **{m: i for i, m in enumerate(MONTHS_FR, 1)},
    "fevrier": 2, "aout": 8, "decembre": 12,
    "janv": 1, "févr": 2, "fevr": 2, "avr": 4, "juil": 7, "sept": 9, "oct": 10, "nov": 11, "déc": 12,
}
_WRITTEN = re.compile(r"(?:[a-z]+\.?,?\s+)?(\d{1,2})(?:er)?\s+([a-zéèûô]+)\.?\s+(\d{4})\b")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_FRENCH = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")  # 31/12/2024, 31.12.2024, 31-12-2024


def parse_day(text: str | None) -> date | None:
    """AAAA-MM-JJ or JJ/MM/AAAA (day first, as written in France, never the American month/day); None for
    anything else, an impossible date (31/02/2024) included."""
    s = (text or "").strip()
    try:
        if m := _ISO.fullmatch(s):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _FRENCH.fullmatch(s):
            return date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        pass
    return None


def parse_written_day(text: str | None) -> date | None:
    """A date written in words at the start of `text`: « 1er mars 2024 », « lundi 4 mars 2024 », « 4 févr. 2024 »;
    None for anything else or an impossible date (30 février)."""
    m = _WRITTEN.match((text or "").strip().lower())
    if m is None or m[2] not in _MONTH_WORDS:
        return None
    try:
        return date(int(m[3]), _MONTH_WORDS[m[2]], int(m[1]))
    except ValueError:
        return None


def check_period(start, end, *, shown: tuple | None = None) -> None:
    """A start after the end would silently select nothing: say so. `start`/`end` are comparable bounds
    (either may be None); `shown`, the dates as the user typed them when the bounds are not."""
    if start is not None and end is not None and start > end:
        a, b = shown or (start, end)
        raise TerritoriaError(f"La date de début ({a}) est après la date de fin ({b}).",
                              hint="Inversez les deux dates.")
