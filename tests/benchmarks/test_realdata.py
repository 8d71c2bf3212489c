"""The committed UCI Bank Marketing copy, loaded the way `benchmarks/realdata.py` loads it.

Why: the real-data benchmark is only honest if its file is the genuine one, its derived time order is right
(the time split depends on it), and the post-call `duration` never reaches a model.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pandas as pd
import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "realdata.py"


@pytest.fixture(scope="module")
def realdata() -> ModuleType:
    """The benchmark script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("realdata", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def leads(realdata: ModuleType) -> pd.DataFrame:
    return realdata.load_bank()


def test_committed_file_is_the_full_uci_table(leads: pd.DataFrame) -> None:
    assert leads.shape == (45_211, 19)  # 17 UCI columns - y + lead_id, created_at, won
    assert int(leads["won"].sum()) == 5_289
    assert leads["lead_id"].is_unique


def test_created_at_follows_row_order_from_2008_to_2010(leads: pd.DataFrame) -> None:
    created = leads["created_at"]
    assert created.is_monotonic_increasing  # non-decreasing
    assert created.min() == pd.Timestamp("2008-05-05")
    assert created.max() == pd.Timestamp("2010-11-17")
    assert sorted(created.dt.year.unique()) == [2008, 2009, 2010]
    assert (created.dt.day == leads["day"]).all()


@pytest.mark.parametrize("by_time", [False, True])
def test_duration_is_never_a_feature(realdata: ModuleType, leads: pd.DataFrame, by_time: bool) -> None:
    config = realdata.bank_config(by_time)
    frame = realdata.frame_for(leads, config)
    features = realdata.feature_columns(frame, config)
    assert "duration" in frame.columns and "duration" in config.data.exclude
    assert "duration" not in features
    assert not {"won", "lead_id", "created_at"} & set(features)
    assert ("created_at" in frame.columns) == by_time  # the random split gets no date to learn the period from


def _fit(passed: bool, auc: float, ece: float) -> SimpleNamespace:
    """What `goal` reads of a `FitResult`: the gate's verdict and the holdout metrics."""
    return SimpleNamespace(quality=SimpleNamespace(passed=passed), metrics={"won_roc_auc": auc, "won_ece": ece})


def test_a_refusal_by_the_gate_is_reported_as_a_refusal_not_a_goal_met(realdata: ModuleType) -> None:
    config = realdata.bank_config(by_time=True)
    baselines = {"lgbm": {"auc": 0.56}, "logreg": {"auc": 0.68}}
    assert realdata.goal(_fit(False, 0.67, 0.21), baselines, config) == "refused"
    assert realdata.goal(_fit(True, 0.60, 0.01), baselines, config).startswith("MISSED")
    assert realdata.goal(_fit(True, 0.70, 0.03), baselines, config).startswith("MISSED")
    assert realdata.goal(_fit(True, 0.70, 0.01), baselines, config).startswith("met")
