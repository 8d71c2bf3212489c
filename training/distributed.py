"""Training on a Dask cluster, for lead tables that outgrow one machine (scoring: `scoring.distributed`).

Training reads partitioned Parquet (a local directory or any fsspec URL) as a Dask DataFrame. Row checks,
fold sizes, outcome counts and the feature statistics are computed per partition on the workers and merged;
only those summaries and bounded samples (`SAMPLE_ROWS` per fold) reach the client. The heads are those of
`LeadScorer.fit`: each head's settings are chosen by the scorer's own search (`choose_head`) on the fold
samples, as one machine searches on at most 200k rows of a large fold; the chosen head is then fitted with
`lightgbm.dask` on the whole fold and early-stopped by the same rule on the validation sample; calibration,
the deal cap and the refit on all history are the scorer's (`assemble`, `refitted`). With `[responses]`, the
events are broadcast to the workers and the point-in-time features computed partition by partition. The result
is an ordinary `LeadScorer`: saved, registered and served like one trained on a laptop.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import dask
import dask.dataframe as dd
import lightgbm as lgb
import numpy as np
import pandas as pd
from distributed import Client
from lightgbm.dask import DaskLGBMClassifier, DaskLGBMRegressor
from sklearn.metrics import roc_auc_score

from leadscore.datasets.cluster import connect, read_leads
from leadscore.features.config import LeadscoreConfig
from leadscore.features.responses import ResponseSpec
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
from leadscore.models.linear import LinearHead
from leadscore.models.revenue import deal_cap
from leadscore.models.scorer import (
    PROBABILITY_HEADS,
    TWEEDIE_POWER,
    Head,
    HeadSettings,
    LeadScorer,
    early_stopped_rounds,
    id_hashes,
    lightgbm_names,
    refit_rounds,
    targets,
)
from leadscore.training.evaluate import history_drift, holdout_metrics, leakage_error, leaky_columns
from leadscore.training.fit import FitResult, Step, add_behaviour, check_revenue, heads_phrase, no_progress
from leadscore.training.gate import quality_check
from leadscore.training.split import Split

SAMPLE_ROWS = 200_000
"""Rows per fold brought to the client: calibration, score references, leak check and holdout metrics."""
FOLDS = ("train", "valid", "holdout")
_FOLD = "__leadscore_fold__"
_TARGET = "__leadscore_target_{}__"
_Y = "__leadscore_head_target__"
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
    """Transformed features (under the names LightGBM accepts) plus the targets and the fold, in one frame so
    rows stay aligned without known divisions."""
    names = lightgbm_names(transformer.feature_names_out_)
    out = pd.DataFrame(transformer.transform(part), columns=names, index=part.index)
    for head, values in targets(part, transformer.data).items():
        out[_TARGET.format(head)] = values
    if _FOLD in part:
        out[_FOLD] = part[_FOLD]
    return out


def _id_hashes(ids: pd.Series) -> pd.Series:
    return pd.Series(id_hashes(ids, sort=False), index=ids.index)


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
    """Cut points of the train / valid / holdout folds: by time, the created_at seconds at the positions where
    `split.split_leads` cuts the sorted leads (holdout = most recent), found exactly by bisection on counts
    (dask's quantiles are approximate); without created_at, shares of an id hash."""
    t = config.training
    if not config.data.created_at:
        return 1 - t.holdout_fraction - t.validation_fraction, 1 - t.holdout_fraction
    stamps = frame[config.data.created_at].map_partitions(_seconds, meta=(None, "int64")).persist()
    n, low, high = dask.compute(stamps.size, stamps.min(), stamps.max())
    n_hold, n_valid = round(n * t.holdout_fraction), round(n * t.validation_fraction)
    ranks = (n - n_hold - n_valid, n - n_hold)
    bounds = [[int(low), int(high)] for _ in ranks]
    while any(lo < hi for lo, hi in bounds):
        mids = [(lo + hi) // 2 for lo, hi in bounds]
        counts = dask.compute(*[(stamps <= mid).sum() for mid in mids])
        for bound, mid, count, rank in zip(bounds, mids, counts, ranks, strict=True):
            bound[:] = [bound[0], mid] if count > rank else [mid + 1, bound[1]]
    return float(bounds[0][0]), float(bounds[1][0])


def _sample(frame: dd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """About `SAMPLE_ROWS` random rows of a fold of `size` rows, on the client."""
    if not size:
        return frame._meta
    return frame.sample(frac=min(1.0, SAMPLE_ROWS / size), random_state=seed).compute()


def _validation_curve(booster: lgb.Booster, objective: str, X: np.ndarray, y: np.ndarray) -> list[float]:
    """The validation score after each round, higher is better, by the metric `LeadScorer.fit` early-stops
    on: AUC for the probability heads, minus LightGBM's tweedie negative log-likelihood for revenue."""
    raw = np.zeros(len(X))
    scores = []
    for i in range(booster.current_iteration()):
        raw += booster.predict(X, start_iteration=i, num_iteration=1, raw_score=True)
        if objective == "binary":
            scores.append(float(roc_auc_score(y, raw)))
        else:
            rho = TWEEDIE_POWER
            nll = -y * np.exp((1 - rho) * raw) / (1 - rho) + np.exp((2 - rho) * raw) / (2 - rho)
            scores.append(-float(np.mean(nll)))
    return scores


def _dask_booster(
    client: Client,
    scorer: LeadScorer,
    objective: str,
    settings: dict[str, float],
    matrix: dd.DataFrame,
    rows: int,
    rounds: int,
) -> lgb.Booster:
    """One head fitted by `lightgbm.dask` on the workers with the scorer's parameters and `settings`."""
    params = scorer.lgb_params(objective, rows, settings)
    params.pop("num_threads")  # lightgbm.dask sets it from each worker's threads
    params.pop("objective")
    model_class = DaskLGBMClassifier if objective == "binary" else DaskLGBMRegressor
    model = model_class(client=client, objective=objective, n_estimators=rounds, **params)
    names = lightgbm_names(scorer.transformer_.feature_names_out_)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
        warnings.filterwarnings("ignore", message="Found .* in params. Will use it instead of argument")
        model.fit(matrix[names], matrix[_Y], categorical_feature=scorer.transformer_.categorical_indices_)
    return model.booster_


def _head_data(client: Client, matrix: dd.DataFrame, head: str, cap: float) -> tuple[dd.DataFrame, int]:
    """A head's training rows on the cluster, its target in column `_Y`, and their count: every lead, or for
    revenue the won leads' deals capped at the shared deal cap (as `LeadScorer.fit`). Partitions left empty
    by the filters are dropped (a fold by time leaves whole partitions empty, and lightgbm.dask fails on a
    worker whose data are empty)."""
    if head == "revenue":
        won = matrix[matrix[_TARGET.format("won")] > 0]
        rows = won.assign(**{_Y: won[_TARGET.format("revenue")].clip(upper=cap)})
    else:
        rows = matrix.assign(**{_Y: matrix[_TARGET.format(head)]})
    rows = client.persist(rows)
    sizes = rows.map_partitions(len).compute().tolist()
    return rows.partitions[[i for i, n in enumerate(sizes) if n]], int(sum(sizes))


def _client_head_data(X: np.ndarray, y: dict[str, np.ndarray], head: str, cap: float) -> tuple[np.ndarray, np.ndarray]:
    """`_head_data` for a sample on the client."""
    if head != "revenue":
        return X, y[head]
    won = y["won"] > 0
    return X[won], np.minimum(y["revenue"][won], cap)


def _folded(
    client: Client, raw: dd.DataFrame, config: LeadscoreConfig, behaviour: tuple[pd.DataFrame, ResponseSpec] | None
) -> dd.DataFrame:
    """Role columns coerced, a fold column added and, with `behaviour` (validated events, fitted spec), the
    point-in-time behavioural features of `fit.add_behaviour` computed partition by partition against the
    events broadcast to every worker; persisted on the workers (training reads it several times)."""
    coerced = client.persist(raw.map_partitions(_coerced, config, meta=check_rows(raw._meta, config)[0]))
    folded = coerced.map_partitions(_with_fold, config, _fold_edges(coerced, config))
    if behaviour is not None:
        events, spec = behaviour
        meta = add_behaviour(folded._meta, events, spec, config)
        shared = client.scatter(events, broadcast=True)
        folded = folded.map_partitions(add_behaviour, shared, spec, config, meta=meta)
    return client.persist(folded)


def _fold(frame: dd.DataFrame, name: str) -> dd.DataFrame:
    return frame[frame[_FOLD] == FOLDS.index(name)].drop(columns=_FOLD)


def _positives(part: pd.DataFrame, config: LeadscoreConfig) -> pd.DataFrame:
    return pd.DataFrame(targets(part, config.data), index=part.index) > 0


def _schema(frame: dd.DataFrame, config: LeadscoreConfig) -> FeatureSchema:
    """The schema `LeadTransformer.fit` infers, from per-partition column stats merged on the cluster."""
    summaries = [dask.delayed(summarize)(part, config.data) for part in frame.to_delayed()]
    stats = _tree_reduce(summaries, merge_summaries).compute()
    return schema_from_stats(stats, config.data, config.training.rare_category_share)


def _check(
    raw: dd.DataFrame, frame: dd.DataFrame, config: LeadscoreConfig, report: ValidationReport
) -> tuple[dict[str, int], FeatureSchema]:
    """Every check of `prepare_training_frame`, from per-partition results merged on the cluster: row
    problems, duplicate ids, floors, and the feature schema from the training fold's column stats."""
    data = config.data
    ids = frame[data.id].value_counts()
    dupes = ids[ids > 1]
    schema = _schema(_fold(frame, "train"), config)
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
    add_schema_problems(report, schema)
    if not report.ok:
        raise DataValidationError(report)
    return rows, schema


def _fit_heads(
    client: Client, matrix: dd.DataFrame, scorer: LeadScorer, split: Split, deals: pd.DataFrame
) -> LeadScorer:
    """`LeadScorer.fit` with the heads fitted on the cluster: per head, the scorer's settings search on the
    fold samples, then the winner fitted by `lightgbm.dask` on the whole training fold (`matrix`) and cut to
    the rounds the single-machine early stopping keeps on the validation sample; `assemble` calibrates.
    `deals` holds the fold and revenue of every won lead (the deal cap needs all of them)."""
    transformer = scorer.transformer_
    X, y = transformer.transform(split.train), targets(split.train, scorer.data)
    X_val, y_val = transformer.transform(split.valid), targets(split.valid, scorer.data)
    fitted = deals[deals[_FOLD] < FOLDS.index("holdout")]["revenue"].to_numpy()
    cap = deal_cap(fitted)
    heads = [h for h in PROBABILITY_HEADS if h in y]
    if "revenue" in y:
        scorer.revenue_cap_ = cap
        if int((fitted > 0).sum()) >= scorer.training.min_positives:
            heads.append("revenue")
    boosters: dict[str, Head] = {}
    scorer.head_settings_ = {}
    for head in heads:
        objective = "tweedie" if head == "revenue" else "binary"
        winner, settings = scorer.choose_head(
            objective, *_client_head_data(X, y, head, cap), *_client_head_data(X_val, y_val, head, cap)
        )
        if settings.linear:  # fitted on the fold sample, as one machine does; no trees to fit on the cluster
            boosters[head], scorer.head_settings_[head] = winner, settings
            continue
        rows, size = _head_data(client, matrix, head, cap)
        rounds = scorer.training.num_boost_round
        booster = _dask_booster(client, scorer, objective, settings.params, rows, size, rounds)
        curve = _validation_curve(booster, objective, *_client_head_data(X_val, y_val, head, cap))
        kept = early_stopped_rounds(curve)
        boosters[head] = lgb.Booster(model_str=booster.model_to_string(num_iteration=kept))
        loss = round(-curve[kept - 1], 6)
        scorer.head_settings_[head] = HeadSettings(objective, settings.params, kept, size, loss)
    return scorer.assemble(transformer, boosters, (X, y), (X_val, y_val))


def _refit(
    client: Client, frame: dd.DataFrame, evaluated: LeadScorer, split: Split, config: LeadscoreConfig
) -> LeadScorer:
    """`LeadScorer.refit` on the cluster: the schema from all rows, each head's settings and scaled rounds
    fitted by `lightgbm.dask` on all history, then `refitted` calibrates on the recent samples and takes the
    deal cap and revenue scale from every won lead (brought to the client: wins are the few)."""
    transformer = LeadTransformer(config.data, config.training.rare_category_share).fit_schema(_schema(frame, config))
    matrix = client.persist(frame.map_partitions(_matrix, transformer))
    final = LeadScorer(config.data, config.training, labels=config.labels, responses=evaluated.responses)
    final.transformer_ = transformer
    heads: dict[str, Head] = {}
    settings_found: dict[str, HeadSettings] = {}
    everyone = pd.concat([split.train, split.valid, split.holdout])
    X_everyone = transformer.transform(everyone)
    for head, settings in evaluated.head_settings_.items():
        if settings.linear:  # the linear head refits on the client, on the folds' samples of all history
            strength = settings.params["C"]
            outcome = targets(everyone, config.data)[head]
            heads[head] = LinearHead(list(transformer.categorical_indices_), strength).fit(X_everyone, outcome)
            settings_found[head] = replace(settings, rounds=0, train_rows=len(outcome))
            continue
        rows, size = _head_data(client, matrix, head, getattr(evaluated, "revenue_cap_", np.inf))
        rounds = refit_rounds(settings, size)
        heads[head] = _dask_booster(client, final, settings.objective, settings.params, rows, size, rounds)
        settings_found[head] = HeadSettings(settings.objective, settings.params, rounds, size, settings.valid_loss)
    names = lightgbm_names(transformer.feature_names_out_)
    history: tuple[np.ndarray, dict[str, np.ndarray]] = (np.empty((0, len(names))), {})
    if _TARGET.format("revenue") in matrix.columns:
        won = matrix[matrix[_TARGET.format("won")] > 0].compute()
        ones = np.ones(len(won))
        history = (won[names].to_numpy(float), {"won": ones, "revenue": won[_TARGET.format("revenue")].to_numpy()})
    recent = pd.concat([split.valid, split.holdout])
    calibration = evaluated.out_of_fold(evaluated.transformer_.transform(recent), targets(recent, config.data))
    seen = np.sort(frame[config.data.id].map_partitions(_id_hashes, meta=(None, "uint64")).compute().to_numpy())
    return evaluated.refitted(transformer, heads, settings_found, history, calibration, seen, X_everyone)


def train_distributed(
    data_dir: str,
    config: LeadscoreConfig,
    scheduler_address: str,
    allow_leaky: bool = False,
    step: Step = no_progress,
    storage_options: dict[str, Any] | None = None,
    responses: pd.DataFrame | None = None,
) -> ClusterFit:
    """Validate, split, fit, evaluate and refit on a Dask cluster: the checks, heads and refit of
    `fit_and_evaluate`, with the folds held on the workers and samples of them on the client. `responses`
    (validated events) is required when the config has `[responses]`; they are broadcast to the workers."""
    data = config.data
    raw = read_leads(data_dir, storage_options)
    report = check_rows(raw._meta, config)[1]
    if not report.ok:
        raise DataValidationError(report)
    behaviour = None
    if config.responses is not None:
        if responses is None or not data.created_at:
            raise ValueError("the config has [responses]: pass the validated response events and name created_at")
        behaviour = (responses, ResponseSpec.fit(responses, config.responses))
    with connect(scheduler_address) as client:
        step("validating data on the cluster")
        frame = _folded(client, raw, config, behaviour)
        rows, schema = _check(raw, frame, config, report)
        step("sampling the folds for settings, calibration, the leak check and holdout metrics")
        samples = {name: _sample(_fold(frame, name), rows[name], config.training.seed) for name in FOLDS}
        split = Split(samples["train"], samples["valid"], samples["holdout"], bool(data.created_at))
        step("checking for leaky columns")
        leaky = leaky_columns(split.train, split.valid, data, config.training)
        if leaky and not allow_leaky:
            raise leakage_error(leaky)
        step(f"fitting the {heads_phrase(config)} with lightgbm.dask (settings chosen on the validation fold)")
        spec = behaviour[1] if behaviour else None
        evaluated = LeadScorer(data, config.training, labels=config.labels, responses=spec)
        evaluated.transformer_ = LeadTransformer(data, config.training.rare_category_share).fit_schema(schema)
        matrix = client.persist(frame.map_partitions(_matrix, evaluated.transformer_))
        deals = _deals(matrix)
        evaluated = _fit_heads(client, _fold(matrix, "train"), evaluated, split, deals)
        step("evaluating on the holdout sample")
        metrics = holdout_metrics(evaluated, split.train, split.holdout)
        notes = history_drift(split.train, split.holdout, data) + check_revenue(evaluated, metrics, split.holdout)
        step(f"refitting on all {sum(rows.values())} leads with the settings found")
        scorer = _refit(client, frame.drop(columns=_FOLD), evaluated, split, config)
    if evaluated.revenue_basis != scorer.revenue_basis:
        scorer.drop_revenue_head()
    quality = quality_check(metrics, config.training.baseline_tolerance)
    return ClusterFit(FitResult(scorer, split, metrics, report, leaky, evaluated, quality, notes), rows)


def _deals(matrix: dd.DataFrame) -> pd.DataFrame:
    """Fold and revenue of every won lead, on the client (the deal cap is a quantile rule over all deals)."""
    revenue, won = _TARGET.format("revenue"), _TARGET.format("won")
    if revenue not in matrix.columns:
        return pd.DataFrame({_FOLD: [], "revenue": []})
    wins = matrix[matrix[won] > 0][[_FOLD, revenue]].compute()
    return wins.rename(columns={revenue: "revenue"})
