"""Features for day-ahead (horizon h) meal forecasts.

Every feature of a row (series s, day D) uses only
* things known in advance: calendar, holidays, strikes, menus, enrolment (covariates), and
* actual meals of s dated **up to D − h** (the *cutoff*).

That rule is enforced here, in one place (`lag_features`), so training, backtest and forecast share
it. The target is modelled as a ratio to the series' recent level, which lets one model serve small
and large canteens and makes the forecast of an unknown canteen a matter of guessing its level.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

import numpy as np
import pandas as pd

from territoria.canteen.io import Covariates

# --------------------------------------------------------------------------- series keys

_TYPE_SUFFIX = re.compile(r"(\s+(M/E|M\.?|E\.?))+$")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return text.upper()


def history_key(site: str, site_nom: str, site_type: str, site_map: dict) -> str:
    """Key under which a series' history is pooled.

    Canteens get renamed in the source ("MARSAUDERIES" → "MARSAUDERIES E", "CHENE DARON" →
    "CHENE D'ARON"): in the Nantes format we go through the mapping file when given, then fold
    accents, punctuation and a trailing type marker, and keep the series type (M, E, M/E) apart.
    A generic site name is used as is.
    """
    if not site_type:
        return site
    name = site_map.get(site, None)
    name = name.rsplit(" (", 1)[0] if name else site_nom
    name = _TYPE_SUFFIX.sub("", _fold(name).strip())
    name = re.sub(r"[^A-Z0-9]", "", name)
    return f"{name}|{site_type}"


# --------------------------------------------------------------------------- calendar


def french_public_holidays(years) -> set:
    """Metropolitan French public holidays (used when no jours_feries.csv is given)."""
    out = set()
    for y in years:
        # Anonymous Gregorian algorithm for Easter Sunday.
        a, b, c = y % 19, y // 100, y % 100
        d, e = b // 4, b % 4
        f = (b + 8) // 25
        g = (b - f + 1) // 3
        h = (19 * a + b - d - g + 15) % 30
        i, k = c // 4, c % 4
        l_ = (32 + 2 * e + 2 * i - h - k) % 7
        m = (a + 11 * h + 22 * l_) // 451
        month = (h + l_ - 7 * m + 114) // 31
        day = (h + l_ - 7 * m + 114) % 31 + 1
        easter = date(y, month, day)
        days = [date(y, 1, 1), easter + timedelta(1), date(y, 5, 1), date(y, 5, 8),
                easter + timedelta(39), easter + timedelta(50), date(y, 7, 14), date(y, 8, 15),
                date(y, 11, 1), date(y, 11, 11), date(y, 12, 25)]
        out.update(pd.Timestamp(x) for x in days)
    return out


def calendar_features(dates: pd.Series, cov: Covariates) -> pd.DataFrame:
    """One row per unique date: weekday, season, holidays around, strikes, feasts, menus."""
    days = pd.DatetimeIndex(sorted(pd.unique(pd.to_datetime(dates))))
    out = pd.DataFrame(index=days)
    out.index.name = "date"
    if len(days) == 0:
        return out
    out["dow"] = days.day_of_week
    out["month"] = days.month
    out["doy"] = days.day_of_year
    # Day-off calendar over the covered span (+ margins) to measure breaks before/after each day.
    span = pd.date_range(days.min() - pd.Timedelta(days=120), days.max() + pd.Timedelta(days=120))
    years = range(span.min().year, span.max().year + 1)
    public = cov.public_holidays or french_public_holidays(years)
    off = pd.Series(span.day_of_week >= 5, index=span)
    off |= span.isin(list(public))
    in_holiday = pd.Series(False, index=span)
    for start, end in cov.holidays:
        in_holiday |= (span >= start) & (span <= end)
    for i in range(len(cov.school_years) - 1):  # summer break between two school years
        end, nxt = cov.school_years[i][1], cov.school_years[i + 1][0]
        in_holiday |= (span > end) & (span < nxt)
    off |= in_holiday.values
    offv = off.values
    # consecutive days off just before / just after each day
    run_before = np.zeros(len(span), int)
    run_after = np.zeros(len(span), int)
    for i in range(1, len(span)):
        run_before[i] = run_before[i - 1] + 1 if offv[i - 1] else 0
    for i in range(len(span) - 2, -1, -1):
        run_after[i] = run_after[i + 1] + 1 if offv[i + 1] else 0
    pos = span.get_indexer(days)
    out["off_before"] = np.minimum(run_before[pos], 20)
    out["off_after"] = np.minimum(run_after[pos], 20)
    out["off_nearby"] = [
        int(any(offv[max(p - 3, 0):p + 4] & ~(span[max(p - 3, 0):p + 4].day_of_week >= 5)))
        for p in pos
    ]
    if cov.holidays or cov.school_years:
        starts = sorted({s for s, _ in cov.holidays} | {e + pd.Timedelta(days=1) for _, e in cov.school_years})
        ends = sorted({e for _, e in cov.holidays} | {s - pd.Timedelta(days=1) for s, _ in cov.school_years})
        starts_a = np.array(starts, dtype="datetime64[ns]")
        ends_a = np.array(ends, dtype="datetime64[ns]")
        dv = days.values
        i = np.searchsorted(starts_a, dv, side="left")
        nxt = np.where(i < len(starts_a), (starts_a[np.minimum(i, len(starts_a) - 1)] - dv)
                       / np.timedelta64(1, "D"), np.nan)
        j = np.searchsorted(ends_a, dv, side="right") - 1
        prv = np.where(j >= 0, (dv - ends_a[np.maximum(j, 0)]) / np.timedelta64(1, "D"), np.nan)
        out["days_to_break"] = np.minimum(nxt, 60)
        out["days_since_break"] = np.minimum(prv, 60)
    if cov.school_years:
        starts_a = np.array(sorted(s for s, _ in cov.school_years), dtype="datetime64[ns]")
        j = np.searchsorted(starts_a, days.values, side="right") - 1
        week = np.where(j >= 0, (days.values - starts_a[np.maximum(j, 0)]) / np.timedelta64(7, "D"), np.nan)
        out["school_week"] = np.where((week >= 0) & (week < 53), week, np.nan)
    else:
        out["school_week"] = ((days.day_of_year - 244) % 365) / 7.0
    strikes = cov.strikes
    out["strike"] = days.isin(list(strikes)).astype(int)
    near = {d + pd.Timedelta(days=k) for d in strikes for k in (-1, 1)}
    out["strike_near"] = days.isin(list(near)).astype(int)
    if cov.feasts is not None:
        fe = cov.feasts.set_index("date")
        out = out.join(fe, how="left")
        for c in fe.columns:
            out[c] = out[c].fillna(0.0)
    if cov.menus is not None:
        out = out.join(menu_features(cov.menus), how="left")
    return out


# --------------------------------------------------------------------------- menus

_MENU_FLAGS = {
    "menu_pork": r"\b(porc|jambon|saucisse|saucisson|lardon|knack|chipolata|rillette|cervelas|"
                 r"chorizo|merguez de porc|andouill|tartiflette|croziflette|choucroute|cordon)",
    "menu_beef": r"\b(boeuf|bœuf|steak|hache|bolognaise|hachis|chili con|burger|boulette|bourguignon|"
                 r"lasagne|moussaka|veau|agneau|navarin)",
    "menu_poultry": r"\b(poulet|dinde|volaille|pilon|nugget|canard|cuisse|aiguillette|escalope)",
    "menu_fish": r"\b(poisson|colin|cabillaud|saumon|thon|merlu|hoki|lieu|limande|poissonnette|"
                 r"surimi|crevette|moule|calamar|sardine|maquereau|brandade|fish)",
    "menu_veggie": r"(vegetarien|végétarien|omelette|\boeuf|\bœuf dur|oeufs|œufs|tofu|soja|falafel|"
                   r"galette de legumes|galette de légumes|lentille|pois chiche|quiche|crepe au fromage|"
                   r"crêpe au fromage|tarte au fromage|pizza au fromage|gratin de pates|macaroni)",
    "menu_favourite": r"\b(frite|pizza|nugget|burger|hamburger|cordon bleu|lasagne|couscous|"
                      r"spaghetti|bolognaise|hachis|tartiflette|croziflette|raclette|pommes noisettes|"
                      r"pâtes|pates|poisson pané|poisson pane|crêpe|crepe|glace|chocolat|frites)",
    "menu_disliked": r"\b(epinard|épinard|choux|chou |brocoli|poireau|endive|celeri|céleri|blette|"
                     r"salsifi|navet|betterave|lentille|foie|boudin|langue|tripe|rognon)",
    "menu_special": r"(repas de noel|repas de noël|menu de fete|menu de fête|menu a theme|menu à thème|"
                    r"semaine du gout|semaine du goût|barbecue|pique-nique|pique nique|galette des rois|"
                    r"buche|bûche|fête|fete)",
    "menu_backup": r"(depannage|dépannage)",
    "menu_organic": r"\bbio\b",
}


def menu_features(menus: pd.DataFrame) -> pd.DataFrame:
    """Day-level menu flags from dish names (one menu per day for all canteens)."""
    m = menus.copy()
    m["plat"] = m["plat"].astype(str).str.lower()
    m = m[m["plat"].str.strip().ne("-") & m["plat"].str.strip().ne("")]
    rows = {"menu_dishes": m.groupby("date").size()}
    for name, pattern in _MENU_FLAGS.items():
        pattern = pattern.replace("(", "(?:")  # non-capturing groups
        rows[name] = m["plat"].str.contains(pattern, regex=True).groupby(m["date"]).sum()
    out = pd.DataFrame(rows).fillna(0).astype(float)
    out["menu_meat"] = ((out["menu_pork"] + out["menu_beef"] + out["menu_poultry"]) > 0).astype(float)
    out["menu_no_meat_fish"] = ((out["menu_meat"] == 0) & (out["menu_fish"] == 0)).astype(float)
    out.index.name = "date"
    return out


# --------------------------------------------------------------------------- recent attendance

LAG_COLUMNS = ["lvl_med10", "lvl_mean5", "lvl_med20", "last_val", "stale_days",
               "wd_mean4", "wd_last", "wd_n", "ly_season", "n_hist", "yr_ratio", "cv20",
               "lvl_med3", "lvl_ewm", "lvl_mean48", "wd_mean12", "wd_ratio12"]


def _window_stat(values: np.ndarray, idx: np.ndarray, k: int, how: str) -> np.ndarray:
    """Statistic of the k values before position idx (exclusive) for every idx; NaN if none."""
    s = pd.Series(values)
    roll = s.rolling(k, min_periods=1)
    stat = (roll.median() if how == "median" else roll.mean()).to_numpy()
    out = np.full(len(idx), np.nan)
    ok = idx > 0
    out[ok] = stat[idx[ok] - 1]
    return out


def lag_features(obs: pd.DataFrame, queries: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Recent-attendance features of each query (hkey, date) from observations dated ≤ date − horizon.

    obs: columns hkey, date, reel — valid observations only (reel > 0, not strike days).
    queries: columns hkey, date. Returns a frame aligned with queries (same index).
    """
    out = pd.DataFrame(np.nan, index=queries.index, columns=LAG_COLUMNS)
    if len(queries) == 0:
        return out
    h = np.timedelta64(int(horizon), "D")
    obs = obs.sort_values(["hkey", "date"])
    groups = {k: g for k, g in obs.groupby("hkey", sort=False)}
    for key, q in queries.groupby("hkey", sort=False):
        g = groups.get(key)
        if g is None or len(g) == 0:
            continue
        t = g["date"].to_numpy(dtype="datetime64[ns]")
        v = g["reel"].to_numpy(dtype=float)
        qd = q["date"].to_numpy(dtype="datetime64[ns]")
        cut = qd - h
        idx = np.searchsorted(t, cut, side="right")  # number of obs dated <= cutoff
        res = {
            "lvl_med10": _window_stat(v, idx, 10, "median"),
            "lvl_mean5": _window_stat(v, idx, 5, "mean"),
            "lvl_med20": _window_stat(v, idx, 20, "median"),
            "n_hist": idx.astype(float),
            "lvl_med3": _window_stat(v, idx, 3, "median"),
            "lvl_mean48": _window_stat(v, idx, 48, "mean"),
        }
        ewm = pd.Series(v).ewm(halflife=8).mean().to_numpy()
        res["lvl_ewm"] = np.where(idx > 0, ewm[np.maximum(idx - 1, 0)], np.nan)
        sd = pd.Series(v).rolling(20, min_periods=3).std().to_numpy()
        res["cv20"] = np.where(idx > 0, sd[np.maximum(idx - 1, 0)], np.nan) / res["lvl_med20"]
        ok = idx > 0
        last = np.full(len(q), np.nan)
        last[ok] = v[idx[ok] - 1]
        stale = np.full(len(q), np.nan)
        stale[ok] = (qd[ok] - t[idx[ok] - 1]) / np.timedelta64(1, "D")
        res["last_val"], res["stale_days"] = last, stale
        # same weekday, last 4 occurrences
        wd_mean = np.full(len(q), np.nan)
        wd_last = np.full(len(q), np.nan)
        wd_n = np.zeros(len(q))
        wd_mean12 = np.full(len(q), np.nan)
        tdow = pd.DatetimeIndex(t).day_of_week.to_numpy()
        qdow = pd.DatetimeIndex(qd).day_of_week.to_numpy()
        for d in np.unique(qdow):
            sel = tdow == d
            if not sel.any():
                continue
            td, vd = t[sel], v[sel]
            qs = qdow == d
            j = np.searchsorted(td, cut[qs], side="right")
            wd_mean[qs] = _window_stat(vd, j, 4, "mean")
            wd_mean12[qs] = _window_stat(vd, j, 12, "mean")
            jj = np.where(j > 0, j - 1, 0)
            wd_last[qs] = np.where(j > 0, vd[jj], np.nan)
            wd_n[qs] = np.minimum(j, 4)
        res["wd_mean4"], res["wd_last"], res["wd_n"] = wd_mean, wd_last, wd_n
        # the site's long-run weekday profile: same weekday over 12 weeks vs. all days over ~12 weeks
        res["wd_mean12"] = wd_mean12
        res["wd_ratio12"] = wd_mean12 / res["lvl_mean48"]
        # same period one year before (± 2 weeks), relative to the level at that time
        csum = np.concatenate([[0.0], np.cumsum(v)])
        lo = np.searchsorted(t, qd - np.timedelta64(378, "D"), side="left")
        hi = np.searchsorted(t, np.minimum(qd - np.timedelta64(350, "D"), cut), side="right")
        cnt = hi - lo
        ly = np.where(cnt > 0, (csum[hi] - csum[lo]) / np.maximum(cnt, 1), np.nan)
        # level just before that window: the period's seasonal ratio, and the yearly change
        lvl_then = _window_stat(v, lo, 20, "median")
        res["ly_season"] = ly / lvl_then
        res["yr_ratio"] = res["lvl_med20"] / lvl_then
        out.loc[q.index, list(res)] = np.column_stack([res[c] for c in res])
    return out
