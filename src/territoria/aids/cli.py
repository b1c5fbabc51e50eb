"""`territoria aids …` (import, find, show, list, commune, questions, chat) and `territoria eval aids`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from territoria.core.errors import TerritoriaError

app = typer.Typer(help="Aides : importer des catalogues, trouver les aides d'un demandeur, évaluer.",
                  no_args_is_help=True)


def _fail(exc: TerritoriaError, code: int = 1) -> None:
    typer.echo(f"Erreur : {exc.message}", err=True)
    if exc.hint:
        typer.echo(exc.hint, err=True)
    raise typer.Exit(code)


def _options(profile: Optional[str], extra: dict, date_: Optional[str] = None) -> dict:
    """The profile and reference date given on the command line; a bad one (unreadable, or a value that cannot
    be true such as an age of 250) is a usage error (exit code 2)."""
    from territoria.aids.finder import _today
    from territoria.aids.profile import normalize_profile

    try:
        if date_ is not None:
            _today(date_)
        prof = _read_profile(profile, extra)
        normalize_profile(prof)  # raises ProfileError naming the field
        return prof
    except TerritoriaError as exc:
        _fail(exc, 2)


def _dump(obj) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def _read_profile(profile: Optional[str], extra: dict) -> dict:
    prof: dict = {}
    if profile:
        p = Path(profile)
        try:
            if p.is_file():
                raw = p.read_bytes()
                try:
                    text = raw.decode("utf-8-sig")
                except UnicodeDecodeError:  # a profile saved by a Windows editor
                    text = raw.decode("cp1252", errors="replace")
                prof = json.loads(text)
            elif profile.strip().startswith(("{", "[")):
                prof = json.loads(profile)
            else:
                raise TerritoriaError(f"Profil introuvable : {profile}.",
                                      hint="Donnez un fichier JSON ou un JSON en ligne, par ex. "
                                           "--profile '{\"commune\": \"70550\", \"age\": 19}'.")
        except json.JSONDecodeError as exc:
            raise TerritoriaError(f"Le profil n'est pas un JSON valide (erreur ligne {exc.lineno}, colonne {exc.colno}).",
                                  hint="Exemple : {\"commune\": \"70454\", \"age\": 27, \"audience\": \"particulier\"}.")
        if not isinstance(prof, dict):
            raise TerritoriaError("Le profil doit être un objet JSON (clés commune, age, audience…).",
                                  hint="Exemple : {\"commune\": \"70454\", \"age\": 27, \"audience\": \"particulier\"}.")
    prof.update({k: v for k, v in extra.items() if v not in (None, "")})
    return prof


@app.command("import")
def import_cmd(
    sources: List[Path] = typer.Argument(..., help="Fichiers ou dossiers : data/aids (aides-jeunes, aides-velo, "
                                                   "mission-transition), data/communes, export Aides-territoires, CSV/JSON."),
    mapping: Optional[Path] = typer.Option(None, "--mapping", help="Correspondance de champs (JSON) pour un CSV/JSON."),
    source: Optional[str] = typer.Option(None, "--source", help="Nom de la source (préfixe des identifiants)."),
    kind: str = typer.Option("auto", "--kind", help="auto, aides-jeunes, aides-velo, mission-transition, "
                                                    "aides-territoires, generic."),
    index: bool = typer.Option(True, "--index/--no-index", help="Indexer aussi les aides comme documents."),
    embed: bool = typer.Option(True, "--embed/--no-embed", help="Calculer les vecteurs (recherche sémantique)."),
    as_json: bool = typer.Option(False, "--json", help="Sortie JSON."),
) -> None:
    """Importer des aides dans le catalogue du dossier de données (détecte la source)."""
    from territoria.aids.catalogue import import_paths, load_mapping

    try:
        rep = import_paths(sources, mapping=load_mapping(mapping), source=source,
                           kind=None if kind == "auto" else kind, index=index, embed=embed,
                           on_progress=None if as_json else (lambda m: typer.echo(m, err=True)))
    except TerritoriaError as exc:
        _fail(exc)
        return
    if as_json:
        _dump(rep.to_dict())
        return
    for s in rep.sources:
        for sk in s["skipped"][:5]:
            typer.echo(f"  ignorée : {sk['id']} ({sk['reason']})")
        for note in s["notes"]:
            typer.echo(f"  note : {note}")
    if rep.index_note:
        typer.echo(rep.index_note)
    elif rep.indexed:
        typer.echo(f"Documents indexés : {rep.indexed.get('ingested', 0)} nouveaux ou modifiés, "
                   f"{rep.indexed.get('unchanged', 0)} inchangés.")
    typer.echo(f"Catalogue : {rep.total} aides ({rep.seconds:.1f} s).")


@app.command("find")
def find_cmd(
    profile: Optional[str] = typer.Option(None, "--profile", help="Profil : fichier JSON ou JSON en ligne."),
    need: Optional[str] = typer.Option(None, "--need", help="Le besoin, en français courant."),
    k: int = typer.Option(10, "--k", min=1, max=100, help="Nombre d'aides."),
    as_json: bool = typer.Option(False, "--json", help="Sortie JSON."),
    include_ineligible: bool = typer.Option(False, "--include-ineligible", help="Montrer aussi les aides non "
                                                                                 "éligibles (avec la raison)."),
    commune: Optional[str] = typer.Option(None, "--commune", help="Commune (nom, code postal ou code INSEE)."),
    age: Optional[int] = typer.Option(None, "--age"),
    audience: Optional[str] = typer.Option(None, "--audience", help="particulier, entreprise, association, commune…"),
    statut: Optional[str] = typer.Option(None, "--statut", help="etudiant, apprenti, lyceen, demandeur_emploi…"),
    date_: Optional[str] = typer.Option(None, "--date", help="Date de référence AAAA-MM-JJ (défaut : aujourd'hui)."),
) -> None:
    """Trouver les aides qu'un demandeur peut obtenir pour son besoin, avec les raisons."""
    from territoria.aids.audit import audit_aids
    from territoria.aids.finder import find_with_context
    from territoria.core.settings import get_settings
    from territoria.trust.principal import cli_principal

    prof = _options(profile, {"commune": commune, "age": age, "audience": audience, "statut": statut}, date_)
    try:
        out = find_with_context(prof, need, k=k, include_ineligible=include_ineligible, today=date_)
        t = get_settings().tenant
        audit_aids(out, t, prof, need, out.get("elapsed_ms") or 0.0, actor=cli_principal(t).actor)
    except TerritoriaError as exc:
        _fail(exc)
        return
    if as_json:
        _dump(out)
        return
    _print_results(out)


def _print_results(out: dict) -> None:
    terr = out.get("territory") or {}
    if out.get("place_message"):
        typer.echo(out["place_message"])
    if terr.get("label"):
        typer.echo(f"Territoire : {terr['label']} — {terr.get('epci_name') or 'sans intercommunalité'}, "
                   f"{terr.get('region_name')}")
    res = out.get("results") or []
    if not res:
        typer.echo("Aucune aide trouvée pour ce profil et ce besoin. Reformulez le besoin ou complétez le profil.")
    labels = {"eligible": "ÉLIGIBLE", "to_check": "À VÉRIFIER", "ineligible": "NON ÉLIGIBLE"}
    for n, r in enumerate(res, 1):
        typer.echo(f"\n{n}. {r['name']}  [{labels.get(r['eligibility'], r['eligibility'])}]  ({r['id']})")
        for reason in r["reasons"]:
            typer.echo(f"   - {reason}")
        for q in r.get("questions") or []:
            typer.echo(f"   ? {q}")
        if r.get("apply_url") or r.get("url"):
            typer.echo(f"   → {r.get('apply_url') or r.get('url')}")
    qs = out.get("questions") or []
    if qs:
        typer.echo("\nPour affiner : " + " ".join(qs[:3]))


@app.command("show")
def show_cmd(aid_id: str = typer.Argument(..., help="Identifiant, par ex. aides-jeunes/pass_culture."),
             as_json: bool = typer.Option(False, "--json")) -> None:
    """Afficher une aide du catalogue."""
    from territoria.aids.eligibility import label_of
    from territoria.aids.store import AidStore

    if not AidStore.exists():
        from territoria.aids.finder import empty_catalogue_error

        _fail(empty_catalogue_error())
    st = AidStore.open()
    try:
        a = st.get(aid_id)
    finally:
        st.close()
    if a is None:
        _fail(TerritoriaError(f"Aucune aide « {aid_id} » dans le catalogue.",
                              hint="Les identifiants sont de la forme <source>/<id> ; voir `territoria aids list`."))
        return
    if as_json:
        _dump(a.to_dict())
        return
    typer.echo(f"{a.name} ({a.id})\n{a.description}\n")
    typer.echo(f"Territoire : {a.perimeter.get('name') or a.perimeter.get('level')}")
    for n in a.conditions:
        typer.echo(f"- {label_of(n)}")
    for t in a.conditions_text:
        typer.echo(f"- {t}")
    if a.amount.get("text"):
        typer.echo(f"Montant : {a.amount['text']}")
    if a.url:
        typer.echo(a.url)


@app.command("list")
def list_cmd(source: Optional[str] = typer.Option(None, "--source"), as_json: bool = typer.Option(False, "--json")
             ) -> None:
    """Lister les sources (et les aides d'une source)."""
    from territoria.aids.store import AidStore

    if not AidStore.exists():
        from territoria.aids.finder import empty_catalogue_error

        _fail(empty_catalogue_error())
    st = AidStore.open()
    try:
        if source:
            rows = [{"id": a.id, "name": a.name} for a in st.load_all() if a.source == source]
            if as_json:
                _dump(rows)
            else:
                for r in rows:
                    typer.echo(f"{r['id']}\t{r['name']}")
            return
        counts = st.sources()
    finally:
        st.close()
    if as_json:
        _dump(counts)
    else:
        for s, n in counts.items():
            typer.echo(f"{s}\t{n}")


@app.command("commune")
def commune_cmd(query: str = typer.Argument(..., help="Nom, code postal ou code INSEE."),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """Résoudre une commune (avec désambiguïsation) et son territoire : EPCI, département, région."""
    from territoria.aids.perimeter import load_geo

    try:
        res = load_geo().resolve(query)
    except TerritoriaError as exc:
        _fail(exc)
        return
    if as_json:
        _dump(res.to_dict())
        return
    if res.status == "ok":
        c = res.commune
        typer.echo(f"{c.label} — INSEE {c.code}, codes postaux {', '.join(c.postcodes)}\n"
                   f"EPCI : {c.epci_name or 'aucun'} ({c.epci or '-'})\nDépartement : {c.departement_name} "
                   f"({c.departement})\nRégion : {c.region_name} ({c.region})")
    else:
        typer.echo(res.message)
        for c in res.candidates[:10]:
            typer.echo(f"  - {c.label} : INSEE {c.code}, {', '.join(c.postcodes[:3])}")
        raise typer.Exit(2 if res.status == "ambiguous" else 1)


@app.command("questions")
def questions_cmd(profile: Optional[str] = typer.Option(None, "--profile"),
                  need: Optional[str] = typer.Option(None, "--need"),
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """Les questions à poser au demandeur avant de répondre (mode conversationnel)."""
    from territoria.aids.finder import missing_profile_questions

    prof = _options(profile, {})
    try:
        qs = missing_profile_questions(prof, need)
    except TerritoriaError as exc:
        _fail(exc)
        return
    if as_json:
        _dump({"questions": qs})
    else:
        for q in qs:
            typer.echo(f"- {q}")
        if not qs:
            typer.echo("Le profil suffit pour répondre.")


@app.command("chat")
def chat_cmd(profile: Optional[str] = typer.Option(None, "--profile"), k: int = typer.Option(5, "--k")) -> None:
    """Conversation : décrivez votre situation, Territoria demande ce qui manque puis propose les aides."""
    from territoria.aids.conversation import AidConversation

    prof = _options(profile, {})
    try:
        conv = AidConversation(profile=prof, k=k)
        typer.echo(conv.greeting())
        while True:
            try:
                line = input("> ").strip()
            except EOFError:
                break
            if line.lower() in ("quit", "exit", "fin", "au revoir", "merci"):
                break
            reply = conv.answer(line)
            typer.echo(reply["text"])
    except TerritoriaError as exc:
        _fail(exc)


def eval_aids_cmd(
    cases: Path = typer.Argument(..., help="Cas JSONL : profile, need, expected_ids, ineligible_ids."),
    as_json: bool = typer.Option(False, "--json", help="Sortie JSON."),
    k: int = typer.Option(10, "--k", help="Nombre de résultats par cas."),
    details: bool = typer.Option(False, "--details", help="Détail par cas (avec --json)."),
    date_: Optional[str] = typer.Option(None, "--date", help="Date de référence AAAA-MM-JJ."),
) -> None:
    """Évaluer le moteur d'aides : top1, top3, taux d'aides non éligibles dans le top 3, p95 (ms)."""
    from territoria.aids.evaluate import evaluate_cases, load_cases
    from territoria.aids.finder import _today

    _options(None, {}, date_)
    try:
        res = evaluate_cases(load_cases(cases), k=k, details=details, today=_today(date_))
    except TerritoriaError as exc:
        _fail(exc)
        return
    if as_json:
        _dump(res)
        return
    typer.echo(f"cas : {res['n']}  top1 : {res['top1']:.3f}  top3 : {res['top3']:.3f}  "
               f"non éligibles dans le top 3 : {res['ineligible_in_top3_rate']:.3f}  p95 : {res['p95_ms']} ms")


def register(root_app, eval_app) -> None:
    """Called by territoria.cli: adds `territoria eval aids` (nothing is added to the root)."""
    eval_app.command("aids")(eval_aids_cmd)


if __name__ == "__main__":  # pragma: no cover
    app()
    sys.exit(0)
