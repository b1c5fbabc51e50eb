"""Perimeter resolution: which territories a commune belongs to, and whether an aid's perimeter contains it.

Reference data: the `communes/` folder (communes.csv.gz, epci.csv, departements.csv, regions.csv), from
`@etalab/decoupage-administratif` (INSEE COG, La Poste postcodes, BANATIC — Licence Ouverte).

A commune belongs to its EPCI (and Grand Paris EPT), its département, its région and France. Municipal
arrondissements, communes déléguées and communes associées also belong to their parent commune, and a
former INSEE code (merged commune) resolves to the current commune.

Where the reference lives: `data_dir/aids/geo/` once imported (`territoria aids import …/communes`),
else $TERRITORIA_COMMUNES_DIR, else a `shared/data/communes` folder found above the working directory.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import os
import re
import shutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from territoria.core.errors import TerritoriaError
from territoria.core.settings import get_settings
from territoria.search.text import fold_accents

GEO_FILES = ("communes.csv.gz", "epci.csv", "departements.csv", "regions.csv")

# Perimeter levels, from the smallest to the largest, with their specificity (higher = more local).
LEVELS = ("commune", "epci", "departement", "region", "national", "europe")
SPECIFICITY = {
    "commune": 5, "postcode": 5, "epci": 4, "ept": 4, "communes": 4.5, "departement": 3, "departements": 2.5,
    "region": 2, "regions": 1.5, "national": 1, "europe": 0.5, "unknown": 0,
}
LEVEL_LABELS_FR = {
    "commune": "commune", "postcode": "code postal", "epci": "intercommunalité", "ept": "territoire (EPT)",
    "communes": "groupe de communes", "departement": "département", "departements": "groupe de départements",
    "region": "région", "regions": "groupe de régions", "national": "France entière", "europe": "Union européenne",
    "unknown": "territoire non précisé",
}


class GeoDataMissing(TerritoriaError):
    pass


@dataclass
class Commune:
    code: str
    name: str
    kind: str  # commune-actuelle, arrondissement-municipal, commune-deleguee, commune-associee
    parent: str | None
    postcodes: list[str]
    departement: str
    departement_name: str
    region: str
    region_name: str
    epci: str | None
    epci_name: str | None
    ept: str | None
    population: int
    former_codes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """'Vesoul (70, Haute-Saône)' — what a user needs to tell two homonyms apart."""
        return f"{self.name} ({self.departement}, {self.departement_name})"

    def to_dict(self) -> dict:
        return {
            "code": self.code, "name": self.name, "label": self.label, "postcodes": self.postcodes,
            "epci": self.epci, "epci_name": self.epci_name, "departement": self.departement,
            "departement_name": self.departement_name, "region": self.region, "region_name": self.region_name,
        }


@dataclass
class Territory:
    """Every code a place is part of, level by level (what an aid perimeter is matched against)."""

    communes: set[str] = field(default_factory=set)  # own code + parent / former codes
    postcodes: set[str] = field(default_factory=set)
    epcis: set[str] = field(default_factory=set)  # EPCI and EPT SIREN
    departements: set[str] = field(default_factory=set)
    regions: set[str] = field(default_factory=set)
    country: str | None = "FR"
    commune: Commune | None = None

    def codes(self, level: str) -> set[str] | None:
        """Codes known at this level; None when the level is unknown for this place."""
        attr = {"commune": "communes", "communes": "communes", "postcode": "postcodes", "epci": "epcis",
                "ept": "epcis", "departement": "departements", "departements": "departements",
                "region": "regions", "regions": "regions"}.get(level)
        if attr is None:
            return None
        vals = getattr(self, attr)
        return vals if vals else None

    def describe(self) -> str:
        c = self.commune
        if c:
            parts = [c.name]
            if c.epci_name:
                parts.append(c.epci_name)
            parts += [c.departement_name, c.region_name]
            return ", ".join(parts)
        return ", ".join(sorted(self.departements | self.regions)) or "France"


@dataclass
class Resolution:
    status: str  # "ok", "ambiguous", "not_found"
    commune: Commune | None = None
    candidates: list[Commune] = field(default_factory=list)
    message: str = ""

    def to_dict(self) -> dict:
        return {"status": self.status, "commune": self.commune.to_dict() if self.commune else None,
                "candidates": [c.to_dict() for c in self.candidates], "message": self.message}


def norm_name(text: str) -> str:
    """Comparable commune name: folded, lower-case, 'St'→'saint', punctuation → spaces."""
    t = fold_accents(str(text)).lower()
    t = re.sub(r"['’`\-_/,.()]", " ", t)
    t = re.sub(r"\bste\b", "sainte", t)
    t = re.sub(r"\bst\b", "saint", t)
    return " ".join(t.split())


def _first_existing(paths) -> Path | None:
    for p in paths:
        if p and (Path(p) / "communes.csv.gz").is_file():
            return Path(p)
    return None


def geo_store_dir(data_dir: Path | None = None) -> Path:
    return Path(data_dir or get_settings().data_dir) / "aids" / "geo"


def find_geo_dir(explicit: Path | None = None) -> Path | None:
    """Where to read the communes reference from (see module docstring for the order)."""
    cands: list[Path | str | None] = [explicit, geo_store_dir(), os.environ.get("TERRITORIA_COMMUNES_DIR")]
    here = Path.cwd().resolve()
    for up in [here, *here.parents][:5]:
        cands.append(up / "shared" / "data" / "communes")
        cands.append(up / "data" / "communes")
    return _first_existing(cands)


def install_geo(src_dir: Path, data_dir: Path | None = None) -> Path:
    """Copy the communes reference into the data dir so that the catalogue is self-contained."""
    src_dir = Path(src_dir)
    missing = [f for f in GEO_FILES if not (src_dir / f).is_file()]
    if missing:
        raise TerritoriaError(
            f"Le dossier {src_dir} ne contient pas le référentiel des communes (manque : {', '.join(missing)}).",
            hint="Indiquez le dossier communes/ (communes.csv.gz, epci.csv, departements.csv, regions.csv).")
    dest = geo_store_dir(data_dir)
    dest.mkdir(parents=True, exist_ok=True)
    for f in GEO_FILES + ("README.md",):
        if (src_dir / f).is_file() and (src_dir.resolve() != dest.resolve()):
            shutil.copyfile(src_dir / f, dest / f)
    load_geo.cache_clear()
    return dest


class Geo:
    """The communes reference, indexed for resolution and membership."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.communes: dict[str, Commune] = {}
        self.by_former: dict[str, str] = {}
        self.by_postcode: dict[str, list[str]] = {}
        self.by_name: dict[str, list[str]] = {}
        self.epci_names: dict[str, str] = {}  # siren -> name
        self.epci_by_name: dict[str, str] = {}  # normalised name -> siren
        self.epci_members: dict[str, list[str]] = {}
        self.departements: dict[str, dict] = {}
        self.regions: dict[str, dict] = {}
        self.dep_by_name: dict[str, str] = {}
        self.region_by_name: dict[str, str] = {}
        self._load()

    # -- loading --------------------------------------------------------------------------------
    def _load(self) -> None:
        with gzip.open(self.root / "communes.csv.gz", "rt", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                c = Commune(
                    code=row["code_insee"], name=row["nom"], kind=row["type"],
                    parent=row.get("commune_parente") or None,
                    postcodes=[p for p in (row.get("codes_postaux") or "").split("|") if p],
                    departement=row["departement"], departement_name=row.get("departement_nom") or "",
                    region=row["region"], region_name=row.get("region_nom") or "",
                    epci=row.get("epci_siren") or None, epci_name=row.get("epci_nom") or None,
                    ept=row.get("ept_siren") or None,
                    population=int(float(row.get("population") or 0)),
                    former_codes=[p for p in (row.get("anciens_codes") or "").split("|") if p],
                )
                # The same code may appear as a current commune and as a déléguée: keep the current one.
                prev = self.communes.get(c.code)
                if prev is None or (prev.kind != "commune-actuelle" and c.kind == "commune-actuelle"):
                    self.communes[c.code] = c
        for c in self.communes.values():
            if c.kind == "commune-actuelle":
                for old in c.former_codes:
                    if old not in self.communes or self.communes[old].kind != "commune-actuelle":
                        self.by_former.setdefault(old, c.code)
                for pc in c.postcodes:
                    self.by_postcode.setdefault(pc, []).append(c.code)
            self.by_name.setdefault(norm_name(c.name), []).append(c.code)
        # Déléguées/associées have no postcodes: use the parent's.
        for c in self.communes.values():
            if not c.postcodes and c.parent and c.parent in self.communes:
                c.postcodes = list(self.communes[c.parent].postcodes)
        with open(self.root / "epci.csv", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                self.epci_names[row["siren"]] = row["nom"]
                self.epci_by_name[norm_name(row["nom"])] = row["siren"]
                self.epci_members[row["siren"]] = [x for x in (row.get("communes_insee") or "").split("|") if x]
        with open(self.root / "departements.csv", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                self.departements[row["code"]] = row
                self.dep_by_name[norm_name(row["nom"])] = row["code"]
        with open(self.root / "regions.csv", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                self.regions[row["code"]] = row
                self.region_by_name[norm_name(row["nom"])] = row["code"]

    # -- lookups ----------------------------------------------------------------------------------
    def commune(self, code: str) -> Commune | None:
        code = str(code).strip().upper()
        if len(code) == 4 and code.isdigit():
            code = "0" + code
        c = self.communes.get(code)
        if c is None and code in self.by_former:
            c = self.communes.get(self.by_former[code])
        return c

    def region_code(self, name_or_code: str) -> str | None:
        s = str(name_or_code).strip()
        if s in self.regions:
            return s
        n = norm_name(s)
        if n.startswith("region "):
            n = n[7:]
        aliases = {"sud": "93", "paca": "93", "region sud": "93", "idf": "11", "ile de clipperton": "989",
                   "saint pierre et miquelon": "975"}
        return self.region_by_name.get(n) or aliases.get(n)

    def departement_code(self, name_or_code: str) -> str | None:
        s = str(name_or_code).strip().upper()
        if s in self.departements:
            return s
        if len(s) == 1 and s.isdigit():
            s = "0" + s
            if s in self.departements:
                return s
        return self.dep_by_name.get(norm_name(name_or_code))

    def epci_code(self, name_or_siren: str) -> str | None:
        s = str(name_or_siren).strip()
        if s in self.epci_names:
            return s
        return self.epci_by_name.get(norm_name(s))

    def territory(self, commune: Commune) -> Territory:
        t = Territory(commune=commune)
        t.communes.add(commune.code)
        t.communes.update(commune.former_codes)
        if commune.parent:
            t.communes.add(commune.parent)
            parent = self.communes.get(commune.parent)
            if parent:
                t.communes.update(parent.former_codes)
        t.postcodes.update(commune.postcodes)
        for e in (commune.epci, commune.ept):
            if e:
                t.epcis.add(e)
        t.departements.add(commune.departement)
        # Alsace: the Collectivité européenne d'Alsace uses its own code (6AE) for 67 + 68.
        if commune.departement in ("67", "68"):
            t.departements.add("6AE")
        t.regions.add(commune.region)
        return t

    def territory_of_profile(self, profile: dict) -> Territory | None:
        """Territory from a profile: commune (INSEE code, postcode or name), else département / région."""
        res = self.resolve_profile_commune(profile)
        if res is not None and res.status == "ok":
            return self.territory(res.commune)
        t = Territory()
        dep = profile.get("departement")
        reg = profile.get("region")
        if dep:
            code = self.departement_code(str(dep))
            if code:
                t.departements.add(code)
                reg = reg or self.departements[code].get("region")
        if reg:
            code = self.region_code(str(reg))
            if code:
                t.regions.add(code)
        if t.departements or t.regions:
            return t
        return None

    def resolve_profile_commune(self, profile: dict) -> Resolution | None:
        if profile.get("commune") not in (None, ""):
            return self.resolve(str(profile["commune"]), prefer="insee")
        if profile.get("code_insee") not in (None, ""):
            return self.resolve(str(profile["code_insee"]), prefer="insee")
        if profile.get("code_postal") not in (None, ""):
            return self.resolve(str(profile["code_postal"]), prefer="postcode")
        return None

    # -- resolution of what a user types ----------------------------------------------------------
    def resolve(self, text: str, *, prefer: str = "insee") -> Resolution:
        """A commune from an INSEE code, a postcode or a name (with '(70)', 'Haute-Saône' or a postcode
        to disambiguate). Homonyms → status 'ambiguous' with candidates, most populated first."""
        raw = str(text or "").strip()
        if not raw:
            return Resolution("not_found", message="Aucune commune indiquée.")
        compact = raw.replace(" ", "").upper()
        # 1. Codes.
        if re.fullmatch(r"\d{4,5}|2[AB]\d{3}|97\d{3}", compact):
            code = compact.zfill(5) if compact.isdigit() else compact
            by_insee = self.commune(code) if not (prefer == "postcode" and code in self.by_postcode) else None
            by_pc = [self.communes[c] for c in self.by_postcode.get(code, [])]
            if by_insee is not None:
                return Resolution("ok", by_insee)
            if len(by_pc) == 1:
                return Resolution("ok", by_pc[0])
            if by_pc:
                by_pc.sort(key=lambda c: -c.population)
                return Resolution("ambiguous", candidates=by_pc, message=(
                    f"Le code postal {code} couvre {len(by_pc)} communes : laquelle est la vôtre ?"))
            if prefer == "postcode":
                c = self.commune(code)
                if c is not None:
                    return Resolution("ok", c)
            return Resolution("not_found", message=(
                f"Aucune commune ne correspond au code {code}. Vérifiez le code INSEE ou le code postal."))
        # 2. Name, with an optional qualifier: "Saint-Denis (93)", "Saint-Denis 97400", "Valence, Drôme".
        qualifier = None
        m = re.match(r"^(.*?)[\s,]*\(([^)]*)\)\s*$", raw) or re.match(r"^(.*?)[\s,]+(\d{2,3}|\d{5}|2[AB])\s*$", raw)
        name = raw
        if m:
            name, qualifier = m.group(1), m.group(2)
        elif "," in raw:
            name, qualifier = raw.split(",", 1)
        key = norm_name(name)
        codes = self.by_name.get(key, [])
        cands = [self.communes[c] for c in codes]
        if not cands and qualifier is None:
            # "Valence Drôme": try splitting a trailing département / région name.
            words = key.split()
            for i in range(len(words) - 1, 0, -1):
                head, tail = " ".join(words[:i]), " ".join(words[i:])
                if head in self.by_name and (self.departement_code(tail) or self.region_code(tail)):
                    cands = [self.communes[c] for c in self.by_name[head]]
                    qualifier = tail
                    break
        if qualifier:
            cands = self._filter_by_qualifier(cands, qualifier)
        # Prefer current communes over déléguées of the same name.
        current = [c for c in cands if c.kind == "commune-actuelle"]
        if current:
            cands = current
        if len(cands) == 1:
            return Resolution("ok", cands[0])
        if cands:
            cands.sort(key=lambda c: -c.population)
            return Resolution("ambiguous", candidates=cands, message=(
                f"Plusieurs communes s'appellent « {cands[0].name} » : précisez le département ou le code postal "
                f"({', '.join(c.label for c in cands[:6])}{'…' if len(cands) > 6 else ''})."))
        close = difflib.get_close_matches(key, list(self.by_name), n=5, cutoff=0.82)
        sugg = [self.communes[c] for k in close for c in self.by_name[k]]
        sugg = [c for c in sugg if c.kind == "commune-actuelle"] or sugg
        sugg.sort(key=lambda c: -c.population)
        msg = f"Commune « {raw} » introuvable."
        if sugg:
            msg += " Vouliez-vous dire : " + ", ".join(c.label for c in sugg[:5]) + " ?"
        else:
            msg += " Indiquez le nom exact, le code postal ou le code INSEE."
        return Resolution("not_found", candidates=sugg[:5], message=msg)

    def _filter_by_qualifier(self, cands: list[Commune], qualifier: str) -> list[Commune]:
        q = qualifier.strip()
        qc = q.replace(" ", "").upper()
        if re.fullmatch(r"\d{5}", qc):
            return [c for c in cands if qc in c.postcodes]
        dep = self.departement_code(q)
        if dep:
            return [c for c in cands if c.departement == dep]
        reg = self.region_code(q)
        if reg:
            return [c for c in cands if c.region == reg]
        return cands

    # -- labels -------------------------------------------------------------------------------------
    def label(self, level: str, code: str) -> str:
        if level in ("commune", "communes"):
            c = self.commune(code)
            return c.label if c else code
        if level in ("epci", "ept"):
            return self.epci_names.get(code, code)
        if level in ("departement", "departements"):
            d = self.departements.get(code)
            if code == "6AE":
                return "Collectivité européenne d'Alsace"
            return f"{d['nom']} ({code})" if d else code
        if level in ("region", "regions"):
            r = self.regions.get(code)
            return r["nom"] if r else code
        return code


@lru_cache(maxsize=4)
def _load_geo_at(root: str) -> Geo:
    return Geo(Path(root))


def load_geo(root: Path | None = None) -> Geo:
    """The communes reference (loaded once per process and folder)."""
    d = find_geo_dir(root)
    if d is None:
        raise GeoDataMissing(
            "Le référentiel des communes est introuvable : impossible de savoir à quel territoire appartient "
            "une commune.",
            hint="Importez-le avec `territoria aids import CHEMIN/communes` (dossier communes/ des données "
                 "partagées) ou définissez TERRITORIA_COMMUNES_DIR.")
    return _load_geo_at(str(d.resolve()))


load_geo.cache_clear = _load_geo_at.cache_clear  # type: ignore[attr-defined]


def resolve_commune(text: str, *, prefer: str = "insee") -> Resolution:
    return load_geo().resolve(text, prefer=prefer)
