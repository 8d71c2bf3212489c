"""Issue #25: the linear candidate. Each probability head also tries a regularised logistic regression over
one-hot levels of the transformer's columns; it wins the head when its validation AUC beats every tree setting,
its reasons add up exactly to its margin, and the refit and the artifact keep it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.features.config import parse_config_text
from leadscore.models.artifact import load_scorer, save_scorer
from leadscore.models.linear import LinearHead
from leadscore.models.scorer import LeadScorer
from leadscore.training.fit import FitResult, fit_and_evaluate

CONFIG = """
[data]
id = "lead_id"
created_at = "created_at"
won = "won"

[training]
min_rows = 200
min_positives = 20
"""


def additive_leads(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Many weak, purely additive effects on few rows: the case where trees lose to a linear model."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 12))
    region = rng.choice(["north", "south", "east", "west", "centre"], n)
    effect = pd.Series(region).map({"north": 0.4, "south": -0.4, "east": 0.2, "west": -0.2, "centre": 0.0})
    logit = x @ np.full(12, 0.35) + effect.to_numpy() - 1.0
    x[rng.random(x.shape) < 0.05] = np.nan
    frame = pd.DataFrame(x, columns=[f"signal_{i}" for i in range(12)]).assign(region=region)
    frame["won"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame["lead_id"] = [f"L{i}" for i in range(n)]
    frame["created_at"] = pd.date_range("2024-01-01", periods=n, freq="h")
    return frame


@pytest.fixture(scope="module")
def linear_fit() -> FitResult:
    return fit_and_evaluate(additive_leads(), parse_config_text(CONFIG))


def test_linear_candidate_wins_an_additive_funnel_and_says_why(linear_fit: FitResult) -> None:
    settings = linear_fit.evaluated.head_settings_["won"]
    assert settings.linear and settings.why.startswith("linear: validation AUC")
    assert isinstance(linear_fit.evaluated.heads_["won"], LinearHead)
    assert linear_fit.scorer.head_settings_["won"].linear, "the refit repeats the family and strength"
    assert isinstance(linear_fit.scorer.heads_["won"], LinearHead) and linear_fit.scorer.trees() == {"won": 0}
    assert linear_fit.quality.passed, linear_fit.quality.lines


def test_linear_reasons_add_up_to_the_margin(linear_fit: FitResult) -> None:
    scorer = linear_fit.scorer
    X = scorer.transformer_.transform(linear_fit.split.holdout)
    head = scorer.heads_["won"]
    contrib = head.predict(X, pred_contrib=True)
    np.testing.assert_allclose(contrib.sum(axis=1), head.predict(X, raw_score=True), atol=1e-9)
    train = scorer.transformer_.transform(pd.concat([linear_fit.split.train, linear_fit.split.valid]))
    np.testing.assert_allclose(head.predict(train, pred_contrib=True)[:, :-1].mean(axis=0), 0.0, atol=0.05)
    shown = scorer.heads_output(X).calibrated["won"]
    per_column = scorer.source_contributions(X, "won")
    np.testing.assert_allclose(
        per_column.sum(axis=1) + scorer.reason_baseline("won"), np.log(shown / (1 - shown)), atol=1e-6
    )
    reasons = scorer.explain(linear_fit.split.holdout.head(5), k=2)
    assert all(r.text for row in reasons for r in row) and any(r.feature == "region" for row in
        scorer.explain(linear_fit.split.holdout.head(200), k=13) for r in row)


def test_linear_head_survives_the_artifact(linear_fit: FitResult, tmp_path: Path) -> None:
    save_scorer(linear_fit.scorer, tmp_path / "m")
    loaded: LeadScorer = load_scorer(tmp_path / "m")[0]
    leads = linear_fit.split.holdout.head(50)
    pd.testing.assert_frame_equal(loaded.predict(leads), linear_fit.scorer.predict(leads))


def test_unseen_category_and_missing_values_are_levels_of_their_own() -> None:
    X = np.array([[0.0, 1.0], [1.0, 2.0], [np.nan, 3.0], [0.0, np.nan]] * 20)
    y = np.array([0, 1, 1, 0] * 20)
    head = LinearHead([0], 1.0).fit(X, y)
    new = np.array([[7.0, 2.0], [np.nan, np.nan]])
    contrib = head.predict(new, pred_contrib=True)
    assert np.isfinite(contrib).all() and contrib[0, 0] == pytest.approx(-head.coef_[:4] @ [0.5, 0.25, 0.25, 0.0])
