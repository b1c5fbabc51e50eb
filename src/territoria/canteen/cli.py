"""`territoria canteen …`: import, train, forecast, evaluate (backtest), settings, report."""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from territoria.core.errors import TerritoriaError
from territoria.cli_common import _escape

app = typer.Typer(
    help="Cantines : prévoir les repas à préparer par cantine et par jour (moins de gaspillage, aucun enfant sans repas).",
    no_args_is_help=True,
)
err = Console(stderr=True)
out = Console()


def _friendly(fn):
    """Turn user-facing errors into a French message and exit code 1, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TerritoriaError as exc:
            err.print(f"[bold red]Erreur :[/] {_escape(exc.message)}")
            if exc.hint:
                err.print(f"[yellow]À faire :[/] {_escape(exc.hint)}")
            raise typer.Exit(1)

    return wrapper


@contextlib.contextmanager
def _progress(enabled: bool = True):
    """A status line on stderr updated by the long steps; yields a callback(message)."""
    if not enabled:
        yield lambda _m: None
        return
    t0 = time.perf_counter()
    with err.status("Démarrage…") as status:
        def update(message: str) -> None:
            status.update(f"{message}… ({time.perf_counter() - t0:.0f} s)")

        yield update


def _usage(message: str, hint: str) -> None:
    """A wrong option value: French message and exit code 2 (usage error), like the other commands."""
    err.print(f"[bold red]Erreur :[/] {_escape(message)}")
    err.print(f"[yellow]À faire :[/] {_escape(hint)}")
    raise typer.Exit(2)


def _date(text: str, option: str):
    """AAAA-MM-JJ, or JJ/MM/AAAA (day first, as written in France); anything else is a usage error."""
    import pandas as pd

    from territoria.core.dates import parse_day

    d = parse_day(text)
    if d is None:
        _usage(f"Date illisible pour {option} : « {text} ».",
               "Écrivez la date au format AAAA-MM-JJ (ou JJ/MM/AAAA), par exemple 2016-09-05.")
    return pd.Timestamp(d)


def _check_period(start, end) -> None:
    if end < start:
        _usage("La date de fin (--to) est avant la date de début (--from).",
               "Vérifiez --from et --to (format AAAA-MM-JJ).")
    if (end - start).days > 400:
        _usage("Période trop longue (plus d'un an).", "Demandez une prévision sur quelques semaines au plus.")


def _write_file(path: Path, write) -> None:
    """Write an output file chosen by the user; a folder that cannot be written is a French error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)
    except OSError as exc:
        raise TerritoriaError(f"Impossible d'écrire le fichier {path}.",
                              hint="Vérifiez le chemin et choisissez un dossier où vous avez le droit d'écrire.") from exc


def _source_note(folder: Path) -> str | None:
    readme = folder / "README.md"
    if readme.is_file() and "Nantes Métropole" in readme.read_text(encoding="utf-8", errors="replace"):
        return "Données © Nantes Métropole"
    return None


# --------------------------------------------------------------------------- import


@app.command("import")
@_friendly
def import_cmd(
    source: Path = typer.Argument(..., help="Dossier des données (format Nantes ou CSV générique date, site, prevision, reel), ou un fichier CSV."),
    replace: bool = typer.Option(False, "--replace", help="Remplacer les données déjà importées au lieu de les compléter."),
    attribution: Optional[str] = typer.Option(None, "--source", help="Mention de la source des données (affichée sur les pages et graphiques)."),
) -> None:
    """Importer la fréquentation (repas servis, prévisions du personnel) et les covariables."""
    from territoria.canteen import store

    with _progress() as progress:
        progress("Lecture et vérification des fichiers")
        info = store.import_folder(source, replace=replace)
    note = attribution or _source_note(source if source.is_dir() else source.parent)
    if note:
        (store.tenant_dir() / "source.txt").write_text(note, encoding="utf-8")
    out.print(f"[green]Import terminé[/] : {info['rows_read']} lignes lues dans {_escape(', '.join(info['files']))}.")
    out.print(f"{info['rows_stored']} jours-cantine enregistrés, {info['sites']} cantines, "
              f"du {info['first_date']} au {info['last_date']}.")
    out.print("Covariables : " + (", ".join(info["covariates"]) if info["covariates"] else
                                  "aucune (calendrier et historique seulement)."))
    for note in info.get("notes") or []:
        err.print(f"[yellow]Attention :[/] {_escape(note)}")
    out.print("Étape suivante : [bold]territoria canteen train[/]")


# --------------------------------------------------------------------------- train


@app.command("train")
@_friendly
def train_cmd() -> None:
    """Entraîner le modèle sur les données importées."""
    from territoria.canteen import store
    from territoria.canteen.model import CanteenModel

    data = store.load_attendance()
    cov = store.load_covariates()
    settings = store.load_settings()
    t0 = time.perf_counter()
    with _progress() as progress:
        model = CanteenModel(horizon=settings.horizon_days).fit(data, cov, progress)
        progress("Enregistrement du modèle")
        model.save(store.model_dir())
    out.print(f"[green]Modèle entraîné[/] en {time.perf_counter() - t0:.0f} s sur {model.trained_rows} jours-cantine "
              f"({len(model.sites)} cantines, données jusqu'au {model.trained_until}, horizon {model.horizon} jours).")
    out.print("Étape suivante : [bold]territoria canteen forecast --from AAAA-MM-JJ --to AAAA-MM-JJ[/]")


# --------------------------------------------------------------------------- forecast


def _forecast_frame(start, end, sites):
    from territoria.canteen import store
    from territoria.canteen.forecast import forecast

    data = store.load_attendance()
    cov = store.load_covariates()
    model = store.load_model()
    settings = store.load_settings()
    if model.horizon != settings.horizon_days:
        err.print(f"[yellow]Attention :[/] le modèle a été entraîné pour un horizon de {model.horizon} jours, "
                  f"le réglage est de {settings.horizon_days} jours. Relancez « territoria canteen train ».")
    last = data["date"].max()
    if (start - last).days > 60:
        err.print(f"[yellow]Attention :[/] les derniers repas servis connus datent du {last.date()} ; "
                  "importez des données récentes pour des prévisions fiables.")
    fc = forecast(model, data, cov, start, end, target_short_rate=settings.max_short_rate,
                  interval=settings.interval, sites=sites)
    if model.missing_features:
        err.print("[yellow]Attention :[/] des informations utilisées à l'entraînement manquent maintenant "
                  f"({', '.join(model.missing_features[:5])}…) : prévisions moins fiables. "
                  "Réimportez les covariables ou relancez « territoria canteen train ».")
    return fc, model, settings, data


@app.command("forecast")
@_friendly
def forecast_cmd(
    date_from: str = typer.Option(..., "--from", help="Premier jour (AAAA-MM-JJ)."),
    date_to: str = typer.Option(..., "--to", help="Dernier jour (AAAA-MM-JJ)."),
    site: Optional[List[str]] = typer.Option(None, "--site", help="Cantine(s) à prévoir (nom ou partie du nom ; répétable)."),
    as_json: bool = typer.Option(False, "--json", help="Sortie JSON (une entrée par cantine et par jour)."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Écrire aussi un CSV (séparateur point-virgule)."),
) -> None:
    """Prévoir, par cantine et par jour : prévision, intervalle et quantité à préparer."""
    start, end = _date(date_from, "--from"), _date(date_to, "--to")
    _check_period(start, end)
    with _progress(not as_json) as progress:
        progress("Prévision")
        fc, model, settings, _ = _forecast_frame(start, end, site)
    records = [{"date": str(r.date.date()), "site": r.site, "point": round(float(r.point), 1),
                "low": round(float(r.low), 1), "high": round(float(r.high), 1), "quantity": int(r.quantity),
                "fallback": bool(r.fallback)} for r in fc.itertuples()]
    _audit_forecast(records, date_from, date_to, site, settings)
    if out_file is not None:
        csv = fc.rename(columns={"point": "prevision_modele", "low": "intervalle_bas", "high": "intervalle_haut",
                                 "quantity": "a_preparer", "fallback": "sans_historique"})
        csv["date"] = csv["date"].dt.strftime("%Y-%m-%d")
        csv["a_preparer"] = csv["a_preparer"].astype(int)  # meals: whole numbers (not « 271,0 »)
        csv["sans_historique"] = csv["sans_historique"].map({True: "oui", False: "non"})  # read in French
        _write_file(out_file, lambda f: csv.round(1).to_csv(f, sep=";", index=False, decimal=","))
    if as_json:
        sys.stdout.write(json.dumps({"target_short_rate": settings.max_short_rate, "interval": settings.interval,
                                     "forecasts": records}, ensure_ascii=False) + "\n")
        return
    if not records:
        out.print("Aucun jour de service dans cette période (week-end, vacances ou jour férié).")
        return
    table = Table(title=f"Repas à préparer (au plus {settings.max_short_rate:.0%} des jours-cantine en manque)")
    for col in ("date", "cantine", "à préparer", "prévision", f"intervalle {settings.interval:.0%}"):
        table.add_column(col, justify="left" if col in ("date", "cantine") else "right")
    for r in records:
        table.add_row(r["date"], r["site"] + (" *" if r["fallback"] else ""), str(r["quantity"]),
                      f"{r['point']:.0f}", f"{r['low']:.0f} – {r['high']:.0f}")
    out.print(table)
    if any(r["fallback"] for r in records):
        out.print("* cantine sans historique suffisant : niveau estimé, marge élargie.")
    if out_file is not None:
        out.print(f"CSV écrit : {out_file}")


def _audit_forecast(records: list[dict], date_from: str, date_to: str, site, settings) -> None:
    """One audit-log row per forecast run (trust layer, AI Act art. 12): period, sites, quantities."""
    from territoria.core.settings import get_settings
    from territoria.trust import audit

    audit.record("canteen.forecast", tenant=get_settings().tenant,
                 input=json.dumps({"from": date_from, "to": date_to, "sites": site or []}, ensure_ascii=False),
                 output={"forecasts": records, "target_short_rate": settings.max_short_rate},
                 model="canteen-lightgbm", retrieved=sorted({r["site"] for r in records}))


# --------------------------------------------------------------------------- evaluate


@app.command("evaluate")
@_friendly
def evaluate_cmd(
    history: Path = typer.Option(..., "--history", help="Historique pour l'entraînement (CSV au format de frequentation_2011_2016.csv)."),
    actuals: Path = typer.Option(..., "--actuals", help="Période à prévoir, valeurs réelles révélées au fil du temps (même format)."),
    covariates: Optional[Path] = typer.Option(None, "--covariates", help="Dossier des covariables (menus, grèves, vacances, effectifs…)."),
    horizon_days: Optional[int] = typer.Option(None, "--horizon-days", help="Pour un jour J, seuls les repas réels datés au plus J − horizon sont utilisés (7 par défaut)."),
    as_json: bool = typer.Option(False, "--json", help="Sortie JSON."),
    max_short_rate: Optional[float] = typer.Option(None, "--max-short-rate", help="Taux de manque visé pour ce test (sinon le réglage du locataire)."),
    plots_dir: Optional[Path] = typer.Option(None, "--plots", help="Dossier où écrire les graphiques PNG et les prévisions ligne à ligne."),
) -> None:
    """Test à origine glissante : entraîne sur HIST, prévoit chaque ligne d'ACT, compare au personnel et aux références naïves."""
    from territoria.canteen import store
    from territoria.canteen.backtest import run_backtest
    from territoria.canteen.io import read_attendance, read_covariates

    settings = store.load_settings()
    horizon = horizon_days if horizon_days is not None else settings.horizon_days
    rate = max_short_rate if max_short_rate is not None else settings.max_short_rate
    _check_settings({"max_short_rate": max_short_rate, "horizon_days": horizon_days})
    store.CanteenSettings(max_short_rate=rate, horizon_days=horizon).validate()
    with _progress() as progress:
        progress("Lecture des fichiers")
        hist = read_attendance(history)
        act = read_attendance(actuals)
        for note in hist.attrs.get("notes", []) + act.attrs.get("notes", []):
            err.print(f"[yellow]Attention :[/] {_escape(note)}")
        cov = read_covariates(covariates)
        result = run_backtest(hist, act, cov, horizon=horizon, target_short_rate=rate, progress=progress)
        progress("Graphiques")
        source = _source_note(covariates) if covariates else None
        _save_evaluation(result, plots_dir, source)
    s = result.summary
    if as_json:
        sys.stdout.write(json.dumps(s, ensure_ascii=False) + "\n")
        return
    table = Table(title=f"Test sur {s['n']} jours-cantine (horizon {horizon} j, au plus {rate:.0%} en manque visé)")
    for col in ("", "erreur moy. (repas)", "préparés en trop", "manquants", "jours en manque"):
        table.add_column(col, justify="left" if not col else "right")
    labels = {"model": "modèle", "staff": "prévision du personnel", "last_week": "même jour semaine d'avant",
              "mean_4_weeks": "moyenne 4 mêmes jours"}
    blocks = [("model", s["model"]), ("staff", s["staff"])] + list(s["baselines"].items())
    for name, b in blocks:
        if not b.get("n"):
            table.add_row(labels.get(name, name), "—", "—", "—", "—")
            continue
        table.add_row(labels.get(name, name), f"{b['mae']:.2f}", f"{b['over_pct']:.2f} %", f"{b['short_pct']:.2f} %",
                      f"{b['short_rate'] * 100:.1f} %")
    out.print(table)
    out.print(f"Durée : {s['seconds']['total']:.0f} s (entraînement {s['seconds']['train']:.0f} s).")


def _save_evaluation(result, plots_dir: Path | None, source: str | None) -> None:
    """Keep the last evaluation for the report page; charts also in plots_dir if asked."""
    from territoria.canteen import plots, store

    targets = [store.evaluation_dir()] + ([Path(plots_dir)] if plots_dir else [])
    for folder in targets:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "summary.json").write_text(json.dumps(result.summary, ensure_ascii=False, indent=2),
                                                 encoding="utf-8")
            result.tradeoff.to_csv(folder / "tradeoff.csv", index=False)
            rows = result.rows.copy()
            rows["date"] = rows["date"].dt.strftime("%Y-%m-%d")
            rows.round(2).to_csv(folder / "rows.csv", index=False)
            plots.write_evaluation_plots(result, folder, source=source)
        except OSError as exc:
            err.print(f"[yellow]Attention :[/] impossible d'écrire l'évaluation dans {folder} ({exc.strerror}).")


# --------------------------------------------------------------------------- settings

SETTING_OPTIONS = {"max_short_rate": "--max-short-rate", "horizon_days": "--horizon-days", "interval": "--interval"}


def _check_settings(values: dict, *, stored: bool = False) -> None:
    """Option values of the trade-off settings (None = not given): one outside its range is a usage error
    (exit code 2) naming the option and the accepted range."""
    from territoria.canteen.store import SETTING_LABELS, CanteenSettingError, check_setting

    for name, value in values.items():
        if value is None:
            continue
        try:
            check_setting(name, value)
        except CanteenSettingError as exc:
            shown = f"{value} jours" if name == "horizon_days" else f"{value:g}"
            _usage(f"{SETTING_LABELS[name]} invalide pour {SETTING_OPTIONS[name]} : {shown}.",
                   exc.hint + (" Aucun réglage n'a été modifié." if stored else ""))


@app.command("settings")
@_friendly
def settings_cmd(
    max_short_rate: Optional[float] = typer.Option(None, "--max-short-rate", help="Part des jours-cantine où l'on accepte de manquer (0.05 = 1 jour sur 20)."),
    horizon_days: Optional[int] = typer.Option(None, "--horizon-days", help="Délai entre les derniers repas connus et le jour prévu (jours)."),
    interval: Optional[float] = typer.Option(None, "--interval", help="Niveau de l'intervalle affiché (0.8 = 80 %)."),
    as_json: bool = typer.Option(False, "--json", help="Sortie JSON."),
) -> None:
    """Afficher ou modifier les réglages du locataire (compromis gaspillage / manque)."""
    from dataclasses import asdict

    from territoria.canteen import store

    given = {"max_short_rate": max_short_rate, "horizon_days": horizon_days, "interval": interval}
    _check_settings(given, stored=True)  # before anything is read or stored: a wrong value is a usage error
    s = store.load_settings()
    changed = False
    for name, value in given.items():
        if value is not None:
            setattr(s, name, value)
            changed = True
    if changed:
        store.save_settings(s)
    if as_json:
        sys.stdout.write(json.dumps(asdict(s)) + "\n")
        return
    out.print(("[green]Réglages enregistrés.[/] " if changed else "") +
              f"Au plus {s.max_short_rate:.1%} des jours-cantine en manque (≈ 1 sur {1 / s.max_short_rate:.0f}), "
              f"horizon {s.horizon_days} jours, intervalle {s.interval:.0%}.")
    if changed and horizon_days is not None:
        out.print("L'horizon a changé : relancez « territoria canteen train ».")


# --------------------------------------------------------------------------- report


@app.command("report")
@_friendly
def report_cmd(
    out_file: Path = typer.Option(..., "--out", help="Fichier HTML à écrire (page autonome, graphiques inclus)."),
    day: Optional[str] = typer.Option(None, "--date", help="Jour de référence (par défaut aujourd'hui, ou le lendemain des dernières données si elles sont anciennes)."),
) -> None:
    """Page pour la cuisine : quantités de demain et de la semaine à venir, par cantine, avec intervalle."""
    import pandas as pd

    from territoria.canteen import store
    from territoria.canteen.report import load_evaluation, render_report
    from territoria.core.settings import get_settings

    notice = None
    ref = _date(day, "--date") if day is not None else None
    data = store.load_attendance()
    last = data["date"].max()
    if ref is None:
        ref = pd.Timestamp.today().normalize()
        if (ref - last).days > 30:
            notice = (f"Les dernières données datent du {last.date()} : la page est établie comme si l'on était "
                      f"le {(last + pd.Timedelta(days=1)).date()}. Importez des données récentes.")
            ref = last + pd.Timedelta(days=1)
    with _progress() as progress:
        progress("Prévision des jours à venir")
        # the next five school days (looking far enough ahead to jump over a holiday)
        fc, model, settings, _ = _forecast_frame(ref + pd.Timedelta(days=1), ref + pd.Timedelta(days=45), None)
        days = sorted(fc["date"].unique())[:5]
        fc = fc[fc["date"].isin(days)]
        progress("Mise en page")
        evaluation, pngs = load_evaluation(store.evaluation_dir())
        src = store.tenant_dir() / "source.txt"
        page = render_report(fc, tenant=get_settings().tenant, reference=ref, settings=settings, model=model,
                             evaluation=evaluation, evaluation_pngs=pngs,
                             source=src.read_text(encoding="utf-8") if src.is_file() else None, notice=notice)
    _write_file(out_file, lambda f: f.write_text(page, encoding="utf-8"))
    out.print(f"[green]Page écrite[/] : {out_file} ({len(days)} jours, {fc['site'].nunique()} cantines).")
