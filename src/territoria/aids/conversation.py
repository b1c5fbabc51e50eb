"""Conversational mode: ask for the missing profile facts (commune? age?…) before answering.

    conv = AidConversation()
    conv.answer("je voudrais passer mon permis")   → asks "Dans quelle commune habitez-vous … ?"
    conv.answer("Vesoul")                          → asks "Quel âge avez-vous ?"
    conv.answer("19 ans")                          → the aids, with reasons and what to check

The assistant (or the API) keeps one `AidConversation` per dialogue; `answer()` returns the reply text
and the structured results. No LLM: facts are read with the same rules as the finder.
"""

from __future__ import annotations

import re

from territoria.aids.eligibility import QUESTIONS
from territoria.aids.finder import find_with_context, prepare_profile
from territoria.aids.model import norm_audience
from territoria.aids.perimeter import GeoDataMissing, load_geo
from territoria.aids.profile import ProfileError, check_fact, extract_facts, normalize_profile

ESSENTIALS = ("need", "commune", "audience", "age")


class AidConversation:
    def __init__(self, profile: dict | None = None, need: str | None = None, k: int = 5):
        self.profile = normalize_profile(profile or {})
        self.need = need or ""
        self.k = k
        self.asked: str | None = None
        self.candidates: list = []
        self.error: str | None = None  # why the last answer was not taken (French), said before asking again
        try:
            self.geo = load_geo()
        except GeoDataMissing:
            self.geo = None

    def greeting(self) -> str:
        return ("Bonjour ! Décrivez votre situation et votre besoin en quelques mots (par exemple : « j'ai 19 ans, "
                "j'habite à Vesoul et je voudrais passer mon permis »).")

    # -- reading an answer --------------------------------------------------------------------------------
    def _read(self, text: str) -> None:
        t = text.strip()
        self.error = None
        facts = normalize_profile(extract_facts(t, self.geo), strict=False)
        if self.asked == "commune" and self.geo is not None:
            if self.candidates and re.fullmatch(r"\d{1,2}", t) and 1 <= int(t) <= len(self.candidates):
                self.profile["commune"] = self.candidates[int(t) - 1].code
                self.candidates = []
            else:
                res = self.geo.resolve(t)
                if res.status == "ok":
                    self.profile["commune"] = res.commune.code
                    self.candidates = []
                elif res.status == "ambiguous":
                    self.candidates = res.candidates[:9]
                elif "commune" in facts or "code_postal" in facts:
                    pass
                else:
                    self.candidates = res.candidates[:5]
        if self.asked == "age" and "age" not in facts:
            m = re.search(r"(?<!\w)([-\u2212]?\d+(?:[.,]\d+)?)", t)
            if m:
                try:
                    facts["age"] = check_fact("age", m.group(1))
                except ProfileError as exc:  # "250", "-3": said, and the question is asked again
                    self.error = f"{exc.label} invalide ({exc.value}) : indiquez {exc.expected}."
        if self.asked == "audience" and "audience" not in facts:
            a = norm_audience(t)
            if a:
                facts["audience"] = a
        if "code_postal" in facts and "commune" not in self.profile and self.geo is not None:
            res = self.geo.resolve(str(facts.pop("code_postal")), prefer="postcode")
            if res.status == "ok":
                self.profile["commune"] = res.commune.code
            elif res.status == "ambiguous":
                self.candidates = res.candidates[:9]
                self.asked = "commune"
        for k, v in facts.items():
            self.profile[k] = v  # an answer in the conversation is an explicit fact
        if self.asked in (None, "need") or (not self.need and len(t.split()) >= 3):
            if self.asked not in ("commune", "age", "audience"):
                self.need = f"{self.need} {t}".strip() if self.need else t

    def _missing(self) -> str | None:
        if not self.need:
            return "need"
        state = prepare_profile(self.profile, self.need)
        if state.territory is None:
            return "commune"
        if state.profile.get("audience") is None and "audience" not in state.soft:
            return None if state.profile.get("age") is not None else "age"
        if state.profile.get("audience") in (None, "particulier") and state.profile.get("age") is None:
            return "age"
        return None

    def _question(self, what: str) -> str:
        if what == "need":
            return "Quel est votre besoin ou votre projet ?"
        if what == "commune" and self.candidates:
            opts = "\n".join(f"  {i}. {c.label}" for i, c in enumerate(self.candidates, 1))
            return f"Plusieurs communes correspondent, laquelle est la vôtre ? (répondez par le numéro)\n{opts}"
        return QUESTIONS.get(what, what)

    # -- one turn -----------------------------------------------------------------------------------------------
    def answer(self, text: str) -> dict:
        self._read(text)
        what = self._missing()
        if what:
            self.asked = what
            q = self._question(what)
            text_out = f"{self.error}\n{q}" if self.error else q
            return {"text": text_out, "questions": [q], "results": [], "profile": self.profile, "need": self.need,
                    "error": self.error}
        self.asked = None
        out = find_with_context(self.profile, self.need, k=self.k)
        return {"text": self._render(out), "questions": out["questions"], "results": out["results"],
                "profile": self.profile, "need": self.need, "error": None}

    def _render(self, out: dict) -> str:
        res = out["results"]
        if not res:
            return ("Je n'ai pas trouvé d'aide pour ce besoin dans votre territoire. Pouvez-vous le décrire "
                    "autrement (par exemple ce que vous voulez acheter, payer ou faire) ?")
        lab = {"eligible": "vous semblez y avoir droit", "to_check": "à vérifier", "ineligible": "non éligible"}
        lines = [f"Voici les aides qui correspondent ({len(res)}) :"]
        for n, r in enumerate(res, 1):
            bits = [f"{n}. {r['name']} — {lab.get(r['eligibility'], r['eligibility'])}"]
            if r.get("amount"):
                bits.append(f"   Montant : {r['amount']}")
            bits.append(f"   {r['deadline_text']}")
            quote = next((x for x in r["reasons"] if x.startswith("L'aide dit")), None)
            if quote:
                bits.append(f"   {quote}")
            for q in (r.get("questions") or [])[:2]:
                bits.append(f"   À vérifier : {q}")
            where = r.get("apply_url") or r.get("url")
            if where:
                bits.append(f"   Où demander : {where}")
            lines.append("\n".join(bits))
        extra = [q for q in out.get("questions") or [] if q not in QUESTIONS.values()][:2]
        if extra:
            lines.append("Pour affiner : " + " ".join(extra))
        return "\n".join(lines)
