"""Aid finder: importers, perimeter resolution, eligibility, finder, evaluation, CLI contract."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest

from conftest import auth_headers

from territoria.aids import importers as I
from territoria.aids.eligibility import Context, evaluate
from territoria.aids.model import Aid
from territoria.core.errors import TerritoriaError

FIX = Path(__file__).resolve().parent / "fixtures" / "aids"
TODAY = date(2026, 12, 2)


@pytest.fixture(scope="module")
def geo(shared_dir):
    from territoria.aids.perimeter import Geo

    return Geo(shared_dir / "data" / "communes")


def _rows(path: Path, ids: set[str] | None = None, n: int | None = None) -> list[dict]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if (ids is None or r["id"] in ids) and (n is None or len(out) < n):
                out.append(r)
    return out


# -- perimeter ---------------------------------------------------------------------------------------------

def test_resolve_insee_postcode_name(geo):
    r = geo.resolve("70550")
    assert r.status == "ok" and r.commune.name == "Vesoul"
    t = geo.territory(r.commune)
    assert "70" in t.departements and "27" in t.regions and t.epcis  # EPCI, département, région
    r = geo.resolve("70000", prefer="postcode")
    assert r.status in ("ok", "ambiguous")
    assert "70550" in ([r.commune.code] if r.status == "ok" else [c.code for c in r.candidates])
    r = geo.resolve("vesoul")
    assert r.status == "ok" and r.commune.code == "70550"


def test_resolve_disambiguation(geo):
    r = geo.resolve("Saint-Denis")
    assert r.status == "ambiguous" and len(r.candidates) > 1
    assert "précisez" in r.message
    assert {"93066", "97411"} <= {c.code for c in r.candidates}
    assert geo.resolve("Saint-Denis (93)").commune.code == "93066"
    assert geo.resolve("Saint-Denis 97400").commune.code == "97411"
    assert geo.resolve("St Denis, La Réunion").commune.code == "97411"
    typo = geo.resolve("Vesoule")
    assert typo.status == "not_found" and "Vesoul" in typo.message


def test_arrondissement_belongs_to_parent_commune(geo):
    t = geo.territory(geo.resolve("75112").commune)
    assert {"75112", "75056"} <= t.communes and "11" in t.regions


def test_aid_perimeter_contains_commune(geo):
    aid = Aid(id="x/1", source="x", source_id="1", name="Aide",
              conditions=[{"type": "territory", "level": "departement", "codes": ["70"]}])
    inside = Context(profile={}, territory=geo.territory(geo.commune("70550")), today=TODAY, geo=geo)
    outside = Context(profile={}, territory=geo.territory(geo.commune("25056")), today=TODAY, geo=geo)
    assert evaluate(aid, inside).status == "eligible"
    e = evaluate(aid, outside)
    assert e.status == "ineligible" and "Besançon" in e.failed[0]


# -- importers on real slices ------------------------------------------------------------------------------------

def test_import_aides_jeunes_slice(shared_dir, geo):
    path = shared_dir / "data" / "aids" / "aides_jeunes_benefits.jsonl"
    rows = _rows(path, n=40) + _rows(path, {"benefit_front_test", "pass_culture"})
    assert I.detect_kind(path) == "aides-jeunes"
    b = I.convert_aides_jeunes(rows, geo)
    ids = {a.id for a in b.aids}
    assert all(i.startswith("aides-jeunes/") for i in ids)
    assert "aides-jeunes/benefit_front_test" not in ids and any(s[0] == "benefit_front_test" for s in b.skipped)
    caf = next(a for a in b.aids if a.source_id.startswith("aide-au-bafa-pour-une-session-de-formation"))
    assert caf.perimeter["level"] == "departement" and caf.perimeter["codes"] == ["74"]
    assert any(n.get("type") == "age" for n in caf.conditions) and caf.amount.get("max") == 200
    assert caf.attribution and "aides-jeunes" in caf.attribution


def test_import_aides_velo_and_mission_transition_slices(shared_dir, geo):
    d = shared_dir / "data" / "aids"
    v = I.convert_aides_velo(_rows(d / "aides_velo.jsonl", {"cotentin", "region centre", "paris"}), geo)
    cot = next(a for a in v.aids if a.id == "aides-velo/cotentin")
    assert cot.perimeter == {"level": "epci", "codes": ["200067205"], "name": "CA du Cotentin"}
    assert cot.amount["max"] == 350
    centre = next(a for a in v.aids if a.id == "aides-velo/region centre")
    tours = Context(profile={"age": 30}, territory=geo.territory(geo.commune("37261")), today=TODAY, geo=geo)
    assert evaluate(centre, tours).status == "ineligible"  # "non applicable si" Tours Métropole
    m = I.convert_mission_transition(_rows(d / "mission_transition_programs.jsonl", n=30), geo)
    assert all(a.id.startswith("mission-transition/") and "entreprise" in a.audiences for a in m.aids)
    assert any(a.perimeter["level"] in ("region", "regions") for a in m.aids)


def test_aides_territoires_importer(geo):
    rows = I.read_rows(FIX / "aides_territoires_api.json")
    assert I.detect_kind(FIX / "aides_territoires_api.json", rows) == "aides-territoires"
    b = I.convert_aides_territoires(rows, geo)
    a = {x.source_id: x for x in b.aids}
    reno = a["910001"]
    assert reno.id == "aides-territoires/910001"
    assert reno.perimeter["level"] == "region" and reno.perimeter["codes"] == ["27"]
    assert set(reno.audiences) == {"commune", "epci"} and reno.aid_types == ["subvention"]
    assert reno.end_date == "2027-06-30" and reno.amount["rate_max"] == 50
    assert "Transition énergétique" in reno.themes and "<" not in reno.description
    assert a["910002"].perimeter["level"] == "national" and a["910002"].amount["max"] == 100000
    assert a["910003"].perimeter["codes"] == ["70"] and a["910003"].is_expired(TODAY)
    assert a["910004"].perimeter["level"] == "unknown"  # a basin: to check, never silently eligible
    ctx = Context(profile={"audience": "commune"}, territory=geo.territory(geo.commune("13055")), today=TODAY, geo=geo)
    assert evaluate(a["910004"], ctx).status == "to_check"


def test_generic_csv_with_mapping(geo):
    mapping = json.loads((FIX / "region_mapping.json").read_text(encoding="utf-8"))
    rows = I.read_rows(FIX / "region_catalogue.csv")
    b = I.convert_generic(rows, geo, source=mapping["source"], mapping=mapping)
    a = {x.source_id: x for x in b.aids}
    assert set(a) == {"BFC-001", "BFC-002", "BFC-003"} and a["BFC-001"].id == "region-bfc/BFC-001"
    assert a["BFC-001"].perimeter["codes"] == ["27"] and a["BFC-001"].audiences == ["particulier"]
    assert a["BFC-001"].end_date == "2027-12-31" and a["BFC-001"].amount["max"] == 1500
    young = Context(profile={"age": 30, "audience": "particulier"},
                    territory=geo.territory(geo.commune("70550")), today=TODAY, geo=geo)
    e = evaluate(a["BFC-001"], young)
    assert e.status == "ineligible" and any("25 ans" in f for f in e.failed)
    with pytest.raises(TerritoriaError):
        I.convert_generic([{"foo": "bar"}], geo, source="x")


# -- eligibility ---------------------------------------------------------------------------------------------------

def test_eligibility_age_bound_and_unknown_fact(geo):
    aid = Aid(id="t/majeur", source="t", source_id="majeur", name="Aide", audiences=["particulier"],
              conditions=[{"type": "age", "op": ">=", "value": 18},
                          {"type": "quotient_familial", "op": "<=", "value": 900, "period": "month"}])
    terr = geo.territory(geo.commune("70550"))
    e = evaluate(aid, Context(profile={"age": 16}, territory=terr, today=TODAY, geo=geo))
    assert e.status == "ineligible" and "au moins 18 ans" in e.failed[0] and "16 ans" in e.failed[0]
    e = evaluate(aid, Context(profile={}, territory=terr, today=TODAY, geo=geo))
    assert e.status == "to_check" and "Quel âge avez-vous ?" in e.questions
    assert any("quotient familial" in q for q in e.questions)
    e = evaluate(aid, Context(profile={"age": 20, "quotient_familial": 700}, territory=terr, today=TODAY, geo=geo))
    assert e.status == "eligible"
    # A fact only read from the need text never makes an aid ineligible.
    e = evaluate(aid, Context(profile={"age": 16, "quotient_familial": 700}, territory=terr, today=TODAY, geo=geo,
                              soft={"age"}))
    assert e.status == "to_check"


def test_profile_facts_from_text(geo):
    from territoria.aids.profile import extract_facts

    f = extract_facts("J'ai 19 ans, je suis apprentie et j'habite à Vesoul", geo)
    assert f["age"] == 19 and f["statut"] == "apprenti" and f["commune"] == "70550"
    f = extract_facts("Notre association sportive de 3 salariés veut isoler son gymnase")
    assert f["audience"] == "association" and f["effectif"] == 3


# -- finder on a real small catalogue ---------------------------------------------------------------------------------

SMALL_AJ = {"aide_financement_permis_apprenti", "region-bourgogne-franche-comte-aide-au-permis-de-conduire",
            "nouvelle_aquitaine_aide_permis", "bretagne-aide-code-permis", "caf-aide-nationale-bafa",
            "caf-haute-saone-aide-bafa", "caf-doubs-aide-bafa-generale", "aide_logement", "pass_culture",
            "pass_sport", "region-bourgogne-franche-comte-ordil", "mobili_jeune", "haute_saone_aide_permis",
            "region-bourgogne-franche-comte-abonnement-scolaire-bfc", "aide_formation_gen"}
SMALL_AV = {"occitanie", "ile de france", "epinal", "grand besançon", "paris"}
SMALL_MT = {"accelerateur-decarbonation", "diag-decarbon-action", "diag-eco-flux", "baisse-les-watts"}


@pytest.fixture(scope="module")
def small_catalogue(shared_dir, tmp_path_factory):
    from territoria.aids.catalogue import import_paths
    from territoria.core.settings import Settings, get_settings, set_settings

    src = tmp_path_factory.mktemp("aids_src")
    d = shared_dir / "data" / "aids"
    for name, ids in (("aides_jeunes_benefits.jsonl", SMALL_AJ), ("aides_velo.jsonl", SMALL_AV),
                      ("mission_transition_programs.jsonl", SMALL_MT)):
        with open(src / name, "w", encoding="utf-8") as fh:
            for r in _rows(d / name, ids):
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    data = tmp_path_factory.mktemp("aids_data")
    old = get_settings()
    old_env = os.environ.get("TERRITORIA_DATA_DIR")
    settings = set_settings(Settings(data_dir=data))
    os.environ["TERRITORIA_DATA_DIR"] = str(data)
    os.environ["TERRITORIA_TODAY"] = TODAY.isoformat()
    report = import_paths([shared_dir / "data" / "communes", src], index=True, settings=settings)
    yield settings, report
    set_settings(old)
    os.environ.pop("TERRITORIA_TODAY", None)
    if old_env is None:  # later test modules must not inherit this data dir through the CLI's env var
        os.environ.pop("TERRITORIA_DATA_DIR", None)
    else:
        os.environ["TERRITORIA_DATA_DIR"] = old_env


def test_import_report(small_catalogue):
    settings, rep = small_catalogue
    assert rep.geo and rep.total >= 20
    assert {s["source"] for s in rep.sources} == {"aides-jeunes", "aides-velo", "mission-transition"}
    assert rep.indexed is not None or rep.index_note  # documents for the assistant, or a note saying why not


def test_find_ranks_eligible_aids_with_reasons(small_catalogue):
    from territoria.aids.finder import find_aids

    res = find_aids({"commune": "70550", "age": 19, "audience": "particulier"}, "financer mon permis de conduire")
    ids = [r["id"] for r in res]
    assert ids and ids[0] in {"aides-jeunes/haute_saone_aide_permis",
                              "aides-jeunes/region-bourgogne-franche-comte-aide-au-permis-de-conduire",
                              "aides-jeunes/aide_financement_permis_apprenti"}
    assert "aides-jeunes/bretagne-aide-code-permis" not in ids  # other région: never shown
    assert "aides-jeunes/nouvelle_aquitaine_aide_permis" not in ids
    top = res[0]
    for key in ("id", "name", "eligibility", "score", "reasons", "questions", "failed_conditions", "amount",
                "deadline", "url", "perimeter"):
        assert key in top
    assert top["eligibility"] in ("eligible", "to_check") and any("Vesoul" in r for r in top["reasons"])
    assert any(r.startswith("L'aide dit") for r in top["reasons"])  # cites the aid's own text
    full = find_aids({"commune": "70550", "age": 19}, "financer mon permis de conduire", k=30,
                     include_ineligible=True)
    bzh = next(r for r in full if r["id"] == "aides-jeunes/bretagne-aide-code-permis")
    assert bzh["eligibility"] == "ineligible" and bzh["failed_conditions"]


def test_find_understands_own_words_and_business(small_catalogue):
    from territoria.aids.finder import find_aids

    res = find_aids({"commune": "34172", "age": 40}, "je veux aller au boulot en pédalant avec une batterie", k=3)
    assert res and res[0]["id"] == "aides-velo/occitanie"
    res = find_aids({"commune": "69123", "audience": "entreprise", "effectif": 12},
                    "nos fours consomment trop d'électricité", k=5)
    assert res and all(r["id"].startswith("mission-transition/") for r in res)
    assert all(not r["id"].startswith("aides-jeunes/") for r in res)  # a company gets no youth aid


def test_missing_profile_questions_and_conversation(small_catalogue):
    from territoria.aids.conversation import AidConversation
    from territoria.aids.finder import missing_profile_questions

    qs = missing_profile_questions({}, "passer mon permis")
    assert any("commune" in q for q in qs) and any("âge" in q for q in qs)
    assert missing_profile_questions({"commune": "70550", "age": 19, "audience": "particulier"},
                                     "passer mon permis") is not None
    conv = AidConversation()
    r = conv.answer("je voudrais passer mon permis de conduire")
    assert "commune" in r["text"]
    r = conv.answer("Vesoul")
    assert "âge" in r["text"]
    r = conv.answer("19 ans")
    assert r["results"] and "permis" in r["text"].lower()


def test_eval_cli_json_keys(small_catalogue, tmp_path):
    from typer.testing import CliRunner

    from territoria.cli import app

    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in [
        {"profile": {"commune": "70550", "age": 19, "audience": "particulier"}, "need": "aide pour le BAFA",
         "expected_ids": ["aides-jeunes/caf-aide-nationale-bafa", "aides-jeunes/caf-haute-saone-aide-bafa"],
         "ineligible_ids": ["aides-jeunes/caf-doubs-aide-bafa-generale"]},
        {"profile": {"commune": "88160", "age": 35, "audience": "particulier"}, "need": "acheter un vélo électrique",
         "expected_ids": ["aides-velo/epinal"], "ineligible_ids": ["aides-velo/occitanie"]},
    ]), encoding="utf-8")
    runner = CliRunner()
    settings, _ = small_catalogue
    out = runner.invoke(app, ["--data-dir", str(settings.data_dir), "eval", "aids", str(cases), "--json"])
    assert out.exit_code == 0, out.output
    res = json.loads(out.stdout)
    assert {"n", "top1", "top3", "ineligible_in_top3_rate", "p95_ms"} <= set(res)
    assert res["n"] == 2 and res["top3"] == 1.0 and res["ineligible_in_top3_rate"] == 0.0
    out = runner.invoke(app, ["--data-dir", str(settings.data_dir), "aids", "find", "--profile",
                              '{"commune": "Vesoul", "age": 19}', "--need", "aide pour le BAFA", "--json"])
    assert out.exit_code == 0, out.output
    found = json.loads(out.stdout)
    assert found["results"][0]["id"] in {"aides-jeunes/caf-aide-nationale-bafa", "aides-jeunes/caf-haute-saone-aide-bafa"}


def test_eval_on_empty_catalogue_says_what_to_do(tmp_path):
    from typer.testing import CliRunner

    from territoria.cli import app

    cases = tmp_path / "c.jsonl"
    cases.write_text(json.dumps({"profile": {"commune": "70550"}, "need": "x", "expected_ids": []}), encoding="utf-8")
    out = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "empty"), "eval", "aids", str(cases), "--json"])
    assert out.exit_code == 1
    assert "territoria aids import" in out.output and "Aucune aide" in out.output


def test_aids_api_find_and_questions(small_catalogue):
    """The aid finder through the REST API: ranked results, and questions when facts are missing."""
    from fastapi.testclient import TestClient

    from territoria.core.settings import set_settings
    from territoria.web.app import create_app

    set_settings(small_catalogue[0])
    client = TestClient(create_app())
    assert client.post("/api/aids/find", json={"profile": {}}).status_code == 401  # a key is required
    client.headers.update(auth_headers(role="public"))
    r = client.post("/api/aids/find", json={"profile": {"commune": "70550", "age": 19, "audience": "particulier"},
                                            "need": "financer mon permis de conduire"})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results and "aides-jeunes/bretagne-aide-code-permis" not in [x["id"] for x in results]
    assert all(x["eligibility"] in ("eligible", "to_check") for x in results)
    r = client.post("/api/aids/questions", json={"profile": {}, "need": "financer mon permis de conduire"})
    assert r.status_code == 200 and r.json()["questions"]


def test_aids_page_for_citizens(small_catalogue):
    """« Trouver une aide »: a plain form, results with eligibility and reasons, every search audited."""
    from fastapi.testclient import TestClient

    from territoria.core.settings import set_settings
    from territoria.trust import audit
    from territoria.web.app import create_app

    set_settings(small_catalogue[0])
    client = TestClient(create_app())
    page = client.get("/aides")
    assert page.status_code == 200 and "Trouver une aide" in page.text and 'for="besoin"' in page.text
    r = client.post("/api/aids/find", json={"profile": {"commune": "70550", "age": 19, "audience": "particulier"},
                                            "need": "financer mon permis de conduire"},
                    headers=auth_headers(role="public"))
    expected = r.json()["results"][0]["name"]
    before = sum(1 for _ in audit.rows())
    page = client.get("/aides", params={"besoin": "financer mon permis de conduire", "commune": "70550", "age": "19",
                                        "public": "particulier"})
    assert page.status_code == 200
    import html as _html

    text = _html.unescape(page.text)
    assert "aide(s) pour votre situation" in text and expected in text
    assert "Vous y avez droit" in text or "À vérifier" in text
    rows = list(audit.rows())
    assert len(rows) == before + 1 and rows[-1]["use_case"] == "aids.find" and rows[-1]["actor"] == "public:aides"
    bad = client.get("/aides", params={"besoin": "permis", "age": "dix-neuf"})
    assert bad.status_code == 400 and "nombre d'années" in _html.unescape(bad.text)


def test_departement_only_profile_excludes_aids_of_other_departements(small_catalogue):
    """Only the département is known: an EPCI's aid lying wholly in another département is not offered."""
    from territoria.aids.finder import find_aids

    need = "acheter un vélo électrique"
    here = [r["id"] for r in find_aids({"departement": "88", "age": 35}, need, k=10)]
    assert "aides-velo/epinal" in here  # the CA d'Épinal is in the Vosges: to check (which commune?)
    for prof in ({"departement": "70", "age": 35}, {"region": "Bourgogne-Franche-Comté", "age": 35}):
        ids = [r["id"] for r in find_aids(prof, need, k=10)]
        assert "aides-velo/epinal" not in ids and "aides-velo/occitanie" not in ids, (prof, ids)
    full = find_aids({"departement": "70", "age": 35}, need, k=100, include_ineligible=True)
    epinal = next(r for r in full if r["id"] == "aides-velo/epinal")
    assert epinal["eligibility"] == "ineligible" and "votre département" in " ".join(epinal["failed_conditions"])


def test_profile_typos_and_bad_cli_options(small_catalogue, tmp_path):
    """A misspelt audience or status asks the question again instead of hiding every aid; a bad --date or
    --profile is a usage error (exit code 2) in French; a profile saved in Windows-1252 is read."""
    from typer.testing import CliRunner

    from territoria.aids.finder import find_aids
    from territoria.aids.profile import normalize_profile
    from territoria.cli import app

    assert normalize_profile({"audience": "entrepise", "statut": "etudaint", "age": 19}) == {"age": 19}
    res = find_aids({"commune": "70550", "age": 19, "audience": "entrepise"}, "aide pour le BAFA")
    assert res and res[0]["id"].startswith("aides-jeunes/")
    runner = CliRunner()
    base = ["--data-dir", str(small_catalogue[0].data_dir), "aids", "find", "--need", "aide pour le BAFA"]
    for args, text in ((["--profile", '{"age": 19}', "--date", "2026-13-01"], "Date de référence illisible"),
                       (["--profile", '{"age": 19}', "--date", "demain"], "AAAA-MM-JJ"),
                       (["--profile", "[19]"], "objet JSON"),
                       (["--profile", '{"age": 19,}'], "ligne 1")):
        out = runner.invoke(app, base + args)
        assert out.exit_code == 2 and text in out.output, (args, out.output)
    prof = tmp_path / "profil.json"
    prof.write_bytes('{"commune": "Vesoul", "age": 19, "situation": "étudiant"}'.encode("cp1252"))
    out = runner.invoke(app, base + ["--profile", str(prof), "--json", "--date", "02/12/2026"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["profile"]["statut"] == "etudiant"


def test_aids_api_get_one_aid(small_catalogue):
    """`GET /api/aids/{id}` (ids contain a slash): the aid, or a French 404."""
    from fastapi.testclient import TestClient

    from territoria.core.settings import set_settings
    from territoria.web.app import create_app

    set_settings(small_catalogue[0])
    client = TestClient(create_app())
    assert client.get("/api/aids/aides-velo/epinal").status_code == 401
    client.headers.update(auth_headers(role="public"))
    r = client.get("/api/aids/aides-velo/epinal")
    assert r.status_code == 200, r.text
    assert r.json()["id"] == "aides-velo/epinal" and r.json()["name"]
    r = client.get("/api/aids/aides-velo/nulle-part")
    assert r.status_code == 404 and "Aucune aide" in r.json()["error"]["message"]


def test_bad_mapping_file_says_what_is_wrong_in_french(tmp_path):
    from territoria.aids.catalogue import load_mapping

    with pytest.raises(TerritoriaError, match="introuvable"):
        load_mapping(tmp_path / "nope.json")
    f = tmp_path / "mapping.json"
    f.write_text('{"fields": ', encoding="utf-8")
    with pytest.raises(TerritoriaError, match="ligne 1") as exc:
        load_mapping(f)
    assert "Expecting" not in exc.value.message and "Errno" not in exc.value.message


# -- implausible profile values and bad catalogue rows ------------------------------------------------------------

BAD_PROFILES = [  # (profile, field named in the message)
    ({"age": 250}, "age"), ({"age": -3}, "age"), ({"age": "vingt"}, "age"),
    ({"salaries": -4}, "salaries"), ({"effectif": -1}, "effectif"),
    ({"chiffre_affaires": -15000}, "chiffre_affaires"), ({"ca": "-2 000 €"}, "ca"),
    ({"quotient_familial": -10}, "quotient_familial"), ({"revenu_fiscal_reference": -1}, "revenu_fiscal_reference"),
    ({"parts": 0}, "parts"),
    ({"date_creation": "2999-01-01"}, "date_creation"), ({"date_creation": 1750}, "date_creation"),
    ({"date_de_creation": "31/02/2020"}, "date_de_creation"),
    ({"code_postal": "7000"}, "code_postal"), ({"cp": "700000"}, "cp"), ({"code_postal": "ABCDE"}, "code_postal"),
    ({"departement": "99"}, "departement"), ({"departement": "20"}, "departement"), ({"dep": 0}, "dep"),
    ({"region": "41"}, "region"),
    ({"taille_foyer": 0}, "taille_foyer"), ({"foyer": 2.5}, "foyer"),
]


def test_implausible_profile_values_are_refused_naming_the_field():
    from territoria.aids.profile import ProfileError, normalize_profile

    for prof, field in BAD_PROFILES:
        with pytest.raises(ProfileError) as exc:
            normalize_profile({"commune": "70550", **prof})
        assert exc.value.field == field, prof
        assert f"« {field} »" in exc.value.message and "Valeur attendue" in exc.value.message, exc.value.message
        assert exc.value.hint and field in exc.value.hint
        # facts read from free text are never refused: an implausible one is left out
        assert normalize_profile(prof, strict=False) == {}, prof
    with pytest.raises(ProfileError) as exc:
        normalize_profile({"departement": "20"})
    assert "2A" in exc.value.hint and "2B" in exc.value.hint  # Corsica: say which codes exist


def test_plausible_and_unknown_profile_values_stay_accepted():
    from territoria.aids.profile import normalize_profile

    p = normalize_profile({"age": 0, "salaries": 0, "departement": "Haute-Saône", "region": "Bourgogne-Franche-Comté",
                           "cp": 1000, "date_creation": "15/03/2012", "foyer": "3", "parts": 2.5,
                           "quotient_familial": "850 €", "ca": "120 000", "commune": "Nulle-Part-sur-Mer",
                           "couleur_preferee": "bleu"})
    assert p == {"age": 0, "effectif": 0, "departement": "Haute-Saône", "region": "Bourgogne-Franche-Comté",
                 "code_postal": "01000", "date_creation": "2012-03-15", "taille_foyer": 3, "parts": 2.5,
                 "quotient_familial": 850.0, "chiffre_affaires": 120000.0, "commune": "Nulle-Part-sur-Mer",
                 "couleur_preferee": "bleu"}
    assert normalize_profile({"age": 120, "dep": "2a", "region": 84, "date_creation": 1850})["departement"] == "2A"
    assert normalize_profile({"dep": 1, "region": 84}) == {"departement": "01", "region": "84"}
    assert normalize_profile({"departement": "971", "date_creation": date.today().isoformat()})["departement"] == "971"
    # the misspelt audience keeps its behaviour: left unknown, so the question is asked
    assert normalize_profile({"audience": "entrepise", "age": 19}) == {"age": 19}


def test_cli_refuses_implausible_profile_with_usage_error(tmp_path):
    from typer.testing import CliRunner

    from territoria.cli import app

    runner = CliRunner()
    base = ["--data-dir", str(tmp_path / "data"), "aids"]
    prof_file = tmp_path / "profil.json"
    prof_file.write_text('{"commune": "Vesoul", "salaries": -4, "audience": "entreprise"}', encoding="utf-8")
    for args, field in ((["find", "--profile", '{"age": 250}', "--need", "permis"], "age"),
                        (["find", "--age", "-3", "--need", "permis"], "age"),
                        (["find", "--profile", str(prof_file), "--need", "isoler l'atelier"], "salaries"),
                        (["find", "--profile", '{"date_creation": "2999-01-01"}'], "date_creation"),
                        (["find", "--profile", '{"cp": "7000"}'], "cp"),
                        (["find", "--profile", '{"departement": "99"}'], "departement"),
                        (["questions", "--profile", '{"foyer": 0}'], "foyer"),
                        (["chat", "--profile", '{"age": 250}'], "age")):
        out = runner.invoke(app, base + args, input="fin\n")
        text = " ".join(out.output.split())
        assert out.exit_code == 2, (args, out.output)
        assert f"« {field} »" in text and "Valeur attendue" in text and "Traceback" not in text, (args, text)
    # plausible values (an unknown commune name, a département by name, age 0) are not a profile error
    out = runner.invoke(app, base + ["find", "--profile", '{"commune": "Nulle-Part", "departement": "Haute-Saône", '
                                                          '"age": 0}', "--need", "permis"])
    assert out.exit_code == 1 and "Aucune aide" in out.output


def test_eval_cases_with_implausible_profile_name_the_line(tmp_path):
    from territoria.aids.evaluate import load_cases

    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps({"profile": {"age": 19}, "need": "x", "expected_ids": []}) + "\n" +
                     json.dumps({"profile": {"age": 190}, "need": "x", "expected_ids": []}), encoding="utf-8")
    with pytest.raises(TerritoriaError, match=r"Ligne 2 de cases.jsonl : Âge invalide"):
        load_cases(cases)


def test_api_refuses_implausible_profile_with_422(small_catalogue):
    from fastapi.testclient import TestClient

    from territoria.core.settings import set_settings
    from territoria.web.app import create_app

    set_settings(small_catalogue[0])
    client = TestClient(create_app())
    client.headers.update(auth_headers(role="public"))
    for route in ("/api/aids/find", "/api/aids/questions"):
        for prof, field in ((({"commune": "70550", "age": 250}), "age"), ({"salaries": -3}, "salaries"),
                            ({"code_postal": "700"}, "code_postal"), ({"departement": "99"}, "departement")):
            r = client.post(route, json={"profile": prof, "need": "financer mon permis de conduire"})
            assert r.status_code == 422, (route, prof, r.text)
            err = r.json()["error"]
            assert err["code"] == "invalid_profile" and err["field"] == f"profile.{field}"
            assert f"« {field} »" in err["message"] and "Valeur attendue" in err["message"] and err["hint"]
    r = client.post("/api/aids/find", json={"profile": {"commune": "70550", "age": 19, "departement": "70",
                                                        "date_creation": "2015"}, "need": "passer le BAFA"})
    assert r.status_code == 200 and r.json()["results"]


def test_conversation_asks_again_after_an_implausible_answer(small_catalogue):
    from territoria.aids.conversation import AidConversation
    from territoria.aids.profile import ProfileError

    with pytest.raises(ProfileError, match="« age »"):
        AidConversation(profile={"age": 250})
    conv = AidConversation()
    conv.answer("je voudrais passer mon permis de conduire")
    assert "âge" in conv.answer("Vesoul")["text"]
    for answer in ("250", "-3", "j'ai 130 ans"):
        r = conv.answer(answer)
        assert r["error"] and "Âge invalide" in r["text"] and "entre 0 et 120" in r["text"], (answer, r["text"])
        assert "Quel âge avez-vous ?" in r["text"] and not r["results"] and "age" not in conv.profile
    r = conv.answer("19")
    assert r["error"] is None and r["results"] and conv.profile["age"] == 19


def test_generic_import_skips_unreadable_rows_with_the_reason(tmp_path):
    """A row whose age limit or deadline cannot be read would silently open the aid to everyone, for ever:
    it is skipped with the reason (column and value); non-object JSON rows, shifted CSV rows and Windows-1252
    JSON files are handled in French instead of a traceback."""
    rows = [{"Intitulé": "Aide A", "Âge min": "18", "Âge max": "25", "Date limite": "31/12/2027"},
            {"Intitulé": "Aide B", "Âge min": "dix-huit"},
            {"Intitulé": "Aide C", "Date limite": "31/13/2027"},
            {"Intitulé": "Aide D", "Âge min": "30", "Âge max": "18"},
            {"Intitulé": "Aide F", "Âge min": "-2"},
            "pas une aide"]
    b = I.convert_generic(rows, None, source="cat")
    assert [a.id for a in b.aids] == ["cat/aide-a"]
    a = b.aids[0]  # "Âge min" is recognised without a mapping, as documented
    assert {(n["op"], n["value"]) for n in a.conditions if n["type"] == "age"} == {(">=", 18), ("<=", 25)}
    assert a.end_date == "2027-12-31"
    reasons = dict(b.skipped)
    assert "Âge min" in reasons["aide-b"] and "dix-huit" in reasons["aide-b"]
    assert "date limite" in reasons["aide-c"] and "31/13/2027" in reasons["aide-c"]
    assert "supérieur au maximum" in reasons["aide-d"] and "-2" in reasons["aide-f"]
    assert "pas un objet" in reasons["6"]

    csv_file = tmp_path / "catalogue.csv"
    csv_file.write_text("Intitulé;Public;Date limite\nAide A;particulier;31/12/2027\n"
                        "Aide E;particulier; texte; avec point-virgule;31/12/2027\n", encoding="utf-8")
    b = I.convert_generic(I.read_rows(csv_file), None, source="cat")
    assert [a.name for a in b.aids] == ["Aide A"] and "plus de valeurs que de colonnes" in b.skipped[0][1]
    win = tmp_path / "export.json"
    win.write_bytes('{"results": [{"nom": "Aide à l\'équipement"}]}'.encode("cp1252"))
    assert I.read_rows(win) == [{"nom": "Aide à l'équipement"}]
    win_l = tmp_path / "export.jsonl"
    win_l.write_bytes('{"nom": "Aide é"}\n'.encode("cp1252"))
    assert I.read_rows(win_l) == [{"nom": "Aide é"}]
