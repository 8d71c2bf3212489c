"""What every `leadscore` command shares: options, clear errors instead of tracebacks, progress bars."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

console = Console(stderr=True, soft_wrap=True)  # messages never wrap mid-path
out = Console()


def user_errors() -> tuple[type[Exception], ...]:
    """Problems with the user's input or setup, shown as one message. Imported when a command fails rather
    than at start, so `leadscore --help` loads no data or ML library."""
    from leadscore.datasets.files import DataFileError
    from leadscore.features.config import ConfigError
    from leadscore.features.transform import MissingColumnsError
    from leadscore.features.validation import DataValidationError
    from leadscore.models.artifact import ModelLoadError
    from leadscore.training.evaluate import LeakageError
    from leadscore.training.feedback import FeedbackStoreError

    return (
        FeedbackStoreError,
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
ModelNameOpt = Annotated[str, typer.Option("--model-name", help="Registered model name.")]


def _quiet_libraries() -> None:
    """Keep the terminal for our own output: MLflow and LightGBM chatter goes away."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
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
                raise typer.Exit(2) from None
            if isinstance(err, OSError):  # the machine's problem, not a bug: disk full, permission, a vanished file
                what = (err.strerror or type(err).__name__) + (f" ({err.filename})" if err.filename else "")
                console.print(f"[bold red]error:[/] {escape(what)}", highlight=False)
                raise typer.Exit(2) from None
            raise
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]: nothing was registered")
            raise typer.Exit(130) from None

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
