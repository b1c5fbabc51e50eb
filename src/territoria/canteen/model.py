"""The forecaster: gradient boosting on level-relative attendance + conformal quantity to prepare.

* Point forecast: LightGBM regression of ``reel / level`` where *level* is the median of the series'
  last 10 valid days dated ≤ D − h; features are calendar, holidays, strikes, menus, feasts,
  enrolment change and recent-attendance ratios (see features.py). Rows are weighted by the level,
  so the loss counts meals, not ratios.
* Quantity to prepare and interval: split-conformal on *relative* residuals ``reel / point − 1``.
  Residuals come out of sample (a model fitted without the last year of the history predicts that
  year), and in a backtest the window rolls forward with the actuals as they are revealed. Each
  canteen's residual spread is scaled by its own recent spread (shrunk to the city's), so a steady
  canteen gets a tight margin and an erratic one a wide margin.
* A canteen with no usable history gets a level from its enrolment × the city's attendance rate,
  or the median canteen level, and a wider margin (measured on the history, see `fallback_spread`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from territoria.canteen.features import calendar_features, history_key, lag_features
from territoria.canteen.io import Covariates

TYPE_CODES = {"M": 0, "E": 1, "M/E": 2}
DEFAULT_PARAMS = {
    "objective": "huber",
    "alpha": 0.15,  # huber transition, in ratio units (≈ 15 % of the level)
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "seed": 7,
    "deterministic": True,
    "force_row_wise": True,
}
DEFAULT_ROUNDS = 500
CALIB_DAYS = 365  # out-of-sample residuals for the conformal margin: the last year of history
SITE_SHRINK = 30  # residuals needed before a canteen's own spread counts as much as the city's
WINDOW = 8000  # residual records kept for the margin (≈ 80 school days × 100 canteens)
Progress = Callable[[str], None]


def _noop(_: str) -> None:
    pass


def valid_obs(df: pd.DataFrame, cov: Covariates) -> pd.DataFrame:
    """Observations usable as history: reel > 0 and not a strike day."""
    ok = df["reel"].gt(0) & ~df["date"].isin(list(cov.strikes))
    return df.loc[ok, ["hkey", "date", "reel"]]


def with_keys(df: pd.DataFrame, cov: Covariates) -> pd.DataFrame:
    df = df.copy()
    df["hkey"] = [history_key(s, n, t, cov.site_map)
                  for s, n, t in zip(df["site"], df["site_nom"], df["site_type"])]
    return df


def pool_history(df: pd.DataFrame) -> pd.DataFrame:
    """One value per (history key, date): renamed duplicates of a series are averaged."""
    ok = df["reel"].notna()
    return df.loc[ok].groupby(["hkey", "date"], as_index=False)["reel"].mean()


@dataclass
class CanteenModel:
    horizon: int = 7
    params: dict = field(default_factory=lambda: dict(DEFAULT_PARAMS))
    rounds: int = DEFAULT_ROUNDS
    threads: int = 2
    features: list = field(default_factory=list)
    booster_txt: str = ""
    city_level: float = 100.0  # median canteen level, fallback of last resort
    enrol_rate: float = float("nan")  # median meals / enrolled pupil
    fallback_spread: float = 0.35  # relative error of a level guessed without history
    calib: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["date", "hkey", "resid"]))
    trained_until: str = ""
    trained_rows: int = 0
    sites: list = field(default_factory=list)
    _booster: object = None

    # ------------------------------------------------------------------ design matrix

    def design(self, rows: pd.DataFrame, obs: pd.DataFrame, cov: Covariates) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Feature matrix, level (base) and a no-history flag for rows (hkey, date, site_type)."""
        cal = calendar_features(rows["date"], cov)
        lags = lag_features(obs, rows[["hkey", "date"]], self.horizon)
        X = cal.reindex(rows["date"]).reset_index(drop=True)
        X.index = rows.index
        enrol_now, enrol_then = self._enrolment(rows, lags, cov)
        base = lags["lvl_med10"].to_numpy(dtype=float)
        no_hist = ~np.isfinite(base)
        guess = enrol_now * self.enrol_rate if np.isfinite(self.enrol_rate) else np.full(len(rows), np.nan)
        guess = np.where(np.isfinite(guess) & (guess > 0), guess, self.city_level)
        base = np.where(no_hist, guess, base)
        X["site_type"] = rows["site_type"].map(TYPE_CODES).fillna(3).to_numpy()
        X["log_level"] = np.log(base)
        for c, name in [("lvl_mean5", "r_mean5"), ("lvl_med20", "r_med20"), ("last_val", "r_last"),
                        ("wd_mean4", "r_wd4"), ("wd_last", "r_wdlast")]:
            X[name] = np.where(no_hist, 1.0, lags[c].to_numpy() / base)
        X["wd_n"] = np.where(no_hist, 4, lags["wd_n"].to_numpy())
        X["stale_days"] = np.where(no_hist, self.horizon, lags["stale_days"].to_numpy())
        X["n_hist"] = np.minimum(np.where(no_hist, 50, lags["n_hist"].to_numpy()), 50)
        X["ly_season"] = lags["ly_season"].to_numpy()
        X["yr_ratio"] = lags["yr_ratio"].to_numpy()
        X["enrol_ratio"] = np.where(no_hist, 1.0, enrol_now / enrol_then)
        X["meals_per_pupil"] = base / enrol_now
        return X, base, no_hist

    def _enrolment(self, rows, lags, cov: Covariates) -> tuple[np.ndarray, np.ndarray]:
        n = len(rows)
        if cov.enrolment is None or len(cov.enrolment) == 0:
            return np.full(n, np.nan), np.full(n, np.nan)
        table = {k: (g["start"].to_numpy(dtype="datetime64[ns]"), g["effectif"].to_numpy(float))
                 for k, g in cov.enrolment.sort_values("start").groupby("site")}
        now, then = np.full(n, np.nan), np.full(n, np.nan)
        dates = rows["date"].to_numpy(dtype="datetime64[ns]")
        last = dates - (np.nan_to_num(lags["stale_days"].to_numpy(), nan=0).astype("int64")
                        * np.timedelta64(1, "D"))
        for i, site in enumerate(rows["site"].to_numpy()):
            key = cov.site_map.get(site, site)
            t = table.get(key)
            if t is None:
                continue
            j = np.searchsorted(t[0], dates[i], side="right") - 1
            if j >= 0:
                now[i] = t[1][j]
            j = np.searchsorted(t[0], last[i], side="right") - 1
            if j >= 0:
                then[i] = t[1][j]
        return now, then

    # ------------------------------------------------------------------ training

    def _train(self, X: pd.DataFrame, y: np.ndarray, w: np.ndarray):
        import lightgbm as lgb

        params = dict(self.params, num_threads=self.threads)
        ds = lgb.Dataset(X, label=y, weight=w, free_raw_data=True)
        return lgb.train(params, ds, num_boost_round=self.rounds)

    def fit(self, hist: pd.DataFrame, cov: Covariates, progress: Progress = _noop) -> "CanteenModel":
        """Fit on canonical rows (with reel); also builds the out-of-sample residuals."""
        hist = with_keys(hist, cov)
        pooled = pool_history(hist)
        obs = valid_obs(pooled, cov)
        rows = hist[hist["reel"].gt(0)].reset_index(drop=True)
        if len(rows) < 50:
            from territoria.canteen.io import CanteenDataError

            raise CanteenDataError(
                f"Historique trop court pour entraîner un modèle ({len(rows)} jours-cantine avec des repas servis).",
                hint="Importez au moins quelques semaines de fréquentation (colonne reel renseignée).",
            )
        self._set_fallbacks(obs, rows, cov)
        progress("Calcul des variables")
        X, base, no_hist = self.design(rows, obs, cov)
        y = rows["reel"].to_numpy(float) / base
        keep = ~no_hist
        self.features = list(X.columns)
        end = rows["date"].max()
        split = end - pd.Timedelta(days=CALIB_DAYS)
        early = keep & (rows["date"] <= split).to_numpy()
        late = ~no_hist & (rows["date"] > split).to_numpy()
        if early.sum() >= 500 and late.sum() >= 100:
            progress("Entraînement du modèle de calibration (historique moins la dernière année)")
            b = self._train(X[early], y[early], base[early])
            point = b.predict(X[late], num_threads=self.threads) * base[late]
            self.calib = self._residuals(rows[late], point)
        progress("Entraînement du modèle final")
        self._booster = self._train(X[keep], y[keep], base[keep])
        self.booster_txt = self._booster.model_to_string()
        if self.calib.empty:  # short history: in-sample residuals, a margin that is a bit tight
            point = self._booster.predict(X[keep], num_threads=self.threads) * base[keep]
            self.calib = self._residuals(rows[keep], point)
        self.trained_until = str(end.date())
        self.trained_rows = int(keep.sum())
        self.sites = sorted(hist["site"].unique())
        return self

    def _set_fallbacks(self, obs: pd.DataFrame, rows: pd.DataFrame, cov: Covariates) -> None:
        recent = obs[obs["date"] > obs["date"].max() - pd.Timedelta(days=365)]
        levels = recent.groupby("hkey")["reel"].median()
        self.city_level = float(levels.median()) if len(levels) else 100.0
        spread = float(np.median(np.abs(levels / self.city_level - 1))) if len(levels) > 2 else 0.5
        self.fallback_spread = max(spread, 0.1)
        if cov.enrolment is not None and len(cov.enrolment):
            last_rows = rows.sort_values("date").groupby("hkey").tail(1)
            lv = last_rows["hkey"].map(levels)
            zeros = pd.DataFrame({"stale_days": np.zeros(len(last_rows))}, index=last_rows.index)
            now, _ = self._enrolment(last_rows, zeros, cov)
            rate = lv.to_numpy() / now
            rate = rate[np.isfinite(rate) & (rate > 0)]
            if len(rate) >= 3:
                self.enrol_rate = float(np.median(rate))
                self.fallback_spread = max(float(np.median(np.abs(rate / self.enrol_rate - 1))), 0.1)

    @staticmethod
    def _residuals(rows: pd.DataFrame, point: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"date": rows["date"].to_numpy(), "hkey": rows["hkey"].to_numpy(),
                             "resid": rows["reel"].to_numpy(float) / np.maximum(point, 1e-6) - 1})

    # ------------------------------------------------------------------ prediction

    @property
    def booster(self):
        if self._booster is None:
            import lightgbm as lgb

            self._booster = lgb.Booster(model_str=self.booster_txt)
        return self._booster

    def predict_point(self, rows: pd.DataFrame, known: pd.DataFrame, cov: Covariates) -> pd.DataFrame:
        """Point forecasts for rows (canonical) given all known actuals (canonical, with reel).

        Only actuals dated ≤ D − horizon are used for a day D (features.lag_features).
        """
        rows = with_keys(rows, cov).reset_index(drop=True)
        obs = valid_obs(pool_history(with_keys(known, cov)), cov)
        X, base, no_hist = self.design(rows, obs, cov)
        ratio = self.booster.predict(X[self.features], num_threads=self.threads)
        out = rows[["date", "site", "hkey"]].copy()
        out["point"] = np.maximum(ratio * base, 0.0)
        out["fallback"] = no_hist
        out["wd_mean4"] = X["r_wd4"].to_numpy() * base
        out["wd_last"] = X["r_wdlast"].to_numpy() * base
        return out

    def quantities(self, pred: pd.DataFrame, target_short_rate: float, calib: pd.DataFrame | None = None,
                   interval: float = 0.8, site_cap: float | None = None) -> pd.DataFrame:
        """Quantity to prepare and interval, from relative residuals dated ≤ D − horizon.

        For each day, the canteens' short probabilities are allocated so that their mean is the
        target and the expected over-prepared meals are the fewest: a canteen whose spread in meals
        is large gets a slightly higher short probability, a small or steady one a lower one. No
        canteen gets more than ``site_cap`` (default: twice the target).
        calib: residual records (date, hkey, resid); defaults to the model's own out-of-sample ones.
        """
        calib = self.calib if calib is None else calib
        calib = calib.sort_values("date", kind="stable").reset_index(drop=True)
        keys = pd.Index(pd.unique(np.concatenate([calib["hkey"].to_numpy(object), pred["hkey"].to_numpy(object)])))
        ccode = keys.get_indexer(calib["hkey"].to_numpy(object))
        pcode = keys.get_indexer(pred["hkey"].to_numpy(object))
        cdates = calib["date"].to_numpy(dtype="datetime64[ns]")
        resid = calib["resid"].to_numpy(float)
        pdates = pred["date"].to_numpy(dtype="datetime64[ns]")
        point = pred["point"].to_numpy(float)
        fallback = pred["fallback"].to_numpy(bool)
        cap = min(2 * target_short_rate, 0.5) if site_cap is None else site_cap
        out = {k: np.full(len(pred), np.nan) for k in ("q", "lo", "hi")}
        h = np.timedelta64(self.horizon, "D")
        for d in np.unique(pdates):
            n = np.searchsorted(cdates, d - h, side="right")
            sel = slice(max(0, n - WINDOW), n) if n > 0 else slice(0, min(len(resid), WINDOW))
            r, k = resid[sel], ccode[sel]
            if len(r) == 0:
                r, k = np.zeros(1), np.zeros(1, int)
            dev = np.abs(r - np.median(r))
            g = dev.mean() or 1e-6
            scale = (np.bincount(k, dev, len(keys)) + SITE_SHRINK * g) / (np.bincount(k, None, len(keys)) + SITE_SHRINK)
            z = np.sort(r / scale[k])
            rows = np.flatnonzero(pdates == d)
            s = np.where(fallback[rows], np.hypot(self.fallback_spread, g), scale[pcode[rows]])
            lo, hi = np.quantile(z, [(1 - interval) / 2, (1 + interval) / 2])
            out["lo"][rows] = point[rows] * (1 + lo * s)
            out["hi"][rows] = point[rows] * (1 + hi * s)
            zq = _allocate(z, point[rows] * s, target_short_rate, cap)
            out["q"][rows] = point[rows] * (1 + zq * s)
        res = pred.copy()
        res["low"] = np.maximum(out["lo"], 0)
        res["high"] = np.maximum(out["hi"], res["point"])
        res["quantity"] = np.ceil(np.maximum(out["q"], 0))
        return res

    # ------------------------------------------------------------------ persistence

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        meta = {k: getattr(self, k) for k in ("horizon", "params", "rounds", "threads", "features",
                                               "city_level", "enrol_rate", "fallback_spread",
                                               "trained_until", "trained_rows", "sites")}
        meta["calib"] = {"date": [str(pd.Timestamp(d).date()) for d in self.calib["date"]],
                         "hkey": list(self.calib["hkey"]), "resid": [round(float(r), 5) for r in self.calib["resid"]]}
        tmp = folder / "model.json.tmp"
        tmp.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        (folder / "booster.txt.tmp").write_text(self.booster_txt, encoding="utf-8")
        (folder / "booster.txt.tmp").replace(folder / "booster.txt")
        tmp.replace(folder / "model.json")

    @classmethod
    def load(cls, folder: Path) -> "CanteenModel":
        meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
        calib = meta.pop("calib")
        m = cls(**meta)
        m.calib = pd.DataFrame({"date": pd.to_datetime(calib["date"]), "hkey": calib["hkey"],
                                "resid": np.asarray(calib["resid"], float)})
        m.booster_txt = (folder / "booster.txt").read_text(encoding="utf-8")
        return m


_LEVELS = np.linspace(0.5, 0.998, 250)


def _allocate(z: np.ndarray, sigma: np.ndarray, alpha: float, cap: float) -> np.ndarray:
    """Normalised quantile of each row: short probabilities averaging alpha, least expected waste.

    z: sorted sample of normalised residuals; sigma: each row's spread in meals. Minimises
    Σ σ_i E[(z_i − Z)+] subject to mean P(Z > z_i) = alpha and P(Z > z_i) ≤ cap (Lagrangian,
    bisection on the multiplier).
    """
    levels = _LEVELS[(1 - _LEVELS) <= max(cap, alpha) + 1e-12]
    if alpha >= 0.5 or len(levels) == 0:
        return np.full(len(sigma), np.quantile(z, 1 - alpha))
    zq = np.quantile(z, levels)
    csum = np.concatenate([[0.0], np.cumsum(z)])
    m = np.searchsorted(z, zq, side="right")
    waste = (zq * m - csum[m]) / len(z)  # E[(zq - Z)+]
    short = 1 - levels
    sigma = np.maximum(np.nan_to_num(sigma, nan=1.0), 1e-9)
    lo, hi = 0.0, float(sigma.max() * (waste.max() + 1) / max(short.min(), 1e-6)) * 10 + 1
    pick = None
    for _ in range(60):
        lam = (lo + hi) / 2
        cost = sigma[:, None] * waste[None, :] + lam * short[None, :]
        pick = cost.argmin(axis=1)
        if short[pick].mean() > alpha:
            lo = lam
        else:
            hi = lam
    cost = sigma[:, None] * waste[None, :] + hi * short[None, :]
    return zq[cost.argmin(axis=1)]
