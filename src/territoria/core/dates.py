"""Dates typed by users (options, filters, forms): ISO or the French day-first order, one rule everywhere."""

from __future__ import annotations

import re
from datetime import date

from territoria.core.errors import TerritoriaError

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


def check_period(start, end, *, shown: tuple | None = None) -> None:
    """A start after the end would silently select nothing: say so. `start`/`end` are comparable bounds
    (either may be None); `shown`, the dates as the user typed them when the bounds are not."""
    if start is not None and end is not None and start > end:
        a, b = shown or (start, end)
        raise TerritoriaError(f"La date de début ({a}) est après la date de fin ({b}).",
                              hint="Inversez les deux dates.")
