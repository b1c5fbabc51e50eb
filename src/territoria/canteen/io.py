"""Reading attendance and covariate files, with French errors for bad input.

Two attendance formats are accepted:

* the Nantes format (``frequentation_2011_2016.csv``):
  ``date, site_nom, site_type, prevision, reel`` — a series is the pair (site_nom, site_type);
* the generic format: ``date, site, prevision, reel`` (``prevision`` may be empty).

Both are turned into one canonical frame with columns
``date`` (datetime64), ``site`` (str), ``site_nom``, ``site_type``, ``prevision``, ``reel`` (float).

Covariates live in a folder, every file optional (see docs/canteen.md):
``greves.csv``, ``vacances.csv``, ``jours_feries.csv``, ``annees_scolaires.csv``, ``menus.csv``,
``fetes_religieuses_jour.csv``, and enrolment either as the Nantes trio
(``effectifs_ecoles.csv`` + ``mapping_ecoles_cantines.csv`` + ``mapping_frequentation_cantines.csv``)
or as a generic ``effectifs.csv`` with ``site, date_debut, effectif``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from territoria.core.errors import TerritoriaError

ATTENDANCE_FILE = "frequentation_2011_2016.csv"
CANONICAL = ["date", "site", "site_nom", "site_type", "prevision", "reel"]


class CanteenDataError(TerritoriaError):
    """Input data for the canteen use case is unusable."""


def site_key(site_nom: str, site_type: str) -> str:
    """Series key of the Nantes format: the pair (site_nom, site_type)."""
    site_nom = str(site_nom).strip()
    site_type = str(site_type).strip()
    return f"{site_nom} ({site_type})" if site_type and site_type != "nan" else site_nom


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise CanteenDataError(
            f"Fichier introuvable : {path}.",
            hint=f"Indiquez le chemin d'un fichier CSV de {what}.",
        )
    # UTF-8 first; then Windows-1252, what French spreadsheets (Excel "CSV (séparateur : point-virgule)") write.
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            sep = _separator(path, encoding)
            if sep is None:
                raise CanteenDataError(f"Le fichier {path.name} est vide.",
                                       hint=f"Vérifiez que c'est le bon fichier de {what} et qu'il a été "
                                            "enregistré complètement (une ligne d'en-tête, puis les données).")
            return pd.read_csv(path, sep=sep, engine="python", dtype=str, keep_default_na=False,
                               encoding=encoding)
        except UnicodeDecodeError as exc:
            error = exc
        except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as exc:
            error = exc
            break
    raise CanteenDataError(
        f"Impossible de lire {path.name} comme un CSV ({error.__class__.__name__}).",
        hint="Enregistrez le fichier en CSV UTF-8, séparateur virgule ou point-virgule.",
    ) from error


def _separator(path: Path, encoding: str) -> str | None:
    """The column separator, read from the header line: the most frequent of ; , tab |. A header without
    any of them is a one-column file (``date``), never split on a letter as a sniffer would. None: empty."""
    with open(path, encoding=encoding, newline="") as fh:
        for line in fh:
            if line.strip():
                counts = {c: line.count(c) for c in (";", ",", "\t", "|")}
                best = max(counts, key=counts.get)
                return best if counts[best] else ","
    return None


def _require(df: pd.DataFrame, cols: list[str], path: Path, what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise CanteenDataError(
            f"Colonnes manquantes dans {Path(path).name} : {', '.join(missing)} "
            f"(colonnes trouvées : {', '.join(df.columns) or 'aucune'}).",
            hint=f"Un fichier de {what} doit avoir les colonnes : {', '.join(cols)}. "
            "Voir docs/canteen.md pour le format.",
        )


def _parse_dates(values: pd.Series, path: Path, col: str = "date") -> pd.Series:
    txt = values.str.strip()
    # JJ/MM/AAAA (French spreadsheets) is read day first, never as the American month/day.
    french = txt.str.fullmatch(r"\d{1,2}[/.]\d{1,2}[/.]\d{4}")
    out = pd.to_datetime(txt.where(~french, ""), errors="coerce", format="mixed", dayfirst=False)
    if french.any():
        out[french] = pd.to_datetime(txt[french].str.replace(".", "/", regex=False), errors="coerce",
                                     format="%d/%m/%Y")
    bad = out.isna() & txt.ne("")
    if bad.any() or out.isna().all():
        example = values[bad].iloc[0] if bad.any() else "(vide)"
        raise CanteenDataError(
            f"Dates illisibles dans {Path(path).name}, colonne « {col} » ({int(bad.sum())} ligne(s), "
            f"par exemple « {example} »).",
            hint="Écrivez les dates au format AAAA-MM-JJ (ou JJ/MM/AAAA), par exemple 2016-09-05.",
        )
    return out.dt.normalize()


def _parse_numbers(values: pd.Series, path: Path, col: str, unit: str = "de repas") -> pd.Series:
    txt = values.str.strip().str.replace(",", ".", regex=False).str.replace(" ", "", regex=False)
    out = pd.to_numeric(txt.replace("", np.nan), errors="coerce")
    bad = out.isna() & txt.ne("") & txt.str.lower().ne("nan")
    if bad.any():
        raise CanteenDataError(
            f"Valeurs non numériques dans {Path(path).name}, colonne « {col} » "
            f"({int(bad.sum())} ligne(s), par exemple « {values[bad].iloc[0]} »).",
            hint=f"Laissez la case vide si le nombre est inconnu ; sinon écrivez un nombre {unit}.",
        )
    negative = out < 0
    if negative.any():
        raise CanteenDataError(
            f"Nombres négatifs dans {Path(path).name}, colonne « {col} » ({int(negative.sum())} "
            f"ligne(s), par exemple « {values[negative].iloc[0]} »).",
            hint=f"Corrigez ces lignes : un nombre {unit} est positif ou nul.",
        )
    return out.astype(float)


def read_attendance(path: Path) -> pd.DataFrame:
    """Read an attendance CSV (Nantes or generic format) into the canonical frame."""
    path = Path(path)
    raw = _read_csv(path, "fréquentation")
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    if "site_nom" in raw.columns:
        _require(raw, ["date", "site_nom", "site_type", "reel"], path, "fréquentation (format Nantes)")
        site_nom = raw["site_nom"].str.strip()
        site_type = raw["site_type"].str.strip()
        site = [site_key(n, t) for n, t in zip(site_nom, site_type)]
    else:
        _require(raw, ["date", "site", "reel"], path, "fréquentation")
        site = raw["site"].str.strip()
        site_nom = site
        site_type = pd.Series([""] * len(raw), index=raw.index)
    if len(raw) == 0:
        raise CanteenDataError(f"{path.name} ne contient aucune ligne.",
                               hint="Vérifiez que le fichier contient des données de fréquentation.")
    df = pd.DataFrame({
        "date": _parse_dates(raw["date"], path),
        "site": pd.Series(site, index=raw.index).astype(str),
        "site_nom": pd.Series(site_nom, index=raw.index).astype(str),
        "site_type": pd.Series(site_type, index=raw.index).astype(str),
        "prevision": _parse_numbers(raw["prevision"], path, "prevision") if "prevision" in raw.columns
        else np.nan,
        "reel": _parse_numbers(raw["reel"], path, "reel"),
    })
    if df["site"].eq("").any():
        raise CanteenDataError(f"Nom de cantine vide dans {path.name} ({int(df['site'].eq('').sum())} ligne(s)).",
                               hint="Chaque ligne doit nommer sa cantine (colonne site ou site_nom).")
    df = df.dropna(subset=["date"])
    notes = duplicate_notes(df, path.name)
    # One value per (site, date): keep the last occurrence (a corrected line written later wins), and say so.
    df = df.drop_duplicates(["site", "date"], keep="last")
    out = df.sort_values(["date", "site"], ignore_index=True)[CANONICAL]
    out.attrs["rows_read"] = int(len(raw))
    out.attrs["notes"] = notes
    return out


def duplicate_notes(df: pd.DataFrame, where: str) -> list[str]:
    """French warnings about rows giving the same canteen and day more than once (the last one is kept)."""
    dup = df.duplicated(["site", "date"], keep=False)
    if not dup.any():
        return []
    rows = df[dup]
    groups = rows.groupby(["site", "date"], sort=False)
    conflicting = groups.filter(lambda g: g["reel"].nunique(dropna=False) > 1)
    n_extra = int(len(rows) - groups.ngroups)
    note = (f"{where} : {n_extra} ligne(s) en double (même cantine et même jour) ; la dernière ligne de chaque "
            "jour est gardée.")
    if len(conflicting):
        first = conflicting.iloc[0]
        same = conflicting[(conflicting["site"] == first["site"]) & (conflicting["date"] == first["date"])]
        values = " puis ".join("vide" if pd.isna(v) else f"{v:g}" for v in same["reel"])
        n_days = int(conflicting.groupby(["site", "date"]).ngroups)
        note += (f" {n_days} jour(s)-cantine ont des valeurs différentes, par exemple « {first['site']} » le "
                 f"{first['date'].date()} (repas servis : {values}) : vérifiez qu'il ne s'agit pas de deux "
                 "services à additionner.")
    return [note]


# --------------------------------------------------------------------------- covariates


@dataclass
class Covariates:
    """Known-in-advance information: calendars, menus, enrolment. Every part optional."""

    strikes: set = field(default_factory=set)  # dates (Timestamp)
    public_holidays: set = field(default_factory=set)
    holidays: list = field(default_factory=list)  # [(start, end)] school holidays, inclusive
    school_years: list = field(default_factory=list)  # [(start, end)]
    menus: pd.DataFrame | None = None  # date, plat
    feasts: pd.DataFrame | None = None  # date + 0/1 flag columns
    enrolment: pd.DataFrame | None = None  # site, start (Timestamp), effectif
    site_map: dict = field(default_factory=dict)  # site key -> canteen key (for enrolment)
    sources: list = field(default_factory=list)  # files read, for messages

    @property
    def empty(self) -> bool:
        return not self.sources


def _dates_file(path: Path, col: str = "date", flag: str | None = None) -> set:
    df = _read_csv(path, "dates")
    df.columns = [c.strip().lower() for c in df.columns]
    _require(df, [col], path, "dates")
    if flag and flag in df.columns:
        df = df[df[flag].str.strip().isin(["1", "1.0", "true", "oui", "vrai"])]
    return set(_parse_dates(df[col], path, col).dropna())


def _periods_file(path: Path) -> list:
    df = _read_csv(path, "périodes")
    df.columns = [c.strip().lower() for c in df.columns]
    _require(df, ["date_debut", "date_fin"], path, "périodes")
    start = _parse_dates(df["date_debut"], path, "date_debut")
    end = _parse_dates(df["date_fin"], path, "date_fin")
    reversed_ = (end < start).to_numpy()
    if reversed_.any():  # an empty period would silently drop these holidays from the calendar
        i = int(np.flatnonzero(reversed_)[0])
        raise CanteenDataError(
            f"Périodes à l'envers dans {Path(path).name} : date_fin avant date_debut ({int(reversed_.sum())} "
            f"ligne(s), par exemple du « {df['date_debut'].iloc[i]} » au « {df['date_fin'].iloc[i]} »).",
            hint="Corrigez ces lignes : date_debut est le premier jour de la période, date_fin le dernier "
                 "(bornes incluses).")
    return sorted(zip(start, end))


def _school_year_start(label: str) -> pd.Timestamp | None:
    try:
        return pd.Timestamp(int(str(label).strip()[:4]), 9, 1)
    except ValueError:
        return None


def read_covariates(folder: Path | None) -> Covariates:
    """Read the covariate folder; a missing folder gives empty covariates."""
    cov = Covariates()
    if folder is None:
        return cov
    folder = Path(folder)
    if not folder.is_dir():
        raise CanteenDataError(f"Dossier de covariables introuvable : {folder}.",
                               hint="Indiquez un dossier contenant greves.csv, vacances.csv, menus.csv…, "
                               "ou n'utilisez pas --covariates.")
    f = folder / "greves.csv"
    if f.is_file():
        cov.strikes = _dates_file(f, flag="greve")
        cov.sources.append(f.name)
    f = folder / "jours_feries.csv"
    if f.is_file():
        cov.public_holidays = _dates_file(f, flag="jour_ferie")
        cov.sources.append(f.name)
    f = folder / "vacances.csv"
    if f.is_file():
        cov.holidays = _periods_file(f)
        cov.sources.append(f.name)
    f = folder / "annees_scolaires.csv"
    if f.is_file():
        cov.school_years = _periods_file(f)
        cov.sources.append(f.name)
    f = folder / "menus.csv"
    if f.is_file():
        m = _read_csv(f, "menus")
        m.columns = [c.strip().lower() for c in m.columns]
        _require(m, ["date", "plat"], f, "menus")
        cov.menus = pd.DataFrame({"date": _parse_dates(m["date"], f), "plat": m["plat"].astype(str)})
        cov.sources.append(f.name)
    f = folder / "fetes_religieuses_jour.csv"
    if f.is_file():
        fe = _read_csv(f, "fêtes")
        fe.columns = [c.strip().lower() for c in fe.columns]
        _require(fe, ["date"], f, "fêtes")
        out = pd.DataFrame({"date": _parse_dates(fe["date"], f)})
        for c in fe.columns:
            if c != "date":
                out[f"fete_{c}"] = pd.to_numeric(fe[c], errors="coerce").fillna(0).astype(float).values
        cov.feasts = out.drop_duplicates("date")
        cov.sources.append(f.name)
    _read_enrolment(folder, cov)
    return cov


def _read_enrolment(folder: Path, cov: Covariates) -> None:
    generic = folder / "effectifs.csv"
    schools = folder / "effectifs_ecoles.csv"
    if generic.is_file():
        e = _read_csv(generic, "effectifs")
        e.columns = [c.strip().lower() for c in e.columns]
        _require(e, ["site", "date_debut", "effectif"], generic, "effectifs")
        cov.enrolment = pd.DataFrame({
            "site": e["site"].str.strip(),
            "start": _parse_dates(e["date_debut"], generic, "date_debut"),
            "effectif": _parse_numbers(e["effectif"], generic, "effectif", "d'élèves"),
        }).dropna()
        cov.sources.append(generic.name)
        return
    m_schools = folder / "mapping_ecoles_cantines.csv"
    m_sites = folder / "mapping_frequentation_cantines.csv"
    if not (schools.is_file() and m_schools.is_file()):
        return
    e = _read_csv(schools, "effectifs")
    e.columns = [c.strip().lower() for c in e.columns]
    _require(e, ["ecole", "annee_scolaire", "effectif"], schools, "effectifs")
    me = _read_csv(m_schools, "correspondance écoles-cantines")
    me.columns = [c.strip().lower() for c in me.columns]
    _require(me, ["ecole", "cantine_nom", "cantine_type"], m_schools, "correspondance écoles-cantines")
    e = e.merge(me, on="ecole", how="inner")
    e["canteen"] = [site_key(n, t) for n, t in zip(e["cantine_nom"], e["cantine_type"])]
    e["effectif"] = _parse_numbers(e["effectif"], schools, "effectif", "d'élèves")
    e["start"] = [_school_year_start(a) for a in e["annee_scolaire"]]
    e = e.dropna(subset=["start", "effectif"])
    cov.enrolment = (e.groupby(["canteen", "start"], as_index=False)["effectif"].sum()
                     .rename(columns={"canteen": "site"}))
    cov.sources += [schools.name, m_schools.name]
    if m_sites.is_file():
        ms = _read_csv(m_sites, "correspondance fréquentation-cantines")
        ms.columns = [c.strip().lower() for c in ms.columns]
        _require(ms, ["site_nom", "site_type", "cantine_nom", "cantine_type"], m_sites,
                 "correspondance fréquentation-cantines")
        cov.site_map = {site_key(a, b): site_key(c, d) for a, b, c, d in
                        zip(ms["site_nom"], ms["site_type"], ms["cantine_nom"], ms["cantine_type"])}
        cov.sources.append(m_sites.name)
