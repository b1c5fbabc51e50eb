"""Pages of the web interface (server-rendered Jinja2, small vanilla JS, no build step, no CDN).

Routes live in public.py (citizen side) and agent.py (agent space), helpers in common.py; this module
joins them into the one router that `mount_ui` adds to the app.

Citizen side (public):
- `GET  /`                      chat: streamed answer, numbered citations, « je ne sais pas » state, feedback
- `GET  /aides`                 the aid finder (a plain form, results rendered by the server)
- `GET  /informations`          how the assistant works and what is done with messages (AI Act art. 50, RGPD)
- `GET  /accessibilite`         accessibility statement
- `GET  /sources?doc=…`         a cited document (link to its original, uploaded file to download)
- `GET  /widget.js?tenant=…`    the embeddable widget (one <script> tag), `GET /widget/panneau` its chat,
                                `GET /widget/demo` a demo commune page
- `POST /ui/api/ask`            the chat's Server-Sent Events (those of /api/ask + `answer_id`); answers are
                                recorded in the answer log (trust/answer_log.py)
- `POST /ui/api/feedback`       useful / not useful, comment, stored with the answer

Agent space (login, see auth.py): `/espace-agent/documents` (upload with progress, list, filter, delete,
failures), `/espace-agent/recherche` (search with scores), `/espace-agent/reponses` (answers and feedback),
`/espace-agent/journal` (audit log, verification, export), `/espace-agent/comptes` (users and API keys),
`/espace-agent/personnalisation` (per-tenant page settings and the widget snippet).

The tenant of public pages is the `tenant` query parameter (else the configured default); the chat sends
it as `X-Territoria-Tenant`. The agent space works on the tenant chosen in its header (kept in the session).
"""

from __future__ import annotations

from fastapi import APIRouter

from territoria.web.ui import agent, public
from territoria.web.ui.common import STATIC, STATIC_PREFIX

router = APIRouter(include_in_schema=False)
router.include_router(public.router)
router.include_router(agent.router)

__all__ = ["router", "STATIC", "STATIC_PREFIX"]
