"""A small reader of Publicodes eligibility expressions (as used by aides-velo) into condition nodes.

Not a Publicodes engine: it reads the `applicable si` / `non applicable si` expressions of an aid into the
structured conditions of `model.py` (territory, age, income per part, bike kind, status…); anything it does
not understand becomes an `other` condition, always "to check", with the question the rule itself asks
when the model gives one.
"""

from __future__ import annotations

import re
from typing import Any, Callable

BIKE_LABELS = {
    "électrique": "à assistance électrique", "cargo": "cargo", "adapté": "adapté (handicap)",
    "pliant": "pliant", "mécanique": "mécanique", "motorisation": "kit de motorisation",
    "neuf": "neuf", "occasion": "d'occasion", "cargo électrique": "cargo électrique",
    "électrique simple": "à assistance électrique (hors cargo)", "mécanique simple": "mécanique simple",
    "électrique ou mécanique": "électrique ou mécanique", "pliant électrique": "pliant électrique",
    "pliant mécanique": "pliant mécanique",
}
STATUS_MAP = {"étudiant": "etudiant", "apprenti": "apprenti", "salarié": "salarie", "retraité": "retraite",
              "demandeur d'emploi": "demandeur_emploi", "reconversion": "stagiaire", "lycéen": "lyceen"}


def read_expression(expr: Any, *, sub_rules: dict | None = None,
                    epci_code: Callable[[str], str | None] | None = None) -> dict | None:
    """Condition node for a Publicodes condition expression (None for an empty one)."""
    if expr is None:
        return None
    if isinstance(expr, list):
        nodes = [n for n in (read_expression(e, sub_rules=sub_rules, epci_code=epci_code) for e in expr) if n]
        return {"all": nodes} if len(nodes) != 1 else nodes[0]
    if isinstance(expr, dict):
        if "toutes ces conditions" in expr:
            nodes = [read_expression(e, sub_rules=sub_rules, epci_code=epci_code)
                     for e in expr["toutes ces conditions"]]
            return {"all": [n for n in nodes if n]}
        if "une de ces conditions" in expr:
            nodes = [read_expression(e, sub_rules=sub_rules, epci_code=epci_code)
                     for e in expr["une de ces conditions"]]
            return {"any": [n for n in nodes if n]}
        return {"type": "other", "text": "Condition particulière fixée par la collectivité (voir le site officiel)."}
    return _atom(str(expr).strip(), sub_rules or {}, epci_code)


def _atom(s: str, sub_rules: dict, epci_code) -> dict:
    # Negations written "X = non".
    if s.endswith("= non"):
        inner = _atom(s[: -len("= non")].strip(), sub_rules, epci_code)
        return {"not": inner}
    if s.endswith("= oui"):
        s = s[: -len("= oui")].strip()
    m = re.match(r"^localisation \. (code insee|epci|département|région|pays)\s*=\s*'([^']*)'$", s)
    if m:
        kind, val = m.groups()
        if kind == "code insee":
            return {"type": "territory", "level": "commune", "codes": [val]}
        if kind == "département":
            return {"type": "territory", "level": "departement", "codes": [val]}
        if kind == "région":
            return {"type": "territory", "level": "region", "codes": [val]}
        if kind == "pays":
            return {"type": "territory", "level": "pays", "codes": [val.lower()]}
        code = epci_code(val) if epci_code else None
        node = {"type": "territory", "level": "epci", "codes": [code] if code else [], "names": [val]}
        return node
    if s.startswith("demandeur . âge"):
        rest = s[len("demandeur . âge"):].strip()
        if rest == ". majeur":
            return {"type": "age", "op": ">=", "value": 18, "label": "être majeur(e)"}
        if rest == ". mineur":
            return {"type": "age", "op": "<", "value": 18, "label": "être mineur(e)"}
        m = re.match(r"^\. de (\d+) à (\d+) ans$", rest)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            return {"all": [{"type": "age", "op": ">=", "value": a}, {"type": "age", "op": "<=", "value": b}]}
        m = re.match(r"^(<=|>=|<|>|=)\s*(\d+)\s*ans?$", rest)
        if m:
            return {"type": "age", "op": m.group(1), "value": int(m.group(2))}
    m = re.match(r"^revenu fiscal de référence par part\s*(<=|<)\s*(\d[\d\s]*)\s*€\s*(?:/\s*(an|mois))?$", s)
    if m:
        op, val, per = m.groups()
        return {"type": "income_per_part", "op": op, "value": float(val.replace(" ", "")),
                "period": "month" if per == "mois" else "year"}
    if s.startswith("revenu fiscal de référence"):
        return {"type": "other", "fact": "revenu", "text": "Plafond de ressources (revenu fiscal de référence) "
                "fixé par la collectivité.",
                "question": "Vos revenus sont-ils sous le plafond de ressources fixé par cette aide ?"}
    m = re.match(r"^vélo \. (?:état \. )?(.+)$", s)
    if m and not s.startswith("vélo . prix"):
        kind = m.group(1).strip()
        return {"type": "bike", "values": [kind], "label": f"vélo {BIKE_LABELS.get(kind, kind)}"}
    m = re.match(r"^vélo \. prix(?: \. HT)?\s*(<=|>=|<|>)\s*(\d+)\s*€$", s)
    if m:
        op, val = m.groups()
        word = {"<=": "au plus", "<": "moins de", ">=": "au moins", ">": "plus de"}[op]
        return {"type": "other", "fact": "prix_velo", "text": f"Prix du vélo : {word} {val} €.",
                "question": f"Le prix du vélo est-il de {word} {val} € ?"}
    if s == "demandeur . en situation de handicap":
        return {"type": "fact", "fact": "handicap", "value": True}
    m = re.match(r"^demandeur \. statut \. (.+)$", s)
    if m:
        st = STATUS_MAP.get(m.group(1).strip())
        if st:
            return {"type": "status", "values": [st]}
        return {"type": "other", "text": f"Statut : {m.group(1)}.", "question": f"Êtes-vous {m.group(1)} ?"}
    if s.startswith("demandeur . bénéficiaire"):
        return {"type": "other", "text": "Être bénéficiaire d'une prestation sociale désignée par l'aide.",
                "question": "Percevez-vous la prestation sociale demandée par cette aide ?"}
    if s.startswith("foyer . imposable"):
        return {"type": "fact", "fact": "imposable", "value": True, "label": "foyer imposable"}
    if s.startswith("aides . ") or (not sub_rules.get(s) and " . " not in s and re.match(r"^[a-zà-ÿ' -]+$", s)
                                    and _looks_like_aid_name(s)):
        name = s.replace("aides . ", "").split(" >")[0].split(" <")[0].strip()
        return {"type": "other", "fact": "cumul", "text": f"Non cumulable ou lié à l'aide « {name} ».",
                "question": f"Bénéficiez-vous déjà de l'aide « {name} » ?"}
    sub = sub_rules.get(s) or {}
    question = (sub.get("question") or "").strip() if isinstance(sub, dict) else ""
    text = s[0].upper() + s[1:] if s else s
    return {"type": "other", "text": text + ".", "question": question or f"Condition à vérifier : {s} ?"}


def _looks_like_aid_name(s: str) -> bool:
    # Bare references to other aids of the model (e.g. "occitanie bonus forfait mobilité durable").
    return any(w in s for w in ("bonus", "prime", "aide", "chèque", "forfait mobilité"))
