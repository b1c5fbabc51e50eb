"""Helpers shared by the CLI modules (`cli.py` and the use cases' `cli.py`)."""

from __future__ import annotations

from typing import Optional

import typer


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _tenant(tenant: Optional[str]) -> str:
    from territoria.core.errors import TerritoriaError
    from territoria.core.settings import get_settings
    from territoria.trust.tenants import check_name

    t = tenant or get_settings().tenant
    try:
        return check_name(t)
    except TerritoriaError as exc:
        _fail(exc.message + (f" {exc.hint}" if exc.hint else ""), 2)


def _escape(text) -> str:
    """Text shown through rich: file names like « rapport [v2].pdf » must not be read as markup."""
    from rich.markup import escape

    return escape(str(text))


def _fail(msg: str, code: int = 1):
    _console().print(f"[bold red]Erreur :[/] {_escape(msg)}")
    raise typer.Exit(code)


def _confirm(question: str) -> bool:
    """A yes/no question in French: « o », « oui », « y » or « yes » confirm; anything else (or no terminal)
    declines, so nothing is ever deleted by mistake."""
    try:
        answer = typer.prompt(f"{question} [o/N]", default="", show_default=False)
    except Exception:  # no terminal, end of input, Ctrl-C: decline
        return False
    return answer.strip().lower() in ("o", "oui", "y", "yes")
