"""The campaign report: charts, the self-contained HTML page, CSV files and MLflow logging.

The numbers come from `marketing.insights` (shared with the HTTP service).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from jinja2 import Environment

from leadscore.datasets.files import DataFileError, writable_output, write_csv
from leadscore.features.config import DataConfig, Labels, describe
from leadscore.features.contract import GRADES
from leadscore.marketing.attribution import METRICS, RULES, Attribution, campaign_attribution
from leadscore.marketing.folding import fold_credit, fold_groups
from leadscore.marketing.history import History, ScoredLeads, explained_head, require_column, score_leads
from leadscore.marketing.insights import (
    MIN_WINS,
    TOO_FEW,
    campaign_summary,
    group_labels,
    is_open,
    mean_contributions,
    ranking_metric,
    revenue_evidence,
)
from leadscore.models.reasons import HEAD_WORDS
from leadscore.models.scorer import LeadScorer

matplotlib.rcParams["text.parse_math"] = False  # campaign names are drawn as written: "$" is not math


@dataclass(frozen=True)
class CampaignReport:
    """Everything the report shows: per-campaign and per-channel tables and the mean SHAP per column."""

    campaigns: pd.DataFrame
    channels: pd.DataFrame | None
    drivers: pd.DataFrame | None
    confidence: float
    min_leads: int
    min_wins: int = MIN_WINS
    unknown_spend: tuple[str, ...] = ()
    evidence: str | None = None
    """How much revenue the wins declare and the deal cap (`RevenueEvidence.note`); None without revenue."""
    head: str = "won"
    """The head whose SHAP values `drivers` are."""
    attribution: Attribution | None = None
    """Multi-touch credit under every rule; None without response events."""
    folded: pd.DataFrame | None = None
    """`campaigns` summarised again with campaigns beyond the top `TOP_CAMPAIGNS` as one "other" row, for the
    console, the page and the charts; None when there are not that many (the CSV always has every one)."""
    folded_drivers: pd.DataFrame | None = None
    labels: Labels = field(default_factory=dict)
    """The model's `[labels]`: what the page calls each column."""

    @property
    def shown(self) -> pd.DataFrame:
        """The campaign table people read: folded when there are many campaigns."""
        return self.campaigns if self.folded is None else self.folded

    @property
    def shown_drivers(self) -> pd.DataFrame | None:
        """The mean SHAP table people read, folded like `shown`."""
        return self.drivers if self.folded is None else self.folded_drivers

    @property
    def shown_attribution(self) -> Attribution | None:
        """The credit table people read: campaigns beyond the most credited folded into one row."""
        return None if self.attribution is None else fold_credit(self.attribution)


def campaign_report(
    scorer: LeadScorer,
    history: History,
    data: DataConfig,
    spend: Mapping[str, float] | None = None,
    min_leads: int = 100,
    confidence: float = 0.9,
    source: Path | str = "data",
    min_wins: int = MIN_WINS,
) -> CampaignReport:
    """Score and explain every lead of a historical file, then summarise it per campaign (`build_report`),
    with multi-touch credit when the history has response events. The campaign column is checked before the
    (slow) scoring."""
    frame = history.frame
    require_column(frame, data.campaign, "campaign", source)
    scored = score_leads(scorer, frame, data)
    return build_report(
        scored,
        frame,
        data,
        spend,
        min_leads,
        confidence,
        source,
        min_wins,
        explained_head(scorer),
        history.responses,
        history.decision_days,
        scorer.labels,
    )


def build_report(
    scored: ScoredLeads,
    frame: pd.DataFrame,
    data: DataConfig,
    spend: Mapping[str, float] | None = None,
    min_leads: int = 100,
    confidence: float = 0.9,
    source: Path | str = "data",
    min_wins: int = MIN_WINS,
    head: str = "won",
    responses: pd.DataFrame | None = None,
    decision_days: float = 0.0,
    labels: Labels | None = None,
) -> CampaignReport:
    """Per campaign (and per channel when configured) summaries of a scored lead file; `head` is the one
    whose SHAP values `scored` holds. With `responses`, also the multi-touch credit of every campaign a lead
    responded to before its decision."""
    campaign = require_column(frame, data.campaign, "campaign", source)
    if is_open(scored.outcomes).all():
        raise DataFileError(f"{source} has no lead with an outcome yet: campaigns are compared on outcomes")
    identity = [c for c in (data.campaign, data.channel) if c]
    common: dict[str, Any] = {
        "contributions": scored.contributions,
        "identity_columns": identity,
        "min_leads": min_leads,
        "min_wins": min_wins,
        "confidence": confidence,
    }
    campaigns = campaign_summary(scored.scores, frame[campaign], scored.outcomes, spend=spend, **common)
    channels = None
    if data.channel:
        channel = require_column(frame, data.channel, "channel", source)
        channels = campaign_summary(scored.scores, frame[channel], scored.outcomes, **common)
    drivers = None
    if scored.contributions is not None:
        drivers = mean_contributions(scored.contributions, frame[campaign]).reindex(campaigns.index)
        drivers.index.name = campaign
    folded = folded_drivers = None
    names = group_labels(frame[campaign])
    shown_names = fold_groups(names)
    if shown_names.nunique() < campaigns.shape[0]:
        folded_spend = None
        if spend is not None:  # the folded row spent what its campaigns spent
            renamed = dict(zip(names, shown_names, strict=True))
            folded_spend = pd.Series(spend, dtype=float).groupby(lambda n: renamed.get(n, n)).sum().to_dict()
        folded = campaign_summary(
            scored.scores, shown_names.rename(campaign), scored.outcomes, spend=folded_spend, **common
        )
        if scored.contributions is not None:
            folded_drivers = mean_contributions(scored.contributions, shown_names).reindex(folded.index)
            folded_drivers.index.name = campaign
    unknown = tuple(sorted(set(spend or {}) - set(campaigns.index)))
    evidence = revenue_evidence(scored.outcomes)
    note = None if evidence is None else evidence.note()
    attribution = None
    if responses is not None:
        attribution = campaign_attribution(frame, scored.scores, scored.outcomes, data, responses, decision_days)
    return CampaignReport(
        campaigns,
        channels,
        drivers,
        confidence,
        min_leads,
        min_wins,
        unknown,
        note,
        head,
        attribution,
        folded,
        folded_drivers,
        dict(labels or {}),
    )


def attribution_cells(attribution: Attribution) -> list[dict[str, Any]]:
    """Per credited metric, campaign x rule as display text: for the HTML page and the terminal."""
    tables = []
    for metric in attribution.credit.columns.get_level_values(0).unique():
        digits = 1 if metric in ("accepted_leads", "won_leads", "leads") else 0
        table = attribution.table(metric)
        rows = [(str(name), [_number(v, digits) for v in values]) for name, values in table.iterrows()]
        tables.append(
            {"title": f"{METRICS[metric].capitalize()} credited", "rules": list(RULES.values()), "rows": rows}
        )
    return tables


_VERDICT_COLOURS = {"keep": "#2e7d32", "hold": "#607d8b", "cut": "#c62828", TOO_FEW: "#bdbdbd"}
_GRADE_COLOURS = {"A": "#1b5e20", "B": "#66bb6a", "C": "#ffb74d", "D": "#e57373"}


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _height(rows: int) -> float:
    return 0.38 * rows + 1.6


def revenue_per_lead_chart(summary: pd.DataFrame, confidence: float) -> bytes:
    """Revenue per closed lead by campaign with its interval, best at the top, coloured by verdict."""
    metric = ranking_metric(summary)
    rows = summary.iloc[::-1]
    y = np.arange(len(rows))
    value, lo, hi = rows[metric], rows[f"{metric}_lo"], rows[f"{metric}_hi"]
    colours = [_VERDICT_COLOURS[v] for v in rows["verdict"]]
    fig, ax = plt.subplots(figsize=(8, _height(len(rows))))
    ax.hlines(y, lo, hi, colors=colours, lw=3, alpha=0.6)
    ax.scatter(value, y, c=colours, zorder=3)
    benchmark = rows["benchmark"]
    if benchmark.nunique() == 1:
        ax.axvline(float(benchmark.iloc[0]), ls="--", c="grey", lw=1, label="all-campaign average")
    else:
        ax.scatter(benchmark, y, marker="|", s=200, c="black", label="break-even spend per lead (else average)")
    for verdict, colour in _VERDICT_COLOURS.items():
        if verdict in set(rows["verdict"]):
            ax.scatter([], [], c=colour, label=verdict)
    ax.set_yticks(y, rows.index)
    label = metric.replace("_", " ")
    ax.set(xlabel=f"{label} ({confidence:.0%} interval)", title=f"{label.capitalize()} by campaign")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def acceptance_chart(summary: pd.DataFrame, confidence: float) -> bytes:
    """Predicted vs actual acceptance per campaign (Wilson interval on the actual); the diagonal is perfect."""
    fig, ax = plt.subplots(figsize=(6, 6))
    pred, actual = summary["predicted_accept"], summary["accept_rate"]
    err = np.vstack([actual - summary["accept_rate_lo"], summary["accept_rate_hi"] - actual])
    colours = [_VERDICT_COLOURS[v] for v in summary["verdict"]]
    ax.errorbar(pred, actual, yerr=err, fmt="none", ecolor="grey", alpha=0.6)
    ax.scatter(pred, actual, c=colours, zorder=3)
    for name, x, y in zip(summary.index, pred, actual, strict=True):
        ax.annotate(str(name), (x, y), fontsize=7, xytext=(4, 2), textcoords="offset points")
    top = float(np.nanmax([summary["accept_rate_hi"].max(), pred.max()])) * 1.1
    ax.plot([0, top], [0, top], ls="--", c="grey", lw=1)
    ax.set(
        xlim=(0, top),
        ylim=(0, top),
        xlabel="predicted acceptance (mean p_accept)",
        ylabel=f"actual acceptance ({confidence:.0%} interval)",
        title="Predicted vs actual acceptance",
    )
    return _png(fig)


def grade_mix_chart(summary: pd.DataFrame) -> bytes:
    """Share of A/B/C/D leads per campaign, in report order."""
    rows = summary.iloc[::-1]
    fig, ax = plt.subplots(figsize=(8, _height(len(rows))))
    left = np.zeros(len(rows))
    for grade in GRADES:
        share = rows[f"share_{grade}"].to_numpy()
        ax.barh(rows.index, share, left=left, color=_GRADE_COLOURS[grade], label=grade)
        left += share
    ax.set(xlim=(0, 1), xlabel="share of leads", title="Grade mix by campaign")
    ax.legend(ncols=4, loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8)
    return _png(fig)


def report_charts(report: CampaignReport) -> dict[str, bytes]:
    """The report's charts as PNG bytes, by file name."""
    charts = {
        "campaign_revenue_per_lead.png": revenue_per_lead_chart(report.shown, report.confidence),
        "campaign_grade_mix.png": grade_mix_chart(report.shown),
    }
    if "predicted_accept" in report.shown:
        charts["campaign_acceptance.png"] = acceptance_chart(report.shown, report.confidence)
    return charts


def _number(value: Any, digits: int = 0) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:,.{digits}f}"


def _share(value: Any) -> str:
    return "–" if pd.isna(value) else f"{value:.0%}"


def _with_interval(row: pd.Series, name: str, fmt: Any) -> str:
    if name not in row or pd.isna(row[name]):
        return "–"
    return f"{fmt(row[name])} [{fmt(row[f'{name}_lo'])}–{fmt(row[f'{name}_hi'])}]"


def display_rows(summary: pd.DataFrame, labels: Labels | None = None) -> list[dict[str, str]]:
    """The summary as formatted text cells for the HTML and terminal tables; drivers named by `labels`."""
    rows = []
    for name, row in summary.iterrows():
        cells = {
            "rank": "" if pd.isna(row["rank"]) else str(row["rank"]),
            "name": str(name),
            "verdict": str(row["verdict"]),
            "leads": f"{row['leads']:,} ({row['open_leads']:,} open)",
            "mean_score": _number(row["mean_score"]),
            "grades": " / ".join(_share(row[f"share_{g}"]) for g in GRADES),
            "predicted_accept": _share(row.get("predicted_accept")),
            "accept_rate": _with_interval(row, "accept_rate", _share),
            "predicted_won": _share(row.get("predicted_won")),
            "won_rate": _with_interval(row, "won_rate", lambda v: f"{v:.1%}"),
            "wins": _number(row.get("won_leads")),
            "closed_revenue": _number(row.get("closed_revenue")),
            "revenue_per_lead": _with_interval(row, "revenue_per_lead", _number),
            "raw_revenue_per_lead": _number(row.get("raw_revenue_per_lead")),
            "pipeline": _number(row["predicted_pipeline"]),
            "spend": _number(row.get("spend")),
            "cost_per_accepted": _number(row.get("cost_per_accepted")),
            "roi": _share(row.get("roi")),
            "drivers": ", ".join(
                describe(labels, column)[0] for column in str(row.get("top_drivers", "") or "").split(", ") if column
            ),
        }
        rows.append(cells)
    return rows


_TEMPLATE = (Path(__file__).parent / "templates" / "report.html.j2").read_text(encoding="utf-8")

_CHART_TITLES = {
    "campaign_revenue_per_lead.png": "The ranking metric by campaign, against the benchmark",
    "campaign_acceptance.png": "Predicted vs actual acceptance",
    "campaign_grade_mix.png": "Grade mix",
}


DRIVER_COLUMNS = 10
"""Columns of the page's drivers table: those that move campaigns most (the CSV has every column)."""


def _driver_cells(drivers: pd.DataFrame, labels: Labels) -> dict[str, Any]:
    """Mean SHAP table of the columns that differ most between campaigns, named by `[labels]`, with a
    red/green tint whose strength follows the value."""
    strongest = drivers.abs().mean().sort_values(ascending=False, kind="stable").index[:DRIVER_COLUMNS]
    drivers = drivers[list(strongest)]
    scale = float(np.nanmax(np.abs(drivers.to_numpy()))) or 1.0
    rows = []
    for name, values in drivers.iterrows():
        cells = []
        for v in values:
            alpha = min(abs(v) / scale, 1.0) * 0.6
            colour = f"rgba(46,125,50,{alpha:.2f})" if v > 0 else f"rgba(198,40,40,{alpha:.2f})"
            cells.append({"text": f"{v:+.2f}", "colour": colour})
        rows.append((name, cells))
    return {"columns": [describe(labels, str(c))[0] for c in drivers.columns], "rows": rows}


_BASIS_WORDS = {
    "revenue_per_lead": "capped revenue per closed lead",
    "won_rate": "win rate",
    "accept_rate": "acceptance rate",
}


def _benchmark_text(summary: pd.DataFrame) -> str:
    if "spend" in summary and ranking_metric(summary) == "revenue_per_lead":
        return "break-even spend per lead where spend is known, else the all-campaign figure"
    value = float(summary["benchmark"].iloc[0])
    return (
        f"all-campaign {value:,.0f}" if ranking_metric(summary) == "revenue_per_lead" else f"all-campaign {value:.1%}"
    )


def basis_text(report: CampaignReport) -> str:
    """Which evidence the verdicts rest on and why, in one sentence for the console and the HTML page."""
    summary = report.campaigns
    basis = ranking_metric(summary)
    why = {
        "revenue_per_lead": "enough wins declare revenue",
        "won_rate": "too few wins declare revenue for revenue to decide" if report.evidence else "no revenue column",
        "accept_rate": "no win outcome is known",
    }[basis]
    text = f"Verdicts on {_BASIS_WORDS[basis]} ({why}) vs the {_benchmark_text(summary)}"
    text += f"; a verdict needs {report.min_leads} closed leads and {report.min_wins} "
    text += "acceptances." if basis == "accept_rate" else "wins."
    return text + (f" Revenue: {report.evidence}." if report.evidence else "")


def render_html(report: CampaignReport, charts: Mapping[str, bytes], source: str, model: str) -> str:
    """The self-contained report page: tables, charts as data: URIs, the mean SHAP table."""
    summary = report.shown
    ranked, small = summary[~summary["small_sample"]], summary[summary["small_sample"]]
    key = str(summary.index.name or "campaign")
    tables = [
        {"title": "Campaigns, best first", "key": key, "rows": display_rows(ranked, report.labels)},
        {"title": "Too few closed leads to rank", "key": key, "rows": display_rows(small, report.labels)},
    ]
    if report.channels is not None:
        tables.append(
            {
                "title": "Channels",
                "key": str(report.channels.index.name),
                "rows": display_rows(report.channels, report.labels),
            }
        )
    env = Environment(autoescape=True)
    return env.from_string(_TEMPLATE).render(
        title="Campaign report",
        leads=f"{int(summary['leads'].sum()):,}",
        open=f"{int(summary['open_leads'].sum()):,}",
        source=source,
        model=model,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        confidence=f"{report.confidence:.0%}",
        metric=_BASIS_WORDS[ranking_metric(summary)],
        min_leads=report.min_leads,
        basis=basis_text(report),
        revenue="revenue_per_lead" in summary,
        won="won_rate" in summary,
        accept="accept_rate" in summary,
        spend="spend" in summary,
        tables=tables,
        charts=[
            {"title": _CHART_TITLES[name], "data": base64.b64encode(png).decode("ascii")}
            for name, png in charts.items()
        ],
        drivers=None if report.shown_drivers is None else _driver_cells(report.shown_drivers, report.labels),
        head=HEAD_WORDS.get(report.head, report.head),
        attribution=None
        if report.shown_attribution is None
        else {"note": report.shown_attribution.note(), "tables": attribution_cells(report.shown_attribution)},
    )


def write_report(report: CampaignReport, out_dir: Path, source: str, model: str) -> list[Path]:
    """Write report.html (self-contained), campaigns.csv, channels.csv, campaign_drivers.csv (mean SHAP per
    column, as shap_<column>), campaign_attribution.csv (`<metric>__<rule>` credit) and the chart PNGs."""
    out_dir = writable_output(out_dir, directory=True)
    charts = report_charts(report)
    paths = [out_dir / "report.html", out_dir / "campaigns.csv"]
    paths[0].write_text(render_html(report, charts, source, model), encoding="utf-8")
    write_csv(report.campaigns, paths[1])
    if report.channels is not None:
        paths.append(out_dir / "channels.csv")
        write_csv(report.channels, paths[-1])
    if report.drivers is not None:
        paths.append(out_dir / "campaign_drivers.csv")
        write_csv(report.drivers.add_prefix("shap_"), paths[-1])
    if report.attribution is not None:
        paths.append(out_dir / "campaign_attribution.csv")
        credit = report.attribution.credit
        write_csv(credit.set_axis([f"{metric}__{rule}" for metric, rule in credit.columns], axis=1), paths[-1])
    for name, png in charts.items():
        paths.append(out_dir / name)
        paths[-1].write_bytes(png)
    return paths


def log_report(paths: Sequence[Path], tags: Mapping[str, str]) -> str:
    """Log the report files to a new MLflow run (the caller has configured the store); returns its id."""
    with mlflow.start_run(run_name="campaign-report") as run:
        mlflow.set_tags({"leadscore.kind": "campaign_report", **tags})
        for path in paths:
            mlflow.log_artifact(str(path), "campaign_report")
    return run.info.run_id
