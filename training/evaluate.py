"""Holdout metrics, baselines and the leakage alarm."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from leadscore.features.coerce import normalize_text
from leadscore.features.config import DataConfig, TrainingConfig
from leadscore.features.transform import LeadTransformer
from leadscore.models.scorer import PROBABILITY_HEADS, LeadScorer, revenue_deals, targets

_BASELINE_ROWS = 200_000
"""Training rows the logistic baseline fits on at most (evenly spaced): more only slows big trainings."""
_LEAK_ROWS = 100_000
"""Rows of each fold the leakage alarm reads at most (evenly spaced): a near-perfect single-column AUC
shows as clearly in 100k rows as in millions."""


_MIN_FILLED = 10
_MOSTLY_FILLED = 0.95
_ONE_OUTCOME_SHARE = 0.98
"""A column off its most common value on at least `_MIN_FILLED` and at most 95% of leads, of which >= 98% have
the rarer outcome, is filled in for one outcome only."""
_SUSPECT_AUC, _SUSPECTS = 0.70, 3
"""Single-column AUC from which a column (one of the 3 strongest) is compared with a quick model of all the
other columns: a column that alone beats all the others together is rarely known early."""
_QUICK_ROWS = 30_000
"""Rows per fold (evenly spaced) the quick model of "all the other columns" fits and scores on: it only has to
say whether one column alone beats the rest together, not be a good model."""
_DRIFT_RATIO, _DRIFT_Z = 1.5, 3.0


class LeakageError(ValueError):
    """A column looks recorded after the outcome; the message names it and how to settle it."""


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Weighted mean |observed - predicted| over equal-count bins of the prediction."""
    order = np.argsort(p, kind="stable")
    total = 0.0
    for chunk in np.array_split(order, bins):
        if len(chunk):
            total += len(chunk) * abs(y[chunk].mean() - p[chunk].mean())
    return float(total / len(y))


def lift_at(y: np.ndarray, ranking: np.ndarray, share: float) -> float:
    """Positive rate in the top `share` of leads by `ranking`, over the overall rate."""
    top = np.argsort(-ranking, kind="stable")[: max(1, int(len(y) * share))]
    base = y.mean()
    return float(y[top].mean() / base) if base > 0 else float("nan")


def capture_at(amount: np.ndarray, ranking: np.ndarray, share: float) -> float:
    """Share of the total `amount` (wins or revenue) found in the top `share` of leads."""
    top = np.argsort(-ranking, kind="stable")[: max(1, int(len(amount) * share))]
    total = amount.sum()
    return float(amount[top].sum() / total) if total > 0 else float("nan")


def binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Discrimination and calibration of one probability head."""
    has_both = 0 < y.sum() < len(y)
    return {
        "roc_auc": float(roc_auc_score(y, p)) if has_both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if has_both else float("nan"),
        "log_loss": float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "lift_top10": lift_at(y, p, 0.10),
        "capture_top20": capture_at(y, p, 0.20),
    }


def evaluate_scorer(scorer: LeadScorer, holdout: pd.DataFrame, X: np.ndarray | None = None) -> dict[str, float]:
    """Every holdout metric per head, flat `head_metric` names as MLflow wants them; `X` is the holdout already
    transformed by this scorer, when the caller has it."""
    X = scorer.transformer_.transform(holdout) if X is None else X
    y = targets(holdout, scorer.data)
    heads = scorer.heads_output(X)
    scores = scorer.predict_matrix(X, heads)
    metrics: dict[str, float] = {}
    for head in PROBABILITY_HEADS:
        if head not in heads.calibrated:
            continue
        for name, value in binary_metrics(y[head], heads.calibrated[head]).items():
            metrics[f"{head}_{name}"] = value
        metrics[f"{head}_ece_uncalibrated"] = expected_calibration_error(y[head], heads.raw[head])
        metrics[f"{head}_brier_uncalibrated"] = float(brier_score_loss(y[head], heads.raw[head]))
        metrics[f"{head}_base_rate"] = float(y[head].mean())
    if scorer.revenue_basis:
        predicted = scores["expected_revenue"].to_numpy()
        actual = y["revenue"]
        capped = np.minimum(actual, scorer.revenue_cap_)
        metrics["revenue_predicted_total"] = float(predicted.sum())
        metrics["revenue_actual_total"] = float(actual.sum())
        metrics["revenue_actual_capped_total"] = float(capped.sum())
        metrics["revenue_predicted_over_actual"] = _ratio(predicted.sum(), capped.sum())
        metrics["revenue_predicted_over_actual_uncapped"] = _ratio(predicted.sum(), actual.sum())
        metrics["revenue_deals"] = float(revenue_deals(y))
        metrics["revenue_capture_top20"] = capture_at(actual, predicted, 0.20)
    return metrics


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def _baseline_features(transformer: LeadTransformer) -> ColumnTransformer:
    """One-hot categoricals, impute and scale numbers: the inputs of the honest simple model to beat."""
    cats = transformer.categorical_indices_
    nums = [i for i in range(len(transformer.feature_names_out_)) if i not in cats]
    prep = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), nums),
            (
                "cat",
                make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
                cats,
            ),
        ]
    )
    return prep


def baseline_metrics(
    transformer: LeadTransformer,
    data: DataConfig,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    X_hold: np.ndarray | None = None,
) -> dict[str, float]:
    """Base-rate and logistic-regression baselines on the same holdout the model is judged on (`X_hold`: the
    holdout already transformed, when the caller has it)."""
    train = train.iloc[:: max(1, len(train) // _BASELINE_ROWS)]
    X = transformer.transform(train)
    X_hold = transformer.transform(holdout) if X_hold is None else X_hold
    y, y_hold = targets(train, data), targets(holdout, data)
    features = _baseline_features(transformer).fit(X)  # unsupervised: one fit serves every head
    Z, Z_hold = features.transform(X), features.transform(X_hold)
    metrics: dict[str, float] = {}
    for head in PROBABILITY_HEADS:
        if head not in y:
            continue
        constant = np.full(len(X_hold), y[head].mean())
        for name, value in binary_metrics(y_hold[head], constant).items():
            metrics[f"baseline_rate_{head}_{name}"] = value
        p = LogisticRegression(max_iter=2000, C=1.0).fit(Z, y[head]).predict_proba(Z_hold)[:, 1]
        for name, value in binary_metrics(y_hold[head], p).items():
            metrics[f"baseline_logreg_{head}_{name}"] = value
    return metrics


def holdout_metrics(
    scorer: LeadScorer, train: pd.DataFrame, holdout: pd.DataFrame, X_hold: np.ndarray | None = None
) -> dict[str, float]:
    """The model's holdout metrics, its baselines, and its AUC gain over the logistic baseline; the holdout is
    transformed once (or passed in as `X_hold`) for all of them."""
    X_hold = scorer.transformer_.transform(holdout) if X_hold is None else X_hold
    metrics = evaluate_scorer(scorer, holdout, X_hold)
    metrics.update(baseline_metrics(scorer.transformer_, scorer.data, train, holdout, X_hold))
    for head in PROBABILITY_HEADS:
        if f"{head}_roc_auc" in metrics:
            metrics[f"{head}_auc_gain_over_logreg"] = (
                metrics[f"{head}_roc_auc"] - metrics[f"baseline_logreg_{head}_roc_auc"]
            )
    return metrics


def _column_keys(values: pd.Series, valid: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Group keys of one column in both folds: its values, numbers binned (-1 = missing or outside the
    training range), missing its own group. They do not depend on the outcome, so every head shares them."""
    numeric = pd.api.types.is_numeric_dtype(values)
    if numeric and values.nunique() > 20:
        edges = np.unique(np.nanquantile(values.to_numpy(float), np.linspace(0, 1, 21)))
        # Bin numbers, not interval labels: far faster at 1M rows.
        key_train = pd.cut(values, edges, include_lowest=True, labels=False).fillna(-1)
        key_valid = pd.cut(valid, edges, include_lowest=True, labels=False).fillna(-1)
    else:
        key_train, key_valid = values.astype(str), valid.astype(str)
    return key_train.to_numpy(), key_valid.to_numpy()


def _rates_by_key(keys: tuple[np.ndarray, np.ndarray], y_train: np.ndarray) -> np.ndarray:
    """Per validation row, the training outcome rate of its key (the overall rate for unseen keys)."""
    key_train, key_valid = keys
    rates = pd.Series(y_train).groupby(key_train).mean()
    return pd.Series(key_valid).map(rates).fillna(y_train.mean()).to_numpy(float)


def _single_column_scores(values: pd.Series, y_train: np.ndarray, valid: pd.Series) -> np.ndarray:
    """Predict the outcome from one column alone: outcome rate per value (numbers binned, missing its own bin)."""
    return _rates_by_key(_column_keys(values, valid), y_train)


@dataclass(frozen=True)
class LeakFinding:
    """A column that looks recorded after the outcome, with the numbers that say so."""

    column: str
    head: str
    kind: str
    """"one outcome only" (filled almost only on positive leads) or "too good" (predicts too well alone)."""
    detail: str

    def __str__(self) -> str:
        return f"'{self.column}' ({self.head}): {self.detail}"


def off_most_common(values: pd.Series) -> tuple[np.ndarray, bool]:
    """Which leads hold anything but the column's most common value (missing counts as a value), and whether
    that most common value is "missing". An export that fills blanks (False, 0) hides a column filled in only
    once the outcome is known behind a value: this mask finds it where "non-missing" no longer does."""
    counts = values.value_counts(dropna=False)
    if counts.empty:
        return np.zeros(len(values), bool), True
    mode = counts.index[0]
    if pd.isna(mode):
        return values.notna().to_numpy(bool), True
    return (values != mode).fillna(True).to_numpy(bool), False


def _one_outcome_only(off: np.ndarray, blank_is_missing: bool, y: np.ndarray, head: str) -> str:
    """Why the `off` leads (off the column's most common value) are almost all of the rarer outcome, or ""."""
    positive_rare = (y > 0).mean() <= 0.5
    rare = (y > 0) if positive_rare else (y <= 0)
    n = int(off.sum())
    if n < _MIN_FILLED or n > _MOSTLY_FILLED * len(off) or rare[off].mean() < _ONE_OUTCOME_SHARE:
        return ""
    outcome = f"{head} leads" if positive_rare else f"leads not {head}"
    held = "filled" if blank_is_missing else "holds a value other than its most common one (blanks filled in?)"
    return (
        f"{held} on {off[rare].mean():.1%} of {outcome} but {off[~rare].mean():.2%} of the others "
        f"({n} leads, {rare[off].mean():.1%} of them {outcome}): is it filled in only once the outcome is known?"
    )


@dataclass(frozen=True)
class _QuickFolds:
    """Samples of both folds (`_QUICK_ROWS` each), transformed once with every feature: the quick model
    without one column drops that column's pieces, the same matrix a transformer without it would give."""

    X: np.ndarray
    X_val: np.ndarray
    y: dict[str, np.ndarray]
    y_val: dict[str, np.ndarray]
    sources: np.ndarray
    categorical: frozenset[int]

    @classmethod
    def of(cls, train: pd.DataFrame, valid: pd.DataFrame, data: DataConfig) -> _QuickFolds:
        train, valid = (fold.iloc[:: max(1, len(fold) // _QUICK_ROWS)] for fold in (train, valid))
        transformer = LeadTransformer(data).fit(train)
        return cls(
            transformer.transform(train),
            transformer.transform(valid),
            targets(train, data),
            targets(valid, data),
            np.array(transformer.sources_, dtype=object),
            frozenset(transformer.categorical_indices_),
        )

    def auc_without(self, column: str, head: str) -> float:
        """Validation AUC of a quick LightGBM on every feature but `column`: what the rest knows together."""
        keep = np.flatnonzero(self.sources != column)
        if not len(keep):
            return 0.5
        booster = lgb.train(
            {"objective": "binary", "learning_rate": 0.1, "num_leaves": 15, "verbosity": -1, "num_threads": 1},
            lgb.Dataset(
                self.X[:, keep],
                self.y[head],
                categorical_feature=[i for i, j in enumerate(keep) if j in self.categorical],
            ),
            num_boost_round=150,
        )
        return float(roc_auc_score(self.y_val[head], booster.predict(self.X_val[:, keep])))


def leaky_columns(
    train: pd.DataFrame, valid: pd.DataFrame, data: DataConfig, training: TrainingConfig
) -> list[LeakFinding]:
    """Leak check v3, before fitting, per outcome head and column:

    - one outcome only: the leads holding anything but the column's most common value (non-missing, when
      missing is the most common; True or non-zero, when the export filled blanks with False or 0) are almost
      all (>= 98%) of the head's rarer outcome;
    - too good: alone predicts the outcome with validation AUC >= `training.leak_auc`, or alone predicts it
      at least as well as every other column together (a quick model without it).
    Columns listed in `training.allow_leaky` are not checked. What does not depend on the outcome (which rows
    are filled, each column's value groups, the quick model's matrices) is computed once for every head."""
    train, valid = (fold.iloc[:: max(1, len(fold) // _LEAK_ROWS)] for fold in (train, valid))
    quick = functools.cache(lambda: _QuickFolds.of(train, valid, data))
    y, y_val = targets(train, data), targets(valid, data)
    history = pd.concat([train, valid])
    y_history = targets(history, data)
    features = [c for c in train.columns if c not in data.non_feature_columns and c not in training.allow_leaky]
    off = {c: off_most_common(normalize_text(history[c], data.missing_values)) for c in features}
    keys = functools.cache(lambda col: _column_keys(train[col], valid[col]))
    found: list[LeakFinding] = []
    for head in PROBABILITY_HEADS:
        if head not in y or not 0 < y_val[head].sum() < len(y_val[head]):
            continue
        single: dict[str, float] = {}
        for col in features:
            why = _one_outcome_only(*off[col], y_history[head], head)
            if why:
                found.append(LeakFinding(col, head, "one outcome only", why))
                continue
            single[col] = float(roc_auc_score(y_val[head], _rates_by_key(keys(col), y[head])))
        ranked = sorted(single.items(), key=lambda kv: -kv[1])
        for rank, (col, auc) in enumerate(ranked):
            if auc >= training.leak_auc:
                detail = f"alone predicts {head} with AUC {auc:.3f} (alarm at {training.leak_auc})"
                found.append(LeakFinding(col, head, "too good", detail))
            elif auc >= _SUSPECT_AUC and rank < _SUSPECTS and len(ranked) > 1:
                rest = quick().auc_without(col, head)
                if auc >= rest:
                    detail = f"alone predicts {head} with AUC {auc:.3f}; all other columns together {rest:.3f}"
                    found.append(LeakFinding(col, head, "too good", detail))
    return found


def leakage_error(found: list[LeakFinding]) -> LeakageError:
    """The alarm, naming each column and its numbers, and saying how to settle it."""
    lines = "\n".join(f"  - {f}" for f in found)
    return LeakageError(
        f"leak check: {len(found)} finding(s) on columns that may be recorded after the outcome:\n{lines}\n"
        "Is each known before sales acts on the lead? If not, add it to [data].exclude; if it is, list it in "
        "[training].allow_leaky (or pass --allow-leaky to accept every finding)."
    )


def history_drift(train: pd.DataFrame, holdout: pd.DataFrame, data: DataConfig) -> list[str]:
    """Outcome rates that differ strongly between the fit fold and the holdout (ratio >= 1.5 and z >= 3)."""
    y, y_hold = targets(train, data), targets(holdout, data)
    notes = []
    for head in PROBABILITY_HEADS:
        if head not in y:
            continue
        r1, r2 = float(y[head].mean()), float(y_hold[head].mean())
        pooled = (y[head].sum() + y_hold[head].sum()) / (len(y[head]) + len(y_hold[head]))
        se = np.sqrt(pooled * (1 - pooled) * (1 / len(y[head]) + 1 / len(y_hold[head])))
        ratio = max(r1, r2) / max(min(r1, r2), 1e-9)
        if ratio >= _DRIFT_RATIO and se > 0 and abs(r2 - r1) / se >= _DRIFT_Z:
            notes.append(
                f"the {head} rate drifts from {r1:.1%} in the fit fold to {r2:.1%} in the holdout (x{ratio:.1f}): "
                "history is not stable, so holdout numbers may not hold for new leads"
            )
    return notes
