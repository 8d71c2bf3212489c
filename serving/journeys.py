"""Responses and accounts in the service: `POST /responses`, `GET /accounts/{account}` and the review page's
account view (`/ui/accounts/{account}`), and the multi-touch credit of `GET /campaigns`.

Kept out of `service.py` so the scoring path stays small: `mount_journeys` registers the routes, and the
handlers reach the running service through `bentoml.get_current_service()`, as the review page does.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Annotated, Any

import bentoml
import pandas as pd
from fastapi import APIRouter, FastAPI, Path, Query, Response
from fastapi.params import Depends
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from leadscore.features.qualification import STAGES
from leadscore.features.responses import PREFIX
from leadscore.marketing.accounts import NOTE, engaged, roll_up
from leadscore.marketing.attribution import Attribution, attribute, credited_values, touch_table
from leadscore.marketing.folding import fold_credit
from leadscore.models.reasons import Reason
from leadscore.records.events import EventConflict
from leadscore.records.responses import STORED_COLUMNS, StoredResponse
from leadscore.records.scored import write_scored
from leadscore.records.tables import ScoredLead
from leadscore.serving.errors import ApiError, Deadline, conflict, shielded
from leadscore.serving.schemas import (
    AccountInfo,
    AccountPerson,
    ErrorBody,
    LeadScore,
    ResponseRequest,
    ResponseResult,
)
from leadscore.serving.score import Scored, account_names, behaviour, response_frame, score_leads, stored_responses

logger = logging.getLogger("bentoml.leadscore")
SALES_READY = STAGES[-1]

AccountId = Annotated[str, Path(min_length=1, max_length=256)]
PeopleOffset = Annotated[int, Query(ge=0, description="People to skip (paging)")]
PeopleLimit = Annotated[int, Query(ge=1, le=500, description="People listed per page")]


def served_attribution(leads: pd.DataFrame, responses: pd.DataFrame) -> Attribution | None:
    """Multi-touch credit over the service's own traffic: each lead's latest scoring, its latest decision
    (accept counts as accepted) and the stored responses before that decision (all of them while open);
    campaigns beyond the most credited `TOP_CAMPAIGNS` (by leads, linear) summed into one row."""
    if leads.empty or responses.empty:
        return None
    frame = leads.reset_index(drop=True)
    decided = pd.to_datetime(frame["decided_at"], utc=True)
    cutoff = decided.fillna(pd.Timestamp.now(tz="UTC"))
    touches = touch_table(frame["lead_id"], frame["campaign"], cutoff, responses)
    scores = frame[["expected_revenue"]].astype(float)
    outcomes = pd.DataFrame({"accepted": frame["decision"].map({"accept": 1.0, "reject": 0.0}).astype(float)})
    return fold_credit(attribute(credited_values(scores, outcomes), touches))


def _service() -> Any:
    return bentoml.get_current_service()


def _fields(row: ScoredLead) -> dict[str, Any]:
    """Stored inputs without the behavioural columns, which are always recomputed."""
    return {k: v for k, v in row.fields.items() if not k.startswith(PREFIX)}


def _event_values(event: ResponseRequest) -> dict[str, Any]:
    """What is stored of a response event and compared on a resubmission: its fields, the account and a
    digest of the lead fields sent along (never their values: they may include fields only rules read)."""
    lead = event.lead.model_extra if event.lead is not None else None
    text = None if lead is None else json.dumps(lead, sort_keys=True, default=str)
    digest = None if text is None else hashlib.sha256(text.encode()).hexdigest()
    return {**event.model_dump(exclude={"lead"}), "lead_digest": digest}


def post_response(event: ResponseRequest, response: Response) -> ResponseResult:
    """Store a response and re-score its lead with `/score`'s scoring function, as one transaction.

    The lead fields are checked (422) before anything is stored; the event, the lead's account and its new
    scoring are then written together (an upsert for the account), so a failure stores none of them. A
    retry of a stored event stores nothing and answers the lead's score now; the same `event_id` with other
    content is refused (409) naming the fields that differ."""
    service = _service()
    model = service.models.current  # read once: a concurrent swap does not affect this request
    values = _event_values(event)
    [account] = account_names([event.account], model.loaded.scorer.data.missing_values)  # "N/A" names none
    with shielded("storing the response"):
        try:
            duplicate = service.responses.stored(values)
            previous = service.scored.latest([event.lead_id])
            fields = (event.lead.model_extra or {}) if event.lead is not None else None
            if fields is None and previous:
                fields = _fields(previous[0])
            scored = None
            if fields is not None:  # checked (422) before anything is stored
                pending = None if duplicate else response_frame(pd.DataFrame([{k: values[k] for k in STORED_COLUMNS}]))
                lead = {**fields, "id": event.lead_id}
                scored = score_leads(model, [lead], service.settings.qualification, service.responses, pending=pending)
            before = previous[0].stage if previous else None
            stages = (before, scored.answers[0]["stage"], scored.answers[0]["score"]) if scored else (None, None, None)

            def write(connection: Connection) -> StoredResponse:
                stored = service.responses.record(connection, values, model.version, stages)
                if stored.created and scored is not None:
                    write_scored(connection, model.name, [scored.stored()])
                if stored.created and account is not None:  # after the scoring's: the account this event names wins
                    service.responses.set_accounts(connection, {event.lead_id: account}, model.version)
                return stored

            stored = duplicate or service.database.write(write)
        except EventConflict as err:  # also when a concurrent request stored other content in between
            raise conflict(err) from None
        except (OperationalError, OSError):
            logger.warning("response not stored: database unavailable, locked or full")
            raise ApiError.single(
                503,
                "",
                "the database is unavailable, locked or full: nothing was stored; retry with the same event_id",
                headers={"Retry-After": "5"},
            ) from None
    return _result(event, stored, scored, response)


def _result(
    event: ResponseRequest, stored: StoredResponse, scored: Scored | None, response: Response
) -> ResponseResult:
    """The answer: 201 for a new event, 200 for a retry; the lead's score when it could be re-scored."""
    response.status_code = 201 if stored.created else 200
    newly = stored.stage_after == SALES_READY and stored.stage_before != SALES_READY
    return ResponseResult(
        event_id=event.event_id,
        status="created" if stored.created else "duplicate",
        received_at=stored.received_at,
        rescored=scored is not None,
        lead=None if scored is None else LeadScore.model_validate(scored.answers[0]),
        newly_sales_ready=newly,
    )


PEOPLE_PAGE = 50
"""People of an account listed per page (API and account view)."""
REASON_PEOPLE = 20
"""An account's reasons come from its people with most expected revenue, at most this many: explaining a
lead costs far more than scoring it, and a 30,000-person account must still answer in time."""
SCORE_CHUNK = 2000
"""People scored between two checks of the request's deadline."""


def account_info(account: str, offset: int = 0, limit: int = PEOPLE_PAGE) -> AccountInfo:
    """Score an account's people now (their last scored fields, behaviour from their stored responses), roll
    them all up, and list one page of them, most expected revenue first; 404 for an account no scored lead
    names. Work stops when the request has timed out (`Deadline`)."""
    service = _service()
    deadline = Deadline(service.settings.timeout)
    service.scored.flush()  # the accounts of leads scored before this call are written by the store's writer
    lead_ids = service.responses.account_leads(account)
    rows = service.scored.latest(lead_ids) if lead_ids else []
    if not rows:
        raise ApiError.single(404, "account", "no scored lead of this service names this account")
    model = service.models.current
    scorer = model.loaded.scorer
    derive = behaviour(scorer, service.responses)
    tables = []
    for start in range(0, len(rows), SCORE_CHUNK):
        deadline.left("scoring the account's people")
        chunk = [{**_fields(r), "id": r.lead_id} for r in rows[start : start + SCORE_CHUNK]]
        tables.append(scorer.predict_matrix(model.checker.check(chunk, derive).matrix))
    table = pd.concat(tables, ignore_index=True)
    ids = pd.Series([r.lead_id for r in rows])
    events = stored_responses(service.responses, list(ids))
    recent = engaged(ids, events, pd.Timestamp.now(tz="UTC"))
    people = pd.DataFrame(
        {
            "account": account,
            "lead_id": ids,
            "score": table["score"].astype(int),
            "grade": table["grade"].astype(str),
            "p_won": table["p_won"],
            "expected_revenue": table["expected_revenue"],
            "engaged": recent.to_numpy(),
        }
    ).sort_values(["expected_revenue", "lead_id"], ascending=[False, True], na_position="last", kind="stable")
    best = [rows[i] for i in people.index[:REASON_PEOPLE]]
    people = people.reset_index(drop=True)
    deadline.left("explaining the account")
    leads = [{**_fields(r), "id": r.lead_id} for r in best]
    reasons: list[list[Reason]] = [[] for _ in range(len(people))]
    if leads:
        batch = model.checker.check(leads, derive)
        explained = scorer.explain_transformed(batch.columns, batch.matrix, batch.status, k=3)
        reasons[: len(explained)] = explained
    summary = roll_up(people, reasons).iloc[0]
    page = people.iloc[offset : offset + limit]
    return AccountInfo(
        account=account,
        people_total=len(people),
        offset=offset,
        limit=limit,
        people=[
            AccountPerson(
                lead_id=p.lead_id,
                score=int(p.score),
                grade=str(p.grade),
                p_won=None if pd.isna(p.p_won) else float(p.p_won),
                expected_revenue=None if pd.isna(p.expected_revenue) else float(p.expected_revenue),
                engaged=bool(p.engaged),
            )
            for p in page.itertuples()
        ],
        engaged_people=int(summary["engaged_people"]),
        p_any_win=float(summary["p_any_win"]),
        expected_revenue=float(summary["expected_revenue"]),
        top_reasons=list(summary["top_reasons"]),
        note=NOTE,
    )


def mount_journeys(app: FastAPI, auth: list[Depends], auth_json: list[Depends], errors: dict[int | str, Any]) -> None:
    """Register `POST /responses` and `GET /accounts/{account}` (the account view is the review page's)."""
    api = APIRouter()
    api.add_api_route(
        "/responses",
        post_response,
        methods=["POST"],
        status_code=201,
        response_model=ResponseResult,
        dependencies=auth_json,
        summary="Record a response of a lead and re-score it",
        responses={
            **errors,
            200: {"model": ResponseResult, "description": "Already stored (same event_id): nothing changed"},
            409: {"model": ErrorBody, "description": "event_id already stored with different content"},
            503: {"model": ErrorBody, "description": "Database down or locked: retry the same event"},
        },
    )

    def get_account(account: AccountId, offset: PeopleOffset = 0, limit: PeopleLimit = PEOPLE_PAGE) -> AccountInfo:
        """One account: engaged people, P(at least one win), expected revenue and the top reasons, with one
        page of its people (most expected revenue first; `offset` and `limit` page through them)."""
        with shielded("summarising an account"):
            return account_info(account, offset, limit)

    api.add_api_route(
        "/accounts/{account:path}",  # account ids may hold "/"; every such path answers in JSON
        get_account,
        methods=["GET"],
        response_model=AccountInfo,
        dependencies=auth,
        responses={**errors, 404: {"model": ErrorBody, "description": "No scored lead names this account"}},
    )
    app.include_router(api)
