"""Web interface of Territoria: citizen chat, agent space, embeddable widget (see router.py).

`mount_ui(app)` adds the pages and their static assets (served by the app itself: no CDN) to the API app.
"""

from __future__ import annotations


def mount_ui(app) -> None:
    from fastapi.staticfiles import StaticFiles

    from territoria.web.ui.router import STATIC, STATIC_PREFIX, router

    from starlette.middleware.sessions import SessionMiddleware

    from territoria.web.ui import agent, auth
    from territoria.web.ui.common import install_error_pages

    app.include_router(router)
    install_error_pages(app)
    app.add_exception_handler(agent.SessionExpired, agent.session_expired)
    app.mount(STATIC_PREFIX, StaticFiles(directory=str(STATIC)), name="ui-static")
    # short-lived cookie holding the OpenID Connect state and nonce during a login round trip (oidc.py)
    app.add_middleware(SessionMiddleware, secret_key=auth.secret_key(), session_cookie="territoria_oidc",
                       max_age=600, same_site="lax", https_only=False)
    app.router.on_startup.append(_admin_account)


def _admin_account() -> None:
    """At server start: without TERRITORIA_ADMIN_PASSWORD, generate the agent space's password (and say where)."""
    import logging

    from territoria.web.ui import auth

    try:
        auth.admin()
    except OSError as exc:  # read-only data dir: the login page will say it again
        logging.getLogger("territoria.web.ui").warning("Espace agent : mot de passe non créé (%s).", exc)


__all__ = ["mount_ui"]
