"""`LeadScorer`: one fitted artifact holding the transformer, the LightGBM heads and their calibration.

Heads (each trained only when its outcome is configured):
- `accepted`: P(sales accepts the lead);
- `won`: P(deal won), unconditional over all leads (derived from revenue > 0 when only revenue is given);
- `revenue`: E[revenue | won], a tweedie regression on won leads rescaled to the balance property;
  expected revenue = p_won * E[revenue | won].
Probabilities are calibrated on the validation fold. The score is the percentile of the lead's expected
value among the training leads, so 90 means "better than 90% of past leads".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from leadscore.features.config import DataConfig, Labels, TrainingConfig, describe
from leadscore.features.contract import GRADES
from leadscore.features.responses import PREFIX, ResponseSpec, empty_responses, response_features
from leadscore.features.transform import LeadTransformer
from leadscore.models.drift import build_reference
from leadscore.models.linear import LinearHead, best_linear
from leadscore.models.reasons import Reason, display_value, sentence
from leadscore.models.revenue import deal_cap

GRADE_THRESHOLDS: dict[str, float] = dict(zip(GRADES[:-1], (80.0, 50.0, 20.0), strict=True))
"""Score floors for grades A/B/C; anything lower is D. A = top 20% of past leads, B = next 30%."""
PROBABILITY_HEADS = ("accepted", "won")
_LGB_FORBIDDEN = re.compile(r'[",:\[\]{}]')
"""Characters LightGBM refuses in feature names (it stores them as JSON); CRM headers often have them."""
_REFERENCE_POINTS = 2001
_REFERENCE_ROWS = 200_000
"""Training rows (evenly spaced) the score and drift references are taken from: quantiles need no more."""
_PARALLEL_ROWS = 50_000
"""Below this many rows one thread is faster: OpenMP start-up and contention cost more than they save."""


TWEEDIE_POWER = 1.5
"""Tweedie variance power of the revenue head: a point mass at zero (wins without declared revenue) plus a
continuous, right-skewed deal size."""
SEARCH_SPACE: tuple[dict[str, float], ...] = (
    {"num_leaves": 3, "min_data_in_leaf": 100},
    {"num_leaves": 7, "min_data_in_leaf": 50},
    {"num_leaves": 15, "min_data_in_leaf": 40},
    {"num_leaves": 31, "min_data_in_leaf": 20},
    {"num_leaves": 63, "min_data_in_leaf": 50, "lambda_l2": 10.0},
)
"""LightGBM settings each probability head tries on the validation fold (highest validation AUC wins):
from nearly additive trees, which match a linear model on simple funnels, to deep ones for interactions.
A fixed `[training].num_leaves` skips the search."""
REVENUE_SETTINGS: dict[str, float] = {"num_leaves": 7, "min_data_in_leaf": 40}
"""The revenue head fits on wins only, often a few hundred rows: small trees."""
_SEARCH_ROWS = 200_000
"""Training rows (evenly spaced) each candidate setting is tried on at most."""
_SEARCH_LEARNING_RATE = 0.2
"""Learning rate candidates are compared at on a sample of a large fold: 4x the default, so each needs about
a quarter of the rounds."""
_EARLY_STOPPING_ROUNDS = 50
COMPACT_TOLERANCE = 0.001
"""Validation AUC a probability head may give up for a cheaper model: among every candidate setting and every
number of rounds scoring within this of the best, the fewest trees x leaves wins (late rounds rarely add a
measurable 0.001 of AUC, and each costs every prediction and explanation)."""


Head = lgb.Booster | LinearHead
"""A fitted head: LightGBM trees, or the linear candidate (which answers the part of `Booster` used here)."""


def early_stopped_rounds(scores: Sequence[float]) -> int:
    """Rounds a head keeps given its validation score after each round (higher is better): LightGBM's
    `early_stopping` rule (stop after `_EARLY_STOPPING_ROUNDS` rounds without a new best, keep the best), for
    fits that record the whole curve instead of stopping (lightgbm.dask cannot early-stop)."""
    best = 0
    for i, score in enumerate(scores):
        if score > scores[best]:
            best = i
        elif i - best >= _EARLY_STOPPING_ROUNDS:
            break
    return best + 1


@dataclass(frozen=True)
class HeadSettings:
    """What a head's fit chose on the validation fold, so the refit on all history can repeat it."""

    objective: str
    params: dict[str, float]
    rounds: int
    train_rows: int
    valid_loss: float
    why: str = ""
    """Which family won the head (trees or linear) and by what validation AUC; MLflow records it."""

    @property
    def linear(self) -> bool:
        """The head is the linear candidate (`models.linear`), not LightGBM trees."""
        return self.params.get("family") == "linear"


def refit_rounds(settings: HeadSettings, rows: int) -> int:
    """Rounds of a refit on `rows` rows: the early-stopped rounds, scaled by how many more rows it sees."""
    return max(1, round(settings.rounds * rows / max(1, settings.train_rows)))


def revenue_deals(y: dict[str, np.ndarray]) -> int:
    """Won leads that declare revenue (> 0)."""
    return int(((y["won"] > 0) & (y["revenue"] > 0)).sum())


def id_hashes(ids: pd.Series, sort: bool = True) -> np.ndarray:
    """64-bit hashes of lead ids: enough to tell later which leads a model was fitted on, without the ids."""
    hashed = pd.util.hash_pandas_object(ids.astype(str), index=False).to_numpy(np.uint64)
    return np.sort(hashed) if sort else hashed


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

    @property
    def slope(self) -> float | None:
        """Platt's slope on the raw log-odds (the calibrated logit is slope x raw logit + intercept); None for
        isotonic, whose map has no single slope."""
        return None if self.method == "isotonic" else float(self.map_.coef_[0, 0])

    def predict(self, p_raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, clipped away from 0 and 1 so log loss stays finite."""
        if self.method == "isotonic":
            out = self.map_.predict(p_raw)
        else:
            # `LogisticRegression.predict_proba`'s own arithmetic for a binary fit (expit of X @ coef.T +
            # intercept), without its input checks, which cost more than the boosters on one lead.
            out = expit((_logit(p_raw)[:, None] @ self.map_.coef_.T + self.map_.intercept_).reshape(-1))
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
    """The fitted lead-scoring model; `fit` returns self, fitted attributes end in `_`.

    Follows scikit-learn's estimator conventions where they fit: parameters are the constructor's arguments,
    stored as given (`get_params`, `set_params`, so `sklearn.base.clone` gives an unfitted copy). Two do not
    fit: `fit(train, valid)` takes lead frames that hold their outcomes (three heads learn from three outcome
    columns, and the validation fold chooses settings, stops early and calibrates) rather than `(X, y)`; and it
    does not subclass `BaseEstimator`, whose pickling would warn on every model saved before it did.
    """

    labels: Labels | None = None
    """`[labels]` of the config: column labels and value meanings for reasons (class default: models pickled
    before labels existed load with none)."""

    responses: ResponseSpec | None = None
    """How the behavioural features are rebuilt from response events (class default: models without them)."""

    def __init__(
        self,
        data: DataConfig,
        training: TrainingConfig | None = None,
        labels: Labels | None = None,
        responses: ResponseSpec | None = None,
    ) -> None:
        self.data = data
        self.training = training if training is not None else TrainingConfig()
        self.labels = labels if labels is not None else {}
        self.responses = responses

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's arguments (scikit-learn's convention; `deep` has nothing to descend into)."""
        return {"data": self.data, "training": self.training, "labels": self.labels, "responses": self.responses}

    def set_params(self, **params: Any) -> LeadScorer:
        """Set constructor arguments by name; unknown names are errors, as in scikit-learn."""
        unknown = set(params) - set(self.get_params())
        if unknown:
            raise ValueError(f"LeadScorer has no parameter(s) {sorted(unknown)}; it has {sorted(self.get_params())}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def with_responses(
        self, leads: pd.DataFrame, responses: pd.DataFrame | None, as_of: pd.Series | pd.Timestamp
    ) -> pd.DataFrame:
        """`leads` plus this model's behavioural columns from `responses` (validated, canonical) strictly before
        `as_of`; unchanged for a model without them. Columns of the same name in `leads` are replaced, so a
        client cannot supply its own counts."""
        if self.responses is None:
            return leads
        events = responses if responses is not None else empty_responses()
        features = response_features(leads[self.data.id], as_of, events, self.responses)
        return pd.concat([leads.drop(columns=list(features.columns), errors="ignore"), features], axis=1)

    # ---------------------------------------------------------------- fitting
    def lgb_params(self, objective: str, rows: int, settings: dict[str, float] | None = None) -> dict[str, Any]:
        """LightGBM parameters of a head; public so distributed training and benchmarks use the same."""
        t = self.training
        params: dict[str, Any] = {
            "num_threads": threads_for(rows),
            "objective": objective,
            "learning_rate": t.learning_rate,
            "num_leaves": t.num_leaves or 15,
            "min_data_in_leaf": 40,
            "feature_fraction": 0.9,
            "lambda_l2": 1.0,
            "cat_smooth": 10.0,
            "seed": t.seed,
            "deterministic": True,
            "force_row_wise": True,
            "feature_pre_filter": False,  # a Dataset binned once serves candidates with any min_data_in_leaf
            "verbosity": -1,
        }
        if objective == "binary":
            params["metric"] = "auc"  # early stopping and the choice of settings follow ranking, as the gate does
        if objective == "tweedie":
            params["tweedie_variance_power"] = TWEEDIE_POWER
        return params | (settings or {})

    def _candidates(self, objective: str) -> tuple[dict[str, float], ...]:
        """Settings tried on the validation fold: the search space, or the one the config fixes."""
        if objective != "binary":
            return (REVENUE_SETTINGS,)
        if self.training.num_leaves is not None:
            return ({"num_leaves": self.training.num_leaves},)
        return SEARCH_SPACE

    def _train_head(
        self, objective: str, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray
    ) -> tuple[Head, HeadSettings]:
        """Fit every candidate setting with early stopping on the validation fold; keep the best, and the
        linear candidate (`models.linear`) instead when its validation AUC beats every tree setting's.

        The candidates share one binned Dataset, since the settings searched change the trees, not the bins.
        With more than `_SEARCH_ROWS` training rows, the search runs on that many evenly spaced rows at
        `_SEARCH_LEARNING_RATE` (the configured rate when higher), then the winner is fitted at the configured
        rate on all of them: choosing settings needs far fewer rows and rounds than the fit itself. Smaller
        folds search at the configured rate, and the winner's search fit is the fit: there the candidates'
        validation scores are close and noisy, and a coarser rate can rank them otherwise."""
        cats = self.transformer_.categorical_indices_
        names = lightgbm_names(self.transformer_.feature_names_out_)

        def datasets(rows: slice) -> tuple[lgb.Dataset, lgb.Dataset]:
            params = self.lgb_params(objective, len(y[rows]))
            train_set = lgb.Dataset(
                X[rows], y[rows], feature_name=names, categorical_feature=cats, params=params, free_raw_data=False
            ).construct()
            valid_set = lgb.Dataset(
                X_val, y_val, reference=train_set, feature_name=names, categorical_feature=cats, params=params
            ).construct()
            return train_set, valid_set

        def run(settings: dict[str, float], sets: tuple[lgb.Dataset, lgb.Dataset]) -> tuple[lgb.Booster, np.ndarray]:
            """The early-stopped booster and its validation score after each round (AUC, or tweedie loss)."""
            train_set, valid_set = sets
            curve: dict[str, dict[str, list[float]]] = {}
            booster = lgb.train(
                self.lgb_params(objective, train_set.num_data(), settings),
                train_set,
                num_boost_round=self.training.num_boost_round,
                valid_sets=[valid_set],
                callbacks=[lgb.early_stopping(_EARLY_STOPPING_ROUNDS, verbose=False), lgb.record_evaluation(curve)],
            )
            return booster, np.asarray(next(iter(curve["valid_0"].values())), dtype=float)

        candidates = self._candidates(objective)
        step = max(1, len(y) // _SEARCH_ROWS) if len(candidates) > 1 else 1
        rate = max(self.training.learning_rate, _SEARCH_LEARNING_RATE) if step > 1 else self.training.learning_rate
        searched = datasets(slice(None, None, step))
        tried = [(settings, *run(settings | {"learning_rate": rate}, searched)) for settings in candidates]
        settings, booster, curve = min(tried, key=lambda t: self._cost(objective, t[0], t[2], tried)[0])
        if step > 1:
            booster, curve = run(settings, datasets(slice(None)))
            tried = [(settings, booster, curve)]
        _, rounds, score = self._cost(objective, settings, curve, tried)
        if rounds < booster.current_iteration():
            booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=rounds))
        if objective != "binary":
            return booster, HeadSettings(objective, dict(settings), rounds, len(y), round(score, 6))
        trees = max(float(c.max()) for _, _, c in tried)
        leaves = self.lgb_params(objective, 1, settings)["num_leaves"]
        if len(candidates) > 1:
            linear, auc = best_linear(X[::step], y[::step], X_val, y_val, list(self.transformer_.categorical_indices_))
            if auc > trees:
                why = f"linear: validation AUC {auc:.4f} beats the best trees' {trees:.4f}"
                params = {"family": "linear", "C": linear.strength}
                return linear, HeadSettings(objective, params, 0, len(y), round(-auc, 6), why)
            why = f"trees ({rounds} x {leaves} leaves): validation AUC {score:.4f} (best {trees:.4f}); linear {auc:.4f}"
        else:
            why = f"trees ({rounds} x {leaves} leaves, fixed by the config): validation AUC {score:.4f}"
        return booster, HeadSettings(objective, dict(settings), rounds, len(y), round(-score, 6), why)

    def _cost(
        self,
        objective: str,
        settings: dict[str, float],
        curve: np.ndarray,
        tried: list[tuple[dict[str, float], lgb.Booster, np.ndarray]],
    ) -> tuple[float, int, float]:
        """(trees x leaves, rounds, validation score) of the cheapest cut of `curve` worth keeping: for a
        probability head, the fewest rounds whose AUC is within `COMPACT_TOLERANCE` of the best of every
        candidate `tried` (infinite cost when none is); for revenue, the round of lowest loss."""
        if objective != "binary":
            rounds = int(np.argmin(curve)) + 1
            return float(rounds), rounds, float(curve[rounds - 1])
        best = max(float(c.max()) for _, _, c in tried)
        good = np.flatnonzero(curve >= best - COMPACT_TOLERANCE)
        if not len(good):
            return float("inf"), len(curve), float(curve.max())
        rounds = int(good[0]) + 1
        leaves = self.lgb_params(objective, 1, settings)["num_leaves"]
        return float(rounds * leaves), rounds, float(curve[rounds - 1])

    def choose_head(
        self, objective: str, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray
    ) -> tuple[Head, HeadSettings]:
        """The settings search of `fit` for one head, alone, with its winner: for heads fitted elsewhere
        (lightgbm.dask), so both paths choose among the same candidates by the same rule. A tree winner is
        then refitted there; a linear winner is the head. Needs `transformer_`."""
        return self._train_head(objective, X, y, X_val, y_val)

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame) -> LeadScorer:
        """Fit the transformer and heads on `train`; choose settings, early-stop and calibrate on `valid`."""
        self.transformer_ = LeadTransformer(self.data, self.training.rare_category_share).fit(train)
        X, X_val = self.transformer_.transform(train), self.transformer_.transform(valid)
        y, y_val = targets(train, self.data), targets(valid, self.data)
        heads: dict[str, Head] = {}
        self.head_settings_: dict[str, HeadSettings] = {}
        for head in PROBABILITY_HEADS:
            if head in y:
                heads[head], self.head_settings_[head] = self._train_head("binary", X, y[head], X_val, y_val[head])
        if "revenue" in y:
            deals = revenue_deals(y) + revenue_deals(y_val)
            self.revenue_cap_ = deal_cap(
                np.concatenate([y["revenue"][y["won"] > 0], y_val["revenue"][y_val["won"] > 0]])
            )
            if deals >= self.training.min_positives:
                won, won_val = y["won"] > 0, y_val["won"] > 0
                heads["revenue"], self.head_settings_["revenue"] = self._train_head(
                    "tweedie",
                    X[won],
                    np.minimum(y["revenue"][won], self.revenue_cap_),
                    X_val[won_val],
                    np.minimum(y_val["revenue"][won_val], self.revenue_cap_),
                )
        self.seen_ids_ = id_hashes(pd.concat([train[self.data.id], valid[self.data.id]]))
        return self.assemble(self.transformer_, heads, (X, y), (X_val, y_val))

    def _unfitted_copy(self) -> LeadScorer:
        """A scorer with this one's parameters (constructor arguments) and none of its fitted state."""
        copy = type(self).__new__(type(self))
        copy.__dict__.update({k: v for k, v in self.__dict__.items() if not k.endswith("_")})
        return copy

    def refit(
        self,
        history: pd.DataFrame,
        recent: pd.DataFrame,
        X_recent: np.ndarray | None = None,
        calibration: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> LeadScorer:
        """The model to register: the settings this evaluated scorer found, fitted on all of `history`.

        Each head keeps its settings and its early-stopped number of rounds, scaled by how many more rows it
        now sees. The refit has no fold left to calibrate on, so its calibration is learned from this scorer's
        predictions for `recent` leads (the validation and holdout folds, which this scorer was not fitted on):
        out-of-fold predictions from the most recent history (`X_recent`: `recent` already transformed by this
        scorer, when the caller has it), or from `calibration` (head -> raw out-of-fold predictions and outcomes,
        `training.calibration`) when given. The schema and categories come from all rows."""
        transformer = LeadTransformer(self.data, self.training.rare_category_share).fit(history)
        X, y = transformer.transform(history), targets(history, self.data)
        names = lightgbm_names(transformer.feature_names_out_)
        cats = transformer.categorical_indices_
        heads: dict[str, Head] = {}
        settings_found: dict[str, HeadSettings] = {}
        for head, settings in self.head_settings_.items():
            rows = y["won"] > 0 if head == "revenue" else slice(None)
            target = np.minimum(y["revenue"][rows], self.revenue_cap_) if head == "revenue" else y[head]
            if settings.linear:
                rounds = 0
                heads[head] = LinearHead(list(cats), settings.params["C"]).fit(X[rows], target)
            else:
                rounds = refit_rounds(settings, len(target))
                dataset = lgb.Dataset(X[rows], target, feature_name=names, categorical_feature=cats)
                heads[head] = lgb.train(
                    self.lgb_params(settings.objective, len(target), settings.params), dataset, num_boost_round=rounds
                )
            settings_found[head] = HeadSettings(
                settings.objective, settings.params, rounds, len(target), settings.valid_loss, settings.why
            )
        if calibration is None:
            X_recent = self.transformer_.transform(recent) if X_recent is None else X_recent
            calibration = self.out_of_fold(X_recent, targets(recent, self.data))
        return self.refitted(
            transformer, heads, settings_found, (X, y), calibration, id_hashes(history[self.data.id])
        )

    def out_of_fold(
        self, X_recent: np.ndarray, y_recent: dict[str, np.ndarray]
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per probability head, this scorer's raw predictions for leads it was not fitted on, with their
        outcomes: what a refit on all history is calibrated on."""
        raw = self.heads_output(X_recent).raw
        return {h: (raw[h], y_recent[h]) for h in PROBABILITY_HEADS if h in self.heads_}

    def refitted(
        self,
        transformer: LeadTransformer,
        heads: dict[str, Head],
        head_settings: dict[str, HeadSettings],
        history: tuple[np.ndarray, dict[str, np.ndarray]],
        calibration: dict[str, tuple[np.ndarray, np.ndarray]],
        seen_ids: np.ndarray,
        X_reference: np.ndarray | None = None,
    ) -> LeadScorer:
        """The refit's artifact from heads refitted on all history (by `refit`, or on a cluster): calibrated on
        `calibration` (head -> this scorer's raw out-of-fold predictions and outcomes), the deal cap and
        revenue scale from `history`'s won leads (matrix in `transformer`'s columns, targets: the won rows are
        enough), score and drift references from `X_reference` (default: the history matrix)."""
        X, y = history
        final = self._unfitted_copy()
        final.transformer_, final.head_settings_, final.heads_ = transformer, dict(head_settings), dict(heads)
        if "revenue" in y:
            final.revenue_cap_ = deal_cap(y["revenue"][y["won"] > 0])
        final.seen_ids_ = seen_ids
        final._calibrate(calibration)
        if "revenue" in y:
            final._fit_revenue(X, y)
        return final._take_references(X if X_reference is None else X_reference)

    def assemble(
        self,
        transformer: LeadTransformer,
        heads: dict[str, Head],
        train: tuple[np.ndarray, dict[str, np.ndarray]],
        valid: tuple[np.ndarray, dict[str, np.ndarray]],
    ) -> LeadScorer:
        """Calibrate trained heads on the validation fold; take the score and drift references from `train`.

        Split from `fit` so heads trained elsewhere (lightgbm.dask on a cluster) become the same artifact;
        `train` and `valid` (matrix, targets) may then be samples of those folds."""
        (X, y), (X_val, y_val) = train, valid
        self.transformer_ = transformer
        self.heads_ = dict(heads)
        threads = threads_for(len(X_val))
        self._calibrate(
            {h: (heads[h].predict(X_val, num_threads=threads), y_val[h]) for h in PROBABILITY_HEADS if h in heads}
        )
        if "revenue" in y:
            if not hasattr(self, "revenue_cap_"):
                won = np.concatenate([y["revenue"][y["won"] > 0], y_val["revenue"][y_val["won"] > 0]])
                self.revenue_cap_ = deal_cap(won)
            self._fit_revenue(np.vstack([X, X_val]), {k: np.concatenate([y[k], y_val[k]]) for k in ("won", "revenue")})
        return self._take_references(X)

    def _calibrate(self, folds: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """One calibrator per probability head, from raw predictions on leads its booster was not fitted on."""
        self.calibrators_ = {h: Calibrator(self.training.calibration).fit(p, y) for h, (p, y) in folds.items()}

    def _fit_revenue(self, X: np.ndarray, y: dict[str, np.ndarray]) -> None:
        """E[revenue | won], counting zero-revenue wins and deals capped at `revenue_cap_`.

        With a revenue head, its predictions are rescaled so that they add up to the capped revenue of the won
        leads in `X` (the balance property; tweedie deviance on heavy tails under-predicts the mean). Without
        one (too few deals declare revenue), every lead gets the capped historical mean deal of a win."""
        won = y["won"] > 0
        capped = np.minimum(y["revenue"][won], self.revenue_cap_)
        self.revenue_deals_ = int((y["revenue"][won] > 0).sum())
        self.revenue_wins_ = int(won.sum())
        self.revenue_mean_ = float(capped.mean()) if len(capped) else 0.0
        if "revenue" in self.heads_:
            predicted = self.heads_["revenue"].predict(X[won], num_threads=threads_for(int(won.sum())))
            self.revenue_scale_ = float(capped.sum() / predicted.sum()) if predicted.sum() > 0 else 0.0

    def drop_revenue_head(self) -> None:
        """Fall back to the capped historical mean deal (the revenue head failed its check on history)."""
        self.heads_.pop("revenue", None)
        getattr(self, "head_settings_", {}).pop("revenue", None)

    @property
    def revenue_basis(self) -> str | None:
        """How expected revenue is computed: "model", "historical mean", or None without revenue."""
        if not hasattr(self, "revenue_cap_"):
            return None
        return "model" if "revenue" in self.heads_ else "historical mean"

    def trees(self) -> dict[str, int]:
        """Trees per head (0 for a linear head): what every prediction and explanation walks through."""
        return {head: booster.num_trees() for head, booster in self.heads_.items()}

    def seen(self, ids: pd.Series) -> np.ndarray:
        """Which of these lead ids this model was fitted on (so a fair comparison can leave them out)."""
        seen = getattr(self, "seen_ids_", None)
        if seen is None:
            return np.zeros(len(ids), dtype=bool)
        hashes = id_hashes(ids, sort=False)
        pos = np.clip(np.searchsorted(seen, hashes), 0, max(0, len(seen) - 1))
        return seen[pos] == hashes if len(seen) else np.zeros(len(ids), dtype=bool)

    def _take_references(self, X: np.ndarray) -> LeadScorer:
        """Score percentiles, grades and the drift reference, from the leads the model was fitted on."""
        X_ref = X[:: max(1, len(X) // _REFERENCE_ROWS)]
        value = self.expected_value(X_ref)
        reference = np.sort(value)
        grid = np.linspace(0, len(reference) - 1, min(_REFERENCE_POINTS, len(reference))).round().astype(int)
        self.score_reference_ = reference[grid]
        self.grade_thresholds_ = dict(GRADE_THRESHOLDS)
        transformer = self.transformer_
        self.drift_reference_ = build_reference(
            X_ref,
            transformer.sources_,
            {spec.name: spec.kind for spec in transformer.schema_.features},
            {name: len(codes) for name, codes in transformer.codes_.items()},
            self._score(value),
        )
        self.value_basis_ = (
            "expected_revenue" if hasattr(self, "revenue_cap_") else ("p_won" if "won" in self.heads_ else "p_accept")
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
        elif hasattr(self, "revenue_cap_"):
            out["revenue_if_won"] = np.full(len(X), self.revenue_mean_)
        if "revenue_if_won" in out:
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
        floors = GRADES[:-1]
        return np.select([score >= t[g] for g in floors], list(floors), default=GRADES[-1])

    def predict_columns(self, X: np.ndarray, heads: HeadOutput | None = None) -> dict[str, np.ndarray]:
        """Scores for a transformed matrix by column: score, grade, p_accept, p_won, expected_revenue (NaN for
        a head the model does not have).

        Pass `heads` when `heads_output(X)` is already at hand, so the heads do not predict twice."""
        pred = self._predict_matrix(X, heads)
        score = self._score(self._value(pred))
        nan = np.full(len(X), np.nan)
        return {
            "score": score.astype(int),
            "grade": self.grade(score),
            "p_accept": pred.get("accepted", nan),
            "p_won": pred.get("won", nan),
            "expected_revenue": pred.get("expected_revenue", nan),
        }

    def predict_matrix(self, X: np.ndarray, heads: HeadOutput | None = None) -> pd.DataFrame:
        """`predict_columns` as a frame."""
        return pd.DataFrame(self.predict_columns(X, heads))

    def predict(self, leads: pd.DataFrame, allow_missing: bool = False) -> pd.DataFrame:
        """Score raw lead rows (any column order, extra columns ignored); index follows `leads`."""
        out = self.predict_matrix(self.transformer_.transform(leads, allow_missing=allow_missing))
        out.index = leads.index
        return out

    # ---------------------------------------------------------------- explaining
    def score_basis(self) -> str:
        """Which head drives the 0-100 score, in words for sales."""
        won = "win probability" if "won" in self.heads_ else "acceptance probability"
        what = "expected revenue (win probability x deal size)" if self.revenue_basis else won
        return f"the score (0-100) ranks leads by {what}: the share of past leads this one beats"

    def reason_scale(self, head: str) -> float:
        """What TreeSHAP contributions are multiplied by so they speak on the scale of the number shown: Platt's
        slope for a probability head, so they add up to the calibrated logit (`reason_baseline` aside); 1 for
        isotonic calibration (see `reasons_explain`) and for revenue."""
        calibrator = self.calibrators_.get(head) if head in PROBABILITY_HEADS else None
        slope = calibrator.slope if calibrator is not None else None
        return 1.0 if slope is None else slope

    def reason_baseline(self, head: str) -> float:
        """The calibrated logit of a lead whose contributions are all zero (Platt applied to the booster's
        expected margin): contributions plus this add up exactly to the calibrated logit. Platt only."""
        booster = self.heads_[head]
        bias = float(booster.predict(np.zeros((1, booster.num_feature())), pred_contrib=True)[0, -1])
        return self.reason_scale(head) * bias + float(self.calibrators_[head].map_.intercept_[0])

    def reasons_explain(self) -> str:
        """What the probability heads' contributions add up to, in words (one calibration method per model)."""
        if all(c.slope is not None for c in self.calibrators_.values()):
            return "the log-odds of the calibrated probability shown: the contributions add up to it"
        return (
            "the model's log-odds before calibration: the isotonic calibration keeps the order of leads but not "
            "the sizes, so a reason says which way a column moves the probability shown, not by how much"
        )

    def source_contributions(self, X: np.ndarray, head: str) -> np.ndarray:
        """Exact TreeSHAP contributions summed per original column, as a rows x input columns array in schema
        order (a datetime column's two pieces are adjacent), times `reason_scale`: for a probability head
        with Platt calibration they explain the calibrated probability's log-odds, not the raw margin."""
        contrib = self.heads_[head].predict(X, pred_contrib=True, num_threads=threads_for(len(X)))[:, :-1]
        sources = self.transformer_.sources_
        starts = [j for j, name in enumerate(sources) if j == 0 or sources[j - 1] != name]
        per_column = np.add.reduceat(contrib, starts, axis=1) if len(starts) < len(sources) else contrib
        return per_column * self.reason_scale(head)

    def contributions(self, X: np.ndarray, head: str) -> pd.DataFrame:
        """`source_contributions` as a frame with the input column names."""
        return pd.DataFrame(self.source_contributions(X, head), columns=self.transformer_.schema_.names)

    def explain(self, leads: pd.DataFrame, k: int = 3, allow_missing: bool = False) -> list[list[Reason]]:
        """Per lead, the top `k` positive and `k` negative reasons for the acceptance and win heads."""
        X, status = self.transformer_.transform_with_status(leads, allow_missing=allow_missing)
        return self.explain_transformed(leads, X, status, k)

    def explain_transformed(
        self,
        leads: pd.DataFrame | Mapping[str, Sequence[object]],
        X: np.ndarray,
        status: pd.DataFrame | np.ndarray,
        k: int = 3,
    ) -> list[list[Reason]]:
        """`explain` for leads already transformed (callers that also score reuse the matrix). `leads` holds
        the raw values by column name (a frame, or lists), `status` the status words per input column.

        Contributions are computed once per head for the whole batch and the top and bottom `k` columns
        picked for every lead at once; only the picked reasons are put into words. The behavioural columns
        speak as one reason, "Responses: 3 responses in the last 30 days, last one 2 days ago"."""
        specs = list(self.transformer_.schema_.features)
        states = status.to_numpy() if isinstance(status, pd.DataFrame) else status
        raw = [_raw_column(leads, s.name) for s in specs]
        per_head = {h: self.source_contributions(X, h) for h in PROBABILITY_HEADS if h in self.heads_}
        behaviour = [j for j, s in enumerate(specs) if self.responses is not None and s.name.startswith(PREFIX)]
        behaviour_raw = {specs[j].name: raw[j] for j in behaviour if raw[j] is not None}
        if behaviour:
            kept = [j for j in range(len(specs)) if j not in set(behaviour)]
            per_head = {h: np.column_stack([c[:, kept], c[:, behaviour].sum(axis=1)]) for h, c in per_head.items()}
            states = np.column_stack([states[:, kept], np.full(len(X), "ok", dtype=object)])
            raw = [raw[j] for j in kept]
            specs = [specs[j] for j in kept]
        picked: list[tuple[str, np.ndarray, list[list[int]]]] = []
        for head, contrib in per_head.items():
            order = np.argsort(contrib, axis=1, kind="stable")
            top, bottom = order[:, ::-1][:, :k], order[:, :k]
            keep_top = np.take_along_axis(contrib, top, axis=1) > 0
            keep_bottom = np.take_along_axis(contrib, bottom, axis=1) < 0
            rows = zip(top.tolist(), keep_top.tolist(), bottom.tolist(), keep_bottom.tolist(), strict=True)
            columns = [
                [j for j, keep in zip(t, kt, strict=True) if keep] + [j for j, keep in zip(b, kb, strict=True) if keep]
                for t, kt, b, kb in rows
            ]
            picked.append((head, contrib, columns))
        reasons: list[list[Reason]] = [[] for _ in range(len(X))]
        words: dict[tuple[Any, ...], tuple[str | None, str]] = {}  # a batch repeats its categories
        for head, contrib, columns in picked:
            for i, row in enumerate(columns):
                for j in row:
                    size = float(contrib[i, j])
                    if j == len(specs) and self.responses is not None:  # the behavioural columns, together
                        value = self.responses.describe({name: values[i] for name, values in behaviour_raw.items()})
                        text = sentence(head, "responses", value, size)
                        reasons[i].append(Reason(head, "responses", value, "ok", round(size, 4), text))
                        continue
                    spec, state = specs[j], states[i, j]
                    given = None if raw[j] is None or state == "missing" else raw[j][i]
                    shown = repr(given) if type(given) is float else given  # -0.0 == 0.0, yet reads "-0"
                    key: tuple[Any, ...] | None = (j, state, type(given), shown)
                    try:
                        cached = words.get(key)  # type: ignore[arg-type]
                    except TypeError:  # an unhashable cell of a frame
                        key, cached = None, None
                    if cached is None:
                        label, meaning = describe(self.labels, spec.name, given)
                        cached = (label, display_value(given, spec.kind, state, meaning))
                        if key is not None:
                            words[key] = cached
                    label, value = cached
                    text = sentence(head, spec.name, value, size, label)
                    reasons[i].append(Reason(head, spec.name, value, state, round(size, 4), text))
        return reasons


def _raw_column(leads: pd.DataFrame | Mapping[str, Sequence[object]], name: str) -> Sequence[object] | None:
    """A column's raw values by row position, or None when the leads do not have it."""
    if name not in leads:
        return None
    column = leads[name]
    return column.to_numpy(object) if isinstance(column, pd.Series) else column
