"""Accounts: in B2B a company buys, not a person, so leads roll up to their account.

Per account: its people, how many are engaged (a response in the last `ENGAGED_DAYS` days), the probability
that at least one of them becomes a win (1 - prod(1 - p_won), treating the people as independent: an upper
bound when they share one buying decision, said in the note), expected revenue (the sum over its people) and
the reasons that lift its people most. The CLI's `report accounts` (`marketing.account_report`) and the
service's `GET /accounts/{id}` both roll up through `roll_up`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from leadscore.features.responses import LEAD, TIME
from leadscore.models.reasons import Reason

ENGAGED_DAYS = 30
"""A person is engaged when they responded within this many days of the as-of time."""
TOP_REASONS = 3
NOTE = (
    "P(at least one win) treats an account's people as independent buyers: when they share one buying "
    "decision it is an upper bound; expected revenue is the sum over its people."
)


def engaged(
    lead_ids: pd.Series, responses: pd.DataFrame | None, as_of: pd.Timestamp, days: int = ENGAGED_DAYS
) -> pd.Series:
    """Whether each lead responded in the `days` before `as_of` (index follows `lead_ids`)."""
    if responses is None or not len(responses):
        return pd.Series(False, index=lead_ids.index)
    recent = responses[(responses[TIME] < as_of) & (responses[TIME] >= as_of - pd.Timedelta(days=days))]
    return lead_ids.astype(str).isin(set(recent[LEAD].astype(str)))


def top_reasons(
    reasons: Sequence[Sequence[Reason]], lead_ids: Sequence[str], head: str = "won", k: int = TOP_REASONS
) -> list[str]:
    """The reasons that lift a group of leads most: positive contributions summed per column, each shown as
    its strongest sentence with the person it belongs to ("... (lead L17)"): a value is one person's, and
    the reasons of an account mix its people."""
    total: dict[str, float] = {}
    strongest: dict[str, tuple[Reason, str]] = {}
    for row, lead_id in zip(reasons, lead_ids, strict=True):
        for reason in row:
            if reason.head != head or reason.contribution <= 0:
                continue
            total[reason.feature] = total.get(reason.feature, 0.0) + reason.contribution
            if reason.feature not in strongest or reason.contribution > strongest[reason.feature][0].contribution:
                strongest[reason.feature] = (reason, lead_id)
    ranked = sorted(total, key=lambda f: total[f], reverse=True)[:k]
    return [f"{strongest[f][0].text} (lead {strongest[f][1]})" for f in ranked]


def roll_up(people: pd.DataFrame, reasons: Sequence[Sequence[Reason]] | None = None) -> pd.DataFrame:
    """One row per account from one row per person (columns `account`, `lead_id`, `p_won`, `expected_revenue`,
    `engaged`; `reasons` aligned with the rows): people, engaged, p_any_win, expected_revenue, top_reasons;
    most expected revenue first."""
    frame = people.reset_index(drop=True)
    rows = []
    for account, group in frame.groupby("account", sort=True):
        p_won = group["p_won"].fillna(0.0).to_numpy(float)
        picked = [reasons[i] for i in group.index] if reasons is not None else []
        rows.append(
            {
                "account": str(account),
                "people": len(group),
                "engaged_people": int(group["engaged"].sum()),
                "p_any_win": float(1.0 - np.prod(1.0 - p_won)),
                "expected_revenue": float(group["expected_revenue"].fillna(0.0).sum()),
                "best_lead": str(group.loc[group["expected_revenue"].fillna(0.0).idxmax(), "lead_id"]),
                "top_reasons": top_reasons(picked, group["lead_id"].astype(str).tolist() if picked else []),
            }
        )
    columns = ["account", "people", "engaged_people", "p_any_win", "expected_revenue", "best_lead", "top_reasons"]
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values(["expected_revenue", "account"], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )
