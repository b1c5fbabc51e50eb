"""Optional OpenID Connect login of the agent space (e.g. ProConnect for State and local-government agents).

Configured by TERRITORIA_OIDC_ISSUER (the issuer URL; its /.well-known/openid-configuration is read),
TERRITORIA_OIDC_CLIENT_ID, TERRITORIA_OIDC_CLIENT_SECRET, and TERRITORIA_OIDC_LABEL (button text, default
« ProConnect »). The authorization-code flow (state, nonce, ID-token signature and claims checked) is done by
Authlib's Starlette client. A signed-in identity is mapped to a Territoria user whose `oidc_subject` is the
token's `sub` or its e-mail (`territoria user create agent@commune.fr --tenant T --role agent
--oidc-subject agent@commune.fr`): nobody gets in without an account created by an administrator.
"""

from __future__ import annotations

import os
from functools import lru_cache


def configured() -> bool:
    return bool(os.environ.get("TERRITORIA_OIDC_ISSUER") and os.environ.get("TERRITORIA_OIDC_CLIENT_ID"))


def label() -> str:
    return os.environ.get("TERRITORIA_OIDC_LABEL", "ProConnect")


@lru_cache(maxsize=4)
def _client(issuer: str, client_id: str, secret: str):
    from authlib.integrations.starlette_client import OAuth

    oauth = OAuth()
    oauth.register("territoria", client_id=client_id, client_secret=secret or None,
                   server_metadata_url=issuer.rstrip("/") + "/.well-known/openid-configuration",
                   client_kwargs={"scope": "openid email profile"})
    return oauth.territoria


def client():
    return _client(os.environ["TERRITORIA_OIDC_ISSUER"], os.environ["TERRITORIA_OIDC_CLIENT_ID"],
                   os.environ.get("TERRITORIA_OIDC_CLIENT_SECRET", ""))


def user_for(claims: dict) -> dict | None:
    """The Territoria user (agent or admin) bound to this identity, if an administrator created one."""
    from territoria.store import get_trust_store

    ts = get_trust_store()
    for ident in (claims.get("sub"), claims.get("email")):
        if ident:
            u = ts.user_by_subject(str(ident))
            if u is not None and not u["disabled"] and u["role"] in ("agent", "admin"):
                return u
    return None
