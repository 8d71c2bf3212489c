"""Batch scoring of a file: streamed in chunks, written incrementally, so memory stays flat with file size.

Peak memory is set by the chunk (`CHUNK_ROWS` rows, `REASONS_CHUNK_ROWS` with reasons, or one Parquet row
group if larger), not by the file:
CSV is read with pandas' chunked reader, Parquet files and directories with a pyarrow dataset scan that
reads ahead at most one batch, and scored rows are appended to the output as each chunk finishes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds

from features.qualification import QualificationConfig, apply_qualification
from features.transform import MissingColumnsError
from models.scorer import LeadScorer
from training.data import DataFileError, csv_chunks

OUTPUT_COLUMNS = ("score", "grade", "p_accept", "p_won", "expected_revenue", "reasons")
CHUNK_ROWS = 50_000
REASONS_CHUNK_ROWS = 10_000
"""Smaller chunks with reasons: each lead then holds Python objects per reason, ~10 kB a lead."""
PARQUET_SUFFIXES = (".parquet", ".pq")
_LINE_BLOCK = 1 << 24


@dataclass
class BatchSummary:
    """What a scoring run did, for the CLI to print."""

    rows: int = 0
    missing_columns: list[str] = field(default_factory=list)
    invalid_values: dict[str, int] = field(default_factory=dict)
    grades: dict[str, int] = field(default_factory=dict)
    routes: dict[str, int] = field(default_factory=dict)


def _is_parquet(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() in PARQUET_SUFFIXES


def _parquet(path: Path) -> ds.Dataset:
    try:
        return ds.dataset(path, format="parquet", partitioning="hive")
    except Exception as err:  # pyarrow raises many types; all mean "not readable Parquet"
        raise DataFileError(f"{path} is not readable Parquet: {type(err).__name__}") from None


def count_rows(path: Path) -> int | None:
    """Rows in the file for the progress bar: Parquet from its metadata; CSV by counting lines (exact unless
    quoted fields hold line breaks), read in blocks so it costs a fraction of the scoring."""
    path = Path(path)
    if not path.exists():
        return None
    if _is_parquet(path):
        return _parquet(path).count_rows()
    lines, last = 0, b"\n"
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_LINE_BLOCK), b""):
            lines += block.count(b"\n")
            last = block[-1:]
    return max(0, lines + (last != b"\n") - 1)


def iter_chunks(path: Path, rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Read CSV or Parquet (file or directory) `rows` at a time; CSV cells stay text, as the transformer expects."""
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"data file {path} does not exist")
    if _is_parquet(path):
        for batch in _parquet(path).to_batches(batch_size=rows, batch_readahead=1, fragment_readahead=1):
            if batch.num_rows:
                yield batch.to_pandas()
        return
    yield from csv_chunks(path, rows)


def score_chunk(
    scorer: LeadScorer,
    chunk: pd.DataFrame,
    allow_missing: bool,
    reasons: int,
    rules: QualificationConfig | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores (reasons, and stage/route when qualification rules are given) for one chunk keyed by the id
    column, plus each value's status."""
    id_col = scorer.transformer_.schema_.id_column
    if id_col not in chunk.columns:
        raise DataFileError(f"input has no id column '{id_col}'")
    X, status = scorer.transformer_.transform_with_status(chunk, allow_missing=allow_missing)
    scores = scorer.predict_matrix(X)
    scores.index = chunk.index
    out = pd.concat([chunk[[id_col]], scores], axis=1)
    if reasons:
        explained = scorer.explain_transformed(chunk, X, status, k=reasons)
        out["reasons"] = [" | ".join(r.text for r in row) for row in explained]
    if rules is not None:
        routed = apply_qualification(
            chunk, scores, rules, missing_values=scorer.data.missing_values, allow_missing=allow_missing
        )
        out[["stage", "route", "review_flag"]] = routed[["stage", "route", "review_flag"]]
        for column in ("rules_missed", "nurture_reasons"):
            out[column] = routed[column].map("; ".join)
    return out, status


def _add(counts: dict[str, int], more: pd.Series) -> None:
    for key, n in more.items():
        if n:
            counts[str(key)] = counts.get(str(key), 0) + int(n)


def score_file(
    scorer: LeadScorer,
    data: Path,
    out: Path,
    allow_missing: bool = False,
    reasons: int = 2,
    progress: Callable[[int], None] | None = None,
    chunk_rows: int | None = None,
    rules: QualificationConfig | None = None,
) -> BatchSummary:
    """Score `data` into CSV `out` chunk by chunk; `out` appears (atomically) only once every row is scored,
    and an earlier `out` is left as it was if scoring fails."""
    summary = BatchSummary()
    partial = out.with_name(out.name + ".partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with partial.open("w", encoding="utf-8", newline="") as fh:
            rows = chunk_rows or (REASONS_CHUNK_ROWS if reasons else CHUNK_ROWS)
            for i, chunk in enumerate(iter_chunks(data, rows)):
                if i == 0:
                    summary.missing_columns = scorer.transformer_.missing_columns(chunk)
                    if summary.missing_columns and not allow_missing:
                        raise MissingColumnsError(summary.missing_columns)
                scored, status = score_chunk(scorer, chunk, allow_missing, reasons, rules)
                if rules is not None:
                    _add(summary.routes, scored["route"].value_counts())
                _add(summary.invalid_values, (status == "invalid").sum())
                _add(summary.grades, scored["grade"].value_counts())
                scored.to_csv(fh, header=i == 0, index=False, float_format="%.6g")
                summary.rows += len(chunk)
                if progress:
                    progress(len(chunk))
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return summary
