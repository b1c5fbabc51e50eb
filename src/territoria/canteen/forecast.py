"""Forward forecasts: which days a canteen serves, and the quantities to prepare on those days."""

from __future__ import annotations

import numpy as np
import pandas as pd

from territoria.canteen.features import _fold, french_public_holidays
from territoria.canteen.io import CanteenDataError, Covariates
from territoria.canteen.model import CanteenModel, with_keys


def school_days(start: pd.Timestamp, end: pd.Timestamp, cov: Covariates, data: pd.DataFrame) -> pd.DatetimeIndex:
    """Days with a school lunch between start and end: weekdays out of holidays.

    Wednesdays count only when the history has lunches on most Wednesdays of its last year.
    """
    days = pd.date_range(start, end, freq="D")
    days = days[days.day_of_week < 5]
    public = cov.public_holidays or french_public_holidays(range(start.year, end.year + 1))
    days = days[~days.isin(list(public))]
    for s, e in cov.holidays:
        days = days[(days < s) | (days > e)]
    for i in range(len(cov.school_years) - 1):
        e, s = cov.school_years[i][1], cov.school_years[i + 1][0]
        days = days[(days <= e) | (days >= s)]
    recent = data[(data["date"] > data["date"].max() - pd.Timedelta(days=365)) & data["reel"].gt(0)]
    dates = pd.DatetimeIndex(recent["date"].unique())
    wed, mon = (dates.day_of_week == 2).sum(), (dates.day_of_week == 0).sum()
    if wed < 0.5 * max(mon, 1):
        days = days[days.day_of_week != 2]
    return days


def active_sites(data: pd.DataFrame, sites: list[str] | None = None) -> pd.DataFrame:
    """Last known description (site, site_nom, site_type) of the canteens to forecast."""
    recent = data[data["date"] > data["date"].max() - pd.Timedelta(days=365)]
    recent = recent[recent["reel"].gt(0) | recent["prevision"].gt(0)]
    known = recent.sort_values("date").groupby("site").tail(1)[["site", "site_nom", "site_type"]]
    if not sites:
        return known.sort_values("site", ignore_index=True)
    everything = data.sort_values("date").groupby("site").tail(1)[["site", "site_nom", "site_type"]]
    chosen = []
    for wanted in sites:
        w = _fold(wanted).strip()
        hit = everything[everything["site"].map(lambda s: _fold(s) == w)]
        if hit.empty:
            hit = everything[everything["site"].map(lambda s: w in _fold(s))]
        if hit.empty:
            examples = ", ".join(known["site"].head(5))
            raise CanteenDataError(f"Cantine inconnue : « {wanted} ».",
                                   hint=f"Utilisez un nom présent dans les données, par exemple : {examples}.")
        chosen.append(hit)
    return pd.concat(chosen).drop_duplicates("site").sort_values("site", ignore_index=True)


def forecast(model: CanteenModel, data: pd.DataFrame, cov: Covariates, start: pd.Timestamp,
             end: pd.Timestamp, *, target_short_rate: float, interval: float = 0.8,
             sites: list[str] | None = None) -> pd.DataFrame:
    """Point, interval and quantity to prepare per canteen and school day in [start, end]."""
    if end < start:
        raise CanteenDataError("La date de fin est avant la date de début.",
                               hint="Vérifiez --from et --to (format AAAA-MM-JJ).")
    if (end - start).days > 400:
        raise CanteenDataError("Période trop longue (plus d'un an).",
                               hint="Demandez une prévision sur quelques semaines au plus.")
    days = school_days(start, end, cov, data)
    # The margin of a canteen depends on the day's other canteens (see CanteenModel.quantities):
    # always compute the whole city, then keep the canteens asked for.
    who, wanted = active_sites(data, None), None
    if sites:
        asked = active_sites(data, sites)
        wanted = set(asked["site"])
        who = pd.concat([who, asked]).drop_duplicates("site", ignore_index=True)
    cols = ["date", "site", "site_nom", "site_type", "point", "low", "high", "quantity", "fallback"]
    if len(days) == 0 or who.empty:
        return pd.DataFrame(columns=cols)
    rows = who.merge(pd.DataFrame({"date": days}), how="cross")
    rows["prevision"], rows["reel"] = np.nan, np.nan
    pred = model.predict_point(rows, data, cov)
    calib = model.calib
    # Actuals imported after the training: their residuals are out of sample, use them too.
    after = data[data["date"] > pd.Timestamp(model.trained_until)] if model.trained_until else data.iloc[:0]
    after = after[after["reel"].gt(0)]
    if len(after):
        p_after = model.predict_point(after, data, cov)
        calib = pd.concat([calib, model.residuals(p_after, after["reel"].to_numpy(float))], ignore_index=True)
    res = model.quantities(pred, target_short_rate, calib, interval=interval)
    res = res.merge(with_keys(rows, cov)[["date", "site", "site_nom", "site_type"]], on=["date", "site"])
    if wanted:
        res = res[res["site"].isin(wanted)]
    return res[cols].sort_values(["date", "site"], ignore_index=True)
