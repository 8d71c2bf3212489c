"""Service settings, read from environment variables so the same Bento runs anywhere.

LEADSCORE_HOME (local state) defaults to `.leadscore` under the working directory.

| variable                  | default                                                        |
|---------------------------|----------------------------------------------------------------|
| LEADSCORE_MODEL_URI       | models:/leadscore@champion (or a model artifact directory)     |
| MLFLOW_TRACKING_URI       | sqlite:///$LEADSCORE_HOME/mlflow.db                            |
| LEADSCORE_API_TOKEN       | unset: no auth, localhost only                                 |
| LEADSCORE_API_TOKEN_FILE  | unset; a file holding the token (e.g. a mounted k8s secret)    |
| LEADSCORE_FEEDBACK_DB     | sqlite:///$LEADSCORE_HOME/feedback.db (any SQLAlchemy URL)     |
| LEADSCORE_MAX_BATCH       | 1000 leads per /score request, more gives 413                  |
| LEADSCORE_UNKNOWN_FIELDS  | reject (422); ignore drops them with a warning                 |
| LEADSCORE_RELOAD_INTERVAL | 0 (off); seconds between checks of the registry alias          |
| LEADSCORE_TIMEOUT         | 10 seconds per request, then 504                               |
| LEADSCORE_MAX_CONCURRENCY | 32 requests in flight per replica, then 429                    |
| LEADSCORE_CONFIG          | ./demo/leadscore.toml if it exists; its `[qualification]` rules |
|                           | add stage/route to /score ("none": no rules)                   |
| LEADSCORE_RETENTION_DAYS  | 90 days of scored leads kept (review page, drift, campaigns)   |
| LEADSCORE_DRIFT_WINDOW_DAYS | 7 days of traffic compared with training in `GET /model`     |

Scored leads are stored with model feature columns only, so PII fields (e-mail, name) that a request
carries for the qualification rules are never stored, logged or shown on the review page.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from features.config import ConfigError, parse_config_text
from features.qualification import QualificationConfig
from models.registry import DEFAULT_MODEL_URI
from serving import STATE_DIR

UnknownFields = Literal["reject", "ignore"]


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the variable (never a secret's value)."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}")
    return value


def _token(env: Mapping[str, str]) -> str | None:
    """The bearer token from LEADSCORE_API_TOKEN, else from the file LEADSCORE_API_TOKEN_FILE."""
    if token := env.get("LEADSCORE_API_TOKEN", "").strip():
        return token
    path = env.get("LEADSCORE_API_TOKEN_FILE", "").strip()
    if not path:
        return None
    try:
        token = Path(path).read_text().strip()
    except OSError as err:
        raise SettingsError(f"LEADSCORE_API_TOKEN_FILE {path} cannot be read: {err.strerror}") from None
    if not token:
        raise SettingsError(f"LEADSCORE_API_TOKEN_FILE {path} is empty")
    return token


def _qualification(env: Mapping[str, str]) -> QualificationConfig | None:
    """The `[qualification]` rules of LEADSCORE_CONFIG (default `demo/leadscore.toml` when present)."""
    raw = env.get("LEADSCORE_CONFIG", "").strip()
    if raw.lower() == "none":
        return None
    path = Path(raw) if raw else Path.cwd() / "demo" / "leadscore.toml"
    if not raw and not path.is_file():
        return None
    try:
        return parse_config_text(path.read_text(), source=str(path)).qualification
    except OSError as err:
        raise SettingsError(f"LEADSCORE_CONFIG {path} cannot be read: {err.strerror}") from None
    except ConfigError as err:
        raise SettingsError(f"LEADSCORE_CONFIG: {err}") from None


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment."""

    model_uri: str = DEFAULT_MODEL_URI
    tracking_uri: str = f"sqlite:///{STATE_DIR / 'mlflow.db'}"
    api_token: str | None = field(default=None, repr=False)
    feedback_db: str = f"sqlite:///{STATE_DIR / 'feedback.db'}"
    max_batch: int = 1000
    unknown_fields: UnknownFields = "reject"
    reload_interval: int = 0
    timeout: int = 10
    max_concurrency: int = 32
    qualification: QualificationConfig | None = None
    retention_days: int = 90
    drift_window_days: int = 7

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and check every variable; an unusable value raises `SettingsError`."""
        env = os.environ if env is None else env
        unknown = env.get("LEADSCORE_UNKNOWN_FIELDS", "reject").strip().lower()
        if unknown not in ("reject", "ignore"):
            raise SettingsError("LEADSCORE_UNKNOWN_FIELDS must be 'reject' or 'ignore'")
        return cls(
            model_uri=env.get("LEADSCORE_MODEL_URI", "").strip() or cls.model_uri,
            tracking_uri=env.get("MLFLOW_TRACKING_URI", "").strip() or cls.tracking_uri,
            api_token=_token(env),
            feedback_db=env.get("LEADSCORE_FEEDBACK_DB", "").strip() or cls.feedback_db,
            max_batch=_int(env, "LEADSCORE_MAX_BATCH", cls.max_batch, 1),
            unknown_fields="reject" if unknown == "reject" else "ignore",
            reload_interval=_int(env, "LEADSCORE_RELOAD_INTERVAL", cls.reload_interval, 0),
            timeout=_int(env, "LEADSCORE_TIMEOUT", cls.timeout, 1),
            max_concurrency=_int(env, "LEADSCORE_MAX_CONCURRENCY", cls.max_concurrency, 1),
            qualification=_qualification(env),
            retention_days=_int(env, "LEADSCORE_RETENTION_DAYS", cls.retention_days, 1),
            drift_window_days=_int(env, "LEADSCORE_DRIFT_WINDOW_DAYS", cls.drift_window_days, 1),
        )
