"""Batch scoring of a file: streamed in chunks, written incrementally, so memory stays flat with file size."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from features.transform import MissingColumnsError
from models.scorer import LeadScorer
from training.data import DataFileError, _delimiter, load_table

OUTPUT_COLUMNS = ("score", "grade", "p_accept", "p_won", "expected_revenue", "reasons")
CHUNK_ROWS = 50_000


@dataclass
class BatchSummary:
    """What a scoring run did, for the CLI to print."""

    rows: int = 0
    missing_columns: list[str] = field(default_factory=list)
    invalid_values: dict[str, int] = field(default_factory=dict)
    grades: dict[str, int] = field(default_factory=dict)


def count_rows(path: Path) -> int | None:
    """Rows in the file when cheap to know (Parquet metadata), for the progress bar."""
    if path.suffix.lower() in (".parquet", ".pq") and path.is_file():
        return pq.ParquetFile(path).metadata.num_rows
    return None


def iter_chunks(path: Path, rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Read CSV or Parquet `rows` at a time; CSV cells stay text, as the transformer expects."""
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"data file {path} does not exist")
    if path.suffix.lower() in (".parquet", ".pq") and path.is_file():
        for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
            yield batch.to_pandas()
        return
    if path.is_dir():
        yield load_table(path)
        return
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            reader = pd.read_csv(
                path,
                sep=_delimiter(path, encoding),
                encoding=encoding,
                dtype=str,
                keep_default_na=False,
                chunksize=rows,
            )
            yield from reader
            return
        except UnicodeDecodeError:
            continue
    raise DataFileError(f"{path} is not in a readable text encoding (UTF-8 or Windows-1252)")


def score_chunk(
    scorer: LeadScorer, chunk: pd.DataFrame, allow_missing: bool, reasons: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores (and reasons) for one chunk keyed by the id column, plus each value's status."""
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
    return out, status


def score_file(
    scorer: LeadScorer,
    data: Path,
    out: Path,
    allow_missing: bool = False,
    reasons: int = 2,
    progress: Callable[[int], None] | None = None,
) -> BatchSummary:
    """Score `data` into CSV `out`; the output file appears only once every row has been scored."""
    summary = BatchSummary()
    partial = out.with_name(out.name + ".partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with partial.open("w", encoding="utf-8", newline="") as fh:
            for i, chunk in enumerate(iter_chunks(data)):
                if i == 0:
                    summary.missing_columns = scorer.transformer_.missing_columns(chunk)
                    if summary.missing_columns and not allow_missing:
                        raise MissingColumnsError(summary.missing_columns)
                scored, status = score_chunk(scorer, chunk, allow_missing, reasons)
                for col, n in (status == "invalid").sum().items():
                    if n:
                        summary.invalid_values[col] = summary.invalid_values.get(col, 0) + int(n)
                scored.to_csv(fh, header=i == 0, index=False, float_format="%.6g")
                for grade, n in scored["grade"].value_counts().items():
                    summary.grades[grade] = summary.grades.get(grade, 0) + int(n)
                summary.rows += len(chunk)
                if progress:
                    progress(len(chunk))
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return summary
