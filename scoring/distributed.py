"""Batch scoring on a Dask cluster: the single-machine chunk scorer mapped over partitions.

The model is sent to every worker once, and the output is written as partitioned Parquet.
"""

from __future__ import annotations

from typing import Any

import dask
import fsspec
import pandas as pd

from leadscore.datasets.cluster import connect, read_leads
from leadscore.datasets.files import DataFileError
from leadscore.features.qualification import QualificationConfig
from leadscore.features.transform import MissingColumnsError
from leadscore.models.scorer import LeadScorer
from leadscore.scoring.batch import BatchSummary, score_chunk


def _score_partition(
    part: pd.DataFrame,
    scorer: LeadScorer,
    allow_missing: bool,
    reasons: int,
    rules: QualificationConfig | None,
    responses: pd.DataFrame | None,
    as_of: pd.Timestamp,
) -> pd.DataFrame:
    """`score_file`'s work on one partition: behavioural features (for a model with them) from the broadcast
    events before `as_of`, then the chunk scorer."""
    leads = scorer.with_responses(part, responses, as_of)
    return score_chunk(scorer, leads, allow_missing, reasons, rules)[0].reset_index(drop=True)


def score_distributed(
    scorer: LeadScorer,
    data_dir: str,
    out_dir: str,
    scheduler_address: str,
    allow_missing: bool = False,
    reasons: int = 0,
    rules: QualificationConfig | None = None,
    storage_options: dict[str, Any] | None = None,
    responses: pd.DataFrame | None = None,
    as_of: pd.Timestamp | None = None,
) -> BatchSummary:
    """Score every partition in parallel into partitioned Parquet at `out_dir`; returns rows and rows per grade.
    The columns are those of the single-machine `score_file` (with `rules`: stage, route and rules missed).

    The model is broadcast to the workers once; the output appears at `out_dir` only when every
    partition is written (it is written next to it first), and an earlier `out_dir` is replaced. A model with
    behavioural features reads them from `responses` (validated events, broadcast too) before `as_of`
    (default: now), as `score_file` does."""
    if scorer.responses is not None and responses is None:
        raise DataFileError("the model uses response features: give the response events (--responses or --config)")
    when = as_of or pd.Timestamp.now(tz="UTC")
    leads = read_leads(data_dir, storage_options)
    id_col = scorer.transformer_.schema_.id_column
    if id_col not in leads.columns:
        raise DataFileError(f"input has no id column '{id_col}'")
    missing = scorer.transformer_.missing_columns(scorer.with_responses(leads._meta, responses, when))
    if missing and not allow_missing:
        raise MissingColumnsError(missing)
    fs, path = fsspec.core.url_to_fs(out_dir, **(storage_options or {}))
    partial = path.rstrip("/") + ".partial"
    meta = _score_partition(leads._meta_nonempty, scorer, allow_missing, reasons, rules, responses, when).iloc[:0]
    with connect(scheduler_address) as client:
        model = client.scatter(scorer, broadcast=True)
        events = None if responses is None else client.scatter(responses, broadcast=True)
        scored = leads.map_partitions(_score_partition, model, allow_missing, reasons, rules, events, when, meta=meta)
        try:
            write = scored.to_parquet(partial, filesystem=fs, write_index=False, compute=False)
            _, grades = dask.compute(write, scored["grade"].value_counts())
            if fs.exists(path):
                fs.rm(path, recursive=True)
            fs.mv(partial, path, recursive=True)
        finally:
            if fs.exists(partial):
                fs.rm(partial, recursive=True)
    counts = {str(g): int(n) for g, n in grades.items()}
    return BatchSummary(rows=sum(counts.values()), missing_columns=missing, grades=counts)
