"""Aid finder API: `POST /api/aids/find`, `POST /api/aids/questions`, `GET /api/aids/{id}`.

Any key of the tenant (role public and up: a commune's website uses a public key); they read the tenant's
aid catalogue only. Each result list is written to the audit log.
"""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends

from territoria.trust.principal import Principal
from territoria.web.security import for_body_tenant, require
from pydantic import BaseModel, Field

router = APIRouter(prefix="/api/aids", tags=["aides"])


def _invalid_profile(profile: dict):
    """None when the profile's values are plausible; else the 422 answer naming the field, in French."""
    from fastapi.responses import JSONResponse

    from territoria.aids.profile import ProfileError, normalize_profile
    from territoria.web.app import _error_body

    try:
        normalize_profile(profile)
    except ProfileError as exc:
        body = _error_body(exc.message, "invalid_profile", exc.hint)
        body["error"]["field"] = f"profile.{exc.field}" if exc.field != "profile" else "profile"
        return JSONResponse(body, status_code=422)
    return None


class FindRequest(BaseModel):
    profile: dict = Field(default_factory=dict, description='ex. {"commune": "70454", "age": 27, '
                                                            '"audience": "particulier", "statut": "etudiant"}')
    need: Optional[str] = Field(None, description="Le besoin, en français courant")
    k: int = Field(10, ge=1, le=50)
    include_ineligible: bool = False
    tenant: Optional[str] = None


@router.post("/find", summary="Trouver les aides d'un demandeur (éligibilité, montant, échéance, raisons)")
def find(req: FindRequest, p: Principal = Depends(require("public"))):
    import time

    from territoria.aids.audit import audit_aids
    from territoria.aids.finder import find_with_context

    p = for_body_tenant(p, req.tenant)
    bad = _invalid_profile(req.profile)
    if bad is not None:
        return bad
    t0 = time.perf_counter()
    out = find_with_context(req.profile, req.need, k=req.k, include_ineligible=req.include_ineligible,
                            tenant=p.tenant)
    audit_aids(out, p.tenant, req.profile, req.need, (time.perf_counter() - t0) * 1000, actor=p.actor)
    return out


@router.post("/questions", summary="Questions à poser au demandeur avant de répondre (commune, âge…)")
def questions(req: FindRequest, p: Principal = Depends(require("public"))):
    from territoria.aids.finder import missing_profile_questions

    p = for_body_tenant(p, req.tenant)
    bad = _invalid_profile(req.profile)
    if bad is not None:
        return bad
    return {"questions": missing_profile_questions(req.profile, req.need, tenant=p.tenant)}


@router.get("/{aid_id:path}", summary="Une aide du catalogue (conditions, montant, échéance, où déposer)")
def get_aid(aid_id: str, p: Principal = Depends(require("public"))):
    from territoria.aids.finder import empty_catalogue_error
    from territoria.aids.store import AidStore
    from territoria.core.errors import NotFoundError

    if not AidStore.exists(tenant=p.tenant):
        raise empty_catalogue_error()
    st = AidStore.open(tenant=p.tenant)
    try:
        a = st.get(aid_id)
    finally:
        st.close()
    if a is None:
        raise NotFoundError(f"Aucune aide « {aid_id} » dans le catalogue.",
                            hint="Les identifiants sont de la forme <source>/<id>, tels que renvoyés par "
                                 "POST /api/aids/find.")
    return a.to_dict()
