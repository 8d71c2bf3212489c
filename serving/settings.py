"""Service settings, read from environment variables so the same Bento runs anywhere.

LEADSCORE_HOME (local state) defaults to `.leadscore` under the working directory.

| variable                  | default                                                        |
|---------------------------|----------------------------------------------------------------|
| LEADSCORE_MODEL_URI       | models:/leadscore@champion (or a model artifact directory)     |
| MLFLOW_TRACKING_URI       | sqlite:///$LEADSCORE_HOME/mlflow.db                            |
| LEADSCORE_API_TOKEN       | unset: no auth, localhost only; set: at least 16 characters    |
| LEADSCORE_API_TOKEN_FILE  | unset; a file holding the token (e.g. a mounted k8s secret)    |
| LEADSCORE_ADMIN_TOKEN     | unset: `/admin/*` answers local clients only; set, it is the   |
|                           | only token `/admin/*` accepts (the scoring token is not enough) |
|                           | at least 16 characters, and not the API token                  |
| LEADSCORE_ADMIN_TOKEN_FILE | unset; a file holding the admin token                         |
| LEADSCORE_ALLOWED_HOSTS   | unset; comma-separated `Host` names served besides loopback    |
|                           | ones (always checked without a token: DNS rebinding)           |
| LEADSCORE_MAX_BODY_BYTES  | 10485760 (10 MiB) per request body, more gives 413             |
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
| LEADSCORE_CRM_LEAD_URL    | unset; the CRM's address of a lead, `{id}` replaced by its id:  |
|                           | the review page links each lead to its CRM record              |
| LEADSCORE_CRM_ACCOUNT_URL | unset; the same for an account (`{id}`: the account id)        |

Scored leads are stored with model feature columns only, so PII fields (e-mail, name) that a request
carries for the qualification rules are never stored, logged or shown on the review page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from leadscore import settings
from leadscore.features.config import ConfigError, parse_config_text
from leadscore.features.qualification import QualificationConfig
from leadscore.models.uri import DEFAULT_MODEL_URI

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


MIN_TOKEN_LENGTH = 16
"""Characters a token needs at least: a short one is guessed despite the per-client limit on wrong tokens
(`openssl rand -hex 24` gives 48)."""


def _token(env: Mapping[str, str], name: str = "LEADSCORE_API_TOKEN") -> str | None:
    """A token from the variable `name`, else from the file named by `name`_FILE; at least
    `MIN_TOKEN_LENGTH` characters."""
    source = name
    if not (token := env.get(name, "").strip()):
        path = env.get(f"{name}_FILE", "").strip()
        if not path:
            return None
        source = f"{name}_FILE {path}"
        try:
            token = Path(path).read_text().strip()
        except OSError as err:
            raise SettingsError(f"{source} cannot be read: {err.strerror}") from None
        if not token:
            raise SettingsError(f"{source} is empty")
    if len(token) < MIN_TOKEN_LENGTH:
        raise SettingsError(f"{source}: a token needs at least {MIN_TOKEN_LENGTH} characters (openssl rand -hex 24)")
    return token


def _tokens(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(API token, admin token); the same value for both would let the CRM's token reload models."""
    api, admin = _token(env), _token(env, "LEADSCORE_ADMIN_TOKEN")
    if admin is not None and admin == api:
        raise SettingsError("LEADSCORE_ADMIN_TOKEN must differ from LEADSCORE_API_TOKEN")
    return api, admin


def _hosts(env: Mapping[str, str]) -> frozenset[str]:
    """LEADSCORE_ALLOWED_HOSTS as lower-case host names (a port, if given, is dropped)."""
    names = (part.strip().lower() for part in env.get("LEADSCORE_ALLOWED_HOSTS", "").split(","))
    return frozenset(host_name(name) for name in names if name)


def host_name(host: str) -> str:
    """`example.com:3000` -> `example.com`, `[::1]:3000` -> `::1`: the name part of a Host header."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


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


def _link_template(env: Mapping[str, str], name: str) -> str | None:
    """A CRM record address with `{id}` where the id goes: http(s) only, so a page never links elsewhere."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if "{id}" not in raw:
        raise SettingsError(f"{name} must contain {{id}}, where the record's id goes")
    if not raw.lower().startswith(("https://", "http://")):
        raise SettingsError(f"{name} must be an http:// or https:// address")
    return raw


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment."""

    model_uri: str = DEFAULT_MODEL_URI
    tracking_uri: str = field(default_factory=settings.tracking_uri)
    api_token: str | None = field(default=None, repr=False)
    admin_token: str | None = field(default=None, repr=False)
    allowed_hosts: frozenset[str] = frozenset()
    max_body_bytes: int = 10 * 1024 * 1024
    feedback_db: str = field(default_factory=settings.feedback_url)
    max_batch: int = 1000
    unknown_fields: UnknownFields = "reject"
    reload_interval: int = 0
    timeout: int = 10
    max_concurrency: int = 32
    qualification: QualificationConfig | None = None
    retention_days: int = 90
    drift_window_days: int = 7
    crm_lead_url: str | None = None
    crm_account_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and check every variable; an unusable value raises `SettingsError`."""
        env = settings.environ() if env is None else env
        state = settings.state_dir()
        unknown = env.get("LEADSCORE_UNKNOWN_FIELDS", "reject").strip().lower()
        if unknown not in ("reject", "ignore"):
            raise SettingsError("LEADSCORE_UNKNOWN_FIELDS must be 'reject' or 'ignore'")
        api_token, admin_token = _tokens(env)
        return cls(
            model_uri=env.get("LEADSCORE_MODEL_URI", "").strip() or cls.model_uri,
            tracking_uri=env.get("MLFLOW_TRACKING_URI", "").strip() or f"sqlite:///{state / 'mlflow.db'}",
            api_token=api_token,
            admin_token=admin_token,
            allowed_hosts=_hosts(env),
            max_body_bytes=_int(env, "LEADSCORE_MAX_BODY_BYTES", cls.max_body_bytes, 1024),
            feedback_db=env.get("LEADSCORE_FEEDBACK_DB", "").strip() or f"sqlite:///{state / 'feedback.db'}",
            max_batch=_int(env, "LEADSCORE_MAX_BATCH", cls.max_batch, 1),
            unknown_fields="reject" if unknown == "reject" else "ignore",
            reload_interval=_int(env, "LEADSCORE_RELOAD_INTERVAL", cls.reload_interval, 0),
            timeout=_int(env, "LEADSCORE_TIMEOUT", cls.timeout, 1),
            max_concurrency=_int(env, "LEADSCORE_MAX_CONCURRENCY", cls.max_concurrency, 1),
            qualification=_qualification(env),
            retention_days=_int(env, "LEADSCORE_RETENTION_DAYS", cls.retention_days, 1),
            drift_window_days=_int(env, "LEADSCORE_DRIFT_WINDOW_DAYS", cls.drift_window_days, 1),
            crm_lead_url=_link_template(env, "LEADSCORE_CRM_LEAD_URL"),
            crm_account_url=_link_template(env, "LEADSCORE_CRM_ACCOUNT_URL"),
        )
