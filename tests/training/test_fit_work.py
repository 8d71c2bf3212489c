"""Training does each piece of work once (issue: training at scale): the search shares one binned Dataset (and
on a sample of a large fold compares settings at a coarse learning rate), the holdout is transformed once,
and the leak check's quick model drops a column's features instead of fitting a transformer per column."""

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
from leadscore.models import scorer as scorer_module
from leadscore.models.scorer import _SEARCH_LEARNING_RATE, SEARCH_SPACE, LeadScorer
from leadscore.training.evaluate import _QuickFolds
from leadscore.training.fit import fit_and_evaluate
from leadscore.training.split import split_leads

CONFIG = parse_config_text(CONFIG_TOML)


def _search_calls(
    funnel: tuple[pd.DataFrame, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> tuple[LeadScorer, list[tuple[float, lgb.Dataset, float]], int]:
    """Fit a scorer and record (learning rate, Dataset, num_leaves) of each `lightgbm.train` call."""
    split = split_leads(prepare_training_frame(funnel[0], CONFIG).frame, CONFIG)
    calls: list[tuple[float, lgb.Dataset, float]] = []
    real = lgb.train

    def recording(params: dict[str, Any], train_set: lgb.Dataset, **kwargs: Any) -> lgb.Booster:
        calls.append((params["learning_rate"], train_set, params["num_leaves"]))
        return real(params, train_set, **kwargs)

    monkeypatch.setattr(lgb, "train", recording)
    return LeadScorer(CONFIG.data, CONFIG.training).fit(split.train, split.valid), calls, len(split.train)


def test_search_on_a_small_fold_bins_once_and_keeps_the_winners_fit(
    funnel: tuple[pd.DataFrame, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    scorer, calls, _ = _search_calls(funnel, monkeypatch)
    rate = CONFIG.training.learning_rate
    for head in ("accepted", "won"):
        searched = calls[: len(SEARCH_SPACE)]
        del calls[: len(SEARCH_SPACE)]
        assert [r for r, _, _ in searched] == [rate] * len(SEARCH_SPACE), "small folds search at the configured rate"
        assert len({id(dataset) for _, dataset, _ in searched}) == 1, f"{head}: binned more than once"
    assert [r for r, _, _ in calls] == [rate], "the revenue head fits once, and no winner is fitted again"
    assert all(booster.params["learning_rate"] == rate for booster in scorer.heads_.values())


def test_search_on_a_sample_of_a_large_fold_runs_coarse_then_fits_the_winner(
    funnel: tuple[pd.DataFrame, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scorer_module, "_SEARCH_ROWS", 2000)
    scorer, calls, train_rows = _search_calls(funnel, monkeypatch)
    for head in ("accepted", "won"):
        searched, (rate, final, leaves) = calls[: len(SEARCH_SPACE)], calls[len(SEARCH_SPACE)]
        del calls[: len(SEARCH_SPACE) + 1]
        assert [r for r, _, _ in searched] == [_SEARCH_LEARNING_RATE] * len(SEARCH_SPACE)
        assert len({id(dataset) for _, dataset, _ in searched}) == 1, f"{head}: binned more than once"
        assert searched[0][1].num_data() < train_rows == final.num_data()
        assert rate == CONFIG.training.learning_rate == scorer.heads_[head].params["learning_rate"]
        assert leaves == scorer.head_settings_[head].params["num_leaves"]


def test_holdout_is_transformed_once(
    funnel: tuple[pd.DataFrame, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
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
