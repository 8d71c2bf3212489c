"""Leaf types of the `leadscore.toml` contract, shared by its tables (`features.config`,
`features.qualification`) without those importing each other."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigError(ValueError):
    """A `leadscore.toml` that cannot be used; the message names the key at fault."""


class Strict(BaseModel):
    """Every table of the contract: unknown keys are errors, and a parsed config never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
