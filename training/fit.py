"""Validate, split, fit and evaluate one model: everything of `leadscore train` but tracking.

Tests, benchmarks and distributed training (`training.distributed`) use these without MLflow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leadscore.features.coerce import to_datetime
from leadscore.features.config import LeadscoreConfig
from leadscore.features.responses import ResponseSpec, response_features
from leadscore.features.validation import ValidationReport, prepare_training_frame, response_warnings
from leadscore.models.scorer import LeadScorer
from leadscore.training.calibration import CalibrationChoice, choose_calibration
from leadscore.training.evaluate import (
    LeakFinding,
    evaluate_scorer,
    history_drift,
    holdout_metrics,
    leakage_error,
    leaky_columns,
)
from leadscore.training.gate import QualityCheck, quality_check
from leadscore.training.history import maturing_warning, monthly_rates, rate_moves
from leadscore.training.split import Split, split_leads

Step = Callable[[str], None]
"""Progress callback: receives one line describing the step that starts."""


def no_progress(_: str) -> None:
    """The default `Step`: report nothing."""
    return None


@dataclass
class FitResult:
    """The model to register, the fit it was judged by, and what the checks found.

    `evaluated` is fitted on the fit fold (settings chosen and early-stopped on the validation fold) and is
    the model every holdout number describes; `scorer` repeats its settings on all history and is the one
    registered and served (`LeadScorer.refit`)."""

    scorer: LeadScorer
    split: Split
    metrics: dict[str, float]
    report: ValidationReport
    leaky: list[LeakFinding]
    evaluated: LeadScorer
    quality: QualityCheck
    notes: list[str]
    """Warnings about the numbers: drift between the folds and across months, outcomes that look still
    maturing, a revenue head dropped or unchecked."""
    monthly: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Decided leads and outcome rates per month of creation (`training.history.monthly_rates`)."""
    calibration: CalibrationChoice | None = None
    """What the registered model's calibrator was fitted on, and the backtest that chose it."""


_MIN_CHECK_DEALS = 20
"""Holdout deals with revenue needed to check the revenue head against history."""
_REVENUE_TOLERANCE = 3.0
"""A revenue head whose holdout total is off by more than this factor is dropped."""


def heads_phrase(config: LeadscoreConfig) -> str:
    """E.g. "acceptance and win heads": only what the config trains."""
    words = {"accepted": "acceptance", "won": "win"}
    names = [words[h] for h in config.heads] + (["revenue"] if config.data.revenue else [])
    listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
    return f"{listed} head{'s' if len(names) > 1 else ''}"


def check_revenue(
    scorer: LeadScorer, metrics: dict[str, float], holdout: pd.DataFrame, X_hold: np.ndarray | None = None
) -> list[str]:
    """Drop a revenue head whose holdout total is off by more than 3x from the (capped) actual revenue; say
    when there are too few holdout deals to check it. Updates `metrics` when the head is dropped."""
    if scorer.revenue_basis != "model":
        return []
    deals, ratio = int(metrics["revenue_deals"]), metrics["revenue_predicted_over_actual"]
    if deals < _MIN_CHECK_DEALS:
        return [f"revenue head not checked: only {deals} holdout leads declare revenue ({_MIN_CHECK_DEALS} needed)"]
    if 1 / _REVENUE_TOLERANCE <= ratio <= _REVENUE_TOLERANCE:
        return []
    scorer.drop_revenue_head()
    metrics.update({k: v for k, v in evaluate_scorer(scorer, holdout, X_hold).items() if k.startswith("revenue_")})
    return [
        f"revenue head dropped: it predicted {ratio:.2f}x the holdout's revenue (deals capped at "
        f"{scorer.revenue_cap_:,.0f}); expected revenue is p_won x the capped historical mean deal "
        f"({scorer.revenue_mean_:,.0f}) instead"
    ]


def with_behaviour(
    frame: pd.DataFrame, responses: pd.DataFrame, config: LeadscoreConfig
) -> tuple[pd.DataFrame, ResponseSpec]:
    """Validated leads plus their behavioural features, each lead seeing only the responses before its
    creation plus the decision window (point in time: nothing later reaches a training row)."""
    if config.responses is None or not config.data.created_at:
        raise ValueError("behavioural features need [responses] and [data].created_at in the config")
    spec = ResponseSpec.fit(responses, config.responses)
    return add_behaviour(frame, responses, spec, config), spec


def add_behaviour(
    frame: pd.DataFrame, responses: pd.DataFrame, spec: ResponseSpec, config: LeadscoreConfig
) -> pd.DataFrame:
    """`with_behaviour` under a fitted `spec`: row by row, so a partition at a time gives the same columns."""
    as_of = spec.training_as_of(to_datetime(frame[config.data.created_at])[0])
    features = response_features(frame[config.data.id], as_of, responses, spec)
    return pd.concat([frame.drop(columns=list(features.columns), errors="ignore"), features], axis=1)


def leak_findings(
    frame: pd.DataFrame, config: LeadscoreConfig, responses: pd.DataFrame | None = None
) -> list[LeakFinding]:
    """The leak check `train` runs, on the folds it would split and with the behavioural columns it would
    build (a column is judged against all the others `train` has): `validate` reports it before any fitting."""
    if config.responses is not None and responses is not None:
        frame = with_behaviour(frame, responses, config)[0]
    split = split_leads(frame, config)
    return leaky_columns(split.train, split.valid, config.data, config.training)


def fit_and_evaluate(
    raw: pd.DataFrame,
    config: LeadscoreConfig,
    allow_leaky: bool = False,
    step: Step = no_progress,
    responses: pd.DataFrame | None = None,
) -> FitResult:
    """Everything but tracking: the part tests and benchmarks call directly. `responses` (validated, see
    `features.validation.validate_responses`) is required when the config has `[responses]`."""
    step("validating data")
    prepared = prepare_training_frame(raw, config)
    frame, spec = prepared.decided, None  # open leads have nothing to learn from yet
    if config.responses is not None:
        if responses is None:
            raise ValueError("the config has [responses]: pass the validated response events")
        step("building point-in-time behavioural features from the responses")
        prepared.report.warnings.extend(response_warnings(responses, prepared.frame, config))
        frame, spec = with_behaviour(frame, responses, config)
    split = split_leads(frame, config)
    step("checking for leaky columns")
    leaky = leaky_columns(split.train, split.valid, config.data, config.training)
    if leaky and not allow_leaky:
        raise leakage_error(leaky)
    step(f"fitting the {heads_phrase(config)} (settings chosen on the validation fold)")
    evaluated = LeadScorer(config.data, config.training, labels=config.labels, responses=spec).fit(
        split.train, split.valid
    )
    step("evaluating on the holdout")
    X_hold = evaluated.transformer_.transform(split.holdout)  # once, for the metrics and baselines
    metrics = holdout_metrics(evaluated, split.train, split.holdout, X_hold)
    monthly = monthly_rates(frame, config)
    notes = history_drift(split.train, split.holdout, config.data) + rate_moves(monthly)
    notes += maturing_warning(monthly, config)
    notes += check_revenue(evaluated, metrics, split.holdout, X_hold)
    step("choosing what the calibration is fitted on (backtest on the most recent fold)")
    calibration = choose_calibration(evaluated, split, X_hold)
    step(f"refitting on all {len(frame)} leads with the settings found")
    recent = pd.concat([split.valid, split.holdout])
    scorer = evaluated.refit(frame, recent, calibration=calibration.folds)
    if evaluated.revenue_basis != scorer.revenue_basis:
        scorer.drop_revenue_head()
    quality = quality_check(metrics, config.training.baseline_tolerance)
    return FitResult(scorer, split, metrics, prepared.report, leaky, evaluated, quality, notes, monthly, calibration)
