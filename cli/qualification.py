"""`leadscore qualification check`: the agreed lead definition measured against historical leads."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from leadscore.cli.common import (
    DataOpt,
    TrackingOpt,
    friendly_errors,
    load_for_command,
    missing_columns_hint,
    out,
    step_progress,
)

if TYPE_CHECKING:  # the command imports what it runs, so `leadscore --help` loads no data or ML library
    import pandas as pd

    from leadscore.marketing.qualification import CheckReport, Suggestion

qualification_app = typer.Typer(
    help="The lead definition agreed with sales: the qualification rules in leadscore.toml.", no_args_is_help=True
)


def _pct(value: float) -> str:
    import pandas as pd

    return "–" if pd.isna(value) else f"{value:.0%}"


def _money(value: float) -> str:
    import pandas as pd

    return "–" if pd.isna(value) else f"{value:,.0f}"


def _pair(row: pd.Series, key: str, fmt: Callable[[float], str] = _pct) -> str:
    """ "pass | fail" in one cell, so the two groups sit side by side."""
    return f"{fmt(row[f'{key}_pass'])} | {fmt(row[f'{key}_fail'])}"


def _rules_table(report: CheckReport) -> Table:
    """One row per rule, each judged alone: what it passes, what it cuts, and how its two groups did."""
    from leadscore.marketing.qualification import MAX_CUT

    rules = report.rules
    judged = str(rules["judged_on"].iloc[0]) if len(rules) else "won"
    cut = {"revenue": "revenue", "won": "wins", "accepted": "accepted"}[judged]
    table = Table(title=f"Each rule alone, on {report.leads:,} historical leads (pass | fail)")
    table.add_column("rule", min_width=22)
    for title in ("passing", f"cuts {cut}", "acceptance", "win rate", "revenue / lead"):
        table.add_column(title, justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    styles = {"earns its keep": "green", "cuts nothing": "dim"}
    for _, row in rules.iterrows():
        table.add_row(
            escape(row["description"]),  # rule values are user text, not markup
            f"{row['passing']:,} ({_pct(row['pass_share'])})",
            _pct(row["value_cut_share"]),
            _pair(row, "accept_rate"),
            _pair(row, "win_rate"),
            _pair(row, "revenue_per_lead", _money),
            row["verdict"],
            style=styles.get(row["verdict"], "red"),
        )
    table.caption = (
        f"verdicts judged on {cut}: too strict = fails more than {MAX_CUT:.0%} of the "
        f"{'wins' if cut == 'wins' else f'wins or of the {cut}'}; "
        f"costs = cuts as large a share of the {cut} as of the volume; see docs/qualification.md"
    )
    return table


def _funnel_table(report: CheckReport) -> Table:
    table = Table(title="All rules together, step by step")
    for title in ("step", "leads", "volume", "acceptance", "win rate", "wins kept", "revenue kept", "revenue / lead"):
        table.add_column(title, justify="left" if title == "step" else "right")
    for _, row in report.funnel.iterrows():
        table.add_row(
            escape(row["step"]),
            f"{row['leads']:,}",
            _pct(row["volume_share"]),
            _pct(row["accept_rate"]),
            _pct(row["win_rate"]),
            _pct(row["wins_kept"]),
            _pct(row["revenue_kept"]),
            _money(row["revenue_per_lead"]),
        )
    return table


def _suggestion_table(suggestion: Suggestion) -> Table:
    proposed = " (proposed)" if suggestion.min_score is not None else ""
    labels = {
        "keep_wins": f"keeps ≥ {suggestion.keep_wins:.0%} of wins{proposed}",
        "cut_volume": f"cuts ≥ {suggestion.cut_volume:.0%} of volume",
        "keep_wins_with_rules": "the first, with the other rules (routed to sales)",
    }
    table = Table(title="Score thresholds (min_score) from the record")
    for title in ("option", "min_score", "cuts volume", "keeps wins", "keeps revenue"):
        table.add_column(title, justify="left" if title == "option" else "right")
    for name, row in suggestion.options.iterrows():
        table.add_row(
            labels[str(name)],
            str(int(row["min_score"])),
            _pct(row["volume_cut"]),
            _pct(row["wins_kept"]),
            _pct(row["revenue_kept"]),
        )
    goals = f"keep {suggestion.keep_wins:.0%} of wins and cut {suggestion.cut_volume:.0%} of volume"
    if suggestion.min_score is not None:
        table.caption = f"proposed: min_score = {suggestion.min_score}, which meets both goals ({goals})"
    else:
        options = suggestion.options
        table.caption = (
            f"no min_score meets both goals ({goals}): keeping {suggestion.keep_wins:.0%} of wins cuts at most "
            f"{options.loc['keep_wins', 'volume_cut']:.0%} of volume, and cutting {suggestion.cut_volume:.0%} "
            f"keeps {options.loc['cut_volume', 'wins_kept']:.0%} of wins; relax one goal"
        )
    return table


@qualification_app.command("check")
@friendly_errors
def check(
    data: DataOpt,
    config: Annotated[
        Path, typer.Option("--config", help="leadscore.toml with the column roles and the qualification rules.")
    ] = Path("leadscore.toml"),
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Scores for the min_score/min_grade rule: models:/NAME@ALIAS, models:/NAME/N or a model "
            "directory. Default: none (threshold not checked), or with --suggest the champion of [model].name.",
        ),
    ] = None,
    tracking_uri: TrackingOpt = None,
    suggest: Annotated[bool, typer.Option("--suggest", help="Propose min_score from the historical record.")] = False,
    keep_wins: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="--suggest: share of historical wins to keep.")
    ] = 0.9,
    cut_volume: Annotated[
        float, typer.Option(min=0.0, max=0.99, help="--suggest: share of lead volume to cut (the goal).")
    ] = 0.3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON.")] = False,
) -> None:
    """How many historical leads each rule passes, and the acceptance, win rate and revenue of the leads it
    passes and fails: which rules earn their keep and which cost revenue."""
    from leadscore.datasets.files import load_config, load_table
    from leadscore.features.config import ConfigError
    from leadscore.marketing.qualification import check_definition

    cfg = load_config(config)
    if cfg.qualification is None:  # before the data and the model load
        raise ConfigError(f"{config} has no qualification rules; docs/qualification.md shows how to add them")
    frame = load_table(data)
    with step_progress("checking the lead definition") as step:
        loaded = None
        if suggest or model:
            step("loading the model")
            loaded = load_for_command(model, cfg, tracking_uri)
        step(f"applying the rules to {len(frame):,} leads")
        with missing_columns_hint(loaded, "add them to the data, or name a model trained without them (--model)"):
            report, suggestion = check_definition(
                frame, cfg, loaded.scorer if loaded else None, suggest, keep_wins, cut_volume
            )
    if as_json:
        payload = report.to_dict() | {"suggestion": suggestion.to_dict() if suggestion else None}
        typer.echo(json.dumps(payload, indent=2, default=_json_default))
        return
    out.print(_rules_table(report))
    out.print(_funnel_table(report))
    if report.open_leads:
        out.print(
            f"{report.open_leads:,} open leads (no outcome yet) count in the volume, not in the rates, wins or "
            "revenue per lead"
        )
    if suggestion is not None:
        out.print(_suggestion_table(suggestion))


def _json_default(value: object) -> object:
    """numpy scalars in the report frames."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def register(app: typer.Typer) -> None:
    """Add `qualification check` to the leadscore CLI."""
    app.add_typer(qualification_app, name="qualification")
