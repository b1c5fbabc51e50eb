"""The kitchen manager's page: a self-contained French HTML string (PNG charts embedded).

`render_report` returns the HTML so that a web app can serve it as is; the CLI writes it to a file.
"""

from __future__ import annotations

import base64
import html
import json

import pandas as pd

from territoria.canteen import plots

WEEKDAYS = plots.WEEKDAYS


def _day(d: pd.Timestamp) -> str:
    return f"{WEEKDAYS[d.day_of_week]} {d.day:02d}/{d.month:02d}/{d.year}"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _num(x) -> str:
    return f"{int(round(float(x))):,}".replace(",", "\u202f")


def render_report(fc: pd.DataFrame, *, tenant: str, reference: pd.Timestamp, settings, model,
                  evaluation: dict | None = None, evaluation_pngs: dict | None = None,
                  source: str | None = None, notice: str | None = None) -> str:
    """HTML page: tomorrow's and next week's quantities per canteen with their interval."""
    days = sorted(fc["date"].unique())
    first = pd.Timestamp(days[0]) if days else None
    parts = [
        "<!DOCTYPE html><html lang='fr'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Repas à préparer — {html.escape(tenant)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:70rem;color:#222}"
        "table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;"
        "text-align:right}th{background:#f0f4f8}td.s,th.s{text-align:left}.q{font-weight:bold;color:#0a6b2d}"
        ".i{color:#666;font-size:.85em}.note{background:#fff8e0;padding:.5rem 1rem;border-left:4px solid #e0b000}"
        "img{max-width:100%;height:auto}.fb{color:#b35c00}</style></head><body>",
        f"<h1>Repas à préparer</h1><p>Collectivité : <b>{html.escape(tenant)}</b> — "
        f"établi le {_day(reference)} avec les repas servis connus jusqu'au "
        f"{html.escape(model.trained_until or '?')} (modèle) — réglage : au plus "
        f"<b>{settings.max_short_rate:.0%}</b> des jours-cantine en manque.</p>",
    ]
    if notice:
        parts.append(f"<p class='note'>{html.escape(notice)}</p>")
    parts.append(
        "<p>Pour chaque cantine : la <b class='q'>quantité à préparer</b> (en gras), puis la prévision et son "
        f"intervalle à {settings.interval:.0%} (<span class='i'>bas – haut</span>). La quantité à préparer est "
        "au-dessus de la prévision pour couvrir les jours plus chargés que prévu ; elle est calculée pour que le "
        "manque reste rare sur l'ensemble des cantines. Une cantine régulière ou petite, où quelques repas de "
        "plus coûtent peu, est couverte plus largement (sa quantité peut dépasser le haut de l'intervalle) ; "
        "une grande cantine très variable a une marge relativement plus serrée.</p>"
    )
    if first is None:
        parts.append("<p>Aucun jour de repas scolaire dans la période demandée (vacances, week-end, jour férié).</p>")
    else:
        d1 = fc[fc["date"] == first]
        parts.append(f"<h2>Prochain jour de service : {_day(first)}</h2>")
        parts.append(_table_day(d1))
        parts.append(f"<p>Total : <b class='q'>{_num(d1['quantity'].sum())}</b> repas à préparer "
                     f"(prévision {_num(d1['point'].sum())}).</p>")
        parts.append("<h2>Semaine à venir</h2>")
        parts.append(_table_week(fc))
        parts.append(_img(plots.week_ahead(fc), "Repas à préparer par jour, toutes cantines"))
        if fc["fallback"].any():
            parts.append("<p class='fb'>* Cantine sans historique suffisant : niveau estimé par l'effectif ou la "
                         "moyenne des cantines, marge élargie. Vérifiez ces quantités.</p>")
    if evaluation:
        m, s = evaluation.get("model", {}), evaluation.get("staff", {})
        parts.append("<h2>Fiabilité mesurée (dernier test sur des jours passés)</h2>")
        parts.append(
            "<table><tr><th class='s'></th><th>erreur moyenne (repas)</th><th>repas préparés en trop</th>"
            "<th>repas manquants</th><th>jours-cantine en manque</th></tr>"
            + "".join(
                f"<tr><td class='s'>{label}</td><td>{_fmt(b.get('mae'))}</td><td>{_fmt(b.get('over_pct'), '%')}</td>"
                f"<td>{_fmt(b.get('short_pct'), '%')}</td><td>{_fmt(b.get('short_rate'), 'r')}</td></tr>"
                for label, b in (("modèle", m), ("prévision du personnel", s)) if b.get("n"))
            + "</table>"
            f"<p class='i'>Sur {evaluation.get('n', '?')} jours-cantine ; pourcentages rapportés aux repas servis.</p>"
        )
        for name, png in (evaluation_pngs or {}).items():
            parts.append(_img(png, name))
    parts.append("<p class='i'>Prévisions Territoria (gradient boosting + marge conforme). "
                 + (html.escape(source) + ". " if source else "")
                 + "Une prévision ne remplace pas la connaissance du terrain : sorties scolaires, grèves annoncées, "
                 "classes fermées sont à reporter à la main.</p></body></html>")
    return "".join(parts)


def _fmt(x, kind: str = "") -> str:
    if x is None:
        return "—"
    if kind == "%":
        return f"{x:.1f} %".replace(".", ",")
    if kind == "r":
        return f"{x * 100:.1f} %".replace(".", ",")
    return f"{x:.1f}".replace(".", ",")


def _site_label(row) -> str:
    return html.escape(row["site"]) + (" <span class='fb'>*</span>" if row["fallback"] else "")


def _table_day(d: pd.DataFrame) -> str:
    body = "".join(
        f"<tr><td class='s'>{_site_label(r)}</td><td class='q'>{_num(r['quantity'])}</td>"
        f"<td>{_num(r['point'])}</td><td class='i'>{_num(r['low'])} – {_num(r['high'])}</td></tr>"
        for _, r in d.sort_values("site").iterrows())
    return ("<table><tr><th class='s'>cantine</th><th>à préparer</th><th>prévision</th><th>intervalle</th></tr>"
            f"{body}</table>")


def _table_week(fc: pd.DataFrame) -> str:
    days = sorted(fc["date"].unique())[:5]
    head = "".join(f"<th>{WEEKDAYS[pd.Timestamp(d).day_of_week]}<br>{pd.Timestamp(d).day:02d}/"
                   f"{pd.Timestamp(d).month:02d}</th>" for d in days)
    rows = []
    for site, g in fc[fc["date"].isin(days)].groupby("site"):
        g = g.set_index("date")
        cells = []
        for d in days:
            if d in g.index:
                r = g.loc[d]
                cells.append(f"<td><span class='q'>{_num(r['quantity'])}</span><br>"
                             f"<span class='i'>{_num(r['low'])} – {_num(r['high'])}</span></td>")
            else:
                cells.append("<td>—</td>")
        label = html.escape(site) + (" <span class='fb'>*</span>" if g["fallback"].any() else "")
        rows.append(f"<tr><td class='s'>{label}</td>{''.join(cells)}</tr>")
    return f"<table><tr><th class='s'>cantine</th>{head}</tr>{''.join(rows)}</table>"


def load_evaluation(folder) -> tuple[dict | None, dict]:
    """Last stored evaluation summary and its PNG charts (if any)."""
    from pathlib import Path

    folder = Path(folder)
    f = folder / "summary.json"
    if not f.is_file():
        return None, {}
    summary = json.loads(f.read_text(encoding="utf-8"))
    names = {"canteen_tradeoff.png": "Compromis gaspillage / manque",
             "canteen_forecast_vs_actual.png": "Prévision et repas servis par cantine",
             "canteen_error_by_period.png": "Erreur par jour et par mois"}
    pngs = {label: (folder / name).read_bytes() for name, label in names.items() if (folder / name).is_file()}
    return summary, pngs
