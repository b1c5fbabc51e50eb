"""Aid finder API: `POST /api/aids/find`, `POST /api/aids/questions`, `GET /api/aids/{id}`.

Public routes (citizens use them), like the citizen chat: they read the tenant's aid catalogue only.
"""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Header
from pydantic import BaseModel, Field

router = APIRouter(prefix="/api/aids", tags=["aides"])


class FindRequest(BaseModel):
    profile: dict = Field(default_factory=dict, description='ex. {"commune": "70454", "age": 27, '
                                                            '"audience": "particulier", "statut": "etudiant"}')
    need: Optional[str] = Field(None, description="Le besoin, en français courant")
    k: int = Field(10, ge=1, le=50)
    include_ineligible: bool = False
    tenant: Optional[str] = None


def _tenant(header: Optional[str], body: Optional[str]) -> str:
    from territoria.web.app import _tenant as resolve

    return resolve(header, body)


@router.post("/find", summary="Trouver les aides d'un demandeur (éligibilité, montant, échéance, raisons)")
def find(req: FindRequest, x_territoria_tenant: Optional[str] = Header(None)):
    from territoria.aids.finder import find_with_context

    return find_with_context(req.profile, req.need, k=req.k, include_ineligible=req.include_ineligible,
                             tenant=_tenant(x_territoria_tenant, req.tenant))


@router.post("/questions", summary="Questions à poser au demandeur avant de répondre (commune, âge…)")
def questions(req: FindRequest, x_territoria_tenant: Optional[str] = Header(None)):
    from territoria.aids.finder import missing_profile_questions

    return {"questions": missing_profile_questions(req.profile, req.need,
                                                   tenant=_tenant(x_territoria_tenant, req.tenant))}
