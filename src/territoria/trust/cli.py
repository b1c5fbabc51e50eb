"""CLI of the trust layer: `territoria tenant|user|apikey|audit …` (French messages, --json everywhere)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from territoria.cli_common import _confirm, _console, _fail
from territoria.core.errors import TerritoriaError, os_reason

tenant_app = typer.Typer(help="Collectivités (locataires) et corpus communs.", no_args_is_help=True)
user_app = typer.Typer(help="Utilisateurs de l'espace agent (rôles admin, agent, public).", no_args_is_help=True)
key_app = typer.Typer(help="Clés d'accès à l'API (montrées une seule fois, conservées hachées).", no_args_is_help=True)
audit_app = typer.Typer(help="Journal d'audit des sorties de l'IA (chaîné, vérifiable).", no_args_is_help=True)


def _out(obj) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=1))


def _run(fn, code: int = 1):
    try:
        return fn()
    except TerritoriaError as exc:
        _fail(exc.message + (f" {exc.hint}" if exc.hint else ""), code)


def _check(tenant: str | None = None, role: str | None = None) -> None:
    """A malformed tenant name or an unknown role is a usage error (exit code 2), like the other commands."""
    from territoria.trust import principal, tenants

    if tenant is not None:
        _run(lambda: tenants.check_name(tenant), 2)
    if role is not None:
        _run(lambda: principal.check_role(role), 2)


def _ask_password(label: str) -> str:
    """Password typed twice, hidden; French messages (click's own prompt answers in English)."""
    for _ in range(3):
        try:
            pw = typer.prompt(label, hide_input=True)
            again = typer.prompt("Confirmez le mot de passe", hide_input=True)
        except typer.Abort:  # end of input (no terminal) or Ctrl-C
            _fail("Aucun mot de passe saisi. Sans terminal, passez-le sur l'entrée standard avec --password-stdin.")
        if pw == again:
            return pw
        _console().print("Les deux saisies diffèrent ; recommencez.")
    _fail("Les deux saisies du mot de passe diffèrent : rien n'a été modifié.")


# -- tenants --------------------------------------------------------------------------------------

@tenant_app.command("create")
def tenant_create(
    tenant: str = typer.Argument(..., help="Identifiant court (lettres, chiffres, - . _), ex. mairie-exemple."),
    name: str = typer.Option("", "--name", help="Nom affiché, ex. « Mairie de Saint-Exemple »."),
    commons: bool = typer.Option(False, "--commons", help="Corpus commun en lecture seule (ex. fiches Service-Public)."),
    attach: list[str] = typer.Option([], "--attach", help="Corpus commun à rattacher (répétable)."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Créer une collectivité (ou un corpus commun avec --commons)."""
    from territoria.trust import tenants

    _check(tenant)
    existed = tenants.exists(tenant)
    kind = "commons" if commons else "local"
    if existed and tenants.get(tenant)["kind"] != kind:
        was = "un corpus commun" if kind == "local" else "une collectivité (pas un corpus commun)"
        _fail(f"« {tenant} » existe déjà et c'est {was} : son type ne change pas.")
    info = _run(lambda: tenants.create(tenant, name=name, kind=kind, commons=attach))
    if json_out:
        _out({**info, "created": not existed})
        return
    what = (f"Corpus commun « {tenant} » {'déjà existant' if existed else 'créé'}" if commons else
            f"Collectivité « {tenant} » {'déjà existante' if existed else 'créée'}")
    typer.echo(what + (f" ; corpus communs : {', '.join(info['commons'])}" if info["commons"] else "") + ".")


@tenant_app.command("list")
def tenant_list(json_out: bool = typer.Option(False, "--json")) -> None:
    """Lister les collectivités et corpus communs."""
    from territoria.trust import tenants

    rows = tenants.list_all()
    if json_out:
        _out(rows)
        return
    if not rows:
        typer.echo("Aucune collectivité. Créez-en une : territoria tenant create NOM")
    for r in rows:
        kind = "corpus commun" if r["kind"] == "commons" else "collectivité"
        extra = f" — lit aussi : {', '.join(r['commons'])}" if r["commons"] else ""
        typer.echo(f"{r['tenant']:<24} {kind:<14} {r['documents']:>7} document(s){extra}")


@tenant_app.command("attach")
def tenant_attach(tenant: str = typer.Argument(...), commons: str = typer.Option(..., "--commons"),
                  detach: bool = typer.Option(False, "--detach", help="Détacher au lieu de rattacher.")) -> None:
    """Rattacher (ou détacher) un corpus commun à une collectivité, sans le copier."""
    from territoria.trust import tenants

    _check(tenant)
    _check(commons)
    info = _run(lambda: tenants.attach(tenant, commons, not detach))
    typer.echo(f"« {tenant} » lit : {', '.join([tenant, *info['commons']])}.")


@tenant_app.command("quota")
def tenant_quota(tenant: str = typer.Argument(...),
                 rpm: Optional[int] = typer.Option(None, "--rpm", min=1, help="Requêtes par minute."),
                 tokens_per_day: Optional[int] = typer.Option(None, "--tokens-per-day", min=0,
                                                              help="Jetons de LLM par jour.")) -> None:
    """Fixer les quotas d'une collectivité (requêtes/minute, jetons de LLM/jour)."""
    from territoria.store import get_trust_store
    from territoria.trust import quotas, tenants

    _check(tenant)
    _run(lambda: tenants.get(tenant))
    ts = get_trust_store()
    old_rpm, old_tok = ts.tenant_quota(tenant)
    ts.set_tenant_quota(tenant, rpm if rpm is not None else old_rpm, tokens_per_day if tokens_per_day is not None else old_tok)
    r, t = quotas.tenant_limits(tenant)
    typer.echo(f"Quotas de « {tenant} » : {r} requêtes/minute, {t} jetons/jour.")


@tenant_app.command("delete")
def tenant_delete(tenant: str = typer.Argument(...),
                  yes: bool = typer.Option(False, "--yes", help="Confirmer sans question.")) -> None:
    """Supprimer une collectivité, ses documents, utilisateurs et clés (le journal d'audit est conservé)."""
    from territoria.trust import tenants

    _check(tenant)
    info = _run(lambda: tenants.get(tenant))
    readers = [r["tenant"] for r in tenants.list_all() if tenant in r["commons"]]
    also = f" (corpus commun lu par : {', '.join(readers)})" if readers else ""
    if not yes and not _confirm(f"Supprimer « {tenant} » et ses {info['documents']} document(s){also} ?"):
        _console().print("Suppression annulée : rien n'a été supprimé.")
        raise typer.Exit(1)
    res = tenants.delete(tenant)
    typer.echo(f"« {tenant} » supprimée : {res['documents']} document(s), {res['users']} utilisateur(s), "
               f"{res['api_keys']} clé(s), {res['answers']} réponse(s) du journal des réponses. "
               f"Le journal d'audit est conservé.")


# -- users ------------------------------------------------------------------------------------------

@user_app.command("create")
def user_create(
    username: str = typer.Argument(..., help="Identifiant de connexion (une adresse e-mail convient)."),
    tenant: str = typer.Option(..., "--tenant"),
    role: str = typer.Option(..., "--role", help="admin, agent ou public."),
    password: Optional[str] = typer.Option(None, "--password", help="Sinon demandé (ou lu sur l'entrée avec --password-stdin)."),
    password_stdin: bool = typer.Option(False, "--password-stdin"),
    oidc_subject: Optional[str] = typer.Option(None, "--oidc-subject", help="Identité OpenID Connect (« sub ») ou e-mail."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Créer un utilisateur d'une collectivité avec un rôle."""
    from territoria.trust import accounts

    _check(tenant, role)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif password is None and oidc_subject is None:
        password = _ask_password("Mot de passe")
    u = _run(lambda: accounts.create_user(username, tenant=tenant, role=role, password=password,
                                          oidc_subject=oidc_subject))
    if json_out:
        _out(u)
        return
    typer.echo(f"Utilisateur « {username} » créé : rôle {role}, collectivité « {tenant} ».")


@user_app.command("list")
def user_list(tenant: Optional[str] = typer.Option(None, "--tenant"), json_out: bool = typer.Option(False, "--json")) -> None:
    from territoria.trust import accounts

    rows = accounts.list_users(tenant)
    if json_out:
        _out(rows)
        return
    if not rows:
        typer.echo("Aucun utilisateur" + (f" pour « {tenant} »" if tenant else "")
                   + ". Créez-en un : territoria user create IDENTIFIANT --tenant T --role agent")
    for u in rows:
        typer.echo(f"{u['username']:<32} {u['tenant']:<20} {u['role']:<7} {'désactivé' if u['disabled'] else ''}")


@user_app.command("delete")
def user_delete(username: str = typer.Argument(...)) -> None:
    from territoria.trust import accounts

    _run(lambda: accounts.delete_user(username))
    typer.echo(f"Utilisateur « {username} » supprimé.")


@user_app.command("password")
def user_password(username: str = typer.Argument(...), password_stdin: bool = typer.Option(False, "--password-stdin")) -> None:
    """Changer le mot de passe d'un utilisateur."""
    from territoria.trust import accounts

    pw = sys.stdin.readline().rstrip("\n") if password_stdin else _ask_password("Nouveau mot de passe")
    _run(lambda: accounts.set_password(username, pw))
    typer.echo("Mot de passe changé.")


# -- API keys -----------------------------------------------------------------------------------------

@key_app.command("create")
def key_create(
    tenant: str = typer.Option(..., "--tenant"),
    role: str = typer.Option("agent", "--role", help="admin, agent ou public."),
    name: str = typer.Option("", "--name", help="À quoi sert la clé (ex. « site web de la mairie »)."),
    instance: bool = typer.Option(False, "--instance", help="Clé d'exploitation : peut viser toute collectivité."),
    rpm: Optional[int] = typer.Option(None, "--rpm", min=1, help="Requêtes par minute pour cette clé."),
    tokens_per_day: Optional[int] = typer.Option(None, "--tokens-per-day", min=0),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Créer une clé d'accès à l'API. Elle n'est affichée qu'une fois : conservez-la."""
    from territoria.trust import accounts

    _check(tenant, role)
    k = _run(lambda: accounts.create_key(tenant=tenant, role=role, name=name, instance=instance, rpm=rpm,
                                         tokens_per_day=tokens_per_day))
    if json_out:
        _out(k)
        return
    typer.echo(k["key"])
    _console().print(f"Clé {k['key_id']} (rôle {role}, collectivité « {tenant} »). Elle ne sera plus jamais "
                     f"affichée : seule son empreinte est conservée.")


@key_app.command("list")
def key_list(tenant: Optional[str] = typer.Option(None, "--tenant"), json_out: bool = typer.Option(False, "--json")) -> None:
    from territoria.trust import accounts

    rows = accounts.list_keys(tenant)
    if json_out:
        _out(rows)
        return
    if not rows:
        typer.echo("Aucune clé" + (f" pour « {tenant} »" if tenant else "")
                   + ". Créez-en une : territoria apikey create --tenant T --role public")
    for k in rows:
        state = f"révoquée le {k['revoked_at'][:10]}" if k["revoked_at"] else "active"
        typer.echo(f"{k['key_id']}  {k['tenant']:<20} {k['role']:<7} {state:<22} {k['name']}")


@key_app.command("revoke")
def key_revoke(key_id: str = typer.Argument(...)) -> None:
    from territoria.trust import accounts

    kid = _run(lambda: accounts.revoke_key(key_id))
    typer.echo(f"Clé {kid} révoquée : elle ne donne plus accès.")


# -- audit ---------------------------------------------------------------------------------------------

@audit_app.command("head")
def audit_head(json_out: bool = typer.Option(False, "--json")) -> None:
    """Afficher la tête du journal (numéro et empreinte de la dernière ligne, nombre de lignes, date de la
    dernière), à recopier chaque jour hors du serveur (ex. `territoria audit head --json >>
    /chemin/sur/un/autre/système/tetes.jsonl`) ; `audit verify --expect NUMÉRO:EMPREINTE` la vérifie ensuite."""
    from territoria.trust import audit

    h = audit.head()
    if json_out:
        typer.echo(json.dumps(h, ensure_ascii=False))
    elif h is None:
        typer.echo("Journal vide : aucune ligne enregistrée.")
    else:
        typer.echo(f"{h['seq']} {h['hash']}")  # stdout: the line to copy (what --expect/--expect-file read)
        when = f", la dernière écrite le {h['last_at'][:19].replace('T', ' à ')} (UTC)" if h["last_at"] else ""
        _console().print(f"Tête du journal : ligne n° {h['seq']} ; {h['rows']} ligne(s) conservée(s){when}. "
                         f"Recopiez la ligne ci-dessus hors du serveur (ticket, papier, autre serveur), puis "
                         f"vérifiez avec : territoria audit verify --expect {h['seq']}:{h['hash']}",
                         highlight=False, soft_wrap=True)


@audit_app.command("verify")
def audit_verify(
    json_out: bool = typer.Option(False, "--json"),
    expect: list[str] = typer.Option([], "--expect", help="Tête relevée auparavant, « NUMÉRO:EMPREINTE » (répétable)."),
    expect_file: Optional[Path] = typer.Option(None, "--expect-file",
                                               help="Fichier des têtes relevées (sortie de « audit head »)."),
) -> None:
    """Vérifier la chaîne du journal : toute ligne modifiée, supprimée ou déplacée est signalée ; avec
    --expect/--expect-file, une réécriture complète l'est aussi."""
    from territoria.trust import audit

    def expected():
        text = "\n".join(expect)
        if expect_file is not None:
            try:
                text += "\n" + expect_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise TerritoriaError(f"Impossible de lire {expect_file} : {os_reason(exc)}.")
        return audit.parse_expected(text)

    v = audit.verify(_run(expected, 2))  # unreadable heads or file: usage error (2), not "altered" (1)
    if json_out:
        _out(v.to_dict())
    else:
        if v.ok:
            typer.echo(f"Journal intègre : {v.rows} ligne(s)" + (f" ({v.first_seq} à {v.last_seq})" if v.rows else "")
                       + (f", empreinte de tête {v.head_hash}" if v.head_hash else "") + ".")
            if v.expected_checked or v.expected_unverifiable:
                typer.echo(f"{v.expected_checked} tête(s) relevée(s) retrouvée(s) à l'identique"
                           + (f" ; {v.expected_unverifiable} antérieure(s) à la dernière purge, non vérifiable(s)"
                              if v.expected_unverifiable else "") + ".")
        else:
            typer.echo(f"Journal ALTÉRÉ : {len(v.problems)} problème(s) sur {v.rows} ligne(s).")
            for p in v.problems:
                typer.echo(f"  - {p.message}")
    if not v.ok:
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    date_from: Optional[str] = typer.Option(None, "--from", help="AAAA-MM-JJ (inclus)."),
    date_to: Optional[str] = typer.Option(None, "--to", help="AAAA-MM-JJ (inclus)."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl ou csv."),
    tenant: Optional[str] = typer.Option(None, "--tenant", help="Une collectivité (défaut : toutes)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Fichier de sortie (défaut : sortie standard)."),
) -> None:
    """Exporter le journal d'audit (JSONL ou CSV)."""
    from territoria.trust import audit

    if fmt not in ("jsonl", "csv"):
        _fail(f"Format d'export inconnu : « {fmt} ». Choisissez jsonl ou csv.", 2)
    if tenant is not None:
        _check(tenant)
    _run(lambda: audit.period(date_from, date_to), 2)

    def run():
        it = audit.export(fmt, tenant=tenant, start=date_from, end=date_to)
        first = next(it, "")
        return first, it

    first, it = _run(run)
    try:
        fh = open(out, "w", encoding="utf-8", newline="") if out else sys.stdout
    except OSError as exc:
        _fail(f"Impossible d'écrire {out} : {os_reason(exc)}. Vérifiez le chemin et les droits du dossier.")
    n = 0
    try:
        for piece in [first, *it] if first else []:
            fh.write(piece)
            n += 1
    finally:
        if out:
            fh.close()
    if out:
        _console().print(f"{n - (1 if fmt == 'csv' else 0)} ligne(s) écrite(s) dans {out}.")


@audit_app.command("purge")
def audit_purge(
    before: Optional[str] = typer.Option(None, "--before", help="Supprimer avant cette date (AAAA-MM-JJ)."),
    days: Optional[int] = typer.Option(None, "--days", help="Conservation en jours (défaut : "
                                                            "TERRITORIA_AUDIT_RETENTION_DAYS, 365)."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Appliquer la durée de conservation : supprime les lignes anciennes et ancre la chaîne."""
    from territoria.trust import audit

    if before is not None or days is not None:
        _run(lambda: audit.purge_cutoff(before=before, days=days), 2)  # a bad --before/--days: usage error
    res = _run(lambda: audit.purge(before=before, days=days))
    if json_out:
        _out(res)
        return
    typer.echo(f"{res['purged']} ligne(s) supprimée(s) (antérieures au {res['cutoff'][:10]})"
               + (f", chaîne ancrée sur la ligne {res['through_seq']}" if res["through_seq"] else "") + ".")
