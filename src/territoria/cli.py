"""Command-line interface: `territoria ...`.

Each use case exposes its own Typer sub-application in `<usecase>/cli.py`;
they are attached here so that `territoria canteen ...`, `territoria aids ...` work.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Optional

import typer

from territoria.core.errors import TerritoriaError
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
    from territoria.core.settings import get_settings
    from territoria.trust import principal

    principal.set_current(principal.cli_principal(get_settings().tenant))  # the audit log's actor


# -- core commands: ingestion, search, evaluation -------------------------------------------------

from territoria.cli_common import _console, _escape, _fail, _tenant  # noqa: E402


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(..., help="Fichiers, dossiers (récursif) ou corpus JSONL."),
    tenant: Optional[str] = typer.Option(None, "--tenant", help="Collectivité (locataire)."),
    source: Optional[str] = typer.Option(None, "--source", help="Nom de la source (filtre de recherche)."),
    visibility: Optional[str] = typer.Option(None, "--visibility",
                                             help="public (défaut) ou internal (agents seulement)."),
    dense: str = typer.Option("inline", "--dense", help="Vecteurs denses : inline, background ou off."),
    json_out: bool = typer.Option(False, "--json", help="Résumé en JSON sur la sortie standard."),
) -> None:
    """Ingérer des documents (PDF, scans, DOCX, ODT, HTML, Markdown, TXT, CSV, EML, JSONL)."""
    import json as _json

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from territoria.ingest.pipeline import ingest_paths

    from territoria.trust import tenants as registry

    con = _console()
    if visibility not in (None, "public", "internal"):
        _fail(f"visibilité « {visibility} » inconnue : public ou internal.", 2)
    if dense not in ("inline", "background", "off"):
        _fail(f"--dense « {dense} » inconnu : inline, background ou off.", 2)
    try:
        if registry.ensure(_tenant(tenant)):
            con.print(f"Collectivité « {_tenant(tenant)} » créée (territoria tenant list).")
    except TerritoriaError as exc:
        _fail(exc.message + (f" {exc.hint}" if exc.hint else ""), 2)
    missing = [p for p in paths if not p.exists()]
    for p in missing:
        con.print(f"[red]Introuvable :[/] {_escape(p)}")
    cols = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeRemainingColumn()]
    with Progress(*cols, console=con, transient=False) as prog:
        orig_add = prog.add_task
        prog.add_task = lambda *a, **kw: orig_add(*a, rate="", **kw)  # type: ignore[method-assign]
        summary = ingest_paths([p for p in paths if p.exists()], tenant=_tenant(tenant), source=source,
                               progress=prog, visibility=visibility)
    for p in missing:
        summary.failed.append((str(p), "Fichier ou dossier introuvable."))
    if not (summary.ingested or summary.unchanged or summary.failed):  # e.g. an empty or unmounted folder
        for p in paths:
            summary.failed.append((str(p), "Aucun document trouvé ici (dossier vide ?) : rien n'a été ingéré."))
    rate = (summary.ingested + summary.unchanged) / summary.seconds if summary.seconds else 0
    con.print(f"[green]{summary.ingested} ingéré(s)[/], {summary.unchanged} inchangé(s), "
              f"[red]{len(summary.failed)} en échec[/] — {summary.chunks} passages, {rate:.1f} docs/s, "
              f"{summary.seconds:.1f} s")
    for f, reason in summary.failed:
        con.print(f"  [red]✗[/] {_escape(f)} : {_escape(reason)}")
    embedded = {}
    if dense == "inline":
        embedded = _embed(_tenant(tenant))
    elif dense == "background":
        _embed_background(_tenant(tenant))
    if json_out:
        out = summary.to_dict()
        out["embedded"] = embedded
        typer.echo(_json.dumps(out, ensure_ascii=False))
    if summary.failed:
        raise typer.Exit(1)


def _embed(tenant: str) -> dict:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from territoria.search.dense import embed_pending
    from territoria.store import get_store

    store = get_store()
    tasks: dict[str, int] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=_console()) as prog:
        def cb(model: str, n: int, total: int) -> None:
            if model not in tasks:
                tasks[model] = prog.add_task(f"Vecteurs {model}", total=total)
            prog.update(tasks[model], completed=n)

        return embed_pending(store, tenant, on_progress=cb)


def _embed_background(tenant: str) -> None:
    import subprocess
    import sys

    from territoria.core.settings import get_settings

    s = get_settings().ensure()
    log = open(s.data_dir / f"embed-{tenant}.log", "ab")
    subprocess.Popen([sys.executable, "-m", "territoria.cli", "--data-dir", str(s.data_dir), "embed",
                      "--tenant", tenant], stdout=log, stderr=log, start_new_session=True)
    _console().print(f"Calcul des vecteurs lancé en arrière-plan (journal : {log.name}). "
                     "La recherche utilise déjà ce qui est prêt ; suivez l'avancement avec « territoria status ».")


@app.command()
def embed(tenant: Optional[str] = typer.Option(None, "--tenant")) -> None:
    """Calculer les vecteurs denses manquants (reprend là où un calcul s'est arrêté)."""
    done = _embed(_tenant(tenant))
    _console().print(f"Vecteurs calculés : {done}")


@app.command()
def status(tenant: Optional[str] = typer.Option(None, "--tenant"),
           json_out: bool = typer.Option(False, "--json")) -> None:
    """État de l'index : documents, passages, vecteurs prêts."""
    import json as _json

    from territoria.search.dense import DEFAULT_PLAN
    from territoria.store import get_store

    store = get_store()
    t = _tenant(tenant)
    out = {"tenant": t, "documents": store.count_documents(t), "chunks": store.count_chunks(t), "vectors": {}}
    for model in DEFAULT_PLAN:
        done, total = store.embedding_counts(t, model)
        out["vectors"][model] = {"ready": done, "chunks": total}
    if json_out:
        typer.echo(_json.dumps(out))
    else:
        typer.echo(f"Locataire {t} : {out['documents']} documents, {out['chunks']} passages")
        for m, v in out["vectors"].items():
            typer.echo(f"  vecteurs {m} : {v['ready']}/{v['chunks']}")


@app.command()
def delete(doc_ids: list[str] = typer.Argument(..., help="Identifiants des documents à supprimer."),
           tenant: Optional[str] = typer.Option(None, "--tenant")) -> None:
    """Supprimer des documents (et leurs passages) de l'index."""
    from territoria.store import get_store

    store = get_store()
    missing = [d for d in doc_ids if not store.delete_document(_tenant(tenant), d)]
    for d in doc_ids:
        if d not in missing:
            typer.echo(f"Supprimé : {d}")
    if missing:
        _fail("Document(s) introuvable(s) : " + ", ".join(missing) + ". Listez-les avec « territoria documents ».")


@app.command()
def documents(tenant: Optional[str] = typer.Option(None, "--tenant"),
              source: Optional[str] = typer.Option(None, "--source"),
              limit: int = typer.Option(50, "--limit"),
              json_out: bool = typer.Option(False, "--json")) -> None:
    """Lister les documents indexés."""
    import json as _json
    from dataclasses import asdict

    from territoria.store import get_store

    docs = get_store().list_documents(_tenant(tenant), source=source, limit=limit)
    if json_out:
        typer.echo(_json.dumps([asdict(d) for d in docs], ensure_ascii=False))
        return
    for d in docs:
        typer.echo(f"{d.doc_id}\t{d.doc_type}\t{d.n_chunks} passages\t{d.title}")


@app.command()
def search(
    query: str = typer.Argument(..., help="La question ou les mots cherchés."),
    k: int = typer.Option(10, "--k", min=1, max=200),
    mode: str = typer.Option("hybrid", "--mode", help="bm25, dense ou hybrid."),
    tenant: Optional[str] = typer.Option(None, "--tenant"),
    source: Optional[str] = typer.Option(None, "--source"),
    doc_type: Optional[str] = typer.Option(None, "--type", help="Type de document (pdf, docx, jsonl…)."),
    date_from: Optional[str] = typer.Option(None, "--from", help="Date minimale AAAA-MM-JJ."),
    date_to: Optional[str] = typer.Option(None, "--to", help="Date maximale AAAA-MM-JJ."),
    public: bool = typer.Option(False, "--public", help="Ce que voit un usager : documents publics seulement."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Rechercher dans les documents (lexical français, dense, ou hybride par défaut)."""
    import json as _json

    from territoria.search.engine import MODES, NO_HITS, Filters, no_hits_reason
    from territoria.search.engine import search as do_search

    if mode not in MODES:
        _fail(f"mode « {mode} » inconnu : choisissez parmi {', '.join(MODES)}.", 2)
    if not query.strip():
        _fail(NO_HITS["empty_query"], 2)
    try:
        filters = Filters(source=source, doc_type=doc_type, date_from=date_from, date_to=date_to,
                          visibility=("public",) if public else None)
    except TerritoriaError as exc:  # an unreadable or inverted date: a usage error
        _fail(str(exc), 2)
    hits = do_search(query, k=k, mode=mode, tenant=_tenant(tenant), filters=filters)
    if json_out:
        typer.echo(_json.dumps([h.to_dict() for h in hits], ensure_ascii=False))
        return
    if not hits:
        typer.echo(NO_HITS[no_hits_reason(query, tenant=_tenant(tenant), filters=filters)])
    for i, h in enumerate(hits, 1):
        where = " › ".join(x for x in (h.section, f"p. {h.page}" if h.page else "") if x)
        typer.echo(f"{i:>2}. [{h.score:.4f}] {h.title} ({h.doc_id}){' — ' + where if where else ''}")
        snippet = " ".join(h.text.split())[:220]
        typer.echo(f"    {snippet}")
        if h.url:
            typer.echo(f"    {h.url}")


@eval_app.command("retrieval")
def eval_retrieval(
    qa: Path = typer.Argument(..., help="Fichier JSONL de questions (question, relevant_ids)."),
    k: int = typer.Option(10, "--k"),
    modes: str = typer.Option("bm25,dense,hybrid", "--modes"),
    tenant: Optional[str] = typer.Option(None, "--tenant"),
    limit: Optional[int] = typer.Option(None, "--limit"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Mesurer la recherche : recall@1/5/10, MRR@10, nDCG@10, latence p50/p95."""
    import json as _json

    from rich.progress import Progress

    from territoria.core.errors import TerritoriaError
    from territoria.search.engine import MODES, get_index, timed_search
    from territoria.search.evaluation import evaluate, load_qa

    mode_list = [m.strip() for m in modes.split(",") if m.strip()]
    bad = [m for m in mode_list if m not in MODES]
    if bad:
        _fail(f"mode(s) inconnu(s) : {', '.join(bad)} (choisir parmi {', '.join(MODES)}).", 2)
    try:
        rows = load_qa(qa)
    except TerritoriaError as exc:
        _fail(str(exc), 2)
    rows = [r for r in rows if r.get("relevant_ids")][:limit]
    t = _tenant(tenant)
    if get_index(t).n_docs == 0:
        _fail(f"aucun document indexé pour le locataire « {t} » : lancez d'abord « territoria ingest ».")
    timed_search("échauffement", k=k, mode="hybrid", tenant=t)  # load models and index once
    with Progress(console=_console(), transient=True) as prog:
        task = prog.add_task("Évaluation", total=len(rows) * len(mode_list))
        res = evaluate(rows, lambda q, m: timed_search(q, k=max(k, 10), mode=m, tenant=t), mode_list, k=k,
                       on_progress=lambda: prog.advance(task))
    if json_out:
        typer.echo(_json.dumps(res, ensure_ascii=False))
        return
    typer.echo(f"{res['n']} questions")
    typer.echo(f"{'mode':8} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR@10':>7} {'nDCG@10':>8} {'p50 ms':>7} {'p95 ms':>7}")
    for m, v in res["modes"].items():
        typer.echo(f"{m:8} {v['recall@1']:6.3f} {v['recall@5']:6.3f} {v['recall@10']:6.3f} {v['mrr@10']:7.3f} "
                   f"{v['ndcg@10']:8.3f} {v['p50_ms']:7.1f} {v['p95_ms']:7.1f}")
        by = v.get("recall@5_by_style")
        if by:
            typer.echo("         recall@5 par style : " + ", ".join(f"{g} {x:.2f}" for g, x in by.items()))


# Sub-applications of the use cases and layers (module path, attribute, command name).
_SUBAPPS = [
    ("territoria.trust.cli", "tenant_app", "tenant"),
    ("territoria.trust.cli", "user_app", "user"),
    ("territoria.trust.cli", "key_app", "apikey"),
    ("territoria.trust.cli", "audit_app", "audit"),
    ("territoria.canteen.cli", "app", "canteen"),
    ("territoria.aids.cli", "app", "aids"),
]
# Modules that register plain commands on `app` / `eval_app` when imported.
_COMMAND_MODULES = [
    "territoria.aids.cli",
    "territoria.assistant.cli",  # ask, serve, eval answers
]


def _import(module: str):
    """Import a use case's CLI module; a broken use case must not take the whole CLI down."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:  # a use case not installed / not built
        if exc.name == module:
            return None
        raise
    except Exception as exc:  # pragma: no cover - reported, core commands keep working
        import sys

        print(f"Attention : le module {module} n'a pas pu être chargé ({exc.__class__.__name__} : {exc}).",
              file=sys.stderr)
        return None


def _attach() -> None:
    for module, attr, name in _SUBAPPS:
        mod = _import(module)
        if mod is None:
            continue
        sub = getattr(mod, attr, None)
        if sub is not None:
            app.add_typer(sub, name=name)
    for module in _COMMAND_MODULES:
        mod = _import(module)
        if mod is None:
            continue
        register = getattr(mod, "register", None)
        if register is not None:
            register(app, eval_app)


_attach()


_USAGE_FR = [  # click's usage errors, in English, said in French (the placeholders keep the names typed)
    (r"Missing argument '(.+?)'\.?", "argument « {0} » manquant."),
    (r"Missing option '(.+?)'\.?", "option « {0} » manquante."),
    (r"Missing parameter: (.+)", "paramètre « {0} » manquant."),
    (r"No such command '(.+?)'\.(?: Did you mean (.+?)\?)?", "commande inconnue : « {0} ».|Vouliez-vous dire : {1} ?"),
    (r"No such option: (\S+)(?: \(Possible options: (.+)\)| Did you mean (\S+)\?)?",
     "option inconnue : {0}.|Options proches : {1}{2}."),
    (r"Got unexpected extra argument(?:s|\(s\))? \((.+)\)",
     "argument(s) en trop : {0}. Une question de plusieurs mots se met entre guillemets."),
    (r"Option '(.+?)' requires an argument\.?", "l'option « {0} » attend une valeur."),
    (r"Option '(.+?)' does not take a value\.?", "l'option « {0} » ne prend pas de valeur."),
    (r"Invalid value for '(.+?)': (.+)", "valeur invalide pour « {0} » : {1}"),
]
_VALUE_FR = [
    (r".*valid integer.*", "un nombre entier est attendu."),
    (r".*valid (?:float|number).*", "un nombre est attendu."),
    (r".*greater than or equal to (\S+?)\.?", "au moins {0}."),
    (r".*less than or equal to (\S+?)\.?", "au plus {0}."),
    (r"(\S+) is not in the range (.+?)\.?", "{0} n'est pas dans l'intervalle {1}."),
    (r"(?:File|Path|Directory) '(.+?)' does not exist\.?", "« {0} » est introuvable."),
    (r"'(.+?)' is not one of (.+?)\.?", "« {0} » n'est pas permis (valeurs possibles : {1})."),
    (r"'?(.+?)'? is not a valid boolean\.?", "« {0} » : oui/non attendu (true ou false)."),
]


def usage_message_fr(message: str) -> str:
    """A click usage error in French; an unknown wording is kept as it is rather than lost."""
    import re

    def match(table, text):
        for pattern, fr in table:
            m = re.fullmatch(pattern, text.strip(), flags=re.S)
            if m:
                groups = [g or "" for g in m.groups()]
                parts = [p.format(*groups) for p in fr.split("|") if "{" not in p or any(
                    groups[int(i)] for i in re.findall(r"\{(\d)\}", p))]
                return " ".join(parts)
        return None

    out = match(_USAGE_FR, message)
    if out and out.startswith("valeur invalide"):
        detail = message.split(": ", 1)[1]
        out = out.replace(detail, match(_VALUE_FR, detail) or detail)
    return out or message


def _kind(exc: BaseException) -> str:
    """click's error classes by name: Typer ships its own copy of click (typer._click), so the classes of
    the `click` package are not the ones raised."""
    names = {c.__name__ for c in type(exc).__mro__}
    for kind in ("NoArgsIsHelpError", "UsageError", "ClickException", "Abort"):
        if kind in names:
            return kind
    return ""


def main(argv: list[str] | None = None) -> None:
    import sys

    try:
        rv = app(args=argv, prog_name="territoria", standalone_mode=False)
    except TerritoriaError as exc:  # what went wrong and what to do, in French, never a traceback
        _console().print(f"[bold red]Erreur :[/] {_escape(exc)}")
        sys.exit(1)
    except Exception as exc:
        kind = _kind(exc)
        if kind == "NoArgsIsHelpError":  # a command group typed alone: its help
            typer.echo(exc.format_message())
            sys.exit(exc.exit_code)
        if kind == "UsageError":  # usage errors in French too, with where to find help (exit code 2)
            ctx = getattr(exc, "ctx", None)
            _console().print(f"[bold red]Erreur :[/] {_escape(usage_message_fr(exc.format_message()))}\n"
                             f"Aide : {_escape(ctx.command_path if ctx else 'territoria')} --help")
            sys.exit(exc.exit_code)
        if kind == "ClickException":
            _console().print(f"[bold red]Erreur :[/] {_escape(usage_message_fr(exc.format_message()))}")
            sys.exit(exc.exit_code)
        if kind == "Abort":  # Ctrl-C, or « non » to a confirmation
            _console().print("Interrompu : rien de plus n'a été fait.")
            sys.exit(1)
        raise
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
