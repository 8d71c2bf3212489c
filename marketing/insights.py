"""Campaign insights over already-scored leads: what the CLI report and the HTTP service both show.

Inputs are plain frames so any store of scored leads can call these (no model, file or tracking access):
- `scores`: `LeadScorer.predict` output (score, grade, p_accept, p_won, expected_revenue), one row per lead;
- `groups`: the raw campaign (or channel) column, same index;
- `outcomes`: `outcome_frame(...)`: accepted / won / revenue as floats, NaN where not known yet;
- optionally `contributions`: `LeadScorer.contributions(X, head)`, per-original-column SHAP, same index.

Small campaigns and heavy-tailed revenue are honest about it: every rate has an interval (Wilson for
proportions, a bootstrap for revenue per lead), revenue per lead is judged on won deals capped at
`deal_cap` (the raw figure sits beside it), verdicts fall back to the win (else acceptance) rate when few
wins declare revenue (`verdict_basis`), and a campaign needs `min_leads` closed leads and `min_wins` wins
for a verdict. `GET /campaigns`, the review page, `report campaigns` and `plan` all use these.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from leadscore.features.coerce import normalize_text, to_boolean, to_number
from leadscore.features.config import DataConfig
from leadscore.features.contract import GRADES
from leadscore.features.outcomes import is_open
from leadscore.features.validation import DataValidationError, Problem, ValidationReport
from leadscore.marketing.limits import MIN_WINS, TOO_FEW
from leadscore.models.revenue import deal_cap

NOT_GIVEN = "(not given)"
"""Group label for leads whose campaign/channel cell is empty."""
TOP_DRIVERS = 3
_EXAMPLE_ROWS = 5
MIN_DEALS = 30
"""Declared won deals needed before revenue, rather than the win rate, decides verdicts."""
MIN_DECLARED_SHARE = 0.5
"""Share of wins that must declare revenue before revenue decides verdicts."""
_METRIC_ROLE = {"revenue_per_lead": "revenue", "won_rate": "won", "accept_rate": "accepted"}


def outcome_frame(frame: pd.DataFrame, data: DataConfig) -> pd.DataFrame:
    """Configured outcomes by role (`accepted`, `won`, `revenue`) as floats; NaN means "no outcome yet".

    Absent outcome columns count as unknown on every row (a file of new leads is all open). `won` is derived
    from revenue > 0 when only revenue is configured, as the scorer does; revenue on a known loss is 0.
    Unreadable values are an error naming the column and lead ids, never the values.
    """
    out = pd.DataFrame(index=frame.index)
    problems: list[Problem] = []
    for role, column in data.outcome_columns.items():
        if column not in frame.columns:
            out[role] = np.nan
            continue
        parse = to_number if role == "revenue" else to_boolean
        values, invalid = parse(normalize_text(frame[column], data.missing_values))
        bad = invalid.to_numpy(bool) | (values < 0).to_numpy(bool)
        if bad.any():
            ids = frame[data.id].astype(str) if data.id in frame.columns else pd.Series(frame.index.astype(str))
            what = "non-numeric or negative revenue" if role == "revenue" else "values are not 0/1 or empty"
            examples = tuple(ids.to_numpy()[bad][:_EXAMPLE_ROWS])
            problems.append(Problem(column, what, examples, int(bad.sum())))
        out[role] = values.to_numpy(float)
    if problems:
        raise DataValidationError(ValidationReport(errors=problems))
    if "won" not in out and "revenue" in out:
        out["won"] = np.where(out["revenue"].isna(), np.nan, (out["revenue"] > 0).astype(float))
    if "won" in out and "accepted" in out:  # a rejected lead is a decided loss (`features.outcomes.is_open`)
        out.loc[(out["accepted"] == 0) & out["won"].isna(), "won"] = 0.0
    if "won" in out and "revenue" in out:
        out.loc[(out["won"] == 0) & out["revenue"].isna(), "revenue"] = 0.0
    return out


def wilson_interval(successes: np.ndarray, trials: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for proportions; unlike the normal interval it stays in [0, 1] and is
    honest at small n or rates near 0. NaN where there are no trials."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    lo, hi = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    return np.where(n > 0, lo, np.nan), np.where(n > 0, hi, np.nan)


def bootstrap_mean_interval(
    values: np.ndarray, confidence: float, n_boot: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of non-negative, mostly-zero values (revenue per lead).

    Resampling n leads draws Binomial(n, k/n) of the k non-zero ones, each uniformly; drawing only those
    is the same bootstrap at a cost proportional to the wins, not the leads.
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n == 0:
        return np.nan, np.nan
    positive = values[values > 0]
    counts = rng.binomial(n, len(positive) / n, size=n_boot)
    replicate = np.repeat(np.arange(n_boot), counts)
    drawn = positive[rng.integers(0, len(positive), size=counts.sum())] if len(positive) else np.zeros(0)
    means = np.bincount(replicate, weights=drawn, minlength=n_boot) / n
    tail = (1 - confidence) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def closed_revenue(outcomes: pd.DataFrame) -> pd.Series:
    """Declared revenue per closed lead; a win without a declared amount counts 0 (nothing is known of it)."""
    return outcomes.loc[~is_open(outcomes), "revenue"].fillna(0.0)


@dataclass(frozen=True)
class RevenueEvidence:
    """How much revenue the closed leads declare, and the deal cap that makes revenue per lead robust."""

    wins: int
    declared: int
    cap: float
    raw_per_lead: float
    robust_per_lead: float
    top_deal_share: float
    """Share of all declared revenue carried by the single largest deal."""

    @property
    def sparse(self) -> bool:
        """Too few wins declare revenue for revenue to decide verdicts (the win rate does instead)."""
        return self.declared < MIN_DEALS or self.declared < MIN_DECLARED_SHARE * self.wins

    def note(self) -> str:
        """E.g. "23 of 413 wins declare revenue; deals capped at 206,928; revenue per closed lead 138 capped,
        1,191 raw; the largest deal is 91% of revenue"."""
        cap = "no cap (fewer than 2 deals)" if math.isinf(self.cap) else f"deals capped at {self.cap:,.0f}"
        return (
            f"{self.declared:,} of {self.wins:,} wins declare{'s' if self.declared == 1 else ''} revenue; {cap}; "
            f"revenue per closed lead "
            f"{self.robust_per_lead:,.0f} capped, {self.raw_per_lead:,.0f} raw; "
            f"the largest deal is {self.top_deal_share:.0%} of revenue"
        )


def revenue_evidence(outcomes: pd.DataFrame) -> RevenueEvidence | None:
    """Declared deals, the deal cap and raw vs capped revenue per closed lead; None without revenue."""
    if "revenue" not in outcomes or outcomes["revenue"].isna().all():
        return None
    revenue = closed_revenue(outcomes).to_numpy(float)
    deals = revenue[revenue > 0]
    won = outcomes["won"] if "won" in outcomes else outcomes["revenue"].gt(0).where(outcomes["revenue"].notna())
    cap = deal_cap(deals)
    n = max(len(revenue), 1)
    return RevenueEvidence(
        wins=int((won == 1).sum()),
        declared=len(deals),
        cap=cap,
        raw_per_lead=float(revenue.sum() / n),
        robust_per_lead=float(np.minimum(revenue, cap).sum() / n),
        top_deal_share=float(deals.max() / deals.sum()) if len(deals) else math.nan,
    )


def verdict_basis(outcomes: pd.DataFrame, evidence: RevenueEvidence | None = None) -> str:
    """What verdicts are judged on: capped revenue per lead when enough wins declare revenue, else the win
    rate, else the acceptance rate (each only when some closed lead has it)."""
    evidence = evidence if evidence is not None else revenue_evidence(outcomes)
    closed = outcomes[~is_open(outcomes)]
    if evidence is not None and not evidence.sparse:
        return "revenue_per_lead"
    for metric in ("won_rate", "accept_rate"):
        role = _METRIC_ROLE[metric]
        if role in closed and closed[role].notna().any():
            return metric
    raise ValueError("no outcome is known for any lead: nothing to rank campaigns by")


def group_labels(groups: pd.Series) -> pd.Series:
    """Campaign/channel names as clean text; empty cells become one "(not given)" group."""
    return normalize_text(groups.astype("string"), ("",)).fillna(NOT_GIVEN).astype(str)


def mean_contributions(contributions: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """Mean SHAP per original column within each group: which attributes lift (or sink) its scores.

    SHAP values are relative to the average lead, so a positive mean means the column pushes this
    group's leads above the average lead of the whole data.
    """
    return contributions.groupby(group_labels(groups).to_numpy()).mean()


def _top_drivers(drivers: pd.DataFrame, exclude: Sequence[str]) -> pd.Series:
    """Top positive columns per group as "a, b, c". Columns that name the campaign itself (campaign,
    channel) are left out: they are constant within a group, so they say nothing about which leads
    *within* the campaign score high."""
    table = drivers.drop(columns=list(exclude), errors="ignore")

    def top(row: pd.Series) -> str:
        best = row[row > 0].sort_values(ascending=False).head(TOP_DRIVERS)
        return ", ".join(best.index)

    return table.apply(top, axis=1)


def ranking_metric(summary: pd.DataFrame) -> str:
    """What a `campaign_summary` was ranked and judged by (its `basis` column, see `verdict_basis`)."""
    return str(summary["basis"].iloc[0])


def campaign_summary(
    scores: pd.DataFrame,
    groups: pd.Series,
    outcomes: pd.DataFrame,
    *,
    contributions: pd.DataFrame | None = None,
    spend: Mapping[str, float] | None = None,
    identity_columns: Sequence[str] = (),
    min_leads: int = 100,
    min_wins: int = MIN_WINS,
    confidence: float = 0.9,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per group (campaign or channel), best first, groups with too few closed leads last.

    Columns: leads, open_leads, closed_leads, mean_score, share_A..share_D, accepted_leads, predicted_accept
    (mean p_accept of leads whose acceptance is known) vs accept_rate, won_leads, predicted_won vs won_rate,
    declared_deals, closed_revenue, revenue_per_lead (capped deals, per closed lead) beside
    raw_revenue_per_lead, predicted_pipeline (expected revenue of open leads), with `_lo`/`_hi` interval
    bounds at `confidence`; with `spend`: spend, cost_per_accepted, roi (closed revenue / spend - 1); with
    `contributions`: top_drivers (leaving out the grouping column and `identity_columns`). Then basis,
    deal_cap, small_sample, verdict, benchmark and rank (NA when small).

    Verdict on the basis metric (`verdict_basis`): keep / cut when its interval lies wholly above / below the
    benchmark (the break-even spend per lead for revenue where spend is known, else the all-campaign
    figure), hold when it straddles it; never cut while the win rate is not credibly below average; "too
    few to judge" below `min_leads` closed leads or `min_wins` wins (acceptances on the acceptance basis).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    labels = group_labels(groups)
    open_ = is_open(outcomes)
    evidence = revenue_evidence(outcomes)
    basis = verdict_basis(outcomes, evidence)
    rng = np.random.default_rng(seed)
    rows: dict[str, dict[str, Any]] = {}
    for name, index in labels.groupby(labels, sort=True).groups.items():
        s, o, pending = scores.loc[index], outcomes.loc[index], open_.loc[index]
        closed = o[~pending]
        row: dict[str, Any] = {
            "leads": len(s),
            "open_leads": int(pending.sum()),
            "closed_leads": len(closed),
            "mean_score": float(s["score"].mean()),
        }
        row |= {f"share_{g}": float((s["grade"] == g).mean()) for g in GRADES}
        if "accepted" in o:
            known = o["accepted"].notna()
            row["predicted_accept"] = float(s.loc[known, "p_accept"].mean()) if known.any() else np.nan
            row["accepted_leads"] = int(o["accepted"].sum())
            row |= _rate("accept_rate", o.loc[known, "accepted"], confidence)
        if "won" in o:
            row["predicted_won"] = float(s.loc[~pending, "p_won"].mean()) if len(closed) else np.nan
            row["won_leads"] = int(closed["won"].sum())
            row |= _rate("won_rate", closed["won"], confidence)
        if evidence is not None:
            revenue = closed_revenue(o).to_numpy(float)
            capped = np.minimum(revenue, evidence.cap)
            row["declared_deals"] = int((revenue > 0).sum())
            row["closed_revenue"] = float(revenue.sum())
            row["raw_revenue_per_lead"] = float(revenue.mean()) if len(revenue) else np.nan
            row["revenue_per_lead"] = float(capped.mean()) if len(capped) else np.nan
            row["revenue_per_lead_lo"], row["revenue_per_lead_hi"] = bootstrap_mean_interval(
                capped, confidence, n_boot, rng
            )
        has_value = s["expected_revenue"].notna().any()
        row["predicted_pipeline"] = float(s.loc[pending, "expected_revenue"].sum()) if has_value else np.nan
        rows[str(name)] = row
    summary = pd.DataFrame.from_dict(rows, orient="index")
    summary.index.name = groups.name
    if spend is not None:
        summary["spend"] = pd.Series(spend, dtype=float).reindex(summary.index)
        if "accepted_leads" in summary:
            accepted = summary["accepted_leads"]
            summary["cost_per_accepted"] = summary["spend"] / accepted.where(accepted > 0)
        if "closed_revenue" in summary:
            summary["roi"] = summary["closed_revenue"] / summary["spend"].where(summary["spend"] > 0) - 1
    if contributions is not None:
        summary["top_drivers"] = _top_drivers(
            mean_contributions(contributions, groups), [str(groups.name), *identity_columns]
        )
    summary["basis"] = basis
    summary["deal_cap"] = evidence.cap if evidence is not None else np.nan
    return _rank(summary, outcomes, open_, evidence, min_leads, min_wins)


def _rate(name: str, values: pd.Series, confidence: float) -> dict[str, float]:
    k, n = float(values.sum()), len(values)
    lo, hi = wilson_interval(np.array([k]), np.array([n]), confidence)
    return {name: k / n if n else np.nan, f"{name}_lo": float(lo[0]), f"{name}_hi": float(hi[0])}


def _rank(
    summary: pd.DataFrame,
    outcomes: pd.DataFrame,
    open_: pd.Series,
    evidence: RevenueEvidence | None,
    min_leads: int,
    min_wins: int,
) -> pd.DataFrame:
    """Sort by the basis metric's lower bound (a big but uncertain number does not win) and judge."""
    metric = ranking_metric(summary)
    closed = outcomes[~open_]
    if metric == "revenue_per_lead":
        assert evidence is not None
        benchmark = pd.Series(evidence.robust_per_lead, index=summary.index)
        if "spend" in summary:
            benchmark = (summary["spend"] / summary["leads"]).fillna(benchmark)
    else:
        benchmark = pd.Series(float(closed[_METRIC_ROLE[metric]].mean()), index=summary.index)
    events = summary["accepted_leads"] if metric == "accept_rate" else summary["won_leads"]
    summary["small_sample"] = summary["closed_leads"] < min_leads
    too_few = summary["small_sample"] | (events < min_wins)
    lo, hi = summary[f"{metric}_lo"], summary[f"{metric}_hi"]
    verdict = np.select([lo > benchmark, hi < benchmark], ["keep", "cut"], default="hold")
    if "won_rate" in summary:
        # A campaign that wins at least as often as average is not cut on revenue that rests on few deals.
        wins_well = summary["won_rate_hi"] >= float(closed["won"].mean())
        verdict = np.where((verdict == "cut") & wins_well.to_numpy(), "hold", verdict)
    summary["verdict"] = np.where(too_few, TOO_FEW, verdict)
    summary["benchmark"] = benchmark
    summary = summary.sort_values(
        ["small_sample", f"{metric}_lo", "leads"], ascending=[True, False, False], kind="stable"
    )
    ranked = ~summary["small_sample"]
    summary["rank"] = ranked.cumsum().where(ranked).astype("Int64")
    return summary


def summary_records(summary: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows (NaN -> null, numpy scalars -> Python) for `GET /campaigns`."""
    return json.loads(summary.reset_index().to_json(orient="records"))
