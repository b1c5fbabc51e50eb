"""Applicant profiles: normalise the keys people and programs use, and read facts from free French text.

Profile keys (all optional): commune (INSEE code, postcode or name), code_postal, departement, region,
age, audience (particulier, entreprise, association, agriculteur, commune, epci…), statut (etudiant,
lyceen, apprenti, demandeur_emploi, salarie…), handicap, rsa, parent, boursier (booleans),
quotient_familial (€/mois), revenu_fiscal_par_part (€/an) or revenu_fiscal_reference + parts,
effectif (employees), naf (section letter or NAF code) or secteur (words), microentreprise (bool),
velo (kind of bike: "électrique", "cargo", "occasion"…), chiffre_affaires (€/an), date_creation (company
creation date), taille_foyer (people in the household).

An explicit profile value that cannot be true (an age of 250, a negative number of employees, a postcode
that is not 5 digits, a département code that does not exist, a creation date in the future…) raises
`ProfileError`, naming the field and what is expected. Facts read from free text are never refused: an
implausible one is simply left out.

Facts read from the need text ("j'ai 19 ans, je suis apprenti") are *inferred*: they fill gaps in the
profile but never override it, and a condition failed only on an inferred fact is "to check", not
"ineligible" (free text is too ambiguous to refuse an aid on it).
"""

from __future__ import annotations

import math
import os
import re
from datetime import date
from typing import Any

from territoria.aids.model import norm_audience, norm_key, norm_status, parse_date
from territoria.core.errors import TerritoriaError
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
    "chiffre_affaires": "chiffre_affaires", "chiffre_d_affaires": "chiffre_affaires", "ca": "chiffre_affaires",
    "ca_annuel": "chiffre_affaires", "turnover": "chiffre_affaires",
    "date_creation": "date_creation", "date_de_creation": "date_creation", "creation": "date_creation",
    "date_creation_entreprise": "date_creation", "annee_creation": "date_creation",
    "annee_de_creation": "date_creation", "creation_date": "date_creation",
    "taille_foyer": "taille_foyer", "foyer": "taille_foyer", "taille_du_foyer": "taille_foyer",
    "nb_personnes_foyer": "taille_foyer", "nombre_personnes_foyer": "taille_foyer",
    "personnes_foyer": "taille_foyer", "composition_foyer": "taille_foyer", "taille_menage": "taille_foyer",
    "household_size": "taille_foyer",
}
BOOL_KEYS = {"handicap", "rsa", "parent", "boursier", "microentreprise", "imposable", "difficultes_logement",
             "sanitaire_social", "interim", "sans_domicile"}
NUM_KEYS = {"age", "quotient_familial", "revenu_fiscal_par_part", "revenu_fiscal_reference", "parts", "effectif",
            "chiffre_affaires", "taille_foyer"}
INT_KEYS = {"age", "effectif", "parts", "taille_foyer"}  # stored as int when whole

# Plausible values of the numeric keys: (min, max or None, whole numbers only, label, what is expected).
NUM_LIMITS = {
    "age": (0, 120, False, "Âge", "un nombre d'années entre 0 et 120"),
    "effectif": (0, 1_000_000, False, "Nombre de salariés", "un nombre de salariés positif ou nul (0 sans salarié)"),
    "quotient_familial": (0, None, False, "Quotient familial", "un montant en euros par mois, positif ou nul"),
    "revenu_fiscal_par_part": (0, None, False, "Revenu fiscal par part",
                               "un montant en euros par an, positif ou nul"),
    "revenu_fiscal_reference": (0, None, False, "Revenu fiscal de référence",
                                "un montant en euros par an, positif ou nul"),
    "parts": (1, 30, False, "Nombre de parts fiscales",
              "un nombre de parts entre 1 et 30 (1 pour une personne seule)"),
    "chiffre_affaires": (0, None, False, "Chiffre d'affaires", "un montant en euros par an, positif ou nul"),
    "taille_foyer": (1, 30, True, "Nombre de personnes du foyer",
                     "un nombre entier de personnes entre 1 et 30 (vous compris)"),
}
# Département and région codes of the communes reference (metropolitan, overseas, overseas collectivities).
DEPARTEMENT_CODES = frozenset([f"{i:02d}" for i in range(1, 96) if i != 20] + ["2A", "2B"] +
                              ["971", "972", "973", "974", "975", "976", "977", "978", "984", "986", "987",
                               "988", "989"])
REGION_CODES = frozenset(["01", "02", "03", "04", "06", "11", "24", "27", "28", "32", "44", "52", "53", "75", "76",
                          "84", "93", "94", "975", "977", "978", "984", "986", "987", "988", "989"])
EARLIEST_CREATION = date(1800, 1, 1)


class ProfileError(TerritoriaError):
    """An applicant profile value that cannot be true; `field` is the key as the caller wrote it."""

    def __init__(self, field: str, message: str, *, hint: str | None = None, label: str | None = None,
                 value: Any = None, expected: str | None = None):
        super().__init__(message, hint=hint)
        self.field = field
        self.label = label  # "Âge", "Code postal"…
        self.value = value
        self.expected = expected  # what would be accepted, in French


def _shown(v: Any) -> str:
    return f"« {v} »" if isinstance(v, str) else str(v)


def _invalid(field: str, label: str, value: Any, expected: str) -> ProfileError:
    return ProfileError(field, f"{label} invalide dans le profil (« {field} » : {_shown(value)}). Valeur attendue : "
                               f"{expected}.",
                        hint=f"Corrigez « {field} », ou retirez-le du profil si vous ne le connaissez pas.",
                        label=label, value=value, expected=expected)


def _reference_today() -> date:
    """Today for the plausibility checks: the real date, or the reference date (TERRITORIA_TODAY) if later."""
    env = parse_date(os.environ.get("TERRITORIA_TODAY") or "")
    return max(date.today(), env) if env else date.today()


def _check_number(key: str, field: str, raw: Any, n: float | None) -> float:
    low, high, whole, label, expected = NUM_LIMITS[key]
    if n is None or not math.isfinite(n) or n < low or (high is not None and n > high) or (whole and n != int(n)):
        raise _invalid(field, label, raw, expected)
    return n


def _check_postcode(field: str, v: Any) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and 1000 <= v <= 99999:
        s = f"{v:05d}"  # a JSON number loses the leading zero of 01000
    else:
        s = re.sub(r"[\s\u202f\u00a0]", "", str(v))
    if not re.fullmatch(r"\d{5}", s) or s.startswith("00"):
        raise _invalid(field, "Code postal", v, "un code postal français de 5 chiffres (par exemple 70000)")
    return s


def _check_area_code(key: str, field: str, v: Any) -> Any:
    """A département or région given as a code must exist; a name is kept as it is (the territory lookup
    then finds it, or the commune is asked)."""
    label = "Département" if key == "departement" else "Région"
    if isinstance(v, bool) or isinstance(v, float):
        raise _invalid(field, label, v, "un code (texte, par exemple \"70\") ou un nom")
    s = str(v).strip().upper()
    if not (isinstance(v, int) or re.fullmatch(r"\d{1,3}|2[AB]", s)):
        return v
    if len(s) == 1:
        s = "0" + s
    if key == "departement":
        if s not in DEPARTEMENT_CODES:
            err = _invalid(field, label, v, "un code de département existant (01 à 95, 2A, 2B, 971 à 976…) "
                                            "ou son nom")
            if s == "20":
                err.hint = "La Corse a deux départements : 2A (Corse-du-Sud) et 2B (Haute-Corse). " + err.hint
            raise err
    elif s not in REGION_CODES:
        raise _invalid(field, label, v, "un code de région existant (par exemple 27 pour la "
                                        "Bourgogne-Franche-Comté, 84 pour Auvergne-Rhône-Alpes) ou son nom")
    return s


def _check_creation(field: str, v: Any) -> Any:
    """A company creation date: a full date (stored AAAA-MM-JJ) or a year (stored as a number), after 1800
    and not in the future."""
    expected = ("une date de création passée, après 1800, au format AAAA-MM-JJ ou JJ/MM/AAAA (ou l'année "
                "seule)")
    label = "Date de création"
    today = _reference_today()
    if isinstance(v, (bool, float)):
        raise _invalid(field, label, v, expected)
    s = str(v).strip()
    if isinstance(v, int) or re.fullmatch(r"\d{4}", s):
        if not EARLIEST_CREATION.year <= int(s) <= today.year:
            raise _invalid(field, label, v, expected)
        return int(s)
    d = v if isinstance(v, date) else parse_date(s)
    if d is None or not EARLIEST_CREATION <= d <= today:
        raise _invalid(field, label, v, expected)
    return d.isoformat()

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
    s = (str(v).replace("\u202f", "").replace("\u00a0", "").replace(" ", "").replace("€", "").replace(",", ".")
         .replace("\u2212", "-"))
    m = re.search(r"-?\d+(?:\.\d+)?", s)
    return float(m.group(0)) if m else None


def _checked(key: str, field: str, v: Any) -> Any:
    """The canonical value of one profile entry (None: left unknown); ProfileError when it cannot be true."""
    if key in BOOL_KEYS:
        return _to_bool(v)
    if key in NUM_KEYS:
        n = _check_number(key, field, v, _to_num(v))
        return int(n) if key in INT_KEYS and n == int(n) else n
    if key == "audience":
        # An unrecognised value (a typo such as "entrepise") would fail every aid's audience condition
        # and hide them all: leave the fact unknown, so that the question is asked instead.
        return norm_audience(str(v))
    if key == "statut":
        return norm_status(str(v))
    if key == "commune":
        return str(v).strip()
    if key == "code_postal":
        return _check_postcode(field, v)
    if key in ("departement", "region"):
        return _check_area_code(key, field, v)
    if key == "date_creation":
        return _check_creation(field, v)
    return v


def check_fact(key: str, value: Any) -> Any:
    """One canonical fact (e.g. an answer in the conversation): its value, or ProfileError."""
    return _checked(key, key, value)


def normalize_profile(profile: dict | None, *, strict: bool = True) -> dict:
    """Canonical keys and value types. Unknown keys are kept as they are.

    strict (explicit profiles: files, options, API, answers): a value that cannot be true raises
    ProfileError; otherwise (facts read from free text) it is left out."""
    if profile is not None and not isinstance(profile, dict):
        raise ProfileError("profile", "Le profil doit être un objet JSON (clés commune, age, audience…).",
                           hint='Exemple : {"commune": "70454", "age": 27, "audience": "particulier"}.')
    out: dict = {}
    for k, v in (profile or {}).items():
        if v is None or v == "":
            continue
        key = KEY_SYNONYMS.get(norm_key(k).replace(" ", "_"), k)
        try:
            value = _checked(key, str(k), v)
        except ProfileError:
            if strict:
                raise
            continue
        if value is not None:
            out[key] = value
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
