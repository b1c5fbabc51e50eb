"""Structured eligibility: evaluate an aid's conditions against a profile, in three-valued logic.

Each condition is met (True), failed (False) or unknown (None, a fact the profile does not give).
Result: `eligible` (every known condition met, nothing unknown), `to_check` (nothing failed, some facts
unknown → questions to ask), `ineligible` (a condition failed → which one, in French).
A condition that fails only on a fact *inferred* from the need text is "to check", never "ineligible".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from territoria.aids.model import AUDIENCES, FACTS, STATUSES, Aid, format_date_fr, format_euros
from territoria.aids.perimeter import Territory, norm_name

OPS = {
    ">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b,
    "=": lambda a, b: a == b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}

# Questions about one profile fact, to ask once for several aids (conversational mode).
FACT_QUESTIONS = {
    "quotient_familial": "Quel est votre quotient familial CAF (en euros par mois) ?",
    "revenu_fiscal_par_part": "Quel est votre revenu fiscal de référence par part (en euros par an) ?",
    "handicap": "Êtes-vous en situation de handicap ?",
    "rsa": "Êtes-vous bénéficiaire du RSA ?",
    "boursier": "Êtes-vous boursier·e ?",
    "parent": "Avez-vous des enfants à charge ?",
    "microentreprise": "Votre entreprise est-elle une micro-entreprise (auto-entrepreneur) ?",
    "difficultes_logement": "Avez-vous des difficultés pour trouver un logement ou payer vos frais de logement ?",
}

QUESTIONS = {
    "commune": "Dans quelle commune habitez-vous (nom, code postal ou code INSEE) ?",
    "age": "Quel âge avez-vous ?",
    "audience": "Faites-vous cette demande comme particulier, entreprise, association ou collectivité ?",
    "statut": "Quelle est votre situation (lycéen·ne, étudiant·e, apprenti·e, salarié·e, demandeur·se d'emploi…) ?",
    "effectif": "Combien de salariés compte votre structure ?",
    "naf_section": "Quel est le secteur d'activité (code NAF/APE) de votre structure ?",
    "velo": "Quel vélo voulez-vous acheter (électrique, mécanique, cargo, pliant, adapté) ? Neuf ou d'occasion ?",
}

BIKE_KINDS = {"électrique", "mécanique", "cargo", "pliant", "adapté", "motorisation"}
BIKE_STATES = {"neuf", "occasion"}
EXCLUSIVE = [({"électrique"}, {"mécanique"}), ({"neuf"}, {"occasion"})]


@dataclass
class Context:
    profile: dict
    territory: Territory | None
    today: date
    geo: object | None = None
    soft: set[str] = field(default_factory=set)  # keys inferred from free text

    def known(self, key: str):
        return self.profile.get(key)


@dataclass
class Verdict:
    value: bool | None
    met: list[str] = field(default_factory=list)  # conditions met (French, with the profile's value)
    failed: list[str] = field(default_factory=list)  # failed conditions (French)
    questions: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)  # profile keys that would settle unknown conditions
    soft_conflicts: int = 0


@dataclass
class Eligibility:
    status: str  # eligible, to_check, ineligible
    met: list[str]
    failed: list[str]
    questions: list[str]
    checks: list[str]  # free-text conditions of the aid, to read before applying
    missing_facts: list[str]
    soft_conflicts: int = 0

    def to_dict(self) -> dict:
        return {"status": self.status, "met": self.met, "failed": self.failed, "questions": self.questions,
                "checks": self.checks, "missing_facts": self.missing_facts}


# -- labels -------------------------------------------------------------------------------------------

def _age_label(op: str, v) -> str:
    return {">=": f"avoir au moins {v} ans", ">": f"avoir plus de {v} ans", "<=": f"avoir au plus {v} ans",
            "<": f"avoir moins de {v} ans", "=": f"avoir {v} ans", "==": f"avoir {v} ans"}.get(op, f"âge {op} {v}")


def _cmp_words(op: str) -> str:
    return {"<=": "inférieur ou égal à", "<": "inférieur à", ">=": "supérieur ou égal à", ">": "supérieur à",
            "=": "égal à"}.get(op, op)


def territory_phrase(level: str, codes: list[str], names: list[str] | None, geo) -> str:
    if names and not codes:
        return f"habiter le territoire de {', '.join(names)}"
    lab = (lambda c: geo.label(level, c)) if geo is not None else (lambda c: c)
    shown = ", ".join(lab(c) for c in codes[:3]) + (f" (et {len(codes) - 3} autres)" if len(codes) > 3 else "")
    if level == "region":
        return ("habiter la région " if len(codes) == 1 else "habiter l'une des régions ") + shown
    if level == "departement":
        return ("habiter le département " if len(codes) == 1 else "habiter l'un des départements ") + shown
    if level == "epci":
        return "habiter l'intercommunalité " + (shown if codes else ", ".join(names or []))
    if level == "commune":
        return ("habiter la commune " if len(codes) == 1 else "habiter l'une des communes ") + shown
    if level == "postcode":
        return "habiter le code postal " + ", ".join(codes)
    if level == "pays":
        return "résider à " + ", ".join(c.capitalize() for c in codes)
    return "habiter le territoire couvert"


def label_of(node: dict, geo=None) -> str:
    """French phrase for a condition node ("avoir au moins 18 ans", "habiter la région Occitanie"…)."""
    if node.get("label"):
        return node["label"]
    if "all" in node:
        ages = [n for n in node["all"] if n.get("type") == "age"]
        if len(ages) == 2 and len(node["all"]) == 2:
            lo = next((n["value"] for n in ages if n["op"] in (">=", ">")), None)
            hi = next((n["value"] for n in ages if n["op"] in ("<=", "<")), None)
            if lo is not None and hi is not None:
                return f"avoir de {lo} à {hi} ans"
        return " et ".join(label_of(n, geo) for n in node["all"])
    if "any" in node:
        return " ou ".join(label_of(n, geo) for n in node["any"])
    if "not" in node:
        inner = label_of(node["not"], geo)
        return inner[len("ne pas "):] if inner.startswith("ne pas ") else "ne pas " + inner
    t = node.get("type")
    if t == "territory":
        return territory_phrase(node.get("level", ""), node.get("codes") or [], node.get("names"), geo)
    if t == "age":
        return _age_label(node.get("op", ">="), node.get("value"))
    if t == "quotient_familial":
        per = "par an" if node.get("period") == "year" else "par mois"
        return f"avoir un quotient familial {_cmp_words(node.get('op', '<='))} {format_euros(node['value'])} {per}"
    if t == "income_per_part":
        per = "par mois" if node.get("period") == "month" else "par an"
        return (f"avoir un revenu fiscal de référence par part {_cmp_words(node.get('op', '<='))} "
                f"{format_euros(node['value'])} {per}")
    if t == "status":
        vals = [STATUSES.get(v, v) for v in node.get("values") or []]
        return "être " + " ou ".join(vals)
    if t == "fact":
        lab = FACTS.get(node.get("fact"), node.get("fact", "").replace("_", " "))
        return lab if node.get("value", True) else "ne pas " + lab
    if t == "employees":
        v = node.get("value")
        return {">=": f"compter au moins {v} salariés", ">": f"compter plus de {v} salariés",
                "<=": f"compter au plus {v} salariés", "<": f"compter moins de {v} salariés"}.get(
            node.get("op"), f"effectif {node.get('op')} {v}")
    if t == "naf_section":
        from territoria.aids.importers import NAF_SECTIONS

        vals = node.get("values") or []
        if len(vals) > 8:
            excl = [s for s in NAF_SECTIONS if s not in vals]
            return "exercer dans un secteur éligible (tous sauf : " + ", ".join(
                f"{s} {NAF_SECTIONS[s]}" for s in excl) + ")"
        return "exercer dans l'un de ces secteurs : " + ", ".join(f"{s} {NAF_SECTIONS.get(s, '')}".strip()
                                                                  for s in vals)
    if t == "bike":
        from territoria.aids.publicodes import BIKE_LABELS

        vals = node.get("values") or []
        return "acheter un vélo " + " ou ".join(BIKE_LABELS.get(v, v) for v in vals)
    if t == "other":
        return node.get("text") or "condition particulière"
    return str(node)


# -- evaluation ------------------------------------------------------------------------------------------

def _unknown(question: str, fact: str | None = None) -> Verdict:
    return Verdict(None, questions=[question], facts=[fact] if fact else [])


def _soft_or_fail(ctx: Context, key: str, failed: str, question: str) -> Verdict:
    """A failure on an inferred fact becomes a question (with a conflict mark for the ranking)."""
    if key in ctx.soft:
        return Verdict(None, questions=[question], facts=[key], soft_conflicts=1)
    return Verdict(False, failed=[failed])


class _LazyLabel:
    """The French label of a condition, computed only when a message needs it."""

    __slots__ = ("node", "geo", "_v")

    def __init__(self, node: dict, geo):
        self.node, self.geo, self._v = node, geo, None

    def __str__(self) -> str:
        if self._v is None:
            self._v = label_of(self.node, self.geo)
        return self._v

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __getattr__(self, name):  # str methods (startswith, slicing helpers…)
        return getattr(str(self), name)

    def __getitem__(self, item):
        return str(self)[item]

    def __len__(self) -> int:
        return len(str(self))


def _outside_known_area(level: str, codes: set, terr: Territory, geo) -> str | None:
    """With only a département or a région known (no commune), an aid for communes or EPCIs lying wholly
    elsewhere surely fails: 'votre département' / 'votre région' (what the applicant is outside), else None."""
    if geo is None or not codes or level not in ("commune", "communes", "epci", "ept"):
        return None
    members = codes if level in ("commune", "communes") else {m for e in codes for m in geo.epci_members.get(e, [])}
    places = [c for c in (geo.commune(m) for m in members) if c is not None]
    if not places:
        return None
    if terr.departements:
        return None if {c.departement for c in places} & terr.departements else "votre département"
    if terr.regions:
        return None if {c.region for c in places} & terr.regions else "votre région"
    return None


def _eval_atom(node: dict, ctx: Context) -> Verdict:
    t = node.get("type")
    label = _LazyLabel(node, ctx.geo)
    p = ctx.profile
    if t == "territory":
        level, codes = node.get("level"), set(node.get("codes") or [])
        if level in ("national", "europe"):
            return Verdict(True)
        if level == "pays":
            ok = bool(codes & {"france", "fr"})
            if ctx.territory is None and not ok:
                return _unknown(QUESTIONS["commune"], "commune")
            return Verdict(True) if ok else Verdict(False, failed=[f"Condition non remplie : {label}."])
        if level == "unknown":
            who = ", ".join(node.get("names") or []) or "l'organisme"
            return _unknown(f"Votre commune fait-elle partie du territoire couvert par {who} ?", "territoire")
        terr = ctx.territory
        if terr is None:
            return _unknown(QUESTIONS["commune"], "commune")
        have = terr.codes(level)
        if have is None:
            if level == "epci" and not codes and node.get("names") and terr.commune is not None:
                ok = norm_name(terr.commune.epci_name or "") in {norm_name(n) for n in node["names"]}
                return Verdict(True, met=[str(label)]) if ok else Verdict(False, failed=[
                    f"Réservée aux habitants de {', '.join(node['names'])} : {terr.describe()} n'en fait pas partie."])
            outside = _outside_known_area(level, codes, terr, ctx.geo)
            if outside:
                return Verdict(False, failed=[f"Territoire : il faut {label} ; {outside} n'en fait pas partie."])
            return _unknown(QUESTIONS["commune"], "commune")
        if not codes and node.get("names") and level == "epci" and terr.commune is not None:
            ok = norm_name(terr.commune.epci_name or "") in {norm_name(n) for n in node["names"]}
        else:
            ok = bool(have & codes)
        if ok:
            return Verdict(True, met=[str(label)])
        where = terr.commune.name if terr.commune else "votre territoire"
        return Verdict(False, failed=[f"Territoire : il faut {label} ; {where} n'en fait pas partie."])
    if t == "age":
        age = p.get("age")
        if age is None:
            return _unknown(QUESTIONS["age"], "age")
        if OPS.get(node.get("op", ">="), OPS[">="])(float(age), float(node.get("value"))):
            return Verdict(True, met=[f"{label} (vous avez {age} ans)"])
        if node.get("soft"):  # read from the aid's text, not from its structured rules
            return Verdict(None, questions=[f"D'après le texte de l'aide (« {node.get('source_text', '')} »), "
                                            f"il faut {label} ; vous avez {age} ans : vérifiez auprès de l'organisme."],
                           facts=["age"], soft_conflicts=1)
        return _soft_or_fail(ctx, "age", f"Âge : il faut {label} ; vous avez {age} ans.",
                             f"Cette aide demande de {label} : quel âge avez-vous exactement ?")
    if t == "quotient_familial":
        qf = p.get("quotient_familial")
        if qf is None:
            return _unknown(f"Votre quotient familial (CAF) est-il {_cmp_words(node.get('op', '<='))} "
                            f"{format_euros(node['value'])} {'par an' if node.get('period') == 'year' else 'par mois'} ?",
                            "quotient_familial")
        v = float(qf) * (12 if node.get("period") == "year" else 1)
        if OPS[node.get("op", "<=")](v, float(node["value"])):
            return Verdict(True, met=[str(label)])
        return Verdict(False, failed=[f"Ressources : il faut {label} ; votre quotient familial est de "
                                      f"{format_euros(float(qf))} par mois."])
    if t == "income_per_part":
        rpp = p.get("revenu_fiscal_par_part")
        per = "par mois" if node.get("period") == "month" else "par an"
        if rpp is None:
            return _unknown(f"Votre revenu fiscal de référence par part est-il {_cmp_words(node.get('op', '<='))} "
                            f"{format_euros(node['value'])} {per} ?", "revenu_fiscal_par_part")
        v = float(rpp) / (12 if node.get("period") == "month" else 1)
        if OPS[node.get("op", "<=")](v, float(node["value"])):
            return Verdict(True, met=[str(label)])
        return Verdict(False, failed=[f"Ressources : il faut {label} ; le vôtre est de "
                                      f"{format_euros(round(float(rpp)))} par an."])
    if t == "status":
        st = p.get("statut")
        vals = set(node.get("values") or [])
        if st is None:
            opts = " ou ".join(STATUSES.get(v, v) for v in node.get("values") or [])
            return _unknown(f"Êtes-vous {opts} ?", "statut")
        ok = st in vals or (st == "alternant" and "apprenti" in vals) or (st == "apprenti" and "alternant" in vals)
        if ok:
            return Verdict(True, met=[str(label)])
        if node.get("soft"):
            return Verdict(None, questions=[f"D'après son intitulé, cette aide vise les personnes qui sont "
                                            f"{' ou '.join(STATUSES.get(v, v) for v in vals)} : est-ce votre cas ?"],
                           facts=["statut"], soft_conflicts=1)
        return _soft_or_fail(ctx, "statut", f"Situation : il faut {label} ; vous êtes {STATUSES.get(st, st)}.",
                             f"Cette aide demande d'{label[1:] if label.startswith('ê') else label} : est-ce votre cas ?")
    if t == "fact":
        key = node.get("fact")
        want = node.get("value", True)
        have = p.get(key)
        if have is None:
            lab = FACTS.get(key, str(key).replace("_", " "))
            q = {"handicap": "Êtes-vous en situation de handicap ?", "rsa": "Êtes-vous bénéficiaire du RSA ?",
                 "parent": "Avez-vous des enfants à charge ?", "boursier": "Êtes-vous boursier·e ?",
                 "microentreprise": "Votre entreprise est-elle une micro-entreprise (auto-entrepreneur) ?",
                 "difficultes_logement": "Avez-vous des difficultés pour trouver un logement ou payer vos frais "
                                         "de logement ?",
                 "interim": "Travaillez-vous en intérim ?", "sanitaire_social": "Suivez-vous une formation "
                 "sanitaire ou sociale ?", "sans_domicile": "Êtes-vous sans domicile ?",
                 "imposable": "Votre foyer est-il imposable ?"}.get(key, f"Est-ce votre cas : {lab} ?")
            return _unknown(q, key)
        if bool(have) == bool(want):
            return Verdict(True, met=[str(label)])
        return _soft_or_fail(ctx, key, f"Condition non remplie : {label}.", f"Cette aide demande de {label} : "
                             "est-ce votre cas ?")
    if t == "employees":
        n = p.get("effectif")
        if n is None:
            return _unknown(QUESTIONS["effectif"], "effectif")
        if OPS[node.get("op", ">=")](float(n), float(node["value"])):
            return Verdict(True, met=[f"{label} (vous en déclarez {n})"])
        return _soft_or_fail(ctx, "effectif", f"Effectif : il faut {label} ; vous en déclarez {n}.",
                             f"Cette aide demande de {label} : combien de salariés avez-vous exactement ?")
    if t == "naf_section":
        sec = p.get("naf_section")
        if sec is None:
            return _unknown(QUESTIONS["naf_section"], "naf_section")
        if sec in set(node.get("values") or []):
            return Verdict(True, met=["secteur d'activité éligible"])
        return _soft_or_fail(ctx, "naf_section", f"Secteur : il faut {label}.",
                             f"Votre secteur d'activité est-il éligible ({label}) ?")
    if t == "bike":
        return _eval_bike(node, ctx, label)
    if t == "other":
        return _unknown(node.get("question") or f"À vérifier : {node.get('text')}", node.get("fact") or "autre")
    return _unknown(f"À vérifier : {label}", "autre")


def _bike_words(s: str) -> set[str]:
    words = set()
    for w in str(s).replace(",", " ").split():
        w = w.strip().lower()
        if w in BIKE_KINDS | BIKE_STATES:
            words.add(w)
        elif w in ("electrique", "vae"):
            words.add("électrique")
        elif w in ("mecanique",):
            words.add("mécanique")
        elif w in ("adapte",):
            words.add("adapté")
    return words


def _eval_bike(node: dict, ctx: Context, label: str) -> Verdict:
    have = _bike_words(ctx.profile.get("velo") or "")
    if not have:
        return _unknown(QUESTIONS["velo"], "velo")
    alts = []
    for v in node.get("values") or []:
        v = v.replace("électrique simple", "électrique").replace("mécanique simple", "mécanique")
        for part in v.split(" ou "):
            alts.append(_bike_words(part) or {part})
    results = []
    for need in alts:
        if need <= have:
            results.append(True)
        elif any((need & a and have & b) or (need & b and have & a) for a, b in EXCLUSIVE):
            results.append(False)
        else:
            results.append(None)
    if any(r is True for r in results):
        return Verdict(True, met=[str(label)])
    if results and all(r is False for r in results):
        return _soft_or_fail(ctx, "velo", f"Type de vélo : il faut {label}.", f"Cette aide est réservée à l'achat "
                             f"d'un {label[len('acheter un '):]} : est-ce votre projet ?")
    return _unknown(f"Votre projet correspond-il à : {label} ?", "velo")


def evaluate_node(node: dict, ctx: Context) -> Verdict:
    if "all" in node:
        subs = [evaluate_node(n, ctx) for n in node["all"]]
        return _combine_all(subs)
    if "any" in node:
        subs = [evaluate_node(n, ctx) for n in node["any"]]
        if not subs:
            return Verdict(True)
        if any(s.value is True for s in subs):
            best = next(s for s in subs if s.value is True)
            return Verdict(True, met=best.met)
        if all(s.value is False for s in subs):
            labels = " ; ou ".join(label_of(n, ctx.geo) for n in node["any"])
            return Verdict(False, failed=[f"Aucune des situations prévues ne correspond : {labels}."])
        unknown = [(n, s) for n, s in zip(node["any"], subs) if s.value is None]
        facts = sorted({f for _, s in unknown for f in s.facts})
        if len(unknown) == 1:
            s = unknown[0][1]
            return Verdict(None, questions=s.questions, facts=s.facts, soft_conflicts=s.soft_conflicts)
        labels = [label_of(n, ctx.geo) for n, _ in unknown]
        q = "Êtes-vous dans l'une de ces situations : " + " ; ".join(labels[:6]) + ("…" if len(labels) > 6 else "") + " ?"
        if all(n.get("type") == "status" for n, _ in unknown):
            vals = [STATUSES.get(v, v) for n, _ in unknown for v in n.get("values") or []]
            q = "Êtes-vous " + ", ".join(dict.fromkeys(vals)) + " ?"
            q = q.replace(", ", " ou ", 1) if len(vals) == 2 else q
        return Verdict(None, questions=[q], facts=facts, soft_conflicts=min(s.soft_conflicts for _, s in unknown))
    if "not" in node:
        s = evaluate_node(node["not"], ctx)
        lab = node.get("label") or label_of(node, ctx.geo)
        if s.value is True:
            return Verdict(False, failed=[f"Condition non remplie : {lab}."])
        if s.value is False:
            return Verdict(True, met=[lab] if node.get("label") else [])
        neg_q = s.questions
        if node["not"].get("type") == "territory":
            neg_q = [QUESTIONS["commune"]]
        elif node["not"].get("type") == "other":
            neg_q = [node["not"].get("question") or f"À vérifier : {lab}"]
        elif node["not"].get("type") == "fact" and node.get("label"):
            neg_q = [f"Est-ce votre cas : {lab} ?"]
        return Verdict(None, questions=neg_q, facts=s.facts)
    return _eval_atom(node, ctx)


def _combine_all(subs: list[Verdict]) -> Verdict:
    out = Verdict(True)
    for s in subs:
        out.met += s.met
        out.failed += s.failed
        out.questions += s.questions
        out.facts += s.facts
        out.soft_conflicts += s.soft_conflicts
    if any(s.value is False for s in subs):
        out.value = False
    elif any(s.value is None for s in subs):
        out.value = None
    return out


def _audience_verdict(aid: Aid, ctx: Context) -> Verdict:
    auds = set(aid.audiences or [])
    if not auds:
        return Verdict(True)
    who = ctx.profile.get("audience")
    names = ", ".join(AUDIENCES.get(a, a).lower() for a in aid.audiences)
    if who is None:
        if auds == {"particulier"}:
            return Verdict(True)  # the default applicant is a person
        return _unknown(QUESTIONS["audience"], "audience")
    if who in auds:
        return Verdict(True, met=[] if who == "particulier" else [f"s'adresse aux {AUDIENCES.get(who, who).lower()}"])
    if who == "agriculteur" and "entreprise" in auds:
        return Verdict(True, met=["s'adresse aux entreprises (dont exploitations agricoles)"])
    if who == "association" and "entreprise" in auds:
        return Verdict(None, questions=["Ce dispositif vise les entreprises : votre association a-t-elle une "
                                        "activité économique (numéro SIRET, salariés) ?"], facts=["activite_economique"])
    if who in ("commune", "epci", "departement", "region") and "etablissement_public" in auds:
        return Verdict(True, met=["ouvert aux structures publiques"])
    if "audience" in ctx.soft:
        return Verdict(None, questions=[f"Cette aide s'adresse aux {names} : est-ce votre cas ?"], facts=["audience"],
                       soft_conflicts=1)
    return Verdict(False, failed=[f"Public : cette aide s'adresse aux {names} (vous : "
                                  f"{AUDIENCES.get(who, who).lower()})."])


def evaluate(aid: Aid, ctx: Context) -> Eligibility:
    parts = [_audience_verdict(aid, ctx)]
    parts += [evaluate_node(n, ctx) for n in aid.conditions]
    v = _combine_all(parts)
    failed = list(v.failed)
    questions = list(v.questions)
    end = aid.end_date
    if aid.is_expired(ctx.today):
        failed.append(f"L'aide a pris fin le {format_date_fr(end)}.")
    if aid.not_started(ctx.today):
        questions.append(f"L'aide ouvre le {format_date_fr(aid.start_date)} : pourrez-vous attendre cette date ?")
        v.value = None if v.value is not False else False
    if (aid.extra or {}).get("temporarily_unavailable"):
        questions.append("Le dispositif est signalé temporairement indisponible : contactez l'opérateur avant "
                         "de préparer votre dossier.")
        v.value = None if v.value is not False else False
    status = "ineligible" if failed else ("to_check" if v.value is None or questions else "eligible")
    return Eligibility(status=status, met=_dedupe(v.met), failed=_dedupe(failed), questions=_dedupe(questions),
                       checks=list(aid.conditions_text), missing_facts=_dedupe(v.facts),
                       soft_conflicts=v.soft_conflicts)


def _dedupe(xs: list[str]) -> list[str]:
    return list(dict.fromkeys(x for x in xs if x))
