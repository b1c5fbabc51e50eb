"""CLI commands of the assistant and the API: `territoria ask`, `territoria serve`, `territoria eval answers`.

Registered on the main application by `territoria.cli` (see `_COMMAND_MODULES`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer


from territoria.cli_common import _console, _escape, _fail, _tenant  # noqa: E402


def ask_command(
    question: str = typer.Argument(..., help="La question, en français."),
    tenant: Optional[str] = typer.Option(None, "--tenant", help="Collectivité (locataire)."),
    json_out: bool = typer.Option(False, "--json", help="Réponse complète en JSON sur la sortie standard."),
    backend: Optional[str] = typer.Option(None, "--backend", help="Moteur de langue : embedded ou openai."),
    conversation: Optional[str] = typer.Option(None, "--conversation",
                                               help="Identifiant de conversation (questions de suivi)."),
) -> None:
    """Poser une question : réponse en français, sourcée par les documents, ou « je ne sais pas »."""
    from territoria.assistant.service import ask
    from territoria.core.errors import TerritoriaError
    from territoria.models.llm import resolve_backend

    try:
        b = resolve_backend(backend)
    except TerritoriaError as exc:
        _fail(str(exc), 2)
    streamed = []

    def on_event(ev: dict) -> None:
        if json_out or ev.get("type") != "token":
            return
        streamed.append(ev["text"])
        sys.stdout.write(ev["text"])
        sys.stdout.flush()

    try:
        ans = ask(question, tenant=_tenant(tenant), conversation_id=conversation, backend=b, on_event=on_event)
    except TerritoriaError as exc:
        _fail(str(exc))
    if json_out:
        typer.echo(json.dumps(ans.to_dict(), ensure_ascii=False))
        return
    if not streamed:
        sys.stdout.write(ans.answer)
    sys.stdout.write("\n")
    if ans.citations:
        typer.echo("\nSources :")
        for c in ans.citations:
            where = " › ".join(x for x in (c.section, f"p. {c.page}" if c.page else "") if x)
            typer.echo(f"[{c.n}] {c.title}" + (f" — {where}" if where else "") + (f"\n    {c.url}" if c.url else ""))
    con = _console()
    for w in ans.warnings + ans.notes:
        con.print(f"[yellow]{_escape(w)}[/]")
    lat = ans.latency_ms
    ft = f"{lat['first_token'] / 1000:.1f} s" if lat.get("first_token") is not None else "—"
    con.print(f"[dim]{ans.model or 'sans modèle'} · premier mot {ft} · total {lat['total'] / 1000:.1f} s · "
              f"≈ {ans.energy_wh:.4f} Wh · invite {ans.prompt_version}[/]")


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Adresse d'écoute (0.0.0.0 pour le réseau)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port TCP."),
    backend: Optional[str] = typer.Option(None, "--backend", help="Moteur de langue : embedded ou openai."),
    preload: bool = typer.Option(False, "--preload", help="Charger le modèle de langue au démarrage."),
) -> None:
    """Démarrer l'API web (documentation OpenAPI sur /docs, API compatible OpenAI sur /v1)."""
    from territoria.web.app import serve

    _check_can_listen(host, port)
    _console().print(f"API Territoria sur http://{host}:{port} — documentation : http://{host}:{port}/docs")
    serve(host=host, port=port, preload=preload, backend=backend)


def _check_can_listen(host: str, port: int) -> None:
    """Say in French, before loading anything, why the server could not listen (uvicorn says it in English
    after start-up and exits with code 0)."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        _fail(f"Adresse d'écoute « {host} » inconnue.", 2)
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                _fail(f"Le port {port} est déjà utilisé sur {host} (un autre serveur, ou Territoria déjà lancé). "
                      f"Choisissez-en un autre avec --port, ou arrêtez l'autre programme.")
            if exc.errno == errno.EACCES:
                _fail(f"Droits insuffisants pour écouter sur le port {port} (les ports sous 1024 sont réservés "
                      "à l'administrateur). Choisissez par exemple --port 8000.")
            _fail(f"Impossible d'écouter sur {host}:{port} : cette adresse n'appartient pas à cette machine "
                  "(utilisez 0.0.0.0 pour toutes ses adresses, ou 127.0.0.1).")


def eval_answers_command(
    qa: Path = typer.Argument(..., help="Fichier JSONL de questions (question, relevant_ids ; [] = sans réponse)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Nombre maximal de questions."),
    json_out: bool = typer.Option(False, "--json", help="Résultat agrégé en JSON."),
    tenant: Optional[str] = typer.Option(None, "--tenant"),
    backend: Optional[str] = typer.Option(None, "--backend", help="Moteur de langue : embedded ou openai."),
    out: Optional[Path] = typer.Option(None, "--out", help="Résultats par question (JSONL)."),
) -> None:
    """Mesurer l'assistant : taux de réponse, citations justes, abstentions, latences, énergie."""
    from rich.progress import Progress

    from territoria.assistant.evaluate import evaluate_answers, load_rows
    from territoria.core.errors import TerritoriaError
    from territoria.core.settings import get_settings
    from territoria.store import get_store

    try:
        rows = load_rows(qa)[:limit]
    except TerritoriaError as exc:
        _fail(str(exc), 2)
    t = _tenant(tenant)
    if get_store().count_documents(t) == 0:
        _fail(f"aucun document indexé pour le locataire « {t} » : lancez d'abord « territoria ingest ».")
    if out is None:
        import time

        out = get_settings().ensure().data_dir / "eval" / f"answers-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    with Progress(console=_console(), transient=True) as prog:
        task = prog.add_task("Évaluation des réponses", total=len(rows))
        try:
            res = evaluate_answers(rows, tenant=t, backend=backend, out=out, on_progress=lambda: prog.advance(task))
        except TerritoriaError as exc:
            _fail(str(exc))
    _console().print(f"Résultats par question : {out}")
    if json_out:
        typer.echo(json.dumps(res, ensure_ascii=False))
        return
    a, u, lat = res["answerable"], res["unanswerable"], res["latency_ms"]
    typer.echo(f"{res['n']} questions ({a['n']} avec réponse attendue, {u['n']} sans)")
    if a["n"]:
        typer.echo(f"  réponses données   : {a['answered_rate']:.3f}")
        typer.echo(f"  citation juste     : {a['citation_hit_rate']:.3f}  (précision des citations {a['citation_precision']:.3f})")
    if u["n"]:
        typer.echo(f"  abstentions justes : {u['abstain_rate']:.3f}")
    typer.echo(f"  latence premier mot p50 {lat['first_token_p50']} ms, totale p50 {lat['total_p50']} ms, "
               f"p95 {lat['total_p95']} ms ; énergie moyenne {res['energy_wh_mean']} Wh")


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    app.command("ask")(ask_command)
    app.command("serve")(serve_command)
    eval_app.command("answers")(eval_answers_command)
