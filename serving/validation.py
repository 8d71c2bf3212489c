"""Decode a `/score` body, check its leads against the model's feature schema, and build the model's matrix.

`decode_leads` reads the body in one pass with msgspec, typed as `ScoreRequest` allows (an object with a
non-empty `leads` list of objects whose values are text of at most MAX_TEXT characters, numbers, booleans
or null); anything it does not accept goes through the reference path, FastAPI's own (stdlib `json` and
pydantic's `ScoreRequest`), which either accepts it too or gives the 422 the API has always given. So
errors are pydantic's by construction and valid bodies never build a model object per lead.

What needs the model is checked here, vectorised over the whole batch: unknown fields, values the shared
transformer cannot read (text for a number, "maybe" for a boolean, an unparseable date) and numbers out of
range. The transformer is the one training used (`encode_values`, its lookup-table entry point), so
"missing", "unseen" and "invalid" mean exactly what they meant at fit time, and columns are picked by name,
so field order never changes a score.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any

import msgspec
import numpy as np
import pandas as pd
from pydantic import ValidationError

from leadscore.features.config import DataConfig
from leadscore.features.transform import STATUSES, LeadTransformer
from leadscore.serving.errors import ApiError, safe_name, validation_errors
from leadscore.serving.schemas import MAX_TEXT, FieldError, ScoreRequest, usable_id
from leadscore.serving.settings import UnknownFields

_LARGEST = float(np.finfo(float).max)
_Value = (
    Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
    | int
    | Annotated[float, msgspec.Meta(ge=-_LARGEST, le=_LARGEST)]
    | bool
    | None
)


class _Body(msgspec.Struct, forbid_unknown_fields=True):
    """What `ScoreRequest` accepts, minus `id`'s own rules (checked after decoding)."""

    leads: Annotated[list[dict[str, _Value]], msgspec.Meta(min_length=1)]


_DECODER = msgspec.json.Decoder(_Body)
Row = Mapping[str, Any]
"""One lead as decoded: `id` (optional) and raw feature values by name."""


def decode_leads(body: bytes) -> list[dict[str, Any]]:
    """The leads of a `/score` body as plain dicts; raises `ApiError` (422, or 400 for undecodable bytes)
    exactly as FastAPI's validation of `ScoreRequest` would."""
    try:
        leads = _DECODER.decode(body).leads
    except (msgspec.DecodeError, msgspec.ValidationError):
        return reference_leads(body)
    for lead in leads:
        lead_id = lead.get("id")
        if lead_id is not None and (lead_id.__class__ is not str or not usable_id(lead_id)):
            return reference_leads(body)
    return leads


def reference_leads(body: bytes, declared_json: bool = True) -> list[dict[str, Any]]:
    """FastAPI's way: stdlib `json` (only for a body declared as JSON; an undeclared one stays bytes),
    then pydantic's `ScoreRequest` on the result (the errors of both, in the API's error format)."""
    if not body:
        raise ApiError(422, validation_errors([{"type": "missing", "loc": ("body",), "msg": "Field required"}]))
    try:
        document = json.loads(body) if declared_json else body
    except json.JSONDecodeError as err:
        invalid = {"type": "json_invalid", "loc": ("body", err.pos), "msg": "JSON decode error"}
        raise ApiError(422, validation_errors([invalid])) from None
    except Exception:
        raise ApiError.single(400, "body", "There was an error parsing the body") from None
    return validated_leads(document)


def validated_leads(document: object) -> list[dict[str, Any]]:
    """A parsed `/score` document (e.g. what a BentoML client sent) checked as `ScoreRequest`: the leads as
    plain dicts, or `ApiError` 422 in the API's error format."""
    try:
        request = ScoreRequest.model_validate(document, from_attributes=True)
    except ValidationError as err:
        located = [{**e, "loc": ("body", *e["loc"])} for e in err.errors(include_input=False, include_url=False)]
        raise ApiError(422, validation_errors(located)) from None
    return [{**(lead.model_extra or {}), "id": lead.id} for lead in request.leads]


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
_WARNING_CODES = {STATUSES.index(status): warning for status, warning in _WARNINGS.items()}
_INVALID_CODE = STATUSES.index("invalid")


@dataclass(frozen=True)
class CheckedBatch:
    """A valid batch: lead ids, raw values by model column (absent columns left out), the model matrix
    and per-value status codes (all three reused by explanations and the score store, so a batch is
    transformed once), and warnings per lead as response-ready dicts."""

    ids: list[str]
    columns: dict[str, list[Any]]
    matrix: np.ndarray
    codes: np.ndarray
    warnings: list[list[dict[str, str]]]
    names: list[str]

    @cached_property
    def status(self) -> np.ndarray:
        """Status words (`features.transform.STATUSES`), rows x input columns."""
        return np.array(STATUSES, dtype=object)[self.codes]

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The model columns as a frame (absent ones all missing), for the qualification rules."""
        rows = len(self.ids)
        return pd.DataFrame({name: self.columns.get(name, [None] * rows) for name in self.names}, dtype=object)


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
        self.known = frozenset(schema.names) | frozenset(schema.dropped) | rule_fields | {"id"}
        numeric = [spec for spec in schema.features if spec.kind == "numeric"]
        self.numeric_names = [spec.name for spec in numeric]
        self.numeric_columns = np.array([transformer.feature_names_out_.index(n) for n in self.numeric_names], int)
        self.non_negative = np.array([spec.non_negative for spec in numeric], bool)

    def check(self, leads: Sequence[Row], derive: Derive | None = None) -> CheckedBatch:
        """Validate and transform; raises `ApiError(422)` naming every bad field (never its value). `derive`
        computes columns from the lead ids (behaviour from stored responses): they replace what was sent,
        and, being the service's own, carry no warnings."""
        errors: list[FieldError] = []
        warnings: list[list[dict[str, str]]] = [[] for _ in leads]
        ids = [self._lead_id(i, lead, errors) for i, lead in enumerate(leads)]
        for i, row in enumerate(leads):
            for name in sorted(row.keys() - self.known):
                if name in self.declared:
                    if name != self.id_column or row.get("id") is not None:
                        message = f"the model's config names it as {self.declared[name]}; not a model input, ignored"
                        warnings[i].append({"field": name, "code": "declared_field_ignored", "message": message})
                elif self.unknown_fields == "reject":
                    errors.append(
                        FieldError(field=f"leads[{i}].{safe_name(name)}", error="unknown field for this model")
                    )
                else:
                    message = "not a model input; ignored"
                    warnings[i].append({"field": safe_name(name), "code": "unknown_field_ignored", "message": message})
        columns = {name: [row.get(name) for row in leads] for name in self.names if any(name in row for row in leads)}
        derived: frozenset[str] = frozenset()
        if derive is not None:
            extra = derive(ids)
            for name in extra.columns.intersection(self.names):
                columns[name] = [None if v != v else v for v in extra[name].tolist()]  # v != v: NaN is missing
            derived = frozenset(extra.columns)
        matrix, codes = self.transformer.encode_values(columns, len(leads))
        for i, j in np.argwhere(codes == _INVALID_CODE):
            errors.append(FieldError(field=f"leads[{i}].{self.names[j]}", error=_INVALID[self.kinds[j]]))
        errors.extend(self._out_of_range(matrix))
        if errors:
            raise ApiError(422, errors)
        for i, j in np.argwhere(np.isin(codes, list(_WARNING_CODES))):
            if self.names[j] in derived:
                continue
            code, message = _WARNING_CODES[codes[i, j]]
            warnings[i].append({"field": self.names[j], "code": code, "message": message})
        return CheckedBatch(ids=ids, columns=columns, matrix=matrix, codes=codes, warnings=warnings, names=self.names)

    def _lead_id(self, i: int, lead: Row, errors: list[FieldError]) -> str:
        """`id`, else the value under the model's id column (text, or a whole number as text)."""
        if (lead_id := lead.get("id")) is not None:
            return lead_id
        value = lead.get(self.id_column)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and usable_id(value):
            return value
        where = "id" if value is None else safe_name(self.id_column)
        errors.append(
            FieldError(
                field=f"leads[{i}].{where}",
                error=f"each lead needs an id: text of 1 to {MAX_TEXT} characters, not blank and without NUL, "
                f"as `id` or as `{safe_name(self.id_column)}`",
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
