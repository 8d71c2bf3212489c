"""`leadscore report campaigns`, `leadscore plan` and `leadscore route`: marketing by the numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from leadscore import settings
from leadscore.cli.common import (
    ConfigOpt,
    DataOpt,
    ModelUriOpt,
    TrackingOpt,
    console,
    friendly_errors,
    load_for_command,
    missing_columns_hint,
    out,
    parse_as_of,
    step_progress,
)
from leadscore.marketing.limits import MIN_WINS, TOO_FEW

if TYPE_CHECKING:  # the commands import what they run, so `leadscore --help` loads no data or ML library
    import pandas as pd

    from leadscore.marketing.attribution import Attribution
    from leadscore.marketing.planner import Plan

_MODEL_HINT = "add them to the data, or name a model trained without them (--model)"
_PLAN_OPTIONS = {"target": "--revenue-target", "mix": "--mix", "confidence": "--confidence"}
"""`PlanError.argument` -> the option that sets it."""

report_app = typer.Typer(
    help="Reports for marketing: which campaigns bring accepted leads and revenue.", no_args_is_help=True
)


@report_app.command("campaigns")
@friendly_errors
def report_campaigns(
    data: DataOpt,
    config: ConfigOpt,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for report.html, campaigns.csv and charts.")],
    model: ModelUriOpt = None,
    tracking_uri: TrackingOpt = None,
    costs: Annotated[Path | None, typer.Option("--costs", help="CSV with columns campaign,spend.")] = None,
    min_leads: Annotated[int, typer.Option(min=1, help="Closed leads a campaign needs to be ranked.")] = 100,
    min_wins: Annotated[
        int, typer.Option(min=1, help="Wins (acceptances, when only acceptance is known) a verdict needs.")
    ] = MIN_WINS,
    confidence: Annotated[float, typer.Option(min=0.5, max=0.99, help="Interval confidence.")] = 0.9,
) -> None:
    """Per campaign (and channel): acceptance, wins, revenue per lead with intervals, pipeline, drivers.

    Logged to MLflow when --tracking-uri or MLFLOW_TRACKING_URI is set.
    """
    from leadscore.datasets.files import load_config
    from leadscore.marketing.history import load_history, load_spend
    from leadscore.marketing.report import basis_text, campaign_report, log_report, write_report
    from leadscore.training.tracking import REPORTS_EXPERIMENT, configure

    cfg = load_config(config)
    spend = load_spend(costs) if costs else None
    with step_progress("campaign report") as step:
        step("loading the model")
        loaded = load_for_command(model, cfg, tracking_uri)
        history = load_history(data, cfg, config, loaded.scorer)
        if history.maturing_note:
            console.print(escape(history.maturing_note), highlight=False)
        step(f"scoring and explaining {len(history.frame):,} leads")
        with missing_columns_hint(loaded, _MODEL_HINT):
            report = campaign_report(loaded.scorer, history, cfg.data, spend, min_leads, confidence, data, min_wins)
        step("writing the report")
        paths = write_report(report, out_dir, data.name, loaded.described)
    if report.unknown_spend:
        console.print(f"[yellow]warning:[/] cost table campaigns not in the data: {list(report.unknown_spend)}")
    out.print(_report_table(report.shown, confidence, basis_text(report)))
    if report.shown_attribution is not None:
        metric = "won_leads" if "won_rate" in report.campaigns else "leads"
        out.print(_attribution_table(report.shown_attribution, metric))
    for path in paths[:2]:
        out.print(f"wrote {path}")
    out.print(f"      and {len(paths) - 2} more files in {out_dir}")
    if tracking_uri or settings.explicit_tracking_uri():
        configure(tracking_uri, REPORTS_EXPERIMENT)
        run_id = log_report(paths, {"data_path": str(data), "model_uri": loaded.uri})
        out.print(f"logged to MLflow run {run_id}")


@report_app.command("accounts")
@friendly_errors
def report_accounts(
    data: DataOpt,
    config: ConfigOpt,
    out_path: Annotated[Path, typer.Option("--out", help="CSV of every account: people, engaged, P(win), revenue.")],
    model: ModelUriOpt = None,
    tracking_uri: TrackingOpt = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Score as of this time (default: now), e.g. 2026-06-30.")
    ] = None,
    top: Annotated[int, typer.Option(min=1, help="Accounts to print.")] = 15,
) -> None:
    """Per account: engaged people, P(at least one win), expected revenue and the top reasons."""
    from leadscore.datasets.files import load_config, writable_output, write_csv
    from leadscore.marketing.account_report import account_report

    cfg = load_config(config)
    with step_progress("account report") as step:
        loaded = load_for_command(model, cfg, tracking_uri)
        step("scoring and explaining the leads, rolling them up to accounts")
        with missing_columns_hint(loaded, "add them to the data, or name a model trained without them (--model)"):
            report = account_report(data, cfg, config, loaded.scorer, parse_as_of(as_of))
    out_path = writable_output(out_path)
    table = report.accounts.assign(top_reasons=report.accounts["top_reasons"].map(" | ".join))
    write_csv(table, out_path, index=False)
    out.print(_accounts_table(report.accounts.head(top), report.as_of, report.note))
    opened = int(report.people["open"].sum())
    out.print(
        f"wrote {len(report.accounts):,} accounts ({len(report.people):,} people, {opened:,} of them open) "
        f"-> {out_path}"
    )
    if report.no_account:
        out.print(
            f"{report.no_account:,} leads had no account ({report.no_account_open:,} of them open) and are in no "
            "account's numbers"
        )


def _accounts_table(accounts: pd.DataFrame, as_of: pd.Timestamp, note: str) -> Table:
    table = Table(title=f"Accounts by expected revenue, as of {as_of:%Y-%m-%d %H:%M} UTC", caption=note)
    for title in ("account", "people", "engaged", "P(≥1 win)", "expected revenue", "top reasons"):
        table.add_column(title, justify="left" if title in ("account", "top reasons") else "right")
    for row in accounts.itertuples():
        reasons = "\n".join(row.top_reasons) or "–"
        table.add_row(
            row.account,
            str(row.people),
            str(row.engaged_people),
            f"{row.p_any_win:.0%}",
            f"{row.expected_revenue:,.0f}",
            reasons,
        )
    return table


def _report_columns(summary: pd.DataFrame) -> dict[str, str]:
    """Column title -> display cell, for the outcomes this data has: win rate, acceptance, revenue, ROI."""
    columns = {"#": "rank", "campaign": "name", "verdict": "verdict", "leads": "leads"}
    if "won_rate" in summary:
        columns |= {"wins": "wins", "win rate": "won_rate", "win (model)": "predicted_won"}
    if "accept_rate" in summary:
        columns |= {"accept (actual)": "accept_rate", "accept (model)": "predicted_accept"}
    if "revenue_per_lead" in summary:
        columns |= {"revenue / lead (capped)": "revenue_per_lead", "raw": "raw_revenue_per_lead"}
    if summary["predicted_pipeline"].notna().any():
        columns["pipeline"] = "pipeline"
    if "spend" in summary:
        columns["ROI"] = "roi"
    return columns


def _report_table(summary: pd.DataFrame, confidence: float, caption: str | None = None) -> Table:
    from leadscore.marketing.report import display_rows

    table = Table(title=f"Campaigns, best first ({confidence:.0%} intervals)", caption=caption)
    columns = _report_columns(summary)
    for title in columns:
        table.add_column(title, justify="left" if title in ("campaign", "verdict") else "right")
    styles = {"keep": "green", "cut": "red", TOO_FEW: "dim"}
    for row in display_rows(summary):
        table.add_row(*(row[key] for key in columns.values()), style=styles.get(row["verdict"]))
    return table


def _attribution_table(attribution: Attribution, metric: str) -> Table:
    """One credited metric, campaign x rule side by side, with what it rests on and the verdicts' rule."""
    from leadscore.marketing.attribution import METRICS
    from leadscore.marketing.report import attribution_cells

    cells = next(t for t in attribution_cells(attribution) if t["title"].lower().startswith(METRICS[metric]))
    table = Table(title=f"{cells['title']} to every campaign a lead responded to before its decision")
    table.caption = attribution.note()
    table.add_column("campaign")
    for rule in cells["rules"]:
        table.add_column(rule, justify="right")
    for name, values in cells["rows"]:
        table.add_row(name, *values)
    return table


def _count(value: float) -> str:
    """Whole leads, SALs and wins (the plan rounds up); an interval history cannot bound shows as ∞."""
    import pandas as pd

    return "–" if pd.isna(value) else "∞" if math.isinf(value) else f"{value:,.0f}"


def _plan_table(plan: Plan) -> Table:
    """The plan per campaign, beyond the top `TOP_CAMPAIGNS` by leads folded into one row (which shows its
    counts; per-lead money is a per-campaign figure), then the totals, which the rows add up to."""
    from leadscore.marketing.folding import fold_rows

    counts = ["share", "leads", "leads_lo", "leads_hi", "accepted", "wins"]
    shown = fold_rows(plan.campaigns[counts], plan.campaigns["leads"]).join(plan.campaigns.drop(columns=counts))
    period = f" in {plan.period}" if plan.period else ""
    table = Table(title=f"Leads needed for {plan.target:,.0f} revenue{period} ({plan.mix_source} mix)")
    interval = f"{plan.confidence:.0%} interval"
    titles = ("campaign", "share", "rev / lead (capped)", "raw", "model", "leads", interval, "SALs", "wins")
    for title in titles:
        table.add_column(title, justify="left" if title == "campaign" else "right")
    money = ("revenue_per_lead", "raw_revenue_per_lead", "expected_revenue_per_lead")
    for name, row in shown.iterrows():
        table.add_row(
            str(name),
            f"{row['share']:.0%}",
            *(_money(row[c]) for c in money),
            _count(row["leads"]),
            f"{_count(row['leads_lo'])}–{_count(row['leads_hi'])}",
            _count(row["accepted"]),
            _count(row["wins"]),
        )
    table.add_row(
        "total",
        "100%",
        _money(plan.revenue_per_lead),
        _money(plan.raw_revenue_per_lead),
        _money(plan.model_revenue_per_lead),
        _count(plan.leads.estimate),
        f"{_count(plan.leads.lo)}–{_count(plan.leads.hi)}",
        "–" if plan.accepted is None else _count(plan.accepted.estimate),
        _count(plan.wins.estimate),
        style="bold",
        end_section=True,
    )
    model = "no model revenue head" if plan.model_leads is None else f"the model says {_count(plan.model_leads)}"
    table.caption = (
        f"{_count(plan.leads.estimate)} leads from history with deals capped at {_money(plan.deal_cap)}; "
        f"{_count(plan.leads.lo)}–{_count(plan.leads.hi)} for {plan.confidence:.0%} confidence (bootstrap of "
        f"history's leads); at the raw mean {_count(plan.raw_leads)}; {model}. {plan.evidence}."
    )
    return table


def _money(value: float | None) -> str:
    import pandas as pd

    return "–" if value is None or pd.isna(value) else "none" if math.isinf(value) else f"{value:,.0f}"


@friendly_errors
def plan(
    revenue_target: Annotated[str, typer.Option("--revenue-target", help="Revenue to reach: 2500000, 2.5M, 250k.")],
    data: DataOpt,
    config: ConfigOpt,
    period: Annotated[str | None, typer.Option(help="Label for the plan, e.g. 2026-Q1 (echoed back).")] = None,
    mix: Annotated[
        str | None, typer.Option(help="campaign=share,... summing to 1; default: the historical mix.")
    ] = None,
    model: ModelUriOpt = None,
    tracking_uri: TrackingOpt = None,
    confidence: Annotated[float, typer.Option(min=0.5, max=0.99, help="Interval confidence.")] = 0.8,
    simulations: Annotated[int, typer.Option(min=100, help="Simulated funnels behind the interval.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed of the simulation.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """How many leads, sales-accepted leads and wins a revenue target needs, overall and per campaign."""
    from leadscore.datasets.files import load_config
    from leadscore.marketing.folding import fold_credit
    from leadscore.marketing.history import load_history
    from leadscore.marketing.planner import PlanError, parse_amount, parse_mix, plan_from_history

    cfg = load_config(config)
    try:
        target = parse_amount(revenue_target)
        shares = parse_mix(mix) if mix is not None else None
        loaded = load_for_command(model, cfg, tracking_uri)
        history = load_history(data, cfg, config, loaded.scorer)
        if history.maturing_note:
            console.print(escape(history.maturing_note), highlight=False)
        with missing_columns_hint(loaded, _MODEL_HINT):
            result, credit = plan_from_history(
                loaded.scorer,
                history,
                cfg.data,
                target,
                data,
                mix=shares,
                period=period,
                confidence=confidence,
                n_sims=simulations,
                seed=seed,
            )
    except PlanError as err:
        raise typer.BadParameter(str(err), param_hint=_PLAN_OPTIONS.get(err.argument)) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict() | ({"attribution": credit.to_dict()} if credit else {}), indent=2))
    else:
        out.print(_plan_table(result))
        if credit is not None:
            metric = "closed_revenue" if "closed_revenue" in credit.totals else "leads"
            out.print(_attribution_table(fold_credit(credit), metric))
    for warning in result.warnings:
        console.print(f"[bold red]warning:[/] {warning}")


@friendly_errors
def route(
    data: DataOpt,
    capacity: Annotated[int, typer.Option("--capacity", min=1, help="Leads per owner (or in total without --by).")],
    out_path: Annotated[Path, typer.Option("--out", help="CSV for the CRM: id, owner, rank, score, reasons.")],
    by: Annotated[str | None, typer.Option("--by", help="Owner or team column: capacity applies per owner.")] = None,
    model: ModelUriOpt = None,
    tracking_uri: TrackingOpt = None,
    reasons: Annotated[int, typer.Option(min=0, max=10, help="Reasons per head and direction (0 = none).")] = 2,
    allow_missing: Annotated[bool, typer.Option(help="Score even if feature columns are absent (as missing).")] = False,
) -> None:
    """The best N open leads per owner by expected revenue (ties by p_accept), as a CSV the CRM can import."""
    from leadscore.datasets.files import load_table, writable_output, write_csv
    from leadscore.marketing.routing import route_leads

    frame = load_table(data)
    loaded = load_for_command(model, None, tracking_uri)
    with step_progress("routing") as step, missing_columns_hint(loaded, "add them, or pass --allow-missing"):
        step(f"scoring {len(frame):,} leads")
        routed = route_leads(loaded.scorer, frame, capacity, by, reasons, allow_missing, data)
    out_path = writable_output(out_path)
    write_csv(routed.leads, out_path, index=False)
    if by:
        counts = routed.leads[by].value_counts()
        short = sorted(counts[counts < capacity].index)
        if short:
            console.print(f"[yellow]warning:[/] fewer than {capacity} open leads for {short}")
        who = f"{len(counts)} owner(s)"
    else:
        who = "the team"
    skipped = f"{routed.closed_skipped:,} with an outcome"
    if routed.no_owner_skipped:
        skipped += f", {routed.no_owner_skipped:,} without an owner"
    out.print(f"routed {len(routed.leads):,} of {routed.open_leads:,} open leads to {who} -> {out_path}")
    out.print(f"skipped {skipped}")


def register(app: typer.Typer) -> None:
    """Add `report campaigns`, `plan` and `route` to the leadscore CLI."""
    app.add_typer(report_app, name="report")
    app.command("plan")(plan)
    app.command("route")(route)
