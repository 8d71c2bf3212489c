"""Shared fixtures: small generated funnels and one trained model per test session."""

from __future__ import annotations

import os

import pandas as pd
import pytest

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

from leadscore.datasets.synthetic import CONFIG_TOML, generate_funnel
from leadscore.features.config import LeadscoreConfig, parse_config_text


@pytest.fixture(scope="session")
def demo_config() -> LeadscoreConfig:
    """The demo leadscore.toml, parsed."""
    return parse_config_text(CONFIG_TOML)


@pytest.fixture(scope="session")
def funnel() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(leads, truth) with 10000 generated leads; treat as read-only."""
    return generate_funnel(10000, seed=1)


@pytest.fixture
def leads(funnel: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """A fresh copy of the generated leads, safe to modify."""
    return funnel[0].copy()
