"""Issue #25: compact trees. Among every candidate setting and number of rounds within `COMPACT_TOLERANCE` of the
best validation AUC, each probability head keeps the cheapest (trees x leaves)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from leadscore.models.scorer import COMPACT_TOLERANCE, SEARCH_SPACE, lightgbm_names, targets
from leadscore.training.fit import FitResult


def _curves(fit: FitResult, head: str) -> list[tuple[int, np.ndarray]]:
    """(leaves, validation AUC after each round) of every candidate, fitted independently of `_train_head`."""
    scorer = fit.evaluated
    X, X_val = (scorer.transformer_.transform(f) for f in (fit.split.train, fit.split.valid))
    y, y_val = targets(fit.split.train, scorer.data)[head], targets(fit.split.valid, scorer.data)[head]
    names, cats = lightgbm_names(scorer.transformer_.feature_names_out_), scorer.transformer_.categorical_indices_
    params = scorer.lgb_params("binary", len(y))
    train_set = lgb.Dataset(X, y, feature_name=names, categorical_feature=cats, params=params, free_raw_data=False)
    valid_set = lgb.Dataset(X_val, y_val, reference=train_set, feature_name=names, categorical_feature=cats)
    out = []
    for settings in SEARCH_SPACE:
        curve: dict = {}
        lgb.train(
            scorer.lgb_params("binary", len(y), settings),
            train_set,
            num_boost_round=scorer.training.num_boost_round,
            valid_sets=[valid_set],
            callbacks=[lgb.early_stopping(50, verbose=False), lgb.record_evaluation(curve)],
        )
        out.append((int(settings["num_leaves"]), np.asarray(curve["valid_0"]["auc"])))
    return out


def test_each_head_keeps_the_cheapest_model_within_tolerance(fitted: FitResult) -> None:
    for head, booster in fitted.evaluated.heads_.items():
        if head == "revenue":
            continue
        settings = fitted.evaluated.head_settings_[head]
        curves = _curves(fitted, head)
        best = max(c.max() for _, c in curves)
        cheapest = min(
            leaves * (int(np.flatnonzero(c >= best - COMPACT_TOLERANCE)[0]) + 1)
            for leaves, c in curves
            if c.max() >= best - COMPACT_TOLERANCE
        )
        early_stopped = next(int(np.argmax(c)) + 1 for _, c in curves if c.max() == best)
        assert booster.num_trees() == settings.rounds
        assert settings.rounds * settings.params["num_leaves"] == cheapest, head
        assert -settings.valid_loss >= best - COMPACT_TOLERANCE
        assert settings.rounds <= early_stopped
