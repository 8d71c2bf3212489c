"""Real data: UCI Bank Marketing (45,211 calls, May 2008 – Nov 2010) against two default baselines.

The generator cannot show what a real CRM export does to the tool, such as drift or columns filled in after the
outcome. This benchmark does. It uses two splits: (a) random, with no `created_at` configured, and (b) by time,
with the most recent 20% held out. For each split it runs the tool's training path, a default
`lightgbm.LGBMClassifier()` and one-hot logistic regression. The baselines are fitted on the same train+valid rows
the tool used, and all three are judged on the same holdout by won ROC-AUC and ECE. The benchmark also prints
whether the tool passes the promotion gate. Goals (issue #14), judged only where the gate promoted: won AUC >=
best baseline - tolerance, and ECE <= 0.02; and the leak check flags `duration` when it is left in. A refusal by
the gate is reported as a refusal, not as a goal met; the script exits 1 when a goal is missed. It also prints
each column's holdout AUC on its own, as the leak check computes it, and the won rate per fifth of the file in
time (drift).
Run: `python benchmarks/realdata.py`. Data, licence and how the time order is derived: benchmarks/data/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from bench import run_info

from leadscore.features.config import LeadscoreConfig, parse_config

if TYPE_CHECKING:
    from leadscore.training.fit import FitResult

# Model libraries (lightgbm, sklearn, training/MLflow) are imported inside the functions that fit, so that
# tests/benchmarks/test_realdata.py can use the loader without their seconds of import time.

DATA = Path(__file__).parent / "data" / "bank-full.csv.gz"
RESULTS = Path(__file__).parent / "results" / "realdata.json"
MONTHS = {
    m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)
}
FIRST_YEAR = 2008
"""UCI: the calls run from May 2008 to November 2010, in row order."""
POST_OUTCOME = ("duration",)
"""Known only after the call (UCI's own note): excluded from every model, kept in the frame for the leak report."""
WATCHED = ("pdays", "poutcome", "campaign", "duration")
"""Single-column AUCs a leak check should weigh: prior-campaign fields, a contact count, the post-call one."""
ECE_GOAL = 0.02
TIME_SLICES = 5


def load_bank(path: Path = DATA) -> pd.DataFrame:
    """The bank file as leads: `lead_id` = row number, `created_at` from the row order, `won` = y == "yes".

    The file has month and day but no year. Its rows are in date order, so the year starts at 2008 and goes up
    by one whenever the month goes backwards from one row to the next.
    """
    raw = pd.read_csv(path, sep=";")
    month = raw["month"].map(MONTHS)
    if month.isna().any():
        raise ValueError(f"{path}: unknown month names {sorted(raw.loc[month.isna(), 'month'].unique())}")
    year = FIRST_YEAR + (month.diff() < 0).cumsum()
    created = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": raw["day"]}))
    leads = raw.drop(columns="y")
    leads.insert(0, "lead_id", np.arange(1, len(raw) + 1))
    leads.insert(1, "created_at", created)
    leads["won"] = (raw["y"] == "yes").astype(int)
    return leads


def bank_config(by_time: bool) -> LeadscoreConfig:
    """What a user would write in `leadscore.toml` for this export; `created_at` only for the time split."""
    data: dict[str, object] = {"id": "lead_id", "won": "won", "exclude": list(POST_OUTCOME)}
    if by_time:
        data["created_at"] = "created_at"
    return parse_config({"data": data}, source="benchmarks/realdata.py")


def frame_for(leads: pd.DataFrame, config: LeadscoreConfig) -> pd.DataFrame:
    """The frame given to the tool. Without a configured `created_at` that column is dropped, otherwise it
    would become a date feature that tells the model which period a row is from."""
    return leads if config.data.created_at else leads.drop(columns="created_at")


def feature_columns(frame: pd.DataFrame, config: LeadscoreConfig) -> list[str]:
    """Model inputs, chosen by the same rule as the tool: every column without a role."""
    return [c for c in frame.columns if c not in config.data.non_feature_columns]


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    from leadscore.training.evaluate import expected_calibration_error

    return {"auc": float(roc_auc_score(y, p)), "ece": expected_calibration_error(y, p)}


def lgbm_baseline(train: pd.DataFrame, holdout: pd.DataFrame, features: list[str]) -> dict[str, float]:
    """Default LGBMClassifier; text columns become pandas categories with the training categories."""
    from lightgbm import LGBMClassifier

    X, X_hold = train[features].copy(), holdout[features].copy()
    for col in features:
        if not pd.api.types.is_numeric_dtype(X[col]):
            dtype = pd.CategoricalDtype(sorted(X[col].dropna().unique()))
            unseen = ~X_hold[col].isin(dtype.categories)
            X[col], X_hold[col] = X[col].astype(dtype), X_hold[col].mask(unseen).astype(dtype)
    model = LGBMClassifier(verbose=-1).fit(X, train["won"].astype(int))
    return _scores(holdout["won"].to_numpy(int), model.predict_proba(X_hold)[:, 1])


def logreg_baseline(train: pd.DataFrame, holdout: pd.DataFrame, features: list[str]) -> dict[str, float]:
    """One-hot logistic regression: numbers imputed and scaled, text one-hot (unseen values ignored)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in features if pd.api.types.is_numeric_dtype(train[c])]
    text = [c for c in features if c not in numeric]
    missing = SimpleImputer(strategy="constant", fill_value="(missing)")
    columns = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("cat", make_pipeline(missing, OneHotEncoder(handle_unknown="ignore")), text),
        ]
    )
    model = make_pipeline(columns, LogisticRegression(max_iter=2000)).fit(train[features], train["won"].astype(int))
    return _scores(holdout["won"].to_numpy(int), model.predict_proba(holdout[features])[:, 1])


def single_column_aucs(fit: FitResult, columns: list[str]) -> dict[str, float]:
    """Holdout won AUC of each column alone, the excluded ones too, scored the way the leak check scores a
    column: won rate per value (numbers in quantile bins), learned on train+valid."""
    from sklearn.metrics import roc_auc_score

    from leadscore.training.evaluate import _single_column_scores

    seen, holdout = pd.concat([fit.split.train, fit.split.valid]), fit.split.holdout
    y_seen, y_hold = seen["won"].to_numpy(int), holdout["won"].to_numpy(int)
    aucs = {c: float(roc_auc_score(y_hold, _single_column_scores(seen[c], y_seen, holdout[c]))) for c in columns}
    return dict(sorted(aucs.items(), key=lambda kv: -kv[1]))


def goal(fit: FitResult, baselines: dict[str, dict[str, float]], config: LeadscoreConfig) -> str:
    """The issue #14 goal for what the gate promoted: won AUC >= the best baseline - tolerance and ECE <= the
    goal. A model the gate refused ships nowhere, so the goal is not judged: "refused", never "met"."""
    if not fit.quality.passed:
        return "refused"
    auc, ece = fit.metrics["won_roc_auc"], fit.metrics["won_ece"]
    name, best = max(((n, b["auc"]) for n, b in baselines.items()), key=lambda nb: nb[1])
    if auc < best - config.training.baseline_tolerance:
        return f"MISSED: promoted with won AUC {auc:.4f} below {name} {best:.4f} - tolerance"
    if ece > ECE_GOAL:
        return f"MISSED: promoted with ECE {ece:.4f} > {ECE_GOAL}"
    return f"met: won AUC {auc:.4f} vs best baseline {name} {best:.4f}, ECE {ece:.4f} <= {ECE_GOAL}"


def run_split(leads: pd.DataFrame, by_time: bool) -> dict[str, object]:
    """Fit the tool and both baselines on one split; every model is judged on the same holdout."""
    from leadscore.training.fit import fit_and_evaluate

    label = "time" if by_time else "random"
    config = bank_config(by_time)
    frame = frame_for(leads, config)
    started = time.perf_counter()
    fit = fit_and_evaluate(frame, config, step=lambda s: print(f"  [{label}] tool: {s}", flush=True))
    tool_seconds = time.perf_counter() - started
    seen = pd.concat([fit.split.train, fit.split.valid])
    holdout = fit.split.holdout
    features = feature_columns(frame, config)
    print(f"  [{label}] LGBMClassifier() on {len(seen)} rows", flush=True)
    baselines = {"lgbm": lgbm_baseline(seen, holdout, features)}
    print(f"  [{label}] one-hot logistic regression", flush=True)
    baselines["logreg"] = logreg_baseline(seen, holdout, features)
    print(f"  [{label}] single-column AUCs", flush=True)
    m = fit.metrics
    return {
        "split": label,
        "train_rows": len(fit.split.train),
        "valid_rows": len(fit.split.valid),
        "holdout_rows": len(holdout),
        "features": features,
        "won_rate_fit_fold": float(fit.split.train["won"].mean()),
        "won_rate_holdout": float(holdout["won"].mean()),
        "tool": {
            "auc": m["won_roc_auc"],
            "ece": m["won_ece"],
            "ece_uncalibrated": m["won_ece_uncalibrated"],
            "own_logreg_baseline_auc": m["baseline_logreg_won_roc_auc"],
            "fit_seconds": round(tool_seconds, 1),
        },
        "baselines": baselines,
        "promoted": fit.quality.passed,
        "refusal": list(fit.quality.failures),
        "goal": goal(fit, baselines, config),
        "single_column_auc": single_column_aucs(fit, features + list(POST_OUTCOME)),
    }


def won_rate_by_time(leads: pd.DataFrame, slices: int = TIME_SLICES) -> list[dict[str, object]]:
    """Won rate per equal-size slice of the file in time order: how far the outcome drifts."""
    ordered = leads.sort_values("created_at", kind="stable")
    return [
        {
            "slice": i + 1,
            "first": str(part["created_at"].iloc[0].date()),
            "last": str(part["created_at"].iloc[-1].date()),
            "rows": len(part),
            "won_rate": float(part["won"].mean()),
        }
        for i, rows in enumerate(np.array_split(np.arange(len(ordered)), slices))
        for part in [ordered.iloc[rows]]
    ]


def print_report(splits: list[dict], drift: list[dict]) -> None:
    """One table, then the gate, leak and drift lines; goals missed are said loudly."""
    print(
        f"\n{'split':7} {'train+valid':>11} {'holdout':>7} {'tool AUC':>8} {'ECE':>6} {'LGBM AUC':>8} {'ECE':>6} "
        f"{'logreg AUC':>10} {'ECE':>6} promoted"
    )
    for s in splits:
        t, lg, lr = s["tool"], s["baselines"]["lgbm"], s["baselines"]["logreg"]
        print(
            f"{s['split']:7} {s['train_rows'] + s['valid_rows']:>11} {s['holdout_rows']:>7} {t['auc']:8.4f} "
            f"{t['ece']:6.4f} {lg['auc']:8.4f} {lg['ece']:6.4f} {lr['auc']:10.4f} {lr['ece']:6.4f} "
            f"{'yes' if s['promoted'] else 'NO'}"
        )
    print()
    for s in splits:
        own = s["tool"]["own_logreg_baseline_auc"]
        gate = "promoted" if s["promoted"] else "REFUSED by the gate: " + "; ".join(s["refusal"])
        print(f"{s['split']}: {gate}; the tool's own logreg baseline (train fold only) {own:.4f}")
        print(f"  goal: {s['goal']}")
        print(f"  won rate: fit fold {s['won_rate_fit_fold']:.3f}, holdout {s['won_rate_holdout']:.3f}")
        aucs = s["single_column_auc"]
        print("  single-column holdout AUC: " + ", ".join(f"{c} {aucs[c]:.3f}" for c in WATCHED if c in aucs))
    print("\nwon rate per fifth of the file in time (drift):")
    for d in drift:
        print(f"  {d['slice']}: {d['first']} .. {d['last']}  {d['rows']:>5} rows  won {d['won_rate']:.3f}")


def leak_check_with_post_outcome(leads: pd.DataFrame) -> list[str]:
    """What the tool's leak check says when a user forgets to exclude `duration` (known only after the call)."""
    from leadscore.training.evaluate import LeakageError
    from leadscore.training.fit import fit_and_evaluate

    config = parse_config({"data": {"id": "lead_id", "won": "won", "created_at": "created_at"}})
    try:
        fit_and_evaluate(leads, config)
    except LeakageError as err:
        return [line.strip() for line in str(err).splitlines() if line.strip().startswith("- ")]
    return []


def main() -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    started = time.perf_counter()
    leads = load_bank()
    print(
        f"loaded {DATA.name}: {len(leads)} leads, {int(leads['won'].sum())} won, "
        f"{leads['created_at'].min().date()} .. {leads['created_at'].max().date()}",
        flush=True,
    )
    splits = []
    for by_time in (False, True):
        print(f"== {'time-ordered' if by_time else 'random'} split", flush=True)
        splits.append(run_split(leads, by_time))
    drift = won_rate_by_time(leads)
    print_report(splits, drift)
    print("== leak check with 'duration' left in (time split)", flush=True)
    leaks = leak_check_with_post_outcome(leads)
    print("\n".join(f"  {line}" for line in leaks) or "  GOAL MISSED: nothing flagged")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "run": run_info(),
        "data": DATA.name,
        "rows": len(leads),
        "splits": splits,
        "won_rate_by_time": drift,
        "leak_check_with_duration": leaks,
        "seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS} ({result['seconds']} s)")
    missed = [f"{s['split']} split: {s['goal']}" for s in splits if s["goal"].startswith("MISSED")]
    missed += [] if leaks else ["the leak check did not flag duration"]
    for line in missed:
        print(f"GOAL MISSED: {line}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
