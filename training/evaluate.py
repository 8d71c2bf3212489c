"""Holdout metrics, baselines and the leakage alarm."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from features.config import DataConfig
from features.transform import LeadTransformer
from models.scorer import PROBABILITY_HEADS, LeadScorer, targets

_BASELINE_ROWS = 200_000
"""Training rows the logistic baseline fits on at most (evenly spaced): more only slows big trainings."""
_LEAK_ROWS = 100_000
"""Rows of each fold the leakage alarm reads at most (evenly spaced): a near-perfect single-column AUC
shows as clearly in 100k rows as in millions."""


class LeakageError(ValueError):
    """A single column predicts an outcome almost perfectly: it is probably recorded after the outcome."""


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


def evaluate_scorer(scorer: LeadScorer, holdout: pd.DataFrame) -> dict[str, float]:
    """Every holdout metric per head, flat `head_metric` names as MLflow wants them."""
    X = scorer.transformer_.transform(holdout)
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
    if "revenue" in y:
        predicted = scores["expected_revenue"].to_numpy()
        actual = y["revenue"]
        metrics["revenue_predicted_total"] = float(predicted.sum())
        metrics["revenue_actual_total"] = float(actual.sum())
        metrics["revenue_predicted_over_actual"] = (
            float(predicted.sum() / actual.sum()) if actual.sum() else float("nan")
        )
        metrics["revenue_capture_top20"] = capture_at(actual, predicted, 0.20)
    return metrics


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
    transformer: LeadTransformer, data: DataConfig, train: pd.DataFrame, holdout: pd.DataFrame
) -> dict[str, float]:
    """Base-rate and logistic-regression baselines on the same holdout the model is judged on."""
    train = train.iloc[:: max(1, len(train) // _BASELINE_ROWS)]
    X, X_hold = transformer.transform(train), transformer.transform(holdout)
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


def holdout_metrics(scorer: LeadScorer, train: pd.DataFrame, holdout: pd.DataFrame) -> dict[str, float]:
    """The model's holdout metrics, its baselines, and its AUC gain over the logistic baseline."""
    metrics = evaluate_scorer(scorer, holdout)
    metrics.update(baseline_metrics(scorer.transformer_, scorer.data, train, holdout))
    for head in PROBABILITY_HEADS:
        if f"{head}_roc_auc" in metrics:
            metrics[f"{head}_auc_gain_over_logreg"] = (
                metrics[f"{head}_roc_auc"] - metrics[f"baseline_logreg_{head}_roc_auc"]
            )
    return metrics


def _single_column_scores(values: pd.Series, y_train: np.ndarray, valid: pd.Series) -> np.ndarray:
    """Predict the outcome from one column alone: outcome rate per value (numbers binned, missing its own bin)."""
    numeric = pd.api.types.is_numeric_dtype(values)
    if numeric and values.nunique() > 20:
        edges = np.unique(np.nanquantile(values.to_numpy(float), np.linspace(0, 1, 21)))
        # Bin numbers (-1 = missing or outside the training range), not interval labels: far faster at 1M rows.
        key_train = pd.cut(values, edges, include_lowest=True, labels=False).fillna(-1)
        key_valid = pd.cut(valid, edges, include_lowest=True, labels=False).fillna(-1)
    else:
        key_train, key_valid = values.astype(str), valid.astype(str)
    rates = pd.Series(y_train, index=values.index).groupby(key_train.to_numpy()).mean()
    return key_valid.map(rates).fillna(y_train.mean()).to_numpy(float)


def leaky_columns(
    train: pd.DataFrame, valid: pd.DataFrame, data: DataConfig, threshold: float
) -> dict[str, dict[str, float]]:
    """Columns whose single-column validation AUC for some outcome exceeds `threshold`: {column: {head: auc}}."""
    train, valid = (fold.iloc[:: max(1, len(fold) // _LEAK_ROWS)] for fold in (train, valid))
    y, y_val = targets(train, data), targets(valid, data)
    features = [c for c in train.columns if c not in data.non_feature_columns]
    found: dict[str, dict[str, float]] = {}
    for head in PROBABILITY_HEADS:
        if head not in y or not 0 < y_val[head].sum() < len(y_val[head]):
            continue
        for col in features:
            auc = float(roc_auc_score(y_val[head], _single_column_scores(train[col], y[head], valid[col])))
            if auc > threshold:
                found.setdefault(col, {})[head] = round(auc, 4)
    return found


def leakage_error(found: dict[str, dict[str, float]]) -> LeakageError:
    """The alarm, naming each column and how well it alone predicts each outcome."""
    details = "; ".join(f"'{c}' ({', '.join(f'{h} AUC {a}' for h, a in v.items())})" for c, v in found.items())
    return LeakageError(
        f"leakage alarm: {details} alone predict the outcome almost perfectly; such columns are usually "
        "filled in after the outcome. Add them to [data].exclude, or pass --allow-leaky if they are known "
        "before sales acts."
    )
