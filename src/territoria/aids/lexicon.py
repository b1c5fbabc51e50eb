"""A small general French lexicon: everyday words → the administrative words aid texts use.

People say "apprendre à conduire", aids say "permis de conduire"; people say "mon loyer", aids say
"aide au logement". Each entry is a regular expression over folded, lower-case text and the words it
adds to the query (with a lower weight than the user's own words). Written for French public aids in
general, not for any evaluation case.
"""

from __future__ import annotations

import re
from functools import lru_cache

from territoria.search.text import fold_accents

# (pattern on folded text, expansion terms)
ENTRIES: list[tuple[str, str]] = [
    # -- mobility ------------------------------------------------------------------------------------
    (r"\b(conduire|conduite|auto ecole|autoecole|code de la route|permis b\b|le permis|mon permis|passer le permis"
     r"|heures de conduite|moniteur|aac)\b", "permis de conduire auto-école code"),
    (r"\b(scooter|mobylette|moto|deux roues|bsr|permis am)\b", "permis AM cyclomoteur deux-roues mobilité"),
    (r"\b(velo|velos|bicyclette|bicyclettes|vae|vtc|biporteur|triporteur|pedaler|pedalant|pedale|cycliste"
     r"|trottinette|cycle|cycles)\b", "vélo cycle achat vélo mobilité"),
    (r"\b(electrique|assistance electrique|assistance au pedalage|sans transpirer|batterie)\b",
     "électrique assistance électrique"),
    (r"\b(bus|autocar|tram|tramway|metro|train|ter|rer|navigo|abonnement|transports? en commun|transport scolaire"
     r"|titre de transport|ticket|trajet|trajets|deplacement|deplacements|se deplacer|aller en cours"
     r"|aller au lycee|aller au travail|aller au boulot)\b", "transport abonnement transports en commun mobilité"),
    (r"\b(le|en|du|au|un|mon) car\b|\bcar scolaire\b|\bautocar\b", "transport abonnement transport scolaire"),
    (r"\b(covoiturage|covoiturer)\b", "covoiturage mobilité"),
    (r"\b(carburant|essence|gasoil)\b", "carburant mobilité transport"),
    # -- housing ------------------------------------------------------------------------------------------
    (r"\b(loyer|loyers|louer|location|appart|appartement|studio|logement|loger|colocation|coloc|chambre"
     r"|proprietaire|bail|demenager|demenagement|hebergement|hebergé|se loger|toit)\b",
     "logement aide au logement loyer"),
    (r"\b(caution|depot de garantie|garant|garantie)\b", "dépôt de garantie caution logement Visale"),
    (r"\b(facture|factures|electricite|gaz|chauffage|energie|eau chaude|impaye|impayes)\b",
     "énergie facture fonds de solidarité logement"),
    (r"\b(sans abri|a la rue|sdf|expulsion|expulse)\b", "hébergement urgence logement"),
    (r"\b(isoler|isolation|renover|renovation|travaux|pompe a chaleur|chaudiere|fenetres|passoire)\b",
     "rénovation énergétique travaux logement bâtiment"),
    # -- studies, training, youth ------------------------------------------------------------------------
    (r"\b(animateur|animatrice|animation|colo|colonie|colonies|centre de loisirs|centre aere|encadrer des enfants"
     r"|accueil collectif de mineurs|directeur de centre)\b", "BAFA BAFD brevet animateur animation"),
    (r"\b(bafa|bafd)\b", "BAFA BAFD animateur animation"),
    (r"\b(etudes|etudier|etudiant|etudiante|universite|fac|licence|master|bts|prepa|ecole|inscription"
     r"|frais de scolarite|rentree)\b", "études étudiant enseignement supérieur bourse"),
    (r"\b(erasmus|etranger|a l etranger|international|partir a|sejour linguistique|echange universitaire"
     r"|stage a l etranger|mobilite internationale)\b", "mobilité internationale études à l'étranger séjour"),
    (r"\b(lycee|lyceen|lyceenne|college|collegien|scolarite|manuels|fournitures scolaires|cartable|cantine)\b",
     "scolarité lycéen élève"),
    (r"\b(apprenti|apprentie|apprentissage|alternance|alternant|cfa)\b", "apprenti apprentissage alternance"),
    (r"\b(formation|me former|se former|reconversion|qualification|diplome|certificat|titre pro)\b",
     "formation professionnelle qualification"),
    (r"\b(infirmier|infirmiere|aide soignant|aide soignante|educateur|educatrice|assistant social"
     r"|assistante sociale|kine|sage femme|paramedical|sanitaire|social)\b", "formation sanitaire et sociale"),
    (r"\b(service civique|volontariat|volontaire|benevolat|benevole|engagement citoyen|s engager)\b",
     "service civique volontariat engagement bénévolat"),
    (r"\b(stage|stagiaire|gratification)\b", "stage stagiaire"),
    # -- digital -----------------------------------------------------------------------------------------------
    (r"\b(ordi|ordinateur|ordinateurs|pc|laptop|portable|tablette|informatique|materiel informatique"
     r"|equipement informatique|imprimante)\b", "ordinateur équipement informatique numérique"),
    (r"\b(internet|wifi|box|forfait|telephone|smartphone)\b", "numérique équipement internet"),
    # -- work, money -----------------------------------------------------------------------------------------
    (r"\b(emploi|travail|boulot|job|chomage|chomeur|embauche|cv|entretien d embauche|france travail"
     r"|pole emploi|mission locale|recherche d emploi|trouver du travail)\b",
     "emploi insertion professionnelle accompagnement"),
    (r"\b(argent|fin du mois|galere|difficultes financieres|budget|pauvrete|precarite|ressources|revenu|revenus"
     r"|rsa|aide financiere|coup de pouce)\b", "aide financière ressources solidarité"),
    (r"\b(pret|emprunt|emprunter|credit|avance)\b", "prêt avance remboursable financement"),
    (r"\b(creer|creation|lancer|monter|reprendre) (mon|une|son|ma) (entreprise|activite|boite|societe|commerce)\b",
     "création d'entreprise entrepreneuriat"),
    # -- health, family, disability --------------------------------------------------------------------------
    (r"\b(sante|medecin|docteur|soins|mutuelle|complementaire|dentiste|lunettes|psy|psychologue|hopital"
     r"|medicament|medicaments|consultation)\b", "santé soins complémentaire santé"),
    (r"\b(contraception|pilule|ivg|gynecologue)\b", "santé contraception"),
    (r"\b(handicap|handicape|handicapee|mdph|rqth|fauteuil|invalidite)\b", "handicap situation de handicap"),
    (r"\b(bebe|bebes|garde d enfants?|faire garder|creche|nounou|assistante maternelle|enceinte|grossesse"
     r"|naissance|parent isole|mere isolee|pere isole|famille monoparentale)\b", "famille enfant garde parent"),
    # -- leisure ----------------------------------------------------------------------------------------------------
    (r"\b(sport|sports|foot|football|basket|handball|rugby|tennis|natation|piscine|danse|judo|karate|escalade"
     r"|gym|salle de sport|club|licence sportive|licence|equitation|velo de course)\b",
     "sport activité sportive licence club"),
    (r"\b(culture|culturel|culturelle|musique|instrument|conservatoire|cinema|concert|concerts|theatre|musee"
     r"|livre|livres|lecture|spectacle|spectacles|festival|dessin|peinture|art|arts|manga)\b",
     "culture activité culturelle pass culture"),
    (r"\b(loisir|loisirs|vacances|sortie|sorties|voyage|colonie de vacances|sejour|camp)\b",
     "loisirs vacances séjour"),
    (r"\b(permis bateau|permis de chasser|brevet de secourisme|secourisme|psc1|bnssa|sauveteur|maitre nageur)\b",
     "brevet secourisme BNSSA"),
    # -- business / associations / communes -----------------------------------------------------------------
    (r"\b(decarboner|decarbonation|carbone|co2|gaz a effet de serre|ges|empreinte|bilan carbone|climat"
     r"|climatique)\b", "décarbonation bilan carbone stratégie bas carbone gaz à effet de serre"),
    (r"\b(energie|energetique|consommation d energie|facture d energie|electricite|gaz|chauffage|four|fours"
     r"|froid|chambre froide|compresseur|eclairage|led|photovoltaique|panneaux solaires|solaire|chaleur"
     r"|chaudiere|pompe a chaleur)\b", "énergie performance énergétique économies d'énergie efficacité"),
    (r"\b(dechet|dechets|poubelle|poubelles|tri|recycler|recyclage|emballage|emballages|reemploi|reutiliser"
     r"|gaspillage|biodechet|biodechets|compost|plastique)\b", "déchets gestion des déchets économie circulaire"),
    (r"\b(eau|arrosage|fuite|fuites|consommation d eau|secheresse|irrigation|eaux usees|rejets)\b",
     "eau consommation d'eau gestion de l'eau"),
    (r"\b(batiment|batiments|locaux|atelier|bureaux|entrepot|toiture|isolation|renovation|travaux"
     r"|construction|immobilier)\b", "bâtiment rénovation locaux"),
    (r"\b(flotte|vehicules|camion|camions|camionnette|utilitaire|livraison|livraisons|deplacements des salaries"
     r"|covoiturage|teletravail|plan de deplacement"
     r"|trajets domicile travail|plan de mobilite|velo de fonction|vehicule electrique|borne|bornes de recharge)\b",
     "mobilité durable véhicules flotte transport"),
    (r"\b(ecoconception|eco conception|conception|produit|produits|emballage|cycle de vie|analyse de cycle)\b",
     "écoconception produit cycle de vie"),
    (r"\b(biodiversite|nature|haie|haies|espaces verts|faune|flore|arbres|vegetalisation|pollinisateurs)\b",
     "biodiversité nature"),
    (r"\b(recruter|recrutement|embaucher|former mes salaries|former nos salaries|former (mes|nos|les) equipes"
     r"|competences|formation des salaries|ressources humaines|rh)\b",
     "former recruter compétences ressources humaines formation"),
    (r"\b(diagnostic|audit|etude|conseil|accompagnement|expert|bureau d etude|faire le point|par ou commencer)\b",
     "diagnostic étude accompagnement conseil"),
    (r"\b(investir|investissement|equipement|equipements|machine|machines|materiel)\b",
     "investissement équipement financement"),
    (r"\b(impot|impots|fiscal|fiscale|credit d impot|amortissement|exoneration)\b", "avantage fiscal crédit d'impôt"),
    (r"\b(tourisme|hotel|camping|gite|hebergement touristique|restaurant|restauration)\b",
     "tourisme hébergement restauration"),
    (r"\b(agriculture|agricole|ferme|exploitation|elevage|cultures|agriculteur)\b", "agriculture agricole"),
    (r"\b(industrie|industriel|usine|production|procede|procedes)\b", "industrie production procédés"),
    (r"\b(numerique responsable|serveurs|site web|sobriete numerique)\b", "numérique responsable"),
    (r"\b(rse|responsabilite societale|label|labellisation|certification|iso)\b", "RSE label démarche"),
    (r"\b(transition ecologique|environnement|environnemental|ecologique|vert|verte|durable|developpement durable)\b",
     "transition écologique environnement impact environnemental"),
]

@lru_cache(maxsize=1)
def _compiled() -> list[tuple[re.Pattern, str]]:
    return [(re.compile(p), e) for p, e in ENTRIES]


def _fold(text: str) -> str:
    t = fold_accents(text.lower())
    t = re.sub(r"[’'`]", " ", t)
    t = re.sub(r"[^a-z0-9]+", " ", t)
    return f" {' '.join(t.split())} "


def expansions(text: str) -> list[str]:
    """Administrative phrases implied by an everyday need ('apprendre à conduire' → 'permis de conduire…')."""
    if not text:
        return []
    t = _fold(text)
    out: list[str] = []
    for pat, exp in _compiled():
        if pat.search(t) and exp not in out:
            out.append(exp)
    return out
