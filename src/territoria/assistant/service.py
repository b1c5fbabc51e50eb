"""The grounded assistant: question → (rewrite) → policy → retrieval → evidence → LLM → checked, cited answer.

This is the single entry point used by the CLI (`territoria ask`), the REST API (`/api/ask`) and the
OpenAI-compatible API (`/v1/chat/completions`); every answer is written to the trust layer's audit log.

Steps:
1. follow-up questions of a conversation are rewritten into a standalone question (LLM, short prompt);
2. requests a public service declines (creative/translation tasks, opinions and forecasts, a third
   person's personal data) are answered with a French refusal, without retrieval;
3. hybrid search, then evidence signals (assistant/evidence.py); too little evidence, a named place the
   documents do not mention, or a year later than the documents → abstention;
4. the model gets 2–3 short excerpts and writes the answer; each sentence is checked against the
   passages as soon as it is complete (support, numbers) and streamed with its citation; sentences that
   fail are dropped, and when nothing survives the answer quotes the best passage (extractive);
5. energy is estimated from CPU time (and the remote server's tokens), see `energy_wh`.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from territoria.assistant import prompts
from territoria.assistant.evidence import Evidence, gather
from territoria.assistant.grounding import (
    Passage, SentenceStream, check_sentence, fold, numbers, split_sentences, terms,
)
from territoria.assistant.policy import screen
from territoria.core.errors import TerritoriaError
from territoria.core.settings import get_settings
from territoria.core.types import MAX_QUERY_CHARS

log = logging.getLogger("territoria.assistant")

MAX_QUESTION_CHARS = MAX_QUERY_CHARS  # what search accepts
MAX_TOKENS = int(os.environ.get("TERRITORIA_LLM_MAX_TOKENS", "180"))
SEARCH_K = 8
# When no sentence of the model passes the checks, the answer quotes the first passage, except when the
# model refused or stated figures absent from the passages while the evidence is below this level: then
# it abstains ("model_check"). The 1.5B model refuses some answerable questions (MODELS.md §2) and often
# words a right answer too loosely for the support check, hence the quote in the other cases.
CONFIDENT_EVIDENCE = 0.0

EventCallback = Callable[[dict], None]


# -- result types ---------------------------------------------------------------------------------

@dataclass
class Citation:
    n: int
    doc_id: str
    title: str
    url: str | None
    section: str
    page: int | None
    quote: str
    chunk_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "doc_id": self.doc_id, "title": self.title, "url": self.url, "section": self.section,
                "page": self.page, "quote": self.quote, "chunk_id": self.chunk_id}


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    model: str = ""
    energy_wh: float = 0.0
    mode: str = "generated"  # generated | extractive | abstained
    reason: str | None = None  # why it abstained
    tenant: str = ""
    backend: str = ""
    prompt_version: str = prompts.PROMPT_VERSION
    conversation_id: str | None = None
    search_query: str | None = None  # the question as used for retrieval (rewritten for follow-ups)
    evidence: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # for whoever reads the answer
    notes: list[str] = field(default_factory=list)  # for the operator only (CLI, agent API, audit log)
    usage: dict[str, Any] = field(default_factory=dict)
    retrieved: list[str] = field(default_factory=list)  # doc ids returned by the search (audit log)
    audit_id: int | None = None  # seq of this answer's row in the audit log

    def to_dict(self) -> dict[str, Any]:
        return {
            "audit_id": self.audit_id, "answer": self.answer, "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "latency_ms": self.latency_ms, "model": self.model, "energy_wh": self.energy_wh,
            "mode": self.mode, "reason": self.reason, "question": self.question, "search_query": self.search_query,
            "conversation_id": self.conversation_id, "tenant": self.tenant, "backend": self.backend,
            "prompt_version": self.prompt_version, "evidence": self.evidence, "warnings": self.warnings,
            "notes": self.notes,
            "usage": self.usage,
        }


# -- audit log (trust layer) --------------------------------------------------------------------

def _audit(ans: Answer, caller=None) -> None:
    """One hash-chained audit row per answer (AI Act art. 12) and the tokens counted against the quotas.
    The question is kept, or only its keyed hash when anonymisation is on (trust/audit.py)."""
    from territoria.trust import audit, principal, quotas

    cited = [c.doc_id for c in ans.citations]
    log.info("answer tenant=%s prompt=%s model=%s mode=%s reason=%s docs=%s total_ms=%s",
             ans.tenant, ans.prompt_version, ans.model, ans.mode, ans.reason, cited, ans.latency_ms.get("total"))
    caller = caller or principal.current()
    row = audit.record(
        "assistant.answer", tenant=ans.tenant, input=ans.question, actor=caller.actor if caller else None,
        model=ans.model or None, prompt_version=ans.prompt_version,
        retrieved=[d for d in dict.fromkeys([*ans.retrieved, *cited]) if d],
        output={"answer": ans.answer, "abstained": ans.abstained, "reason": ans.reason, "mode": ans.mode,
                "citations": cited},
        latency_ms=ans.latency_ms.get("total"), energy_wh=ans.energy_wh,
        extra={"backend": ans.backend, "conversation_id": ans.conversation_id, "notes": ans.notes or None,
               "tokens": {k: ans.usage.get(k) for k in ("prompt_tokens", "completion_tokens")}})
    ans.audit_id = row["seq"]
    tokens = int(ans.usage.get("prompt_tokens") or 0) + int(ans.usage.get("completion_tokens") or 0)
    quotas.record_tokens(caller, ans.tenant, tokens)


# -- energy ---------------------------------------------------------------------------------------

def cpu_watts_per_core() -> float:
    """Power drawn by one fully busy core, in watts (TERRITORIA_CPU_WATTS_PER_CORE, default 10 W).

    10 W is a middle figure for current x86 server and desktop cores under load (package power divided by
    cores); set the value measured on your own hardware (e.g. with RAPL / powertop).
    """
    return float(os.environ.get("TERRITORIA_CPU_WATTS_PER_CORE", "10"))


def remote_wh_per_token() -> float:
    """Energy per token processed by a remote OpenAI-compatible server (TERRITORIA_REMOTE_WH_PER_TOKEN).

    Default 0.0003 Wh/token: an order of magnitude for a 7–13B model served on a GPU with batching
    (published estimates range 0.0001–0.001). Set it from your provider's figures.
    """
    return float(os.environ.get("TERRITORIA_REMOTE_WH_PER_TOKEN", "0.0003"))


def energy_wh(cpu_s: float, remote_tokens: int = 0) -> float:
    return round(cpu_s * cpu_watts_per_core() / 3600.0 + remote_tokens * remote_wh_per_token(), 6)


# -- corpus facts ---------------------------------------------------------------------------------

_latest_cache: dict[tuple, int | None] = {}


def corpus_latest_year(tenant: str | None = None) -> int | None:
    """Year of the newest dated document of the tenant (None when no document has a date)."""
    from territoria.store import get_store

    settings = get_settings()
    tenant = tenant or settings.tenant
    store = get_store(settings)
    key = (str(settings.db_path), tenant, store.scope_version(tenant))
    if key not in _latest_cache:
        ys = [int(d[:4]) for _, _, _, _, d, _ in store.doc_filters(store.scope(tenant)) if d and d[:4].isdigit()]
        _latest_cache[key] = max(ys) if ys else None
    return _latest_cache[key]


# -- conversation rewrite -----------------------------------------------------------------------

_ANAPHORA = re.compile(
    r"^(et|mais|alors|donc|aussi|ok|d'accord|dans ce cas|et si|et pour|et quand|et comment|et combien)\b"
    r"|\b(il|elle|ils|elles|ça|ca|cela|celui|celle|ceux|celles|ce|cette|ces|le même|la même|y|en)\b",
    re.IGNORECASE,
)


def needs_rewrite(question: str) -> bool:
    words = [w for w in re.findall(r"\w+", question)]
    return len(terms(question)) < 5 or bool(_ANAPHORA.search(question.strip())) and len(words) < 25


def rewrite_question(question: str, history: list[dict], llm=None, backend: str | None = None) -> str:
    """A standalone version of a follow-up question, for retrieval. Falls back to history + question."""
    if not history or not needs_rewrite(question):
        return question
    last = history[-2:]
    lines = []
    for t in last:
        lines.append(f"Usager : {(t.get('search_query') or t.get('question') or '')[:500]}")  # a bounded prompt
        ans = (t.get("answer") or "").strip()
        if ans:
            lines.append("Assistant : " + re.sub(r"\s*\[\d+\]", "", split_sentences(ans)[0] if ans else "")[:240])
    previous = last[-1].get('search_query') or last[-1].get('question') or ""
    fallback = f"{previous[:max(0, MAX_QUESTION_CHARS - len(question) - 1)]} {question}".strip()  # search's limit
    try:
        from territoria.models.llm import get_llm

        llm = llm or get_llm(backend)
        comp = llm.generate([
            {"role": "system", "content": prompts.REWRITE_SYSTEM},
            {"role": "user", "content": prompts.REWRITE_USER.format(history="\n".join(lines), question=question)},
        ], max_tokens=60, temperature=0.0)
        out = comp.text.strip().splitlines()[0].strip().strip("«»\"' ") if comp.text.strip() else ""
    except TerritoriaError:
        raise
    except Exception:
        out = ""
    q_terms, h_terms = terms(question), terms(" ".join(lines))
    o_terms = terms(out)
    # accept the rewrite when it is a plausible question about the same subject
    if out and 8 <= len(out) <= 400 and (o_terms & h_terms) and (not q_terms or o_terms & q_terms or len(q_terms) <= 2):
        return out
    return fallback


# -- optional reformulation for retrieval ------------------------------------------------------

def reformulate_enabled() -> bool:
    return os.environ.get("TERRITORIA_ASSISTANT_REFORMULATE", "0").lower() in ("1", "true", "oui", "yes")


def reformulate(question: str, llm) -> str | None:
    """The question in administrative words (one short model call), or None if the output is unusable."""
    try:
        comp = llm.generate([{"role": "system", "content": prompts.SEARCH_SYSTEM},
                             {"role": "user", "content": prompts.SEARCH_USER.format(question=question)}],
                            max_tokens=40, temperature=0.0)
    except TerritoriaError:
        return None
    lines = [l.strip().strip("«»\"'*- ") for l in comp.text.strip().splitlines() if l.strip()]
    out = lines[0] if lines else ""
    out = re.sub(r"^(?:requête(?: de recherche)?\s*:\s*)", "", out, flags=re.IGNORECASE)
    return out if 2 <= len(out.split()) <= 30 else None


def fuse_hits(lists: list[list], k: int) -> list:
    """Reciprocal-rank fusion of several result lists at document level (first passage seen is kept)."""
    score: dict[str, float] = {}
    hit_of: dict[str, Any] = {}
    for hits in lists:
        for rank, h in enumerate(hits):
            score[h.doc_id] = score.get(h.doc_id, 0.0) + 1.0 / (60 + rank + 1)
            hit_of.setdefault(h.doc_id, h)
    order = sorted(score, key=lambda d: -score[d])[:k]
    return [hit_of[d] for d in order]


# -- the assistant ------------------------------------------------------------------------------

def _clean_question(q: str) -> str:
    q = re.sub(r"\s+", " ", q or "").strip()
    if not q:
        raise TerritoriaError("La question est vide.", hint="Posez une question, par exemple sur une démarche.")
    if len(q) > MAX_QUESTION_CHARS:
        raise TerritoriaError(f"La question est trop longue ({len(q)} caractères, {MAX_QUESTION_CHARS} au plus).",
                              hint="Résumez-la en quelques phrases.")
    return q


def _place_covered(place: str, question: str, passages: list[Passage]) -> bool:
    """Whether the passages speak about this place: in a title, or in a sentence that shares at least two
    other words with the question (a national fiche listing "Paris, Lyon et Marseille" does not count)."""
    pat = re.compile(rf"\b{re.escape(place)}\b")
    others = terms(question) - terms(place)
    for p in passages:
        if pat.search(re.sub(r"[^a-z0-9]+", " ", fold(p.title))):
            return True
        for sent in split_sentences(p.text):
            if pat.search(re.sub(r"[^a-z0-9]+", " ", fold(sent))) and len(terms(sent) & others) >= 2:
                return True
    return False


def _display_place(question: str, folded: str) -> str:
    m = re.search(r"[\w'-]+(?:[\s-][\w'-]+){0,4}", question)
    words = re.findall(r"[\w'’-]+", question)
    n = len(folded.split())
    for i in range(len(words)):
        cand = " ".join(words[i:i + n])
        if re.sub(r"[^a-z0-9]+", " ", fold(cand)).strip() == folded:
            return cand[:1].upper() + cand[1:]
    return folded.title() if m else folded


def _with_marker(sentence: str, n: int | None) -> str:
    if n is None:
        return sentence
    m = re.match(r"^(.*?)([.!?…:;]*)$", sentence.rstrip(), re.S)
    body, punct = (m.group(1), m.group(2)) if m else (sentence, "")
    return f"{body} [{n}]{punct or '.'}"


def _quote(p: Passage, supported: list[str]) -> str:
    """The passage sentences that best back what was said (or the excerpt the model saw)."""
    sents = split_sentences(p.text)
    if not sents:
        return p.excerpt[:400]
    said = terms(" ".join(supported)) if supported else terms(p.excerpt)
    scored = sorted(range(len(sents)), key=lambda i: -len(terms(sents[i]) & said))
    keep = sorted(scored[:2])
    q = " ".join(sents[i] for i in keep)
    return q if len(q) <= 500 else q[:497].rsplit(" ", 1)[0] + "…"


_CONNECTOR = re.compile(r"^(?:cependant|toutefois|mais|en revanche|par contre|néanmoins|donc|ainsi|alors|"
                        r"par ailleurs|de plus|en outre|aussi|enfin|sinon|dans ce cas)\s*,?\s+", re.IGNORECASE)


class _Composer:
    """Turns model tokens into checked, cited sentences, streaming them as they are accepted."""

    def __init__(self, passages: list[Passage], question: str, emit: Callable[[str], None]):
        self.passages = passages
        self.by_n = {p.n: p for p in passages}
        self.q_numbers = numbers(question)
        self.emit = emit
        self.stream = SentenceStream()
        self.out: list[str] = []
        self.pending: list[str] = []  # content-free sentences ("Oui.") waiting for a checked one
        self.cite_map: dict[int, int] = {}  # passage n -> citation number
        self.support: dict[int, list[str]] = {}
        self.checks: list[dict] = []
        self.refused = False
        self.invented_numbers = False  # the model stated figures absent from the passages
        self.accepted = 0

    def feed(self, piece: str) -> None:
        for s in self.stream.feed(piece):
            self._sentence(s)

    def finish(self) -> None:
        for s in self.stream.flush():
            self._sentence(s, last=True)

    def _push(self, text: str) -> None:
        sep = " " if self.out else ""
        self.out.append(text)
        self.emit(sep + text)

    def _sentence(self, raw: str, last: bool = False) -> None:
        if re.fullmatch(r"[\W_]*", raw):
            return
        chk = check_sentence(raw, self.passages, self.q_numbers)
        self.checks.append({"sentence": chk.text, "passage": chk.passage, "support": round(chk.support, 3),
                            "numbers_ok": chk.numbers_ok, "refusal": chk.refusal})
        if chk.refusal:
            self.refused = True
            if self.accepted:  # an honest caveat after a real answer ("…ne précisent pas le délai") stays
                self._push(chk.text)
            return
        if chk.passage is None and chk.numbers_ok and chk.support >= 1.0 and len(chk.text) <= 12:
            self.pending.append(chk.text)  # "Oui." / "Non." : shown with the next checked sentence
            return
        if not chk.ok:
            if not chk.numbers_ok:
                self.invented_numbers = True
            return
        if last and not re.search(r"[.!?…»)]$", chk.text) and len(chk.text.split()) < 4:
            return  # a fragment cut by max_tokens
        if not self.accepted and len(self.checks) > 1:
            # earlier sentences were dropped: a leading connector ("Cependant, …") would dangle
            chk.text = _CONNECTOR.sub("", chk.text)
            chk.text = chk.text[:1].upper() + chk.text[1:]
        n = self.cite_map.setdefault(chk.passage, len(self.cite_map) + 1)
        self.support.setdefault(chk.passage, []).append(chk.text)
        text = _with_marker(chk.text if re.search(r"[.!?…]$", chk.text) else chk.text + ".", n)
        if self.pending:
            text = " ".join(self.pending) + " " + text
            self.pending = []
        self.accepted += 1
        self._push(text)

    def citations(self) -> list[Citation]:
        out = []
        for pn, cn in sorted(self.cite_map.items(), key=lambda kv: kv[1]):
            p = self.by_n[pn]
            out.append(Citation(n=cn, doc_id=p.doc_id, title=p.title, url=p.url, section=p.section, page=p.page,
                                quote=_quote(p, self.support.get(pn, [])), chunk_id=p.chunk_id))
        return out


def build_messages(question: str, passages: list[Passage]) -> list[dict[str, str]]:
    blocks = "\n\n".join(prompts.PASSAGE.format(n=p.n, title=p.title, text=p.excerpt) for p in passages)
    return [{"role": "system", "content": prompts.SYSTEM},
            {"role": "user", "content": prompts.USER.format(passages=blocks, question=question)}]


def _extractive(ev: Evidence) -> tuple[str, list[Citation]]:
    best = ev.passages[0]  # search order (measured better than re-ordering by evidence)
    sents = split_sentences(best.excerpt)
    text, used = "", []
    for s in sents:
        if len(text) + len(s) > 380 and used:
            break
        used.append(s)
        text = (text + " " + s).strip()
    body = " ".join(used)
    if not re.search(r"[.!?…]$", body):
        body += "…"
    answer = f"{prompts.EXTRACTIVE_LEAD.format(title=best.title)} « {body} » [1]"
    cit = Citation(n=1, doc_id=best.doc_id, title=best.title, url=best.url, section=best.section, page=best.page,
                   quote=body, chunk_id=best.chunk_id)
    return answer, [cit]


def ask(question: str, *, tenant: str | None = None, conversation_id: str | None = None,
        backend: str | None = None, llm=None, on_event: EventCallback | None = None,
        history: list[dict] | None = None, max_tokens: int | None = None,
        visibility: tuple[str, ...] | None = None, caller=None) -> Answer:
    """Answer a question from the tenant's documents. `on_event` receives streaming events:
    {"type": "sources", "passages": [...]}, {"type": "token", "text": "..."} (checked text, to append),
    then the caller gets the final `Answer` (also sent as {"type": "answer", ...} by `ask_stream`)."""
    from territoria.assistant import conversations
    from territoria.search.engine import Filters
    from territoria.search.engine import search as _search
    from territoria.store import get_store
    from territoria.trust import principal

    t0, c0 = time.perf_counter(), time.process_time()
    settings = get_settings()
    tenant = tenant or settings.tenant
    caller = caller or principal.current()
    if visibility is None and caller is not None:
        visibility = caller.visibility  # citizens and public keys: public documents only
    filters = Filters(visibility=visibility)

    def search(query: str, **kw):
        return _search(query, filters=filters, **kw)

    question = _clean_question(question)
    emit = on_event or (lambda e: None)
    ans = Answer(question=question, answer="", abstained=True, tenant=tenant, conversation_id=conversation_id)
    first_token: list[float | None] = [None]
    remote_tokens = 0
    comp = None

    def emit_text(text: str) -> None:
        if first_token[0] is None:
            first_token[0] = time.perf_counter() - t0
        emit({"type": "token", "text": text})

    def finish(reason: str | None = None, **fmt) -> Answer:
        if reason is not None:
            ans.abstained, ans.mode, ans.reason = True, "abstained", reason
            ans.answer = prompts.abstain_message(reason, **fmt)
            ans.citations = []
            emit_text(ans.answer)
        total = time.perf_counter() - t0
        ans.latency_ms = {"first_token": round(first_token[0] * 1000, 1) if first_token[0] is not None else None,
                          "total": round(total * 1000, 1)}
        if comp is not None:
            ans.latency_ms["first_model_token"] = (round((t_llm + comp.first_token_s) * 1000, 1)
                                                   if comp.first_token_s is not None else None)
            ans.latency_ms["generation"] = round(comp.total_s * 1000, 1)
            ans.usage = {"prompt_tokens": comp.prompt_tokens, "completion_tokens": comp.completion_tokens,
                         "cached_tokens": comp.cached_tokens, "tokens_per_s": comp.tokens_per_s}
        ans.energy_wh = energy_wh(time.process_time() - c0, remote_tokens)
        ans.usage["cpu_s"] = round(time.process_time() - c0, 3)
        if conversation_id:
            conversations.append(tenant, conversation_id, {
                "question": question, "search_query": ans.search_query, "answer": ans.answer,
                "abstained": ans.abstained, "doc_ids": [c.doc_id for c in ans.citations]})
        _audit(ans, caller)
        return ans

    # 1. follow-ups
    if history is None and conversation_id:
        history = conversations.load(tenant, conversation_id)
    ans.search_query = question
    # a declined request, or an empty index, is answered without the model (no rewrite call either)
    sc = screen(question)
    if sc.reason:
        ans.evidence = {"policy": sc.reason}
        return finish(sc.reason)
    store = get_store(settings)
    if store.count_documents(store.scope(tenant), visibility=visibility) == 0:
        return finish("no_documents")
    q = question
    if history:
        q = rewrite_question(question, history, llm=llm, backend=backend)
    ans.search_query = q

    # 2. what a public service declines (the rewritten question)
    if q != question:
        sc = screen(q)
    if sc.reason:
        ans.evidence = {"policy": sc.reason}
        return finish(sc.reason)

    # 3. retrieval and evidence
    hits = search(q, k=SEARCH_K, mode="hybrid", tenant=tenant)
    if hits and reformulate_enabled():
        if llm is None:
            from territoria.models.llm import get_llm

            llm = get_llm(backend)
        rq = reformulate(q, llm)
        if rq:
            ans.evidence["reformulated"] = rq
            hits = fuse_hits([hits, search(rq, k=SEARCH_K, mode="hybrid", tenant=tenant)], SEARCH_K)
    t_search = time.perf_counter() - t0
    ans.retrieved = [h.doc_id for h in hits]
    if not hits:
        ans.latency_ms["search"] = round(t_search * 1000, 1)
        return finish("no_evidence")
    ev = gather(q, hits, tenant=tenant)
    ans.evidence = {**ev.to_dict(), **ans.evidence}
    ans.evidence["search_ms"] = round(t_search * 1000, 1)
    if ev.injection:
        ans.warnings.append(prompts.INJECTION_WARNING)
    seen_text = fold(" ".join(f"{c.title} {c.text}" for c in ev.candidates))
    missing = [p for p in sc.places if not _place_covered(p, q, ev.candidates)]
    if missing and sc.local_cue:
        ans.evidence["missing_places"] = missing
        return finish("local", place=", ".join(_display_place(q, m) for m in missing))
    latest = corpus_latest_year(tenant)
    later = sorted(y for y in sc.years if latest and y > latest and str(y) not in seen_text)
    if later:
        return finish("after_corpus", corpus_year=latest, asked_year=", ".join(map(str, later)))
    from territoria.assistant import evidence as evmod

    if ev.score < evmod.ABSTAIN_BELOW or not ev.passages:
        return finish("no_evidence")

    # 4. generation, checked sentence by sentence
    emit({"type": "sources", "passages": [
        {"n": p.n, "doc_id": p.doc_id, "title": p.title, "url": p.url, "section": p.section, "page": p.page}
        for p in ev.passages]})
    if llm is None:
        from territoria.models.llm import get_llm

        llm = get_llm(backend)
    ans.model, ans.backend = llm.model, llm.backend
    if getattr(llm, "name", "") == "qwen2.5-0.5b":
        ans.notes.append(prompts.SMALL_MODEL_WARNING)
    composer = _Composer(ev.passages, q, emit_text)
    t_llm = time.perf_counter() - t0
    comp = llm.generate(build_messages(q, ev.passages), max_tokens=max_tokens or MAX_TOKENS, temperature=0.0,
                        on_token=lambda piece: composer.feed(piece))
    composer.finish()
    if llm.backend != "embedded":
        remote_tokens = comp.prompt_tokens + comp.completion_tokens
    ans.evidence["sentences"] = composer.checks
    if composer.accepted:
        ans.answer = " ".join(composer.out)
        ans.citations = composer.citations()
        ans.abstained, ans.mode = False, "generated"
        return finish()
    if ev.score < CONFIDENT_EVIDENCE and (composer.refused or composer.invented_numbers):
        # the model says the excerpts do not answer, or answers with figures they do not contain (from its
        # own memory), and the evidence is only moderate: the documents do not hold the answer
        return finish("model_check")
    # strong evidence but nothing checkable came out (or an unjustified refusal): quote the best passage
    text, cits = _extractive(ev)
    ans.answer, ans.citations = text, cits
    ans.abstained, ans.mode = False, "extractive"
    emit_text(text)
    return finish()


def ask_stream(question: str, **kw) -> Iterator[dict]:
    """`ask` as an iterator of events (for Server-Sent Events): sources, tokens, then
    {"type": "answer", **Answer.to_dict()} or {"type": "error", "message": …}."""
    q: queue.Queue = queue.Queue()
    _END = object()

    def work() -> None:
        try:
            ans = ask(question, on_event=q.put, **kw)
            q.put({"type": "answer", **ans.to_dict()})
        except TerritoriaError as exc:
            q.put({"type": "error", "message": exc.message, "hint": exc.hint})
        except Exception as exc:  # pragma: no cover - reported to the client in French
            log.exception("assistant failed")
            q.put({"type": "error", "message": f"Erreur interne de l'assistant ({exc.__class__.__name__}).",
                   "hint": "Réessayez ; si le problème persiste, contactez l'administrateur."})
        finally:
            q.put(_END)

    import contextvars

    threading.Thread(target=contextvars.copy_context().run, args=(work,), name="assistant-ask", daemon=True).start()
    while True:
        item = q.get()
        if item is _END:
            return
        yield item
