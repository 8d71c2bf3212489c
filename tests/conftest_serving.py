"""Shared helpers for the service tests: environment, a small trained model, JSON-ready leads.

Imported by `test_service*.py` (plain helpers, no fixtures, so each test module decides its scopes).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from local_service import request_leads

from leadscore.datasets.synthetic import CONFIG_TOML, generate_funnel
from leadscore.features.config import parse_config_text
from leadscore.features.validation import prepare_training_frame
from leadscore.models.artifact import save_scorer
from leadscore.models.scorer import LeadScorer

PROJECT = Path(__file__).resolve().parents[1]
TEST_ENV = {
    "BENTOML_DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "BENTOML_HOME": str(PROJECT / ".leadscore" / "bentoml"),
    # `bentoml serve` sets this; the in-process ASGI app needs it for /metrics.
    "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="leadscore-prometheus-"),
}
os.environ.update(TEST_ENV)

CHROMIUM = Path(os.environ.get("LEADSCORE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = PROJECT / "test-artifacts"
"""Screenshots of the browser tests."""
"""Debian's Chromium, which the browser tests drive through Playwright (no browser download)."""

METRICS = {"won_roc_auc": 0.71, "accepted_roc_auc": 0.68}


def train_model_dir(directory: Path, seed: int = 0) -> Path:
    """Fit a scorer on 3000 synthetic leads and save it as an artifact directory (about a second)."""
    leads, _ = generate_funnel(3000, seed)
    config = parse_config_text(CONFIG_TOML)
    frame = prepare_training_frame(leads, config).frame
    scorer = LeadScorer(config.data, config.training).fit(frame.iloc[:2000], frame.iloc[2000:])
    return save_scorer(scorer, directory, METRICS)


def local_name(model_dir: Path) -> str:
    """The name the service's database keeps a model served from this directory under (`LoadedModel.key`)."""
    return f"local:{model_dir.resolve()}"


def lead_records(n: int, seed: int = 1, shift: bool = False, keep: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """`n` synthetic leads as the CRM would post them: `id` plus feature values, missing as null; `shift`
    draws the drifted population, `keep` keeps non-feature columns (e.g. `email` for the rules)."""
    leads, _ = generate_funnel(n, seed, shift=shift)
    data = parse_config_text(CONFIG_TOML).data
    return request_leads(leads.drop(columns=sorted(data.non_feature_columns - {data.id, *keep})), data.id)


SERVICE_VARIABLES = (
    "LEADSCORE_API_TOKEN",
    "LEADSCORE_API_TOKEN_FILE",
    "LEADSCORE_ADMIN_TOKEN",
    "LEADSCORE_ADMIN_TOKEN_FILE",
    "LEADSCORE_ALLOWED_HOSTS",
    "LEADSCORE_MAX_BODY_BYTES",
    "LEADSCORE_UNKNOWN_FIELDS",
    "LEADSCORE_MAX_BATCH",
    "MLFLOW_TRACKING_URI",
)
"""Service settings a developer's shell may hold that would change what the tests see."""


def service_env(
    monkeypatch: pytest.MonkeyPatch, model_dir: Path, database: Path, config: Path | str = "none"
) -> pytest.MonkeyPatch:
    """A clean service environment: `model_dir` served, a fresh feedback `database`, qualification rules
    from `config` ("none": no rules, whatever ./demo holds), no token, no extra hosts, no alias polling."""
    for name in SERVICE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEADSCORE_MODEL_URI", str(model_dir))
    monkeypatch.setenv("LEADSCORE_FEEDBACK_DB", f"sqlite:///{database}")
    monkeypatch.setenv("LEADSCORE_CONFIG", str(config))
    monkeypatch.setenv("LEADSCORE_RELOAD_INTERVAL", "0")
    return monkeypatch


def start(app: Any, host: str = "127.0.0.1", base_url: str = "http://localhost:3000") -> Any:
    """A TestClient for `app` whose requests come from `host`; entered (`with`), it starts a service
    instance, which clients not entered share."""
    from starlette.testclient import TestClient

    return TestClient(app, base_url=base_url, client=(host, 50000))


def shoot(page: Any, name: str) -> Path:
    """A full-page screenshot of a Playwright page into `ARTIFACTS`."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


@contextmanager
def asgi_app_without_metrics() -> Iterator[Any]:
    """The service's ASGI app with metrics off: Prometheus metrics register process-wide, and
    test_service.py builds the one app that keeps them."""
    from leadscore.serving.service import LeadScoringService

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(LeadScoringService.config, "metrics", {"enabled": False})
        yield LeadScoringService.to_asgi()
