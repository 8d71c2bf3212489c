"""A model trained with response events: it carries their spec, speaks of them in plain words, and its scores
move as responses arrive and age."""

from __future__ import annotations

import pandas as pd
import pytest

from leadscore.features.responses import PREFIX
from leadscore.models.registry import LeadScorerPyfunc
from leadscore.training.fit import FitResult


def test_model_carries_the_spec_and_uses_behaviour(journey_fit: tuple[FitResult, pd.DataFrame]) -> None:
    fit, _ = journey_fit
    scorer = fit.scorer
    assert scorer.responses is not None and scorer.responses.half_life_days == 14.0
    assert any(name.startswith(PREFIX) for name in scorer.transformer_.schema_.names)
    assert fit.metrics["won_roc_auc"] > 0.8


def test_reasons_speak_of_responses_in_plain_words(journey_fit: tuple[FitResult, pd.DataFrame]) -> None:
    fit, _ = journey_fit
    leads = fit.split.holdout.head(300)
    reasons = [r for row in fit.scorer.explain(leads) for r in row if r.feature == "responses"]
    assert reasons, "no lead's reasons mention its responses"
    assert all(r.text.startswith("Responses: ") for r in reasons)
    assert any("in the last 30 days, last one" in r.text for r in reasons)
    assert not any(PREFIX in r.feature for row in fit.scorer.explain(leads) for r in row)


def test_scores_move_with_new_responses_and_decay_as_they_age(journey_fit: tuple[FitResult, pd.DataFrame]) -> None:
    fit, responses = journey_fit
    scorer = fit.scorer
    lead = fit.split.holdout.head(1).drop(columns=list(scorer.responses.columns))
    lead_id = str(lead[scorer.data.id].iloc[0])
    now = pd.Timestamp("2026-07-01", tz="UTC")
    burst = pd.DataFrame(
        {
            "lead_id": pd.array([lead_id] * 4, dtype="string"),
            "timestamp": [now - pd.Timedelta(hours=h) for h in (1, 5, 20, 30)],
            "campaign": pd.array(["webinar_customer_stories", "roi_calculator"] * 2, dtype="string"),
            "response_type": pd.array(["webinar", "download"] * 2, dtype="string"),
        }
    )
    mine = responses[responses["lead_id"] == lead_id]
    before = scorer.predict(scorer.with_responses(lead, mine, now))
    engaged = pd.concat([mine, burst], ignore_index=True)
    after = scorer.predict(scorer.with_responses(lead, engaged, now))
    aged = scorer.predict(scorer.with_responses(lead, engaged, now + pd.Timedelta(days=120)))
    assert after["p_accept"].iloc[0] > before["p_accept"].iloc[0]
    assert aged["p_accept"].iloc[0] < after["p_accept"].iloc[0]


def test_the_mlflow_pyfunc_refuses_leads_without_their_behaviour(journey_fit: tuple[FitResult, pd.DataFrame]) -> None:
    """Through plain `mlflow.pyfunc`, a model that reads responses never silently scores leads as if they had
    none: without any behavioural column it refuses, naming what to do; with them it scores as the scorer does."""
    fit, responses = journey_fit
    pyfunc = LeadScorerPyfunc()
    pyfunc.scorer = fit.scorer
    leads = fit.split.holdout.head(50).drop(columns=[c for c in fit.split.holdout if c.startswith(PREFIX)])
    with pytest.raises(ValueError, match="reads response events") as info:
        pyfunc.predict(None, leads)  # type: ignore[arg-type]
    assert "leadscore score" in str(info.value)
    now = pd.Timestamp("2030-01-01", tz="UTC")
    full = fit.scorer.with_responses(leads, responses, now)
    pd.testing.assert_frame_equal(pyfunc.predict(None, full), fit.scorer.predict(full))  # type: ignore[arg-type]
