"""Marketing by the numbers: the campaign report, the quota planner and capacity-sized lead lists.

The numbers come from `models.insights` (shared with the HTTP service); this module adds what only the
command line needs: scoring a file, charts, the self-contained HTML report, MLflow logging, the
revenue-target simulation and the CRM import file.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
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

from features.config import ConfigError, DataConfig
from features.schema import normalize_text, to_number
from models.insights import (
    GRADES,
    MIN_WINS,
    TOO_FEW,
    campaign_summary,
    closed_revenue,
    group_labels,
    is_open,
    mean_contributions,
    outcome_frame,
    ranking_metric,
    revenue_evidence,
    summary_records,
)
from models.scorer import LeadScorer
from training.data import DataFileError, load_table

matplotlib.rcParams["text.parse_math"] = False  # campaign names are drawn as written: "$" is not math

_MIX_TOLERANCE = 1e-3
_SIM_CELLS = 1_000_000
"""Upper bound on simulated deals held in memory at once in one simulation."""


class PlanError(ValueError):
    """A revenue plan that cannot be made from these inputs; the message says which input and why."""


# ------------------------------------------------------------------ scoring history
@dataclass(frozen=True)
class ScoredLeads:
    """A lead file scored once, with what the report and planner read from it (same index as the file)."""

    scores: pd.DataFrame
    outcomes: pd.DataFrame
    contributions: pd.DataFrame | None


def score_leads(scorer: LeadScorer, frame: pd.DataFrame, data: DataConfig, explain: bool = True) -> ScoredLeads:
    """Score every lead; with `explain`, per-column SHAP of the win head (acceptance when there is none)."""
    X = scorer.transformer_.transform(frame)
    scores = scorer.predict_matrix(X)
    scores.index = frame.index
    contributions = None
    if explain:
        head = "won" if "won" in scorer.heads_ else "accepted"
        contributions = scorer.contributions(X, head)
        contributions.index = frame.index
    return ScoredLeads(scores, outcome_frame(frame, data), contributions)


def require_column(frame: pd.DataFrame, column: str | None, role: str, source: Path | str) -> str:
    """The column playing `role`, or a clear error when it is not configured or not in the file."""
    if column is None:
        raise ConfigError(f'the config names no {role} column: add {role} = "<column>" to its data table')
    if column not in frame.columns:
        raise DataFileError(f"{source} has no {role} column '{column}'")
    return column


def load_spend(path: Path) -> dict[str, float]:
    """Campaign spend from a CSV with columns `campaign` and `spend`; errors name the file line or campaign."""
    table = load_table(path)
    missing = [c for c in ("campaign", "spend") if c not in table.columns]
    if missing:
        raise DataFileError(f"{path}: cost table needs columns 'campaign' and 'spend'; missing {missing}")
    names = group_labels(table["campaign"])
    spend, invalid = to_number(normalize_text(table["spend"], ("",)))
    bad = invalid | spend.isna() | (spend < 0)
    if bad.any():
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(bad.to_numpy(bool))[:5])
        raise DataFileError(f"{path}: 'spend' must be a non-negative number (line {rows})")
    dupes = sorted(names[names.duplicated()].unique())
    if dupes:
        raise DataFileError(f"{path}: campaign(s) listed twice: {dupes}")
    return dict(zip(names, spend.astype(float), strict=True))


# ------------------------------------------------------------------ campaign report
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


def build_report(
    scored: ScoredLeads,
    frame: pd.DataFrame,
    data: DataConfig,
    spend: Mapping[str, float] | None = None,
    min_leads: int = 100,
    confidence: float = 0.9,
    source: Path | str = "data",
    min_wins: int = MIN_WINS,
) -> CampaignReport:
    """Per campaign (and per channel when configured) summaries of a scored lead file."""
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
    unknown = tuple(sorted(set(spend or {}) - set(campaigns.index)))
    evidence = revenue_evidence(scored.outcomes)
    note = None if evidence is None else evidence.note()
    return CampaignReport(campaigns, channels, drivers, confidence, min_leads, min_wins, unknown, note)


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
        "campaign_revenue_per_lead.png": revenue_per_lead_chart(report.campaigns, report.confidence),
        "campaign_grade_mix.png": grade_mix_chart(report.campaigns),
    }
    if "predicted_accept" in report.campaigns:
        charts["campaign_acceptance.png"] = acceptance_chart(report.campaigns, report.confidence)
    return charts


def _number(value: Any, digits: int = 0) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:,.{digits}f}"


def _share(value: Any) -> str:
    return "–" if pd.isna(value) else f"{value:.0%}"


def _with_interval(row: pd.Series, name: str, fmt: Any) -> str:
    if name not in row or pd.isna(row[name]):
        return "–"
    return f"{fmt(row[name])} [{fmt(row[f'{name}_lo'])}–{fmt(row[f'{name}_hi'])}]"


def display_rows(summary: pd.DataFrame) -> list[dict[str, str]]:
    """The summary as formatted text cells for the HTML and terminal tables."""
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
            "drivers": str(row.get("top_drivers", "")),
        }
        rows.append(cells)
    return rows


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; color: #222; }
table { border-collapse: collapse; font-size: 13px; margin: 1em 0 2em; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
.keep { color: #2e7d32; font-weight: bold; } .cut { color: #c62828; font-weight: bold; }
.hold { color: #607d8b; } .few { color: #9e9e9e; } .muted { color: #666; font-size: 13px; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0 1.5em; }
</style></head><body>
<h1>{{ title }}</h1>
<p class="muted">{{ leads }} leads ({{ open }} open) from {{ source }} · model {{ model }} ·
generated {{ generated }} · intervals at {{ confidence }} · ranked by {{ metric }} (lower bound),
campaigns with fewer than {{ min_leads }} closed leads are listed separately.</p>
<p>{{ basis }}</p>
<p>Verdict: <span class="keep">keep</span> when the whole interval is above the benchmark,
<span class="cut">cut</span> when it is wholly below (never while the win rate is not credibly below average),
<span class="hold">hold</span> when it straddles it. Revenue per lead is per closed lead, won deals capped (raw
beside it); pipeline is the expected revenue of leads without an outcome yet.</p>
{% for table in tables %}
<h2>{{ table.title }}</h2>
{% if table.rows %}<table><tr><th>#</th><th class="l">{{ table.key }}</th><th class="l">verdict</th><th>leads</th>
<th>mean score</th><th>grades A / B / C / D</th>
{% if accept %}<th>predicted accept</th><th>actual accept</th>{% endif %}
{% if won %}<th>wins</th><th>predicted win</th><th>won rate</th>{% endif %}
{% if revenue %}<th>closed revenue</th><th>revenue per lead (capped)</th><th>raw</th><th>pipeline</th>{% endif %}
{% if spend %}<th>spend</th><th>cost per accepted</th><th>ROI</th>{% endif %}<th class="l">top drivers</th></tr>
{% for r in table.rows %}<tr><td>{{ r.rank }}</td><td class="l">{{ r.name }}</td>
<td class="l {{ r.verdict if r.verdict in ('keep', 'hold', 'cut') else 'few' }}">{{ r.verdict }}</td>
<td>{{ r.leads }}</td><td>{{ r.mean_score }}</td><td>{{ r.grades }}</td>
{% if accept %}<td>{{ r.predicted_accept }}</td><td>{{ r.accept_rate }}</td>{% endif %}
{% if won %}<td>{{ r.wins }}</td><td>{{ r.predicted_won }}</td><td>{{ r.won_rate }}</td>{% endif %}
{% if revenue %}<td>{{ r.closed_revenue }}</td><td>{{ r.revenue_per_lead }}</td><td>{{ r.raw_revenue_per_lead }}</td>
<td>{{ r.pipeline }}</td>{% endif %}
{% if spend %}<td>{{ r.spend }}</td><td>{{ r.cost_per_accepted }}</td><td>{{ r.roi }}</td>{% endif %}
<td class="l">{{ r.drivers }}</td></tr>{% endfor %}</table>
{% else %}<p class="muted">none</p>{% endif %}
{% endfor %}
{% for chart in charts %}<h2>{{ chart.title }}</h2>
<img alt="{{ chart.title }}" src="data:image/png;base64,{{ chart.data }}">
{% endfor %}
{% if drivers %}<h2>What drives scores within each campaign</h2>
<p class="muted">Mean SHAP contribution per column ({{ head }} head, log-odds) over the campaign's leads:
positive columns lift the campaign's leads above the average lead.</p>
<table><tr><th class="l">campaign</th>{% for c in drivers.columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for name, values in drivers.rows %}<tr><td class="l">{{ name }}</td>
{% for v in values %}<td style="background: {{ v.colour }}">{{ v.text }}</td>{% endfor %}</tr>{% endfor %}</table>
{% endif %}
</body></html>
"""

_CHART_TITLES = {
    "campaign_revenue_per_lead.png": "The ranking metric by campaign, against the benchmark",
    "campaign_acceptance.png": "Predicted vs actual acceptance",
    "campaign_grade_mix.png": "Grade mix",
}


def _driver_cells(drivers: pd.DataFrame) -> dict[str, Any]:
    """Mean SHAP table with a red/green tint whose strength follows the value."""
    scale = float(np.nanmax(np.abs(drivers.to_numpy()))) or 1.0
    rows = []
    for name, values in drivers.iterrows():
        cells = []
        for v in values:
            alpha = min(abs(v) / scale, 1.0) * 0.6
            colour = f"rgba(46,125,50,{alpha:.2f})" if v > 0 else f"rgba(198,40,40,{alpha:.2f})"
            cells.append({"text": f"{v:+.2f}", "colour": colour})
        rows.append((name, cells))
    return {"columns": list(drivers.columns), "rows": rows}


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


def render_html(report: CampaignReport, charts: Mapping[str, bytes], source: str, model: str, head: str) -> str:
    """The self-contained report page: tables, charts as data: URIs, the mean SHAP table."""
    summary = report.campaigns
    ranked, small = summary[~summary["small_sample"]], summary[summary["small_sample"]]
    key = str(summary.index.name or "campaign")
    tables = [
        {"title": "Campaigns, best first", "key": key, "rows": display_rows(ranked)},
        {"title": "Too few closed leads to rank", "key": key, "rows": display_rows(small)},
    ]
    if report.channels is not None:
        tables.append(
            {"title": "Channels", "key": str(report.channels.index.name), "rows": display_rows(report.channels)}
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
        drivers=None if report.drivers is None else _driver_cells(report.drivers),
        head=head,
    )


def write_report(report: CampaignReport, out_dir: Path, source: str, model: str, head: str) -> list[Path]:
    """Write report.html (self-contained), campaigns.csv, channels.csv, campaign_drivers.csv (mean SHAP per
    column, as shap_<column>) and the chart PNGs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    charts = report_charts(report)
    paths = [out_dir / "report.html", out_dir / "campaigns.csv"]
    paths[0].write_text(render_html(report, charts, source, model, head), encoding="utf-8")
    report.campaigns.to_csv(paths[1])
    if report.channels is not None:
        paths.append(out_dir / "channels.csv")
        report.channels.to_csv(paths[-1])
    if report.drivers is not None:
        paths.append(out_dir / "campaign_drivers.csv")
        report.drivers.add_prefix("shap_").to_csv(paths[-1])
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


# ------------------------------------------------------------------ quota planner
@dataclass(frozen=True)
class Range:
    """A whole-number estimate with the interval around it (`hi` is infinite when history cannot bound it)."""

    estimate: float
    lo: float
    hi: float

    def scaled(self, factor: float) -> Range:
        """The same range carried through a funnel rate (leads -> SALs or wins), rounded up."""
        return Range(*(_ceil(v * factor) for v in (self.estimate, self.lo, self.hi)))


@dataclass(frozen=True)
class Plan:
    """How many leads, sales-accepted leads and wins a revenue target needs, overall and per campaign.

    `leads.estimate` divides the target by history's revenue per lead with deals capped (`deal_cap`); the
    interval bootstraps history's leads and deals, so a rare huge deal widens it instead of moving the
    estimate. The raw history figure and the model's are kept beside it, and `warnings` says when they
    disagree with it by more than `DISAGREEMENT` or when revenue rests on few deals.
    """

    target: float
    period: str | None
    confidence: float
    mix_source: str
    leads: Range
    accepted: Range | None
    wins: Range
    revenue_per_lead: float
    raw_revenue_per_lead: float
    raw_leads: float
    model_revenue_per_lead: float | None
    model_leads: float | None
    deal_cap: float
    evidence: str
    warnings: tuple[str, ...]
    campaigns: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for `leadscore plan --json` (an unbounded `hi` is null)."""
        head = {k: v for k, v in asdict(self).items() if k != "campaigns"}
        return json.loads(pd.Series(head).to_json()) | {"campaigns": summary_records(self.campaigns)}


def _ceil(value: float) -> float:
    """Whole leads, SALs and wins: a fraction of a lead is one more lead to find."""
    return value if not math.isfinite(value) else float(math.ceil(value - 1e-9))


def parse_amount(text: str) -> float:
    """A money amount as people type it: 2500000, 2,500,000, 2.5M or 250k."""
    match = re.fullmatch(r"\s*(?P<number>-?[0-9][0-9,_]*(?:\.[0-9]+)?)\s*(?P<unit>[kKmMbB]?)\s*", text)
    if not match:
        raise PlanError(f"--revenue-target {text!r} is not an amount (e.g. 2500000, 2.5M or 250k)")
    number = float(re.sub(r"[,_]", "", match["number"]))
    return number * {"": 1, "k": 1e3, "m": 1e6, "b": 1e9}[match["unit"].lower()]


def parse_mix(text: str) -> dict[str, float]:
    """`campaign=share,campaign=share` -> {campaign: share}; shares may be 0.3 or 30%."""
    mix: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        match = re.fullmatch(r"(?P<name>[^=]+?)\s*=\s*(?P<share>-?[0-9.]+)\s*(?P<pct>%?)", item)
        if not match:
            raise PlanError(f"--mix item {item!r} is not campaign=share (e.g. webinar=0.4)")
        name = match["name"].strip()
        try:
            share = float(match["share"]) / (100 if match["pct"] else 1)
        except ValueError:
            raise PlanError(f"--mix share for {name!r} is not a number") from None
        if name in mix:
            raise PlanError(f"--mix names campaign {name!r} twice")
        mix[name] = share
    if not mix:
        raise PlanError("--mix is empty; give campaign=share pairs")
    return mix


def _check_mix(mix: Mapping[str, float], known: pd.Index) -> dict[str, float]:
    unknown = sorted(set(mix) - set(known))
    if unknown:
        raise PlanError(f"--mix names campaign(s) not in the data: {unknown}; known: {sorted(known)}")
    bad = sorted(name for name, share in mix.items() if not 0 <= share <= 1)
    if bad:
        raise PlanError(f"--mix shares must be between 0 and 1; not so for {bad}")
    total = sum(mix.values())
    if abs(total - 1) > _MIX_TOLERANCE:
        raise PlanError(f"--mix shares must sum to 1; they sum to {total:.4g}")
    return {name: share / total for name, share in mix.items() if share > 0}


def _funnel(campaigns: pd.Series, scored: ScoredLeads, cap: float) -> pd.DataFrame:
    """Per campaign: the model's mean expected revenue and p_won, and the observed funnel: acceptance and
    win rates, declared deals, and revenue per closed lead with deals capped at `cap` and raw."""
    outcomes, scores = scored.outcomes, scored.scores
    closed = ~is_open(outcomes)
    revenue = closed_revenue(outcomes).reindex(outcomes.index)
    frame = pd.DataFrame(
        {
            "campaign": campaigns,
            "expected_revenue": scores["expected_revenue"],
            "p_won": scores["p_won"],
            "closed": closed,
            "accepted": outcomes["accepted"].where(closed) if "accepted" in outcomes else np.nan,
            "won": outcomes["won"].where(closed),
            "revenue": np.minimum(revenue, cap),
            "raw_revenue": revenue,
            "deal": revenue > 0,
        }
    )
    g = frame.groupby("campaign")
    return pd.DataFrame(
        {
            "historical_share": g.size() / len(frame),
            "expected_revenue_per_lead": g["expected_revenue"].mean(),
            "model_p_won": g["p_won"].mean(),
            "closed_leads": g["closed"].sum(),
            "declared_deals": g["deal"].sum(),
            "accept_rate": g["accepted"].mean(),
            "won_rate": g["won"].mean(),
            "revenue_per_lead": g["revenue"].mean(),
            "raw_revenue_per_lead": g["raw_revenue"].mean(),
        }
    )


def _bootstrap_leads(
    target: float,
    shares: np.ndarray,
    closed: np.ndarray,
    deals: Sequence[np.ndarray],
    n_sims: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Per simulation, the leads it takes to reach `target` when leads come from a bootstrap of history.

    Each simulation resamples every campaign's closed leads (so how many deals it has, and which, vary:
    one huge deal is absent from about a third of resamples), then draws leads from the mix until their
    revenue reaches the target. Only deals are drawn one by one; the deal-less leads between them are
    negative-binomial. Infinite when a resample holds no deal at all.
    """
    counts = np.array([len(d) for d in deals])
    resampled = rng.binomial(closed.astype(np.int64)[None, :], counts / closed, size=(n_sims, len(deals)))
    leads = np.full(n_sims, np.inf)
    for i in range(n_sims):
        picks = [d[rng.integers(0, len(d), size=k)] for d, k in zip(deals, resampled[i], strict=True) if k]
        if not picks:
            continue
        pool = np.concatenate(picks)
        weight = np.repeat(shares / closed, resampled[i])
        p_deal = float(weight.sum())
        mean_deal = float(pool @ weight) / p_deal
        found, total = 0, 0.0
        while total < target:
            block = int(min(max(math.ceil(1.5 * (target - total) / mean_deal), 8), _SIM_CELLS))
            drawn = np.cumsum(pool[rng.choice(len(pool), size=block, p=weight / p_deal)]) + total
            hit = int(np.searchsorted(drawn, target))
            found += min(hit + 1, block)
            total = float(drawn[min(hit, block - 1)])
        leads[i] = found + rng.negative_binomial(found, min(p_deal, 1.0))
    return leads


DISAGREEMENT = 2.0
"""Model vs history, or raw vs capped history, differing by more than this factor is a loud warning."""


def plan_quota(
    scored: ScoredLeads,
    campaigns: pd.Series,
    target: float,
    *,
    mix: Mapping[str, float] | None = None,
    period: str | None = None,
    confidence: float = 0.8,
    n_sims: int = 2000,
    seed: int = 0,
) -> Plan:
    """Leads, sales-accepted leads and wins needed to reach `target` revenue, from history.

    Estimate: target / the mix's revenue per closed lead with won deals capped (`models.insights.deal_cap`).
    Interval: `_bootstrap_leads`, which draws history's own deals uncapped, so it widens when revenue rests
    on a few deals. SALs and wins per campaign follow from its leads through the observed funnel rates;
    everything is rounded up. The model's expected revenue per lead is compared, not planned with.
    """
    if not math.isfinite(target) or target <= 0:
        raise PlanError(f"--revenue-target must be a positive amount, got {target:,.0f}")
    if not 0 < confidence < 1:
        raise PlanError(f"--confidence must be between 0 and 1, got {confidence}")
    evidence = revenue_evidence(scored.outcomes)
    if evidence is None:
        raise PlanError("the planner needs revenue: name a revenue column in the config")
    if evidence.declared == 0:
        raise PlanError("no closed lead declares revenue: there is nothing to plan a revenue target from")
    labels = group_labels(campaigns)
    funnel = _funnel(labels, scored, evidence.cap)
    shares = _check_mix(mix, funnel.index) if mix is not None else funnel["historical_share"].to_dict()
    plan = funnel.loc[list(shares)].copy()
    plan.insert(0, "share", pd.Series(shares))
    plan = plan.sort_values("share", ascending=False, kind="stable")
    no_history = sorted(plan.index[plan["closed_leads"] == 0])
    if no_history:
        raise PlanError(f"campaign(s) {no_history} have no closed leads to learn funnel rates from; leave them out")
    share = plan["share"]
    per_lead = float((share * plan["revenue_per_lead"]).sum())
    if per_lead <= 0:
        raise PlanError(f"no campaign in the mix {sorted(plan.index)} declares revenue: the target cannot be planned")
    raw_per_lead = float((share * plan["raw_revenue_per_lead"]).sum())

    revenue = closed_revenue(scored.outcomes)
    closed_labels = labels.loc[revenue.index]
    deals = [revenue[(closed_labels == name) & (revenue > 0)].to_numpy(float) for name in plan.index]
    rng = np.random.default_rng(seed)
    simulated = _bootstrap_leads(target, share.to_numpy(), plan["closed_leads"].to_numpy(float), deals, n_sims, rng)
    tail = (1 - confidence) / 2
    lo, hi = (float(np.quantile(simulated, q, method="inverted_cdf")) for q in (tail, 1 - tail))
    total = Range(_ceil(target / per_lead), lo, hi)

    model_per_lead = float((share * plan["expected_revenue_per_lead"]).sum(min_count=1))
    model_ok = math.isfinite(model_per_lead) and model_per_lead > 0
    model_leads = _ceil(target / model_per_lead) if model_ok else None
    raw_leads = _ceil(target / raw_per_lead)
    warnings = _plan_warnings(total, raw_leads, model_leads, evidence.sparse, evidence.note())

    for step, rate in {"leads": 1.0, "accepted": plan["accept_rate"], "wins": plan["won_rate"]}.items():
        for suffix, value in (("", total.estimate), ("_lo", total.lo), ("_hi", total.hi)):
            plan[f"{step}{suffix}"] = (share * rate * value).map(_ceil)
    sal_rate = (share * plan["accept_rate"]).sum(min_count=1)
    plan.index.name = campaigns.name
    return Plan(
        target=float(target),
        period=period,
        confidence=confidence,
        mix_source="given" if mix is not None else "historical",
        leads=total,
        accepted=None if pd.isna(sal_rate) else total.scaled(float(sal_rate)),
        wins=total.scaled(float((share * plan["won_rate"]).sum())),
        revenue_per_lead=per_lead,
        raw_revenue_per_lead=raw_per_lead,
        raw_leads=raw_leads,
        model_revenue_per_lead=model_per_lead if model_ok else None,
        model_leads=model_leads,
        deal_cap=evidence.cap,
        evidence=evidence.note(),
        warnings=warnings,
        campaigns=plan,
    )


def _plan_warnings(
    leads: Range, raw_leads: float, model_leads: float | None, sparse: bool, evidence: str
) -> tuple[str, ...]:
    """Every check the plan failed, in words: the model or the raw mean disagreeing with the capped
    estimate by more than `DISAGREEMENT`, revenue resting on few deals, an estimate outside its interval."""
    warnings = []
    if model_leads is None:
        warnings.append("the model has no revenue head: the plan is from history alone, unchecked by a model")
    elif max(model_leads / leads.estimate, leads.estimate / model_leads) > DISAGREEMENT:
        warnings.append(
            f"MODEL AND HISTORY DISAGREE: the model says {model_leads:,.0f} leads, history {leads.estimate:,.0f} "
            f"(more than {DISAGREEMENT:g}x apart); trust neither blindly, check the declared revenue and retrain"
        )
    if max(raw_leads / leads.estimate, leads.estimate / raw_leads) > DISAGREEMENT:
        warnings.append(
            f"revenue rests on a few deals: at the raw mean it takes {raw_leads:,.0f} leads, with deals capped "
            f"it takes {leads.estimate:,.0f}"
        )
    if sparse:
        warnings.append(f"revenue is sparse: {evidence}")
    if not leads.lo <= leads.estimate <= leads.hi:
        warnings.append(
            f"the estimate {leads.estimate:,.0f} lies outside the simulated interval "
            f"{leads.lo:,.0f}-{leads.hi:,.0f}: history is too thin or too skewed to plan on"
        )
    if not math.isfinite(leads.hi):
        warnings.append("some resamples of history hold no deal at all: the interval has no upper bound")
    return tuple(warnings)


# ------------------------------------------------------------------ capacity routing
@dataclass(frozen=True)
class Routed:
    """The lead list for the CRM, and what was left out and why."""

    leads: pd.DataFrame
    open_leads: int
    closed_skipped: int
    no_owner_skipped: int


def _sort_keys(scores: pd.DataFrame) -> list[str]:
    """Best first by expected revenue (else p_won when the model has no revenue head), ties by p_accept."""
    value = next((c for c in ("expected_revenue", "p_won", "p_accept") if scores[c].notna().any()), "score")
    return [value, "p_accept"] if value != "p_accept" else [value]


def route_leads(
    scorer: LeadScorer,
    frame: pd.DataFrame,
    capacity: int,
    by: str | None = None,
    reasons: int = 2,
    allow_missing: bool = False,
    source: Path | str = "data",
) -> Routed:
    """The best `capacity` open leads per owner (or overall without `by`), with score, grade and reasons.

    Open = no outcome yet under the model's own outcome columns; a file without outcome columns is all open.
    """
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1, got {capacity}")
    id_col = scorer.transformer_.schema_.id_column
    require_column(frame, id_col, "id", source)
    if by is not None and by not in frame.columns:
        raise DataFileError(f"{source} has no owner column '{by}' (--by)")
    open_mask = is_open(outcome_frame(frame, scorer.data))
    owners = normalize_text(frame[by].astype("string"), ("",)) if by else pd.Series("all", index=frame.index)
    candidates = frame[open_mask & owners.notna()]
    if candidates.empty:
        raise DataFileError(f"{source} has no open leads to route: every lead has an outcome or no owner")
    X, status = scorer.transformer_.transform_with_status(candidates, allow_missing=allow_missing)
    scores = scorer.predict_matrix(X)
    scores.index = candidates.index
    scores["_owner"] = owners.loc[candidates.index]
    ordered = scores.sort_values(_sort_keys(scores), ascending=False, kind="stable", na_position="last")
    picked = ordered.groupby("_owner", sort=False).head(capacity)
    picked = picked.assign(rank=picked.groupby("_owner").cumcount() + 1).sort_values(["_owner", "rank"])
    positions = candidates.index.get_indexer(picked.index)
    chosen = candidates.iloc[positions]
    explained = scorer.explain_transformed(chosen, X[positions], status.iloc[positions], k=reasons) if reasons else []
    out = pd.DataFrame({id_col: chosen[id_col].to_numpy()})
    if by:
        out[by] = picked["_owner"].to_numpy()
    out["rank"] = picked["rank"].to_numpy()
    for column in ("score", "grade", "p_accept", "p_won", "expected_revenue"):
        out[column] = picked[column].to_numpy()
    if reasons:
        out["reasons"] = [" | ".join(r.text for r in row) for row in explained]
    return Routed(
        leads=out,
        open_leads=int(open_mask.sum()),
        closed_skipped=int((~open_mask).sum()),
        no_owner_skipped=int((open_mask & owners.isna()).sum()),
    )
