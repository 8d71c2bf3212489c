"""The environment, read in one place: where local state lives, which MLflow store and service database to
use, and the telemetry defaults. The CLI, the service (`leadscore.serving.settings` parses its own
variables from `environ()`) and tracking take their settings from here and pass them on as arguments.

A bottom layer like `features`: imports no other leadscore package.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

TELEMETRY_DEFAULTS = {
    "BENTOML_DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
"""No usage tracking or telemetry leaves the machine (leads are customer data), no download progress bars
in logs. Set only where the user has not set them: explicit settings always win."""


def environ() -> Mapping[str, str]:
    """The process environment: every leadscore setting is read from this mapping."""
    return os.environ


def state_dir() -> Path:
    """Local state (MLflow store, feedback database, BentoML home): LEADSCORE_HOME, else `.leadscore` in the
    working directory, so training, the CLI and the service find the same stores."""
    return Path(os.environ.get("LEADSCORE_HOME", ".leadscore")).resolve()


def explicit_tracking_uri() -> str | None:
    """MLFLOW_TRACKING_URI when the user set it, else None."""
    return os.environ.get("MLFLOW_TRACKING_URI", "").strip() or None


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI if set, else a SQLite store under `state_dir()`."""
    return explicit_tracking_uri() or f"sqlite:///{state_dir() / 'mlflow.db'}"


def feedback_url() -> str:
    """LEADSCORE_FEEDBACK_DB if set, else the service's SQLite file under `state_dir()`."""
    return os.environ.get("LEADSCORE_FEEDBACK_DB", "").strip() or f"sqlite:///{state_dir() / 'feedback.db'}"


def api_token() -> str | None:
    """LEADSCORE_API_TOKEN, the bearer token clients send to the service, or None."""
    return os.environ.get("LEADSCORE_API_TOKEN") or None


def apply_defaults(bentoml_home: bool = False) -> None:
    """Set `TELEMETRY_DEFAULTS` (and with `bentoml_home`, BENTOML_HOME under `state_dir()`) in the process
    environment before MLflow or BentoML read it; variables the user set are kept."""
    defaults = dict(TELEMETRY_DEFAULTS)
    if bentoml_home:
        defaults["BENTOML_HOME"] = str(state_dir() / "bentoml")
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
