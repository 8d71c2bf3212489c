"""Batch scoring of a file: streamed in chunks, written incrementally, so memory stays flat with file size.

Peak memory is set by the chunk (`CHUNK_ROWS` rows, `REASONS_CHUNK_ROWS` with reasons, or one Parquet row
group if larger), not by the file:
CSV is read with pandas' chunked reader, Parquet files and directories with a pyarrow dataset scan that
reads ahead at most one batch, and scored rows are appended to the output as each chunk finishes.

A CSV row with fewer fields than the header (typically the last line of an export cut off mid-write) is
reported by line number; pandas would silently score its absent fields as missing. `strict` refuses such
a file. The output is replaced atomically when it is a regular file (a symlink is followed, so the link
stays and its target is replaced); a device or pipe (`/dev/null`, `/dev/stdout`) is written in place. Write
errors (full disk, file too large, no permission) are `DataFileError`s naming the output.
"""

from __future__ import annotations

import csv
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import pandas as pd
import pyarrow.dataset as ds

from leadscore.datasets.files import (
    DataFileError,
    csv_chunks,
    detect_delimiter,
    parquet_errors,
    parquet_schema,
    text_encodings,
    writable_output,
    write_csv,
)
from leadscore.features.config import display_labels
from leadscore.features.outcomes import is_open, read_outcomes
from leadscore.features.qualification import QualificationConfig, apply_qualification
from leadscore.features.transform import MissingColumnsError
from leadscore.models.scorer import LeadScorer

OUTPUT_COLUMNS = ("score", "grade", "p_accept", "p_won", "expected_revenue", "reasons")
CHUNK_ROWS = 50_000
REASONS_CHUNK_ROWS = 10_000
"""Smaller chunks with reasons: each lead then holds Python objects per reason, ~10 kB a lead."""
PARQUET_SUFFIXES = (".parquet", ".pq")
_LINE_BLOCK = 1 << 24
SHOWN_LINES = 10
"""Line numbers of short rows listed in a warning; the count covers all of them."""


class ShortRowsError(DataFileError):
    """`strict` scoring refused a CSV with rows shorter than its header."""


@dataclass
class BatchSummary:
    """What a scoring run did, for the CLI to print."""

    rows: int = 0
    missing_columns: list[str] = field(default_factory=list)
    invalid_values: dict[str, int] = field(default_factory=dict)
    grades: dict[str, int] = field(default_factory=dict)
    routes: dict[str, int] = field(default_factory=dict)
    open_leads: int | None = None
    """Leads with no outcome yet, when the file has the model's outcome columns (None: it has none)."""
    short_rows: int = 0
    short_lines: list[int] = field(default_factory=list)
    """The first `SHOWN_LINES` line numbers (1 = header) of rows with fewer fields than the header."""

    def short_rows_message(self, data: Path) -> str:
        """`n rows of <file> have fewer fields than its header (lines ...)`, for a warning or an error."""
        lines = ", ".join(map(str, self.short_lines)) + (", ..." if self.short_rows > len(self.short_lines) else "")
        return (
            f"{self.short_rows} row(s) of {data} have fewer fields than its header (line {lines}): cut off or "
            "malformed; their absent fields are scored as missing"
        )


def _is_parquet(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() in PARQUET_SUFFIXES


def _parquet(path: Path) -> ds.Dataset:
    parquet_schema(path)
    with parquet_errors(path):
        return ds.dataset(path, format="parquet", partitioning="hive")


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
    try:
        yield from csv_chunks(path, rows)
    except pd.errors.ParserError as err:  # e.g. "Expected 14 fields in line 9, saw 15": no values quoted
        raise DataFileError(f"{path} is not a well-formed CSV: {str(err).strip()}") from None


def short_rows(path: Path) -> tuple[int, list[int]]:
    """CSV rows with fewer fields than the header: (count, first `SHOWN_LINES` line numbers). Read with the
    delimiter and encoding the scoring reader uses; blank lines are skipped, as pandas does."""
    encoding = text_encodings(path)[0]
    count, lines = 0, []
    with path.open(encoding=encoding, errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=detect_delimiter(path, encoding))
        try:
            width = len(next(reader, []))
            for record in reader:
                if record and len(record) < width:
                    count += 1
                    if len(lines) < SHOWN_LINES:
                        lines.append(reader.line_num)
        except csv.Error as err:  # "field larger than field limit": an unclosed quote or an embedded file
            raise DataFileError(f"{path} is not a readable CSV: line {reader.line_num}: {err}") from None
    return count, lines


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
            chunk,
            scores,
            rules,
            missing_values=scorer.data.missing_values,
            allow_missing=allow_missing,
            labels=display_labels(scorer.labels),
        )
        out[["stage", "route", "review_flag"]] = routed[["stage", "route", "review_flag"]]
        for column in ("rules_missed", "nurture_reasons"):
            out[column] = routed[column].map("; ".join)
    return out, status


def _add(counts: dict[str, int], more: pd.Series) -> None:
    for key, n in more.items():
        if n:
            counts[str(key)] = counts.get(str(key), 0) + int(n)


def _output(out: Path) -> tuple[Path, bool]:
    """(file to write, whether to write it in place): a symlink's target; devices and pipes in place."""
    target = writable_output(out)
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return target, False
    except OSError as err:
        raise DataFileError(f"cannot write {out}: {err.strerror}") from None
    if stat.S_ISDIR(mode):
        raise DataFileError(f"{out} is a directory; name a file to write, e.g. {out / 'scores.csv'}")
    return target, not stat.S_ISREG(mode)


def score_file(
    scorer: LeadScorer,
    data: Path,
    out: Path,
    allow_missing: bool = False,
    reasons: int = 2,
    progress: Callable[[int], None] | None = None,
    chunk_rows: int | None = None,
    rules: QualificationConfig | None = None,
    strict: bool = False,
    responses: pd.DataFrame | None = None,
    as_of: pd.Timestamp | None = None,
) -> BatchSummary:
    """Score `data` into CSV `out` chunk by chunk; a regular `out` appears (atomically) only once every row
    is scored, and an earlier `out` is left as it was if scoring fails. `strict`: refuse a CSV with rows
    shorter than its header instead of warning. A model with behavioural features reads them from `responses`
    (validated events) before `as_of` (default: now)."""
    if scorer.responses is not None and responses is None:
        raise DataFileError("the model uses response features: give the response events (--responses or --config)")
    behaviour = (responses, as_of or pd.Timestamp.now(tz="UTC"))
    summary = BatchSummary()
    if Path(data).is_file() and not _is_parquet(Path(data)):
        summary.short_rows, summary.short_lines = short_rows(Path(data))
        if strict and summary.short_rows:
            raise ShortRowsError(summary.short_rows_message(data) + "; nothing scored (strict: such rows are refused)")
    target, in_place = _output(out)
    partial = target if in_place else target.with_name(target.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as fh:
            _score_into(fh, scorer, data, summary, allow_missing, reasons, progress, chunk_rows, rules, behaviour)
        if not in_place:
            partial.replace(target)
    except OSError as err:
        if err.filename is not None and Path(err.filename) == Path(data):
            raise DataFileError(f"cannot read {data}: {err.strerror}") from None
        raise DataFileError(f"cannot write {out}: {err.strerror or type(err).__name__}") from None
    finally:
        if not in_place:
            partial.unlink(missing_ok=True)
    return summary


def _score_into(
    fh: TextIO,
    scorer: LeadScorer,
    data: Path,
    summary: BatchSummary,
    allow_missing: bool,
    reasons: int,
    progress: Callable[[int], None] | None,
    chunk_rows: int | None,
    rules: QualificationConfig | None,
    behaviour: tuple[pd.DataFrame | None, pd.Timestamp],
) -> None:
    """The chunk loop of `score_file`, writing CSV to `fh` and counting into `summary`."""
    rows = chunk_rows or (REASONS_CHUNK_ROWS if reasons else CHUNK_ROWS)
    for i, raw_chunk in enumerate(iter_chunks(data, rows)):
        id_col = scorer.data.id
        chunk = scorer.with_responses(raw_chunk, *behaviour) if id_col in raw_chunk.columns else raw_chunk
        if i == 0:
            summary.missing_columns = scorer.transformer_.missing_columns(chunk)
            if summary.missing_columns and not allow_missing:
                raise MissingColumnsError(summary.missing_columns)
        if chunk.empty:
            continue
        scored, status = score_chunk(scorer, chunk, allow_missing, reasons, rules)
        if rules is not None:
            _add(summary.routes, scored["route"].value_counts())
        _add(summary.invalid_values, (status == "invalid").sum())
        _add(summary.grades, scored["grade"].value_counts())
        outcomes = read_outcomes(raw_chunk, scorer.data)
        if len(outcomes.columns):
            summary.open_leads = (summary.open_leads or 0) + int(is_open(outcomes).sum())
        write_csv(scored, fh, header=summary.rows == 0, index=False, float_format="%.6g")
        summary.rows += len(chunk)
        if progress:
            progress(len(chunk))
    if summary.rows == 0:
        raise DataFileError(f"{data} holds no leads (a header without rows?): nothing to score")
