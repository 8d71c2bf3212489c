"""Sales decisions from the feedback store become acceptance labels for the next training run.

The decisions come from the service's database (any SQLAlchemy URL) through `records`, which defines
"latest decision" for the service and for training alike; training never imports the service. The join
rule, counted in every run:
- the latest decision per lead wins (the last one the service stored; retries of an event store nothing),
  so duplicates count once;
- `accept` sets accepted = 1; `reject` sets accepted = 0 and, when the CRM has no win, won = 0 and
  revenue = 0 (a rejected lead cannot close);
- a decision overrides the CRM's `accepted` value (sales' explicit word is the acceptance label),
  except that a lead the CRM records as won keeps its CRM outcome: a win proves acceptance;
- rows still without outcomes after the join (open leads with no decision) are left out of training.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from leadscore.features.coerce import to_boolean, to_number
from leadscore.features.config import ConfigError, DataConfig


@dataclass(frozen=True)
class FeedbackJoin:
    """Training rows after the join, and how feedback changed them."""

    frame: pd.DataFrame
    counts: dict[str, int]


def apply_feedback(raw: pd.DataFrame, decisions: pd.DataFrame, data: DataConfig) -> FeedbackJoin:
    """Apply the join rule (module docstring) to raw training rows; returns rows to train on and counts."""
    if not data.accepted:
        raise ConfigError(
            "retrain joins sales decisions as acceptance labels: name the acceptance column in [data].accepted"
        )
    frame = raw.copy()
    ids = frame[data.id].astype(str)
    decided = decisions.drop_duplicates("lead_id", keep="last").set_index("lead_id")["decision"]
    decision = ids.map(decided)
    accepted, _ = to_boolean(frame[data.accepted].replace("", pd.NA))
    won = to_boolean(frame[data.won].replace("", pd.NA))[0] if data.won else pd.Series(float("nan"), index=frame.index)
    crm_won = won == 1
    label = decision.map({"accept": 1.0, "reject": 0.0})
    applies = label.notna() & ~crm_won
    counts = {
        "feedback_decisions": int(decisions["lead_id"].nunique()) if len(decisions) else 0,
        "feedback_matched_leads": int(label.notna().sum()),
        "feedback_new_labels": int((applies & accepted.isna()).sum()),
        "feedback_overrode_crm": int((applies & accepted.notna() & (accepted != label)).sum()),
        "feedback_agreed_with_crm": int((applies & (accepted == label)).sum()),
        "feedback_conflicts_kept_crm_win": int((label == 0).where(crm_won, False).sum()),
    }
    frame[data.accepted] = accepted.where(~applies, label)
    rejected = applies & (label == 0)
    if data.won:
        frame[data.won] = won.where(~rejected, 0.0)
    if data.revenue:
        revenue, _ = to_number(frame[data.revenue].replace("", pd.NA))
        frame[data.revenue] = revenue.where(~rejected, 0.0)
    outcomes = list(data.outcome_columns.values())
    complete = frame[outcomes].notna().all(axis=1)
    counts["open_leads_left_out"] = int((~complete).sum())
    return FeedbackJoin(frame[complete].reset_index(drop=True), counts)


def rejection_reasons(
    decisions: pd.DataFrame, leads: pd.DataFrame, grades: pd.Series, data: DataConfig
) -> pd.DataFrame:
    """Share of each rejection reason per campaign and per grade: which objections dominate where."""
    rejected = decisions[decisions["decision"] == "reject"].copy()
    rejected["reason_code"] = rejected["reason_code"].fillna("unspecified")
    keyed = leads.assign(grade=grades.to_numpy(), _id=leads[data.id].astype(str)).set_index("_id")
    rejected = rejected[rejected["lead_id"].isin(keyed.index)]
    rows = []
    groups = [("grade", "grade")] + ([("campaign", data.campaign)] if data.campaign else [])
    for label, column in groups:
        group_of = rejected["lead_id"].map(keyed[column])
        table = pd.crosstab(group_of, rejected["reason_code"], normalize="index")
        for group, shares in table.iterrows():
            n = int((group_of == group).sum())
            rows.append(
                {"by": label, "group": group, "rejections": n, "top_reason": shares.idxmax(), **shares.round(3)}
            )
    return pd.DataFrame(rows)
