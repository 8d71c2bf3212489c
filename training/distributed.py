"""Training on a Dask cluster, for lead tables that outgrow one machine (scoring: `scoring.distributed`).

Training reads partitioned Parquet (a local directory or any fsspec URL) as a Dask DataFrame. Row checks,
fold sizes, outcome counts and the feature statistics are computed per partition on the workers and merged;
only those summaries and bounded samples (`SAMPLE_ROWS` per fold) reach the client. The heads train with
`lightgbm.dask` on the workers, and the result is an ordinary `LeadScorer`: saved, registered and served
like one trained on a laptop.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import dask
import dask.dataframe as dd
import lightgbm as lgb
import numpy as np
import pandas as pd
from distributed import Client
from lightgbm.dask import DaskLGBMClassifier, DaskLGBMRegressor

from leadscore.datasets.cluster import connect, read_leads
from leadscore.features.config import LeadscoreConfig
from leadscore.features.schema import FeatureSchema, merge_summaries, schema_from_stats, summarize
from leadscore.features.transform import LeadTransformer
from leadscore.features.validation import (
    DataValidationError,
    Problem,
    ValidationReport,
    add_schema_problems,
    check_rows,
    floor_problems,
    open_leads,
)
from leadscore.models.scorer import PROBABILITY_HEADS, LeadScorer, targets
from leadscore.training.evaluate import history_drift, holdout_metrics, leakage_error, leaky_columns
from leadscore.training.fit import FitResult, Step, check_revenue, heads_phrase, no_progress
from leadscore.training.gate import quality_check
from leadscore.training.split import Split

SAMPLE_ROWS = 200_000
"""Rows per fold brought to the client: calibration, score references, leak check and holdout metrics."""
FOLDS = ("train", "valid", "holdout")
_FOLD = "__leadscore_fold__"
_TARGET = "__leadscore_target_{}__"
_EXAMPLES = 5
T = TypeVar("T")


@dataclass(frozen=True)
class ClusterFit:
    """A distributed training run: `fit.split` holds the client-side samples, `rows` the full fold sizes."""

    fit: FitResult
    rows: dict[str, int]


# ---------------------------------------------------------------- per-partition work (runs on workers)
def _coerced(part: pd.DataFrame, config: LeadscoreConfig) -> pd.DataFrame:
    """Coerced role columns of the decided leads: open ones have nothing to learn from yet."""
    coerced = check_rows(part, config)[0]
    return coerced[~open_leads(coerced, config).to_numpy(bool)]


def _problems(part: pd.DataFrame, config: LeadscoreConfig) -> pd.DataFrame:
    report = check_rows(part, config)[1]
    rows = [(p.column, p.message, p.count, "\x1f".join(p.rows)) for p in report.errors]
    return pd.DataFrame(rows, columns=["column", "message", "count", "rows"]).astype({"count": "int64"})


def _seconds(stamps: pd.Series) -> pd.Series:
    """UTC timestamps as whole seconds (missing ones fail validation anyway and count as 0 here)."""
    values = stamps.dt.tz_localize(None).to_numpy("datetime64[s]")
    return pd.Series(np.where(np.isnat(values), 0, values.astype("int64")), index=stamps.index)


def _with_fold(part: pd.DataFrame, config: LeadscoreConfig, edges: tuple[float, float]) -> pd.DataFrame:
    """Fold 0/1/2 (train/valid/holdout): by `created_at` against time edges, else by a hash of the id."""
    data = config.data
    if data.created_at:
        key = _seconds(part[data.created_at])
    else:
        salt = f"{config.training.seed:016d}"[-16:]
        key = pd.util.hash_pandas_object(part[data.id], index=False, hash_key=salt).to_numpy() % 1_000_000 / 1e6
    return part.assign(**{_FOLD: np.searchsorted(np.asarray(edges), key, side="right").astype("int8")})


def _matrix(part: pd.DataFrame, transformer: LeadTransformer) -> pd.DataFrame:
    """Transformed features plus the targets, in one frame so rows stay aligned without known divisions."""
    names = transformer.feature_names_out_
    out = pd.DataFrame(transformer.transform(part), columns=names, index=part.index)
    for head, values in targets(part, transformer.data).items():
        out[_TARGET.format(head)] = values
    return out


# ---------------------------------------------------------------- client-side helpers
def _tree_reduce(items: list[Any], combine: Callable[[T, T], T]) -> Any:
    """Pairwise reduction as a dask graph, so merging partition summaries is parallel and log-deep."""
    while len(items) > 1:
        pairs = [dask.delayed(combine)(a, b) for a, b in zip(items[::2], items[1::2], strict=False)]
        items = pairs + ([items[-1]] if len(items) % 2 else [])
    return items[0]


def _report(problems: pd.DataFrame, meta_report: ValidationReport) -> ValidationReport:
    """One problem per column and message, with counts summed over partitions."""
    report = ValidationReport(warnings=list(meta_report.warnings))
    for (column, message), group in problems.groupby(["column", "message"], sort=False):
        examples = [r for joined in group["rows"] for r in joined.split("\x1f") if r][:_EXAMPLES]
        report.errors.append(Problem(str(column), str(message), tuple(examples), int(group["count"].sum())))
    return report


def _fold_edges(frame: dd.DataFrame, config: LeadscoreConfig) -> tuple[float, float]:
    """Cut points of the train / valid / holdout folds: time quantiles (holdout = most recent) or hash shares."""
    t = config.training
    shares = (1 - t.holdout_fraction - t.validation_fraction, 1 - t.holdout_fraction)
    if not config.data.created_at:
        return shares
    stamps = frame[config.data.created_at].map_partitions(_seconds, meta=(None, "int64"))
    cuts = stamps.quantile(list(shares)).compute()
    return float(cuts.iloc[0]), float(cuts.iloc[1])


def _sample(frame: dd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """About `SAMPLE_ROWS` random rows of a fold of `size` rows, on the client."""
    if not size:
        return frame._meta
    return frame.sample(frac=min(1.0, SAMPLE_ROWS / size), random_state=seed).compute()


def _best_rounds(booster: lgb.Booster, X: np.ndarray, y: np.ndarray, objective: str) -> int:
    """Rounds with the lowest validation loss: lightgbm.dask cannot early-stop, so the heads train the full
    `num_boost_round` and are cut back afterwards on the validation sample (binary log loss / gamma NLL)."""
    raw = np.zeros(len(X))
    losses = []
    for i in range(booster.current_iteration()):
        raw += booster.predict(X, start_iteration=i, num_iteration=1, raw_score=True)
        if objective == "binary":
            losses.append(float(np.mean(np.logaddexp(0, raw) - y * raw)))
        else:
            losses.append(float(np.mean(y * np.exp(-raw) + raw)))
    return int(np.argmin(losses)) + 1


def _train_head(
    client: Client,
    scorer: LeadScorer,
    transformer: LeadTransformer,
    objective: str,
    matrix: dd.DataFrame,
    head: str,
    validation: tuple[np.ndarray, np.ndarray],
) -> lgb.Booster:
    """One head on the cluster; returns a plain Booster cut to its best round on the validation sample."""
    params = scorer.lgb_params(objective, 0)
    params.pop("num_threads")  # lightgbm.dask sets it from each worker's threads
    params.pop("objective")
    model_class = DaskLGBMClassifier if objective == "binary" else DaskLGBMRegressor
    model = model_class(client=client, objective=objective, n_estimators=scorer.training.num_boost_round, **params)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
        model.fit(
            matrix[transformer.feature_names_out_],
            matrix[_TARGET.format(head)],
            categorical_feature=transformer.categorical_indices_,
        )
    booster = model.booster_
    rounds = _best_rounds(booster, *validation, objective)
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=rounds))


def _folded(client: Client, raw: dd.DataFrame, config: LeadscoreConfig) -> dd.DataFrame:
    """Role columns coerced and a fold column added, persisted on the workers (training reads it thrice)."""
    coerced = client.persist(raw.map_partitions(_coerced, config, meta=check_rows(raw._meta, config)[0]))
    return client.persist(coerced.map_partitions(_with_fold, config, _fold_edges(coerced, config)))


def _fold(frame: dd.DataFrame, name: str) -> dd.DataFrame:
    return frame[frame[_FOLD] == FOLDS.index(name)].drop(columns=_FOLD)


def _positives(part: pd.DataFrame, config: LeadscoreConfig) -> pd.DataFrame:
    return pd.DataFrame(targets(part, config.data), index=part.index) > 0


def _check(
    raw: dd.DataFrame, frame: dd.DataFrame, config: LeadscoreConfig, report: ValidationReport
) -> tuple[dict[str, int], FeatureSchema]:
    """Every check of `prepare_training_frame`, from per-partition results merged on the cluster: row
    problems, duplicate ids, floors, and the feature schema from the training fold's column stats."""
    data = config.data
    ids = frame[data.id].value_counts()
    dupes = ids[ids > 1]
    summaries = [dask.delayed(summarize)(part, data) for part in _fold(frame, "train").to_delayed()]
    stats = _tree_reduce(summaries, merge_summaries).compute()
    found, folds, positives, duplicated, examples = dask.compute(
        raw.map_partitions(_problems, config, meta=_problems(raw._meta, config)),
        frame[_FOLD].value_counts(),
        frame.map_partitions(_positives, config).sum(),
        dupes.sum(),
        dupes.nlargest(_EXAMPLES),
    )
    rows = {name: int(folds.get(i, 0)) for i, name in enumerate(FOLDS)}
    per_partition_dupes = (found["column"] == data.id) & (found["message"] == "duplicate ids")
    report = _report(found[~per_partition_dupes], report)  # the cluster-wide count below covers them
    if duplicated:
        shown = tuple(str(i) for i in examples.index)
        report.errors.append(Problem(data.id, "duplicate ids", shown, int(duplicated)))
    if report.ok:
        counts = {role: int(positives[role]) for role in data.outcome_columns}
        report.errors.extend(floor_problems(sum(rows.values()), counts, config))
    schema = schema_from_stats(stats, data, config.training.rare_category_share)
    add_schema_problems(report, schema)
    if not report.ok:
        raise DataValidationError(report)
    return rows, schema


def _fit_heads(
    client: Client, train: dd.DataFrame, transformer: LeadTransformer, split: Split, config: LeadscoreConfig
) -> LeadScorer:
    """Train the heads on the cluster's training fold; calibrate and take references from the samples."""
    scorer = LeadScorer(config.data, config.training, labels=config.labels)
    matrix = client.persist(train.map_partitions(_matrix, transformer))
    X_val, y_val = transformer.transform(split.valid), targets(split.valid, config.data)
    heads: dict[str, lgb.Booster] = {}
    for head in PROBABILITY_HEADS:
        if head in y_val:
            heads[head] = _train_head(client, scorer, transformer, "binary", matrix, head, (X_val, y_val[head]))
    if "revenue" in y_val:
        won, sold = matrix[matrix[_TARGET.format("revenue")] > 0], y_val["revenue"] > 0
        validation = (X_val[sold], y_val["revenue"][sold])
        heads["revenue"] = _train_head(client, scorer, transformer, "gamma", won, "revenue", validation)
    sample = (transformer.transform(split.train), targets(split.train, config.data))
    return scorer.assemble(transformer, heads, sample, (X_val, y_val))


def train_distributed(
    data_dir: str,
    config: LeadscoreConfig,
    scheduler_address: str,
    allow_leaky: bool = False,
    step: Step = no_progress,
    storage_options: dict[str, Any] | None = None,
) -> ClusterFit:
    """Validate, split, fit and evaluate on a Dask cluster: the checks and model of `fit_and_evaluate`."""
    data = config.data
    raw = read_leads(data_dir, storage_options)
    report = check_rows(raw._meta, config)[1]
    if not report.ok:
        raise DataValidationError(report)
    with connect(scheduler_address) as client:
        step("validating data on the cluster")
        frame = _folded(client, raw, config)
        rows, schema = _check(raw, frame, config, report)
        step("sampling the folds for calibration, the leak check and holdout metrics")
        samples = {name: _sample(_fold(frame, name), rows[name], config.training.seed) for name in FOLDS}
        split = Split(samples["train"], samples["valid"], samples["holdout"], bool(data.created_at))
        step("checking for leaky columns")
        leaky = leaky_columns(split.train, split.valid, data, config.training)
        if leaky and not allow_leaky:
            raise leakage_error(leaky)
        step(f"fitting the {heads_phrase(config)} with lightgbm.dask")
        transformer = LeadTransformer(data, config.training.rare_category_share).fit_schema(schema)
        scorer = _fit_heads(client, _fold(frame, "train"), transformer, split, config)
    step("evaluating on the holdout sample")
    metrics = holdout_metrics(scorer, split.train, split.holdout)
    notes = history_drift(split.train, split.holdout, data) + check_revenue(scorer, metrics, split.holdout)
    notes.append("trained on a cluster: the registered model is the one fitted on the fit fold (no refit on all rows)")
    quality = quality_check(metrics, config.training.baseline_tolerance)
    return ClusterFit(FitResult(scorer, split, metrics, report, leaky, scorer, quality, notes), rows)
