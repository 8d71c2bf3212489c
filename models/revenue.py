"""The one rule that keeps a few huge deals from setting revenue per lead, shared by the model's revenue head
and the campaign statistics, so the model, the report and the planner cap deals the same way."""

from __future__ import annotations

import math

import numpy as np

FENCE_IQRS = 3.0
"""Deals above exp(Q3 + 3 IQR) of the log deal sizes lie beyond a far-out fence on the log scale."""
_MIN_FOR_FENCE = 5


def deal_cap(deals: np.ndarray) -> float:
    """The most one won deal counts for: the far-out log-scale fence exp(Q3 + 3 IQR) of the declared deal sizes
    (with at least 5 deals), and never more than the second-largest deal, so no single deal sets revenue per
    lead. Deals <= 0 (wins without declared revenue) are ignored; infinite with fewer than two deals."""
    declared = np.sort(np.asarray(deals, dtype=float))
    declared = declared[declared > 0]
    if len(declared) < 2:
        return math.inf
    cap = float(declared[-2])
    if len(declared) >= _MIN_FOR_FENCE:
        q1, q3 = np.quantile(np.log(declared), [0.25, 0.75])
        cap = min(cap, float(np.exp(q3 + FENCE_IQRS * (q3 - q1))))
    return cap
