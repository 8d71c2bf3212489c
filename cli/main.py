"""`leadscore`: the one command line, thin over the packages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from leadscore import __version__, settings
from leadscore.cli.common import (
    ConfigOpt,
    DaskOpt,
    DataOpt,
    DataUrlOpt,
    ExitCode,
    ModelNameOpt,
    ModelUriOpt,
    TrackingOpt,
    console,
    friendly_errors,
    load_for_command,
    missing_columns_hint,
    out,
    parse_as_of,
    row_progress,
    step_progress,
)
from leadscore.cli.marketing import register as register_marketing
from leadscore.cli.qualification import register as register_qualification

if TYPE_CHECKING:  # the commands import what they run, so `leadscore --help` loads no data or ML library
    import pandas as pd

    from leadscore.features.qualification import QualificationConfig
    from leadscore.features.validation import ValidationReport
    from leadscore.models.registry import LoadedModel

app = typer.Typer(help="Lead scoring for B2B revenue teams.", no_args_is_help=True)
models_app = typer.Typer(help="Registered model versions: list and promote.", no_args_is_help=True)
app.add_typer(models_app, name="models")


def _print_version(value: bool) -> None:
    if value:
        out.print(f"leadscore {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print leadscore's version and exit."),
    ] = False,
) -> None:
    """Lead scoring for B2B revenue teams."""


@app.command("demo-data")
@friendly_errors
def demo_data(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write leads, leadscore.toml and truth to.")],
    n: Annotated[int, typer.Option("--n", min=100, help="Number of leads.")] = 20000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    shift: Annotated[
        bool, typer.Option(help="Shifted population (campaign mix, company size) for drift demos.")
    ] = False,
    truth: Annotated[bool, typer.Option(help="Also write the true probabilities (truth.csv).")] = True,
) -> None:
    """Write a synthetic B2B response funnel with known structure, and its leadscore.toml."""
    from leadscore.datasets.synthetic import write_demo_data

    if fmt not in ("csv", "parquet"):
        raise typer.BadParameter("--format must be csv or parquet")
    with row_progress("generating leads", n) as advance:
        paths = write_demo_data(out_dir, n=n, seed=seed, fmt=fmt, with_truth=truth, shift=shift, progress=advance)  # type: ignore[arg-type]
    for name, path in paths.items():
        out.print(f"{name:>6}: {path}")


@app.command()
@friendly_errors
def validate(data: DataOpt, config: ConfigOpt) -> None:
    """Check a lead file against the contract and for leaky columns; lists every problem at once (exit 2 if any)."""
    from leadscore.datasets.files import load_config, load_responses, load_table
    from leadscore.features.validation import prepare_training_frame, response_warnings
    from leadscore.training.evaluate import leakage_error
    from leadscore.training.fit import leak_findings

    cfg = load_config(config)
    frame = load_table(data)
    prepared = prepare_training_frame(frame, cfg)
    responses = load_responses(cfg, config)
    warnings = prepared.report.warnings
    if responses is not None and cfg.responses is not None:
        warnings = [*warnings, *response_warnings(responses, prepared.frame, cfg)]
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {escape(str(warning))}", highlight=False)
    leaky = leak_findings(prepared.decided, cfg, responses)  # open leads have no outcome to leak
    if leaky:
        raise leakage_error(leaky)
    events = "" if responses is None else f", {len(responses)} response events"
    out.print(f"[green]ok[/]: {len(frame)} rows, outcomes {sorted(cfg.data.outcome_columns)}{events}")
    if prepared.report.open_leads:
        out.print(_open_line(prepared.report))
    if prepared.report.window is not None and prepared.report.window.days is not None:
        out.print(escape(prepared.report.window.describe(prepared.report.maturing_leads)))


def _open_line(report: ValidationReport) -> str:
    """How many leads have no outcome yet, and how many cells each outcome leaves empty."""
    empty = ", ".join(f"{role} {n:,}" for role, n in report.empty_outcomes.items())
    return f"open leads (no outcome yet): {report.open_leads:,}; empty outcome cells: {empty}"


def _left_out(report: ValidationReport) -> list[str]:
    """What training did not learn from: open leads, and leads still maturing inside the outcome window."""
    lines = []
    if report.window is not None and report.window.days is not None:
        lines.append(report.window.describe(report.maturing_leads))
    if report.open_leads or report.maturing_leads:
        maturing = f" and {report.maturing_leads:,} maturing leads" if report.maturing_leads else ""
        lines.append(f"{report.open_leads:,} open leads{maturing} left out of training (no final outcome yet)")
    return lines


def _summary_table(metrics: dict[str, float]) -> Table:
    table = Table(title="Holdout metrics")
    table.add_column("head")
    for col in ("ROC-AUC", "logreg AUC", "PR-AUC", "Brier", "ECE", "lift@10%", "capture@20%"):
        table.add_column(col, justify="right")
    for head in ("accepted", "won"):
        if f"{head}_roc_auc" not in metrics:
            continue
        keys = ("roc_auc", None, "pr_auc", "brier", "ece", "lift_top10", "capture_top20")
        cells = [
            f"{metrics[f'baseline_logreg_{head}_roc_auc']:.3f}" if k is None else f"{metrics[f'{head}_{k}']:.3f}"
            for k in keys
        ]
        table.add_row(head, *cells)
    if "revenue_predicted_over_actual" in metrics:
        table.caption = (
            f"revenue: predicted/actual {metrics['revenue_predicted_over_actual']:.2f} on the holdout "
            f"({metrics['revenue_deals']:.0f} deals, each counted at most at the cap; uncapped "
            f"{metrics['revenue_predicted_over_actual_uncapped']:.2f}); top 20% of leads hold "
            f"{metrics['revenue_capture_top20']:.0%} of revenue"
        )
    return table


def _train_and_report(
    data: Path | str,
    config: Path,
    tracking_uri: str | None,
    model_name: str | None,
    allow_leaky: bool,
    feedback_db: str | None,
    dask: str | None = None,
    promote_anyway: bool = False,
) -> None:
    from leadscore.training.pipeline import train as run_training

    with step_progress("training") as step:
        result = run_training(
            data, config, tracking_uri, model_name, allow_leaky, step, feedback_db, dask, promote_anyway
        )
    fit = result.fit
    for warning in fit.report.warnings:
        console.print(f"[yellow]warning:[/] {escape(str(warning))}", highlight=False)
    for finding in fit.leaky:
        console.print(f"[yellow]warning:[/] trained with a suspicious column (--allow-leaky): {escape(str(finding))}")
    for note in fit.notes:
        console.print(f"[bold yellow]warning:[/] {escape(note)}", highlight=False)
    if feedback_db:
        out.print("feedback: " + ", ".join(f"{k.removeprefix('feedback_')}={v}" for k, v in result.feedback.items()))
        if not result.rejection_reasons.empty:
            table = Table(title="Rejection reasons (share of rejections)")
            for col in result.rejection_reasons.columns:
                table.add_column(str(col))
            for row in result.rejection_reasons.fillna("").itertuples(index=False):
                table.add_row(*(str(v) for v in row))
            out.print(table)
    out.print(_summary_table(fit.metrics))
    leads = sum(fit.split.sizes().values())
    for line in _left_out(fit.report):
        out.print(escape(line))
    out.print(
        "holdout numbers are those of the model fitted on the older leads; the registered model repeats its "
        f"settings on all {leads} leads"
    )
    out.print("trees per head (registered model): " + ", ".join(f"{h} {n}" for h, n in fit.scorer.trees().items()))
    out.print(f"{fit.scorer.score_basis()}; reasons explain {fit.scorer.reasons_explain()}")
    for line in fit.quality.lines:
        out.print(f"quality gate: {line}")
    for line in fit.calibration.lines(fit.metrics) if fit.calibration else []:
        out.print(line)
    out.print(f"run id: {result.run_id}")
    decision = result.decision
    target = f"@{decision.alias}" if decision.alias else "[bold red]not promoted[/]"
    out.print(f"model:  models:/{result.model_name}/{result.version} -> {target} ({escape(decision.reason)})")
    if not decision.alias:
        out.print(
            f"promote it anyway with `leadscore models promote {result.version} --model-name {result.model_name}`"
        )
    if result.interrupted:
        console.print("[yellow]interrupted[/]: Ctrl-C arrived while registering; registration was finished first")
    if not decision.alias:
        raise typer.Exit(ExitCode.NOT_PROMOTED)


LeakyOpt = Annotated[
    bool, typer.Option(help="Train even if the leak check finds columns (better: [training].allow_leaky).")
]
PromoteOpt = Annotated[
    bool, typer.Option(help="Make the new version champion even if it fails the quality or champion gate.")
]
TrainModelNameOpt = Annotated[
    str | None, typer.Option("--model-name", help="Registered model name (default: [model].name, else leadscore).")
]


@app.command()
@friendly_errors
def train(
    data: DataUrlOpt,
    config: ConfigOpt,
    tracking_uri: TrackingOpt = None,
    model_name: TrainModelNameOpt = None,
    allow_leaky: LeakyOpt = False,
    dask: DaskOpt = None,
    promote_anyway: PromoteOpt = False,
) -> None:
    """Train the configured heads, log to MLflow, register, and run the quality and champion gates."""
    _train_and_report(data, config, tracking_uri, model_name, allow_leaky, None, dask, promote_anyway)


@app.command()
@friendly_errors
def retrain(
    data: DataOpt,
    config: ConfigOpt,
    feedback_db: Annotated[
        str | None,
        typer.Option(
            "--feedback-db", help="Feedback store URL; default LEADSCORE_FEEDBACK_DB or .leadscore/feedback.db."
        ),
    ] = None,
    tracking_uri: TrackingOpt = None,
    model_name: TrainModelNameOpt = None,
    allow_leaky: LeakyOpt = False,
    promote_anyway: PromoteOpt = False,
) -> None:
    """Retrain with sales decisions joined in as acceptance labels; promoted only through the gates."""
    feedback = feedback_db or settings.feedback_url()
    _train_and_report(data, config, tracking_uri, model_name, allow_leaky, feedback, None, promote_anyway)


@app.command()
@friendly_errors
def score(
    data: DataUrlOpt,
    out_path: Annotated[
        str,
        typer.Option(
            "--out",
            help="CSV to write: id, score, grade, p_accept, p_won, expected_revenue, reasons "
            "(with --dask: a directory or fsspec URL for partitioned Parquet).",
        ),
    ],
    model: ModelUriOpt = None,
    tracking_uri: TrackingOpt = None,
    allow_missing: Annotated[bool, typer.Option(help="Score even if feature columns are absent (as missing).")] = False,
    reasons: Annotated[int, typer.Option(min=0, max=10, help="Reasons per head and direction (0 = none, faster).")] = 2,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="leadscore.toml whose [qualification] rules add stage, route and rules missed."),
    ] = None,
    dask: DaskOpt = None,
    strict: Annotated[
        bool, typer.Option(help="Refuse a CSV with rows shorter than its header (e.g. a cut-off last line).")
    ] = False,
    responses: Annotated[
        Path | None,
        typer.Option(
            "--responses", help="Response events (default: [responses].path of --config) for models that use them."
        ),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Read responses before this time (default: now), e.g. 2026-06-30.")
    ] = None,
) -> None:
    """Score a lead file with a registered (default: champion) or local model; streams large files."""
    from leadscore.datasets.files import load_config, scoring_responses

    cfg = load_config(config) if config else None
    rules = cfg.qualification if cfg else None
    if config and rules is None:
        note = escape(f"{config} has no [qualification] table: no stage or route columns")
        console.print(f"[yellow]warning:[/] {note}")
    loaded = load_for_command(model, cfg, tracking_uri)
    behaviour = scoring_responses(loaded.scorer, cfg, config, responses, parse_as_of(as_of))
    with missing_columns_hint(loaded, "add them, or pass --allow-missing to score them as missing"):
        _score(loaded, data, out_path, allow_missing, reasons, rules, dask, strict, behaviour)


def _score(
    loaded: LoadedModel,
    data: str,
    out_path: str,
    allow_missing: bool,
    reasons: int,
    rules: QualificationConfig | None,
    dask: str | None,
    strict: bool,
    behaviour: tuple[pd.DataFrame | None, pd.Timestamp | None] = (None, None),
) -> None:
    from leadscore.features.contract import GRADES
    from leadscore.scoring.batch import ShortRowsError, count_rows, score_file

    if dask:
        from leadscore.scoring.distributed import score_distributed

        with step_progress(f"scoring partitions on {dask}"):
            summary = score_distributed(
                loaded.scorer,
                data,
                out_path,
                dask,
                allow_missing,
                reasons,
                rules,
                responses=behaviour[0],
                as_of=behaviour[1],
            )
        where = f"on {dask} -> {out_path} (partitioned Parquet)"
    else:
        with row_progress("scoring leads", count_rows(Path(data))) as advance:
            try:
                summary = score_file(
                    loaded.scorer,
                    Path(data),
                    Path(out_path),
                    allow_missing,
                    reasons,
                    advance,
                    rules=rules,
                    strict=strict,
                    responses=behaviour[0],
                    as_of=behaviour[1],
                )
            except ShortRowsError as err:
                raise ShortRowsError(f"{err}; without --strict they are scored as missing") from None
        where = f"with {loaded.label} -> {out_path}"
    if summary.short_rows:
        console.print(f"[yellow]warning:[/] {escape(summary.short_rows_message(Path(data)))}; --strict refuses them")
    if summary.missing_columns:
        console.print(f"[yellow]warning:[/] scored with missing columns: {summary.missing_columns}")
    for col, n in summary.invalid_values.items():
        console.print(f"[yellow]warning:[/] column '{col}': {n} unreadable values scored as missing")
    grades = ", ".join(f"{g}: {summary.grades.get(g, 0)}" for g in GRADES)
    if summary.open_leads is not None:
        decided = summary.rows - summary.open_leads
        where += f"; {summary.open_leads:,} of them open (no outcome yet), {decided:,} already decided"
    out.print(
        f"scored {summary.rows} leads {where}",
        f"grades {grades}",
        *([f"routes {', '.join(f'{k}: {v}' for k, v in sorted(summary.routes.items()))}"] if rules else []),
        sep="\n",
    )


def _since(value: str | None) -> datetime | None:
    """`7d`, `12h` or an ISO date/time; None means all recorded traffic."""
    if not value:
        return None
    unit = {"d": "days", "h": "hours"}.get(value[-1:])
    try:
        if unit and value[:-1].isdigit():
            return datetime.now(UTC) - timedelta(**{unit: int(value[:-1])})
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"--since takes 7d, 12h or an ISO date, not {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
@friendly_errors
def monitor(
    since: Annotated[str | None, typer.Option(help="Window: 7d, 12h or an ISO date (default: all traffic).")] = None,
    model: ModelUriOpt = None,
    store: Annotated[
        str | None, typer.Option(help="Service database URL (scored leads, feedback); default LEADSCORE_FEEDBACK_DB.")
    ] = None,
    tracking_uri: TrackingOpt = None,
    psi_threshold: Annotated[float, typer.Option(help="PSI above which a column counts as drifted.")] = 0.25,
    ece_threshold: Annotated[float, typer.Option(help="Live calibration error that recommends a retrain.")] = 0.05,
    log: Annotated[bool, typer.Option(help="Record the check as an MLflow run with a reliability plot.")] = True,
    fail_on_drift: Annotated[
        bool, typer.Option(help=f"Exit {ExitCode.DRIFT.value} when the check recommends retraining (for schedulers).")
    ] = False,
) -> None:
    """Population stability (PSI) of recent traffic vs training, and live calibration vs sales decisions."""
    import tempfile

    from leadscore.monitoring.monitor import MIN_DECISIONS, log_monitor_run
    from leadscore.monitoring.monitor import monitor as run_monitor

    loaded = load_for_command(model, None, tracking_uri)
    url = store or settings.feedback_url()
    report = run_monitor(loaded, url, url, _since(since), psi_threshold, ece_threshold)
    if not report.rows:
        console.print(f"no scoring traffic recorded for model version {loaded.version} in {url}")
        raise typer.Exit(1)
    table = Table(title=f"Population stability, model v{report.model_version}, {report.rows} scored leads")
    for col in ("column", "PSI", "status"):
        table.add_column(col)
    colours = {"stable": "green", "watch": "yellow", "drift": "red"}
    for name, value in sorted(report.psi.items(), key=lambda kv: -kv[1]):
        status = report.status[name]
        table.add_row(name, f"{value:.3f}", f"[{colours[status]}]{status}[/]")
    out.print(table)
    if not report.calibration.empty:
        cal = Table(title=f"Live acceptance calibration by score decile (ECE {report.ece:.3f})")
        for col in report.calibration.columns:
            cal.add_column(str(col), justify="right")
        for row in report.calibration.itertuples(index=False):
            cal.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
        out.print(cal)
        if report.calibration["leads"].sum() < MIN_DECISIONS:
            out.print(f"only {report.calibration['leads'].sum()} decided leads: too few to judge calibration")
    if report.calibration_note:
        out.print(report.calibration_note)
    if report.unscored_feedback:
        out.print(
            f"{report.unscored_feedback} sales decision(s) on leads this service never scored (stored; not in the "
            "calibration): is the CRM scoring elsewhere, or sending wrong lead ids?"
        )
    if log:
        with tempfile.TemporaryDirectory() as tmp:
            log_monitor_run(report, Path(tmp), tracking_uri)
    verdict = (
        "[bold red]retrain recommended[/]: " + "; ".join(report.reasons)
        if report.recommend_retrain
        else ("[green]no retrain needed[/]")
    )
    out.print(verdict)
    if fail_on_drift and report.recommend_retrain:
        raise typer.Exit(ExitCode.DRIFT)


@models_app.command("list")
@friendly_errors
def models_list(
    model_name: ModelNameOpt = "leadscore",
    tracking_uri: TrackingOpt = None,
    metric: Annotated[str, typer.Option(help="Metric column to show.")] = "won_roc_auc",
) -> None:
    """Registered versions, newest first, with aliases (champion / challenger)."""
    from leadscore.training.tracking import list_versions

    rows = list_versions(model_name, metric, tracking_uri)
    if not rows:
        console.print(f"no versions of '{model_name}' yet: run `leadscore train`")
        raise typer.Exit(1)
    table = Table(title=f"models:/{model_name}")
    for col in rows[0]:
        table.add_column(col)
    for row in rows:
        table.add_row(*row.values())
    out.print(table)


@models_app.command("promote")
@friendly_errors
def models_promote(
    version: Annotated[str, typer.Argument(help="Version number to make champion.")],
    model_name: ModelNameOpt = "leadscore",
    tracking_uri: TrackingOpt = None,
) -> None:
    """Make VERSION the champion by hand (recorded on the version as a manual promotion)."""
    from mlflow.exceptions import MlflowException

    from leadscore.training.tracking import promote

    try:
        note = promote(model_name, version, tracking_uri)
    except MlflowException as err:
        console.print(f"[bold red]error:[/] {err.message.splitlines()[0]}")
        raise typer.Exit(2) from None
    out.print(f"models:/{model_name}/{version} is now @champion")
    if note:
        console.print(f"[bold yellow]warning:[/] {escape(note)}; every command and page using it will say so")


register_marketing(app)
register_qualification(app)
