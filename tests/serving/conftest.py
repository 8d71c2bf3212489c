"""Shared by the serving tests: one trained model, the client of the in-process service, and the
reliability report that `make reliability` collects.

A module defines `env` (its service environment, usually `conftest_serving.service_env`) and `asgi_app`;
`client` then serves that environment."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest_serving import CHROMIUM, CHROMIUM_ARGS, start, train_model_dir
from starlette.testclient import TestClient


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium through Playwright, for the tests marked `browser`."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: the browser tests need Debian's package (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small trained model for every serving test that needs *a* model; tests that break a model
    break a copy."""
    return train_model_dir(tmp_path_factory.mktemp("models") / "champion", seed=0)


@pytest.fixture(scope="session")
def app_with_metrics() -> Any:
    """The service's real ASGI app (BentoML middlewares, lifespan and all), built once: its Prometheus
    metrics register process-wide, so every module that reads `/metrics` shares it. Each client context runs
    the lifespan, so each test gets a fresh service instance that reads the environment the test set up."""
    from leadscore.serving.service import LeadScoringService

    return LeadScoringService.to_asgi()


@pytest.fixture
def client(env: pytest.MonkeyPatch, asgi_app: Any) -> Iterator[TestClient]:
    """A client of a fresh service instance in the module's `env`."""
    with start(asgi_app) as c:
        yield c


@pytest.fixture(scope="module", autouse=True)
def reliability_report(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a module that counts what it measured (a module-level `COUNTS`), append the counts to the
    reliability report when `benchmarks/reliability.py` asks for one (LEADSCORE_RELIABILITY_REPORT)."""
    yield
    counts = getattr(request.module, "COUNTS", None)
    path = os.environ.get("LEADSCORE_RELIABILITY_REPORT")
    if counts is not None and path:
        with Path(path).open("a") as fh:
            fh.write(json.dumps(dict(counts)) + "\n")
