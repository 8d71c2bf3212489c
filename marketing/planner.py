"""The quota planner: how many leads per campaign a revenue target needs, simulated from history."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadscore.features.config import DataConfig
from leadscore.marketing.attribution import Attribution, campaign_attribution
from leadscore.marketing.history import History, ScoredLeads, require_column, score_leads
from leadscore.marketing.insights import (
    closed_revenue,
    group_labels,
    is_open,
    revenue_evidence,
    summary_records,
)
from leadscore.models.scorer import LeadScorer


class PlanError(ValueError):
    """A revenue plan that cannot be made from these inputs; `argument` names the input at fault (a
    parameter of `plan_quota` or of a parser here), the message says why."""

    def __init__(self, argument: str, message: str) -> None:
        self.argument = argument
        super().__init__(message)


_MIX_TOLERANCE = 1e-3
_SIM_CELLS = 1_000_000
"""Upper bound on simulated deals held in memory at once in one simulation."""


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


def _apportion(parts: pd.Series, whole: float | None) -> pd.Series:
    """Whole leads (SALs, wins) per campaign that add up to the plan's `whole` (largest remainder): each
    campaign's share is rounded down and the rest go one each to the largest fractions. Rounding every row
    up instead would make 500 campaigns ask for some 250 leads more than the total. Shares that cannot be
    apportioned (an unbounded interval, no rate) are rounded up as they are."""
    total = float(parts.sum(min_count=1))
    if whole is None or not math.isfinite(whole) or not math.isfinite(total) or total <= 0:
        return parts.map(_ceil)
    scaled = parts * (whole / total)
    rounded = np.floor(scaled + 1e-9)
    short = round(whole - float(rounded.sum()))
    rounded.loc[(scaled - rounded).sort_values(ascending=False, kind="stable").index[:short]] += 1
    return rounded


def parse_amount(text: str) -> float:
    """A money amount as people type it: 2500000, 2,500,000, 2.5M or 250k."""
    match = re.fullmatch(r"\s*(?P<number>-?[0-9][0-9,_]*(?:\.[0-9]+)?)\s*(?P<unit>[kKmMbB]?)\s*", text)
    if not match:
        raise PlanError("target", f"revenue target {text!r} is not an amount (e.g. 2500000, 2.5M or 250k)")
    number = float(re.sub(r"[,_]", "", match["number"]))
    return number * {"": 1, "k": 1e3, "m": 1e6, "b": 1e9}[match["unit"].lower()]


def parse_mix(text: str) -> dict[str, float]:
    """`campaign=share,campaign=share` -> {campaign: share}; shares may be 0.3 or 30%."""
    mix: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        match = re.fullmatch(r"(?P<name>[^=]+?)\s*=\s*(?P<share>-?[0-9.]+)\s*(?P<pct>%?)", item)
        if not match:
            raise PlanError("mix", f"mix item {item!r} is not campaign=share (e.g. webinar=0.4)")
        name = match["name"].strip()
        try:
            share = float(match["share"]) / (100 if match["pct"] else 1)
        except ValueError:
            raise PlanError("mix", f"mix share for {name!r} is not a number") from None
        if name in mix:
            raise PlanError("mix", f"mix names campaign {name!r} twice")
        mix[name] = share
    if not mix:
        raise PlanError("mix", "mix is empty; give campaign=share pairs")
    return mix


def _check_mix(mix: Mapping[str, float], known: pd.Index) -> dict[str, float]:
    unknown = sorted(set(mix) - set(known))
    if unknown:
        raise PlanError("mix", f"mix names campaign(s) not in the data: {unknown}; known: {sorted(known)}")
    bad = sorted(name for name, share in mix.items() if not 0 <= share <= 1)
    if bad:
        raise PlanError("mix", f"mix shares must be between 0 and 1; not so for {bad}")
    total = sum(mix.values())
    if abs(total - 1) > _MIX_TOLERANCE:
        raise PlanError("mix", f"mix shares must sum to 1; they sum to {total:.4g}")
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

    Estimate: target / the mix's revenue per closed lead with won deals capped (`marketing.insights.deal_cap`).
    Interval: `_bootstrap_leads`, which draws history's own deals uncapped, so it widens when revenue rests
    on a few deals. SALs and wins per campaign follow from its leads through the observed funnel rates;
    totals are rounded up and campaign rows apportioned to add up to them (`_apportion`). The model's
    expected revenue per lead is compared, not planned with.
    """
    if not math.isfinite(target) or target <= 0:
        raise PlanError("target", f"revenue target must be a positive amount, got {target:,.0f}")
    if not 0 < confidence < 1:
        raise PlanError("confidence", f"confidence must be between 0 and 1, got {confidence}")
    evidence = revenue_evidence(scored.outcomes)
    if evidence is None:
        raise PlanError("scored", "the planner needs revenue: name a revenue column in the config")
    if evidence.declared == 0:
        raise PlanError("scored", "no closed lead declares revenue: there is nothing to plan a revenue target from")
    labels = group_labels(campaigns)
    funnel = _funnel(labels, scored, evidence.cap)
    shares = _check_mix(mix, funnel.index) if mix is not None else funnel["historical_share"].to_dict()
    plan = funnel.loc[list(shares)].copy()
    plan.insert(0, "share", pd.Series(shares))
    plan = plan.sort_values("share", ascending=False, kind="stable")
    no_history = sorted(plan.index[plan["closed_leads"] == 0])
    if no_history:
        raise PlanError(
            "mix", f"campaign(s) {no_history} have no closed leads to learn funnel rates from; leave them out"
        )
    share = plan["share"]
    per_lead = float((share * plan["revenue_per_lead"]).sum())
    if per_lead <= 0:
        raise PlanError(
            "mix", f"no campaign in the mix {sorted(plan.index)} declares revenue: the target cannot be planned"
        )
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

    sal_rate = (share * plan["accept_rate"]).sum(min_count=1)
    accepted = None if pd.isna(sal_rate) else total.scaled(float(sal_rate))
    wins = total.scaled(float((share * plan["won_rate"]).sum()))
    steps = {"leads": (1.0, total), "accepted": (plan["accept_rate"], accepted), "wins": (plan["won_rate"], wins)}
    for step, (rate, overall) in steps.items():
        for suffix, value, whole in (
            ("", total.estimate, overall and overall.estimate),
            ("_lo", total.lo, overall and overall.lo),
            ("_hi", total.hi, overall and overall.hi),
        ):
            plan[f"{step}{suffix}"] = _apportion(share * rate * value, whole)
    plan.index.name = campaigns.name
    return Plan(
        target=float(target),
        period=period,
        confidence=confidence,
        mix_source="given" if mix is not None else "historical",
        leads=total,
        accepted=accepted,
        wins=wins,
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


def plan_from_history(
    scorer: LeadScorer,
    history: History,
    data: DataConfig,
    target: float,
    source: Path | str = "data",
    *,
    mix: Mapping[str, float] | None = None,
    period: str | None = None,
    confidence: float = 0.8,
    n_sims: int = 2000,
    seed: int = 0,
) -> tuple[Plan, Attribution | None]:
    """`plan_quota` for a historical lead file: checks its campaign column, then scores it (no explanations);
    with response events, also the multi-touch credit of the history the plan rests on."""
    frame = history.frame
    campaign = require_column(frame, data.campaign, "campaign", source)
    scored = score_leads(scorer, frame, data, explain=False)
    plan = plan_quota(
        scored, frame[campaign], target, mix=mix, period=period, confidence=confidence, n_sims=n_sims, seed=seed
    )
    credit = None
    if history.responses is not None:
        credit = campaign_attribution(
            frame, scored.scores, scored.outcomes, data, history.responses, history.decision_days
        )
    return plan, credit


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
