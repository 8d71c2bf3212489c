"""Campaigns beyond the biggest few folded into one "other (N campaigns)" group, so a console table, a chart
or a page stays readable (and bounded) however many campaign names the data holds. Files meant for analysis
(the CSV) keep every campaign."""

from __future__ import annotations

import re
from dataclasses import replace

import pandas as pd

from leadscore.marketing.attribution import Attribution

TOP_CAMPAIGNS = 20
"""Campaigns shown by name (the ones with most leads); the rest are folded into one row."""


def other_label(folded: int) -> str:
    """The name of the folded group."""
    return f"other ({folded:,} campaign{'s' if folded != 1 else ''})"


def fold_groups(labels: pd.Series, top: int = TOP_CAMPAIGNS) -> pd.Series:
    """`labels` (one campaign name per lead) with every campaign outside the `top` by lead count renamed to
    one "other (N campaigns)" label; ties in lead count go to the name that sorts first, so the result does
    not depend on row order."""
    counts = labels.value_counts()
    if len(counts) <= top + 1:  # folding one campaign would only hide its name
        return labels
    ranked = counts.rename_axis("name").reset_index(name="n").sort_values(["n", "name"], ascending=[False, True])
    kept = set(ranked["name"].iloc[:top])
    return labels.where(labels.isin(kept), other_label(len(counts) - top))


def fold_rows(frame: pd.DataFrame, size: pd.Series, top: int = TOP_CAMPAIGNS) -> pd.DataFrame:
    """Rows of an additive per-campaign table (indexed by campaign) with all but the `top` by `size` summed
    into one "other (N campaigns)" row, which comes last."""
    if len(frame) <= top + 1:
        return frame
    order = size.rename_axis("name").reset_index(name="n").sort_values(["n", "name"], ascending=[False, True])
    kept = list(order["name"].iloc[:top])
    rest = frame.drop(index=kept).sum(min_count=1).to_frame(other_label(len(frame) - top)).T
    return pd.concat([frame.loc[kept], rest]).infer_objects()


def fold_credit(attribution: Attribution, top: int = TOP_CAMPAIGNS) -> Attribution:
    """Multi-touch credit with campaigns beyond the `top` most credited (leads, linear rule) summed into one
    row: credit adds up, so the folded row is exact."""
    credit = attribution.credit
    return replace(attribution, credit=fold_rows(credit, credit[("leads", "linear")], top))


def is_folded(name: str) -> bool:
    """Whether a campaign name is the folded group's (it has no leads of its own to list)."""
    return re.fullmatch(r"other \([\d,]+ campaigns?\)", name) is not None
