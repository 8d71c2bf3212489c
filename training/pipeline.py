"""`leadscore train`: validate, split, fit, evaluate, log to MLflow, register, gate."""

from __future__ import annotations

import json
import logging
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow
import pandas as pd

from leadscore.datasets.files import frame_hash, load_config, load_responses, load_table, write_csv
from leadscore.features.config import ConfigError, LeadscoreConfig
from leadscore.features.transform import MissingColumnsError
from leadscore.models.artifact import save_scorer
from leadscore.models.registry import LoadedModel
from leadscore.models.scorer import targets
from leadscore.records.tables import read_latest_decisions
from leadscore.training import tracking
from leadscore.training.evaluate import (
    evaluate_scorer,
)
from leadscore.training.feedback import apply_feedback, rejection_reasons
from leadscore.training.fit import FitResult, Step, fit_and_evaluate, no_progress, with_behaviour
from leadscore.training.gate import Comparison, GateDecision, decide
from leadscore.training.history import history_records
from leadscore.training.plots import monthly_rate_plot, training_plots

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """What `leadscore train` prints."""

    run_id: str
    model_name: str
    version: str
    decision: GateDecision
    fit: FitResult
    feedback: dict[str, int] = field(default_factory=dict)
    rejection_reasons: pd.DataFrame = field(default_factory=pd.DataFrame)
    interrupted: bool = False
    """Ctrl-C arrived while registering: registration was finished first, so the registry is consistent."""


_MIN_COMPARE_LEADS, _MIN_COMPARE_POSITIVES = 200, 20


def _fit(
    raw: pd.DataFrame | None,
    data_path: str,
    config: LeadscoreConfig,
    allow_leaky: bool,
    step: Step,
    dask_address: str | None,
    responses: pd.DataFrame | None = None,
) -> tuple[FitResult, dict[str, int]]:
    """Fit here, or on the Dask cluster at `dask_address`; returns the fit and its row counts
    (on a cluster `fit.split` holds samples of each fold, so the counts come from the cluster)."""
    if dask_address:
        from leadscore.training.distributed import train_distributed

        cluster = train_distributed(data_path, config, dask_address, allow_leaky, step, responses=responses)
        rows = {f"{fold}_rows": n for fold, n in cluster.rows.items()}
        return cluster.fit, rows | {"input_rows": sum(cluster.rows.values())}
    fit = fit_and_evaluate(raw, config, allow_leaky, step, responses)
    return fit, fit.split.sizes() | {"input_rows": len(raw)}


def compare_with_champion(champion: LoadedModel | None, fit: FitResult, config: LeadscoreConfig) -> Comparison | None:
    """The champion and the new model on the same holdout leads, those the champion was not fitted on; or why
    the champion is no fair opponent (another outcome definition, a column the config now excludes)."""
    if champion is None:
        return None
    old, version, metric = champion.scorer, str(champion.version), config.promotion_metric

    def no_contest(why: str) -> Comparison:
        return Comparison(version, metric, no_contest=f"champion v{version} {why}")

    if old.data.outcome_columns != config.data.outcome_columns:
        return no_contest(f"predicts other outcomes ({old.data.outcome_columns}), so it is no fair opponent")
    excluded = sorted(set(old.transformer_.schema_.names) & config.data.non_feature_columns)
    if excluded:
        return no_contest(f"uses column(s) {excluded} that the config now excludes, so it is no fair opponent")
    holdout = fit.split.holdout
    unseen = holdout[~old.seen(holdout[config.data.id])]
    positives = int(targets(unseen, config.data)[metric.split("_")[0]].sum()) if len(unseen) else 0
    if len(unseen) < _MIN_COMPARE_LEADS or positives < _MIN_COMPARE_POSITIVES:
        return no_contest(
            f"was fitted on {len(holdout) - len(unseen)} of the {len(holdout)} holdout leads; too few are left "
            "for a fair comparison"
        )
    try:
        champion_value = evaluate_scorer(old, unseen)[metric]
    except MissingColumnsError as err:
        return no_contest(f"cannot score the new data ({err.columns} missing)")
    return Comparison(version, metric, champion_value, evaluate_scorer(fit.evaluated, unseen)[metric], len(unseen))


@contextmanager
def _finish_before_interrupt() -> Iterator[list[bool]]:
    """Ctrl-C while registering waits until the version and its alias are both written, so the registry is
    never left half-done; the yielded list is non-empty when an interrupt arrived meanwhile."""
    caught: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    previous = signal.signal(signal.SIGINT, lambda *_: caught.append(True))
    try:
        yield caught
    finally:
        signal.signal(signal.SIGINT, previous)


def train(
    data_path: Path | str,
    config_path: Path,
    tracking_uri: str | None = None,
    model_name: str | None = None,
    allow_leaky: bool = False,
    step: Step = no_progress,
    feedback_url: str | None = None,
    dask_address: str | None = None,
    promote_anyway: bool = False,
) -> TrainResult:
    """Run the whole training job; a failure leaves the registry untouched and the MLflow run FAILED.

    `model_name` defaults to `[model].name` of the config. With `feedback_url`, sales decisions from the
    feedback store (those given on leads of the model `model_name`) are joined in as acceptance labels (rule in
    `training.feedback`), and the run records how
    many labels came from feedback. With `dask_address`, `data_path` is partitioned Parquet (a directory or
    an fsspec URL) and fitting runs on that Dask cluster (`training.distributed`). `promote_anyway` makes the
    new version champion even when the gate says no (the reason records it)."""
    config = load_config(config_path)
    model_name = model_name or config.model.name
    if dask_address and feedback_url:
        raise ConfigError("sales feedback cannot be joined on a Dask cluster yet: retrain from a local lead file")
    if feedback_url and not config.data.accepted:
        raise ConfigError(
            "retrain joins sales decisions as acceptance labels: name the acceptance column in [data].accepted"
        )
    if dask_address and (config.data.decided_at or config.training.outcome_window_days):
        raise ConfigError(
            "an outcome window ([data].decided_at, [training].outcome_window_days) needs every lead's age against "
            "the newest one; it cannot be used on a Dask cluster yet: train from a local lead file"
        )
    raw = None if dask_address else load_table(Path(data_path))
    responses = load_responses(config, config_path)
    decisions = read_latest_decisions(feedback_url, model_name) if feedback_url else None
    tracking.configure(tracking_uri)
    with mlflow.start_run(run_name=tracking.run_name(model_name, data_path)) as run:
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
        if raw is not None:
            tracking.log_training_data(raw, data_path)
        fit, rows = _fit(raw, str(data_path), config, allow_leaky, step, dask_address, responses)
        mlflow.log_params(rows | {"split_by_time": fit.split.by_time, "dask": bool(dask_address)})
        mlflow.log_params(
            {
                f"head.{h}.{k}": v
                for h, st in getattr(fit.scorer, "head_settings_", {}).items()
                for k, v in (st.params | {"rounds": st.rounds, "train_rows": st.train_rows}).items()
            }
        )
        settings = getattr(fit.evaluated, "head_settings_", {})  # none on a cluster (`training.distributed`)
        mlflow.set_tags({f"head.{h}.family": st.why for h, st in settings.items() if st.why})
        mlflow.set_tags(
            {
                "metrics_are_of": "the model fitted on the fit fold, scored on the most recent holdout; the "
                "registered model repeats its settings on all rows",
                "history_notes": " | ".join(fit.notes) or "none",
            }
        )
        mlflow.log_dict(fit.scorer.transformer_.schema_.to_dict(), "schema.json")
        mlflow.log_dict(
            {"warnings": [str(w) for w in fit.report.warnings], "leaky": [asdict(f) for f in fit.leaky]},
            "validation.json",
        )
        step("comparing with the champion on the same holdout")
        comparison = compare_with_champion(tracking.current_champion(model_name), fit, config)
        if comparison is not None and comparison.champion is not None:
            mlflow.log_metric(f"champion_{comparison.metric}", comparison.champion)
        mlflow.log_metrics({k: v for k, v in fit.metrics.items() if pd.notna(v)})
        if fit.calibration is not None:
            mlflow.log_metrics(fit.calibration.metrics())
            mlflow.set_tags({f"calibration_{h}": b for h, b in fit.calibration.basis.items()})
        step("writing plots and the model")
        with tempfile.TemporaryDirectory(prefix="leadscore-run-") as tmp:
            for path in training_plots(fit.evaluated, fit.split.holdout, Path(tmp) / "plots"):
                mlflow.log_artifact(str(path), "plots")
            if len(fit.monthly):
                chart = monthly_rate_plot(fit.monthly, Path(tmp) / "plots" / "monthly_rates.png")
                mlflow.log_artifact(str(chart), "plots")
                mlflow.log_text(fit.monthly.to_csv(index=False), "history/monthly_rates.csv")
            history = history_records(fit.monthly)
            artifact = save_scorer(fit.scorer, Path(tmp) / "leadscorer", fit.metrics, history)
            step("registering the model")
            with _finish_before_interrupt() as interrupted:
                example = tracking.input_example(fit.split.holdout, fit.scorer.transformer_.schema_)
                mv = tracking.log_model(fit.scorer, artifact, model_name, example)
                decision = decide(
                    str(mv.version), fit.quality, comparison, config.training.promotion_tolerance, promote_anyway
                )
                tracking.record_decision(model_name, decision, fit.quality)
                mlflow.set_tags(
                    {
                        "gate_alias": decision.alias or "none",
                        "gate_reason": decision.reason,
                        "model_version": mv.version,
                    }
                )
                mlflow.log_text(json.dumps(fit.metrics, indent=2, sort_keys=True), "metrics.json")
        reasons = pd.DataFrame()
        if decisions is not None and len(decisions):
            rows = raw if responses is None else with_behaviour(raw, responses, config)[0]
            grades = fit.scorer.predict(rows)["grade"]
            reasons = rejection_reasons(decisions, raw, grades, config.data)
            mlflow.log_text(write_csv(reasons, index=False), "feedback/rejection_reasons.csv")
    return TrainResult(
        run.info.run_id, model_name, str(mv.version), decision, fit, feedback_counts, reasons, bool(interrupted)
    )
