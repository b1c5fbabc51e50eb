"""The aid finder: the schemes an applicant can claim for a need, ranked, with reasons and questions.

    find_aids(profile, need, k=10, include_ineligible=False) -> list[dict]
    missing_profile_questions(profile, need) -> list[str]

Pipeline (no LLM, a few tens of milliseconds once the catalogue index is loaded):
1. Profile: keys normalised; facts stated in the need ("j'ai 19 ans, apprenti") fill the gaps (as inferred
   facts); the commune is resolved to its EPCI, département and région (`perimeter.py`).
2. Eligibility of every aid from its structured conditions (`eligibility.py`): ineligible aids are
   dropped (kept only with `include_ineligible`), ended aids are dropped.
3. Need relevance, hybrid: French BM25 over rich aid text (name, themes, institution, description,
   conditions) with the need expanded by a small everyday→administrative lexicon, plus dense e5-small
   similarity between the need and each aid (vectors cached in the catalogue, keyed by text hash).
4. Ranking: relevance × (1 + perimeter specificity bonus) + eligibility bonus; without a need, smallest
   perimeter then nearest deadline (the Aides-territoires order).
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from scipy import sparse

from territoria.aids.eligibility import QUESTIONS, Context, Eligibility, evaluate
from territoria.aids.lexicon import expansions
from territoria.aids.model import AID_TYPES, AUDIENCES, PERIODICITY_FR, Aid, format_date_fr, parse_date
from territoria.aids.perimeter import LEVEL_LABELS_FR, SPECIFICITY, GeoDataMissing, load_geo, norm_name
from territoria.aids.profile import applicant_words, extract_facts, merge_inferred, normalize_profile
from territoria.aids.store import AidStore, catalogue_dir, text_hash
from territoria.core.errors import TerritoriaError
from territoria.core.settings import get_settings
from territoria.search.bm25 import BM25Index
from territoria.search.text import analyze, raw_tokens

DENSE_MODEL = "e5-small"
DENSE_TEXT_CHARS = 600


@dataclass
class Weights:
    """Ranking weights (measured on the dev cases and our own cases, see bench/aids_eval.py)."""

    bm25: float = 0.05  # BM25 over the whole aid text (name, themes, institution, description, conditions)
    bm25_title: float = 0.45  # BM25 over name + themes + keywords (idf of the whole texts)
    dense: float = 0.5  # e5-small similarity between the need and the aid's name + description
    expansion: float = 0.6  # weight of lexicon words relative to the user's own words
    applicant_words: float = 0.4  # weight of words describing the applicant ("je suis lycéen") vs the need
    dense_expand: bool = True  # the dense query also sees the lexicon's administrative words
    fusion: str = "gated"  # "linear" or "gated" (dense weighted by lexical agreement)
    dense_floor: float = 0.3  # share of the dense score kept where no word matches
    specificity: float = 0.06  # relative bonus per level of perimeter specificity (commune 5 … national 1)
    eligible_bonus: float = 0.05  # relative bonus when every condition is known to be met
    soft_conflict_penalty: float = 0.25  # per condition contradicted by a fact read from the text
    unknown_territory_penalty: float = 0.15  # aid whose territory the data does not give
    min_relative_relevance: float = 0.25  # results below this share of the best relevance are dropped


WEIGHTS = Weights()


# -- the index of a catalogue -------------------------------------------------------------------------

def lexical_text(a: Aid) -> str:
    parts = [a.name, a.name, a.name]
    tk = " ; ".join(a.themes + a.keywords)
    if tk:
        parts += [tk, tk]
    if a.institution:
        parts.append(a.institution)
    parts.append(a.description)
    parts += a.conditions_text
    types = " ".join(AID_TYPES.get(t, t) for t in a.aid_types)
    if types:
        parts.append(types)
    return "\n".join(p for p in parts if p)


def title_text(a: Aid) -> str:
    return " ; ".join([a.name] + a.themes + a.keywords)


def dense_text(a: Aid) -> str:
    desc = a.description[:DENSE_TEXT_CHARS]
    extra = ", ".join(a.themes[:4])
    return f"{a.name}. {extra + '. ' if extra else ''}{desc}"


class AidIndex:
    def __init__(self, aids: list[Aid], vectors: np.ndarray | None):
        self.aids = aids
        self.by_id = {a.id: i for i, a in enumerate(aids)}
        self.bm25 = BM25Index().fit([analyze(lexical_text(a)) for a in aids])
        self.bm25_title = BM25Index(b=0.3).fit([analyze(title_text(a)) for a in aids])
        _body_idf(self.bm25_title, self.bm25)
        self.vectors = vectors  # (n, dim) float32 or None
        self.specificity = np.array([SPECIFICITY.get((a.perimeter or {}).get("level", "unknown"), 0)
                                     for a in aids], dtype=np.float32)
        self.end_dates = [parse_date(a.end_date) for a in aids]
        # Top-level territory conditions, checked with set operations before the full evaluation.
        self.gates = [[(n.get("level"), frozenset(n.get("codes") or []), tuple(n.get("names") or []))
                       for n in a.conditions if n.get("type") == "territory"] for a in aids]

    def territory_ok(self, i: int, terr) -> bool:
        """False when a top-level territory condition surely fails for this territory."""
        for level, codes, names in self.gates[i]:
            if level in ("national", "europe", "unknown"):
                continue
            if level == "pays":
                if not codes & {"france", "fr"}:
                    return False
                continue
            if terr is None:
                continue
            have = terr.codes(level)
            if have is None:
                continue
            if codes:
                if not have & codes:
                    return False
            elif names and level == "epci" and terr.commune is not None:
                if norm_name(terr.commune.epci_name or "") not in {norm_name(x) for x in names}:
                    return False
        return True

    def __len__(self) -> int:
        return len(self.aids)


def _body_idf(title: BM25Index, body: BM25Index) -> None:
    """Give the title index the idf of the full texts: how informative a word is is measured on the whole
    catalogue ("jeune" is in few titles but in most aides-jeunes texts, so it should not weigh much)."""
    if title.matrix is None or body.matrix is None or title.n_docs == 0:
        return
    n = body.n_docs
    df_body = np.diff(body.matrix.indptr).astype(np.float32)  # csc: non-zeros per term column
    df_title = np.diff(title.matrix.indptr).astype(np.float32)
    idf_b = np.log(1.0 + (n - df_body + 0.5) / (df_body + 0.5))
    idf_t = np.log(1.0 + (n - df_title + 0.5) / (df_title + 0.5))
    scale = np.ones(len(title.vocab), dtype=np.float32)
    for term, j in title.vocab.items():
        jb = body.vocab.get(term)
        if jb is not None and idf_t[j] > 0:
            scale[j] = idf_b[jb] / idf_t[j]
    title.matrix = (title.matrix @ sparse.diags(scale)).tocsc()


_cache_lock = threading.Lock()
_index_cache: dict[tuple, AidIndex] = {}


def ensure_vectors(store: AidStore, aids: list[Aid], *, embed_missing: bool = True,
                   on_progress=None) -> np.ndarray | None:
    """Dense vectors for these aids, from the cache in the catalogue; missing ones are computed."""
    texts = [dense_text(a) for a in aids]
    hashes = [text_hash(t) for t in texts]
    have = store.get_vectors(hashes, DENSE_MODEL)
    missing = [(h, t) for h, t in dict(zip(hashes, texts)).items() if h not in have]
    if missing and embed_missing:
        emb = query_embedder()
        for i in range(0, len(missing), 32):
            batch = missing[i:i + 32]
            vecs = emb.embed_passages([t for _, t in batch])
            new = {h: v for (h, _), v in zip(batch, vecs)}
            store.put_vectors(new, DENSE_MODEL)
            have.update(new)
            if on_progress:
                on_progress(len(batch))
    if not aids or any(h not in have for h in hashes):
        return None
    return np.vstack([have[h] for h in hashes]).astype(np.float32)


def get_index(*, settings=None, tenant: str | None = None, embed_missing: bool = True) -> AidIndex:
    settings = settings or get_settings()
    tenant = tenant or settings.tenant
    if not AidStore.exists(settings, tenant):
        raise empty_catalogue_error()
    store = AidStore.open(settings, tenant)
    try:
        key = (str(catalogue_dir(settings, tenant).resolve()), store.version())
        with _cache_lock:
            idx = _index_cache.get(key)
        if idx is not None:
            return idx
        aids = store.load_all()
        if not aids:
            raise empty_catalogue_error()
        vecs = ensure_vectors(store, aids, embed_missing=embed_missing)
        idx = AidIndex(aids, vecs)
        with _cache_lock:
            _index_cache.clear()
            _index_cache[key] = idx
        return idx
    finally:
        store.close()


def empty_catalogue_error() -> TerritoriaError:
    return TerritoriaError(
        "Aucune aide n'est importée dans ce dossier de données.",
        hint="Importez d'abord un catalogue : `territoria aids import CHEMIN` (par ex. le dossier "
             "data/aids des données partagées, un export CSV/JSON de votre région ou un export Aides-territoires).")


_embedder_lock = threading.Lock()


def query_embedder():
    """The e5-small embedder. OpenMP threads wait passively: on a busy machine, spinning threads make a
    single query take seconds instead of ~20 ms (measured on 2 shared cores)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from territoria.models.embeddings import get_embedder

    with _embedder_lock:
        return get_embedder(DENSE_MODEL)


# -- relevance ------------------------------------------------------------------------------------------------

# Words of a need that say nothing about its topic ("je voudrais", "sans", "trop cher"…).
QUERY_NOISE = frozenset(analyze(
    "veux voudrais voudrait aimerais aimerait souhaite souhaiterais souhaitons voulons aimerions besoin aller "
    "sans avec trop cher chère chers chères coûte coûtent coûter coût beaucoup moyens arrive arriver galère "
    "galérer mois jour jours tous toutes fois pouvoir pourrais possible quelque chose trouver savoir cherche "
    "chercher comment quoi quel quelle svp merci bonjour petit petite grand grande gros vraiment plein aide "
    "aides aider"))


def need_terms(need: str, w: Weights) -> tuple[list[str], list[float], list[str]]:
    """BM25 query terms and weights: the user's words (noise words dropped, words about the applicant
    down-weighted), then the lexicon's administrative words; also returns the expansions used."""
    own = [t for t in analyze(need) if t not in QUERY_NOISE] or analyze(need)
    phrases = applicant_words(need)
    about_applicant = {t for phrase in phrases for t in analyze(phrase)}
    stripped = _strip_phrases(need, phrases)
    exp = expansions(stripped) if stripped.strip() else expansions(need)
    topical = [t for t in own if t not in about_applicant]
    terms = list(own)
    weights = [1.0 if (t not in about_applicant or not topical) else w.applicant_words for t in own]
    own_set = set(own)
    seen: set[str] = set()
    for phrase in exp:
        for t in analyze(phrase):
            if t not in own_set and t not in seen:
                seen.add(t)
                terms.append(t)
                weights.append(w.expansion)
    return terms, weights, exp


DENSE_QUERY_CHARS = 240
DENSE_EXPANSION_WORDS = 6


def _strip_phrases(text: str, phrases: list[str]) -> str:
    from territoria.aids.model import norm_key

    t = " " + norm_key(text.replace("'", " ").replace("’", " ")) + " "
    for p in phrases:
        t = t.replace(p, " ")
    return t


def dense_query(need: str, w: Weights) -> str:
    """The text embedded for the need: the need itself (capped: embedding time grows with length) and,
    optionally, a few distinct administrative words from the lexicon."""
    q = need.strip()[:DENSE_QUERY_CHARS]
    if not w.dense_expand:
        return q
    seen: set[str] = {t.lower() for t in raw_tokens(q)}
    words: list[str] = []
    _, _, exp = need_terms(need, w)
    for phrase in exp:
        for word in phrase.split():
            key = word.lower()
            if key not in seen and len(word) > 2:
                seen.add(key)
                words.append(word)
    words = words[:DENSE_EXPANSION_WORDS]
    return f"{q} ({' '.join(words)})" if words else q


_qvec_lock = threading.Lock()
_qvec_cache: "dict[str, np.ndarray]" = {}
QVEC_CACHE_SIZE = 2048


QVEC_CACHE_ENABLED = True


def clear_need_cache() -> None:
    with _qvec_lock:
        _qvec_cache.clear()


def embed_need(text: str) -> np.ndarray:
    """Query vector of a need, with a small in-process cache (the same needs come back often)."""
    with _qvec_lock:
        v = _qvec_cache.get(text) if QVEC_CACHE_ENABLED else None
    if v is not None:
        return v
    v = query_embedder().embed_queries([text])[0]
    with _qvec_lock:
        if len(_qvec_cache) >= QVEC_CACHE_SIZE:
            _qvec_cache.pop(next(iter(_qvec_cache)))
        _qvec_cache[text] = v
    return v


def relevance(index: AidIndex, need: str, w: Weights = WEIGHTS, *, qvec: np.ndarray | None = None,
              cand: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(combined, bm25 normalised, dense normalised) relevance of every aid for the need, in [0, 1].
    Normalised against the best candidate (`cand`: indices of the aids the applicant may claim)."""
    n = len(index)
    terms, weights, _ = need_terms(need, w)
    ref = cand if cand is not None and len(cand) else np.arange(n)

    def norm_bm(ix: BM25Index) -> np.ndarray:
        sc = ix.score_terms(terms, weights) if terms else np.zeros(n, np.float32)
        mx = float(sc[ref].max()) if n else 0.0
        return np.clip(sc / mx, 0, 1) if mx > 0 else np.zeros(n, np.float32)

    bm_n = norm_bm(index.bm25)
    bt_n = norm_bm(index.bm25_title) if w.bm25_title > 0 else np.zeros(n, np.float32)
    de_n = np.zeros(n, np.float32)
    use_dense = index.vectors is not None and w.dense > 0
    if use_dense:
        if qvec is None:
            qvec = embed_need(dense_query(need, w))
        sims = index.vectors @ qvec
        lo = float(np.median(sims))
        hi = float(sims[ref].max())
        de_n = np.clip((sims - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros(n, np.float32)
    lex_tot = w.bm25 + w.bm25_title
    lex = (w.bm25 * bm_n + w.bm25_title * bt_n) / (lex_tot or 1.0)
    if not use_dense:
        return lex, bm_n, de_n
    if w.fusion == "gated":
        # Dense similarity counts fully where the words also match, partly elsewhere: e5-small's scores are
        # close together on short French texts, so alone they would promote off-topic aids.
        de_eff = de_n * (w.dense_floor + (1.0 - w.dense_floor) * lex)
    else:
        de_eff = de_n
    combined = (lex_tot * lex + w.dense * de_eff) / (lex_tot + w.dense)
    return combined, bm_n, de_n


# -- finding ----------------------------------------------------------------------------------------------------

@dataclass
class ProfileState:
    profile: dict
    soft: set[str]
    territory: Any
    geo: Any
    place_message: str | None = None  # when the commune could not be resolved
    place_candidates: list = field(default_factory=list)


def prepare_profile(profile: dict | None, need: str | None) -> ProfileState:
    prof = normalize_profile(profile)
    try:
        geo = load_geo()
    except GeoDataMissing:
        geo = None
    # Facts read from the text are never refused: an implausible one is simply left out.
    inferred = normalize_profile(extract_facts(need, geo), strict=False) if need else {}
    prof, soft = merge_inferred(prof, inferred)
    territory, msg, cands = None, None, []
    if geo is not None:
        res = geo.resolve_profile_commune(prof)
        if res is not None and res.status != "ok":
            msg, cands = res.message, res.candidates
            if "commune" in soft or "code_postal" in soft:  # an inferred place that does not resolve: ignore
                msg, cands = None, []
            prof = {k: v for k, v in prof.items() if k not in ("commune", "code_insee", "code_postal")}
        territory = geo.territory_of_profile(prof)
    elif any(prof.get(k) for k in ("commune", "code_postal")):
        msg = ("Le référentiel des communes n'est pas installé : le territoire de la commune ne peut pas être "
               "vérifié.")
    return ProfileState(prof, soft, territory, geo, msg, cands)


def _today(today: date | str | None) -> date:
    if today is None:
        env = os.environ.get("TERRITORIA_TODAY")
        return parse_date(env) if env else date.today()
    if isinstance(today, date):
        return today
    d = parse_date(today)
    if d is None:  # never fall back silently to today's date: ended aids would be judged on another day
        raise TerritoriaError(f"Date de référence illisible : « {today} ».",
                              hint="Écrivez la date au format AAAA-MM-JJ (ou JJ/MM/AAAA), par exemple 2026-12-02.")
    return d


def rank(index: AidIndex, state: ProfileState, need: str | None, *, k: int = 10, include_ineligible: bool = False,
         today: date | None = None, w: Weights = WEIGHTS, qvec: np.ndarray | None = None
         ) -> list[tuple[int, float, Eligibility, float]]:
    """[(aid index, score, eligibility, relevance)] best first."""
    today = _today(today)
    ctx = Context(profile=state.profile, territory=state.territory, today=today, geo=state.geo, soft=state.soft)
    need = (need or "").strip()
    elig: dict[int, Eligibility] = {}
    cand = []
    terr = state.territory
    for i, a in enumerate(index.aids):
        end = index.end_dates[i]
        expired = end is not None and end < today
        if expired and not include_ineligible:
            continue
        if not index.territory_ok(i, terr) and not include_ineligible:
            continue
        e = evaluate(a, ctx)
        if e.status == "ineligible" and (not include_ineligible or (expired and len(e.failed) == 1)):
            continue
        elig[i] = e
        cand.append(i)
    if not cand:
        return []
    rel = None
    if need:
        ok = np.array([i for i in cand if elig[i].status != "ineligible"] or cand)
        rel, _, _ = relevance(index, need, w, qvec=qvec, cand=ok)
    out = []
    if rel is not None:
        best = max(float(rel[i]) for i in cand)
        for i in cand:
            r = float(rel[i])
            if best > 0 and r < w.min_relative_relevance * best:
                continue
            e = elig[i]
            s = r * (1.0 + w.specificity * float(index.specificity[i]))
            if e.status == "eligible":
                s += w.eligible_bonus * r
            s -= w.soft_conflict_penalty * e.soft_conflicts * r
            if (index.aids[i].perimeter or {}).get("level") == "unknown":
                s -= w.unknown_territory_penalty * r
            if e.status == "ineligible":
                s -= 10.0
            out.append((i, s, e, r))
        out.sort(key=lambda x: -x[1])
    else:
        far = date(9999, 12, 31)
        for i in cand:
            e = elig[i]
            a = index.aids[i]
            s = float(index.specificity[i]) + (0.5 if e.status == "eligible" else 0.0) - (
                10.0 if e.status == "ineligible" else 0.0)
            out.append((i, s, e, 0.0, parse_date(a.end_date) or far))
        out.sort(key=lambda x: (-x[1], x[4], index.aids[x[0]].name))
        out = [(i, s, e, r) for i, s, e, r, _ in out]
    return out[:k]


# -- presenting a result ----------------------------------------------------------------------------------

_SENT = re.compile(r"(?<=[.!?])\s+|\n+")


def cite(aid: Aid, need: str | None, max_chars: int = 240) -> str | None:
    """The sentence of the aid's own text that best matches the need (or its first sentence)."""
    sents = [s.strip() for s in _SENT.split(aid.description or "") if len(s.strip()) > 25]
    if not sents:
        return None
    best = sents[0]
    if need:
        q = set(analyze(need)) | {t for e in expansions(need) for t in analyze(e)}
        scored = [(len(q & set(analyze(s))), -i, s) for i, s in enumerate(sents)]
        top = max(scored)
        if top[0] > 0:
            best = top[2]
    if len(best) > max_chars:
        best = best[: max_chars - 1].rsplit(" ", 1)[0] + "…"
    return best


def perimeter_label(aid: Aid) -> str:
    p = aid.perimeter or {}
    level = p.get("level", "unknown")
    name = p.get("name") or ""
    if level == "national":
        return "France entière"
    if level == "europe":
        return "Union européenne"
    lab = LEVEL_LABELS_FR.get(level, level)
    return f"{lab} : {name}" if name else lab


def amount_text(aid: Aid) -> str | None:
    a = aid.amount or {}
    t = a.get("text")
    if t:
        return t
    return None


def deadline_info(aid: Aid, today: date) -> tuple[str | None, str]:
    d = parse_date(aid.end_date)
    if d is None:
        return None, "Pas de date limite connue (aide permanente ou non précisée)."
    days = (d - today).days
    if days < 0:
        return d.isoformat(), f"Terminée depuis le {format_date_fr(d)}."
    if days <= 31:
        return d.isoformat(), f"Attention : date limite proche, le {format_date_fr(d)} (dans {days} jours)."
    return d.isoformat(), f"Jusqu'au {format_date_fr(d)}."


def build_reasons(aid: Aid, e: Eligibility, state: ProfileState, need: str | None, today: date) -> list[str]:
    reasons = []
    terr = state.territory
    p = aid.perimeter or {}
    who = aid.institution or (aid.financers[0] if aid.financers else None)
    if p.get("level") in ("national", "europe"):
        where = f", donc à {terr.commune.name}" if terr is not None and terr.commune is not None else ""
        reasons.append(f"Aide {'nationale' if p.get('level') == 'national' else 'européenne'}"
                       f"{' proposée par ' + who if who else ''} : ouverte partout en France{where}.")
    elif p.get("level") == "unknown":
        reasons.append(f"Proposée par {who or 'un organisme local'} ; territoire couvert non précisé dans les "
                       "données : à vérifier.")
    elif terr is not None and terr.commune is not None and e.status != "ineligible":
        reasons.append(f"Proposée par {who or 'la collectivité'} ({perimeter_label(aid)}) : "
                       f"{terr.commune.name} en fait partie.")
    else:
        reasons.append(f"Proposée par {who or 'la collectivité'} ({perimeter_label(aid)}).")
    quote = cite(aid, need)
    if quote:
        reasons.append(f"L'aide dit : « {quote} »")
    met = [m for m in e.met if not m.startswith("habiter")]
    if met:
        reasons.append("Conditions remplies : " + " ; ".join(met[:5]) + ".")
    if e.status == "to_check" and e.questions:
        reasons.append(f"À vérifier avant de demander : {len(e.questions)} point(s), voir les questions.")
    if e.status == "ineligible":
        reasons.append("Non éligible : " + " ".join(e.failed))
    amt = amount_text(aid)
    if amt:
        reasons.append(f"Montant : {amt}.".replace("..", "."))
    _, dl = deadline_info(aid, today)
    reasons.append(dl)
    return reasons


def result_dict(index: AidIndex, i: int, score: float, e: Eligibility, rel: float, state: ProfileState,
                need: str | None, today: date) -> dict:
    a = index.aids[i]
    deadline, deadline_text = deadline_info(a, today)
    where = a.apply_url or a.url
    return {
        "id": a.id,
        "name": a.name,
        "eligibility": e.status,
        "score": round(float(score), 4),
        "relevance": round(float(rel), 4),
        "reasons": build_reasons(a, e, state, need, today),
        "questions": e.questions if e.status != "ineligible" else [],
        "missing_facts": e.missing_facts if e.status != "ineligible" else [],
        "failed_conditions": e.failed,
        "conditions_met": e.met,
        "to_verify": e.checks[:8],
        "amount": amount_text(a),
        "amount_max_eur": (a.amount or {}).get("max"),
        "periodicity": PERIODICITY_FR.get(a.periodicity or "", a.periodicity),
        "deadline": deadline,
        "deadline_text": deadline_text,
        "url": a.url,
        "apply_url": a.apply_url,
        "how_to_apply": a.how_to_apply or (f"Faire la demande sur : {where}" if where else None),
        "perimeter": {"level": (a.perimeter or {}).get("level"), "codes": (a.perimeter or {}).get("codes", []),
                      "name": (a.perimeter or {}).get("name"), "label": perimeter_label(a)},
        "institution": a.institution,
        "audiences": [AUDIENCES.get(x, x) for x in a.audiences],
        "aid_types": [AID_TYPES.get(x, x) for x in a.aid_types],
        "source": a.source,
        "attribution": a.attribution,
    }


def find_aids(profile: dict | None, need: str | None = None, k: int = 10, include_ineligible: bool = False, *,
              today: date | str | None = None, weights: Weights | None = None, settings=None,
              tenant: str | None = None) -> list[dict]:
    """Ranked aids for this applicant and need (see module docstring). Each dict has at least: id, name,
    eligibility (eligible / to_check / ineligible), score, reasons, questions, failed_conditions, amount,
    deadline, url, perimeter."""
    index = get_index(settings=settings, tenant=tenant)
    state = prepare_profile(profile, need)
    t = _today(today)
    ranked = rank(index, state, need, k=k, include_ineligible=include_ineligible, today=t,
                  w=weights or WEIGHTS)
    return [result_dict(index, i, s, e, r, state, need, t) for i, s, e, r in ranked]


def find_with_context(profile: dict | None, need: str | None = None, k: int = 10, include_ineligible: bool = False,
                      *, today: date | str | None = None, settings=None, tenant: str | None = None) -> dict:
    """find_aids plus what the caller needs to talk to the applicant: the profile as understood, the
    territory, a message when the commune is unknown or ambiguous, and the questions to ask."""
    t0 = time.perf_counter()
    index = get_index(settings=settings, tenant=tenant)
    state = prepare_profile(profile, need)
    t = _today(today)
    ranked = rank(index, state, need, k=k, include_ineligible=include_ineligible, today=t)
    results = [result_dict(index, i, s, e, r, state, need, t) for i, s, e, r in ranked]
    terr = state.territory
    return {
        "profile": state.profile,
        "inferred": sorted(state.soft),
        "territory": (terr.commune.to_dict() if terr is not None and terr.commune is not None else
                      ({"departements": sorted(terr.departements), "regions": sorted(terr.regions)} if terr else None)),
        "place_message": state.place_message,
        "place_candidates": [c.to_dict() for c in state.place_candidates[:8]],
        "questions": _profile_questions(state, need, results),
        "results": results,
        "elapsed_ms": round((time.perf_counter() - t0) * 1000, 1),
    }


# -- conversational mode: what to ask before answering ------------------------------------------------------

_FACT_QUESTION_ORDER = ["commune", "age", "audience", "statut", "effectif", "naf_section", "velo"]


def _profile_questions(state: ProfileState, need: str | None, results: list[dict] | None) -> list[str]:
    p = state.profile
    qs: list[str] = []
    if state.place_message:
        qs.append(state.place_message)
    elif state.territory is None:
        qs.append(QUESTIONS["commune"])
    aud = p.get("audience")
    if aud is None:
        qs.append(QUESTIONS["audience"])
    if aud in (None, "particulier") and p.get("age") is None:
        qs.append(QUESTIONS["age"])
    if aud in ("entreprise", "association", "agriculteur"):
        if p.get("effectif") is None:
            qs.append(QUESTIONS["effectif"])
        if p.get("naf_section") is None:
            qs.append(QUESTIONS["naf_section"])
    if not (need or "").strip():
        qs.append("Quel est votre besoin ou votre projet, en quelques mots (par ex. « passer mon permis », "
                  "« réduire la facture d'énergie de mon restaurant ») ?")
    # Profile facts that would settle the "to check" conditions of the best results.
    if results:
        from territoria.aids.eligibility import FACT_QUESTIONS

        counts: dict[str, int] = {}
        for r in results[:5]:
            for f in r.get("missing_facts") or []:
                q = QUESTIONS.get(f) or FACT_QUESTIONS.get(f)
                if q and q not in qs:
                    counts[q] = counts.get(q, 0) + 1
        for q, c in sorted(counts.items(), key=lambda x: -x[1])[:3]:
            if c >= 2 or len(qs) < 2:
                qs.append(q)
    return list(dict.fromkeys(qs))


def missing_profile_questions(profile: dict | None, need: str | None = None, *, settings=None,
                              tenant: str | None = None) -> list[str]:
    """Questions (French) to ask the applicant before answering: the missing essentials (commune, age or
    kind of applicant, company size and sector…) and the facts that decide the best candidate aids.
    Empty list = enough to answer."""
    state = prepare_profile(profile, need)
    essentials = _profile_questions(state, need, None)
    if essentials:
        return essentials
    try:
        results = find_aids(profile, need, k=5, settings=settings, tenant=tenant)
    except TerritoriaError:
        return []
    extra = _profile_questions(state, need, results)
    return [q for q in extra if q not in essentials][:3]
