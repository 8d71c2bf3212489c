"""Population stability: the training reference kept in the model, and PSI of recent traffic against it.

Traffic is recorded as bin numbers per feature (never raw values), so drift can be computed without
storing leads twice and without keeping PII. Bins: deciles of the training values for numbers and
dates, one bin per category code for categoricals and booleans, plus one bin for missing values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

WATCH, DRIFT = 0.1, 0.25
"""PSI of 0.1-0.25 is worth watching; above 0.25 the population has moved."""
SCORE_EDGES = np.arange(10, 100, 10, dtype=float)
_EPS = 1e-4

Status = Literal["stable", "watch", "drift"]


def psi_status(value: float) -> Status:
    """Name a PSI value by the usual thresholds."""
    return "drift" if value > DRIFT else "watch" if value >= WATCH else "stable"


def population_stability(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI between two share vectors over the same bins (small floor keeps empty bins finite)."""
    e = np.clip(np.asarray(expected, float), _EPS, None)
    a = np.clip(np.asarray(actual, float), _EPS, None)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class FeatureBins:
    """How one input column is binned and what share of training leads fell in each bin."""

    name: str
    edges: tuple[float, ...] | None
    n_codes: int
    shares: tuple[float, ...]

    @property
    def n_bins(self) -> int:
        """Value bins plus the missing bin."""
        return (len(self.edges) + 1 if self.edges is not None else self.n_codes) + 1

    def bin(self, column: np.ndarray) -> np.ndarray:
        """Bin numbers for one transformed column; the last bin is missing."""
        missing = np.isnan(column)
        if self.edges is not None:
            values = np.searchsorted(np.asarray(self.edges), np.where(missing, 0, column), side="right")
        else:
            values = np.clip(np.nan_to_num(column, nan=0).astype(int), 0, self.n_codes - 1)
        return np.where(missing, self.n_bins - 1, values).astype(np.int16)


@dataclass(frozen=True)
class DriftReference:
    """Training-time distributions of every input column and of the score."""

    features: tuple[FeatureBins, ...]
    columns: tuple[int, ...]
    score_shares: tuple[float, ...]

    def bin_matrix(self, X: np.ndarray) -> np.ndarray:
        """Bin numbers (rows x input columns) for a transformed matrix: what the service records."""
        return np.column_stack([f.bin(X[:, c]) for f, c in zip(self.features, self.columns, strict=True)])

    def psi(self, bins: np.ndarray, scores: np.ndarray) -> dict[str, float]:
        """PSI per input column and for the score, for recorded traffic."""
        out = {}
        for j, feature in enumerate(self.features):
            counts = np.bincount(bins[:, j].astype(int), minlength=feature.n_bins)[: feature.n_bins]
            out[feature.name] = population_stability(np.asarray(feature.shares), counts)
        score_counts = np.bincount(np.searchsorted(SCORE_EDGES, scores, side="right"), minlength=10)[:10]
        out["score"] = population_stability(np.asarray(self.score_shares), score_counts)
        return out


def build_reference(
    X: np.ndarray, sources: list[str], kinds: dict[str, str], n_codes: dict[str, int], scores: np.ndarray
) -> DriftReference:
    """Reference from the training matrix; `sources` maps matrix columns to input columns (first piece used)."""
    features: list[FeatureBins] = []
    columns: list[int] = []
    for name in dict.fromkeys(sources):
        c = sources.index(name)
        column = X[:, c]
        edges = None
        if kinds[name] in ("numeric", "datetime"):
            present = column[~np.isnan(column)]
            edges = tuple(np.unique(np.quantile(present, np.linspace(0.1, 0.9, 9)))) if present.size else ()
        draft = FeatureBins(name, edges, n_codes.get(name, 2), ())
        counts = np.bincount(draft.bin(column).astype(int), minlength=draft.n_bins)[: draft.n_bins]
        features.append(FeatureBins(name, edges, draft.n_codes, tuple((counts / counts.sum()).tolist())))
        columns.append(c)
    score_counts = np.bincount(np.searchsorted(SCORE_EDGES, scores, side="right"), minlength=10)[:10]
    return DriftReference(tuple(features), tuple(columns), tuple((score_counts / score_counts.sum()).tolist()))
