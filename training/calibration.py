"""What the registered model's calibrator is fitted on, chosen by a backtest inside the training history.

The registered model is refit on all history, so its calibrator learns from out-of-fold predictions. Two
bases compete per head: the *recent* folds (validation and holdout, predicted by the judged model: right when
the rate keeps its latest level) and *all* history (those plus the fit fold, predicted by models fitted on the
rest of it: right when the rate swings and returns). Each basis is refitted without the most recent fold and
judged by its ECE there, the leads nearest to the ones the model will score; the better one calibrates the
registered model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.models.scorer import PROBABILITY_HEADS, Calibrator, LeadScorer, targets
from leadscore.training.evaluate import expected_calibration_error
from leadscore.training.split import Split

BASES = ("recent", "all")
FIT_FOLD_PARTS = 3
"""The fit fold is predicted in this many time-ordered parts, each by a model fitted on the others."""

Folds = dict[str, tuple[np.ndarray, np.ndarray]]
"""Head -> (raw out-of-fold probabilities, outcomes)."""


@dataclass(frozen=True)
class CalibrationChoice:
    """Per head: the basis chosen, the backtest ECE of each basis, and the predictions to calibrate on."""

    basis: dict[str, str]
    backtest: dict[str, dict[str, float]]
    folds: Folds

    def lines(self, metrics: dict[str, float]) -> list[str]:
        """One line per head for `train`: the choice, the backtest, and the holdout ECE beside logistic
        regression's on the same leads."""
        out = []
        for head, basis in self.basis.items():
            scores = ", ".join(f"{b} {v:.3f}" for b, v in self.backtest[head].items())
            out.append(
                f"{head} calibration fitted on {'the recent folds' if basis == 'recent' else 'all history'} "
                f"(backtest ECE on the most recent fold: {scores}); holdout ECE {metrics[f'{head}_ece']:.3f} vs "
                f"logistic regression {metrics[f'baseline_logreg_{head}_ece']:.3f} on the same leads"
            )
        return out

    def metrics(self) -> dict[str, float]:
        """For the MLflow run."""
        return {
            f"calibration_backtest_{h}_{b}_ece": v for h, scores in self.backtest.items() for b, v in scores.items()
        }


def _raw(scorer: LeadScorer, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return scorer.heads_output(scorer.transformer_.transform(frame)).raw


def fit_fold_predictions(evaluated: LeadScorer, split: Split) -> dict[str, np.ndarray]:
    """Raw out-of-fold predictions for the fit fold: each time-ordered part by the judged model's settings
    fitted on the other parts."""
    parts = np.array_split(np.arange(len(split.train)), FIT_FOLD_PARTS)
    out: dict[str, np.ndarray] = {}
    for rows in parts:
        model = evaluated.refit(split.train.drop(split.train.index[rows]), split.valid)
        for head, raw in _raw(model, split.train.iloc[rows]).items():
            out.setdefault(head, np.zeros(len(split.train)))[rows] = raw
    return out


def choose_calibration(evaluated: LeadScorer, split: Split, X_hold: np.ndarray | None = None) -> CalibrationChoice:
    """Backtest both bases on the most recent fold (the holdout; `X_hold` when the caller transformed it) and
    return the winner's predictions per head, the holdout included. A tie keeps the recent folds."""
    data, method = evaluated.data, evaluated.training.calibration
    folds_ = (("fit", split.train), ("valid", split.valid), ("hold", split.holdout))
    y = {name: targets(frame, data) for name, frame in folds_}
    raw = {"fit": fit_fold_predictions(evaluated, split), "valid": _raw(evaluated, split.valid)}
    raw["hold"] = _raw(evaluated, split.holdout) if X_hold is None else evaluated.heads_output(X_hold).raw
    bases = {"recent": ("valid",), "all": ("fit", "valid")}
    basis, backtest, folds = {}, {}, {}
    for head in (h for h in PROBABILITY_HEADS if h in evaluated.heads_):
        scores = {}
        for name, parts in bases.items():
            p = np.concatenate([raw[part][head] for part in parts])
            t = np.concatenate([y[part][head] for part in parts])
            calibrated = Calibrator(method).fit(p, t).predict(raw["hold"][head])
            scores[name] = expected_calibration_error(y["hold"][head], calibrated)
        basis[head] = "all" if scores["all"] < scores["recent"] else "recent"
        parts = (*bases[basis[head]], "hold")
        folds[head] = (
            np.concatenate([raw[part][head] for part in parts]),
            np.concatenate([y[part][head] for part in parts]),
        )
        backtest[head] = scores
    return CalibrationChoice(basis, backtest, folds)
