"""Which model a command or the service uses by default: light (no MLflow import), so `leadscore --help`
stays fast."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leadscore.features.config import LeadscoreConfig

DEFAULT_MODEL_URI = "models:/leadscore@champion"


def default_model_uri(config: LeadscoreConfig | None) -> str:
    """The champion of `[model].name` when a config is at hand, else of the default name `leadscore`."""
    return f"models:/{config.model.name}@champion" if config else DEFAULT_MODEL_URI
