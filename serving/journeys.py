"""Responses and accounts in the service: `POST /responses`, `GET /accounts/{account}` and the review page's
account view (`/ui/accounts/{account}`), and the multi-touch credit of `GET /campaigns`.

Kept out of `service.py` so the scoring path stays small: `mount_journeys` registers the routes, and the
handlers reach the running service through `bentoml.get_current_service()`, as the review page does.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import bentoml
import pandas as pd
from fastapi import APIRouter, FastAPI, Path, Response
from fastapi.params import Depends
from sqlalchemy.exc import OperationalError

from leadscore.features.qualification import STAGES
from leadscore.features.responses import PREFIX
from leadscore.marketing.accounts import NOTE, engaged, roll_up
from leadscore.marketing.attribution import Attribution, attribute, credited_values, touch_table
from leadscore.records.events import EventConflict
from leadscore.records.tables import ScoredLead
from leadscore.serving.errors import ApiError, shielded
from leadscore.serving.schemas import (
    AccountInfo,
    AccountPerson,
    ErrorBody,
    LeadScore,
    ResponseRequest,
    ResponseResult,
)
from leadscore.serving.score import behaviour, score_leads, stored_responses

logger = logging.getLogger("bentoml.leadscore")
SALES_READY = STAGES[-1]

AccountId = Annotated[str, Path(min_length=1, max_length=256)]


def served_attribution(leads: pd.DataFrame, responses: pd.DataFrame) -> Attribution | None:
    """Multi-touch credit over the service's own traffic: each lead's latest scoring, its latest decision
    (accept counts as accepted) and the stored responses before that decision (all of them while open)."""
    if leads.empty or responses.empty:
        return None
    frame = leads.reset_index(drop=True)
    decided = pd.to_datetime(frame["decided_at"], utc=True)
    cutoff = decided.fillna(pd.Timestamp.now(tz="UTC"))
    touches = touch_table(frame["lead_id"], frame["campaign"], cutoff, responses)
    scores = frame[["expected_revenue"]].astype(float)
    outcomes = pd.DataFrame({"accepted": frame["decision"].map({"accept": 1.0, "reject": 0.0}).astype(float)})
    return attribute(credited_values(scores, outcomes), touches)


def _service() -> Any:
    return bentoml.get_current_service()


def _fields(row: ScoredLead) -> dict[str, Any]:
    """Stored inputs without the behavioural columns, which are always recomputed."""
    return {k: v for k, v in row.fields.items() if not k.startswith(PREFIX)}


def post_response(event: ResponseRequest, response: Response) -> ResponseResult:
    """Store a response and re-score its lead with `/score`'s scoring function (same checks and rules)."""
    service = _service()
    model = service.models.current
    database = service.database
    with shielded("storing the response"):
        try:
            database.reopen_if_replaced()
            with database.engine.begin() as connection:
                stored = service.responses.record(connection, event.model_dump(), model.version)
                if event.account:
                    service.responses.set_accounts(connection, {event.lead_id: event.account}, model.version)
        except EventConflict as err:
            raise ApiError.single(409, "event_id", str(err)) from None
        except (OperationalError, OSError):
            logger.warning("response not stored: database unavailable or locked")
            raise ApiError.single(
                503,
                "",
                "the database is unavailable or locked: retry with the same event_id",
                headers={"Retry-After": "5"},
            ) from None
        previous = service.scored.latest([event.lead_id])
        before = previous[0].stage if previous else None
        fields = (
            (event.lead.model_extra or {}) if event.lead is not None else (_fields(previous[0]) if previous else None)
        )
    response.status_code = 201 if stored.created else 200
    status = "created" if stored.created else "duplicate"
    if fields is None:
        return ResponseResult(event_id=event.event_id, status=status, received_at=stored.received_at, rescored=False)
    scored = score_leads(model, [{**fields, "id": event.lead_id}], service.settings.qualification, service.responses)
    service.scored.submit(scored.stored)
    answer = scored.answers[0]
    after = answer.get("stage")
    if stored.created:
        with shielded("storing the response"), database.engine.begin() as connection:
            service.responses.note_rescoring(connection, event.event_id, before, after, answer["score"])
    return ResponseResult(
        event_id=event.event_id,
        status=status,
        received_at=stored.received_at,
        rescored=True,
        lead=LeadScore.model_validate(answer),
        newly_sales_ready=after == SALES_READY and before != SALES_READY,
    )


def account_info(account: str) -> AccountInfo:
    """Score an account's people now (their last scored fields, behaviour from their stored responses) and
    roll them up; 404 for an account no scored lead names."""
    service = _service()
    service.scored.flush()  # the accounts of leads scored before this call are written by the store's writer
    lead_ids = service.responses.account_leads(account)
    rows = service.scored.latest(lead_ids) if lead_ids else []
    if not rows:
        raise ApiError.single(404, "account", "no scored lead of this service names this account")
    model = service.models.current
    scorer = model.loaded.scorer
    leads = [{**_fields(r), "id": r.lead_id} for r in rows]
    batch = model.checker.check(leads, behaviour(scorer, service.responses))
    table = scorer.predict_matrix(batch.matrix)
    reasons = scorer.explain_transformed(batch.columns, batch.matrix, batch.status, k=3)
    ids = pd.Series([r.lead_id for r in rows])
    events = stored_responses(service.responses, list(ids))
    recent = engaged(ids, events, pd.Timestamp.now(tz="UTC"))
    people = pd.DataFrame(
        {
            "account": account,
            "lead_id": ids,
            "p_won": table["p_won"],
            "expected_revenue": table["expected_revenue"],
            "engaged": recent.to_numpy(),
        }
    )
    summary = roll_up(people, reasons).iloc[0]
    return AccountInfo(
        account=account,
        people=[
            AccountPerson(
                lead_id=r.lead_id,
                score=int(table["score"].iloc[i]),
                grade=str(table["grade"].iloc[i]),
                p_won=None if pd.isna(table["p_won"].iloc[i]) else float(table["p_won"].iloc[i]),
                expected_revenue=None
                if pd.isna(table["expected_revenue"].iloc[i])
                else float(table["expected_revenue"].iloc[i]),
                engaged=bool(recent.iloc[i]),
            )
            for i, r in enumerate(rows)
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

    def get_account(account: AccountId) -> AccountInfo:
        """One account: engaged people, P(at least one win), expected revenue and the top reasons."""
        with shielded("summarising an account"):
            return account_info(account)

    api.add_api_route(
        "/accounts/{account:path}",  # account ids may hold "/"; every such path answers in JSON
        get_account,
        methods=["GET"],
        response_model=AccountInfo,
        dependencies=auth,
        responses={**errors, 404: {"model": ErrorBody, "description": "No scored lead names this account"}},
    )
    app.include_router(api)
