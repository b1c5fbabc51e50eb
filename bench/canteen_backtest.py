"""Canteen backtest on the shared Nantes data: train on 2011–2015, forecast 2016 (rolling origin).

    .venv/bin/python bench/canteen_backtest.py [--horizon-days 7] [--max-short-rate 0.15] [--no-covariates-run]

Splits ../shared/data/canteen/frequentation_2011_2016.csv at 2015-12-31 (HIST = 2011–2015, ACT = 2016;
the 2015-2016 school year is cut in two, as the issue asks — enrolment and calendars are known in
advance, so nothing from 2016 leaks), runs the same code as `territoria canteen evaluate`, prints the
figures, and writes bench/results/canteen_backtest.json, canteen_tradeoff.csv and the PNG charts.
Data © Nantes Métropole (read at run time from ../shared, not copied into the repository).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TERRITORIA_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data" / "canteen"
RESULTS = REPO / "bench" / "results"
SOURCE = "Données © Nantes Métropole — test : entraînement 2011-2015, prévision 2016"


def split(folder: Path) -> tuple[Path, Path]:
    raw = pd.read_csv(DATA / "frequentation_2011_2016.csv", dtype=str, keep_default_na=False)
    dates = pd.to_datetime(raw["date"])
    hist, act = folder / "hist_2011_2015.csv", folder / "act_2016.csv"
    raw[dates <= "2015-12-31"].to_csv(hist, index=False)
    raw[dates >= "2016-01-01"].to_csv(act, index=False)
    return hist, act


def at_rate(curve: pd.DataFrame, rate: float) -> dict:
    """Model waste and shortage interpolated at a given share of short canteen-days."""
    c = curve.sort_values("short_rate")
    return {"short_rate": rate,
            "over_pct": round(float(np.interp(rate, c["short_rate"], c["over_pct"])), 3),
            "short_pct": round(float(np.interp(rate, c["short_rate"], c["short_pct"])), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--horizon-days", type=int, default=7)
    ap.add_argument("--max-short-rate", type=float, default=None, help="default: the tenant default setting")
    ap.add_argument("--no-covariates-run", action="store_true", help="skip the calendar+lags-only run")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"Données introuvables : {DATA} (définissez TERRITORIA_SHARED).")

    from territoria.canteen.backtest import run_backtest
    from territoria.canteen.io import read_attendance, read_covariates
    from territoria.canteen.plots import write_evaluation_plots
    from territoria.canteen.store import DEFAULT_MAX_SHORT_RATE

    rate = args.max_short_rate if args.max_short_rate is not None else DEFAULT_MAX_SHORT_RATE
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        hist_f, act_f = split(Path(tmp))
        variants = [("covariates", DATA)] + ([] if args.no_covariates_run else [("no_covariates", None)])
        for name, cov_dir in variants:
            t0 = time.perf_counter()
            hist, act = read_attendance(hist_f), read_attendance(act_f)
            cov = read_covariates(cov_dir)
            res = run_backtest(hist, act, cov, horizon=args.horizon_days, target_short_rate=rate,
                               progress=lambda m, n=name: print(f"[{n}] {m}", flush=True))
            wall = time.perf_counter() - t0
            s = res.summary
            s["seconds"]["wall_with_io"] = round(wall, 1)
            staff = s["staff"]
            s["at_staff_short_rate"] = at_rate(res.tradeoff, staff["short_rate"])
            s["tradeoff"] = res.tradeoff.to_dict(orient="records")
            runs[name] = s
            if name == "covariates":
                res.tradeoff.to_csv(RESULTS / "canteen_tradeoff.csv", index=False)
                write_evaluation_plots(res, RESULTS, prefix="canteen_", source=SOURCE)
    main_run = runs["covariates"]
    report = {
        "split": {"history": "2011-01-03..2015-12-31", "actuals": "2016-01-04..2016-12-16"},
        "horizon_days": args.horizon_days,
        "target_short_rate": rate,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        **{k: main_run[k] for k in ("n", "model", "staff", "baselines")},
        "runs": runs,
    }
    (RESULTS / "canteen_backtest.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")

    print()
    print(f"2016, horizon {args.horizon_days} j, {main_run['n']} jours-cantine, taux de manque visé {rate:.0%}")
    print(f"{'':28s}{'mae':>8s}{'over_pct':>10s}{'short_pct':>11s}{'short_rate':>12s}")
    for name, s in runs.items():
        rows = [(f"model ({name})", s["model"])]
        if name == "covariates":
            rows += [("staff", s["staff"])] + [(f"baseline {k}", v) for k, v in s["baselines"].items()]
        for label, b in rows:
            print(f"{label:28s}{b['mae']:8.2f}{b['over_pct']:10.2f}{b['short_pct']:11.2f}{b['short_rate']:12.4f}")
    a = main_run["at_staff_short_rate"]
    st = main_run["staff"]
    print(f"\nAt the staff's short rate ({st['short_rate']:.3f}): model over_pct {a['over_pct']:.2f} vs staff "
          f"{st['over_pct']:.2f} ({(a['over_pct'] / st['over_pct'] - 1) * 100:+.0f} %), short_pct {a['short_pct']:.2f} "
          f"vs {st['short_pct']:.2f}")
    print("Trade-off curve (model):")
    print(pd.DataFrame(main_run["tradeoff"]).to_string(index=False))
    for name, s in runs.items():
        print(f"Time [{name}]: training {s['seconds']['train']:.0f} s, training + backtest {s['seconds']['total']:.0f} s "
              f"(with file reading {s['seconds']['wall_with_io']:.0f} s)")
    print(f"Written: {RESULTS / 'canteen_backtest.json'} and PNG charts in {RESULTS}")


if __name__ == "__main__":
    main()
