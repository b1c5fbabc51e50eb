"""The aid model: one schema for every source, close to Aides-territoires'.

An `Aid` is a plain dataclass, stored as JSON. Structured eligibility lives in `conditions`, a list of
condition nodes (implicitly all required). A node is either a combinator or an atom:

    {"all": [node, …]}   {"any": [node, …]}   {"not": node}
    {"type": "territory", "level": "commune|postcode|epci|departement|region|national|europe", "codes": [...]}
    {"type": "age", "op": ">=|>|<=|<|=", "value": 18}
    {"type": "quotient_familial", "op": "<=", "value": 900, "period": "month|year"}
    {"type": "income_per_part", "op": "<=", "value": 14089, "period": "year|month"}   (revenu fiscal par part)
    {"type": "status", "values": ["etudiant", "apprenti", …]}                       (profile "statut")
    {"type": "fact", "fact": "handicap", "value": true, "label": "être en situation de handicap"}
    {"type": "employees", "op": ">=|<=", "value": 50}                                (profile "effectif")
    {"type": "naf_section", "values": ["A", "C", …]}                                 (profile "naf")
    {"type": "bike", "values": ["électrique", "cargo", …]}                           (profile "velo")
    {"type": "other", "text": "…", "question": "…"}                                    (always to check)

Atoms may carry a `label` (French, shown in reasons) and a `question` (French, asked when unknown).
Free-text conditions that cannot be structured go to `conditions_text` (shown as "à vérifier").
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime
from html import unescape
from typing import Any

# Targeted audiences (Aides-territoires' list, in French slugs).
AUDIENCES = {
    "particulier": "Particuliers",
    "entreprise": "Entreprises",
    "association": "Associations",
    "agriculteur": "Agriculteurs",
    "commune": "Communes",
    "epci": "Intercommunalités",
    "departement": "Départements",
    "region": "Régions",
    "etablissement_public": "Établissements publics",
    "bailleur_social": "Bailleurs sociaux",
    "recherche": "Recherche",
}

AUDIENCE_SYNONYMS = {
    "particulier": "particulier", "particuliers": "particulier", "jeune": "particulier", "jeunes": "particulier",
    "citoyen": "particulier", "habitant": "particulier", "personne": "particulier", "individu": "particulier",
    "private_person": "particulier", "famille": "particulier", "menage": "particulier", "etudiant": "particulier",
    "entreprise": "entreprise", "entreprises": "entreprise", "entreprises privees": "entreprise",
    "private_sector": "entreprise", "pme": "entreprise", "tpe": "entreprise", "eti": "entreprise",
    "societe": "entreprise", "commerce": "entreprise", "commercant": "entreprise", "artisan": "entreprise",
    "independant": "entreprise", "micro entreprise": "entreprise", "auto entrepreneur": "entreprise",
    "professionnel": "entreprise", "startup": "entreprise", "entreprises publiques locales": "entreprise",
    "public_cies": "entreprise",
    "association": "association", "associations": "association", "asso": "association", "fondation": "association",
    "agriculteur": "agriculteur", "agriculteurs": "agriculteur", "farmer": "agriculteur",
    "exploitant agricole": "agriculteur", "exploitation agricole": "agriculteur",
    "commune": "commune", "communes": "commune", "mairie": "commune", "collectivite": "commune",
    "collectivites": "commune", "municipalite": "commune",
    "epci": "epci", "intercommunalite": "epci", "intercommunalites": "epci", "epci a fiscalite propre": "epci",
    "intercommunalites pays": "epci", "communaute de communes": "epci", "unions": "epci",
    "departement": "departement", "departements": "departement", "department": "departement",
    "region": "region", "regions": "region",
    "etablissement public": "etablissement_public", "etablissements publics": "etablissement_public",
    "public_org": "etablissement_public", "administration": "etablissement_public",
    "etablissements publics ecoles bibliotheques services de l etat": "etablissement_public",
    "services de l etat": "etablissement_public",
    "bailleur social": "bailleur_social", "bailleurs sociaux": "bailleur_social", "lessor": "bailleur_social",
    "recherche": "recherche", "researcher": "recherche",
}

# Statuses of a person (profile key "statut"), with synonyms.
STATUSES = {
    "collegien": "collégien(ne)", "lyceen": "lycéen(ne)", "etudiant": "étudiant(e)", "apprenti": "apprenti(e)",
    "alternant": "en contrat de professionnalisation", "stagiaire": "en formation professionnelle / stage",
    "service_civique": "en service civique", "demandeur_emploi": "demandeur(se) d'emploi",
    "salarie": "salarié(e)", "independant": "indépendant(e)", "inactif": "sans activité",
    "retraite": "retraité(e)",
}
STATUS_SYNONYMS = {
    "collegien": "collegien", "collegienne": "collegien", "college": "collegien",
    "lyceen": "lyceen", "lyceenne": "lyceen", "lycee": "lyceen", "eleve": "lyceen",
    "etudiant": "etudiant", "etudiante": "etudiant", "enseignement_superieur": "etudiant", "etudiants": "etudiant",
    "apprenti": "apprenti", "apprentie": "apprenti", "apprentissage": "apprenti",
    "alternant": "alternant", "alternante": "alternant", "alternance": "alternant",
    "professionnalisation": "alternant", "contrat pro": "alternant",
    "stagiaire": "stagiaire", "formation": "stagiaire", "formation professionnelle": "stagiaire",
    "service_civique": "service_civique", "service civique": "service_civique", "volontaire": "service_civique",
    "chomeur": "demandeur_emploi", "chomeuse": "demandeur_emploi", "demandeur_emploi": "demandeur_emploi",
    "demandeur d emploi": "demandeur_emploi", "demandeuse d emploi": "demandeur_emploi",
    "sans emploi": "demandeur_emploi", "chomage": "demandeur_emploi", "en recherche d emploi": "demandeur_emploi",
    "salarie": "salarie", "salariee": "salarie", "employe": "salarie", "employee": "salarie", "cdi": "salarie",
    "cdd": "salarie", "interimaire": "salarie",
    "independant": "independant", "independante": "independant", "auto entrepreneur": "independant",
    "micro entrepreneur": "independant",
    "inactif": "inactif", "inactive": "inactif",
    "retraite": "retraite", "retraitee": "retraite",
}

# Boolean facts about a person that aids ask about (profile key → French label of the condition).
FACTS = {
    "handicap": "être en situation de handicap",
    "rsa": "être bénéficiaire du RSA",
    "parent": "avoir des enfants à charge",
    "boursier": "être boursier(e)",
    "difficultes_logement": "avoir des difficultés pour accéder au logement ou payer ses frais de logement",
    "interim": "travailler en intérim (agence de travail temporaire)",
    "sanitaire_social": "suivre une formation sanitaire ou sociale",
    "sans_domicile": "être sans domicile",
    "microentreprise": "être une micro-entreprise",
}

AID_TYPES = {
    "subvention": "Subvention", "pret": "Prêt", "avance_remboursable": "Avance récupérable",
    "avantage_fiscal": "Avantage fiscal", "aide_financiere": "Autre aide financière",
    "reduction": "Réduction ou gratuité", "accompagnement": "Accompagnement / ingénierie",
    "etude": "Étude / diagnostic", "formation": "Formation", "cee": "Certificat d'économie d'énergie (CEE)",
}

PERIODICITY_FR = {"ponctuelle": "ponctuelle", "mensuelle": "par mois", "annuelle": "par an", "autre": None,
                  "permanente": "permanente", "recurrente": "récurrente"}


def norm_key(text: str) -> str:
    from territoria.search.text import fold_accents

    t = fold_accents(str(text)).lower()
    t = re.sub(r"[^a-z0-9_]+", " ", t)
    return " ".join(t.split())


def norm_audience(value: str) -> str | None:
    k = norm_key(value)
    if k in AUDIENCE_SYNONYMS:
        return AUDIENCE_SYNONYMS[k]
    k2 = k.replace(" ", "_")
    if k2 in AUDIENCES:
        return k2
    for syn, aud in AUDIENCE_SYNONYMS.items():  # "Entreprises privées (TPE, PME…)" etc.
        if len(syn) > 3 and k.startswith(syn):
            return aud
    return None


def norm_status(value: str) -> str | None:
    k = norm_key(value)
    return STATUS_SYNONYMS.get(k) or STATUS_SYNONYMS.get(k.replace("_", " ")) or (
        k.replace(" ", "_") if k.replace(" ", "_") in STATUSES else None)


@dataclass
class Aid:
    id: str  # "<source>/<source id>"
    source: str
    source_id: str
    name: str
    description: str = ""
    financers: list[str] = field(default_factory=list)
    institution: str | None = None  # who runs it (first financer / operator)
    institution_kind: str | None = None  # national, region, departement, epci, commune, caf, msa, autre…
    perimeter: dict = field(default_factory=lambda: {"level": "unknown", "codes": [], "name": ""})
    audiences: list[str] = field(default_factory=list)
    aid_types: list[str] = field(default_factory=list)
    themes: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    conditions: list[dict] = field(default_factory=list)
    conditions_text: list[str] = field(default_factory=list)
    amount: dict = field(default_factory=dict)  # {"text", "max", "min", "unit", "rate_max"}
    periodicity: str | None = None
    start_date: str | None = None  # ISO YYYY-MM-DD
    end_date: str | None = None
    url: str | None = None
    apply_url: str | None = None
    how_to_apply: str | None = None
    contact: str | None = None
    attribution: str | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Aid":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def content_hash(self) -> str:
        payload = json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def is_expired(self, today: date) -> bool:
        d = parse_date(self.end_date)
        return d is not None and d < today

    def not_started(self, today: date) -> bool:
        d = parse_date(self.start_date)
        return d is not None and d > today


# -- small helpers shared by importers ----------------------------------------------------------------

_TAG = re.compile(r"<[^>]+>")
_WS = re.compile(r"[ \t\r\f\v]+")


def clean_text(text: Any) -> str:
    """Plain text from HTML-ish or Markdown-ish source text."""
    if text is None:
        return ""
    if isinstance(text, list):
        return "\n".join(clean_text(t) for t in text if t)
    s = str(text)
    s = re.sub(r"<br\s*/?>|</p>|</li>|</h\d>", "\n", s, flags=re.I)
    s = re.sub(r"<li[^>]*>", "\n- ", s, flags=re.I)
    s = _TAG.sub("", s)
    s = unescape(s).replace("\xa0", " ")
    s = re.sub(r"\[([^\]]+)\]\((https?://[^)]+)\)", r"\1", s)  # markdown links
    s = re.sub(r"\*\*([^*]+)\*\*", r"\1", s)
    lines = [_WS.sub(" ", ln).strip() for ln in s.split("\n")]
    out, blank = [], False
    for ln in lines:
        if not ln:
            if out and not blank:
                out.append("")
            blank = True
            continue
        out.append(ln)
        blank = False
    return "\n".join(out).strip()


def parse_date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    s = str(value).strip()
    m = re.match(r"(\d{4})-(\d{1,2})-(\d{1,2})", s)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
    for fmt in ("%d/%m/%Y", "%d/%m/%y", "%Y/%m/%d", "%d-%m-%Y", "%d.%m.%Y", "%Y%m%d"):
        try:
            return datetime.strptime(s, fmt).date()
        except ValueError:
            continue
    return None


def iso_date(value: Any) -> str | None:
    d = parse_date(value)
    return d.isoformat() if d else None


def format_date_fr(value: Any) -> str | None:
    d = parse_date(value)
    if d is None:
        return None
    from territoria.core.dates import MONTHS_FR

    return f"{d.day} {MONTHS_FR[d.month - 1]} {d.year}"


def format_euros(x: float) -> str:
    if x is None:
        return ""
    if abs(x - round(x)) < 1e-9:
        s = f"{int(round(x)):,}".replace(",", " ")
    else:
        s = f"{x:,.2f}".replace(",", " ").replace(".", ",")
    return f"{s} €"
