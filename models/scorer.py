"""`LeadScorer`: one fitted artifact holding the transformer, the LightGBM heads and their calibration.

Heads (each trained only when its outcome is configured):
- `accepted`: P(sales accepts the lead);
- `won`: P(deal won), unconditional over all leads (derived from revenue > 0 when only revenue is given);
- `revenue`: E[revenue | won], a gamma regression on won leads rescaled to the balance property;
  expected revenue = p_won * E[revenue | won].
Probabilities are calibrated on the validation fold. The score is the percentile of the lead's expected
value among the training leads, so 90 means "better than 90% of past leads".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from features.config import DataConfig, TrainingConfig
from features.transform import LeadTransformer
from models.drift import build_reference
from models.reasons import Reason, display_value, sentence

GRADE_THRESHOLDS: dict[str, float] = {"A": 80.0, "B": 50.0, "C": 20.0}
"""Score floors for grades A/B/C; anything lower is D. A = top 20% of past leads, B = next 30%."""
PROBABILITY_HEADS = ("accepted", "won")
_LGB_FORBIDDEN = re.compile(r'[",:\[\]{}]')
"""Characters LightGBM refuses in feature names (it stores them as JSON); CRM headers often have them."""
_REFERENCE_POINTS = 2001
_REFERENCE_ROWS = 200_000
"""Training rows (evenly spaced) the score and drift references are taken from: quantiles need no more."""
_PARALLEL_ROWS = 50_000
"""Below this many rows one thread is faster: OpenMP start-up and contention cost more than they save."""


def threads_for(rows: int) -> int:
    """LightGBM `num_threads`: 1 for small work, all cores (0) for large."""
    return 1 if rows < _PARALLEL_ROWS else 0


@dataclass(frozen=True)
class HeadOutput:
    """Raw (uncalibrated) and calibrated predictions for the probability heads."""

    raw: dict[str, np.ndarray]
    calibrated: dict[str, np.ndarray]


class Calibrator:
    """Maps a head's raw probability to a calibrated one (isotonic or Platt on the log-odds)."""

    def __init__(self, method: str) -> None:
        self.method = method

    def fit(self, p_raw: np.ndarray, y: np.ndarray) -> Calibrator:
        """Learn the map on a fold the booster was not fitted on."""
        if self.method == "isotonic":
            self.map_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p_raw, y)
        else:
            self.map_ = LogisticRegression(C=1e6).fit(_logit(p_raw)[:, None], y)
        return self

    def predict(self, p_raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, clipped away from 0 and 1 so log loss stays finite."""
        if self.method == "isotonic":
            out = self.map_.predict(p_raw)
        else:
            out = self.map_.predict_proba(_logit(p_raw)[:, None])[:, 1]
        return np.clip(out, 1e-6, 1 - 1e-6)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def targets(frame: pd.DataFrame, data: DataConfig) -> dict[str, np.ndarray]:
    """Outcome arrays per head from a validated frame."""
    out: dict[str, np.ndarray] = {}
    if data.accepted:
        out["accepted"] = frame[data.accepted].to_numpy(float)
    if data.won:
        out["won"] = frame[data.won].to_numpy(float)
    elif data.revenue:
        out["won"] = (frame[data.revenue] > 0).to_numpy(float)
    if data.revenue:
        out["revenue"] = frame[data.revenue].to_numpy(float)
    return out


def lightgbm_names(names: list[str]) -> list[str]:
    """Feature names LightGBM accepts: forbidden characters become `_`, with the position appended so two
    cleaned names never collide. Only the booster sees these; reasons and plots use the original names."""
    return [
        name if not _LGB_FORBIDDEN.search(name) else f"{_LGB_FORBIDDEN.sub('_', name)}__{i}"
        for i, name in enumerate(names)
    ]


class LeadScorer:
    """The fitted lead-scoring model; `fit` returns self, fitted attributes end in `_`."""

    def __init__(self, data: DataConfig, training: TrainingConfig | None = None) -> None:
        self.data = data
        self.training = training or TrainingConfig()

    # ---------------------------------------------------------------- fitting
    def lgb_params(self, objective: str, rows: int) -> dict[str, Any]:
        """LightGBM parameters of a head; public so distributed training and benchmarks use the same."""
        t = self.training
        return {
            "num_threads": threads_for(rows),
            "objective": objective,
            "learning_rate": t.learning_rate,
            "num_leaves": t.num_leaves,
            "min_data_in_leaf": 40,
            "feature_fraction": 0.9,
            "lambda_l2": 1.0,
            "cat_smooth": 10.0,
            "seed": t.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }

    def _train_head(
        self, objective: str, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray
    ) -> lgb.Booster:
        cats = self.transformer_.categorical_indices_
        names = lightgbm_names(self.transformer_.feature_names_out_)
        train_set = lgb.Dataset(X, y, feature_name=names, categorical_feature=cats, free_raw_data=True)
        valid_set = lgb.Dataset(X_val, y_val, reference=train_set, feature_name=names, categorical_feature=cats)
        return lgb.train(
            self.lgb_params(objective, len(y)),
            train_set,
            num_boost_round=self.training.num_boost_round,
            valid_sets=[valid_set],
            callbacks=[lgb.early_stopping(50, verbose=False)],
        )

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame) -> LeadScorer:
        """Fit the transformer and heads on `train`; early-stop and calibrate on `valid`."""
        self.transformer_ = LeadTransformer(self.data, self.training.rare_category_share).fit(train)
        X, X_val = self.transformer_.transform(train), self.transformer_.transform(valid)
        y, y_val = targets(train, self.data), targets(valid, self.data)
        heads: dict[str, lgb.Booster] = {}
        for head in PROBABILITY_HEADS:
            if head in y:
                heads[head] = self._train_head("binary", X, y[head], X_val, y_val[head])
        if "revenue" in y:
            won, won_val = y["revenue"] > 0, y_val["revenue"] > 0
            heads["revenue"] = self._train_head(
                "gamma", X[won], y["revenue"][won], X_val[won_val], y_val["revenue"][won_val]
            )
        return self.assemble(self.transformer_, heads, (X, y), (X_val, y_val))

    def assemble(
        self,
        transformer: LeadTransformer,
        heads: dict[str, lgb.Booster],
        train: tuple[np.ndarray, dict[str, np.ndarray]],
        valid: tuple[np.ndarray, dict[str, np.ndarray]],
    ) -> LeadScorer:
        """Calibrate trained heads on the validation fold; take the score and drift references from `train`.

        Split from `fit` so heads trained elsewhere (lightgbm.dask on a cluster) become the same artifact;
        `train` and `valid` (matrix, targets) may then be samples of those folds."""
        (X, y), (X_val, y_val) = train, valid
        self.transformer_ = transformer
        self.heads_ = dict(heads)
        self.calibrators_ = {}
        for head in PROBABILITY_HEADS:
            if head in heads:
                raw_val = heads[head].predict(X_val, num_threads=threads_for(len(X_val)))
                self.calibrators_[head] = Calibrator(self.training.calibration).fit(raw_val, y_val[head])
        if "revenue" in heads:
            won, won_val = y["revenue"] > 0, y_val["revenue"] > 0
            # Balance property: gamma deviance on heavy tails under-predicts the mean deal size; rescale so
            # predicted and actual revenue of the won training and validation leads add up to the same total.
            actual = np.concatenate([y["revenue"][won], y_val["revenue"][won_val]])
            predicted = heads["revenue"].predict(np.vstack([X[won], X_val[won_val]]), num_threads=1)
            self.revenue_scale_ = float(actual.sum() / predicted.sum())
        X_ref = X[:: max(1, len(X) // _REFERENCE_ROWS)]
        value = self.expected_value(X_ref)
        reference = np.sort(value)
        grid = np.linspace(0, len(reference) - 1, min(_REFERENCE_POINTS, len(reference))).round().astype(int)
        self.score_reference_ = reference[grid]
        self.grade_thresholds_ = dict(GRADE_THRESHOLDS)
        self.drift_reference_ = build_reference(
            X_ref,
            transformer.sources_,
            {spec.name: spec.kind for spec in transformer.schema_.features},
            {name: len(codes) for name, codes in transformer.codes_.items()},
            self._score(value),
        )
        self.value_basis_ = (
            "expected_revenue" if "revenue" in self.heads_ else ("p_won" if "won" in self.heads_ else "p_accept")
        )
        return self

    # ---------------------------------------------------------------- scoring
    def heads_output(self, X: np.ndarray) -> HeadOutput:
        """Raw and calibrated probabilities per head for an already transformed matrix."""
        threads = threads_for(len(X))
        raw = {h: self.heads_[h].predict(X, num_threads=threads) for h in PROBABILITY_HEADS if h in self.heads_}
        return HeadOutput(raw=raw, calibrated={h: self.calibrators_[h].predict(p) for h, p in raw.items()})

    def _predict_matrix(self, X: np.ndarray, heads: HeadOutput | None = None) -> dict[str, np.ndarray]:
        out = dict((heads or self.heads_output(X)).calibrated)
        if "revenue" in self.heads_:
            raw_revenue = self.heads_["revenue"].predict(X, num_threads=threads_for(len(X)))
            out["revenue_if_won"] = self.revenue_scale_ * raw_revenue
            out["expected_revenue"] = out["won"] * out["revenue_if_won"]
        return out

    @staticmethod
    def _value(pred: dict[str, np.ndarray]) -> np.ndarray:
        for key in ("expected_revenue", "won", "accepted"):
            if key in pred:
                return pred[key]
        raise ValueError("model has no heads")

    def expected_value(self, X: np.ndarray) -> np.ndarray:
        """What the score ranks by: expected revenue, else p_won, else p_accept."""
        return self._value(self._predict_matrix(X))

    def _score(self, value: np.ndarray) -> np.ndarray:
        """Percentile (0-100) of each value among the training leads' values."""
        rank = np.searchsorted(self.score_reference_, value, side="right") / len(self.score_reference_)
        return np.clip(np.floor(rank * 100), 0, 100)

    def grade(self, score: np.ndarray) -> np.ndarray:
        """A/B/C/D from the stored thresholds."""
        t = self.grade_thresholds_
        return np.select([score >= t["A"], score >= t["B"], score >= t["C"]], ["A", "B", "C"], default="D")

    def predict_matrix(self, X: np.ndarray, heads: HeadOutput | None = None) -> pd.DataFrame:
        """Scores for a transformed matrix: score, grade, p_accept, p_won, expected_revenue.

        Pass `heads` when `heads_output(X)` is already at hand, so the heads do not predict twice."""
        pred = self._predict_matrix(X, heads)
        score = self._score(self._value(pred))
        nan = np.full(len(X), np.nan)
        return pd.DataFrame(
            {
                "score": score.astype(int),
                "grade": self.grade(score),
                "p_accept": pred.get("accepted", nan),
                "p_won": pred.get("won", nan),
                "expected_revenue": pred.get("expected_revenue", nan),
            }
        )

    def predict(self, leads: pd.DataFrame, allow_missing: bool = False) -> pd.DataFrame:
        """Score raw lead rows (any column order, extra columns ignored); index follows `leads`."""
        out = self.predict_matrix(self.transformer_.transform(leads, allow_missing=allow_missing))
        out.index = leads.index
        return out

    # ---------------------------------------------------------------- explaining
    def contributions(self, X: np.ndarray, head: str) -> pd.DataFrame:
        """Exact TreeSHAP contributions (log-odds for probability heads) summed per original column."""
        contrib = self.heads_[head].predict(X, pred_contrib=True, num_threads=threads_for(len(X)))[:, :-1]
        per_piece = pd.DataFrame(contrib, columns=self.transformer_.feature_names_out_)
        return per_piece.T.groupby(self.transformer_.sources_, sort=False).sum().T

    def explain(self, leads: pd.DataFrame, k: int = 3, allow_missing: bool = False) -> list[list[Reason]]:
        """Per lead, the top `k` positive and `k` negative reasons for the acceptance and win heads."""
        X, status = self.transformer_.transform_with_status(leads, allow_missing=allow_missing)
        return self.explain_transformed(leads, X, status, k)

    def explain_transformed(
        self, leads: pd.DataFrame, X: np.ndarray, status: pd.DataFrame, k: int = 3
    ) -> list[list[Reason]]:
        """`explain` for leads already transformed (callers that also score reuse the matrix)."""
        specs = self.transformer_.schema_.features
        states = status.to_numpy()
        raw = [leads[s.name].to_numpy(object) if s.name in leads.columns else None for s in specs]
        per_head = {h: self.contributions(X, h).to_numpy() for h in PROBABILITY_HEADS if h in self.heads_}
        reasons: list[list[Reason]] = []
        for i in range(len(leads)):
            row: list[Reason] = []
            for head, contrib in per_head.items():
                c = contrib[i]
                order = np.argsort(c, kind="stable")
                picked = [j for j in order[::-1][:k] if c[j] > 0] + [j for j in order[:k] if c[j] < 0]
                for j in picked:
                    spec, state = specs[j], states[i, j]
                    value = display_value(None if raw[j] is None else raw[j][i], spec.kind, state)
                    size = float(c[j])
                    row.append(
                        Reason(head, spec.name, value, state, round(size, 4), sentence(head, spec.name, value, size))
                    )
            reasons.append(row)
        return reasons
