"""What the assistant declines before (or regardless of) looking at documents.

General rules, not keyed to any question set:
- off_topic: creative writing and translation requests (poems, songs, jokes, translations) — not a public
  service question, whatever the documents say;
- opinion: political opinions, personal opinions about the future, forecasts (prices, markets) — a public
  service stays neutral and does not predict;
- personal_data: a request for the contact details or situation of a named third person;
- local (decided with the evidence, see service.py): a question about a named place's local service
  (a rink's hours, a campsite's price, the bin collection in a street) that the documents found do not
  mention;
- after_corpus (with the evidence): a year later than the newest document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from territoria.assistant.grounding import fold, years
from territoria.assistant.places_data import AMBIGUOUS, PLACES

# -- patterns on the folded question (lower case, no accents) -------------------------------------

_CREATIVE = re.compile(
    r"\b(poeme|poesie|haiku|sonnet|chanson|comptine|slam|blague|histoire drole|devinette|conte pour)\b"
    r"|\b(?:ecri\w*|redige\w*|compose\w*|invente\w*)\s+(?:moi\s+|nous\s+)?(?:un|une|des|quelques)\s+"
    r"(?:petite?s?\s+)?(?:poeme|texte d anniversaire|chanson|histoire|blague|discours de mariage|rap|vers)\b"
    r"|\braconte\w*\s+(?:moi\s+|nous\s+)?une\s+(?:histoire|blague)"
)
# A request to translate a text (imperative, "pouvez-vous traduire", "traduire … en anglais"), not a question
# about having a document translated ("traduction officielle d'un acte", "faire traduire un diplôme").
_TRANSLATE = re.compile(
    r"\b(traduis|traduisez|translate)\b"
    r"|\b(?:peux|pouvez|pourriez|pourrais|peut|voudrais|veux)\s+(?:tu\s+|vous\s+|on\s+)?(?:me\s+|nous\s+)?traduire\b"
    r"|\b(?:traduire|traduction)\s+(?:\w+\s+){0,4}?en\s+(?:anglais|allemand|espagnol|italien|portugais|arabe|"
    r"chinois|russe|turc|polonais|roumain|neerlandais|breton|occitan|corse|alsacien|basque|catalan|francais)\b"
)
_TRANSLATE_ADMIN = re.compile(
    r"\b(faire traduire|fait traduire|traducteur\w*|traductrice\w*|assermente\w*|officiel\w*|certifie\w*|"
    r"jure|jures|apostille|legalis\w*|acte|actes|diplome|diplomes|jugement)\b"
)
_OPINION = re.compile(
    r"\b(d\s*apres vous|selon vous|a votre avis|a ton avis|votre avis|ton avis|tu penses|vous pensez|tu crois|"
    r"vous croyez|qu en pensez vous|qu en penses tu|franchement)\b"
)
_POLITICS = re.compile(
    r"\b(parti politique|partis politiques|pour qui voter|quel candidat|quels candidats|meilleur candidat|"
    r"quel parti|la gauche ou la droite|gauche ou droite|extreme droite|extreme gauche)\b"
)
_PREDICT_VERB = re.compile(
    r"\b(?:vont|va|allez|vais|devraient|devrait|risquent|risque)(?:\s+t)?(?:\s+(?:il|ils|elle|elles))?\s+"
    r"(?:encore\s+|bientot\s+)?(?:baisser|augmenter|monter|chuter|remonter|diminuer|grimper|exploser|"
    r"s effondrer|flamber|reculer|progresser|evoluer)\b"
    r"|\b(prevision|previsions|pronostic|pronostics|predire|prediction)\b"
)
_MARKET = re.compile(r"\b(prix|immobilier|bourse|marche|cours|action|actions|bitcoin|crypto\w*|or|taux)\b")
_FUTURE = re.compile(r"\b(an prochain|annee prochaine|prochaines annees|bientot|dans \d+ ans|a l avenir|futur)\b")
_EVALUATIVE = re.compile(r"\b(mieux|meilleur|meilleure|vaut il mieux|faut il attendre|attendre pour|conseill\w*)\b")

_CONTACT = re.compile(
    r"\b(adresse|adresses|numero|numeros|telephone|portable|mobile|mail|e mail|email|courriel|coordonnees|"
    r"ou (?:il|elle) habite|ou habite|domicile|date de naissance|salaire|revenus|compte bancaire)\b"
)
_GIVE = re.compile(r"\b(donne\w*|communique\w*|transmet\w*|trouve\w*|indique\w*|fourni\w*|retrouve\w*)\b")
_THIRD_POSSESSIVE = re.compile(r"\b(sa|son|ses|leur|leurs)\s+(?:nouvelle\s+|nouvel\s+|actuelle?\s+)?"
                               r"(adresse|numero|telephone|portable|coordonnees|mail|domicile)\b")
# "Comment communiquer sa nouvelle adresse à la CAF ?", "où trouver son numéro fiscal ?": after an infinitive,
# sa/son is the asker's own; it names a third person only with a person in the question ("mon ex-mari").
_INFINITIVE = re.compile(r"^\w+(?:er|ir|re)$")
_PERSON = re.compile(
    r"\b(ex|mari|epoux|epouse|femme|conjoint|conjointe|compagnon|compagne|voisin|voisine|voisins|locataire|"
    r"proprietaire|bailleur|pere|mere|frere|soeur|fils|fille|cousin|cousine|oncle|tante|ami|amie|collegue|"
    r"patron|employe|salarie|debiteur|personne|quelqu un|monsieur|madame)\b"
)

# Capitalised words that begin institution names, not people ("Caisse d'allocations familiales"…).
_INSTITUTION = {
    "caisse", "banque", "france", "pole", "emploi", "securite", "sociale", "tresor", "public", "mairie",
    "prefecture", "service", "services", "assurance", "maladie", "retraite", "agence", "office", "centre",
    "chambre", "conseil", "tribunal", "maison", "direction", "ministere", "caf", "cpam", "urssaf", "ants",
    "impots", "finances", "education", "nationale", "etat", "republique", "union", "europe", "europeenne",
    "croix", "rouge", "saint", "sainte", "rue", "avenue", "boulevard", "place", "bonjour", "madame", "monsieur",
    "merci", "cordialement", "je", "nous", "mon", "ma", "mes", "le", "la", "les", "un", "une", "est", "pourriez",
    "pouvez", "pourrais", "peux", "quel", "quelle", "quand", "comment", "combien", "ou", "qui", "que", "mes",
    "metropole", "info", "pro", "allo",
}
# A name right after one of these words names a street or a building ("Collège Jean Moulin"), not a person.
_NAMED_AFTER = re.compile(
    r"\b(rue|avenue|boulevard|place|quai|allee|impasse|chemin|route|square|cours|ecole|college|lycee|groupe scolaire|"
    r"mediatheque|bibliotheque|stade|gymnase|salle|piscine|hopital|clinique|centre|espace|maison|residence|"
    r"parc|jardin|theatre|musee|institut|universite|foyer|creche|pont|halle|complexe|cite)"
    r"(?:\s+(?:primaire|maternelle|elementaire|municipale?|hospitalier|sportif|culturel|social|des fetes))?\s*$"
)
_CIVILITY = re.compile(r"\b(?:M\.|Mme|Mlle|Monsieur|Madame|Mademoiselle|Me|Maître|Docteur|Dr)\s+[A-ZÀ-Ý][\w'-]+")
_NAME_PAIR = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-ZÀ-Ý][a-zà-ÿ]+(?:-[A-ZÀ-Ý][a-zà-ÿ]+)?)\s+([A-ZÀ-Ý][a-zà-ÿ]+|[A-Z]{2,})\b")

# Local services and events of a commune: what national documents do not hold.
_LOCAL_CUE = re.compile(
    r"\b(piscine|patinoire|skate ?park|skate|gymnase|stade|salle des fetes|salle polyvalente|mediatheque|"
    r"bibliotheque|ludotheque|conservatoire|ecole de musique|musee|camping|festival|fete|fetes|concert|"
    r"concerts|spectacle|brocante|vide grenier|feu d artifice|carnaval|dechetterie|decheterie|encombrants|"
    r"ramassage|collecte|poubelle|poubelles|bac jaune|ordures|cantine|menu|centre de loisirs|centre aere|"
    r"parking|horaire|horaires|a quelle heure|ouvre|ouvert|ferme|programme|office de tourisme|marche de noel|"
    r"jour de marche|quartier)\b"
)


@dataclass
class Screen:
    """What the question itself says, before any retrieval."""

    reason: str | None = None  # off_topic | opinion | personal_data | None
    places: list[str] = field(default_factory=list)  # place names (folded) mentioned in the question
    years: set[int] = field(default_factory=set)
    local_cue: bool = False
    detail: str = ""


def _folded_words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9]+", " ", fold(text)).split()


def find_places(question: str) -> list[str]:
    """Place names (communes ≥ 2,000 inhabitants, départements, régions) named in the question."""
    words = _folded_words(question)
    found: list[str] = []
    i = 0
    while i < len(words):
        for n in range(min(5, len(words) - i), 0, -1):
            cand = " ".join(words[i:i + n])
            if cand in PLACES or (cand in AMBIGUOUS and _capitalised(question, cand)):
                found.append(cand)
                i += n - 1
                break
        i += 1
    return found


def _capitalised(question: str, folded_name: str) -> bool:
    """An ambiguous name (Paris, Tours, Cannes…) counts only when written with a capital, mid-sentence."""
    first = folded_name.split()[0]
    for m in re.finditer(r"(?<![.!?]\s)(?<!^)\b([A-ZÀ-Ý][\w'-]*)", question):
        if fold(m.group(1)).split("-")[0].split("'")[-1] == first:
            return True
    return False


def _named_person(question: str) -> bool:
    if _CIVILITY.search(question):
        return True
    for m in _NAME_PAIR.finditer(question):
        # folded words, hyphens as spaces, as in PLACES ("Saint-Étienne" -> "saint etienne")
        a, b = " ".join(_folded_words(m.group(1))), " ".join(_folded_words(m.group(2)))
        if a in _INSTITUTION or b in _INSTITUTION:
            continue
        if a in PLACES or b in PLACES or f"{a} {b}" in PLACES:
            continue
        if _NAMED_AFTER.search(a) or _NAMED_AFTER.search(" ".join(_folded_words(question[:m.start()]))):
            continue
        return True
    return False


def _third_person_possessive(f: str) -> bool:
    """'Donnez-moi son adresse' (asked of the assistant), or 'comment trouver son adresse' about a person."""
    if not _THIRD_POSSESSIVE.search(f):
        return False
    verbs = [(m.group(0), f[:m.start()].split()[-1:]) for m in _GIVE.finditer(f)]
    if not verbs:
        return False
    addressed = any((before == ["me"] or before == ["nous"] or before == ["m"]) if _INFINITIVE.match(v)
                    else before != ["se"]  # "l'école se trouve" is not a request
                    for v, before in verbs)
    return addressed or bool(_PERSON.search(f))


def screen(question: str) -> Screen:
    f = " ".join(_folded_words(question))
    s = Screen(places=find_places(question), years=years(question), local_cue=bool(_LOCAL_CUE.search(f)))
    if _CREATIVE.search(f) or (_TRANSLATE.search(f) and not _TRANSLATE_ADMIN.search(f)):
        s.reason, s.detail = "off_topic", "creative or translation request"
    elif _POLITICS.search(f):
        s.reason, s.detail = "opinion", "political opinion"
    elif _OPINION.search(f) and (_PREDICT_VERB.search(f) or _EVALUATIVE.search(f)):
        s.reason, s.detail = "opinion", "opinion or forecast"
    elif _PREDICT_VERB.search(f) and _MARKET.search(f) and (_FUTURE.search(f) or _OPINION.search(f)):
        s.reason, s.detail = "opinion", "market forecast"
    elif _CONTACT.search(f) and (_named_person(question) or _third_person_possessive(f)):
        s.reason, s.detail = "personal_data", "personal data of a third person"
    return s
