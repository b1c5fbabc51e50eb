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


def _fail(msg: str, code: int = 1):
    _console().print(f"[bold red]Erreur :[/] {msg}")
    raise typer.Exit(code)
