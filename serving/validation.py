"""Check a batch of leads against the model's feature schema and turn it into the model's matrix.

pydantic has already refused non-scalar values and NaN/Infinity. What needs the model is checked here,
vectorised over the whole batch: unknown fields, values the shared transformer cannot read (text for
a number, "maybe" for a boolean, an unparseable date) and numbers out of range. The transformer is the
one training used, so "missing", "unseen" and "invalid" mean exactly what they meant at fit time, and
columns are picked by name, so field order never changes a score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.features.config import DataConfig
from leadscore.features.transform import LeadTransformer
from leadscore.serving.errors import ApiError, safe_name
from leadscore.serving.schemas import MAX_TEXT, FieldError, Lead, LeadWarning
from leadscore.serving.settings import UnknownFields

Derive = Callable[[list[str]], pd.DataFrame]
"""Columns the service computes per lead id (positionally aligned with the ids)."""
MAX_MAGNITUDE = 1e12
"""Numbers beyond this are data errors (a pasted phone number, a unit mix-up), not signal."""

_INVALID = {
    "numeric": "must be a number",
    "boolean": "must be yes/no, true/false or 1/0",
    "datetime": "must be a date or timestamp",
}
_WARNINGS = {
    "missing": ("missing", "not given; scored as missing"),
    "unseen": ("unseen_category", "category not seen in training; scored like rare categories"),
    "rare_or_unseen": ("unseen_category", "category rare or not seen in training; scored like rare categories"),
}


@dataclass(frozen=True)
class CheckedBatch:
    """A valid batch: lead ids, raw values by column, the model matrix and per-value status (all three
    reused by explanations, so a batch is transformed once), and warnings per lead."""

    ids: list[str]
    frame: pd.DataFrame
    matrix: np.ndarray
    status: pd.DataFrame
    warnings: list[list[LeadWarning]]


class LeadChecker:
    """The request rules of one model, precomputed once per model load."""

    def __init__(
        self,
        transformer: LeadTransformer,
        unknown_fields: UnknownFields,
        rule_fields: frozenset[str] = frozenset(),
        data: DataConfig | None = None,
    ) -> None:
        """`rule_fields`: non-model fields the qualification rules read (e.g. `email`); accepted, not scored.
        `data`: the model's column roles, so a whole CRM record's declared columns are ignored, not refused."""
        schema = transformer.schema_
        self.transformer = transformer
        self.unknown_fields = unknown_fields
        self.names = schema.names
        self.kinds = [spec.kind for spec in schema.features]
        self.id_column = schema.id_column
        self.declared = declared_columns(data) if data is not None else {}
        for name in (*schema.names, *rule_fields):
            self.declared.pop(name, None)
        self.known = frozenset(schema.names) | frozenset(schema.dropped) | rule_fields
        numeric = [spec for spec in schema.features if spec.kind == "numeric"]
        self.numeric_names = [spec.name for spec in numeric]
        self.numeric_columns = np.array([transformer.feature_names_out_.index(n) for n in self.numeric_names], int)
        self.non_negative = np.array([spec.non_negative for spec in numeric], bool)

    def check(self, leads: Sequence[Lead], derive: Derive | None = None) -> CheckedBatch:
        """Validate and transform; raises `ApiError(422)` naming every bad field (never its value). `derive`
        computes columns from the lead ids (behaviour from stored responses): they replace what was sent,
        and, being the service's own, carry no warnings."""
        errors: list[FieldError] = []
        warnings: list[list[LeadWarning]] = [[] for _ in leads]
        rows = [lead.model_extra or {} for lead in leads]
        ids = [self._lead_id(i, lead, errors) for i, lead in enumerate(leads)]
        for i, row in enumerate(rows):
            for name in sorted(row.keys() - self.known):
                if name in self.declared:
                    if name != self.id_column or leads[i].id is not None:
                        message = f"the model's config names it as {self.declared[name]}; not a model input, ignored"
                        warnings[i].append(LeadWarning(field=name, code="declared_field_ignored", message=message))
                elif self.unknown_fields == "reject":
                    errors.append(
                        FieldError(field=f"leads[{i}].{safe_name(name)}", error="unknown field for this model")
                    )
                else:
                    warnings[i].append(
                        LeadWarning(
                            field=safe_name(name), code="unknown_field_ignored", message="not a model input; ignored"
                        )
                    )
        frame = pd.DataFrame(rows, columns=self.names)
        derived: frozenset[str] = frozenset()
        if derive is not None:
            extra = derive(ids)
            for name in extra.columns.intersection(self.names):
                frame[name] = extra[name].to_numpy()
            derived = frozenset(extra.columns)
        for name in self.numeric_names:
            if pd.api.types.is_bool_dtype(frame[name]):
                # An all-boolean column would be read as 1/0; mixed with numbers it is invalid. Make it
                # invalid either way, so a lead's result never depends on the rest of its batch.
                frame[name] = frame[name].astype(object)
        matrix, status = self.transformer.transform_with_status(frame, allow_missing=True)
        codes = status.to_numpy()
        for i, j in np.argwhere(codes == "invalid"):
            errors.append(FieldError(field=f"leads[{i}].{self.names[j]}", error=_INVALID[self.kinds[j]]))
        errors.extend(self._out_of_range(matrix))
        if errors:
            raise ApiError(422, errors)
        for i, j in np.argwhere(np.isin(codes, list(_WARNINGS))):
            if self.names[j] in derived:
                continue
            code, message = _WARNINGS[codes[i, j]]
            warnings[i].append(LeadWarning(field=self.names[j], code=code, message=message))
        return CheckedBatch(ids=ids, frame=frame, matrix=matrix, status=status, warnings=warnings)

    def _lead_id(self, i: int, lead: Lead, errors: list[FieldError]) -> str:
        """`id`, else the value under the model's id column (text, or a whole number as text)."""
        if lead.id is not None:
            return lead.id
        value = (lead.model_extra or {}).get(self.id_column)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value:
            return value
        where = "id" if value is None else safe_name(self.id_column)
        errors.append(
            FieldError(
                field=f"leads[{i}].{where}",
                error=f"each lead needs an id: text of 1 to {MAX_TEXT} characters as `id` or as "
                f"`{safe_name(self.id_column)}`",
            )
        )
        return ""

    def _out_of_range(self, matrix: np.ndarray) -> list[FieldError]:
        """Infinite, absurdly large, or negative where training never saw a negative."""
        values = matrix[:, self.numeric_columns]
        with np.errstate(invalid="ignore"):
            too_big = np.abs(values) > MAX_MAGNITUDE
            negative = (values < 0) & self.non_negative
        errors = []
        for i, j in np.argwhere(too_big | negative):
            error = (
                f"must be between {-MAX_MAGNITUDE:g} and {MAX_MAGNITUDE:g}" if too_big[i, j] else "must not be negative"
            )
            errors.append(FieldError(field=f"leads[{i}].{self.numeric_names[j]}", error=error))
        return errors


def declared_columns(data: DataConfig) -> dict[str, str]:
    """Columns the config gives a role (name -> role): parts of a CRM record that are not model inputs."""
    roles = {data.id: "the id column", **{column: role for role, column in data.outcome_columns.items()}}
    for role in ("created_at", "campaign", "channel", "account"):
        if column := getattr(data, role):
            roles[column] = role
    roles.update({column: "excluded" for column in data.exclude})
    return roles
