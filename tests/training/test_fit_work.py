"""Training does each piece of work once (issue: training at scale): the search shares one binned Dataset and
compares settings at a coarse learning rate, the holdout is transformed once, and the leak check's quick
model drops a column's features instead of fitting a transformer per column."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from leadscore.datasets.synthetic import CONFIG_TOML
from leadscore.features.config import parse_config_text
from leadscore.features.transform import LeadTransformer
from leadscore.features.validation import prepare_training_frame
from leadscore.models.scorer import _SEARCH_LEARNING_RATE, SEARCH_SPACE, LeadScorer
from leadscore.training.evaluate import _QuickFolds
from leadscore.training.fit import fit_and_evaluate
from leadscore.training.split import split_leads

CONFIG = parse_config_text(CONFIG_TOML)


def test_search_shares_one_dataset_and_refits_the_winner_at_the_configured_rate(
    funnel: tuple[pd.DataFrame, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    split = split_leads(prepare_training_frame(funnel[0], CONFIG).frame, CONFIG)
    calls: list[tuple[float, lgb.Dataset, float]] = []
    real = lgb.train

    def recording(params: dict[str, Any], train_set: lgb.Dataset, **kwargs: Any) -> lgb.Booster:
        calls.append((params["learning_rate"], train_set, params["num_leaves"]))
        return real(params, train_set, **kwargs)

    monkeypatch.setattr(lgb, "train", recording)
    scorer = LeadScorer(CONFIG.data, CONFIG.training).fit(split.train, split.valid)
    for head in ("accepted", "won"):
        searched, final = calls[: len(SEARCH_SPACE)], calls[len(SEARCH_SPACE)]
        del calls[: len(SEARCH_SPACE) + 1]
        assert [rate for rate, _, _ in searched] == [_SEARCH_LEARNING_RATE] * len(SEARCH_SPACE)
        assert len({id(dataset) for _, dataset, _ in searched + [final]}) == 1, f"{head}: binned more than once"
        assert final[0] == CONFIG.training.learning_rate
        assert final[2] == scorer.head_settings_[head].params["num_leaves"]
        assert scorer.heads_[head].params["learning_rate"] == CONFIG.training.learning_rate
    assert [rate for rate, _, _ in calls] == [CONFIG.training.learning_rate], "revenue head: one fit, no search"


def test_holdout_is_transformed_once(funnel: tuple[pd.DataFrame, pd.DataFrame], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = LeadTransformer.transform

    def counting(self: LeadTransformer, X: pd.DataFrame, allow_missing: bool = False) -> np.ndarray:
        seen.append(id(X))
        return real(self, X, allow_missing)

    monkeypatch.setattr(LeadTransformer, "transform", counting)
    fit = fit_and_evaluate(funnel[0], CONFIG)
    assert seen.count(id(fit.split.holdout)) == 1


def test_quick_model_without_a_column_reads_what_a_transformer_without_it_gives(
    funnel: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    split = split_leads(prepare_training_frame(funnel[0], CONFIG).frame, CONFIG)
    quick = _QuickFolds.of(split.train, split.valid, CONFIG.data)
    for column in ("industry", "company_size", "web_visits"):
        without = CONFIG.data.model_copy(update={"exclude": (*CONFIG.data.exclude, column)})
        transformer = LeadTransformer(without).fit(split.train)
        keep = np.flatnonzero(quick.sources != column)
        np.testing.assert_array_equal(quick.X_val[:, keep], transformer.transform(split.valid))
        assert [i for i, j in enumerate(keep) if j in quick.categorical] == transformer.categorical_indices_
