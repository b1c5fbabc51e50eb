"""Everyday and SMS French → the words administrative pages use (query expansion).

Citizens write "mon boss", "le proprio", "ma caisse embarquée"; the pages say employeur, propriétaire /
bailleur, fourrière. This is a general vocabulary of familiar, abbreviated and spoken French, grouped by
domain, not a list of questions: keys are folded words or phrases, values are the words to add (with a
lower weight than the user's own words, see search/query.py).
"""

from __future__ import annotations

# SMS / spoken abbreviations: replaced in the query (they carry no meaning as such).
ABBREVIATIONS: dict[str, str] = {
    "jai": "j ai", "jaurai": "j aurai", "jsuis": "je suis", "chui": "je suis", "jsais": "je sais",
    "cest": "c est", "ces t": "c est", "ca": "cela", "sa": "sa", "ya": "il y a", "yen": "il y en",
    "pk": "pourquoi", "pq": "pourquoi", "pkoi": "pourquoi", "koi": "quoi", "kan": "quand", "qd": "quand",
    "bcp": "beaucoup", "tjs": "toujours", "tjrs": "toujours", "ds": "dans", "pr": "pour", "ms": "mais",
    "tt": "tout", "tte": "toute", "tts": "tous", "mm": "meme", "vs": "vous", "ns": "nous", "dc": "donc",
    "svp": "", "stp": "", "slt": "", "salut": "", "bonjour": "", "merci": "", "mrc": "", "bjr": "", "cc": "",
    "rdv": "rendez-vous", "rdvs": "rendez-vous", "nb": "nombre", "qqn": "quelqu un", "qqch": "quelque chose",
    "pb": "probleme", "pbs": "problemes", "pbm": "probleme", "infos": "informations", "info": "information",
    "dr": "docteur", "doc": "medecin", "max": "maximum", "min": "minimum", "mini": "minimum",
    "appart": "appartement", "apart": "appartement", "coloc": "colocation", "proprio": "proprietaire",
    "proprios": "proprietaires", "ado": "adolescent", "ados": "adolescents", "gamin": "enfant",
    "gamins": "enfants", "gosse": "enfant", "gosses": "enfants", "momes": "enfants", "mome": "enfant",
    "bb": "bebe", "pote": "ami", "potes": "amis", "keuf": "police", "keufs": "police", "flic": "police",
    "flics": "police", "resto": "restaurant", "restos": "restaurants", "ordi": "ordinateur", "tel": "telephone",
    "portable": "telephone mobile", "ophtalmo": "ophtalmologiste", "gyneco": "gynecologue",
    "kine": "masseur kinesitherapeute", "dentiste": "chirurgien-dentiste", "psy": "psychiatre psychologue",
    "generaliste": "medecin traitant", "toubib": "medecin", "fac": "universite", "bac": "baccalaureat",
    "exam": "examen", "exams": "examens", "prof": "professeur", "profs": "professeurs", "dispo": "disponible",
    "perso": "personnel", "pro": "professionnel", "auto-entrepreneur": "micro-entrepreneur",
    "autoentrepreneur": "micro-entrepreneur", "cdi": "contrat duree indeterminee", "cdd": "contrat duree determinee",
    "ccas": "centre communal action sociale", "caf": "caisse allocations familiales caf",
    "secu": "securite sociale assurance maladie", "cpam": "assurance maladie", "mutuelle": "complementaire sante",
    "rsa": "revenu solidarite active rsa", "apl": "aide personnalisee logement apl",
    "smic": "salaire minimum smic", "hlm": "logement social hlm", "ehpad": "maison retraite ehpad",
    "cb": "carte bancaire", "rib": "releve identite bancaire", "impots": "impot", "bafa": "bafa animateur",
    "itt": "incapacite totale travail", "pv": "proces-verbal amende", "prud'hommes": "conseil prud hommes",
    "prudhommes": "conseil prud hommes", "pmr": "personne mobilite reduite handicap", "mdph": "handicap mdph",
    "rqth": "travailleur handicape rqth", "aah": "allocation adulte handicape aah", "ex": "ex-conjoint separation",
}

# Familiar word or phrase → administrative words (expansion, added to the query).
SYNONYMS: dict[str, str] = {
    # work
    "boss": "employeur", "patron": "employeur", "patronne": "employeur", "chef": "employeur superieur",
    "boite": "entreprise employeur", "taf": "travail emploi", "boulot": "travail emploi", "job": "emploi travail",
    "bosser": "travailler", "bosse": "travaille", "bossé": "travaille", "taffer": "travailler",
    "vire": "licenciement licencie", "virer": "licenciement", "viree": "licenciement licenciee",
    "demission": "demission", "demissionner": "demission", "arret maladie": "arret travail maladie",
    "arret": "arret travail", "paye": "salaire remuneration", "paie": "salaire", "fiche de paie": "bulletin paie",
    "fiche de paye": "bulletin paie", "heures sup": "heures supplementaires", "chomage": "allocation chomage are",
    "pole emploi": "demandeur emploi pole emploi", "stage": "stage stagiaire gratification",
    "collegue": "salarie", "collegues": "salaries", "harcele": "harcelement", "rupture": "rupture conventionnelle",
    "vacances": "conges payes", "conges": "conges payes", "retraite": "retraite pension", "smicard": "smic salaire",
    "interim": "travail temporaire interim", "teletravail": "teletravail", 
    "pause": "pause repos", "cantine": "restauration repas",
    "manger": "repas restauration", "bouffe": "repas nourriture", 
    
    "denoncer": "signalement alerte", "balancer": "signalement denonciation",
    # housing
    "loyer": "loyer bail", "bailleur": "bailleur proprietaire", "locataire": "locataire bail location",
    "caution": "depot garantie caution", "etat des lieux": "etat lieux", "expulse": "expulsion",
    "virer de chez": "expulsion conge bail", "demenager": "demenagement", "demenage": "demenagement",
    "voisin": "voisinage trouble", "voisins": "voisinage trouble", "bruit": "nuisances sonores bruit voisinage",
    "travaux": "travaux renovation", "fuite": "degat eaux", "degats": "degat sinistre", "moisissure": "logement decent insalubre",
    "squat": "squat occupation illegale", "squatteur": "squat occupation illegale", "piscine": "piscine construction declaration",
    "abri de jardin": "abri jardin declaration prealable", "veranda": "extension declaration prealable permis construire",
    "agrandir": "extension agrandissement declaration prealable permis construire", "maison": "logement maison",
    "notaire": "notaire acte", "credit": "pret credit",
    "pret": "pret credit", "emprunt": "pret credit", "banque": "banque etablissement bancaire",
    # family
    "mari": "epoux conjoint", "femme": "epouse conjoint", "copain": "concubin partenaire", "copine": "concubin partenaire",
    "compagnon": "concubin partenaire", "compagne": "concubin partenaire", "separe": "separation divorce",
    "separes": "separation divorce", "separer": "separation divorce", "quitte": "separation rupture",
    "garde": "garde residence enfant", "une semaine sur deux": "residence alternee garde alternee",
    "pension alimentaire": "pension alimentaire contribution entretien", "bebe": "naissance enfant",
    "enceinte": "grossesse", "accoucher": "naissance accouchement", "nounou": "assistante maternelle garde enfant",
    "creche": "creche garde enfant", "gosses": "enfants", "neveu": "famille", "niece": "famille",
    "deces": "deces", "mort": "deces", "decede": "deces", "heritage": "succession heritage", "heriter": "succession heritier",
    "testament": "testament succession", "pacse": "pacs", "pacser": "pacs", "se marier": "mariage",
    "marier": "mariage", "vieux": "personne agee", "parents ages": "personne agee dependance",
    # money, consumption
    "sous": "argent somme remboursement", "fric": "argent", "thune": "argent", "pognon": "argent", "rembourse": "remboursement",
    "arnaque": "escroquerie fraude", "arnaquer": "escroquerie", "escroc": "escroquerie", "pirate": "piratage fraude",
    "dette": "dette creance", "dettes": "dettes surendettement", "huissier": "commissaire justice huissier saisie",
    "achete": "achat", "acheter": "achat",
    "vendre": "vente", "revendre": "vente revente", "retracter": "retractation", "regrette": "retractation renonciation",
    "annuler": "annulation resiliation", "resilier": "resiliation", "abonnement": "abonnement contrat resiliation",
    "forfait": "abonnement operateur", "operateur": "operateur telephonie", "facture": "facture",
    # vehicles, transport
    "voiture": "vehicule automobile", "caisse": "vehicule", "bagnole": "vehicule", "moto": "motocyclette deux roues",
    "scooter": "cyclomoteur deux roues", "permis": "permis conduire", "points": "points permis",
    "embarquee": "fourriere", "embarque": "fourriere", "enlevee": "fourriere", "fourriere": "fourriere",
    "carte grise": "certificat immatriculation", "gage": "gage situation administrative", "gagee": "gage situation administrative",
    "radar": "excès vitesse avis contravention", "flashe": "exces vitesse radar contravention",
    "amende": "amende contravention", "prune": "amende contravention", "controle technique": "controle technique",
    "velo": "velo bicyclette cycle", "trottinette": "trottinette edp engin deplacement personnel",
    "train": "train sncf transport", "avion": "transport aerien vol", "vol annule": "vol annule retard indemnisation",
    # papers, citizenship
    "papiers": "titre sejour documents identite", "carte d identite": "carte nationale identite",
    "cni": "carte nationale identite", "passeport": "passeport", "titre de sejour": "titre sejour carte sejour",
    "sans papiers": "etranger situation irreguliere", "naturalise": "naturalisation nationalite",
    "voter": "vote election inscription listes electorales", "procuration": "vote procuration",
    "perdu": "perte", "vole": "vol", "volee": "vol", "piquer": "vol", "pique": "vol",
    # justice, safety
    "porter plainte": "plainte", "agresse": "agression victime violence", "agresser": "agression victime violence",
    "tabasse": "violence agression victime", "frappe": "violence", "avocat": "avocat aide juridictionnelle",
    "proces": "proces tribunal", "tribunal": "tribunal juridiction", "juge": "juge tribunal", "prison": "prison detention",
    "casier": "casier judiciaire", "joint": "cannabis stupefiant", "shit": "cannabis stupefiant", "beuh": "cannabis stupefiant",
    "drogue": "stupefiants", "alcool": "alcool", "bourre": "alcool ivresse", "maltraite": "maltraitance",
    "chien": "animal chien", "chat": "animal chat", "animaux": "animal",
    # health, social
    "malade": "maladie", "hopital": "hopital hospitalisation", "urgences": "urgences hopital",
    "rembourse secu": "remboursement assurance maladie", "lunettes": "lunettes optique", "dents": "soins dentaires",
    "handicape": "handicap", "vieillesse": "retraite personne agee", "pauvre": "ressources modestes aide sociale",
    "galere": "difficultes financieres aide", "fauche": "difficultes financieres ressources", "sdf": "sans domicile",
    # school, youth
    "ecole": "ecole scolarite", "college": "college scolarite", "lycee": "lycee scolarite", "etudiant": "etudiant",
    "bourse": "bourse etudes", "stage de 3e": "stage observation",
    # taxes
    "impot": "impot revenu", "taxe": "taxe impot", "declaration": "declaration", "frais reels": "frais professionnels deduction",
    "deduire": "deduction deductible", "niche": "reduction impot credit impot",
}
