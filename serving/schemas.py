"""Request and response bodies of the HTTP API; FastAPI turns them into the OpenAPI schema at `/docs`.

Every model hides input values in validation errors (`hide_input_in_errors`): leads carry PII, and a
pydantic error's text would otherwise quote what was submitted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from leadscore.features.contract import Grade

MAX_TEXT = 256
"""Characters in any lead value: a category or a free-text field longer than this is a data error, and an
unbounded one is stored and shown on the review page for every reader."""

TEXT_ERRORS = {
    "text_too_long": f"is longer than {MAX_TEXT} characters",
    "text_not_unicode": "is not valid Unicode text (it holds an unpaired surrogate such as \\ud800)",
}
"""Error type -> message of the text checks; the messages never quote the value."""


def encodable(value: str) -> str:
    """Refuse text that cannot be stored or sent back as UTF-8 (a JSON `\\ud800` escape decodes to a lone
    surrogate, which every encoder downstream fails on)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("text_not_unicode", TEXT_ERRORS["text_not_unicode"]) from None
    return value


def short_text(value: str) -> str:
    """`encodable`, and at most `MAX_TEXT` characters."""
    if len(value) > MAX_TEXT:
        raise PydanticCustomError("text_too_long", TEXT_ERRORS["text_too_long"])
    return encodable(value)


def usable_id(value: str) -> bool:
    """An id names one thing: not blank (spaces alone look like no id in every list) and without NUL, which
    PostgreSQL cannot store and C-based tools cut the text at."""
    return bool(value.strip()) and "\x00" not in value


def identifier(value: str) -> str:
    """`encodable`, and a `usable_id`."""
    if not value.strip():
        raise PydanticCustomError("id_blank", "must not be blank")
    if "\x00" in value:
        raise PydanticCustomError("id_nul", "must not contain a NUL character")
    return encodable(value)


Text = Annotated[str, AfterValidator(encodable)]
Id = Annotated[str, AfterValidator(identifier)]
"""An id sent by the CRM (lead, event, rep, account): text that is not blank and holds no NUL."""
LeadText = Annotated[str, AfterValidator(short_text)]
FiniteNumber = Annotated[float, Field(allow_inf_nan=False)]
LeadValue = LeadText | int | FiniteNumber | bool | None
"""A raw feature value, as the CRM has it: text (at most MAX_TEXT characters), number, yes/no or null
(NaN and Infinity are refused)."""

WarningCode = Literal["missing", "unseen_category", "unknown_field_ignored", "declared_field_ignored"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class Lead(BaseModel):
    """One lead: `id` plus its raw feature values keyed by column name (see `GET /model` for the names,
    kinds and categories). Field order does not matter; absent or null fields are scored as missing.
    A whole CRM record may be sent: columns the model's config declares (its id column, created_at,
    outcomes, excluded columns) are ignored with a warning."""

    model_config = ConfigDict(
        extra="allow",
        hide_input_in_errors=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "L000123",
                    "campaign": "webinar_data_leaders",
                    "company_size": 250,
                    "seniority": "director",
                    "demo_requested": "yes",
                }
            ]
        },
    )
    __pydantic_extra__: dict[str, LeadValue] = Field(init=False)

    id: Id | None = Field(
        None,
        min_length=1,
        max_length=MAX_TEXT,
        description="The lead's id in the CRM, echoed back; sent as `id` or under the model's id column name "
        "(`id_column` of `GET /model`). Not used for scoring.",
    )


class ScoreRequest(_Body):
    """Leads to score in one call (at most LEADSCORE_MAX_BATCH, 1000 by default; more gives 413)."""

    leads: list[Lead] = Field(min_length=1)


class LeadWarning(_Body):
    """Something about a lead's input the score had to work around; never repeats the value."""

    field: str
    code: WarningCode
    message: str


class Reason(_Body):
    """One column's push on one head, as a signed SHAP contribution (log-odds) and in words."""

    head: str = Field(description="`accepted` or `won`")
    feature: str
    value: str = Field(description="The lead's value for the column as read by the model")
    status: str = Field(description="ok, missing, rare, unseen, rare_or_unseen or invalid")
    contribution: float
    text: str


class LeadScore(_Body):
    """The model's view of one lead."""

    id: str
    score: int = Field(ge=0, le=100, description="Percentile of expected value among past leads")
    grade: Grade
    p_accept: float | None = Field(description="P(sales accepts the lead); null if the model has no such head")
    p_won: float | None = Field(description="P(deal won); null if the model has no such head")
    expected_revenue: float | None = Field(description="p_won x E[revenue | won]; null without a revenue head")
    model_version: str
    warnings: list[LeadWarning]
    reasons: list[Reason] | None = Field(
        None, description="Top positive and negative reasons per head; only with `explain=true`"
    )
    stage: Literal["response", "marketing-qualified", "sales-ready"] | None = Field(
        None, description="Lead stage by the `[qualification]` rules; null when no rules are configured"
    )
    route: Literal["sales", "nurture", "disqualify"] | None = Field(None, description="Where the lead goes next")
    rules_met: list[str] | None = Field(None, description="Rule ids the lead meets (legend: `GET /model` `rules`)")
    rules_missed: list[str] | None = None
    review_flag: bool | None = Field(None, description="High score but not routed to sales: worth a look")
    nurture_reasons: list[str] | None = Field(None, description="Why a nurture lead is not sales-ready")


class ScoreResponse(_Body):
    """Scores in request order."""

    leads: list[LeadScore]
    stored: bool = Field(
        description="Whether the service stored these leads (review page, drift, campaigns, accounts); false when "
        "its database was full, locked or down: the scores are valid, the record of them is not kept"
    )


class FeedbackRequest(_Body):
    """A sales decision on a lead. Posting the same `event_id` again is harmless (one row is kept)."""

    event_id: Id = Field(min_length=1, max_length=128, description="Unique id of this decision event")
    lead_id: Id = Field(min_length=1, max_length=256)
    decision: Literal["accept", "reject"]
    reason_code: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    note: Text | None = Field(None, max_length=2000, description="Free text; stored, never logged")
    rep_id: Id = Field(min_length=1, max_length=128)


class FeedbackResponse(_Body):
    """Whether this call stored the event (201) or it was already stored (200)."""

    event_id: str
    status: Literal["created", "duplicate"]
    received_at: datetime
    lead_scored: bool | None = Field(
        description="Whether this service scored the lead (within LEADSCORE_RETENTION_DAYS); a decision on an "
        "unknown lead is stored anyway and counted by `leadscore monitor`. Null if that could not be checked"
    )


class FeatureInfo(_Body):
    """One input column of the model."""

    name: str
    kind: Literal["numeric", "boolean", "categorical", "datetime"]
    categories: list[str] = Field(description="Categories seen in training (categorical columns only)")
    non_negative: bool


class ModelInfo(_Body):
    """The model answering `/score` right now."""

    name: str | None
    version: str
    alias: str | None
    uri: str
    run_id: str | None
    gate_note: str | None = Field(
        None, description='"promoted by hand; failed its quality gate: <why>" when this version failed the gate'
    )
    trained_at: str | None
    loaded_at: datetime
    heads: list[str]
    trees: dict[str, int] = Field({}, description="Trees per head (0: a linear head): what each score walks through")
    grade_thresholds: dict[str, float]
    metrics: dict[str, float] = Field(description="Holdout metrics recorded at training time")
    history: list[dict[str, Any]] = Field(
        [], description="Training leads by month of creation: decided leads and each outcome's rate (drift)"
    )
    id_column: str = Field(description="The id column in training data; requests send it as `id` or by this name")
    account_column: str | None = Field(
        None, description="The account column: send it with a lead so `GET /accounts/{id}` can roll leads up"
    )
    responses: dict[str, Any] | None = Field(
        None,
        description="How behavioural features are built from `POST /responses` events (windows, half-life, "
        "response types); null for a model without them",
    )
    features: list[FeatureInfo]
    rules: dict[str, str] | None = Field(None, description="Qualification rule id -> the rule in words")
    rule_fields: list[str] = Field([], description="Non-model fields the rules read; send them, they are not stored")
    drift: DriftInfo | None = Field(None, description="Recent traffic against training; null without traffic")


class DriftInfo(_Body):
    """Population stability of recent `/score` traffic for this model version against its training data."""

    window_days: int
    since: datetime
    leads: int = Field(description="Scored leads in the window")
    psi: dict[str, float] = Field(description="PSI per input column and for `score`")
    status: dict[str, Literal["stable", "watch", "drift"]] = Field(description="PSI < 0.1 stable, > 0.25 drift")
    computed_at: datetime


class ReloadResponse(_Body):
    """Outcome of a successful reload."""

    previous_version: str
    version: str
    changed: bool


class FieldError(_Body):
    """What is wrong and where; never the submitted value."""

    field: str
    error: str


class ErrorBody(_Body):
    """Every error response of this API."""

    detail: list[FieldError]


class CampaignsResponse(_Body):
    """Per campaign: scored leads, mean score, grade shares and acceptance by sales decisions (best first)."""

    ranked_by: str | None = Field(description="Ranking metric; null until sales has decided on some leads")
    min_leads: int
    campaigns: list[dict[str, Any]]
    attribution: dict[str, Any] | None = Field(
        None,
        description="Multi-touch credit (first, last, linear, 40/20/40) of leads, acceptances and pipeline to "
        "every campaign a lead responded to before its decision; null when no response is stored",
    )


EARLIEST_RESPONSE = datetime(1970, 1, 1, tzinfo=UTC)


def plausible_time(value: datetime) -> datetime:
    """A response happened after 1970 and not later than a day from now (clocks drift; the future does not
    respond). Refuses dates that timestamps cannot hold, which would otherwise poison the lead's history.
    Returns the instant in UTC: databases store the wall time and drop the offset, so `+02:00` kept as
    given would be stored two hours late and the same instant written as `Z` would be another event."""
    if not EARLIEST_RESPONSE <= value <= datetime.now(UTC) + timedelta(days=1):
        raise PydanticCustomError("implausible_time", "must be after 1970 and not more than a day in the future")
    return value.astimezone(UTC)


class ResponseRequest(_Body):
    """One response of a lead (a form fill, a webinar, a download, a click). Posting the same `event_id`
    again is harmless (one row is kept); the lead is re-scored with all its stored responses."""

    event_id: Id = Field(min_length=1, max_length=128, description="Unique id of this response event")
    lead_id: Id = Field(min_length=1, max_length=256)
    occurred_at: Annotated[AwareDatetime, AfterValidator(plausible_time)] = Field(
        description="When the person responded: ISO 8601 with a UTC offset (`2026-03-01T09:30:00Z`, "
        "`2026-03-01T11:30:00+02:00`), stored and answered in UTC. A timestamp without an offset is refused (422): "
        "the service cannot know whose local time it is"
    )
    campaign: LeadText = Field(min_length=1)
    response_type: Text = Field(min_length=1, max_length=64, description="e.g. form_fill, webinar, download")
    channel: LeadText | None = None
    account: Id | None = Field(
        None, min_length=1, max_length=MAX_TEXT, description="The lead's account (company), if known"
    )
    lead: Lead | None = Field(
        None,
        description="The lead's fields, as for `/score`, when this service has not scored it yet (else its "
        "last scored fields are used)",
    )


class ResponseResult(_Body):
    """Whether the event was stored (201) or already stored (200), and the lead's new score."""

    event_id: str
    status: Literal["created", "duplicate"]
    received_at: datetime
    rescored: bool = Field(description="False when the lead was never scored here and no `lead` fields came")
    lead: LeadScore | None = Field(None, description="The lead's new score, stage and route")
    newly_sales_ready: bool = Field(False, description="This response moved the lead into sales-ready")


class AccountPerson(_Body):
    """One person of an account, scored now from their last scored fields and stored responses."""

    lead_id: str
    score: int
    grade: str
    p_won: float | None
    expected_revenue: float | None
    engaged: bool = Field(description="Responded in the last 30 days")


class AccountInfo(_Body):
    """One account: its people, engaged people, P(at least one win), expected revenue, top reasons."""

    account: str
    people_total: int = Field(description="People of the account; `people` lists one page of them")
    offset: int
    limit: int
    people: list[AccountPerson] = Field(description="One page of the people, most expected revenue first")
    engaged_people: int
    p_any_win: float
    expected_revenue: float
    top_reasons: list[str]
    note: str
