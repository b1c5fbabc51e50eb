"""Command-line interface: `territoria ...`.

Each use case exposes its own Typer sub-application in `<usecase>/cli.py`;
they are attached here so that `territoria canteen ...`, `territoria aids ...` work.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Optional

import typer

from territoria.core.settings import Settings, set_settings

app = typer.Typer(
    help="Territoria — IA de service public pour les collectivités (ingestion, recherche, aides, cantines…).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
eval_app = typer.Typer(help="Évaluations (recherche, réponses, aides).", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


@app.callback()
def _global(
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", envvar="TERRITORIA_DATA_DIR", help="Dossier où Territoria garde son état."
    ),
) -> None:
    if data_dir is not None:
        set_settings(Settings(data_dir=data_dir))


# Sub-applications of the use cases and layers (module path, attribute, command name).
_SUBAPPS = [
    ("territoria.canteen.cli", "app", "canteen"),
    ("territoria.aids.cli", "app", "aids"),
]
# Modules that register plain commands on `app` / `eval_app` when imported.
_COMMAND_MODULES = [
    "territoria.search.cli",
    "territoria.aids.cli",
]


def _attach() -> None:
    for module, attr, name in _SUBAPPS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a use case not built yet
            if exc.name == module:
                continue
            raise
        sub = getattr(mod, attr, None)
        if sub is not None:
            app.add_typer(sub, name=name)
    for module in _COMMAND_MODULES:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        register = getattr(mod, "register", None)
        if register is not None:
            register(app, eval_app)


_attach()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
