"""Per-tenant state of the canteen use case, under ``data_dir / "canteen" / tenant``.

    attendance.csv      canonical attendance (date, site, site_nom, site_type, prevision, reel)
    covariates/         copies of the covariate files that were imported
    settings.json       the tenant's trade-off and horizon
    model/              the trained model (model.json)
    evaluation/         the last backtest (summary.json, rows.csv, tradeoff.csv)

Every write goes to a temporary file first and is then renamed, so a failed import or training
leaves the previous state untouched.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from territoria.canteen.io import (ATTENDANCE_FILE, CANONICAL, CanteenDataError, Covariates,
                                   duplicate_notes, read_attendance, read_covariates)
from territoria.core.settings import get_settings

COVARIATE_FILES = ["greves.csv", "vacances.csv", "jours_feries.csv", "annees_scolaires.csv", "menus.csv",
                   "fetes_religieuses_jour.csv", "effectifs.csv", "effectifs_ecoles.csv",
                   "mapping_ecoles_cantines.csv", "mapping_frequentation_cantines.csv", "cantines.csv"]
DEFAULT_MAX_SHORT_RATE = 0.15


# Accepted range of each setting: (low, high, high included, what is expected, in French).
SETTING_LIMITS = {
    "max_short_rate": (0.005, 0.5, True, "une part entre 0.005 et 0.5 (0.05 = au plus 1 jour-cantine sur 20 en "
                                         "manque ; 0.15 par défaut)"),
    "horizon_days": (1, 60, True, "un nombre de jours entre 1 et 60 (7 par défaut)"),
    "interval": (0.5, 1.0, False, "un niveau entre 0.5 et 0.99 (0.8 = intervalle à 80 %, par défaut)"),
}
SETTING_LABELS = {"max_short_rate": "Taux de manque visé", "horizon_days": "Horizon",
                  "interval": "Niveau d'intervalle"}


class CanteenSettingError(CanteenDataError):
    """A setting outside its accepted range; `name` is the field (max_short_rate, horizon_days, interval)."""

    def __init__(self, name: str, value, message: str, *, hint: str):
        super().__init__(message, hint=hint)
        self.name = name
        self.value = value


def check_setting(name: str, value) -> None:
    """Raise CanteenSettingError when `value` is outside the accepted range of setting `name`."""
    low, high, high_included, expected = SETTING_LIMITS[name]
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    ok = low <= v <= high if high_included else low <= v < high  # NaN is never in range
    if ok:
        return
    shown = f"{value} jours" if name == "horizon_days" else f"{value}"
    hint = f"Choisissez {expected}."
    if name != "horizon_days" and v > 1 and low <= v / 100 <= high:  # "15" or "80" meant as a percentage
        hint += f" Une part s'écrit en décimal : {v / 100:g} pour {v:g} %."
    raise CanteenSettingError(name, value, f"{SETTING_LABELS[name]} invalide : {shown}.", hint=hint)


@dataclass
class CanteenSettings:
    """The tenant's choices. max_short_rate: share of canteen-days allowed to be short."""

    max_short_rate: float = DEFAULT_MAX_SHORT_RATE
    horizon_days: int = 7
    interval: float = 0.8

    def validate(self) -> "CanteenSettings":
        for name in SETTING_LIMITS:
            check_setting(name, getattr(self, name))
        return self


def tenant_dir() -> Path:
    s = get_settings()
    return Path(s.data_dir) / "canteen" / s.tenant


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# --------------------------------------------------------------------------- settings


def load_settings() -> CanteenSettings:
    f = tenant_dir() / "settings.json"
    if not f.is_file():
        return CanteenSettings()
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
        known = {k: v for k, v in data.items() if k in CanteenSettings.__dataclass_fields__}
        s = CanteenSettings(**known)
        s.max_short_rate, s.horizon_days, s.interval = float(s.max_short_rate), int(s.horizon_days), float(s.interval)
    except (ValueError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise CanteenDataError(f"Réglages illisibles dans {f}.",
                               hint="Corrigez ce fichier, ou supprimez-le pour revenir aux réglages par défaut "
                               "(puis : territoria canteen settings).") from exc
    return s


def save_settings(settings: CanteenSettings) -> None:
    _atomic_write(tenant_dir() / "settings.json", json.dumps(asdict(settings.validate()), indent=2))


# --------------------------------------------------------------------------- data


def find_attendance_files(folder: Path) -> list[Path]:
    """Attendance CSVs of an import folder: frequentation*.csv, else any CSV with date/site/reel columns."""
    if folder.is_file():
        return [folder]
    files = sorted(folder.glob("frequentation*.csv"))
    if files:
        return files
    candidates = []
    for f in sorted(folder.glob("*.csv")):
        if f.name in COVARIATE_FILES:
            continue
        head = f.open(encoding="utf-8-sig", errors="replace").readline().lower()
        if "reel" in head and "date" in head and "site" in head:
            candidates.append(f)
    return candidates


def import_folder(source: Path, *, replace: bool = False) -> dict:
    """Validate then store attendance + covariates. Nothing is written if anything is unreadable."""
    source = Path(source)
    if not source.exists():
        raise CanteenDataError(f"Dossier ou fichier introuvable : {source}.",
                               hint="Indiquez le dossier des données de cantine (ou un fichier CSV de fréquentation).")
    files = find_attendance_files(source)
    if not files:
        raise CanteenDataError(
            f"Aucun fichier de fréquentation trouvé dans {source}.",
            hint=f"Placez-y {ATTENDANCE_FILE} (format Nantes) ou un CSV avec les colonnes date, site, prevision, reel.",
        )
    frames = [read_attendance(f) for f in files]
    notes = [n for fr in frames for n in fr.attrs.get("notes", [])]
    rows_read = sum(int(fr.attrs.get("rows_read", len(fr))) for fr in frames)
    new = pd.concat(frames, ignore_index=True)
    if len(frames) > 1:  # the same canteen-day in two files: the later file wins, and the user is told
        notes += duplicate_notes(new, "Entre les fichiers")
    new = new.drop_duplicates(["site", "date"], keep="last")
    cov_dir = source if source.is_dir() else source.parent
    read_covariates(cov_dir)  # validates every covariate file present before anything is stored
    covs = [cov_dir / name for name in COVARIATE_FILES if (cov_dir / name).is_file()]

    root = tenant_dir()
    old = load_attendance(missing_ok=True)
    if old is not None and not replace:
        data = pd.concat([old, new], ignore_index=True).drop_duplicates(["site", "date"], keep="last")
    else:
        data = new
    data = data.sort_values(["date", "site"], ignore_index=True)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / "attendance.csv.tmp"
    out = data.copy()
    out["date"] = out["date"].dt.strftime("%Y-%m-%d")
    out.to_csv(tmp, index=False)
    if covs:
        staging = root / "covariates.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for f in covs:
            shutil.copy2(f, staging / f.name)
        final = root / "covariates"
        old_cov = root / "covariates.old"
        shutil.rmtree(old_cov, ignore_errors=True)
        if final.exists():
            final.replace(old_cov)
        staging.replace(final)
        shutil.rmtree(old_cov, ignore_errors=True)
    tmp.replace(root / "attendance.csv")
    return {
        "files": [f.name for f in files],
        "rows_read": int(rows_read),
        "rows_stored": int(len(data)),
        "sites": int(data["site"].nunique()),
        "first_date": str(data["date"].min().date()),
        "last_date": str(data["date"].max().date()),
        "covariates": [f.name for f in covs],
        "notes": notes,
    }


def load_attendance(missing_ok: bool = False) -> pd.DataFrame | None:
    f = tenant_dir() / "attendance.csv"
    if not f.is_file():
        if missing_ok:
            return None
        raise CanteenDataError("Aucune donnée de cantine importée pour ce locataire.",
                               hint="Lancez d'abord : territoria canteen import DOSSIER")
    df = pd.read_csv(f, dtype={"site": str, "site_nom": str, "site_type": str}, keep_default_na=False,
                     na_values={"prevision": [""], "reel": [""]})
    df["date"] = pd.to_datetime(df["date"])
    for c in ("prevision", "reel"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    return df[CANONICAL]


def load_covariates() -> Covariates:
    folder = tenant_dir() / "covariates"
    return read_covariates(folder) if folder.is_dir() else Covariates()


# --------------------------------------------------------------------------- model & evaluation


def model_dir() -> Path:
    return tenant_dir() / "model"


def load_model():
    from territoria.canteen.model import CanteenModel

    folder = model_dir()
    if not (folder / "model.json").is_file():
        raise CanteenDataError("Aucun modèle entraîné pour ce locataire.",
                               hint="Lancez : territoria canteen train")
    try:
        return CanteenModel.load(folder)
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as exc:
        raise CanteenDataError("Le modèle enregistré est illisible (fichier abîmé ou d'une autre version).",
                               hint="Relancez : territoria canteen train") from exc


def evaluation_dir() -> Path:
    return tenant_dir() / "evaluation"
