"""Registry of tenants (collectivities) and the commons corpora attached to them.

A tenant is created with `territoria tenant create NAME`; a commons (e.g. the national Service-Public
fiches) is a tenant of kind "commons", ingested once, that other tenants read without copying it
(`territoria tenant attach NAME --commons sp`). Deleting a tenant deletes its documents, users and keys;
its audit rows stay (the log is kept for its retention period and stays verifiable).
"""

from __future__ import annotations

from territoria.core.errors import NotFoundError, TerritoriaError
from territoria.core.settings import get_settings, is_tenant_name, tenant_dirname

KINDS = ("local", "commons")


def check_name(tenant: str) -> str:
    if not is_tenant_name(tenant):
        raise TerritoriaError(f"Nom de collectivité (tenant) invalide : « {tenant} ».",
                              hint="Utilisez 1 à 64 lettres, chiffres, tirets, points ou soulignés, en commençant par une lettre ou un chiffre.")
    return tenant


def _store():
    from territoria.store import get_store

    return get_store()


def create(tenant: str, *, name: str = "", kind: str = "local", commons: list[str] | None = None) -> dict:
    check_name(tenant)
    if kind not in KINDS:
        raise TerritoriaError(f"Type de collectivité inconnu : « {kind} ».", hint="local ou commons.")
    s = _store()
    for c in commons or []:  # checked before anything is written: a typo leaves no half-created tenant
        _check_commons(tenant, c)
    s.create_tenant(tenant, name=name, kind=kind)
    for c in commons or []:
        attach(tenant, c)
    return s.tenant_info(tenant)


def ensure(tenant: str) -> bool:
    """Create the tenant if it does not exist yet (ingestion into a new name). True when created."""
    check_name(tenant)
    s = _store()
    if s.tenant_info(tenant) is not None:
        return False
    return s.create_tenant(tenant)


def exists(tenant: str) -> bool:
    return _store().tenant_info(tenant) is not None


def addressable(tenant: str) -> bool:
    """Whether a request may name `tenant`: registered, the default tenant of a single-tenant install, or holding
    documents ingested before the registry existed. False for a misspelt name."""
    s = _store()
    return s.tenant_info(tenant) is not None or tenant == get_settings().tenant or s.count_documents(tenant) > 0


def get(tenant: str) -> dict:
    check_name(tenant)  # else the hint below would suggest a `tenant create` that cannot work
    s = _store()
    info = s.tenant_info(tenant)
    if info is None and tenant == get_settings().tenant:  # the default tenant of a single-tenant install
        s.create_tenant(tenant)
        info = s.tenant_info(tenant)
    if info is None:
        raise NotFoundError(f"Collectivité « {tenant} » inconnue.",
                            hint=f"Créez-la avec : territoria tenant create {tenant}")
    return info


def list_all() -> list[dict]:
    s = _store()
    default = get_settings().tenant
    if s.count_documents(default):
        get(default)  # registers the default tenant of data ingested before the registry existed
    return s.list_tenants()


def _check_commons(tenant: str, commons: str) -> None:
    """Raise unless `commons` is an existing commons corpus that `tenant` may attach."""
    if commons == tenant:
        raise TerritoriaError("Une collectivité ne peut pas se rattacher à elle-même.")
    if get(commons)["kind"] != "commons":
        raise TerritoriaError(f"« {commons} » n'est pas un corpus commun.",
                              hint=f"Créez-le avec : territoria tenant create {commons} --commons")


def attach(tenant: str, commons: str, attach: bool = True) -> dict:
    info = get(tenant)
    if attach:
        _check_commons(tenant, commons)
    else:
        get(commons)
    _store().attach_commons(info["tenant"], commons, attach)
    return get(tenant)


def delete(tenant: str) -> dict:
    from territoria.store import get_trust_store
    from territoria.trust import answer_log

    get(tenant)
    n = _store().drop_tenant(tenant)
    ts = get_trust_store()
    users, keys = ts.delete_tenant_accounts(tenant)
    answers = answer_log.delete_tenant(tenant)  # citizens' questions and their feedback
    # personal data kept in files: conversations (questions of citizens) and uploaded originals
    import shutil

    root = get_settings().data_dir
    safe = tenant_dirname(tenant)
    removed = 0
    for d in (root / "conversations" / safe, root / "uploads" / safe):
        if d.is_dir():
            removed += sum(1 for _ in d.rglob("*") if _.is_file())
            shutil.rmtree(d, ignore_errors=True)
    # the search index cached on disk holds the documents' words, titles and vectors
    shutil.rmtree(get_settings().cache_dir / f"index-{safe}", ignore_errors=True)
    return {"tenant": tenant, "documents": n, "users": users, "api_keys": keys, "answers": answers, "files": removed}
