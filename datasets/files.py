"""Read the config and the lead table from disk, with errors that say which file and why."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from leadscore.features.config import ConfigError, LeadscoreConfig, parse_config_text
from leadscore.features.validation import validate_responses
from leadscore.models.scorer import LeadScorer

READABLE = (".csv", ".parquet", ".pq", ".tsv", ".txt")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""A text cell starting with one of these is run as a formula by spreadsheets (CSV injection, OWASP)."""
_FORMULA = re.compile("[" + re.escape("".join(FORMULA_START)) + "]")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


class DataFileError(ValueError):
    """A data file that cannot be read."""


def load_config(path: Path) -> LeadscoreConfig:
    """Parse `leadscore.toml`; a missing or invalid file is a `ConfigError` naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {path} cannot be read: {err}") from None
    return parse_config_text(text, source=str(path))


@contextmanager
def parquet_errors(source: object, what: str = "Parquet", detail: bool = False) -> Iterator[None]:
    """Any failure inside is a `DataFileError` saying `source` is not readable `what`: pyarrow and fsspec raise
    many types, all meaning that. `detail` adds the library's message (say, a missing bucket), which for a
    local file could quote cell values, so it is off by default."""
    try:
        yield
    except Exception as err:
        suffix = f": {err}" if detail else ""
        raise DataFileError(f"{source} is not readable {what}: {type(err).__name__}{suffix}") from None


def parquet_schema(path: Path) -> pa.Schema:
    """The schema of a Parquet file or directory (hive partitions included), refusing nested columns: a lead
    file holds one plain value per cell, and a list, struct or map would otherwise be read as its text."""
    with parquet_errors(path):
        schema = ds.dataset(path, format="parquet", partitioning="hive").schema
    nested = [field.name for field in schema if pa.types.is_nested(field.type)]
    if nested:
        raise DataFileError(
            f"{path}: column(s) {', '.join(map(repr, nested))} hold lists, structs or maps; a lead file needs one "
            "plain value per cell: flatten or drop them"
        )
    return schema


def detect_delimiter(path: Path, encoding: str) -> str:
    """Comma, semicolon or tab, whichever the header line uses most (CRM exports vary by locale)."""
    with path.open(encoding=encoding, errors="replace") as fh:
        header = fh.readline()
    return max([",", ";", "\t"], key=header.count)


def text_encodings(path: Path) -> tuple[str, ...]:
    """Encodings to try: UTF-16 when the file starts with its byte-order mark (Excel's "Unicode text"),
    else UTF-8 (with or without BOM), then Windows-1252. A NUL byte in any other file means it is not text."""
    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return ("utf-16",)
    if b"\x00" in head:
        raise DataFileError(f"{path} is not a text CSV (it contains binary data); export it as CSV or Parquet")
    return ("utf-8-sig", "cp1252")


def csv_chunks(path: Path, rows: int | None = None) -> Iterator[pd.DataFrame]:
    """CSV cells as text, `rows` at a time (None: the whole file at once), with a detected delimiter, in
    UTF-16 (with BOM), UTF-8 (with or without BOM), else Windows-1252. Training and batch scoring both read
    through here, so an export that trains also scores."""
    for encoding in text_encodings(path):
        options = {
            "sep": detect_delimiter(path, encoding),
            "encoding": encoding,
            "dtype": str,
            "keep_default_na": False,
        }
        yielded = False
        try:
            if rows is None:
                yield pd.read_csv(path, **options)
            else:
                for chunk in pd.read_csv(path, chunksize=rows, **options):
                    yielded = True
                    yield chunk
            return
        except UnicodeDecodeError:
            if yielded:  # a retry in another encoding would repeat the rows already handed out
                raise DataFileError(f"{path} mixes text encodings; re-export it as UTF-8") from None
    raise DataFileError(f"{path} is not in a readable text encoding (UTF-8, UTF-16 or Windows-1252)")


def load_table(path: Path) -> pd.DataFrame:
    """Read CSV or Parquet. CSV cells arrive as text and are typed by the schema, as in the CRM export."""
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"data file {path} does not exist")
    suffix = path.suffix.lower()
    if path.is_dir() or suffix in (".parquet", ".pq"):
        parquet_schema(path)
        with parquet_errors(path):
            return pd.read_parquet(path)
    if suffix not in READABLE:
        raise DataFileError(f"{path}: unsupported file type {suffix!r}; use CSV or Parquet")
    try:
        frame = next(csv_chunks(path))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError, ValueError) as err:
        if isinstance(err, DataFileError):
            raise
        raise DataFileError(f"{path} is not a readable CSV: {str(err).splitlines()[0]}") from None
    if frame.empty:
        raise DataFileError(f"{path} has no data rows")
    return frame


def writable_output(out: Path, directory: bool = False) -> Path:
    """Where to write `out` (a file; with `directory`, a folder of files), its missing folders created. A
    symbolic link is written through, but the folder it points into must exist: a dangling link names a
    place nobody asked to create, so nothing is created there."""
    out = Path(out)
    try:
        if out.is_symlink():
            target = out.resolve()
            if not (target if directory else target.parent).is_dir():
                raise DataFileError(f"{out} is a symbolic link to {target}, whose folder does not exist")
            return target
        (out if directory else out.parent).mkdir(parents=True, exist_ok=True)
    except (OSError, RuntimeError) as err:  # RuntimeError: a symlink loop (before Python 3.13)
        raise DataFileError(f"cannot write {out}: {getattr(err, 'strerror', None) or err}") from None
    return out


def _escaped(values: pd.Index | pd.Series) -> pd.Index | pd.Series:
    """Text starting with a `FORMULA_START` character gets a leading `'` (OWASP's CSV-injection advice), so a
    spreadsheet shows it as text; numbers written as text (`-3`, `+1.5e3`) are left alone."""
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        if not isinstance(values.dtype, pd.CategoricalDtype):
            return values
        values = values.astype(object)
    text = pd.Series(values, dtype=object).map(lambda v: v if isinstance(v, str) else "")
    risky = text.str.match(_FORMULA) & ~text.str.fullmatch(_NUMBER)
    if not risky.any():
        return values
    escaped = ["'" + t if r else v for v, t, r in zip(values, text, risky.to_numpy(bool), strict=True)]
    return pd.Index(escaped, name=values.name) if isinstance(values, pd.Index) else pd.Series(
        escaped, index=values.index, name=values.name, dtype=object
    )


def _escaped_labels(index: pd.Index) -> pd.Index:
    """`_escaped` for row or column labels and their names (all become cells of the written file)."""
    names = [_escaped(pd.Index([n], dtype=object))[0] if isinstance(n, str) else n for n in index.names]
    if isinstance(index, pd.MultiIndex):
        return index.set_levels([_escaped(level) for level in index.levels]).set_names(names)
    return _escaped(index).set_names(names)


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every text cell, column name and index label that a spreadsheet would run as a formula
    escaped (see `_escaped`); ids, campaigns, accounts and owners come from users' files and can hold any text."""
    out = frame.copy(deep=False)
    out.columns = _escaped_labels(out.columns)
    out.index = _escaped_labels(out.index)
    for i in range(out.shape[1]):
        column = out.iloc[:, i]
        escaped = _escaped(column)
        if escaped is not column:
            out.isetitem(i, escaped)
    return out


def write_csv(frame: pd.DataFrame, target: Path | IO[str] | None = None, **options: Any) -> str | None:
    """The one way the tool writes CSV: `DataFrame.to_csv` (same `options`; no target returns the text) of
    `spreadsheet_safe(frame)`, so no file it writes runs a formula when opened in a spreadsheet."""
    return spreadsheet_safe(frame).to_csv(target, **options)


def frame_hash(frame: pd.DataFrame) -> str:
    """A content hash of the training data, logged so a run can be traced to its input."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def responses_path(config: LeadscoreConfig, config_path: Path) -> Path | None:
    """The responses file `[responses].path` names, relative to the config file; None without `[responses]`."""
    if config.responses is None:
        return None
    path = Path(config.responses.path)
    return path if path.is_absolute() else Path(config_path).parent / path


def load_responses(config: LeadscoreConfig, config_path: Path, path: Path | None = None) -> pd.DataFrame | None:
    """The validated response events of `[responses]` (or of `path`, when given); None without `[responses]`."""
    if config.responses is None:
        return None
    source = Path(path) if path is not None else responses_path(config, config_path)
    if source is None:
        return None
    return validate_responses(load_table(source), config.responses, config.data.missing_values)


def scoring_responses(
    scorer: LeadScorer,
    config: LeadscoreConfig | None,
    config_path: Path | None,
    path: Path | None,
    as_of: pd.Timestamp | None,
) -> tuple[pd.DataFrame | None, pd.Timestamp | None]:
    """(validated events, as-of time: `as_of`, else now) a command scores with: the model's own response
    columns read from `path` (else `[responses].path` of the config); (None, None) for a model without
    behavioural features."""
    if scorer.responses is None:
        return None, None
    if config is None or config.responses is None or config_path is None:
        raise ConfigError(
            "the model uses response features: scoring needs a leadscore.toml with [responses] naming the "
            "response events"
        )
    return load_responses(config, config_path, path), as_of or pd.Timestamp.now(tz="UTC")
