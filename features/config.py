"""The `leadscore.toml` contract: which column plays which role, as a typed, validated object."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from leadscore.features.contract import ConfigError, Strict
from leadscore.features.qualification import QualificationConfig
from leadscore.features.responses import ResponsesConfig

OUTCOMES: tuple[str, ...] = ("accepted", "won", "revenue")
DEFAULT_MISSING_TOKENS: tuple[str, ...] = ("", "N/A", "n/a", "NA", "-", "null", "None", "Select")


class DataConfig(Strict):
    """The `[data]` table: roles of columns. Every column not named here is a feature."""

    id: str = Field(min_length=1)
    created_at: str | None = None
    campaign: str | None = None
    channel: str | None = None
    account: str | None = None
    """Optional account (company) id: leads roll up to accounts; never a feature."""
    decided_at: str | None = None
    """Optional: when sales accepted or closed the lead. Never a feature (it is known only afterwards); it
    measures how long outcomes take to mature (`[training].outcome_window_days`)."""
    accepted: str | None = None
    won: str | None = None
    revenue: str | None = None
    exclude: tuple[str, ...] = ()
    missing_values: tuple[str, ...] = DEFAULT_MISSING_TOKENS

    @model_validator(mode="after")
    def _check_roles(self) -> DataConfig:
        if not self.outcome_columns:
            raise ValueError("name at least one outcome column: accepted, won or revenue")
        named = [
            c for c in (self.id, self.created_at, self.account, self.decided_at, *self.outcome_columns.values()) if c
        ]
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
        """Columns that are never model inputs (id, times, account, outcomes, exclusions)."""
        roles = {self.id, self.created_at, self.account, self.decided_at, *self.outcome_columns.values(), *self.exclude}
        return {c for c in roles if c}


class TrainingConfig(Strict):
    """The optional `[training]` table: floors, split sizes, alarms and the promotion gate."""

    min_rows: int = Field(1000, ge=10)
    min_positives: int = Field(100, ge=5)
    holdout_fraction: float = Field(0.2, gt=0, lt=0.5)
    validation_fraction: float = Field(0.2, gt=0, lt=0.5)
    leak_auc: float = Field(0.85, gt=0.5, le=1.0)
    allow_leaky: tuple[str, ...] = ()
    """Columns the leak check found suspicious that the user knows are available before sales acts."""
    baseline_tolerance: float = Field(0.005, ge=0)
    """How far a head's holdout AUC may fall below logistic regression's and still be promoted."""
    rare_category_share: float = Field(0.005, ge=0, lt=0.5)
    promotion_metric: str | None = None
    """`<head>_<metric>` the champion gate compares; unset: won_roc_auc, or accepted_roc_auc without won."""
    promotion_tolerance: float = Field(0.005, ge=0)
    calibration: Literal["isotonic", "sigmoid"] = "sigmoid"
    seed: int = 0
    num_boost_round: int = Field(2000, ge=1)
    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int | None = Field(None, ge=2)
    """Fixed tree size; unset, each head tries a few settings on the validation fold (`SEARCH_SPACE`)."""
    outcome_window_days: float | None = Field(None, gt=0)
    """Days a lead needs for its outcome to be known; younger leads are *maturing* and count as open. Unset:
    estimated from `[data].decided_at` when configured (`features.outcomes.outcome_window`)."""


class ModelConfig(Strict):
    """The optional `[model]` table: which registered model every command uses by default."""

    name: str = Field("leadscore", min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


HEAD_METRICS: tuple[str, ...] = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_top10", "capture_top20")
"""Holdout metrics computed per probability head; `[training].promotion_metric` is `<head>_<metric>`."""


class ColumnLabel(Strict):
    """One `[labels]` entry: what sales calls a column, and what its coded values mean."""

    label: str | None = Field(None, min_length=1)
    values: dict[str, str] = Field(default_factory=dict)
    """Raw value as written in the data (e.g. "-1") -> its meaning (e.g. "never contacted")."""


Labels = Mapping[str, ColumnLabel]
"""The `[labels]` table: column name -> its label entry."""


class LeadscoreConfig(Strict):
    """The whole `leadscore.toml`."""

    data: DataConfig
    training: TrainingConfig = TrainingConfig()
    model: ModelConfig = ModelConfig()
    qualification: QualificationConfig | None = None
    responses: ResponsesConfig | None = None
    labels: dict[str, ColumnLabel] = Field(default_factory=dict)

    @field_validator("labels", mode="before")
    @classmethod
    def _plain_labels(cls, raw: Any) -> Any:
        """`pdays = "Days since last contact"` is short for `pdays = { label = "Days since last contact" }`."""
        if not isinstance(raw, dict):
            return raw
        return {column: {"label": entry} if isinstance(entry, str) else entry for column, entry in raw.items()}

    @property
    def heads(self) -> list[str]:
        """Probability heads the model will have (won is derived from revenue > 0 when only revenue is given)."""
        heads = [h for h in ("accepted", "won") if getattr(self.data, h)]
        return [*heads, "won"] if self.data.revenue and "won" not in heads else heads

    @property
    def promotion_metric(self) -> str:
        """The gate's metric: the configured one, else the ROC-AUC of the win (else acceptance) head."""
        return self.training.promotion_metric or ("won_roc_auc" if "won" in self.heads else "accepted_roc_auc")

    @model_validator(mode="after")
    def _check_responses(self) -> LeadscoreConfig:
        if self.responses is not None and not self.data.created_at:
            raise ValueError(
                "[responses] needs [data].created_at: a lead's behaviour is read from the responses before its "
                "creation plus the decision window, so the lead's creation time must be known"
            )
        return self

    @model_validator(mode="after")
    def _check_outcome_window(self) -> LeadscoreConfig:
        if (self.data.decided_at or self.training.outcome_window_days) and not self.data.created_at:
            raise ValueError(
                "[data].decided_at and [training].outcome_window_days need [data].created_at: a lead's age is "
                "counted from its creation"
            )
        return self

    @model_validator(mode="after")
    def _check_promotion_metric(self) -> LeadscoreConfig:
        choices = [f"{h}_{m}" for h in self.heads for m in HEAD_METRICS]
        if self.promotion_metric not in choices:
            raise ValueError(
                f"[training].promotion_metric {self.promotion_metric!r} is not computed for the "
                f"configured outcomes; choose one of {choices}"
            )
        return self


def humanize(name: str) -> str:
    """`demo_requested` -> `Demo requested`: the label of a column `[labels]` does not name."""
    words = name.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:]


def _value_key(value: object) -> str:
    """Text a value is matched on, so `-1`, `-1.0` and `"-1"` find the meaning written as `"-1"`."""
    text = str(value).strip()
    try:
        number = float(text.replace(",", ""))
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else repr(number)


def describe(labels: Labels | None, column: str, value: object = None) -> tuple[str, str | None]:
    """(display label of `column`, meaning of `value` or None): what reasons, the review page and plots show."""
    entry = (labels or {}).get(column)
    label = entry.label if entry and entry.label else humanize(column)
    if entry is None or value is None or not entry.values:
        return label, None
    key = _value_key(value)
    meaning = next((text for raw, text in entry.values.items() if _value_key(raw) == key), None)
    return label, meaning


def display_labels(labels: Labels | None) -> dict[str, str]:
    """Column -> its `[labels]` label, for sentences that name columns (qualification reasons)."""
    return {column: entry.label for column, entry in (labels or {}).items() if entry.label}


def unknown_label_columns(labels: Labels, columns: Iterable[str]) -> list[str]:
    """Columns `[labels]` names that the data does not have (a warning at training time, not an error)."""
    present = set(columns)
    return [column for column in labels if column not in present]


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
