"""Shared fixtures: small generated funnels and one trained model per test session."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pandas as pd
import pytest

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

from leadscore.datasets.synthetic import CONFIG_TOML, JOURNEY_CONFIG_TOML, Journeys, generate_funnel, generate_journeys
from leadscore.features.config import LeadscoreConfig, parse_config_text
from leadscore.features.validation import validate_responses
from leadscore.training.fit import FitResult, fit_and_evaluate

if TYPE_CHECKING:
    from leadscore.training.fit import FitResult


@pytest.fixture(scope="session")
def demo_config() -> LeadscoreConfig:
    """The demo leadscore.toml, parsed."""
    return parse_config_text(CONFIG_TOML)


@pytest.fixture(scope="session")
def funnel() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(leads, truth) with 10000 generated leads; treat as read-only."""
    return generate_funnel(10000, seed=1)


@pytest.fixture(scope="session")
def fitted(funnel: tuple[pd.DataFrame, pd.DataFrame], demo_config: LeadscoreConfig) -> FitResult:
    """The one model of the session, fitted on `funnel` with the demo config, for every test that needs *a*
    trained model; treat as read-only."""
    from leadscore.training.fit import fit_and_evaluate

    return fit_and_evaluate(funnel[0], demo_config)


@pytest.fixture
def leads(funnel: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """A fresh copy of the generated leads, safe to modify."""
    return funnel[0].copy()


@pytest.fixture(scope="session")
def journeys() -> Journeys:
    """6000 generated leads with accounts and response events (and the truth of campaign influence)."""
    return generate_journeys(6000, seed=2)


@pytest.fixture(scope="session")
def journey_config() -> LeadscoreConfig:
    """The demo leadscore.toml with `[responses]` and an account column, parsed."""
    return parse_config_text(JOURNEY_CONFIG_TOML)


@pytest.fixture(scope="session")
def journey_fit(journeys: Journeys, journey_config: LeadscoreConfig) -> tuple[FitResult, pd.DataFrame]:
    """(fit, validated responses) of a model trained on `journeys` with behavioural features."""
    responses = validate_responses(journeys.responses, journey_config.responses)
    return fit_and_evaluate(journeys.leads, journey_config, responses=responses), responses
