"""Helpers shared by the CLI modules (`cli.py` and the use cases' `cli.py`)."""

from __future__ import annotations

from typing import Optional

import typer


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _tenant(tenant: Optional[str]) -> str:
    from territoria.core.settings import get_settings

    return tenant or get_settings().tenant


def _fail(msg: str, code: int = 1):
    _console().print(f"[bold red]Erreur :[/] {msg}")
    raise typer.Exit(code)
