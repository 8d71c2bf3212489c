"""Leaf types of the `leadscore.toml` contract, shared by its tables (`features.config`,
`features.qualification`) without those importing each other."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

Grade = Literal["A", "B", "C", "D"]
GRADES: tuple[Grade, ...] = get_args(Grade)
"""Lead grades, best first: the scorer assigns them from score floors, `[qualification].min_grade` names one."""


class ConfigError(ValueError):
    """A `leadscore.toml` that cannot be used; the message names the key at fault."""


class Strict(BaseModel):
    """Every table of the contract: unknown keys are errors, and a parsed config never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
