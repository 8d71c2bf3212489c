"""The documented Python API (`import leadscore`): load a model, score a frame as `leadscore score` does."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import leadscore
from leadscore.models.artifact import save_scorer
from leadscore.scoring.batch import score_chunk
from leadscore.training.fit import FitResult


def test_load_and_score_a_frame(fitted: FitResult, leads: pd.DataFrame, tmp_path: Path) -> None:
    model = leadscore.load_model(save_scorer(fitted.scorer, tmp_path / "model", {}))
    scores = leadscore.score(model, leads.head(40), reasons=1)
    expected = score_chunk(fitted.scorer, leads.head(40), allow_missing=True, reasons=1)[0]
    pd.testing.assert_frame_equal(scores, expected)
    assert list(scores.columns[:3]) == ["lead_id", "score", "grade"] and scores["reasons"].str.len().gt(0).all()


def test_a_model_that_reads_responses_asks_for_them(
    journey_fit: tuple[FitResult, pd.DataFrame], tmp_path: Path
) -> None:
    fit, responses = journey_fit
    model = leadscore.load_model(save_scorer(fit.scorer, tmp_path / "model", {}))
    leads = fit.split.holdout.head(30)
    with pytest.raises(ValueError, match="read_responses"):
        leadscore.score(model, leads)
    as_of = pd.Timestamp("2030-01-01", tz="UTC")
    scores = leadscore.score(model, leads, responses=responses, as_of=as_of)
    expected = fit.scorer.predict(fit.scorer.with_responses(leads, responses, as_of))
    assert scores["score"].tolist() == expected["score"].tolist()
