"""Applicant profiles: normalise the keys people and programs use, and read facts from free French text.

Profile keys (all optional): commune (INSEE code, postcode or name), code_postal, departement, region,
age, audience (particulier, entreprise, association, agriculteur, commune, epci…), statut (etudiant,
lyceen, apprenti, demandeur_emploi, salarie…), handicap, rsa, parent, boursier (booleans),
quotient_familial (€/mois), revenu_fiscal_par_part (€/an) or revenu_fiscal_reference + parts,
effectif (employees), naf (section letter or NAF code) or secteur (words), microentreprise (bool),
velo (kind of bike: "électrique", "cargo", "occasion"…).

Facts read from the need text ("j'ai 19 ans, je suis apprenti") are *inferred*: they fill gaps in the
profile but never override it, and a condition failed only on an inferred fact is "to check", not
"ineligible" (free text is too ambiguous to refuse an aid on it).
"""

from __future__ import annotations

import re
from typing import Any

from territoria.aids.model import norm_audience, norm_key, norm_status
from territoria.search.text import fold_accents

KEY_SYNONYMS = {
    "commune": "commune", "code_insee": "commune", "insee": "commune", "ville": "commune", "city": "commune",
    "localite": "commune", "lieu": "commune",
    "code_postal": "code_postal", "cp": "code_postal", "postcode": "code_postal", "codepostal": "code_postal",
    "departement": "departement", "dep": "departement", "dept": "departement",
    "region": "region",
    "age": "age",
    "audience": "audience", "public": "audience", "type": "audience", "demandeur": "audience",
    "profil": "audience", "beneficiaire": "audience",
    "statut": "statut", "situation": "statut", "status": "statut", "activite_personne": "statut",
    "handicap": "handicap", "situation_handicap": "handicap",
    "rsa": "rsa", "beneficiaire_rsa": "rsa",
    "parent": "parent", "enfants": "parent", "enfant": "parent",
    "boursier": "boursier", "boursiere": "boursier",
    "quotient_familial": "quotient_familial", "qf": "quotient_familial",
    "revenu_fiscal_par_part": "revenu_fiscal_par_part", "rfr_par_part": "revenu_fiscal_par_part",
    "revenu_par_part": "revenu_fiscal_par_part",
    "revenu_fiscal_reference": "revenu_fiscal_reference", "rfr": "revenu_fiscal_reference",
    "revenu_fiscal": "revenu_fiscal_reference",
    "parts": "parts", "nombre_de_parts": "parts", "nb_parts": "parts",
    "effectif": "effectif", "salaries": "effectif", "nb_salaries": "effectif", "employees": "effectif",
    "nombre_salaries": "effectif",
    "naf": "naf", "code_naf": "naf", "ape": "naf", "code_ape": "naf",
    "secteur": "secteur", "activite": "secteur", "secteur_activite": "secteur",
    "microentreprise": "microentreprise", "micro_entreprise": "microentreprise",
    "auto_entrepreneur": "microentreprise", "microentrepreneur": "microentreprise",
    "velo": "velo", "type_velo": "velo", "bike": "velo",
    "imposable": "imposable",
    "difficultes_logement": "difficultes_logement", "sanitaire_social": "sanitaire_social",
    "interim": "interim", "sans_domicile": "sans_domicile",
}
BOOL_KEYS = {"handicap", "rsa", "parent", "boursier", "microentreprise", "imposable", "difficultes_logement",
             "sanitaire_social", "interim", "sans_domicile"}
NUM_KEYS = {"age", "quotient_familial", "revenu_fiscal_par_part", "revenu_fiscal_reference", "parts", "effectif"}

# NAF division (2 digits) → section letter.
_NAF_RANGES = [((1, 3), "A"), ((5, 9), "B"), ((10, 33), "C"), ((35, 35), "D"), ((36, 39), "E"), ((41, 43), "F"),
               ((45, 47), "G"), ((49, 53), "H"), ((55, 56), "I"), ((58, 63), "J"), ((64, 66), "K"), ((68, 68), "L"),
               ((69, 75), "M"), ((77, 82), "N"), ((84, 84), "O"), ((85, 85), "P"), ((86, 88), "Q"),
               ((90, 93), "R"), ((94, 96), "S"), ((97, 98), "T"), ((99, 99), "U")]

# Everyday words for a business sector → NAF section.
SECTOR_WORDS = [
    (r"agricult|ferme|eleveur|elevage|maraich|viticult|vigne|exploitation agricole|sylvicult|peche", "A"),
    (r"restaura|restaurant|bistrot|brasserie|cafe|bar\b|hotel|hebergement|gite|camping|traiteur", "I"),
    (r"boulanger|patisser|boucher|charcut|fromager|brasseur|conserver|usine|industri|fabricat|manufactur"
     r"|atelier de production|menuiserie industrielle|imprimerie", "C"),
    (r"batiment|btp|maconn|charpent|couvreur|plomb|electricien|chauffagiste|construction|travaux publics"
     r"|menuisier|peintre en batiment", "F"),
    (r"commerce|boutique|magasin|epicerie|supermarche|vente|caviste|fleuriste|librairie|garage|concession", "G"),
    (r"transport|logistique|taxi|livraison|demenag|entrepos", "H"),
    (r"informatique|logiciel|numerique|developpeur|web|editeur|communication|media", "J"),
    (r"banque|assurance|financ", "K"),
    (r"immobili|agence immobiliere|bailleur", "L"),
    (r"conseil|bureau d etude|architecte|ingenierie|expert comptable|avocat|design|publicite", "M"),
    (r"nettoyage|proprete|securite|location de materiel|interim|espaces verts", "N"),
    (r"ecole|formation|enseignement|auto ecole|creche", "P"),
    (r"sante|medical|cabinet|infirmi|kine|pharmac|ehpad|aide a domicile|action sociale|social", "Q"),
    (r"culture|spectacle|theatre|musee|cinema|sport|salle de sport|loisir|club|festival|artiste", "R"),
    (r"coiffe|esthetique|pressing|cordonn|reparation|association", "S"),
    (r"eau|dechet|recyclage|assainissement|depollution", "E"),
]


def naf_section(value: Any) -> str | None:
    if value in (None, ""):
        return None
    s = str(value).strip().upper()
    if len(s) == 1 and "A" <= s <= "U":
        return s
    m = re.match(r"^(\d{2})", s.replace(".", ""))
    if m:
        d = int(m.group(1))
        for (lo, hi), sec in _NAF_RANGES:
            if lo <= d <= hi:
                return sec
    return None


def sector_section(text: Any) -> str | None:
    if not text:
        return None
    t = norm_key(text)
    for pat, sec in SECTOR_WORDS:
        if re.search(pat, t):
            return sec
    return None


def _to_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if v is None:
        return None
    s = norm_key(v)
    if s in ("oui", "yes", "true", "vrai", "1", "o", "y"):
        return True
    if s in ("non", "no", "false", "faux", "0", "n"):
        return False
    return None


def _to_num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if v is None:
        return None
    s = str(v).replace("\u202f", "").replace(" ", "").replace("€", "").replace(",", ".")
    m = re.search(r"-?\d+(?:\.\d+)?", s)
    return float(m.group(0)) if m else None


def normalize_profile(profile: dict | None) -> dict:
    """Canonical keys and value types. Unknown keys are kept as they are."""
    out: dict = {}
    for k, v in (profile or {}).items():
        if v is None or v == "":
            continue
        key = KEY_SYNONYMS.get(norm_key(k).replace(" ", "_"), k)
        if key in BOOL_KEYS:
            b = _to_bool(v)
            if b is not None:
                out[key] = b
        elif key in NUM_KEYS:
            n = _to_num(v)
            if n is not None:
                out[key] = int(n) if key in ("age", "effectif", "parts") and n == int(n) else n
        elif key == "audience":
            # An unrecognised value (a typo such as "entrepise") would fail every aid's audience condition
            # and hide them all: leave the fact unknown, so that the question is asked instead.
            a = norm_audience(str(v))
            if a:
                out[key] = a
        elif key == "statut":
            s = norm_status(str(v))
            if s:
                out[key] = s
        elif key == "commune":
            out[key] = str(v).strip()
        else:
            out[key] = v
    if "naf" in out:
        sec = naf_section(out["naf"])
        if sec:
            out["naf_section"] = sec
    if "naf_section" not in out and out.get("secteur"):
        sec = naf_section(out["secteur"]) or sector_section(out["secteur"])
        if sec:
            out["naf_section"] = sec
    if "revenu_fiscal_par_part" not in out and "revenu_fiscal_reference" in out:
        parts = out.get("parts") or 1
        out["revenu_fiscal_par_part"] = float(out["revenu_fiscal_reference"]) / float(parts or 1)
    if out.get("audience") == "particulier" and out.get("statut") == "independant":
        pass
    return out


# -- facts read from free text ---------------------------------------------------------------------------

_STATUS_PATTERNS = [
    (r"\b(je suis|j ai le statut d|en tant qu|comme)\s*(etudiante?|a la fac|en licence|en master|en bts|en but)\b",
     "etudiant"),
    (r"\b(etudiante?s?|a la fac|a l universite|en licence|en master|en bts|en but|en prepa)\b", "etudiant"),
    (r"\b(lyceen(ne)?|au lycee|en terminale|en premiere|en seconde|bac pro)\b", "lyceen"),
    (r"\b(collegien(ne)?|au college|en troisieme|en 3e)\b", "collegien"),
    (r"\b(apprentie?|en apprentissage|contrat d apprentissage|cfa)\b", "apprenti"),
    (r"\b(alternante?|en alternance|contrat de professionnalisation|contrat pro)\b", "alternant"),
    (r"\b(service civique|volontaire en service)\b", "service_civique"),
    (r"\b(au chomage|chomeuse?|demandeu(r|se) d emploi|sans emploi|inscrite? a france travail"
     r"|inscrite? a pole emploi|je cherche (un|du) (travail|emploi|boulot)|en recherche d emploi)\b",
     "demandeur_emploi"),
    (r"\b(je suis salariee?|en cdi|en cdd|je travaille (comme|dans|chez|en))\b", "salarie"),
    (r"\b(retraitee?|a la retraite)\b", "retraite"),
]
_AUDIENCE_PATTERNS = [
    (r"\b(notre|mon|ma|une|l) (association|asso|club associatif)\b|\bassociation (loi 1901|sportive|culturelle)\b",
     "association"),
    (r"\b(ma|notre|la) (commune|mairie|municipalite|collectivite)\b|\bmaire de\b|\bconseil municipal\b", "commune"),
    (r"\b(mon|notre|ma) (entreprise|societe|pme|tpe|startup|start up|boite|commerce|boutique|magasin|restaurant"
     r"|hotel|usine|atelier|garage|cabinet|boulangerie|exploitation|entreprise artisanale|sarl|sas|eurl)\b"
     r"|\bje suis (artisan|commercante?|chef d entreprise|gerante?|dirigeante?|auto entrepreneur|micro entrepreneur)\b"
     r"|\bnos salaries\b|\bmes salaries\b|\bmes employes\b", "entreprise"),
    (r"\b(mon|notre) exploitation agricole\b|\bje suis (agricult|eleveu|maraich|viticult)", "agriculteur"),
]
_BIKE_WORDS = {
    "électrique": r"\b(electrique|vae|assistance electrique|assistance au pedalage|velo a assistance|e bike|ebike)\b",
    "cargo": r"\b(cargo|biporteur|triporteur|longtail|rallonge)\b",
    "pliant": r"\b(pliant|pliable)\b",
    "adapté": r"\b(adapte|tricycle|handbike|velo couche)\b",
    "mécanique": r"\b(mecanique|classique|sans assistance|musculaire)\b",
    "motorisation": r"\b(kit (de )?motorisation|kit electrique|transformer mon velo)\b",
    "occasion": r"\b(occasion|reconditionne|seconde main)\b",
    "neuf": r"\b(neuf|neuve)\b",
}


def extract_facts(text: str | None, geo=None) -> dict:
    """Profile facts stated in free text (French). Conservative: only clear statements."""
    if not text:
        return {}
    t = " " + norm_key(fold_accents(text).replace("'", " ").replace("’", " ")) + " "
    facts: dict = {}
    m = re.search(r"\b(j ai|je vais avoir|j aurai|age de|agee? de|moi|je fete mes)\s+(\d{1,2})\s*ans\b", t)
    if m:
        facts["age"] = int(m.group(2))
    for pat, st in _STATUS_PATTERNS:
        if re.search(pat, t):
            facts["statut"] = st
            break
    for pat, aud in _AUDIENCE_PATTERNS:
        if re.search(pat, t):
            facts["audience"] = aud
            break
    m = re.search(r"\b(\d{1,5})\s*(salaries|employes|personnes employees|collaborateurs|agents)\b", t)
    if m:
        facts["effectif"] = int(m.group(1))
    elif re.search(r"\b(seule?|tout seul|sans salarie|aucun salarie)\b", t) and facts.get("audience") == "entreprise":
        facts["effectif"] = 0
    if re.search(r"\b(micro entrepreneur|auto entrepreneur|micro entreprise)\b", t):
        facts["microentreprise"] = True
    if re.search(r"\b(handicap|handicapee?|mdph|rqth)\b", t):
        facts["handicap"] = True
    if re.search(r"\b(boursiere?|bourse sur criteres sociaux)\b", t) and "bourse au permis" not in t:
        facts["boursier"] = True
    if re.search(r"\b(galere|mal|difficultes?|peine|peux pas|arrive pas|n arrive pas|trop cher|impaye|retard)\b"
                 r"[^.]{0,40}\b(loyer|logement|appart|caution|depot de garantie|se loger)", t) or \
            re.search(r"\b(loyers? en retard|impayes? de loyer|expulsion|sans logement|a la rue)\b", t):
        facts["difficultes_logement"] = True
    if re.search(r"\b(rsa)\b", t):
        facts["rsa"] = True
    if re.search(r"\bvelo|bicyclette|\bvae\b|cycle", t):
        kinds = [k for k, pat in _BIKE_WORDS.items() if re.search(pat, t)]
        if kinds:
            facts["velo"] = " ".join(kinds)
    sec = sector_section(t) if facts.get("audience") in ("entreprise", "agriculteur") else None
    if sec:
        facts["naf_section"] = sec
    m = re.search(r"\b(\d{5})\b", t)
    if m:
        facts["code_postal"] = m.group(1)
    if geo is not None and "code_postal" not in facts:
        m = re.search(r"(?:j'habite|j’habite|je vis|je réside|je suis|habitant|habite|installée?s?|situé[e]?s?|basée?s?)"
                      r"\s+(?:à|a|au|sur|en)\s+([A-ZÉÈÎ][\w'’\-]+(?:[\s-](?:[Ss]ur|[Ll]e|[Ll]a|[Ll]es|[Ee]n|de|du|des|"
                      r"[A-ZÉÈ][\w'’\-]+))*)", text)
        if m:
            res = geo.resolve(m.group(1))
            if res.status == "ok":
                facts["commune"] = res.commune.code
    return facts


def applicant_words(text: str | None) -> list[str]:
    """Words of a need that describe the applicant rather than the need ("je suis étudiante", "au lycée",
    "j'ai 19 ans", "notre association"): the finder gives them less weight as search terms."""
    if not text:
        return []
    t = " " + norm_key(fold_accents(text).replace("'", " ").replace("’", " ")) + " "
    out: list[str] = []
    for pat, _ in _STATUS_PATTERNS + _AUDIENCE_PATTERNS:
        for m in re.finditer(pat, t):
            out.append(m.group(0))
    for m in re.finditer(r"\b(j ai|je vais avoir|age de|agee? de)\s+\d{1,2}\s*ans\b"
                         r"|\b\d{1,5}\s*(salaries|employes|collaborateurs|agents)\b", t):
        out.append(m.group(0))
    return out


def merge_inferred(profile: dict, inferred: dict) -> tuple[dict, set[str]]:
    """Profile completed by inferred facts; returns the merged profile and the keys that were inferred."""
    merged = dict(profile)
    soft: set[str] = set()
    has_place = any(merged.get(k) for k in ("commune", "code_postal", "departement", "region"))
    for k, v in inferred.items():
        if k in ("commune", "code_postal") and has_place:
            continue
        if k not in merged or merged.get(k) in (None, ""):
            merged[k] = v
            soft.add(k)
    if "naf_section" in soft and merged.get("audience") not in ("entreprise", "agriculteur", "association"):
        merged.pop("naf_section", None)
        soft.discard("naf_section")
    return merged, soft
