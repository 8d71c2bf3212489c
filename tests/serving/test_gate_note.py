"""A version that failed its quality gate and was promoted by hand says so wherever it serves: the CLI
commands that load it, `GET /model` and the review page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest_serving import asgi_app_without_metrics, service_env, start
from typer.testing import CliRunner

from leadscore.cli.main import app
from leadscore.datasets.synthetic import CONFIG_TOML, generate_funnel
from leadscore.models.registry import load_model
from leadscore.training.pipeline import train

pytestmark = pytest.mark.service
runner = CliRunner()
NAME = "gate-test"
NOTE = "promoted by hand; failed its quality gate: "


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store whose version 1 learned from shuffled outcomes (won AUC about 0.5) and was promoted by hand."""
    root = tmp_path_factory.mktemp("gate")
    leads = generate_funnel(3000, seed=4)[0]
    outcomes = ["accepted", "won", "revenue"]
    leads[outcomes] = leads[outcomes].to_numpy()[np.random.default_rng(0).permutation(len(leads))]
    leads.to_csv(root / "leads.csv", index=False)
    (root / "leadscore.toml").write_text(CONFIG_TOML)
    store = f"sqlite:///{root / 'mlflow.db'}"
    result = train(root / "leads.csv", root / "leadscore.toml", store, NAME)
    assert result.decision.alias is None, result.decision.reason
    args = ["score", "--data", str(root / "leads.csv"), "--out", str(root / "s.csv"), "--tracking-uri", store]
    unpromoted = runner.invoke(app, [*args, "--model", f"models:/{NAME}@champion"])
    said = " ".join(unpromoted.output.split())
    assert unpromoted.exit_code == 2 and "has 1 version(s) but none is @champion" in said
    assert f"leadscore models promote 1 --model-name {NAME}" in said and ".." not in said
    promoted = runner.invoke(app, ["models", "promote", "1", "--model-name", NAME, "--tracking-uri", store])
    assert promoted.exit_code == 0, promoted.output
    assert "failed its quality gate" in " ".join(promoted.output.split())
    return root, store


def test_load_model_carries_the_verdict(registry: tuple[Path, str]) -> None:
    loaded = load_model(f"models:/{NAME}@champion", registry[1])
    assert loaded.gate_note is not None and loaded.gate_note.startswith(NOTE)
    by_number = load_model(f"models:/{NAME}/1", registry[1])
    assert by_number.gate_note is not None and "failed its quality gate" in by_number.gate_note


def test_score_says_the_model_failed_its_gate(registry: tuple[Path, str], tmp_path: Path) -> None:
    root, store = registry
    args = ["score", "--data", str(root / "leads.csv"), "--out", str(tmp_path / "s.csv")]
    result = runner.invoke(app, [*args, "--model", f"models:/{NAME}@champion", "--tracking-uri", store])
    assert result.exit_code == 0, result.output
    assert NOTE in " ".join(result.output.split())
    assert len(pd.read_csv(tmp_path / "s.csv")) == 3000


@pytest.mark.parametrize("command", [["report", "campaigns"], ["plan", "--revenue-target", "1M"]])
def test_reports_and_plan_say_it(registry: tuple[Path, str], tmp_path: Path, command: list[str]) -> None:
    root, store = registry
    args = [*command, "--data", str(root / "leads.csv"), "--config", str(root / "leadscore.toml")]
    args += ["--model", f"models:/{NAME}@champion", "--tracking-uri", store]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "r")] if command[0] == "report" else args)
    assert result.exit_code == 0, result.output
    assert NOTE in " ".join(result.output.split())
    if command[0] == "report":
        assert "failed its quality gate" in (tmp_path / "r" / "report.html").read_text()


@pytest.fixture(scope="module")
def asgi_app() -> Iterator[Any]:
    with asgi_app_without_metrics() as built:
        yield built


def test_service_and_review_page_say_it(
    registry: tuple[Path, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, asgi_app: Any
) -> None:
    env = service_env(monkeypatch, tmp_path, tmp_path / "feedback.db")
    env.setenv("MLFLOW_TRACKING_URI", registry[1])
    env.setenv("LEADSCORE_MODEL_URI", f"models:/{NAME}@champion")
    with start(asgi_app) as client:
        info = client.get("/model").json()
        assert info["version"] == "1" and info["gate_note"].startswith(NOTE)
        assert info["history"] and {"month", "leads", "won_rate"} <= set(info["history"][0])  # rates by month
        page = client.get("/ui/")
        assert page.status_code == 200 and NOTE in page.text
