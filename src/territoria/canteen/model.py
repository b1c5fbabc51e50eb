"""The forecaster: gradient boosting on level-relative attendance + conformal quantity to prepare.

* Point forecast: LightGBM regression (Huber loss) of ``reel / level`` where *level* is the median
  of the series' last 10 valid days dated ≤ D − h; features are calendar, holidays, strikes, menus,
  feasts, enrolment change and recent-attendance ratios (see features.py). Rows are weighted by the
  level, so the loss counts meals, not ratios.
* Spread: two LightGBM quantile models (15 % and 85 %) give each canteen-day its own spread below
  and above the point (wider at the end of June, on strike days, in an erratic canteen…).
* Quantity to prepare and interval: split-conformal on residuals normalised by that spread
  (conformalised quantile regression). Residuals are out of sample (models fitted without the last
  year of the history predict that year); in a backtest the window rolls forward with the actuals
  as they are revealed, never past D − h. Each day, the short probabilities of the canteens are
  allocated so that their mean is the tenant's target and the expected waste is the least.
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
from territoria.canteen.io import CanteenDataError, Covariates

TYPE_CODES = {"M": 0, "E": 1, "M/E": 2}
DEFAULT_PARAMS = {
    "objective": "huber",
    "alpha": 0.08,  # huber transition, in ratio units (≈ 8 % of the level; chosen on 2015 validation)
    "learning_rate": 0.06,
    "num_leaves": 31,
    "max_bin": 63,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "seed": 7,
    "deterministic": True,
    "force_col_wise": True,
}
DEFAULT_ROUNDS = 400
SPREAD_LEVELS = (0.15, 0.85)
SPREAD_PARAMS = {"learning_rate": 0.1, "num_leaves": 15, "min_data_in_leaf": 80}
SPREAD_ROUNDS = 120
CALIB_DAYS = 365  # out-of-sample residuals for the conformal margin: the last year of history
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
    threads: int = 1  # one thread: OpenMP spin-waits badly on a shared, busy machine
    features: list = field(default_factory=list)
    boosters_txt: list = field(default_factory=list)  # point, low spread, high spread
    city_level: float = 100.0  # median canteen level, fallback of last resort
    enrol_rate: float = float("nan")  # median meals / enrolled pupil
    fallback_spread: float = 0.35  # relative error of a level guessed without history
    calib: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["date", "hkey", "z_up", "z_down"]))
    trained_until: str = ""
    trained_rows: int = 0
    sites: list = field(default_factory=list)
    _boosters: list = field(default_factory=list, repr=False)
    missing_features: list = field(default_factory=list, repr=False)  # at the last prediction

    # ------------------------------------------------------------------ design matrix

    def design(self, rows: pd.DataFrame, obs: pd.DataFrame, cov: Covariates) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Feature matrix, level (base) and a no-history flag for rows (hkey, date, site, site_type)."""
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
                        ("wd_mean4", "r_wd4"), ("wd_last", "r_wdlast"), ("lvl_med3", "r_med3"),
                        ("lvl_ewm", "r_ewm"), ("wd_mean12", "r_wd12"), ("lvl_mean48", "r_mean48")]:
            X[name] = np.where(no_hist, 1.0, lags[c].to_numpy() / base)
        X["wd_n"] = np.where(no_hist, 4, lags["wd_n"].to_numpy())
        X["stale_days"] = np.where(no_hist, self.horizon, lags["stale_days"].to_numpy())
        X["n_hist"] = np.minimum(np.where(no_hist, 50, lags["n_hist"].to_numpy()), 50)
        X["ly_season"] = lags["ly_season"].to_numpy()
        X["yr_ratio"] = lags["yr_ratio"].to_numpy()
        X["cv20"] = lags["cv20"].to_numpy()
        X["wd_ratio12"] = lags["wd_ratio12"].to_numpy()
        X["enrol_ratio"] = np.where(no_hist, 1.0, enrol_now / enrol_then)
        X["meals_per_pupil"] = base / enrol_now
        return X, base, no_hist

    def _enrolment(self, rows, lags, cov: Covariates) -> tuple[np.ndarray, np.ndarray]:
        """Pupils enrolled on the day and on the day of the last observation used."""
        n = len(rows)
        now, then = np.full(n, np.nan), np.full(n, np.nan)
        if cov.enrolment is None or len(cov.enrolment) == 0:
            return now, then
        dates = rows["date"].to_numpy(dtype="datetime64[ns]")
        last = dates - (np.nan_to_num(lags["stale_days"].to_numpy(), nan=0).astype("int64")
                        * np.timedelta64(1, "D"))
        keys = np.array([cov.site_map.get(s, s) for s in rows["site"].to_numpy()], dtype=object)
        for key, g in cov.enrolment.sort_values("start").groupby("site"):
            sel = np.flatnonzero(keys == key)
            if len(sel) == 0:
                continue
            t, e = g["start"].to_numpy(dtype="datetime64[ns]"), g["effectif"].to_numpy(float)
            for when, target in ((dates, now), (last, then)):
                j = np.searchsorted(t, when[sel], side="right") - 1
                target[sel] = np.where(j >= 0, e[np.maximum(j, 0)], np.nan)
        return now, then

    # ------------------------------------------------------------------ training

    def _train(self, X: pd.DataFrame, y: np.ndarray, w: np.ndarray) -> list:
        import lightgbm as lgb

        params = dict(self.params, num_threads=self.threads)
        ds = lgb.Dataset(X, label=y, weight=w, free_raw_data=False)
        out = [lgb.train(params, ds, num_boost_round=self.rounds)]
        for level in SPREAD_LEVELS:
            p = dict(params, **SPREAD_PARAMS, objective="quantile", alpha=level)
            out.append(lgb.train(p, ds, num_boost_round=SPREAD_ROUNDS))
        return out

    def _predict(self, boosters: list, X: pd.DataFrame, base: np.ndarray) -> tuple[np.ndarray, ...]:
        point, lo, hi = (np.maximum(b.predict(X, num_threads=self.threads) * base, 0.0) for b in boosters)
        floor = 0.01 * point + 0.5  # a spread is never zero
        return point, np.maximum(point - lo, floor), np.maximum(hi - point, floor)

    def fit(self, hist: pd.DataFrame, cov: Covariates, progress: Progress = _noop) -> "CanteenModel":
        """Fit on canonical rows (with reel); also builds the out-of-sample residuals."""
        hist = with_keys(hist, cov)
        obs = valid_obs(pool_history(hist), cov)
        rows = hist[hist["reel"].gt(0)].reset_index(drop=True)
        if len(rows) < 50:
            raise CanteenDataError(
                f"Historique trop court pour entraîner un modèle ({len(rows)} jours-cantine avec des repas servis).",
                hint="Importez au moins quelques semaines de fréquentation (colonne reel renseignée).",
            )
        self._set_fallbacks(obs, rows, cov)
        progress("Calcul des variables")
        X, base, no_hist = self.design(rows, obs, cov)
        y = rows["reel"].to_numpy(float) / base
        keep = ~no_hist
        if keep.sum() < 50:
            raise CanteenDataError(
                "Historique trop court : aucune cantine n'a assez de jours passés pour apprendre.",
                hint=f"Il faut des valeurs réelles datées d'au moins {self.horizon} jours avant les jours à apprendre.",
            )
        self.features = list(X.columns)
        end = rows["date"].max()
        split = end - pd.Timedelta(days=CALIB_DAYS)
        early = keep & (rows["date"] <= split).to_numpy()
        late = keep & (rows["date"] > split).to_numpy()
        if early.sum() >= 500 and late.sum() >= 100:
            progress("Entraînement des modèles de calibration (historique sans la dernière année)")
            b = self._train(X[early], y[early], base[early])
            self.calib = self._residuals(rows[late], *self._predict(b, X[late], base[late]))
        progress("Entraînement des modèles finaux (prévision, dispersion basse et haute)")
        self._boosters = self._train(X[keep], y[keep], base[keep])
        self.boosters_txt = [b.model_to_string() for b in self._boosters]
        if self.calib.empty:  # short history: in-sample residuals, a margin that may be a bit tight
            self.calib = self._residuals(rows[keep], *self._predict(self._boosters, X[keep], base[keep]))
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
            zeros = pd.DataFrame({"stale_days": np.zeros(len(last_rows))}, index=last_rows.index)
            now, _ = self._enrolment(last_rows, zeros, cov)
            rate = last_rows["hkey"].map(levels).to_numpy(float) / now
            rate = rate[np.isfinite(rate) & (rate > 0)]
            if len(rate) >= 3:
                self.enrol_rate = float(np.median(rate))
                self.fallback_spread = max(float(np.median(np.abs(rate / self.enrol_rate - 1))), 0.1)

    @staticmethod
    def _residuals(rows: pd.DataFrame, point, down, up) -> pd.DataFrame:
        err = rows["reel"].to_numpy(float) - point
        return pd.DataFrame({"date": rows["date"].to_numpy(), "hkey": rows["hkey"].to_numpy(),
                             "z_up": err / up, "z_down": err / down})

    # ------------------------------------------------------------------ prediction

    @property
    def boosters(self) -> list:
        if not self._boosters:
            import lightgbm as lgb

            self._boosters = [lgb.Booster(model_str=t) for t in self.boosters_txt]
        return self._boosters

    def predict_point(self, rows: pd.DataFrame, known: pd.DataFrame, cov: Covariates) -> pd.DataFrame:
        """Point forecasts and spreads for rows (canonical) given all known actuals (canonical).

        Only actuals dated ≤ D − horizon are used for a day D (features.lag_features).
        """
        rows = with_keys(rows, cov).reset_index(drop=True)
        obs = valid_obs(pool_history(with_keys(known, cov)), cov)
        X, base, no_hist = self.design(rows, obs, cov)
        # A covariate file imported after training may be missing: its features become unknown (NaN).
        self.missing_features = [c for c in self.features if c not in X.columns]
        point, down, up = self._predict(self.boosters, X.reindex(columns=self.features), base)
        # a level guessed without history: widen by the error of that guess
        down = np.where(no_hist, np.hypot(down, self.fallback_spread * point), down)
        up = np.where(no_hist, np.hypot(up, self.fallback_spread * point), up)
        out = rows[["date", "site", "hkey"]].copy()
        out["point"], out["down"], out["up"], out["fallback"] = point, down, up, no_hist
        out["wd_mean4"] = np.where(no_hist, np.nan, X["r_wd4"].to_numpy() * base)
        out["wd_last"] = np.where(no_hist, np.nan, X["r_wdlast"].to_numpy() * base)
        return out

    def residuals(self, pred: pd.DataFrame, reel: np.ndarray) -> pd.DataFrame:
        """Normalised residuals of forecasts whose actual is known (for the conformal window)."""
        ok = np.isfinite(reel) & (reel > 0) & ~pred["fallback"].to_numpy()
        p = pred[ok]
        return self._residuals(p.assign(reel=reel[ok]), p["point"].to_numpy(), p["down"].to_numpy(), p["up"].to_numpy())

    def quantities(self, pred: pd.DataFrame, target_short_rate: float, calib: pd.DataFrame | None = None,
                   interval: float = 0.8, site_cap: float | None = None) -> pd.DataFrame:
        """Quantity to prepare and interval, from normalised residuals dated ≤ D − horizon.

        For each day, the canteens' short probabilities are allocated so that their mean is the
        target and the expected over-prepared meals are the fewest: a canteen whose spread in meals
        is large gets a slightly higher short probability, a small or steady one a lower one. No
        canteen gets more than ``site_cap`` (default: twice the target).
        calib: residual records (date, z_up, z_down); defaults to the model's own out-of-sample ones.
        """
        calib = self.calib if calib is None else calib
        calib = calib.sort_values("date", kind="stable").reset_index(drop=True)
        cdates = calib["date"].to_numpy(dtype="datetime64[ns]")
        z_up, z_down = calib["z_up"].to_numpy(float), calib["z_down"].to_numpy(float)
        pdates = pred["date"].to_numpy(dtype="datetime64[ns]")
        point, up, down = (pred[c].to_numpy(float) for c in ("point", "up", "down"))
        cap = min(2 * target_short_rate, 0.5) if site_cap is None else site_cap
        q, lo, hi = (np.full(len(pred), np.nan) for _ in range(3))
        h = np.timedelta64(self.horizon, "D")
        for d in np.unique(pdates):
            n = np.searchsorted(cdates, d - h, side="right")
            sel = slice(max(0, n - WINDOW), n) if n > 0 else slice(0, min(len(z_up), WINDOW))
            zu, zd = np.sort(z_up[sel]), z_down[sel]
            if len(zu) == 0:
                zu, zd = np.zeros(1), np.zeros(1)
            rows = np.flatnonzero(pdates == d)
            lo[rows] = point[rows] + np.quantile(zd, (1 - interval) / 2) * down[rows]
            hi[rows] = point[rows] + np.quantile(zu, (1 + interval) / 2) * up[rows]
            q[rows] = point[rows] + _allocate(zu, up[rows], target_short_rate, cap) * up[rows]
        res = pred.copy()
        res["low"] = np.clip(lo, 0, point)
        res["high"] = np.maximum(hi, point)
        # Meals are whole: a reel above the continuous quantile q is also above floor(q), so
        # floor(q) has the same short probability and wastes less than rounding up.
        res["quantity"] = np.floor(np.maximum(q, 0) + 1e-9)
        return res

    # ------------------------------------------------------------------ persistence

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        meta = {k: getattr(self, k) for k in ("horizon", "params", "rounds", "threads", "features",
                                               "city_level", "enrol_rate", "fallback_spread",
                                               "trained_until", "trained_rows", "sites", "boosters_txt")}
        meta["calib"] = {"date": [str(pd.Timestamp(d).date()) for d in self.calib["date"]],
                         "hkey": list(self.calib["hkey"]),
                         "z_up": [round(float(r), 5) for r in self.calib["z_up"]],
                         "z_down": [round(float(r), 5) for r in self.calib["z_down"]]}
        tmp = folder / "model.json.tmp"
        tmp.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        tmp.replace(folder / "model.json")

    @classmethod
    def load(cls, folder: Path) -> "CanteenModel":
        meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
        calib = meta.pop("calib")
        m = cls(**meta)
        m.calib = pd.DataFrame({"date": pd.to_datetime(calib["date"]), "hkey": calib["hkey"],
                                "z_up": np.asarray(calib["z_up"], float),
                                "z_down": np.asarray(calib["z_down"], float)})
        return m


_LEVELS = np.linspace(0.5, 0.998, 250)


def _allocate(z: np.ndarray, sigma: np.ndarray, alpha: float, cap: float) -> np.ndarray:
    """Normalised quantile of each row: short probabilities averaging alpha, least expected waste.

    z: sorted sample of normalised residuals; sigma: each row's spread in meals. Minimises
    Σ σ_i E[(z_i − Z)+] subject to mean P(Z > z_i) ≤ alpha and P(Z > z_i) ≤ cap (Lagrangian,
    bisection on the multiplier).
    """
    if alpha >= 0.5:
        return np.full(len(sigma), np.quantile(z, 1 - alpha))
    levels = _LEVELS[(1 - _LEVELS) <= max(cap, alpha) + 1e-12]
    zq = np.quantile(z, levels)
    csum = np.concatenate([[0.0], np.cumsum(z)])
    m = np.searchsorted(z, zq, side="right")
    waste = (zq * m - csum[m]) / len(z)  # E[(zq - Z)+] in units of sigma
    short = 1 - levels
    sigma = np.maximum(np.nan_to_num(sigma, nan=1.0), 1e-9)
    lo, hi = 0.0, float(sigma.max() * (waste.max() + 1) / short.min()) + 1.0
    for _ in range(50):
        lam = (lo + hi) / 2
        pick = (sigma[:, None] * waste[None, :] + lam * short[None, :]).argmin(axis=1)
        if short[pick].mean() > alpha:
            lo = lam
        else:
            hi = lam
    pick = (sigma[:, None] * waste[None, :] + hi * short[None, :]).argmin(axis=1)
    return zq[pick]
