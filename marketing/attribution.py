"""Multi-touch campaign credit: which campaigns helped create accepted leads, wins, revenue and pipeline.

A lead's touches are its responses before its decision time (`created_at` plus `[responses].
decision_window_days`, the moment sales accepted or not; the same cut as the behavioural features), in time
order. A lead without any response counts its own `campaign` column as its one touch, so with one campaign
per lead every rule gives what the campaign report gives. Each rule splits one lead's credit over its touches,
so each rule credits exactly the total:

- first touch: all to the first; last touch: all to the last; linear: equal shares;
- position-based (40/20/40): 40% each to the first and last touch, 20% shared by those between (one touch:
  100%; two: 50/50).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadscore.features.config import DataConfig
from leadscore.features.responses import CAMPAIGN, LEAD, TIME
from leadscore.marketing.insights import closed_revenue, group_labels, is_open

RULES: dict[str, str] = {
    "first_touch": "first touch",
    "last_touch": "last touch",
    "linear": "linear",
    "position_based": "position-based 40/20/40",
}
METRICS: dict[str, str] = {
    "leads": "leads",
    "accepted_leads": "accepted leads",
    "won_leads": "wins",
    "closed_revenue": "revenue",
    "predicted_pipeline": "predicted pipeline",
}
"""Credited quantities, named as in the campaign summary (`marketing.insights.campaign_summary`)."""
VERDICT_RULE = (
    "keep / hold / cut verdicts are judged on each lead's own campaign column (the campaign that created the "
    "lead: first-touch credit); the other rules are shown beside it"
)


def touch_table(
    lead_ids: pd.Series, campaigns: pd.Series, cutoff: pd.Series, responses: pd.DataFrame | None
) -> pd.DataFrame:
    """One row per touch: lead (index label into the lead frame), campaign, position, touch count and whether
    it is a response (else the lead's own campaign).

    `cutoff` is each lead's decision time (None-free, UTC); only responses strictly before it count."""
    leads = pd.DataFrame(
        {"_lead": lead_ids.index, LEAD: lead_ids.astype("string").to_numpy(), "_cut": cutoff.to_numpy()}
    )
    parts = []
    if responses is not None and len(responses):
        events = responses[[LEAD, TIME, CAMPAIGN]].reset_index(names="_order").merge(leads, on=LEAD, how="inner")
        events = events[events[TIME] < events["_cut"]].sort_values(["_lead", TIME, "_order"], kind="stable")
        parts.append(events[["_lead", CAMPAIGN]].assign(responded=True))
    touched = set(parts[0]["_lead"]) if parts else set()
    own = pd.DataFrame({"_lead": lead_ids.index, CAMPAIGN: group_labels(campaigns).to_numpy()})
    parts.append(own[~own["_lead"].isin(touched)].assign(responded=False))
    touches = pd.concat(parts, ignore_index=True)
    touches["position"] = touches.groupby("_lead", sort=False).cumcount().to_numpy()  # rows are in time order
    touches["touches"] = touches.groupby("_lead")["_lead"].transform("size").to_numpy()
    return touches.rename(columns={"_lead": "lead", CAMPAIGN: "campaign"})


def weights(touches: pd.DataFrame, rule: str) -> np.ndarray:
    """Each touch's share of its lead's credit under `rule`; a lead's shares sum to 1."""
    pos, n = touches["position"].to_numpy(), touches["touches"].to_numpy()
    first, last = pos == 0, pos == n - 1
    if rule == "first_touch":
        return first.astype(float)
    if rule == "last_touch":
        return last.astype(float)
    if rule == "linear":
        return 1.0 / n
    if rule == "position_based":
        middle = np.where(n > 2, 0.2 / np.maximum(n - 2, 1), 0.0)
        ends = np.where(n == 1, 1.0, np.where(n == 2, 0.5, 0.4))
        return np.where(first | last, ends, middle)
    raise ValueError(f"unknown attribution rule {rule!r}; choose one of {list(RULES)}")


@dataclass(frozen=True)
class Attribution:
    """Credit per campaign under every rule, and what it rests on."""

    credit: pd.DataFrame
    """Index: campaign; columns: (metric, rule) for the metrics the data has."""
    totals: dict[str, float]
    leads_with_responses: int
    leads: int

    def table(self, metric: str) -> pd.DataFrame:
        """Campaign x rule for one metric, side by side, most credited (linear) first."""
        return self.credit[metric].sort_values("linear", ascending=False, kind="stable")

    def note(self) -> str:
        """What the credit rests on, and the rule the verdicts use."""
        others = (
            ""
            if self.leads_with_responses == self.leads
            else "; the others count their own campaign as their one touch"
        )
        counted = f"{self.leads_with_responses:,} of {self.leads:,} leads have responses before their decision"
        return f"{counted}{others}. {VERDICT_RULE}."

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: rules, totals, per campaign {metric: {rule: value}}, and the note."""
        campaigns = []
        for name, row in self.credit.iterrows():
            entry: dict[str, Any] = {"campaign": str(name)}
            for metric in self.credit.columns.get_level_values(0).unique():
                entry[metric] = {rule: _plain(row[(metric, rule)]) for rule in RULES}
            campaigns.append(entry)
        return {
            "rules": RULES,
            "verdict_rule": VERDICT_RULE,
            "totals": {k: _plain(v) for k, v in self.totals.items()},
            "leads": self.leads,
            "leads_with_responses": self.leads_with_responses,
            "campaigns": campaigns,
        }


def _plain(value: Any) -> float | None:
    return None if pd.isna(value) else round(float(value), 4)


def credited_values(scores: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per lead, what it brings to be credited: 1 lead, acceptance, win, closed revenue, open pipeline."""
    values = pd.DataFrame({"leads": 1.0}, index=scores.index)
    pending = is_open(outcomes) if len(outcomes.columns) else pd.Series(True, index=scores.index)
    if "accepted" in outcomes:
        values["accepted_leads"] = outcomes["accepted"].fillna(0.0)
    if "won" in outcomes:
        values["won_leads"] = outcomes["won"].where(~pending, 0.0).fillna(0.0)
    if "revenue" in outcomes:
        values["closed_revenue"] = closed_revenue(outcomes).reindex(scores.index).where(~pending, 0.0).fillna(0.0)
    if "expected_revenue" in scores and scores["expected_revenue"].notna().any():
        values["predicted_pipeline"] = scores["expected_revenue"].where(pending, 0.0).fillna(0.0)
    return values


def attribute(values: pd.DataFrame, touches: pd.DataFrame) -> Attribution:
    """Credit `values` (per lead, index as `touches.lead`) to campaigns under every rule."""
    per_touch = values.reindex(touches["lead"]).to_numpy(float)
    columns: dict[tuple[str, str], pd.Series] = {}
    for rule in RULES:
        credited = pd.DataFrame(per_touch * weights(touches, rule)[:, None], columns=values.columns)
        sums = credited.groupby(touches["campaign"].to_numpy()).sum()
        for metric in values.columns:
            columns[(metric, rule)] = sums[metric]
    credit = pd.DataFrame(columns).fillna(0.0)
    credit.columns = pd.MultiIndex.from_tuples(credit.columns, names=["metric", "rule"])
    credit.index.name = "campaign"
    totals = values.sum().to_dict()
    for (metric, rule), column in credit.items():
        if not np.isclose(column.sum(), totals[metric], rtol=1e-9, atol=1e-6):
            raise RuntimeError(f"{rule} credit of {metric} sums to {column.sum()}, not the total {totals[metric]}")
    with_responses = int(touches.loc[touches["responded"], "lead"].nunique())
    return Attribution(credit, totals, with_responses, len(values))


def campaign_attribution(
    frame: pd.DataFrame,
    scores: pd.DataFrame,
    outcomes: pd.DataFrame,
    data: DataConfig,
    responses: pd.DataFrame | None,
    decision_days: float = 0.0,
) -> Attribution:
    """Credit under every rule for a scored lead file: touches before each lead's `created_at` plus
    `decision_days` (all responses when no `created_at` is configured), else its own campaign."""
    if data.campaign is None or data.campaign not in frame.columns:
        raise ValueError("campaign credit needs the lead file's campaign column ([data].campaign)")
    if data.created_at and data.created_at in frame.columns:
        created = pd.to_datetime(frame[data.created_at], errors="coerce", utc=True, format="mixed")
        cutoff = created + pd.Timedelta(days=decision_days)
    else:
        cutoff = pd.Series(pd.Timestamp.max.tz_localize("UTC"), index=frame.index)
    touches = touch_table(frame[data.id], frame[data.campaign], cutoff, responses)
    return attribute(credited_values(scores, outcomes), touches)


def truth_recovery(attribution: Attribution, true_share: pd.Series, metric: str = "won_leads") -> pd.DataFrame:
    """How close each rule's credit shares come to known true shares (e.g. a generator's, or a holdout
    experiment's): the share of credit given to the wrong campaigns (half the L1 distance, 0 = perfect) and
    the rank correlation of credit with the truth, per rule."""
    table = attribution.table(metric).reindex(true_share.index).fillna(0.0)
    rows = {}
    for rule in RULES:
        share = table[rule] / table[rule].sum()
        rows[rule] = {
            "misassigned_share": float((share - true_share).abs().sum() / 2),
            "rank_correlation": float(share.rank().corr(true_share.rank())),
        }
    return pd.DataFrame.from_dict(rows, orient="index")
