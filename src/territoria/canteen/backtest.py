"""Rolling-origin backtest: train on a history, forecast every row of a later period.

For a day D only actual values dated up to D − horizon are used (features and conformal margin);
the staff's ``prevision`` of the evaluated period is a baseline, never a model input.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from territoria.canteen.io import Covariates, CanteenDataError
from territoria.canteen.model import CanteenModel, Progress, _noop

BASELINES = {"last_week": "wd_last", "mean_4_weeks": "wd_mean4"}
TRADEOFF_RATES = [0.02, 0.03, 0.05, 0.075, 0.1, 0.125, 0.15, 0.175, 0.2, 0.25, 0.3, 0.4, 0.5]


def scores(reel: np.ndarray, point: np.ndarray, q: np.ndarray) -> dict:
    """Scores on rows with a positive actual: MAE of the point, waste and shortage of the quantity."""
    reel, point, q = (np.asarray(a, float) for a in (reel, point, q))
    ok = np.isfinite(reel) & (reel > 0) & np.isfinite(q) & np.isfinite(point)
    r, p, qq = reel[ok], point[ok], q[ok]
    total = r.sum()
    if len(r) == 0 or total <= 0:
        return {"n": 0, "mae": None, "over_pct": None, "short_pct": None, "short_rate": None}
    return {
        "n": int(len(r)),
        "mae": round(float(np.abs(p - r).mean()), 3),
        "over_pct": round(float(np.maximum(qq - r, 0).sum() / total * 100), 3),
        "short_pct": round(float(np.maximum(r - qq, 0).sum() / total * 100), 3),
        "short_rate": round(float((qq < r).mean()), 4),
    }


@dataclass
class BacktestResult:
    summary: dict  # the evaluate JSON
    rows: pd.DataFrame  # per row: date, site, reel, prevision, point, low, high, quantity, baselines
    tradeoff: pd.DataFrame  # target, over_pct, short_pct, short_rate for the model
    model: CanteenModel
    pred: pd.DataFrame  # point forecasts (model order = rows order)
    calib: pd.DataFrame  # residual records the margin may use (history + revealed actuals)


def run_backtest(hist: pd.DataFrame, act: pd.DataFrame, cov: Covariates, *, horizon: int = 7,
                 target_short_rate: float = 0.15, threads: int = 1,
                 progress: Progress = _noop, model: CanteenModel | None = None) -> BacktestResult:
    """Train on hist (unless a model fitted on hist is given), forecast every row of act.

    act's actuals are revealed as time passes: for a day D the features and the conformal margin
    only see actual values dated ≤ D − horizon; act's ``prevision`` is only scored, never used.
    """
    if horizon < 1:
        raise CanteenDataError("L'horizon doit être d'au moins 1 jour.", hint="Utilisez par exemple --horizon-days 7.")
    if len(act) == 0:
        raise CanteenDataError("Le fichier des valeurs réelles à prévoir est vide.",
                               hint="Fournissez au moins une ligne date, site, reel.")
    t0 = time.perf_counter()
    if model is None:
        model = CanteenModel(horizon=horizon, threads=threads).fit(hist, cov, progress)
    elif model.horizon != horizon:
        raise CanteenDataError(f"Le modèle fourni a un horizon de {model.horizon} jours, pas {horizon}.",
                               hint="Réentraînez le modèle avec le même horizon.")
    t_train = time.perf_counter() - t0
    progress("Prévisions jour par jour (origine glissante)")
    act = act.reset_index(drop=True)
    # ACT's actuals are revealed as time passes: lag features only look at dates <= D - horizon.
    known = pd.concat([hist, act], ignore_index=True).drop_duplicates(["site", "date"], keep="last")
    pred = model.predict_point(act, known, cov)
    reel = act["reel"].to_numpy(float)
    calib = pd.concat([model.calib, model.residuals(pred, reel)], ignore_index=True)
    res = model.quantities(pred, target_short_rate, calib)
    rows = pd.DataFrame({
        "date": act["date"], "site": act["site"], "reel": reel, "prevision": act["prevision"].to_numpy(float),
        "point": res["point"], "low": res["low"], "high": res["high"], "quantity": res["quantity"],
        "fallback": res["fallback"],
    })
    for name, col in BASELINES.items():
        rows[name] = pred[col].fillna(pred["point"]).to_numpy()
    progress("Courbe compromis gaspillage / manque")
    curve = []
    for rate in sorted(set(TRADEOFF_RATES + [target_short_rate])):
        q = model.quantities(pred, rate, calib)["quantity"].to_numpy()
        s = scores(reel, rows["point"], q)
        curve.append({"target": rate, **{k: s[k] for k in ("over_pct", "short_pct", "short_rate")}})
    t_total = time.perf_counter() - t0
    summary = {
        "n": scores(reel, rows["point"], rows["quantity"])["n"],
        "model": scores(reel, rows["point"], rows["quantity"]),
        "staff": scores(reel, rows["prevision"], rows["prevision"]),
        "baselines": {name: scores(reel, rows[name], rows[name]) for name in BASELINES},
        "target_short_rate": target_short_rate,
        "horizon_days": horizon,
        "fallback_rows": int(rows["fallback"].sum()),
        "covariates": sorted(cov.sources),
        "seconds": {"train": round(t_train, 1), "total": round(t_total, 1)},
    }
    return BacktestResult(summary, rows, pd.DataFrame(curve), model, pred, calib)
