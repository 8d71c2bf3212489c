"""Platt calibration computes `LogisticRegression.predict_proba`'s arithmetic itself (sklearn's input
checks cost more than the boosters on one lead): the probabilities must stay bit for bit the same."""

from __future__ import annotations

import numpy as np
import pytest

from leadscore.models.scorer import Calibrator, _logit


@pytest.mark.parametrize("seed", range(3))
def test_platt_calibration_equals_logistic_regression_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p_raw = rng.beta(1, 6, 5000)
    y = (rng.random(5000) < np.clip(p_raw * 1.3, 0, 1)).astype(float)
    calibrator = Calibrator("sigmoid").fit(p_raw, y)
    p = np.concatenate([rng.random(20_000), [0.0, 1.0, 1e-12, 1 - 1e-12, 0.5]])
    expected = np.clip(calibrator.map_.predict_proba(_logit(p)[:, None])[:, 1], 1e-6, 1 - 1e-6)
    for n in (1, 2, 999, len(p)):
        assert np.array_equal(calibrator.predict(p[:n]), expected[:n])
