"""The `leadscore.toml` contract: which column plays which role, as a typed, validated object."""

from __future__ import annotations

import tomllib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from features.qualification import QualificationConfig

OUTCOMES: tuple[str, ...] = ("accepted", "won", "revenue")
DEFAULT_MISSING_TOKENS: tuple[str, ...] = ("", "N/A", "n/a", "NA", "-", "null", "None", "Select")


class ConfigError(ValueError):
    """A `leadscore.toml` that cannot be used; the message names the key at fault."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    """The `[data]` table: roles of columns. Every column not named here is a feature."""

    id: str = Field(min_length=1)
    created_at: str | None = None
    campaign: str | None = None
    channel: str | None = None
    accepted: str | None = None
    won: str | None = None
    revenue: str | None = None
    exclude: tuple[str, ...] = ()
    missing_values: tuple[str, ...] = DEFAULT_MISSING_TOKENS

    @model_validator(mode="after")
    def _check_roles(self) -> DataConfig:
        if not self.outcome_columns:
            raise ValueError("name at least one outcome column: accepted, won or revenue")
        named = [c for c in (self.id, self.created_at, *self.outcome_columns.values()) if c]
        dupes = sorted({c for c in named if named.count(c) > 1})
        if dupes:
            raise ValueError(f"a column can have only one role; used twice: {dupes}")
        return self

    @property
    def outcome_columns(self) -> dict[str, str]:
        """Configured outcomes, role -> column name."""
        return {role: col for role in OUTCOMES if (col := getattr(self, role)) is not None}

    @property
    def non_feature_columns(self) -> set[str]:
        """Columns that are never model inputs (id, time, outcomes, exclusions)."""
        roles = {self.id, self.created_at, *self.outcome_columns.values(), *self.exclude}
        return {c for c in roles if c}


class TrainingConfig(_Strict):
    """The optional `[training]` table: floors, split sizes, alarms and the promotion gate."""

    min_rows: int = Field(1000, ge=10)
    min_positives: int = Field(100, ge=5)
    holdout_fraction: float = Field(0.2, gt=0, lt=0.5)
    validation_fraction: float = Field(0.2, gt=0, lt=0.5)
    leak_auc: float = Field(0.95, gt=0.5, le=1.0)
    rare_category_share: float = Field(0.005, ge=0, lt=0.5)
    promotion_metric: str = "won_roc_auc"
    promotion_tolerance: float = Field(0.005, ge=0)
    calibration: Literal["isotonic", "sigmoid"] = "sigmoid"
    seed: int = 0
    num_boost_round: int = Field(600, ge=1)
    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int = Field(15, ge=2)


class LeadscoreConfig(_Strict):
    """The whole `leadscore.toml`."""

    data: DataConfig
    training: TrainingConfig = TrainingConfig()
    qualification: QualificationConfig | None = None


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        if e["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"  [{where}] {msg}")
    return "\n".join(lines)


def parse_config(raw: dict[str, Any], source: str = "leadscore.toml") -> LeadscoreConfig:
    """Validate a parsed TOML mapping; all problems are reported together."""
    try:
        return LeadscoreConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{source} is not valid:\n{_describe(err)}") from None


def parse_config_text(text: str, source: str = "leadscore.toml") -> LeadscoreConfig:
    """Parse TOML text; syntax errors name the file and line."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source} is not valid TOML: {err}") from None
    return parse_config(raw, source)
