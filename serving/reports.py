"""What the service tells from its own traffic: campaign numbers (`GET /campaigns`, the campaign view) and
population drift (`GET /model`). The service has no CRM outcomes, so acceptance comes from sales decisions:
the latest accept counts 1, reject 0, and leads without a decision are open."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pandas as pd

from leadscore.features.contract import GRADES
from leadscore.marketing.folding import fold_groups
from leadscore.marketing.insights import (
    MIN_WINS,
    campaign_summary,
    group_labels,
    ranking_metric,
    summary_records,
)
from leadscore.models.drift import psi_status
from leadscore.records.scored import ScoreStore
from leadscore.serving.model import ServingModel
from leadscore.serving.schemas import CampaignsResponse, DriftInfo

DRIFT_CACHE_SECONDS = 60.0
T = TypeVar("T")


def campaign_report(store: ScoreStore, min_leads: int) -> CampaignsResponse:
    """Per campaign over each lead's latest scoring, via `marketing.insights.campaign_summary`.

    Campaigns beyond the biggest `TOP_CAMPAIGNS` are one "other (N campaigns)" row, so the answer, the page
    and the chart stay bounded however many campaign names the CRM sends. Verdicts follow the shared rules
    (enough decided leads and acceptances, Wilson intervals vs the average).
    Until sales has decided on some lead there is nothing to rank by, so the table then holds only the
    volume and score columns (same names as the summary's), in order of mean score.
    """
    leads = store.latest_with_decisions()
    if leads.empty:
        return CampaignsResponse(ranked_by=None, min_leads=min_leads, campaigns=[])
    scores = leads[["score", "grade", "p_accept", "p_won", "expected_revenue"]].astype(
        {"p_accept": float, "p_won": float, "expected_revenue": float}
    )
    groups = fold_groups(group_labels(leads["campaign"])).rename("campaign")
    accepted = leads["decision"].map({"accept": 1.0, "reject": 0.0}).astype(float)
    if accepted.notna().any():
        outcomes = pd.DataFrame({"accepted": accepted})
        summary = campaign_summary(scores, groups, outcomes, min_leads=min_leads, min_wins=MIN_WINS)
        basis = ranking_metric(summary)
        return CampaignsResponse(ranked_by=basis, min_leads=min_leads, campaigns=summary_records(summary))
    volume = scores.groupby(groups).agg(leads=("score", "size"), mean_score=("score", "mean"))
    shares = pd.crosstab(groups, scores["grade"], normalize="index").reindex(columns=list(GRADES), fill_value=0.0)
    volume[[f"share_{g}" for g in GRADES]] = shares.to_numpy()
    volume = volume.sort_values("mean_score", ascending=False)
    return CampaignsResponse(ranked_by=None, min_leads=min_leads, campaigns=summary_records(volume))


def drift_report(store: ScoreStore, model: ServingModel, window_days: int) -> DriftInfo | None:
    """PSI of the model version's traffic over the last `window_days` against its training reference."""
    now = datetime.now(UTC)
    since = now - timedelta(days=window_days)
    bins, scores = store.traffic(since, model.version)
    if not len(scores):
        return None
    psi = model.loaded.scorer.drift_reference_.psi(bins, scores)
    return DriftInfo(
        window_days=window_days,
        since=since,
        leads=len(scores),
        psi={name: round(value, 4) for name, value in psi.items()},
        status={name: psi_status(value) for name, value in psi.items()},
        computed_at=now,
    )


class TimedCache:
    """Keeps one computed value per key for `seconds`, so a cheap route stays cheap under polling."""

    def __init__(self, seconds: float = DRIFT_CACHE_SECONDS) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._entry: tuple[object, float, object] | None = None

    def get(self, key: object, compute: Callable[[], T]) -> T:
        """The cached value for `key` if fresh, else `compute()` (stored)."""
        with self._lock:
            entry = self._entry
        if entry is not None and entry[0] == key and time.monotonic() - entry[1] < self.seconds:
            return entry[2]  # type: ignore[return-value]
        value = compute()
        with self._lock:
            self._entry = (key, time.monotonic(), value)
        return value
