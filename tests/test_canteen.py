"""Canteen meal forecasting: import, training, forecast, backtest contract, no leakage, bad input.

Real data: the shared Nantes folder (read at run time) and a small committed slice in the generic
format (tests/fixtures/canteen, données © Nantes Métropole).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from territoria.canteen.backtest import run_backtest, scores
from territoria.canteen.features import history_key
from territoria.canteen.io import CanteenDataError, read_attendance, read_covariates
from territoria.canteen.model import CanteenModel

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "canteen"
GENERIC = FIXTURES / "generic"
SITES = ["AGENETS", "AMPERE", "ANGE GUEPIN", "BARBERIE", "BATIGNOLLES", "COUDRAY M.", "FONTENY",
         "JULIEN GRACQ", "LINOT", "MOLIERE"]
KEYS = {"mae", "over_pct", "short_pct", "short_rate"}
runner = CliRunner()


def _cli(*args):
    from territoria.cli import app

    return runner.invoke(app, ["canteen", *map(str, args)])


# --------------------------------------------------------------------------- shared-data slices


@pytest.fixture(scope="module")
def canteen_dir(shared_dir) -> Path:
    return shared_dir / "data" / "canteen"


@pytest.fixture(scope="module")
def slices(canteen_dir, tmp_path_factory):
    """HIST = 2014–2015, ACT = first half of 2016, ten canteens, Nantes format (raw text kept)."""
    raw = pd.read_csv(canteen_dir / "frequentation_2011_2016.csv", dtype=str, keep_default_na=False)
    raw = raw[raw["site_nom"].isin(SITES)]
    d = pd.to_datetime(raw["date"])
    folder = tmp_path_factory.mktemp("slices")
    hist, act = folder / "hist.csv", folder / "act.csv"
    raw[(d >= "2014-01-01") & (d <= "2015-12-31")].to_csv(hist, index=False)
    raw[(d >= "2016-01-01") & (d <= "2016-06-30")].to_csv(act, index=False)
    return hist, act


@pytest.fixture(scope="module")
def fitted(slices, canteen_dir):
    hist = read_attendance(slices[0])
    cov = read_covariates(canteen_dir)
    return CanteenModel(horizon=7).fit(hist, cov), hist, read_attendance(slices[1]), cov


# --------------------------------------------------------------------------- import


def test_import_shared_folder(data_dir, canteen_dir):
    res = _cli("import", canteen_dir)
    assert res.exit_code == 0, res.output
    assert "71473 lignes lues" in res.output
    stored = pd.read_csv(data_dir / "canteen" / "default" / "attendance.csv")
    assert len(stored) == 71473 and stored.groupby(["site"]).ngroups == 120
    assert set(stored.columns) >= {"date", "site", "site_nom", "site_type", "prevision", "reel"}
    assert (data_dir / "canteen" / "default" / "covariates" / "menus.csv").is_file()
    cov = read_covariates(data_dir / "canteen" / "default" / "covariates")
    assert len(cov.strikes) > 100 and cov.menus is not None and cov.enrolment is not None
    # importing again merges: same rows, nothing duplicated
    assert _cli("import", canteen_dir).exit_code == 0
    assert len(pd.read_csv(data_dir / "canteen" / "default" / "attendance.csv")) == 71473


def test_bad_input_clear_french_error_and_nothing_lost(data_dir, tmp_path):
    assert _cli("import", GENERIC).exit_code == 0
    stored = data_dir / "canteen" / "default" / "attendance.csv"
    before = stored.read_bytes()

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "frequentation.csv").write_text("date,site,prevision\n2016-01-04,X,10\n", encoding="utf-8")
    res = _cli("import", bad)
    assert res.exit_code == 1
    assert "Colonnes manquantes" in res.output and "reel" in res.output and "À faire" in res.output
    assert stored.read_bytes() == before

    (bad / "frequentation.csv").write_text("date,site,reel\n04/13/2016x,X,10\n", encoding="utf-8")
    res = _cli("import", bad)
    assert res.exit_code == 1 and "Dates illisibles" in res.output and "AAAA-MM-JJ" in res.output
    (bad / "frequentation.csv").write_text("date,site,reel\n2016-01-04,X,dix\n", encoding="utf-8")
    res = _cli("import", bad)
    assert res.exit_code == 1 and "non numériques" in res.output
    # a broken covariate file also stops the import before anything is written
    (bad / "frequentation.csv").write_text("date,site,reel\n2016-01-04,X,10\n", encoding="utf-8")
    (bad / "greves.csv").write_text("jour\n2016-01-04\n", encoding="utf-8")
    res = _cli("import", bad)
    assert res.exit_code == 1 and "greves.csv" in res.output
    assert stored.read_bytes() == before
    assert _cli("import", tmp_path / "nowhere").exit_code == 1

    with pytest.raises(CanteenDataError, match="Colonnes manquantes"):
        read_attendance(bad / "greves.csv")


def test_french_dates_and_windows_encoding_in_csv(tmp_path):
    """A spreadsheet export: cp1252, semicolons, JJ/MM/AAAA — read day first, never as month/day."""
    f = tmp_path / "repas.csv"
    f.write_bytes("date;site;prevision;reel\n05/09/2016;École Gambetta;100;95\n13.09.2016;École Gambetta;100;97\n"
                  .encode("cp1252"))
    df = read_attendance(f)
    assert [str(d.date()) for d in df["date"]] == ["2016-09-05", "2016-09-13"]
    assert set(df["site"]) == {"École Gambetta"}
    f.write_text("date,site,reel\n04/13/2016,X,10\n", encoding="utf-8")  # American month/day
    with pytest.raises(CanteenDataError, match="Dates illisibles"):
        read_attendance(f)


def test_cli_dates_usage_errors_and_broken_state(data_dir):
    from territoria.canteen import store

    for args, text in ((("--from", "", "--to", "2016-09-06"), "illisible"),
                       (("--from", "2016-02-30", "--to", "2016-03-02"), "illisible"),
                       (("--from", "2016-09-10", "--to", "2016-09-06"), "avant la date de début"),
                       (("--from", "2016-09-01", "--to", "2019-09-01"), "trop longue")):
        res = _cli("forecast", *args)
        assert res.exit_code == 2 and text in res.output and "À faire" in res.output, res.output
    assert _cli("report", "--out", data_dir / "x.html", "--date", "demain").exit_code == 2

    folder = data_dir / "canteen" / "default"
    (folder / "model").mkdir(parents=True)
    (folder / "settings.json").write_text('{"max_short_rate": 0.1,', encoding="utf-8")
    res = _cli("settings")
    assert res.exit_code == 1 and "Réglages illisibles" in res.output and "supprimez" in res.output
    (folder / "model" / "model.json").write_text("{}", encoding="utf-8")
    with pytest.raises(CanteenDataError, match="territoria canteen train"):
        store.load_model()


def test_settings_out_of_range_is_usage_error_and_nothing_stored(data_dir):
    """A setting outside its range: usage error (exit 2), the option and the range named, nothing stored."""
    assert _cli("settings", "--max-short-rate", "0.1", "--horizon-days", "5").exit_code == 0
    stored = data_dir / "canteen" / "default" / "settings.json"
    before = stored.read_bytes()
    for args, option, expected in (
            (("--max-short-rate", "0.9"), "--max-short-rate", "entre 0.005 et 0.5"),
            (("--max-short-rate", "-0.1"), "--max-short-rate", "entre 0.005 et 0.5"),
            (("--max-short-rate", "nan"), "--max-short-rate", "entre 0.005 et 0.5"),
            (("--interval", "1.2"), "--interval", "entre 0.5 et 0.99"),
            (("--interval", "0"), "--interval", "entre 0.5 et 0.99"),
            (("--horizon-days", "0"), "--horizon-days", "entre 1 et 60"),
            (("--horizon-days", "-3"), "--horizon-days", "entre 1 et 60"),
            # one good value and one bad one: neither is stored
            (("--max-short-rate", "0.05", "--interval", "80"), "--interval", "0.8 pour 80 %")):
        res = _cli("settings", *args)
        assert res.exit_code == 2, (args, res.output)
        text = " ".join(res.output.split())
        assert "invalide" in text and option in text and expected in text and "À faire" in text, (args, text)
        assert "Aucun réglage n'a été modifié" in text and "Traceback" not in text
        assert stored.read_bytes() == before
    assert json.loads(_cli("settings", "--json").stdout) == {"max_short_rate": 0.1, "horizon_days": 5,
                                                             "interval": 0.8}
    # evaluate's own trade-off options follow the same rule (checked before any file is read)
    res = _cli("evaluate", "--history", "x.csv", "--actuals", "y.csv", "--max-short-rate", "1.5")
    assert res.exit_code == 2 and "--max-short-rate" in res.output
    res = _cli("evaluate", "--history", "x.csv", "--actuals", "y.csv", "--horizon-days", "0")
    assert res.exit_code == 2 and "--horizon-days" in res.output


def test_empty_and_one_column_csv_files(data_dir, tmp_path):
    """An empty file is a French error (not a csv traceback); a documented one-column file (greves.csv with
    only « date ») is read as one column, not split on a letter of its header."""
    empty = tmp_path / "vide.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(CanteenDataError, match="vide"):
        read_attendance(empty)
    res = _cli("import", empty)
    assert res.exit_code == 1 and "est vide" in res.output and "Traceback" not in res.output

    folder = tmp_path / "cantine"
    folder.mkdir()
    (folder / "frequentation.csv").write_text("date,site,reel\n2016-01-04,A,10\n2016-01-05,A,12\n",
                                              encoding="utf-8")
    (folder / "greves.csv").write_text("date\n2016-01-05\n05/01/2016\n2016-03-08\n", encoding="utf-8")
    cov = read_covariates(folder)
    assert cov.strikes == {pd.Timestamp("2016-01-05"), pd.Timestamp("2016-03-08")}
    res = _cli("import", folder)
    assert res.exit_code == 0, res.output


def test_reversed_periods_and_negative_enrolment_are_refused(data_dir, tmp_path):
    folder = tmp_path / "cantine"
    folder.mkdir()
    (folder / "frequentation.csv").write_text("date,site,reel\n2016-01-04,A,10\n", encoding="utf-8")
    assert _cli("import", folder).exit_code == 0
    stored = data_dir / "canteen" / "default" / "attendance.csv"
    before = stored.read_bytes()
    (folder / "vacances.csv").write_text("date_debut,date_fin\n2016-02-06,2016-02-21\n2016-04-23,2016-04-09\n",
                                         encoding="utf-8")
    res = _cli("import", folder)
    text = " ".join(res.output.split())
    assert res.exit_code == 1 and "vacances.csv" in text and "date_fin avant date_debut" in text, text
    assert "2016-04-23" in text and stored.read_bytes() == before
    (folder / "vacances.csv").unlink()
    (folder / "effectifs.csv").write_text("site,date_debut,effectif\nA,2016-01-01,-5\n", encoding="utf-8")
    res = _cli("import", folder)
    text = " ".join(res.output.split())
    assert res.exit_code == 1 and "effectifs.csv" in text and "« -5 »" in text and "d'élèves" in text, text
    assert "repas" not in text and stored.read_bytes() == before


def test_duplicate_canteen_days_are_reported(data_dir, tmp_path):
    """Two lines for the same canteen and day: the last one is kept, and the import says so (with an
    example when the meal counts differ) instead of dropping a line silently."""
    f = tmp_path / "repas.csv"
    f.write_text("date;site;reel\n2016-01-04;A;10\n2016-01-04;A;200\n2016-01-05;A;11\n2016-01-05;A;11\n"
                 "2016-01-05;B;30\n", encoding="utf-8")
    df = read_attendance(f)
    assert len(df) == 3 and df.loc[(df["site"] == "A") & (df["date"] == "2016-01-04"), "reel"].item() == 200
    assert df.attrs["rows_read"] == 5 and len(df.attrs["notes"]) == 1
    res = _cli("import", f)
    text = " ".join(res.output.split())
    assert res.exit_code == 0, text
    assert "5 lignes lues" in text and "3 jours-cantine enregistrés" in text
    assert "2 ligne(s) en double" in text and "« A » le 2016-01-04" in text and "10 puis 200" in text, text
    clean = tmp_path / "propre.csv"
    clean.write_text("date;site;reel\n2016-01-04;A;10\n2016-01-05;A;11\n", encoding="utf-8")
    assert read_attendance(clean).attrs["notes"] == []
    res = _cli("import", clean)
    assert res.exit_code == 0 and "en double" not in res.output


# --------------------------------------------------------------------------- generic format, end to end


def test_generic_train_forecast_settings_report(data_dir, tmp_path):
    assert _cli("import", GENERIC).exit_code == 0
    res = _cli("train")
    assert res.exit_code == 0, res.output
    assert "Modèle entraîné" in res.output

    res = _cli("forecast", "--from", "2016-09-01", "--to", "2016-09-09", "--json")
    assert res.exit_code == 0, res.output
    fc = json.loads(res.stdout)["forecasts"]
    assert {f["site"] for f in fc} == {"AGENETS (M/E)", "COUDRAY M. (M)", "ANGE GUEPIN (E)", "LINOT (M/E)"}
    # Mon/Tue/Thu/Fri only (this history has no Wednesday lunches)
    assert sorted({f["date"] for f in fc}) == ["2016-09-01", "2016-09-02", "2016-09-05", "2016-09-06",
                                             "2016-09-08", "2016-09-09"]
    for f in fc:
        assert f["low"] <= f["point"] <= f["high"] and isinstance(f["quantity"], int) and f["quantity"] >= f["point"] - 1

    one = _cli("forecast", "--from", "2016-09-05", "--to", "2016-09-05", "--site", "agenets", "--json")
    q_one = json.loads(one.stdout)["forecasts"]
    assert len(q_one) == 1 and q_one[0]["quantity"] == next(
        f["quantity"] for f in fc if f["date"] == "2016-09-05" and f["site"] == "AGENETS (M/E)")
    assert _cli("forecast", "--from", "2016-09-05", "--to", "2016-09-05", "--site", "Nulle part").exit_code == 1

    # the trade-off setting: a stricter shortage target prepares more meals
    assert _cli("settings", "--max-short-rate", "0.02").exit_code == 0
    strict = json.loads(_cli("forecast", "--from", "2016-09-01", "--to", "2016-09-09", "--json").stdout)
    assert strict["target_short_rate"] == 0.02
    assert sum(f["quantity"] for f in strict["forecasts"]) > sum(f["quantity"] for f in fc)
    res = _cli("settings", "--max-short-rate", "0.9")
    assert res.exit_code == 2 and "invalide" in res.output  # a usage error (see test_settings_out_of_range…)
    assert json.loads(_cli("settings", "--json").stdout)["max_short_rate"] == 0.02

    # JJ/MM/AAAA is read day first (5 September, not 9 May); --out creates its folder
    csv_out = tmp_path / "nouveau" / "previsions.csv"
    res = _cli("forecast", "--from", "05/09/2016", "--to", "06/09/2016", "--out", csv_out)
    assert res.exit_code == 0, res.output
    lines = csv_out.read_text(encoding="utf-8").splitlines()
    assert "a_preparer" in lines[0] and {ln[:10] for ln in lines[1:]} == {"2016-09-05", "2016-09-06"}
    table = pd.read_csv(csv_out, sep=";", decimal=",", dtype=str)
    assert table["a_preparer"].str.fullmatch(r"\d+").all() and set(table["sans_historique"]) <= {"oui", "non"}

    page = tmp_path / "cuisine.html"
    res = _cli("report", "--out", page, "--date", "2016-09-04")
    assert res.exit_code == 0, res.output
    text = page.read_text(encoding="utf-8")
    assert "Repas à préparer" in text and "lundi 05/09/2016" in text and "<img" in text and "AGENETS" in text


# --------------------------------------------------------------------------- backtest contract


def test_evaluate_json_contract_on_slice(data_dir, slices, canteen_dir, tmp_path):
    hist, act = slices
    res = _cli("evaluate", "--history", hist, "--actuals", act, "--covariates", canteen_dir,
               "--horizon-days", 7, "--json", "--plots", tmp_path / "plots")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out) >= {"n", "model", "staff", "baselines"}
    assert KEYS <= set(out["model"]) and KEYS <= set(out["staff"])
    assert out["baselines"] and all(KEYS <= set(b) for b in out["baselines"].values())
    raw = pd.read_csv(act)
    assert out["n"] == int((pd.to_numeric(raw["reel"], errors="coerce") > 0).sum())  # empty/zero reel left out
    assert out["model"]["mae"] < out["staff"]["mae"]
    for name in ("canteen_tradeoff.png", "canteen_forecast_vs_actual.png", "canteen_error_by_period.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 5000


def test_no_leakage_forecast_for_day_d_ignores_later_actuals(fitted):
    """Altering actuals dated after D − horizon leaves D's forecast unchanged; before, it changes."""
    model, hist, act, cov = fitted
    day = pd.Timestamp("2016-03-10")
    cutoff = day - pd.Timedelta(days=7)
    base = run_backtest(hist, act, cov, horizon=7, model=model).rows
    rng = np.random.default_rng(0)

    def altered(mask):
        a = act.copy()
        a.loc[mask, "reel"] = a.loc[mask, "reel"] * rng.uniform(0.2, 3.0, int(mask.sum()))
        a.loc[mask, "prevision"] = 0.0  # the staff forecast is never an input either
        return run_backtest(hist, a, cov, horizon=7, model=model).rows

    later = altered((act["date"] > cutoff).to_numpy())
    cols = ["point", "low", "high", "quantity"]
    at_d = base["date"] <= day
    pd.testing.assert_frame_equal(base.loc[at_d, cols], later.loc[at_d, cols])
    assert not np.allclose(base.loc[~at_d & (base["date"] > day + pd.Timedelta(days=7)), "point"],
                           later.loc[~at_d & (later["date"] > day + pd.Timedelta(days=7)), "point"])
    earlier = altered(((act["date"] > cutoff - pd.Timedelta(days=21)) & (act["date"] <= cutoff)).to_numpy())
    assert not np.allclose(base.loc[base["date"] == day, "point"], earlier.loc[earlier["date"] == day, "point"])


def test_unknown_site_and_no_covariates(fitted, slices):
    model, hist, act, cov = fitted
    new = act[act["site"] == act["site"].iloc[0]].copy()
    new["site"], new["site_nom"] = "NOUVELLE CANTINE (M/E)", "NOUVELLE CANTINE"
    act2 = pd.concat([act, new], ignore_index=True)
    res = run_backtest(hist, act2, cov, horizon=7, model=model)
    rows = res.rows[res.rows["site"] == "NOUVELLE CANTINE (M/E)"].sort_values("date")
    assert rows["point"].notna().all() and (rows["quantity"] > 0).all()
    # no history at first (level guessed, wide margin), then its own revealed actuals take over
    assert rows["fallback"].iloc[0] and not rows["fallback"].iloc[-1]
    first = rows.iloc[0]
    assert first["high"] - first["low"] > 0.2 * first["point"]

    # calendar + lags only (no covariate folder)
    bare = run_backtest(hist, act, read_covariates(None), horizon=7)
    assert bare.summary["n"] == res.summary["n"] - int((new["reel"] > 0).sum())
    assert bare.summary["model"]["mae"] < bare.summary["staff"]["mae"]


def test_quantity_meets_shortage_target(fitted):
    model, hist, act, cov = fitted
    res = run_backtest(hist, act, cov, horizon=7, model=model, target_short_rate=0.1)
    rate = res.summary["model"]["short_rate"]
    assert 0.03 <= rate <= 0.17  # conformal: close to the 10 % asked, on ~1,000 canteen-days
    curve = res.tradeoff.sort_values("target")
    assert curve["over_pct"].is_monotonic_decreasing and curve["short_rate"].is_monotonic_increasing


# --------------------------------------------------------------------------- small units


def test_scores_definitions():
    reel = np.array([100, 50, 0, np.nan, 80])
    q = np.array([110, 45, 10, 5, 80])
    s = scores(reel, point=np.array([100, 50, 1, 1, 70]), q=q)
    assert s["n"] == 3  # zero and empty actuals left out
    assert s["over_pct"] == pytest.approx(10 / 230 * 100, abs=1e-3)
    assert s["short_pct"] == pytest.approx(5 / 230 * 100, abs=1e-3)
    assert s["short_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert s["mae"] == pytest.approx(10 / 3, abs=1e-3)


def test_history_key_links_renamed_canteens():
    m = {"MARSAUDERIES (E)": "MARSAUDERIES E (E)"}
    assert history_key("MARSAUDERIES (E)", "MARSAUDERIES", "E", m) == history_key(
        "MARSAUDERIES E (E)", "MARSAUDERIES E", "E", {})
    assert history_key("CHENE DARON (M)", "CHENE DARON", "M", {}) == history_key("CHENE D'ARON (M)", "CHENE D'ARON", "M", {})
    assert history_key("JEAN ZAY (M)", "JEAN ZAY", "M", {}) != history_key("JEAN ZAY (E)", "JEAN ZAY", "E", {})
    assert history_key("ECOLE X E", "ECOLE X E", "", {}) == "ECOLE X E"  # generic names kept as is


def test_lag_features_long_weekday_profile_and_cutoff():
    """The long weekday profile sees only values dated ≤ D − h; it measures the weekday's excess."""
    from territoria.canteen.features import LAG_COLUMNS, lag_features

    days = pd.bdate_range("2015-01-05", "2015-06-26")
    days = days[days.day_of_week != 2]  # no Wednesday school
    vals = np.where(days.day_of_week == 0, 120.0, 100.0)  # Mondays 20 % above the other days
    obs = pd.DataFrame({"hkey": "A", "date": days, "reel": vals})
    q = pd.DataFrame({"hkey": ["A"], "date": [pd.Timestamp("2015-06-22")]})  # a Monday
    base = lag_features(obs, q, 7)
    assert set(base.columns) == set(LAG_COLUMNS)
    assert base.loc[0, "wd_mean12"] == pytest.approx(120.0)
    assert base.loc[0, "wd_ratio12"] == pytest.approx(120.0 / 105.0, rel=0.02)
    later = obs.copy()
    later.loc[later["date"] > "2015-06-15", "reel"] = 1.0  # after the cutoff D − 7: must not matter
    pd.testing.assert_frame_equal(lag_features(later, q, 7), base)
    earlier = obs.copy()
    earlier.loc[earlier["date"] == "2015-06-15", "reel"] = 1.0  # on the cutoff: must matter
    assert not lag_features(earlier, q, 7).equals(base)
