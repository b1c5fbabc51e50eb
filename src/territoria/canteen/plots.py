"""PNG charts (French labels): forecast vs actual, waste/shortage trade-off, error by weekday/month."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

WEEKDAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
MONTHS = ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."]
SOURCE = "Données : Nantes Métropole (fréquentation des restaurants scolaires)"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path | None) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    data = buf.getvalue()
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_bytes(data)
    return data


def forecast_vs_actual(rows: pd.DataFrame, out: Path | None = None, sites: list[str] | None = None,
                       n_sites: int = 6, source: str | None = None) -> bytes:
    """Small multiples: actual, forecast, interval, quantity to prepare and staff forecast per canteen."""
    plt = _plt()
    rows = rows[rows["reel"].gt(0)]
    if sites is None:  # the largest canteens first: that is where meals are won or lost
        sites = list(rows.groupby("site")["reel"].sum().sort_values(ascending=False).index[:n_sites])
    n = max(len(sites), 1)
    cols = 2 if n > 1 else 1
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(6.5 * cols, 2.6 * ((n + cols - 1) // cols)),
                             squeeze=False, sharex=True)
    for ax, site in zip(axes.flat, sites):
        d = _break_gaps(rows[rows["site"] == site].sort_values("date"))
        ax.fill_between(d["date"], d["low"], d["high"], color="tab:blue", alpha=0.15, label="intervalle")
        ax.plot(d["date"], d["reel"], "k.", ms=3, label="repas servis")
        ax.plot(d["date"], d["point"], color="tab:blue", lw=1, label="prévision")
        ax.plot(d["date"], d["quantity"], color="tab:green", lw=0.8, label="à préparer")
        if "prevision" in d and d["prevision"].notna().any():
            ax.plot(d["date"], d["prevision"], color="tab:orange", lw=0.7, alpha=0.8, label="prévision du personnel")
        ax.set_title(site, fontsize=9)
        ax.set_ylabel("repas")
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(sites):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="lower left", ncol=3)
    fig.suptitle("Prévision et repas servis par cantine", fontsize=11)
    fig.autofmt_xdate()
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    if source:
        fig.text(0.01, 0.005, source, fontsize=7, color="grey")
    return _save(fig, out)


def tradeoff(curve: pd.DataFrame, summary: dict, out: Path | None = None, source: str | None = None) -> bytes:
    """Waste (over_pct) against share of canteen-days short, model curve vs staff and baselines."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    c = curve.sort_values("short_rate")
    ax.plot(c["short_rate"] * 100, c["over_pct"], "o-", color="tab:blue", ms=4, label="modèle (selon le réglage)")
    target = summary.get("target_short_rate")
    m = summary["model"]
    ax.plot(m["short_rate"] * 100, m["over_pct"], "*", color="tab:blue", ms=14,
            label=f"modèle, réglage actuel ({target:.0%} visé)" if target is not None else "modèle")
    s = summary.get("staff") or {}
    if s.get("n"):
        ax.plot(s["short_rate"] * 100, s["over_pct"], "s", color="tab:orange", ms=9, label="prévision du personnel")
    for name, b in (summary.get("baselines") or {}).items():
        if b.get("n"):
            ax.plot(b["short_rate"] * 100, b["over_pct"], "^", ms=7, label=f"référence naïve : {_label(name)}")
    ax.set_xlabel("jours-cantine en manque (%)")
    ax.set_ylabel("repas préparés en trop (% des repas servis)")
    ax.set_title("Compromis gaspillage / manque")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if source:
        fig.text(0.01, -0.02, source, fontsize=7, color="grey")
    return _save(fig, out)


def error_by_period(rows: pd.DataFrame, out: Path | None = None, source: str | None = None) -> bytes:
    """Mean absolute error of the model and of the staff by weekday and by month."""
    plt = _plt()
    d = rows[rows["reel"].gt(0)].copy()
    d["err_model"] = (d["point"] - d["reel"]).abs()
    d["err_staff"] = (d["prevision"] - d["reel"]).abs()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, key, labels, title in [(axes[0], d["date"].dt.day_of_week, WEEKDAYS, "par jour de la semaine"),
                                   (axes[1], d["date"].dt.month, MONTHS, "par mois")]:
        g = d.groupby(key)[["err_model", "err_staff"]].mean()
        x = np.arange(len(g))
        ax.bar(x - 0.2, g["err_model"], 0.4, label="modèle", color="tab:blue")
        if g["err_staff"].notna().any():
            ax.bar(x + 0.2, g["err_staff"], 0.4, label="personnel", color="tab:orange")
        ax.set_xticks(x, [labels[i - (1 if labels is MONTHS else 0)] for i in g.index], fontsize=8)
        ax.set_title(f"Erreur absolue moyenne {title}", fontsize=10)
        ax.set_ylabel("repas")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    if source:
        fig.text(0.01, -0.03, source, fontsize=7, color="grey")
    return _save(fig, out)


def week_ahead(fc: pd.DataFrame, out: Path | None = None, source: str | None = None) -> bytes:
    """Total meals to prepare per day over the coming days, with the summed interval."""
    plt = _plt()
    g = fc.groupby("date")[["point", "low", "high", "quantity"]].sum()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    labels = [f"{WEEKDAYS[d.day_of_week]} {d.day:02d}/{d.month:02d}" for d in g.index]
    x = np.arange(len(g))
    ax.bar(x, g["quantity"], color="tab:green", alpha=0.7, label="à préparer")
    ax.errorbar(x, g["point"], yerr=[g["point"] - g["low"], g["high"] - g["point"]], fmt="o", color="tab:blue",
                ms=4, capsize=3, label="prévision et intervalle")
    ax.set_xticks(x, labels, fontsize=8, rotation=20)
    ax.set_ylabel("repas (toutes cantines)")
    ax.set_title("Repas à préparer, jours à venir")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    if source:
        fig.text(0.01, -0.05, source, fontsize=7, color="grey")
    return _save(fig, out)


def _break_gaps(d: pd.DataFrame, days: int = 10) -> pd.DataFrame:
    """Insert an empty row in gaps longer than `days` so that lines do not cross the holidays."""
    gap = d["date"].diff().dt.days > days
    if not gap.any():
        return d
    fill = pd.DataFrame({"date": d["date"][gap] - pd.Timedelta(days=1)})
    return pd.concat([d, fill], ignore_index=True).sort_values("date", ignore_index=True)


def _label(name: str) -> str:
    return {"last_week": "même jour la semaine d'avant", "mean_4_weeks": "moyenne des 4 mêmes jours précédents"}.get(name, name)


def write_evaluation_plots(result, folder: Path, prefix: str = "canteen_", source: str | None = None) -> list[Path]:
    """The three evaluation charts of a BacktestResult into folder."""
    folder = Path(folder)
    paths = [folder / f"{prefix}forecast_vs_actual.png", folder / f"{prefix}tradeoff.png",
             folder / f"{prefix}error_by_period.png"]
    forecast_vs_actual(result.rows, paths[0], source=source)
    tradeoff(result.tradeoff, result.summary, paths[1], source=source)
    error_by_period(result.rows, paths[2], source=source)
    return paths
