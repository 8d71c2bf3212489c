"""Issue #25: reasons on the scale of the number shown. With Platt calibration, contributions are scaled by its
slope and add up exactly to the calibrated probability's logit; isotonic says in words what they explain."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from scipy.special import logit

from leadscore.models.scorer import Calibrator
from leadscore.training.fit import FitResult


@pytest.mark.parametrize("head", ["accepted", "won"])
def test_platt_reasons_add_up_to_the_calibrated_logit(fitted: FitResult, head: str) -> None:
    scorer = fitted.scorer
    X = scorer.transformer_.transform(fitted.split.holdout.head(200))
    shown = scorer.heads_output(X).calibrated[head]
    contributions = scorer.source_contributions(X, head)
    np.testing.assert_allclose(contributions.sum(axis=1) + scorer.reason_baseline(head), logit(shown), atol=1e-6)
    raw = scorer.heads_[head].predict(X, pred_contrib=True)[:, :-1].sum(axis=1)
    assert scorer.reason_scale(head) != pytest.approx(1.0, abs=1e-3), "this fit's Platt slope is not 1"
    np.testing.assert_allclose(contributions.sum(axis=1), raw * scorer.reason_scale(head), atol=1e-9)
    reasons = scorer.explain(fitted.split.holdout.head(20), k=20)
    for row, lead in zip(reasons, contributions[:20], strict=True):
        for reason in (r for r in row if r.head == head):
            column = scorer.transformer_.schema_.names.index(reason.feature)
            assert reason.contribution == pytest.approx(lead[column], abs=1e-4)
    assert "calibrated probability" in scorer.reasons_explain()


def test_isotonic_reasons_say_what_they_explain(fitted: FitResult) -> None:
    scorer = copy.deepcopy(fitted.scorer)
    X = scorer.transformer_.transform(fitted.split.valid)
    y = fitted.split.valid["won"].to_numpy()
    scorer.calibrators_["won"] = Calibrator("isotonic").fit(scorer.heads_output(X).raw["won"], y)
    assert scorer.reason_scale("won") == 1.0
    assert "before calibration" in scorer.reasons_explain() and "not by how much" in scorer.reasons_explain()


def test_score_basis_names_the_head_that_drives_the_score(fitted: FitResult) -> None:
    assert "expected revenue" in fitted.scorer.score_basis()
    scorer = copy.deepcopy(fitted.scorer)
    del scorer.revenue_cap_, scorer.heads_["revenue"]
    assert "win probability" in scorer.score_basis() and "revenue" not in scorer.score_basis()
    del scorer.heads_["won"]
    assert "acceptance probability" in scorer.score_basis()
