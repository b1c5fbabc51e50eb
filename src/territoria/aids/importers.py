"""Importers: aides-jeunes, aides-velo, mission-transition, Aides-territoires API JSON, and a generic
CSV/JSON importer driven by a field mapping (for a région's own catalogue).

Every importer returns `Aid` objects with ids `<source>/<source id>`. Source data is read at run time and
never copied into the code (aides-jeunes and mission-transition are AGPL-3.0: attribution kept per aid).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from territoria.aids.model import (
    Aid, clean_text, format_euros, iso_date, norm_audience, norm_key, norm_status,
)
from territoria.aids.publicodes import read_expression
from territoria.core.errors import TerritoriaError

AJ_ATTRIBUTION = "Source : aides-jeunes / beta.gouv.fr (AGPL-3.0)"
AV_ATTRIBUTION = "Source : aides-velo / beta.gouv.fr (Apache-2.0)"
MT_ATTRIBUTION = "Source : Mission transition écologique des entreprises / beta.gouv.fr (AGPL-3.0)"
AT_ATTRIBUTION = "Source : Aides-territoires (aides-territoires.beta.gouv.fr)"

AJ_FIXTURES = {"benefit_front_test", "aide-demonstration-preremplissage", "aide-demonstration-rdv-service-public"}

KNOWN_SOURCES = ("aides-jeunes", "aides-velo", "mission-transition", "aides-territoires", "communes", "generic")


@dataclass
class ImportBatch:
    source: str
    path: Path
    aids: list[Aid] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source id, reason in French)
    notes: list[str] = field(default_factory=list)


# -- reading files --------------------------------------------------------------------------------

def read_rows(path: Path) -> list[dict]:
    """Rows of a JSONL, JSON (list, or object holding a list) or CSV file."""
    name = path.name.lower()
    try:
        if name.endswith((".jsonl", ".ndjson")):
            rows = []
            with io.StringIO(_decode(path)) as fh:
                for i, line in enumerate(fh, 1):
                    line = line.strip()
                    if line:
                        try:
                            rows.append(json.loads(line))
                        except json.JSONDecodeError as exc:
                            raise TerritoriaError(f"Ligne {i} de {path.name} : JSON invalide ({exc.msg}).",
                                                  hint="Corrigez la ligne ou retirez-la, puis relancez l'import.")
            return rows
        if name.endswith(".json"):
            data = json.loads(_decode(path))
            if isinstance(data, dict):
                for key in ("results", "data", "aids", "aides", "items", "records"):
                    if isinstance(data.get(key), list):
                        return data[key]
                return [data]
            if isinstance(data, list):
                return data
            raise TerritoriaError(f"{path.name} : le JSON doit être une liste d'aides ou un objet « results ».")
        if name.endswith((".csv", ".tsv", ".txt")):
            text = _decode(path)
            sample = text[:5000]
            delim = "\t" if name.endswith(".tsv") else max([";", ",", "\t", "|"], key=sample.count)
            return list(csv.DictReader(io.StringIO(text), delimiter=delim))
    except json.JSONDecodeError as exc:
        raise TerritoriaError(f"{path.name} : JSON invalide ({exc.msg}, ligne {exc.lineno}).",
                              hint="Vérifiez le fichier (export complet, encodage UTF-8).")
    raise TerritoriaError(f"Format de fichier non reconnu : {path.name}.",
                          hint="Formats acceptés : .jsonl, .json, .csv (séparateur ; ou ,).")


def _decode(path: Path) -> str:
    """A file's text: UTF-8 (with or without BOM), else Windows-1252 (what French office software writes)."""
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def detect_kind(path: Path, rows: list[dict] | None = None) -> str | None:
    """Which importer reads this file: from its name, else from the keys of its first row."""
    n = path.name.lower()
    if "dev_cases" in n or n.endswith("_cases.jsonl") or "publicodes_model" in n or "institutions" in n:
        return None
    if n.startswith("aides_jeunes") or n.startswith("aides-jeunes"):
        return "aides-jeunes"
    if n.startswith("aides_velo") or n.startswith("aides-velo"):
        return "aides-velo"
    if n.startswith("mission_transition") or n.startswith("mission-transition"):
        return "mission-transition"
    if rows is None:
        return "generic"
    first = next((r for r in rows if isinstance(r, dict)), {})
    keys = set(first)
    if {"engine", "institution", "label"} <= keys or "conditions_generales" in keys:
        return "aides-jeunes"
    if {"collectivity_kind", "applicable_if"} & keys and "amount_rule" in keys:
        return "aides-velo"
    if {"eligibility_data", "aid_nature"} <= keys or ("promise" in keys and "eligibility_text" in keys):
        return "mission-transition"
    if {"targeted_audiences", "perimeter"} <= keys or {"submission_deadline", "financers"} <= keys:
        return "aides-territoires"
    return "generic"


def iter_source_files(path: Path) -> Iterator[Path]:
    if path.is_file():
        yield path
        return
    for p in sorted(path.iterdir()):
        if p.is_file() and p.suffix.lower() in (".jsonl", ".json", ".csv", ".ndjson", ".tsv"):
            yield p


def _slug(s: str) -> str:
    s = norm_key(s).replace(" ", "-")
    return re.sub(r"-+", "-", s).strip("-") or "catalogue"


def _cap(s: str) -> str:
    s = (s or "").strip()
    return s[:1].upper() + s[1:] if s else s


def _perimeter_from_nodes(nodes: list[dict], geo, fallback: dict) -> dict:
    """The most specific territory named by the conditions (for display and ranking)."""
    from territoria.aids.perimeter import SPECIFICITY

    best = None
    for n in _walk(nodes):
        if n.get("type") != "territory" or n.get("_negated"):
            continue
        level, codes = n.get("level"), n.get("codes") or []
        if level == "pays":
            continue
        lvl = level
        if len(codes) > 1 and level in ("commune", "departement", "region"):
            lvl = level + "s"
        if best is None or SPECIFICITY.get(lvl, 0) > SPECIFICITY.get(best["level"], 0):
            best = {"level": lvl, "codes": list(codes), "name": _territory_name(level, codes, n.get("names"), geo)}
    return best or fallback


def _walk(nodes, negated=False):
    for n in nodes or []:
        if not isinstance(n, dict):
            continue
        if "all" in n or "any" in n:
            yield from _walk(n.get("all") or n.get("any"), negated)
        elif "not" in n:
            yield from _walk([n["not"]], not negated)
        else:
            yield dict(n, _negated=negated) if negated else n


def _territory_name(level: str, codes: list[str], names: list[str] | None, geo) -> str:
    if names:
        return ", ".join(names)
    if geo is None:
        return ", ".join(codes)
    labels = [geo.label(level, c) for c in codes[:4]]
    more = f" et {len(codes) - 4} autres" if len(codes) > 4 else ""
    return ", ".join(labels) + more


def _optional_geo():
    from territoria.aids.perimeter import GeoDataMissing, load_geo

    try:
        return load_geo()
    except GeoDataMissing:
        return None


# -- aides-jeunes ----------------------------------------------------------------------------------

AJ_INTEREST_THEMES = {
    "_interetBafa": ["BAFA", "animation", "brevet d'aptitude aux fonctions d'animateur"],
    "_interetPermisDeConduire": ["permis de conduire", "mobilité"],
    "_interetEtudesEtranger": ["études à l'étranger", "mobilité internationale"],
    "_interetAidesSanitaireSocial": ["formation sanitaire et sociale"],
}

AJ_PROFILE_STATUS = {
    "enseignement_superieur": "etudiant", "etudiant": "etudiant", "lyceen": "lyceen", "collegien": "collegien",
    "apprenti": "apprenti", "professionnalisation": "alternant", "stagiaire": "stagiaire",
    "service_civique": "service_civique", "chomeur": "demandeur_emploi", "salarie": "salarie",
    "independant": "independant", "inactif": "inactif", "retraite": "retraite",
}
AJ_PROFILE_FACT = {"beneficiaire_rsa": "rsa", "parent": "parent", "situation_handicap": "handicap"}

AJ_GEO_TYPES = {"regions": "region", "departements": "departement", "communes": "commune", "epcis": "epci",
                "codes_postaux": "postcode"}


def _aj_condition(c: dict) -> dict | None:
    t = c.get("type")
    if t == "age":
        op = c.get("operator") or ">="
        return {"type": "age", "op": "=" if op in ("=", "==") else op, "value": c.get("value")}
    if t in AJ_GEO_TYPES:
        return {"type": "territory", "level": AJ_GEO_TYPES[t], "codes": [str(v) for v in c.get("values") or []]}
    if t == "excluded_epcis":
        return {"not": {"type": "territory", "level": "epci", "codes": [str(v) for v in c.get("values") or []]}}
    if t == "quotient_familial":
        return {"type": "quotient_familial", "op": c.get("operator") or "<=", "value": c.get("value"),
                "period": "year" if c.get("period") == "year" else "month"}
    if t == "regime_securite_sociale":
        inc = c.get("includes") or []
        regimes = {"regime_general": "régime général", "regime_agricole": "régime agricole (MSA)",
                   "msa": "régime agricole (MSA)"}
        label = ", ".join(regimes.get(x, x) for x in inc) or "régime désigné"
        return {"type": "other", "fact": "regime_securite_sociale",
                "text": f"Relever du {label} de la sécurité sociale.",
                "question": f"Relevez-vous du {label} de la sécurité sociale ?"}
    if t == "formation_sanitaire_social":
        return {"type": "fact", "fact": "sanitaire_social", "value": True}
    if t == "difficultes_acces_ou_frais_logement":
        return {"type": "fact", "fact": "difficultes_logement", "value": bool(c.get("value", True))}
    if t == "agence_travail_temporaire":
        return {"type": "fact", "fact": "interim", "value": True}
    if t == "beneficiaire_rsa":
        return {"type": "fact", "fact": "rsa", "value": True}
    if t == "boursier":
        return {"type": "fact", "fact": "boursier", "value": True}
    if t == "statut_occupation_logement":
        inc = c.get("includes") or []
        if inc == ["sans_domicile"]:
            return {"type": "fact", "fact": "sans_domicile", "value": True}
        return {"type": "other", "fact": "logement", "text": "Situation de logement : " + ", ".join(inc) + ".",
                "question": "Votre situation de logement correspond-elle à celle demandée (" + ", ".join(inc) + ") ?"}
    if t == "annee_etude":
        vals = [str(v).replace("_", " ") for v in c.get("values") or []]
        return {"type": "other", "fact": "annee_etude", "text": "Année d'études : " + ", ".join(vals) + ".",
                "question": "En quelle année d'études êtes-vous (" + ", ".join(vals[:6]) + ") ?"}
    if t == "mention_baccalaureat":
        return {"type": "other", "fact": "mention_bac", "text": "Avoir obtenu une mention très bien au baccalauréat.",
                "question": "Avez-vous obtenu une mention très bien au baccalauréat ?"}
    if t == "taux_incapacite":
        v = c.get("value")
        pct = f"{round(float(v) * 100)} %" if isinstance(v, (int, float)) else str(v)
        return {"type": "other", "fact": "taux_incapacite", "text": f"Taux d'incapacité d'au moins {pct}.",
                "question": f"Votre taux d'incapacité reconnu est-il d'au moins {pct} ?"}
    if t == "enfants_eligibles":
        return {"type": "other", "fact": "enfants", "text": "Avoir au moins un enfant de "
                f"{c.get('age_min', '?')} à {c.get('age_max', '?')} ans.",
                "question": f"Avez-vous un enfant âgé de {c.get('age_min', '?')} à {c.get('age_max', '?')} ans ?"}
    if t == "attached_to_institution":
        return None  # handled by the caller (institution territory)
    return {"type": "other", "text": f"Condition « {t} » fixée par l'aide.",
            "question": f"Remplissez-vous la condition « {str(t).replace('_', ' ')} » de cette aide ?"}


def _aj_institution_territory(inst: dict) -> dict | None:
    kind = inst.get("type")
    if kind == "region" and inst.get("code_insee"):
        return {"type": "territory", "level": "region", "codes": [str(inst["code_insee"])]}
    if kind == "departement" and inst.get("code_insee"):
        return {"type": "territory", "level": "departement", "codes": [str(inst["code_insee"])]}
    if kind == "commune" and inst.get("code_insee"):
        return {"type": "territory", "level": "commune", "codes": [str(inst["code_insee"])]}
    if kind == "epci" and inst.get("code_siren"):
        return {"type": "territory", "level": "epci", "codes": [str(inst["code_siren"])]}
    if kind in ("caf", "msa") and inst.get("departments"):
        return {"type": "territory", "level": "departement", "codes": [str(d) for d in inst["departments"]]}
    if kind == "autre" and inst.get("code_insee"):
        code = str(inst["code_insee"])
        if code == "6AE":
            return {"type": "territory", "level": "departement", "codes": ["67", "68"]}
    return None


def _aj_amount(r: dict) -> dict:
    m, unit, legend = r.get("montant"), r.get("unit"), (r.get("legend") or "").strip()
    per = r.get("periodicite")
    out: dict = {}
    if isinstance(m, (int, float)) and unit:
        if unit == "€":
            out = {"max": float(m), "unit": "€"}
            text = format_euros(float(m))
        else:
            out = {"value": float(m), "unit": unit}
            text = f"{m:g} {unit}"
        if legend:
            text += f" {legend}"
        if per == "mensuelle":
            text += " par mois"
        elif per == "annuelle":
            text += " par an"
        out["text"] = text
    elif r.get("type") == "bool":
        out = {"text": "Aide en nature ou service (pas de montant fixe)"}
    elif r.get("engine") == "openfisca":
        out = {"text": "Montant calculé selon votre situation (simulateur 1jeune1solution / mes-aides)"}
    return out


_WHO = r"(?:jeunes|personnes|apprentie?s|étudiante?s|etudiante?s|lycéen(?:ne)?s|habitante?s|vous|avoir|être|etre|âgée?s?|agée?s?)"
_TEXT_AGE = [
    (re.compile(_WHO + r"[^.;\n]{0,40}?\b(?:de|entre)\s+(\d{1,2})\s+(?:à|a|et)\s+(\d{1,2})\s+ans", re.I), "range"),
    (re.compile(_WHO + r"[^.;\n]{0,40}?\bmoins de\s+(\d{1,2})\s+ans", re.I), "lt"),
    (re.compile(_WHO + r"[^.;\n]{0,40}?\b(?:plus de|au moins)\s+(\d{1,2})\s+ans", re.I), "ge"),
]


def text_age_conditions(text: str) -> list[dict]:
    """Age bounds stated in an aid's own text about the applicant ("pour les jeunes de 15 à 20 ans").
    They are *soft*: a profile outside them makes the aid "to check", never "ineligible". Phrases about
    children ("enfant de moins de 3 ans") are ignored."""
    for pat, kind in _TEXT_AGE:
        for m in pat.finditer(text or ""):
            span = m.group(0)
            if re.search(r"enfant|bébé|bebe|fils|fille|élèves? de moins", span, re.I):
                continue
            start = max(0, (text or "").rfind(".", 0, m.start()) + 1)
            sentence = (text or "")[start: m.end()].strip()
            base = {"soft": True, "source_text": sentence[-200:]}
            if kind == "range":
                lo, hi = int(m.group(1)), int(m.group(2))
                if lo < hi <= 99:
                    return [dict(base, type="age", op=">=", value=lo), dict(base, type="age", op="<=", value=hi)]
            elif kind == "lt":
                return [dict(base, type="age", op="<", value=int(m.group(1)))]
            else:
                v = int(m.group(1))
                if v >= 14:
                    return [dict(base, type="age", op=">=", value=v)]
    return []


_TITLE_STATUS = [
    (r"apprenti|apprentissage", "apprenti"), (r"étudiant|etudiant", "etudiant"), (r"lycéen|lyceen", "lyceen"),
    (r"collégien|collegien", "collegien"), (r"demandeu(?:r|se)s? d.emploi", "demandeur_emploi"),
    (r"stagiaires?\b", "stagiaire"), (r"service civique", "service_civique"), (r"salariés?\b", "salarie"),
]


def title_status_condition(title: str) -> dict | None:
    """The applicant status named in a title ("… pour les apprentis") as a *soft* condition: it raises a
    question when the status is unknown, never makes the aid ineligible on its own."""
    vals = [st for pat, st in _TITLE_STATUS
            if re.search(r"\b(?:pour les|des|aux|les)\s+(?:jeunes\s+)?(?:en\s+)?(?:" + pat + ")", title or "", re.I)]
    return {"type": "status", "values": sorted(set(vals)), "soft": True} if vals else None


def convert_aides_jeunes(rows: list[dict], geo=None, source: str = "aides-jeunes") -> ImportBatch:
    batch = ImportBatch(source, Path())
    for r in rows:
        sid = str(r.get("id") or "").strip()
        if not sid:
            batch.skipped.append(("?", "aide sans identifiant"))
            continue
        if sid in AJ_FIXTURES:
            batch.skipped.append((sid, "aide de démonstration (jeu de test d'aides-jeunes)"))
            continue
        inst = r.get("institution") or {}
        conds: list[dict] = []
        has_geo = False
        attached = False
        for c in r.get("conditions_generales") or []:
            if c.get("type") in AJ_GEO_TYPES or c.get("type") == "excluded_epcis":
                has_geo = has_geo or c.get("type") in AJ_GEO_TYPES
            if c.get("type") == "attached_to_institution":
                attached = True
            node = _aj_condition(c)
            if node:
                conds.append(node)
        inst_terr = _aj_institution_territory(inst)
        kind = inst.get("type")
        if not has_geo or attached:
            if inst_terr:
                conds.insert(0, dict(inst_terr, label=f"habiter le territoire de {inst.get('name')}"))
            elif kind == "autre":
                conds.insert(0, {"type": "territory", "level": "unknown", "codes": [],
                                 "names": [inst.get("name") or "l'organisme"]})
        # Profiles: the aid targets one of these situations (each with its own extra conditions).
        alts = []
        for p in r.get("profils") or []:
            ptype = p.get("type")
            sub: list[dict] = []
            if ptype in AJ_PROFILE_STATUS:
                sub.append({"type": "status", "values": [AJ_PROFILE_STATUS[ptype]]})
            elif ptype in AJ_PROFILE_FACT:
                sub.append({"type": "fact", "fact": AJ_PROFILE_FACT[ptype], "value": True})
            for pc in p.get("conditions") or []:
                n = _aj_condition(pc)
                if n:
                    sub.append(n)
            if sub:
                alts.append(sub[0] if len(sub) == 1 else {"all": sub})
        if alts:
            conds.append(alts[0] if len(alts) == 1 else {"any": alts})
        if not any(n.get("type") == "status" for n in _walk(conds)):
            st = title_status_condition(clean_text(r.get("label")))
            if st:
                conds.append(st)
        if not any(n.get("type") == "age" for n in _walk(conds)):
            conds += text_age_conditions(clean_text(r.get("description")) + "\n" +
                                         "\n".join(clean_text(t) for t in r.get("conditions") or []))
        if r.get("engine") == "openfisca":
            conds.append({"type": "other", "fact": "simulation", "text": "Droit et montant calculés selon votre "
                          "situation détaillée (ressources, logement, famille) par le simulateur aides-jeunes.",
                          "question": "Votre situation détaillée ouvre-t-elle droit à cette aide ? Le simulateur "
                                      "1jeune1solution.gouv.fr (« mes aides ») le calcule en quelques minutes."})
        if kind in ("national",) or inst.get("id") in ("etat", "caf"):
            fallback = {"level": "national", "codes": ["FR"], "name": "France"}
        elif kind == "europeen":
            fallback = {"level": "europe", "codes": ["EU"], "name": "Union européenne"}
        else:
            fallback = {"level": "unknown", "codes": [], "name": inst.get("name") or ""}
        perimeter = _perimeter_from_nodes(conds, geo, fallback)
        themes = list(AJ_INTEREST_THEMES.get(r.get("interestFlag") or "", []))
        texts = [clean_text(t) for t in (r.get("conditions") or []) if t]
        texts += [clean_text(t) for t in (r.get("voluntary_conditions") or []) if t]
        apply_url = r.get("teleservice") or r.get("form") or None
        how = []
        if r.get("teleservice"):
            how.append(f"Demande en ligne : {r['teleservice']}")
        if r.get("form"):
            how.append(f"Formulaire : {r['form']}")
        if r.get("instructions"):
            how.append(f"Démarches : {r['instructions']}")
        unit = r.get("unit")
        aid_types = ["aide_financiere"] if unit == "€" else (["reduction"] if unit == "%" else [])
        label = clean_text(r.get("label") or sid)
        if re.search(r"\bpr[eê]t\b", label, re.I):
            aid_types = ["pret"]
        batch.aids.append(Aid(
            id=f"{source}/{sid}", source=source, source_id=sid, name=_cap(label),
            description=clean_text(r.get("description")),
            financers=[inst.get("name")] if inst.get("name") else [],
            institution=inst.get("name"), institution_kind=kind,
            perimeter=perimeter, audiences=["particulier"], aid_types=aid_types, themes=themes,
            conditions=conds, conditions_text=[t for t in texts if t],
            amount=_aj_amount(r), periodicity=r.get("periodicite"),
            url=r.get("link"), apply_url=apply_url, how_to_apply="\n".join(how) or None,
            attribution=AJ_ATTRIBUTION,
            extra={"engine": r.get("engine"), "private": bool(r.get("private")),
                   "interest_flag": r.get("interestFlag"), "institution_id": inst.get("id")},
        ))
    return batch


# -- aides-velo -----------------------------------------------------------------------------------

AV_LEVEL = {"code insee": "commune", "epci": "epci", "département": "departement", "région": "region",
            "pays": "pays"}
AV_INSTITUTION_KIND = {"commune": "commune", "intercommunalité": "epci", "département": "departement",
                       "région": "region", "état": "national"}


def _av_amount(rule: Any, hints: list | None) -> dict:
    consts = sorted({float(x) for x in (hints or []) if x})
    text = ""
    rate = None
    if isinstance(rule, dict):
        val = rule.get("valeur")
        if isinstance(val, str):
            m = re.match(r"^\s*(\d+)\s*%\s*\*", val)
            if m:
                rate = float(m.group(1))
            m2 = re.match(r"^\s*(\d+)\s*€\s*$", val)
            if m2 and not rule.get("plafond"):
                v = float(m2.group(1))
                return {"max": v, "unit": "€", "text": format_euros(v)}
        cap = rule.get("plafond")
        capv = None
        if isinstance(cap, str):
            m = re.match(r"^\s*(\d+)\s*€", cap)
            if m:
                capv = float(m.group(1))
        if rate and capv:
            text = f"{rate:g} % du prix du vélo, dans la limite de {format_euros(capv)}"
            return {"max": capv, "rate_max": rate, "unit": "€", "text": text}
        if rate and consts:
            return {"max": consts[-1], "rate_max": rate, "unit": "€",
                    "text": f"{rate:g} % du prix du vélo, jusqu'à {format_euros(consts[-1])} selon le vélo"}
    if consts:
        return {"max": consts[-1], "unit": "€", "text": f"Jusqu'à {format_euros(consts[-1])} selon le vélo et "
                "vos revenus" if len(consts) > 1 else format_euros(consts[-1])}
    return {"text": "Montant selon le vélo et votre situation (voir le site officiel)"}


def convert_aides_velo(rows: list[dict], geo=None, source: str = "aides-velo") -> ImportBatch:
    batch = ImportBatch(source, Path())
    epci_code = geo.epci_code if geo is not None else None
    for r in rows:
        sid = str(r.get("id") or "").strip()
        if not sid:
            batch.skipped.append(("?", "aide sans identifiant"))
            continue
        level = AV_LEVEL.get(r.get("collectivity_kind") or "", "unknown")
        code = str(r.get("collectivity_code") or r.get("collectivity_value") or "")
        if level == "pays":
            code = (r.get("country") or code).lower()
        conds: list[dict] = [{"type": "territory", "level": level, "codes": [code],
                              "label": f"habiter le territoire de {r.get('title')}"}]
        sub_rules = r.get("sub_rules") or {}
        app = read_expression(r.get("applicable_if"), sub_rules=sub_rules, epci_code=epci_code)
        if app:
            conds.append(app)
        notapp = read_expression(r.get("not_applicable_if"), sub_rules=sub_rules, epci_code=epci_code)
        if notapp:
            conds.append({"not": notapp})
        title = (r.get("title") or sid).strip()
        if level == "pays":
            perimeter = {"level": "pays", "codes": [code], "name": title}
        else:
            name = geo.label(level, code) if geo is not None else (r.get("collectivity_value") or code)
            perimeter = {"level": level, "codes": [code], "name": name}
        kw = list(r.get("hint_bike_keywords") or [])
        pro = bool(re.search(r"\bpro\b|professionnel", sid + " " + json.dumps(r.get("applicable_if"),
                                                                              ensure_ascii=False)))
        batch.aids.append(Aid(
            id=f"{source}/{sid}", source=source, source_id=sid,
            name=f"Aide à l'achat d'un vélo – {title}",
            description=clean_text(r.get("description")),
            financers=[title], institution=title,
            institution_kind=AV_INSTITUTION_KIND.get(r.get("level") or "", level),
            perimeter=perimeter, audiences=["entreprise"] if pro else ["particulier"],
            aid_types=["subvention"], themes=["vélo", "mobilité", "achat de vélo"], keywords=kw,
            conditions=conds, amount=_av_amount(r.get("amount_rule"), r.get("hint_euro_constants_in_amount")),
            periodicity="ponctuelle", end_date=iso_date(r.get("end_date")), url=r.get("url"),
            attribution=AV_ATTRIBUTION,
            extra={"rule": r.get("rule"), "last_updated": iso_date(r.get("last_updated")),
                   "country": r.get("country")},
        ))
    return batch


# -- mission-transition ----------------------------------------------------------------------------

MT_NATURE = {"étude": "etude", "financement": "subvention", "formation": "formation", "prêt": "pret",
             "avantage fiscal": "avantage_fiscal"}
MT_OBJECTIVES = {
    "energy": ["performance énergétique", "économies d'énergie"],
    "environmental": ["impact environnemental", "stratégie bas carbone", "décarbonation"],
    "waste": ["gestion des déchets", "économie circulaire"],
    "rh": ["former ou recruter", "compétences"],
    "eco-design": ["écoconception"],
    "mobility": ["mobilité durable"],
    "water": ["consommation d'eau"],
    "building": ["rénovation du bâtiment"],
    "biodiversite": ["biodiversité"],
}
NAF_SECTIONS = {
    "A": "agriculture, sylviculture et pêche", "B": "industries extractives", "C": "industrie manufacturière",
    "D": "production et distribution d'électricité, de gaz", "E": "eau, assainissement, déchets et dépollution",
    "F": "construction", "G": "commerce ; réparation d'automobiles", "H": "transports et entreposage",
    "I": "hébergement et restauration", "J": "information et communication", "K": "activités financières et "
    "d'assurance", "L": "activités immobilières", "M": "activités spécialisées, scientifiques et techniques",
    "N": "activités de services administratifs et de soutien", "O": "administration publique",
    "P": "enseignement", "Q": "santé humaine et action sociale", "R": "arts, spectacles et activités récréatives",
    "S": "autres activités de services (dont associations)", "T": "activités des ménages",
    "U": "activités extraterritoriales",
}


def _mt_amount(r: dict) -> dict:
    parts = []
    for key, label in (("funding_amount", "Financement"), ("support_cost", "Coût de l'accompagnement"),
                       ("loan_amount", "Prêt"), ("tax_advantage_amount", "Avantage fiscal"),
                       ("support_duration", "Durée")):
        v = clean_text(r.get(key))
        if v:
            parts.append(f"{label} : {v}")
    out: dict = {"text": " ; ".join(parts)} if parts else {}
    src = clean_text(r.get("funding_amount") or r.get("loan_amount") or r.get("tax_advantage_amount") or "")
    nums = [float(x.replace(" ", "").replace("\u202f", "").replace(".", "")) for x in
            re.findall(r"(\d[\d \u202f.]*\d|\d)\s*(?:€|euros)", src)]
    if nums:
        out["max"] = max(nums)
        out["unit"] = "€"
    m = re.search(r"(\d+)\s*%", src)
    if m:
        out["rate_max"] = float(m.group(1))
    return out


def convert_mission_transition(rows: list[dict], geo=None, source: str = "mission-transition") -> ImportBatch:
    batch = ImportBatch(source, Path())
    for r in rows:
        sid = str(r.get("id") or "").strip()
        if not sid:
            batch.skipped.append(("?", "programme sans identifiant"))
            continue
        ed = r.get("eligibility_data") or {}
        comp = ed.get("company") or {}
        et = r.get("eligibility_text") or {}
        conds: list[dict] = []
        regions = comp.get("allowedRegion") or []
        if regions:
            codes, unknown = [], []
            for name in regions:
                c = geo.region_code(name) if geo is not None else None
                (codes if c else unknown).append(c or name)
            node = {"type": "territory", "level": "region", "codes": codes}
            if unknown:
                node["names"] = unknown
            conds.append(node)
        secteur = "; ".join(et.get("secteur d'activité") or [])
        naf = comp.get("allowedNafSections") or []
        if naf and len(set(naf)) < 21:
            conds.append({"type": "naf_section", "values": sorted(set(naf)),
                          "label": f"secteur d'activité : {secteur}" if secteur else None})
        if comp.get("minEmployees"):
            conds.append({"type": "employees", "op": ">=", "value": int(comp["minEmployees"])})
        if comp.get("maxEmployees"):
            conds.append({"type": "employees", "op": "<=", "value": int(comp["maxEmployees"])})
        if comp.get("excludeMicroentrepreneur"):
            conds.append({"not": {"type": "fact", "fact": "microentreprise", "value": True},
                          "label": "ne pas être micro-entrepreneur"})
        audiences = ["entreprise"]
        if comp.get("openToPublicAdministration") or str(r.get("open_to_public_administrations")).lower() == "oui":
            audiences += ["commune", "epci", "etablissement_public"]
        if regions:
            perimeter = _perimeter_from_nodes(conds, geo, {"level": "national", "codes": ["FR"], "name": "France"})
        else:
            perimeter = {"level": "national", "codes": ["FR"], "name": "France et outre-mer"}
        texts = []
        for key in ("nombre d'années d'activité", "autres critères d'éligibilité"):
            for t in et.get(key) or []:
                t = clean_text(t)
                if t and t not in ("Éligible à toutes les entreprises",):
                    texts.append(t)
        size = [clean_text(t) for t in et.get("taille de l'entreprise") or []]
        if secteur and not secteur.lower().startswith("tous secteurs"):
            texts.insert(0, "Secteur : " + clean_text(secteur))
        if size and size != ["Toutes tailles", "Éligible aux micro-entreprises"]:
            texts.insert(0, "Taille : " + ", ".join(size))
        themes = [t for o in ed.get("priorityObjectives") or [] for t in MT_OBJECTIVES.get(o, [o])]
        themes.append("transition écologique des entreprises")
        steps = r.get("steps") or []
        how = "\n".join(f"{i}. {clean_text(s.get('description'))}" for i, s in enumerate(steps, 1)
                        if s.get("description"))
        apply_url = next((lk.get("lien") for s in steps for lk in (s.get("liens") or []) if lk.get("lien")), None)
        validity = ed.get("validity") or {}
        desc = clean_text(r.get("description"))
        promise = clean_text(r.get("promise"))
        if promise and promise not in desc:
            desc = f"{promise}. {desc}" if not promise.endswith(".") else f"{promise} {desc}"
        financers = [r.get("contact_operator")] + [o for o in (r.get("other_operators") or []) if o]
        batch.aids.append(Aid(
            id=f"{source}/{sid}", source=source, source_id=sid, name=_cap(clean_text(r.get("title") or sid)),
            description=desc, financers=[f for f in financers if f], institution=r.get("contact_operator"),
            institution_kind="region" if regions and len(regions) == 1 else "national",
            perimeter=perimeter, audiences=audiences,
            aid_types=[MT_NATURE.get(r.get("aid_nature") or "", "aide_financiere")], themes=themes,
            conditions=conds, conditions_text=texts, amount=_mt_amount(r),
            start_date=iso_date(r.get("valid_from") or validity.get("start")),
            end_date=iso_date(r.get("valid_until") or validity.get("end")),
            url=(r.get("url") or "").strip() or None, apply_url=apply_url, how_to_apply=how or None,
            contact=(r.get("contact") or "").replace("mailto:", "") or None, attribution=MT_ATTRIBUTION,
            extra={"long_description": clean_text(r.get("long_description"))[:4000],
                   "temporarily_unavailable": str(r.get("temporarily_unavailable") or "").lower() == "oui",
                   "nature": r.get("aid_nature")},
        ))
    return batch


# -- Aides-territoires API JSON ----------------------------------------------------------------------

AT_TYPES = {
    "subvention": "subvention", "pret": "pret", "avance recuperable": "avance_remboursable",
    "certificat d economie d energie cee": "cee", "autre aide financiere": "aide_financiere",
    "ingenierie technique": "accompagnement", "ingenierie financiere": "accompagnement",
    "ingenierie juridique administrative": "accompagnement", "grant": "subvention", "loan": "pret",
    "recoverable_advance": "avance_remboursable", "technical": "accompagnement", "financial": "accompagnement",
    "legal": "accompagnement", "other": "aide_financiere", "exoneration fiscale": "avantage_fiscal",
}


def _at_perimeter(name: str | None, scale: str | None, geo) -> tuple[dict, list[dict]]:
    """Perimeter + territory condition from the API's perimeter name and scale."""
    name = (name or "").strip()
    sc = norm_key(scale or "")
    n = norm_key(name)
    if not name and not sc:
        return {"level": "unknown", "codes": [], "name": ""}, []
    if sc in ("pays", "france") or n in ("france", "national", "france entiere"):
        return {"level": "national", "codes": ["FR"], "name": name or "France"}, []
    if sc in ("continent", "europe") or n in ("europe", "union europeenne"):
        return {"level": "europe", "codes": ["EU"], "name": name or "Europe"}, []
    if geo is not None:
        if sc in ("region",) or (not sc and geo.region_code(name)):
            c = geo.region_code(name)
            if c:
                return ({"level": "region", "codes": [c], "name": geo.label("region", c)},
                        [{"type": "territory", "level": "region", "codes": [c]}])
        if sc in ("departement",) or (not sc and geo.departement_code(name)):
            c = geo.departement_code(re.sub(r"\s*\(\w+\)\s*$", "", name))
            if c:
                return ({"level": "departement", "codes": [c], "name": geo.label("departement", c)},
                        [{"type": "territory", "level": "departement", "codes": [c]}])
        if sc in ("epci", "intercommunalite"):
            c = geo.epci_code(name)
            if c:
                return ({"level": "epci", "codes": [c], "name": geo.epci_names.get(c, name)},
                        [{"type": "territory", "level": "epci", "codes": [c]}])
        if sc == "commune":
            res = geo.resolve(name)
            if res.status == "ok":
                c = res.commune
                return ({"level": "commune", "codes": [c.code], "name": c.label},
                        [{"type": "territory", "level": "commune", "codes": [c.code]}])
        if sc in ("metropole", "mainland") or n in ("france metropolitaine", "metropole"):
            codes = [k for k, v in geo.regions.items() if v.get("zone") == "metro"]
            return ({"level": "regions", "codes": codes, "name": "France métropolitaine"},
                    [{"type": "territory", "level": "region", "codes": codes}])
        if sc in ("outre mer", "overseas") or n in ("outre mer", "drom", "drom com"):
            codes = [k for k, v in geo.regions.items() if v.get("zone") != "metro"]
            return ({"level": "regions", "codes": codes, "name": "Outre-mer"},
                    [{"type": "territory", "level": "region", "codes": codes}])
    level = {"region": "region", "departement": "departement", "epci": "epci", "commune": "commune"}.get(sc, "unknown")
    return ({"level": "unknown", "codes": [], "name": name},
            [{"type": "territory", "level": "unknown", "codes": [], "names": [name], "scale": level}])


def convert_aides_territoires(rows: list[dict], geo=None, source: str = "aides-territoires") -> ImportBatch:
    batch = ImportBatch(source, Path())
    for r in rows:
        sid = str(r.get("id") or r.get("slug") or "").strip()
        if not sid:
            batch.skipped.append(("?", "aide sans identifiant"))
            continue
        if not (r.get("name") or r.get("name_initial")):
            batch.skipped.append((sid, "aide sans nom"))
            continue
        perimeter, terr = _at_perimeter(r.get("perimeter"), r.get("perimeter_scale"), geo)
        audiences = []
        for a in r.get("targeted_audiences") or []:
            na = norm_audience(a)
            if na and na not in audiences:
                audiences.append(na)
        types = []
        for t in r.get("aid_types") or []:
            nt = AT_TYPES.get(norm_key(t)) or AT_TYPES.get(str(t))
            if nt and nt not in types:
                types.append(nt)
        themes = []
        for cat in r.get("categories") or []:
            for part in str(cat).split("|"):
                part = part.strip()
                if part and part not in themes:
                    themes.append(part)
        amount: dict = {}
        lo, hi = r.get("subvention_rate_lower_bound"), r.get("subvention_rate_upper_bound")
        bits = []
        if hi:
            amount["rate_max"] = float(hi)
            bits.append(f"Taux de subvention : {f'{lo} à ' if lo else 'jusqu’à '}{hi} %")
        if r.get("loan_amount"):
            amount["max"] = float(r["loan_amount"])
            amount["unit"] = "€"
            bits.append(f"Prêt : jusqu'à {format_euros(float(r['loan_amount']))}")
        if r.get("recoverable_advance_amount"):
            amount["max"] = max(amount.get("max") or 0, float(r["recoverable_advance_amount"]))
            amount["unit"] = "€"
            bits.append(f"Avance récupérable : jusqu'à {format_euros(float(r['recoverable_advance_amount']))}")
        if r.get("subvention_comment"):
            bits.append(clean_text(r["subvention_comment"]))
        if bits:
            amount["text"] = " ; ".join(bits)
        url = r.get("origin_url") or r.get("url")
        at_url = r.get("url")
        if at_url and at_url.startswith("/"):
            at_url = "https://aides-territoires.beta.gouv.fr" + at_url
        elig = clean_text(r.get("eligibility"))
        texts = [t.lstrip("- ").strip() for t in elig.split("\n") if t.strip()] if elig else []
        recurrence = norm_key(r.get("recurrence") or "")
        batch.aids.append(Aid(
            id=f"{source}/{sid}", source=source, source_id=sid,
            name=_cap(clean_text(r.get("name") or r.get("name_initial"))),
            description=clean_text(r.get("description")),
            financers=[str(f) for f in r.get("financers") or []],
            institution=(r.get("financers") or [None])[0], perimeter=perimeter, audiences=audiences,
            aid_types=types, themes=themes, conditions=terr, conditions_text=texts[:20], amount=amount,
            periodicity={"ponctuelle": "ponctuelle", "permanente": "permanente",
                         "recurrente": "recurrente"}.get(recurrence),
            start_date=iso_date(r.get("start_date")), end_date=iso_date(r.get("submission_deadline")),
            url=url or at_url, apply_url=r.get("application_url") or None,
            contact=clean_text(r.get("contact")) or None, attribution=AT_ATTRIBUTION,
            extra={"aides_territoires_url": at_url, "programs": r.get("programs") or [],
                   "instructors": r.get("instructors") or [], "is_call_for_project": r.get("is_call_for_project"),
                   "destinations": r.get("destinations") or [], "perimeter_scale": r.get("perimeter_scale"),
                   "mobilization_steps": r.get("mobilization_steps") or []},
        ))
    return batch


# -- generic CSV / JSON with a field mapping -------------------------------------------------------------

# Target field → column names recognised without a mapping (folded, lower-case).
GENERIC_ALIASES = {
    "id": ["id", "identifiant", "code", "reference", "ref"],
    "name": ["name", "nom", "titre", "title", "intitule", "libelle", "nom de l aide", "dispositif"],
    "description": ["description", "objet", "resume", "presentation", "objectif", "objectifs"],
    "financers": ["financers", "financeur", "financeurs", "porteur", "organisme", "institution"],
    "perimeter_level": ["perimeter_level", "niveau", "echelle", "perimetre_niveau", "perimeter_scale"],
    "perimeter_code": ["perimeter_code", "code_perimetre", "perimetre_code", "code_territoire", "codes"],
    "perimeter_name": ["perimeter_name", "perimetre", "perimeter", "territoire", "zone"],
    "audiences": ["audiences", "public", "publics", "beneficiaires", "public cible", "cible", "targeted_audiences"],
    "aid_types": ["aid_types", "type", "types", "nature", "type d aide"],
    "themes": ["themes", "theme", "thematique", "thematiques", "categories", "categorie", "domaine"],
    "keywords": ["keywords", "mots cles", "mots_cles", "tags"],
    "conditions_text": ["conditions_text", "conditions", "eligibilite", "criteres", "criteres d eligibilite"],
    "age_min": ["age_min", "age minimum", "age_minimum", "age min"],
    "age_max": ["age_max", "age maximum", "age_maximum", "age max"],
    "quotient_familial_max": ["quotient_familial_max", "qf_max", "quotient familial max"],
    "income_per_part_max": ["income_per_part_max", "revenu_par_part_max", "rfr_par_part_max"],
    "statuses": ["statuses", "statuts", "statut"],
    "employees_min": ["employees_min", "effectif_min", "salaries_min", "effectif min"],
    "employees_max": ["employees_max", "effectif_max", "salaries_max", "effectif max"],
    "naf_sections": ["naf_sections", "sections_naf", "secteurs_naf"],
    "amount_text": ["amount_text", "montant", "montant de l aide", "amount"],
    "amount_max": ["amount_max", "montant_max", "montant maximum", "plafond"],
    "periodicity": ["periodicity", "periodicite", "frequence", "recurrence"],
    "start_date": ["start_date", "date_debut", "date de debut", "ouverture", "debut"],
    "end_date": ["end_date", "date_fin", "date de fin", "date limite", "date_limite", "submission_deadline",
                 "cloture", "fin"],
    "url": ["url", "lien", "site", "page", "origin_url"],
    "apply_url": ["apply_url", "lien_demande", "teleservice", "formulaire", "application_url"],
    "how_to_apply": ["how_to_apply", "demarches", "comment demander", "modalites", "procedure"],
    "contact": ["contact", "contacts", "email", "courriel", "telephone"],
}
LIST_FIELDS = {"financers", "audiences", "aid_types", "themes", "keywords", "conditions_text", "statuses",
               "naf_sections", "perimeter_code"}
LEVEL_WORDS = {
    "commune": "commune", "communes": "commune", "epci": "epci", "intercommunalite": "epci",
    "departement": "departement", "departemental": "departement", "region": "region", "regional": "region",
    "national": "national", "france": "national", "pays": "national", "europe": "europe",
    "europeen": "europe", "code postal": "postcode", "postcode": "postcode",
}


def _split(value: Any, sep: str | None, target: str = "") -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    s = str(value)
    if sep:
        return [p.strip() for p in s.split(sep) if p.strip()]
    seps = ("\n", ";", "|") if target == "conditions_text" else (";", "|", "\n", ",")
    for cand in seps:
        if cand in s:
            return [p.strip() for p in s.split(cand) if p.strip()]
    return [s.strip()] if s.strip() else []


def _get_col(row: dict, col: str) -> Any:
    if col in row:
        return row[col]
    cur: Any = row
    for part in col.split("."):  # dotted paths into nested JSON
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return None
    return cur


def _resolve_mapping(columns: Iterable[str], mapping: dict | None) -> dict:
    fields_map: dict = {}
    folded = {norm_key(c): c for c in columns}
    for target, aliases in GENERIC_ALIASES.items():
        for a in aliases:
            if norm_key(a) in folded:
                fields_map[target] = folded[norm_key(a)]
                break
    for target, spec in (mapping or {}).get("fields", mapping or {}).items():
        if target in ("source", "fields", "defaults", "id_prefix"):
            continue
        fields_map[target] = spec
    return fields_map


def _mapped_value(row: dict, spec: Any, target: str) -> Any:
    if spec is None:
        return None
    if isinstance(spec, str):
        v = _get_col(row, spec)
        return _split(v, None, target) if target in LIST_FIELDS else v
    if isinstance(spec, list):
        vals = [_get_col(row, c) for c in spec]
        vals = [v for v in vals if v not in (None, "")]
        if target in LIST_FIELDS:
            return [x for v in vals for x in _split(v, None, target)]
        return "\n\n".join(str(v) for v in vals) if vals else None
    if isinstance(spec, dict):
        if "value" in spec:
            v = spec["value"]
        elif "columns" in spec:
            v = _mapped_value(row, spec["columns"], target)
        else:
            v = _get_col(row, spec.get("column") or spec.get("col") or "")
        if target in LIST_FIELDS or spec.get("split"):
            v = _split(v, spec.get("split"), target)
        if spec.get("map"):
            m = {norm_key(k): val for k, val in spec["map"].items()}
            if isinstance(v, list):
                v = [m.get(norm_key(x), x) for x in v]
            elif v is not None:
                v = m.get(norm_key(v), v)
        if spec.get("format") and v:
            from datetime import datetime

            try:
                v = datetime.strptime(str(v).strip(), spec["format"]).date().isoformat()
            except ValueError:
                pass
        return v
    return spec


def _num(v: Any) -> float | None:
    if v in (None, ""):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    s = str(v).replace("\u202f", "").replace(" ", "").replace("€", "").replace(",", ".")
    m = re.search(r"-?\d+(?:\.\d+)?", s)
    return float(m.group(0)) if m else None


def convert_generic(rows: list[dict], geo=None, source: str = "catalogue", mapping: dict | None = None
                    ) -> ImportBatch:
    batch = ImportBatch(source, Path())
    columns: set[str] = set()
    for r in rows[:50]:
        if isinstance(r, dict):
            columns.update(k for k in r.keys() if isinstance(k, str))
    fmap = _resolve_mapping(columns, mapping)
    if "name" not in fmap:
        raise TerritoriaError(
            "Impossible de trouver la colonne du nom de l'aide dans ce fichier.",
            hint="Fournissez une correspondance de champs avec --mapping (ex. {\"name\": \"Intitulé\", "
                 "\"id\": \"Code\"}) ; voir docs/aids.md.")
    defaults = (mapping or {}).get("defaults") or {}
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            batch.skipped.append((str(i), f"enregistrement n° {i} : pas un objet JSON (clé : valeur) mais "
                                          f"{_kind_fr(row)}"))
            continue
        if any(x not in (None, "") for x in (row.get(None) or [])):  # csv.DictReader: more values than columns
            batch.skipped.append((str(i), f"ligne {i + 1} du fichier : plus de valeurs que de colonnes (un texte "
                                          "contient sans doute le séparateur sans être entre guillemets) ; "
                                          "les colonnes de cette ligne seraient décalées"))
            continue
        v = {t: _mapped_value(row, spec, t) for t, spec in fmap.items()}
        for k, d in defaults.items():
            if v.get(k) in (None, "", []):
                v[k] = d
        name = clean_text(v.get("name"))
        if not name:
            batch.skipped.append((str(i), "ligne sans nom d'aide"))
            continue
        sid = str(v.get("id") or "").strip() or _slug(name)[:80]
        problem = _generic_row_problem(v, fmap)
        if problem:
            batch.skipped.append((sid, problem))
            continue
        conds: list[dict] = []
        level = LEVEL_WORDS.get(norm_key(v.get("perimeter_level") or ""), None)
        codes = [str(c) for c in (v.get("perimeter_code") or [])]
        pname = clean_text(v.get("perimeter_name"))
        perimeter = {"level": "unknown", "codes": [], "name": pname}
        if level in ("national", "europe"):
            perimeter = {"level": level, "codes": ["FR" if level == "national" else "EU"],
                         "name": pname or ("France" if level == "national" else "Europe")}
        elif level and codes:
            conds.append({"type": "territory", "level": level, "codes": codes})
            perimeter = _perimeter_from_nodes(conds, geo, perimeter)
        elif pname:
            perimeter, terr = _at_perimeter(pname, level, geo)
            conds += terr
        elif level is None and not codes:
            perimeter = {"level": "unknown", "codes": [], "name": ""}
        amin, amax = _num(v.get("age_min")), _num(v.get("age_max"))
        if amin is not None:
            conds.append({"type": "age", "op": ">=", "value": int(amin)})
        if amax is not None:
            conds.append({"type": "age", "op": "<=", "value": int(amax)})
        qf = _num(v.get("quotient_familial_max"))
        if qf is not None:
            conds.append({"type": "quotient_familial", "op": "<=", "value": qf, "period": "month"})
        ipp = _num(v.get("income_per_part_max"))
        if ipp is not None:
            conds.append({"type": "income_per_part", "op": "<=", "value": ipp, "period": "year"})
        sts = [s for s in (norm_status(x) for x in v.get("statuses") or []) if s]
        if sts:
            conds.append({"type": "status", "values": sts})
        emin, emax = _num(v.get("employees_min")), _num(v.get("employees_max"))
        if emin is not None:
            conds.append({"type": "employees", "op": ">=", "value": int(emin)})
        if emax is not None:
            conds.append({"type": "employees", "op": "<=", "value": int(emax)})
        naf = [s.strip().upper()[:1] for s in v.get("naf_sections") or [] if s.strip()]
        if naf:
            conds.append({"type": "naf_section", "values": sorted(set(naf))})
        auds = []
        for a in v.get("audiences") or []:
            na = norm_audience(a)
            if na and na not in auds:
                auds.append(na)
        types = []
        for t in v.get("aid_types") or []:
            nt = AT_TYPES.get(norm_key(t)) or (norm_key(t).replace(" ", "_") if norm_key(t) else None)
            if nt and nt not in types:
                types.append(nt)
        amount: dict = {}
        if v.get("amount_text"):
            amount["text"] = clean_text(v["amount_text"])
        amax_eur = _num(v.get("amount_max")) if v.get("amount_max") not in (None, "") else None
        if amax_eur is None and amount.get("text"):
            nums = re.findall(r"(\d[\d \u202f]*)\s*€", amount["text"])
            if nums:
                amax_eur = max(float(n.replace(" ", "").replace("\u202f", "")) for n in nums)
        if amax_eur is not None:
            amount["max"] = amax_eur
            amount["unit"] = "€"
            amount.setdefault("text", format_euros(amax_eur))
        fin = [clean_text(f) for f in v.get("financers") or [] if clean_text(f)]
        batch.aids.append(Aid(
            id=f"{source}/{sid}", source=source, source_id=sid, name=_cap(name),
            description=clean_text(v.get("description")), financers=fin, institution=fin[0] if fin else None,
            perimeter=perimeter, audiences=auds, aid_types=types,
            themes=[clean_text(t) for t in v.get("themes") or []],
            keywords=[clean_text(t) for t in v.get("keywords") or []], conditions=conds,
            conditions_text=[clean_text(t) for t in v.get("conditions_text") or [] if clean_text(t)],
            amount=amount, periodicity=(clean_text(v.get("periodicity")) or None),
            start_date=iso_date(v.get("start_date")), end_date=iso_date(v.get("end_date")),
            url=(str(v.get("url")).strip() if v.get("url") else None),
            apply_url=(str(v.get("apply_url")).strip() if v.get("apply_url") else None),
            how_to_apply=clean_text(v.get("how_to_apply")) or None, contact=clean_text(v.get("contact")) or None,
            attribution=(mapping or {}).get("attribution"),
        ))
    return batch


# Fields that become conditions or dates: an unreadable value would silently widen the aid (no age limit,
# no deadline), so the row is skipped with the reason instead. (label, min, max)
_GENERIC_NUMBERS = {
    "age_min": ("âge minimum", 0, 120), "age_max": ("âge maximum", 0, 120),
    "quotient_familial_max": ("quotient familial maximum", 0, None),
    "income_per_part_max": ("revenu par part maximum", 0, None),
    "employees_min": ("effectif minimum", 0, None), "employees_max": ("effectif maximum", 0, None),
}
_GENERIC_DATES = {"start_date": "date de début", "end_date": "date limite"}


def _kind_fr(value: Any) -> str:
    if isinstance(value, list):
        return "une liste"
    if isinstance(value, str):
        return f"le texte « {value[:40]} »"
    return f"la valeur {value!r}"[:60]


def _column_of(spec: Any, target: str) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict) and isinstance(spec.get("column") or spec.get("col"), str):
        return spec.get("column") or spec.get("col")
    return target


def _generic_row_problem(v: dict, fmap: dict) -> str | None:
    """Why a generic row cannot be imported as it is (French), or None."""
    nums = {}
    for target, (label, low, high) in _GENERIC_NUMBERS.items():
        raw = v.get(target)
        if raw in (None, "") or isinstance(raw, list) and not raw:
            continue
        n = _num(raw)
        where = f"colonne « {_column_of(fmap.get(target), target)} » : « {raw} »"
        if n is None:
            return f"{label} illisible ({where}) : un nombre est attendu"
        if n < low or (high is not None and n > high):
            bounds = f"entre {low} et {high}" if high is not None else "positif ou nul"
            return f"{label} impossible ({where}) : un nombre {bounds} est attendu"
        nums[target] = n
    for lo, hi, label in (("age_min", "age_max", "âge"), ("employees_min", "employees_max", "effectif")):
        if lo in nums and hi in nums and nums[lo] > nums[hi]:
            return (f"{label} minimum ({nums[lo]:g}) supérieur au maximum ({nums[hi]:g}) : l'aide ne serait "
                    "ouverte à personne")
    for target, label in _GENERIC_DATES.items():
        raw = v.get(target)
        if raw not in (None, "") and iso_date(raw) is None:
            return (f"{label} illisible (colonne « {_column_of(fmap.get(target), target)} » : « {raw} ») : "
                    "une date AAAA-MM-JJ ou JJ/MM/AAAA est attendue")
    return None


CONVERTERS: dict[str, Callable[..., ImportBatch]] = {
    "aides-jeunes": convert_aides_jeunes,
    "aides-velo": convert_aides_velo,
    "mission-transition": convert_mission_transition,
    "aides-territoires": convert_aides_territoires,
}


def load_batches(path: Path, *, kind: str | None = None, mapping: dict | None = None,
                 source: str | None = None) -> list[ImportBatch]:
    """Read a file or a folder into one batch per aid file (the communes reference is handled by the caller)."""
    path = Path(path)
    if not path.exists():
        raise TerritoriaError(f"Chemin introuvable : {path}.", hint="Indiquez un fichier ou un dossier existant.")
    geo = _optional_geo()
    batches = []
    for f in iter_source_files(path):
        if kind in (None, "auto") and detect_kind(f) is None:
            continue
        rows = read_rows(f)
        k = kind if kind not in (None, "auto") else detect_kind(f, rows)
        if k is None:
            continue
        if mapping is not None and kind in (None, "auto"):
            k = "generic"
        if k == "generic":
            src = source or (mapping or {}).get("source") or _slug(f.stem)
            b = convert_generic(rows, geo, source=src, mapping=mapping)
        else:
            b = CONVERTERS[k](rows, geo, source=source or k)
        b.path = f
        if geo is None:
            b.notes.append("Référentiel des communes absent : les noms d'EPCI et de régions n'ont pas pu être "
                           "traduits en codes (ils seront comparés par nom).")
        batches.append(b)
    return batches
