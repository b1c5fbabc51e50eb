"""Build bench/aids_cases_own.jsonl: our own aid-finder cases, written like the shared dev cases.

Two groups:
- `business_association` (30 cases): companies and associations describing a project in their own words;
  the aids "for that need" are the mission-transition programmes whose priority objectives match the
  project (energy, waste, water, mobility, building, eco-design, HR, biodiversity, environmental
  strategy). expected_ids = those the applicant can claim (région, size, sector, still open);
  ineligible_ids = those it cannot (other région, size or sector).
- `citizen_own_words` (40 cases): young people and residents describing their situation instead of naming
  the aid. The aids "for that need" are the same topic sets as the shared dev cases (or aides-jeunes'
  own interest flags for topics the dev cases do not have: studies abroad, health/social training);
  expected/ineligible by territory and age, as in the dev cases.

The needs, profiles and topics below are written by hand (after a first run, three business topics were
widened where the programmes' objective tags were narrower than the project: wood offcuts can also be
valorised as energy, packaging redesign is also waste, a ressourcerie is also eco-design/reuse); the id lists are computed from the shared data
(`../shared/data/aids`, read at run time) with Territoria's eligibility engine, so they follow the data's
own geographic, age, size and sector conditions. Usage:

    .venv/bin/python bench/aids_make_own_cases.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TODAY = date(2026, 12, 2)

BUSINESS = [
    # (profile, need, objectives)
    ({"commune": "69123", "audience": "entreprise", "effectif": 8, "secteur": "restauration"},
     "Les fours et la chambre froide de mon restaurant font exploser la facture d'électricité, je veux consommer moins",
     ["energy"]),
    ({"commune": "38185", "audience": "entreprise", "effectif": 120, "naf": "25.62A"},
     "Nous voulons mesurer nos émissions de gaz à effet de serre et construire un plan pour les réduire",
     ["environmental"]),
    ({"commune": "35238", "audience": "entreprise", "effectif": 12, "naf": "16.23Z"},
     "Notre atelier de menuiserie jette beaucoup de chutes de bois et de sciure, on voudrait les valoriser",
     ["waste", "energy"]),
    ({"commune": "59350", "audience": "entreprise", "effectif": 200, "naf": "10.51A"},
     "Notre usine laitière consomme énormément d'eau pour le nettoyage, nous voulons la réduire et la réutiliser",
     ["water"]),
    ({"commune": "31555", "audience": "entreprise", "effectif": 40, "naf": "49.41A"},
     "On aimerait remplacer nos camionnettes diesel de livraison par des véhicules électriques",
     ["mobility"]),
    ({"commune": "21231", "audience": "entreprise", "effectif": 5, "secteur": "commerce"},
     "Notre magasin est une passoire thermique, on voudrait isoler et changer le chauffage du local",
     ["building", "energy"]),
    ({"commune": "44109", "audience": "entreprise", "effectif": 30, "naf": "10.89Z"},
     "Nous voulons repenser nos produits et nos emballages pour qu'ils polluent moins sur tout leur cycle de vie",
     ["eco-design", "waste"]),
    ({"commune": "33063", "audience": "entreprise", "effectif": 60, "naf": "71.12B"},
     "Je veux former mes équipes aux enjeux climat et recruter quelqu'un pour piloter notre démarche environnement",
     ["rh"]),
    ({"commune": "67482", "audience": "entreprise", "effectif": 25, "naf": "28.29B"},
     "Autour de notre site il y a un grand terrain, on voudrait planter des haies et accueillir la faune locale",
     ["biodiversite"]),
    ({"commune": "80021", "audience": "association", "effectif": 3, "naf": "93.12Z"},
     "Notre club sportif associatif paie très cher le chauffage et l'éclairage du gymnase",
     ["energy"]),
    ({"commune": "13055", "audience": "association", "effectif": 15, "naf": "38.32Z"},
     "Notre association d'insertion veut monter une ressourcerie pour donner une seconde vie aux objets",
     ["waste", "eco-design"]),
    ({"commune": "34172", "audience": "association", "effectif": 4, "naf": "90.01Z"},
     "Notre festival associatif veut calculer son empreinte carbone et réduire son impact",
     ["environmental"]),
    ({"commune": "06088", "audience": "entreprise", "effectif": 15, "naf": "55.10Z"},
     "Mon hôtel veut réduire ses consommations d'eau dans les chambres et la blanchisserie",
     ["water"]),
    ({"commune": "14118", "audience": "entreprise", "effectif": 4, "secteur": "boulangerie"},
     "Je suis boulanger, mon four est vieux et gourmand, je voudrais un équipement qui consomme moins d'énergie",
     ["energy"]),
    ({"commune": "63113", "audience": "entreprise", "effectif": 45, "naf": "22.29A"},
     "Nous cherchons un prêt pour financer des machines moins polluantes dans notre atelier de plasturgie",
     ["environmental", "energy", "waste"]),
    ({"commune": "86194", "audience": "entreprise", "effectif": 3, "naf": "47.71Z"},
     "Petite boutique, je veux réduire l'impact environnemental de mon activité mais je ne sais pas par où commencer",
     ["environmental"]),
    ({"commune": "51454", "audience": "entreprise", "effectif": 22, "naf": "56.10A"},
     "Nous jetons trop de nourriture en cuisine, comment réduire le gaspillage et mieux trier nos biodéchets",
     ["waste"]),
    ({"commune": "57463", "audience": "entreprise", "effectif": 9, "naf": "45.20A"},
     "Mon garage automobile produit des huiles usagées, des pneus et des pièces à recycler",
     ["waste"]),
    ({"commune": "76540", "audience": "entreprise", "effectif": 80, "naf": "62.01Z"},
     "Nos 80 salariés viennent presque tous seuls en voiture, on veut organiser covoiturage, vélo et télétravail",
     ["mobility"]),
    ({"commune": "45234", "audience": "entreprise", "effectif": 6, "naf": "47.59B"},
     "Passer l'éclairage de ma boutique en LED et mieux piloter le chauffage pour baisser la facture",
     ["energy"]),
    ({"commune": "75056", "audience": "entreprise", "effectif": 18, "naf": "62.01Z"},
     "Notre agence web veut concevoir des sites et services numériques plus sobres et écoconçus",
     ["eco-design"]),
    ({"commune": "76351", "audience": "entreprise", "effectif": 300, "naf": "20.14Z"},
     "Récupérer la chaleur perdue de nos compresseurs et fours industriels pour chauffer le site",
     ["energy"]),
    ({"commune": "29019", "audience": "association", "effectif": 2, "naf": "94.99Z"},
     "Notre association de jardins partagés veut protéger les insectes pollinisateurs et la biodiversité du quartier",
     ["biodiversite"]),
    ({"commune": "87085", "audience": "entreprise", "effectif": 20, "naf": "43.21A"},
     "Nos artisans électriciens roulent avec des utilitaires thermiques, on voudrait passer à des véhicules propres",
     ["mobility"]),
    ({"commune": "25056", "audience": "entreprise", "effectif": 35, "naf": "71.12B"},
     "Faire réaliser un audit énergétique de nos bureaux pour savoir quels travaux engager",
     ["energy", "building"]),
    ({"commune": "64445", "audience": "entreprise", "effectif": 7, "naf": "47.29Z"},
     "Mon épicerie veut supprimer les emballages plastiques et passer au vrac et à la consigne",
     ["waste", "eco-design"]),
    ({"commune": "2A004", "audience": "entreprise", "effectif": 10, "naf": "55.30Z"},
     "Notre camping veut économiser l'eau des sanitaires et l'énergie pour l'eau chaude",
     ["water", "energy"]),
    ({"commune": "72181", "audience": "entreprise", "effectif": 50, "naf": "25.11Z"},
     "Nous voulons échanger nos déchets et nos flux avec d'autres entreprises de la zone d'activité",
     ["waste"]),
    ({"commune": "51108", "audience": "entreprise", "effectif": 150, "naf": "23.51Z"},
     "Financer des investissements pour décarboner notre procédé industriel très émetteur de CO2",
     ["environmental", "energy"]),
    ({"commune": "97411", "audience": "association", "effectif": 6, "naf": "88.99B"},
     "Notre association d'aide à domicile veut réduire les déplacements en voiture de ses intervenantes",
     ["mobility"]),
]

CITIZENS = [
    # (profile, need, topic) ; topic = ("dev", dev need) | ("flag", aides-jeunes interestFlag) | ("velo",)
    ({"commune": "13055", "age": 18, "audience": "particulier"},
     "je voudrais apprendre à conduire mais les heures d'auto-école coûtent beaucoup trop cher",
     ("dev", "financer mon permis de conduire")),
    ({"commune": "87085", "age": 22, "audience": "particulier"},
     "sans voiture je ne trouve pas de boulot, il me faudrait le code et la conduite",
     ("dev", "financer mon permis de conduire")),
    ({"commune": "67482", "age": 17, "audience": "particulier"},
     "cet été je veux devenir animateur en colonie de vacances, il faut passer une formation",
     ("dev", "aide pour le BAFA")),
    ({"commune": "63113", "age": 19, "audience": "particulier"},
     "j'aimerais encadrer des enfants en centre de loisirs mais le stage d'animateur est payant",
     ("dev", "aide pour le BAFA")),
    ({"commune": "59350", "age": 20, "audience": "particulier"},
     "je galère à payer mon loyer chaque mois",
     ("dev", "aide au logement pour un jeune")),
    ({"commune": "45234", "age": 19, "audience": "particulier"},
     "je dois trouver un appart pour la rentrée et payer la caution, je n'ai pas les moyens",
     ("dev", "aide au logement pour un jeune")),
    ({"commune": "35238", "age": 16, "audience": "particulier"},
     "je prends le car tous les jours pour aller au lycée et l'abonnement coûte cher à mes parents",
     ("dev", "aide pour les transports en commun")),
    ({"commune": "69123", "age": 24, "audience": "particulier"},
     "je voudrais payer moins cher le train et le bus pour mes trajets",
     ("dev", "aide pour les transports en commun")),
    ({"commune": "14118", "age": 16, "audience": "particulier"},
     "je voudrais m'inscrire dans un club de foot mais la licence est chère",
     ("dev", "aide pour une activité sportive ou culturelle")),
    ({"commune": "44109", "age": 18, "audience": "particulier"},
     "j'aimerais aller plus souvent au cinéma, à des concerts et acheter des livres",
     ("dev", "aide pour une activité sportive ou culturelle")),
    ({"commune": "25056", "age": 17, "audience": "particulier"},
     "mon ordi portable est mort et j'en ai besoin pour faire mes devoirs",
     ("dev", "aide pour acheter un ordinateur")),
    ({"commune": "49007", "age": 16, "audience": "particulier"},
     "il me faudrait un PC pour le lycée, on n'en a pas à la maison",
     ("dev", "aide pour acheter un ordinateur")),
    ({"commune": "31555", "age": 41, "audience": "particulier"},
     "je veux aller au travail en pédalant sans arriver en sueur, avec une batterie",
     ("velo",)),
    ({"commune": "33063", "age": 30, "audience": "particulier"},
     "remplacer ma deuxième voiture par une bicyclette à assistance pour les trajets quotidiens",
     ("velo",)),
    ({"commune": "38185", "age": 55, "audience": "particulier"},
     "je cherche un coup de pouce pour m'acheter un VAE",
     ("velo",)),
    ({"commune": "76540", "age": 20, "audience": "particulier"},
     "je pars faire un semestre Erasmus en Espagne l'an prochain, comment financer le voyage et le logement",
     ("flag", "_interetEtudesEtranger")),
    ({"commune": "29019", "age": 21, "audience": "particulier"},
     "je voudrais faire mon stage de fin d'études à l'étranger",
     ("flag", "_interetEtudesEtranger")),
    ({"commune": "80021", "age": 23, "audience": "particulier"},
     "je suis en école d'infirmière et je n'arrive pas à financer ma formation",
     ("flag", "_interetAidesSanitaireSocial")),
    ({"commune": "57463", "age": 19, "audience": "particulier"},
     "je commence une formation d'aide-soignante, y a-t-il une bourse ?",
     ("flag", "_interetAidesSanitaireSocial")),
    ({"commune": "59350", "age": 25, "audience": "particulier"},
     "je travaille loin de chez moi et les transports me coûtent une fortune",
     ("dev", "aide pour les transports en commun")),
    ({"commune": "86194", "age": 26, "audience": "particulier"},
     "c'est mon premier logement, je n'arrive pas à réunir le dépôt de garantie",
     ("dev", "aide au logement pour un jeune")),
    ({"commune": "72181", "age": 16, "audience": "particulier"},
     "je fais de la danse et du théâtre mais les cours coûtent cher",
     ("dev", "aide pour une activité sportive ou culturelle")),
    ({"commune": "64445", "age": 20, "audience": "particulier"},
     "pour mon travail il faut que j'aie le permis B",
     ("dev", "financer mon permis de conduire")),
    ({"commune": "51454", "age": 18, "audience": "particulier"},
     "je veux passer mon brevet d'animateur pour bosser en centre aéré",
     ("dev", "aide pour le BAFA")),
    ({"commune": "80021", "age": 18, "audience": "particulier"},
     "je dois passer le code de la route et apprendre à conduire",
     ("dev", "financer mon permis de conduire")),
    ({"commune": "2A004", "age": 19, "audience": "particulier"},
     "comment payer l'auto-école",
     ("dev", "financer mon permis de conduire")),
    ({"commune": "75056", "age": 20, "audience": "particulier"},
     "pour travailler dans l'animation il me faut le brevet d'animateur mais je n'ai pas les moyens",
     ("dev", "aide pour le BAFA")),
    ({"commune": "44109", "age": 17, "audience": "particulier"},
     "je voudrais être animatrice au centre aéré pendant les vacances",
     ("dev", "aide pour le BAFA")),
    ({"commune": "33063", "age": 22, "audience": "particulier"},
     "je quitte la maison de mes parents et je cherche à louer un studio",
     ("dev", "aide au logement pour un jeune")),
    ({"commune": "59350", "age": 21, "audience": "particulier"},
     "mon propriétaire me réclame des loyers en retard",
     ("dev", "aide au logement pour un jeune")),
    ({"commune": "31555", "age": 17, "audience": "particulier"},
     "je vais au lycée en bus et en train chaque jour",
     ("dev", "aide pour les transports en commun")),
    ({"commune": "44109", "age": 23, "audience": "particulier"},
     "une réduction sur mon abonnement de tram et de bus",
     ("dev", "aide pour les transports en commun")),
    ({"commune": "76540", "age": 16, "audience": "particulier"},
     "je voudrais faire du basket en club",
     ("dev", "aide pour une activité sportive ou culturelle")),
    ({"commune": "27229", "age": 19, "audience": "particulier"},
     "j'adore le théâtre et les musées mais les sorties culturelles me coûtent cher",
     ("dev", "aide pour une activité sportive ou culturelle")),
    ({"commune": "85191", "age": 18, "audience": "particulier"},
     "pour la fac j'ai besoin d'un ordinateur portable",
     ("dev", "aide pour acheter un ordinateur")),
    ({"commune": "39300", "age": 16, "audience": "particulier"},
     "ma tablette ne suffit plus pour l'école, il me faut un vrai ordinateur",
     ("dev", "aide pour acheter un ordinateur")),
    ({"commune": "34172", "age": 35, "audience": "particulier"},
     "j'aimerais un vélo électrique pour emmener mes enfants à l'école",
     ("velo",)),
    ({"commune": "67482", "age": 45, "audience": "particulier"},
     "je veux m'acheter un vélo cargo pour faire les courses",
     ("velo",)),
    ({"commune": "69123", "age": 22, "audience": "particulier"},
     "je voudrais partir étudier un an au Canada",
     ("flag", "_interetEtudesEtranger")),
    ({"commune": "13055", "age": 20, "audience": "particulier"},
     "je me lance dans des études d'éducateur spécialisé",
     ("flag", "_interetAidesSanitaireSocial")),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--out", default=str(REPO / "bench" / "aids_cases_own.jsonl"))
    args = ap.parse_args()
    shared = Path(args.shared)
    os.environ.setdefault("TERRITORIA_COMMUNES_DIR", str(shared / "communes"))
    from territoria.aids import importers as I
    from territoria.aids.eligibility import Context, evaluate
    from territoria.aids.perimeter import load_geo
    from territoria.aids.profile import normalize_profile

    geo = load_geo()
    d = shared / "aids"
    aids = (I.convert_aides_jeunes(I.read_rows(d / "aides_jeunes_benefits.jsonl"), geo).aids
            + I.convert_aides_velo(I.read_rows(d / "aides_velo.jsonl"), geo).aids
            + I.convert_mission_transition(I.read_rows(d / "mission_transition_programs.jsonl"), geo).aids)
    by_id = {a.id: a for a in aids}
    mt_rows = {r["id"]: r for r in I.read_rows(d / "mission_transition_programs.jsonl")}
    dev = [json.loads(x) for x in open(d / "dev_cases.jsonl", encoding="utf-8")]
    dev_topics: dict[str, set[str]] = {}
    for c in dev:
        dev_topics.setdefault(c["need"], set()).update(c["expected_ids"], c["ineligible_ids"])

    def topic_ids(topic) -> set[str]:
        if topic[0] == "dev":
            return dev_topics[topic[1]]
        if topic[0] == "flag":
            return {a.id for a in aids if a.source == "aides-jeunes" and (a.extra or {}).get("interest_flag") == topic[1]}
        if topic[0] == "velo":
            return {a.id for a in aids if a.source == "aides-velo"}
        if topic[0] == "mt":
            return {f"mission-transition/{k}" for k, r in mt_rows.items()
                    if set(topic[1]) & set((r.get("eligibility_data") or {}).get("priorityObjectives") or [])}
        raise ValueError(topic)

    def split(profile: dict, ids: set[str], hard_keys: set[str]) -> tuple[list[str], list[str]]:
        prof = normalize_profile({k: v for k, v in profile.items() if k in hard_keys})
        terr = geo.territory_of_profile(prof)
        ctx = Context(profile=prof, territory=terr, today=TODAY, geo=geo)
        exp, inel = [], []
        for i in sorted(ids):
            a = by_id[i]
            if a.is_expired(TODAY):
                continue  # ended aids are in neither list
            e = evaluate(a, ctx)
            if e.status == "ineligible":
                inel.append(i)
            elif a.perimeter.get("level") != "unknown":
                exp.append(i)
        return exp, inel

    out = []
    for n, (profile, need, objectives) in enumerate(BUSINESS):
        ids = topic_ids(("mt", objectives))
        exp, inel = split(profile, ids, {"commune", "audience", "effectif", "naf", "secteur"})
        out.append({"id": f"own-biz-{n:03d}", "group": "business_association", "profile": profile, "need": need,
                    "topic": {"mission_transition_objectives": objectives}, "expected_ids": exp, "ineligible_ids": inel})
    for n, (profile, need, topic) in enumerate(CITIZENS):
        ids = topic_ids(topic)
        exp, inel = split(profile, ids, {"commune", "age", "audience"})
        out.append({"id": f"own-cit-{n:03d}", "group": "citizen_own_words", "profile": profile, "need": need,
                    "topic": list(topic), "expected_ids": exp, "ineligible_ids": inel})
    with open(args.out, "w", encoding="utf-8") as fh:
        for c in out:
            fh.write(json.dumps(c, ensure_ascii=False) + "\n")
    empty = [c["id"] for c in out if not c["expected_ids"]]
    print(f"{len(out)} cases written to {args.out}" + (f"; no expected id for {empty}" if empty else ""))


if __name__ == "__main__":
    main()
