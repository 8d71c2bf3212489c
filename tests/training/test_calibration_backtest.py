"""Calibration that holds on later leads: on funnels whose win rate rises and then falls, and whose recent
outcomes are still maturing, the registered model's ECE on the next period's leads is at most
max(0.03, a plain logistic regression's + 0.01), the logistic regression fitted on all history."""

from __future__ import annotations

import pandas as pd
import pytest
from open_funnels import MATURING_TOML, drifting_funnel

from leadscore.features.config import parse_config_text
from leadscore.training.evaluate import baseline_metrics, expected_calibration_error
from leadscore.training.fit import fit_and_evaluate

FLOORS = "\n[training]\nmin_positives = 50\n"
NO_CLOCK = MATURING_TOML.replace('decided_at = "won_at"\n', "").replace('"revenue"]', '"revenue", "won_at"]')


def _goal(history: pd.DataFrame, later: pd.DataFrame, toml: str) -> tuple[float, float, list[str]]:
    config = parse_config_text(toml + FLOORS)
    fit = fit_and_evaluate(history, config)
    p_won = fit.scorer.predict(later)["p_won"].to_numpy()
    ours = expected_calibration_error(later["won"].to_numpy(), p_won)
    transformer = fit.scorer.transformer_
    logreg = baseline_metrics(transformer, config.data, history.assign(won=history["won"].astype(float)), later)
    assert fit.calibration is not None
    return ours, logreg["baseline_logreg_won_ece"], fit.calibration.lines(fit.metrics)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [5, 6])
@pytest.mark.parametrize("toml", [MATURING_TOML, NO_CLOCK], ids=["maturing-window", "no-decision-times"])
def test_calibration_holds_on_the_next_period(seed: int, toml: str) -> None:
    history, later = drifting_funnel(10000, seed=seed, swing=(-0.7, 0.6, -0.4), peak=0.4)
    ours, logreg, lines = _goal(history, later, toml)
    assert ours <= max(0.03, logreg + 0.01), (ours, logreg, lines)
    assert "backtest ECE on the most recent fold" in lines[0] and "logistic regression" in lines[0]
