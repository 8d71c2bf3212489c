"""`leadscore train`: validate, split, fit, evaluate, log to MLflow, register, gate."""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import pandas as pd

from features.config import ConfigError, LeadscoreConfig
from features.transform import MissingColumnsError
from features.validation import ValidationReport, prepare_training_frame
from models.artifact import save_scorer
from models.scorer import LeadScorer
from training import tracking
from training.data import frame_hash, load_config, load_table
from training.evaluate import evaluate_scorer, holdout_metrics, leakage_error, leaky_columns
from training.feedback import apply_feedback, read_decisions, rejection_reasons
from training.plots import training_plots
from training.split import Split, split_leads

log = logging.getLogger(__name__)
Step = Callable[[str], None]


@dataclass
class FitResult:
    """A fitted scorer with the split it came from and its holdout numbers."""

    scorer: LeadScorer
    split: Split
    metrics: dict[str, float]
    report: ValidationReport
    leaky: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainResult:
    """What `leadscore train` prints."""

    run_id: str
    model_name: str
    version: str
    decision: tracking.GateDecision
    fit: FitResult
    feedback: dict[str, int] = field(default_factory=dict)
    rejection_reasons: pd.DataFrame = field(default_factory=pd.DataFrame)


def _noop(_: str) -> None:
    return None


def fit_and_evaluate(
    raw: pd.DataFrame, config: LeadscoreConfig, allow_leaky: bool = False, step: Step = _noop
) -> FitResult:
    """Everything but tracking: the part tests and benchmarks call directly."""
    step("validating data")
    prepared = prepare_training_frame(raw, config)
    split = split_leads(prepared.frame, config)
    step("checking for leaky columns")
    leaky = leaky_columns(split.train, split.valid, config.data, config.training.leak_auc)
    if leaky and not allow_leaky:
        raise leakage_error(leaky)
    step("fitting acceptance, win and revenue heads")
    scorer = LeadScorer(config.data, config.training).fit(split.train, split.valid)
    step("evaluating on the holdout")
    metrics = holdout_metrics(scorer, split.train, split.holdout)
    return FitResult(scorer, split, metrics, prepared.report, leaky)


def _fit(
    raw: pd.DataFrame | None,
    data_path: str,
    config: LeadscoreConfig,
    allow_leaky: bool,
    step: Step,
    dask_address: str | None,
) -> tuple[FitResult, dict[str, int]]:
    """Fit here, or on the Dask cluster at `dask_address`; returns the fit and its row counts
    (on a cluster `fit.split` holds samples of each fold, so the counts come from the cluster)."""
    if dask_address:
        from training.distributed import train_distributed

        cluster = train_distributed(data_path, config, dask_address, allow_leaky, step)
        rows = {f"{fold}_rows": n for fold, n in cluster.rows.items()}
        return cluster.fit, rows | {"input_rows": sum(cluster.rows.values())}
    fit = fit_and_evaluate(raw, config, allow_leaky, step)
    return fit, fit.split.sizes() | {"input_rows": len(raw)}


def _champion_metric(model_name: str, holdout: pd.DataFrame, metric: str) -> tuple[str | None, float | None]:
    """The champion's gate metric on *this* run's holdout, so both models face the same leads."""
    champion = tracking.current_champion(model_name)
    if champion is None:
        return None, None
    try:
        value = evaluate_scorer(champion.scorer, holdout).get(metric)
    except MissingColumnsError as err:
        log.warning("champion cannot score the new holdout (%s); promoting the challenger", err)
        return champion.version, None
    return champion.version, value


def train(
    data_path: Path | str,
    config_path: Path,
    tracking_uri: str | None = None,
    model_name: str = "leadscore",
    allow_leaky: bool = False,
    step: Step = _noop,
    feedback_url: str | None = None,
    dask_address: str | None = None,
) -> TrainResult:
    """Run the whole training job; a failure leaves the registry untouched and the MLflow run FAILED.

    With `feedback_url`, sales decisions from the feedback store are joined in as acceptance labels
    (rule in `training.feedback`), and the run records how many labels came from feedback.
    With `dask_address`, `data_path` is partitioned Parquet (a directory or an fsspec URL) and fitting runs on
    that Dask cluster (`training.distributed`); the registered model is the same kind of artifact."""
    config = load_config(config_path)
    if dask_address and feedback_url:
        raise ConfigError("sales feedback cannot be joined on a Dask cluster yet: retrain without --dask")
    raw = None if dask_address else load_table(Path(data_path))
    decisions = read_decisions(feedback_url) if feedback_url else None
    tracking.configure(tracking_uri)
    with mlflow.start_run() as run:
        feedback_counts: dict[str, int] = {}
        if decisions is not None:
            step("joining sales feedback")
            joined = apply_feedback(raw, decisions, config.data)
            raw, feedback_counts = joined.frame, joined.counts
            labels = feedback_counts["feedback_new_labels"] + feedback_counts["feedback_overrode_crm"]
            mlflow.log_metrics(feedback_counts | {"labels_from_feedback": labels})
        mlflow.set_tags(
            {
                "git_commit": tracking.git_commit(),
                "data_path": str(data_path),
                "data_hash": "not computed on a cluster" if raw is None else frame_hash(raw),
            }
        )
        mlflow.log_params(
            {f"data.{k}": v for k, v in config.data.model_dump().items()}
            | {f"training.{k}": v for k, v in config.training.model_dump().items()}
        )
        mlflow.log_text(Path(config_path).read_text(encoding="utf-8-sig"), "config/leadscore.toml")
        fit, rows = _fit(raw, str(data_path), config, allow_leaky, step, dask_address)
        mlflow.log_params(rows | {"split_by_time": fit.split.by_time, "dask": bool(dask_address)})
        mlflow.log_dict(fit.scorer.transformer_.schema_.to_dict(), "schema.json")
        mlflow.log_dict({"warnings": [str(w) for w in fit.report.warnings], "leaky": fit.leaky}, "validation.json")
        step("comparing with the champion on the same holdout")
        metric = config.training.promotion_metric
        if metric not in fit.metrics:
            raise ValueError(
                f"[training].promotion_metric {metric!r} is not computed; choose one of {sorted(fit.metrics)}"
            )
        champion_version, champion_value = _champion_metric(model_name, fit.split.holdout, metric)
        if champion_value is not None:
            mlflow.log_metric(f"champion_{metric}", champion_value)
        mlflow.log_metrics({k: v for k, v in fit.metrics.items() if pd.notna(v)})
        step("writing plots and the model")
        with tempfile.TemporaryDirectory(prefix="leadscore-run-") as tmp:
            for path in training_plots(fit.scorer, fit.split.holdout, Path(tmp) / "plots"):
                mlflow.log_artifact(str(path), "plots")
            artifact = save_scorer(fit.scorer, Path(tmp) / "leadscorer", fit.metrics)
            step("registering the model")
            mv = tracking.log_model(fit.scorer, artifact, model_name)
        decision = tracking.promotion_gate(
            model_name,
            str(mv.version),
            metric,
            fit.metrics[metric],
            champion_value,
            champion_version,
            config.training.promotion_tolerance,
        )
        mlflow.set_tags({"gate_alias": decision.alias, "gate_reason": decision.reason, "model_version": mv.version})
        mlflow.log_text(json.dumps(fit.metrics, indent=2, sort_keys=True), "metrics.json")
        reasons = pd.DataFrame()
        if decisions is not None and len(decisions):
            grades = fit.scorer.predict(raw)["grade"]
            reasons = rejection_reasons(decisions, raw, grades, config.data)
            mlflow.log_text(reasons.to_csv(index=False), "feedback/rejection_reasons.csv")
    return TrainResult(run.info.run_id, model_name, str(mv.version), decision, fit, feedback_counts, reasons)
