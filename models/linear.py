"""The linear candidate of a probability head: regularised logistic regression on the transformer's matrix.

Each column becomes levels, one-hot: a categorical column's training codes, a numeric one's quantile bins,
missing its own level, and a level a category never seen in fitting falls into (its weight stays 0). A numeric
column also keeps its standardised value (0 when missing), so a straight trend needs one weight, not ten.
It answers the subset of `lightgbm.Booster` the scorer uses, so the calibration, scores, reasons and artifact
treat both families alike. Its contributions are exact: coefficient x (value - its training mean), for the level
indicators and the trend, summed per column; with the bias they add up to the margin.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

BINS = 10
"""Quantile bins per numeric column: enough for a monotone or U-shaped effect, few enough to stay stable."""
STRENGTHS = (0.01, 0.1, 1.0, 10.0, 100.0)
"""Inverse L2 strengths (`C`) tried on the validation fold."""


class LinearHead:
    """A fitted logistic regression over one-hot levels of every matrix column."""

    def __init__(self, categorical: list[int], strength: float) -> None:
        self.categorical = frozenset(categorical)
        self.strength = strength

    def _levels(self, X: np.ndarray) -> np.ndarray:
        """Level index (within its column) of every cell: known value or bin, then "missing", then "other"."""
        out = np.empty(X.shape, dtype=np.int64)
        for j, values in enumerate(self.values_):
            column = X[:, j]
            missing = np.isnan(column)
            if j in self.categorical:
                position = np.searchsorted(values, np.nan_to_num(column, nan=-np.inf))
                position = np.minimum(position, len(values) - 1) if len(values) else np.zeros(len(column), int)
                known = values[position] == column if len(values) else np.zeros(len(column), bool)
                level = np.where(known, position, len(values) + 1)
            else:
                level = np.searchsorted(values, np.nan_to_num(column, nan=0.0), side="right")
            out[:, j] = np.where(missing, self.missing_level_[j], level)
        return out

    def _trend(self, X: np.ndarray) -> np.ndarray:
        """Numeric columns standardised on the fitting rows, missing as 0 (their mean); 0 for categoricals."""
        return np.nan_to_num((X - self.mean_) / self.scale_, nan=0.0) * self.numeric_

    def _design(self, X: np.ndarray) -> sparse.csr_matrix:
        levels = self._levels(X)
        rows = np.repeat(np.arange(len(levels)), levels.shape[1])
        cols = (levels + self.offsets_[:-1]).reshape(-1)
        one_hot = sparse.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(levels), self.offsets_[-1]))
        return sparse.hstack([one_hot, sparse.csr_matrix(self._trend(X))], format="csr")

    def fit(self, X: np.ndarray, y: np.ndarray) -> LinearHead:
        """Levels from `X`, then the L2 logistic regression at `strength`."""
        self.values_: list[np.ndarray] = []
        for j in range(X.shape[1]):
            column = X[:, j][~np.isnan(X[:, j])]
            if j in self.categorical:
                self.values_.append(np.unique(column))
            else:
                edges = np.unique(np.quantile(column, np.linspace(0, 1, BINS + 1)[1:-1])) if len(column) else []
                self.values_.append(np.asarray(edges, dtype=float))
        # categorical: codes, missing, other; numeric: len(edges) + 1 bins, missing
        sizes = [len(v) + (2 if j in self.categorical else 1) for j, v in enumerate(self.values_)]
        self.missing_level_ = np.array([s - 2 if j in self.categorical else s - 1 for j, s in enumerate(sizes)])
        self.offsets_ = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.numeric_ = np.array([j not in self.categorical for j in range(X.shape[1])], dtype=float)
        with np.errstate(all="ignore"):
            self.mean_ = np.nan_to_num(np.nanmean(X, axis=0))
            self.scale_ = np.nan_to_num(np.nanstd(X, axis=0), nan=1.0)
        self.scale_[self.scale_ == 0] = 1.0
        design = self._design(X)
        model = LogisticRegression(C=self.strength, max_iter=1000).fit(design, y)
        self.coef_, self.trend_coef_ = model.coef_[0][: self.offsets_[-1]], model.coef_[0][self.offsets_[-1] :]
        self.intercept_ = float(model.intercept_[0])
        mean = np.asarray(design.mean(axis=0)).reshape(-1)[: self.offsets_[-1]]
        self.trend_mean_ = self._trend(X).mean(axis=0)
        # per level: its weight minus the column's mean weight, so a column's contribution is 0 on average
        self.centered_ = self.coef_.copy()
        for j in range(len(sizes)):
            block = slice(self.offsets_[j], self.offsets_[j + 1])
            self.centered_[block] -= self.coef_[block] @ mean[block]
        self.bias_ = self.intercept_ + float(self.coef_ @ mean) + float(self.trend_coef_ @ self.trend_mean_)
        return self

    def num_feature(self) -> int:
        return len(self.values_)

    def num_trees(self) -> int:
        """No trees: what `LeadScorer.trees` reports for a linear head."""
        return 0

    def predict(self, X: np.ndarray, raw_score: bool = False, pred_contrib: bool = False, **_: Any) -> np.ndarray:
        """Probabilities, margins (`raw_score`), or per-column contributions plus the bias (`pred_contrib`),
        as `lightgbm.Booster.predict` returns them."""
        contrib = self.centered_[self._levels(X) + self.offsets_[:-1]]
        contrib += (self._trend(X) - self.trend_mean_) * self.trend_coef_
        if pred_contrib:
            return np.column_stack([contrib, np.full(len(X), self.bias_)])
        margin = contrib.sum(axis=1) + self.bias_
        return margin if raw_score else expit(margin)

    def feature_importance(self, importance_type: str = "gain") -> np.ndarray:
        """Spread of each column's weights over its levels (the plots' stand-in for a booster's gain)."""
        del importance_type
        return np.array(
            [np.ptp(self.coef_[self.offsets_[j] : self.offsets_[j + 1]]) for j in range(len(self.values_))]
        )


def best_linear(
    X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, categorical: list[int]
) -> tuple[LinearHead, float]:
    """The strength of `STRENGTHS` with the best validation AUC, fitted on `X`, and that AUC."""
    tried = []
    for strength in STRENGTHS:
        head = LinearHead(categorical, strength).fit(X, y)
        tried.append((float(roc_auc_score(y_val, head.predict(X_val))), -strength, head))
    auc, _, head = max(tried, key=lambda t: (t[0], t[1]))
    return head, auc
