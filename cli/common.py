"""What every `leadscore` command shares: options, clear errors instead of tracebacks, progress bars."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import IntEnum
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from leadscore import settings
from leadscore.models.uri import default_model_uri

if TYPE_CHECKING:  # imported by the commands that use them, so `leadscore --help` loads no data or ML library
    import pandas as pd

    from leadscore.features.config import LeadscoreConfig
    from leadscore.models.registry import LoadedModel

PIPED_WIDTH = 1000
"""Width of output written to a file or a pipe: rich's default there is 80 columns, which cut tables short
("capture@2…"); a terminal keeps its own width."""
console = Console(stderr=True, soft_wrap=True)  # messages never wrap mid-path
out = Console()
if not out.is_terminal:
    out = Console(width=PIPED_WIDTH)


def user_errors() -> tuple[type[Exception], ...]:
    """Problems with the user's input or setup, shown as one message. Imported when a command fails rather
    than at start, so `leadscore --help` loads no data or ML library."""
    from leadscore.datasets.files import DataFileError
    from leadscore.features.config import ConfigError
    from leadscore.features.transform import MissingColumnsError
    from leadscore.features.validation import DataValidationError
    from leadscore.models.artifact import ModelLoadError
    from leadscore.records.tables import StoreReadError
    from leadscore.training.evaluate import LeakageError

    return (
        StoreReadError,
        ConfigError,
        DataFileError,
        DataValidationError,
        LeakageError,
        ModelLoadError,
        MissingColumnsError,
        ConnectionError,  # e.g. datasets.cluster.ClusterError: the --dask scheduler does not answer
    )


DataOpt = Annotated[Path, typer.Option("--data", help="Leads as CSV or Parquet.")]
DataUrlOpt = Annotated[
    str, typer.Option("--data", help="Leads as CSV or Parquet; with --dask, partitioned Parquet (directory or URL).")
]
DaskOpt = Annotated[
    str | None,
    typer.Option(
        "--dask",
        metavar="SCHEDULER_ADDRESS",
        help="Run on this Dask cluster (e.g. tcp://scheduler:8786); --data (and for score --out) is then "
        "partitioned Parquet: a directory or an fsspec URL such as s3://bucket/leads/.",
    ),
]
ConfigOpt = Annotated[Path, typer.Option("--config", help="leadscore.toml naming the column roles.")]
TrackingOpt = Annotated[
    str | None,
    typer.Option("--tracking-uri", help="MLflow store; default MLFLOW_TRACKING_URI or .leadscore/mlflow.db."),
]
ModelUriOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="models:/NAME@ALIAS, models:/NAME/N or a model directory "
        "(default: the champion of --config's [model].name, else models:/leadscore@champion).",
    ),
]


def load_for_command(model: str | None, config: LeadscoreConfig | None, tracking_uri: str | None) -> LoadedModel:
    """The model a command uses: `--model`, else the champion of `[model].name`; printed, so the user sees which
    model (name, version) the numbers come from. A local directory needs no MLflow store."""
    from leadscore.models.registry import load_model
    from leadscore.training.tracking import configure  # MLflow is slow to import: only commands that load a model pay

    uri = model or default_model_uri(config)
    if not Path(uri).is_dir():
        configure(tracking_uri)
    loaded = load_model(uri)
    console.print(f"model: {loaded.label}", highlight=False)
    if loaded.gate_note:
        console.print(f"[bold yellow]warning:[/] {escape(loaded.label)} {escape(loaded.gate_note)}", highlight=False)
    return loaded


@contextmanager
def missing_columns_hint(loaded: LoadedModel | None, hint: str) -> Iterator[None]:
    """Missing-column errors name the model used and what this command offers to do about it (no model
    loaded: nothing to add)."""
    from leadscore.features.transform import MissingColumnsError

    try:
        yield
    except MissingColumnsError as err:
        if loaded is None:
            raise
        raise err.within(f" ({loaded.label}); {hint}") from None


def parse_as_of(text: str | None) -> pd.Timestamp | None:
    """`--as-of` as a UTC time (None when not given); a clear error for text that is no time."""
    import pandas as pd

    if text is None:
        return None
    parsed = pd.to_datetime(pd.Series([text]), errors="coerce", utc=True).iloc[0]
    if pd.isna(parsed):
        raise typer.BadParameter(f"{text!r} is not a date or timestamp (e.g. 2026-06-30T12:00)", param_hint="--as-of")
    return parsed


ModelNameOpt = Annotated[str, typer.Option("--model-name", help="Registered model name.")]


class ExitCode(IntEnum):
    """What `leadscore` exits with, so scripts and CI can tell outcomes apart (README, "Exit codes")."""

    OK = 0
    FAILED = 1
    """An unexpected error (a bug): the traceback is printed."""
    BAD_INPUT = 2
    """Bad input or setup: one message naming the column, option or file."""
    NOT_PROMOTED = 3
    """`train`/`retrain`: the model was trained and registered, but the gate did not make it champion."""
    DRIFT = 4
    """`monitor --fail-on-drift`: the check recommends retraining."""
    INTERRUPTED = 130


def _quiet_libraries() -> None:
    """Keep the terminal for our own output: MLflow and LightGBM chatter goes away."""
    settings.apply_defaults()
    warnings.filterwarnings("ignore", module="mlflow")
    logging.getLogger("mlflow").setLevel(logging.ERROR)


def friendly_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Known problems print as one clear message and exit 2; Ctrl-C exits 130 without a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _quiet_libraries()
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            if isinstance(err, user_errors()):
                console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False)
                raise typer.Exit(ExitCode.BAD_INPUT) from None
            if isinstance(err, OSError):  # the machine's problem, not a bug: disk full, permission, a vanished file
                what = (err.strerror or type(err).__name__) + (f" ({err.filename})" if err.filename else "")
                console.print(f"[bold red]error:[/] {escape(what)}", highlight=False)
                raise typer.Exit(ExitCode.BAD_INPUT) from None
            raise
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]: nothing was registered")
            raise typer.Exit(ExitCode.INTERRUPTED) from None

    return wrapper


@contextmanager
def row_progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar that callers advance by rows done."""
    columns = [
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


@contextmanager
def step_progress(description: str) -> Iterator[Callable[[str], None]]:
    """A spinner whose text follows the pipeline's current step."""
    columns = [SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=None)

        def step(text: str) -> None:
            console.print(f"[dim]•[/] {text}")
            progress.update(task, description=text)

        yield step
