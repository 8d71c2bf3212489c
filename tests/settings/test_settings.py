"""`leadscore.settings` is the one place that reads the environment; the defaults it gives."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from leadscore import settings

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("features", "models", "datasets", "training", "marketing", "scoring", "monitoring", "serving", "cli")


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if re.search(r"os\.environ|getenv\(", path.read_text())
    ]
    assert readers == []


def test_stores_default_under_the_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("LEADSCORE_FEEDBACK_DB", raising=False)
    assert settings.state_dir() == tmp_path.resolve()
    assert settings.tracking_uri() == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert settings.explicit_tracking_uri() is None
    assert settings.feedback_url() == f"sqlite:///{tmp_path.resolve() / 'feedback.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("LEADSCORE_FEEDBACK_DB", "postgresql+psycopg://db/leadscore")
    assert settings.tracking_uri() == settings.explicit_tracking_uri() == "http://127.0.0.1:5000"
    assert settings.feedback_url() == "postgresql+psycopg://db/leadscore"


def test_defaults_never_override_what_the_user_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path))
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "true")
    monkeypatch.delenv("BENTOML_HOME", raising=False)
    settings.apply_defaults(bentoml_home=True)
    assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "true"
    assert os.environ["BENTOML_DO_NOT_TRACK"] == "true"
    assert os.environ["BENTOML_HOME"] == str(tmp_path.resolve() / "bentoml")
