"""The service's nurture reasons name columns by the `[labels]` stored in the model, as `score --config` does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest_serving import asgi_app_without_metrics, lead_records, service_env, start

from leadscore.datasets.synthetic import CONFIG_TOML
from leadscore.features.config import parse_config_text
from leadscore.models.artifact import load_scorer, save_scorer

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def asgi_app() -> Iterator[Any]:
    with asgi_app_without_metrics() as app:
        yield app


def test_nurture_reasons_use_the_models_labels(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_dir: Path, asgi_app: Any
) -> None:
    scorer = load_scorer(model_dir)[0]
    scorer.labels = dict(parse_config_text(CONFIG_TOML + '\n[labels]\ndemo_requested = "Asked for a demo"\n').labels)
    save_scorer(scorer, tmp_path / "labelled")
    (tmp_path / "leadscore.toml").write_text(CONFIG_TOML)
    service_env(monkeypatch, tmp_path / "labelled", tmp_path / "feedback.db", tmp_path / "leadscore.toml")
    with start(asgi_app) as client:
        response = client.post("/score", json={"leads": lead_records(120, seed=6, keep=("email",))})
    assert response.status_code == 200, response.text
    reasons = " ".join(r for lead in response.json()["leads"] for r in lead["nurture_reasons"])
    assert "Asked for a demo" in reasons and "demo requested" not in reasons
