"""Responses and accounts in the service: `POST /responses`, `GET /accounts/{account}` and the review page's
account view (`/ui/accounts/{account}`), plus the two hooks `/score` uses (behaviour from stored responses,
accounts of scored leads).

Kept out of `service.py` so the scoring path stays small: `mount_journeys` registers the routes, and the
handlers reach the running service through `bentoml.get_current_service()`, as the review page does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Annotated, Any

import bentoml
import pandas as pd
from fastapi import APIRouter, FastAPI, Path, Query, Response
from fastapi.params import Depends
from sqlalchemy.exc import OperationalError

from leadscore.features.coerce import normalize_text
from leadscore.features.config import DataConfig
from leadscore.features.responses import PREFIX
from leadscore.marketing.accounts import NOTE, engaged, roll_up
from leadscore.marketing.attribution import Attribution, attribute, credited_values, touch_table
from leadscore.marketing.folding import fold_credit
from leadscore.models.reasons import Reason
from leadscore.models.scorer import LeadScorer
from leadscore.records.tables import ScoredLead
from leadscore.serving.errors import ApiError, Deadline, shielded
from leadscore.serving.responses import SALES_READY, ResponseConflict, ResponseStore
from leadscore.serving.schemas import (
    AccountInfo,
    AccountPerson,
    ErrorBody,
    LeadScore,
    ResponseRequest,
    ResponseResult,
)
from leadscore.serving.validation import Derive, Row

logger = logging.getLogger("bentoml.leadscore")

AccountId = Annotated[str, Path(min_length=1, max_length=256)]
PeopleOffset = Annotated[int, Query(ge=0, description="People to skip (paging)")]
PeopleLimit = Annotated[int, Query(ge=1, le=500, description="People listed per page")]


def behaviour(scorer: LeadScorer, store: ResponseStore) -> Derive | None:
    """For `LeadChecker.check`: each lead's behavioural columns from its stored responses, as of now;
    None for a model without them."""
    if scorer.responses is None:
        return None

    def derive(ids: list[str]) -> pd.DataFrame:
        leads = pd.DataFrame({scorer.data.id: ids})
        now = pd.Timestamp.now(tz="UTC")
        return scorer.with_responses(leads, store.events(sorted(set(ids))), now).drop(columns=[scorer.data.id])

    return derive


def account_names(values: Sequence[object], missing_values: tuple[str, ...]) -> list[str | None]:
    """Account ids as the CLI's `report accounts` reads them (`normalize_text`): stripped text, None for an
    empty cell or one of the config's `missing_values` ("N/A", "Select", ...), which name no account."""
    text = pd.Series(
        [str(v) if isinstance(v, str | int) and not isinstance(v, bool) else None for v in values], dtype="string"
    )
    return [None if pd.isna(v) else str(v) for v in normalize_text(text, (*missing_values, ""))]


def account_pairs(data: DataConfig, ids: Sequence[str], leads: Sequence[Row]) -> dict[str, str]:
    """Lead id -> the account each scored lead names under the config's account column ({} without one)."""
    if data.account is None:
        return {}
    names = account_names([lead.get(data.account) for lead in leads], data.missing_values)
    return {lead_id: name for lead_id, name in zip(ids, names, strict=True) if name is not None}


def record_accounts(store: ResponseStore, pairs: dict[str, str]) -> None:
    """Remember lead -> account. Runs in the score store's writer (see `LeadScoringService._remember`); a
    failure is logged (type only) and never fails the scoring, which already succeeded."""
    try:
        store.set_accounts(pairs)
    except Exception as err:
        logger.error("lead accounts not stored: %s (message withheld: may hold lead data)", type(err).__name__)


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


def post_response(event: ResponseRequest, response: Response) -> ResponseResult:
    """Store a response and re-score its lead through `/score` (same checks, stores and rules)."""
    service = _service()
    with shielded("storing the response"):
        try:
            stored = service.responses.record(event)
        except ResponseConflict as err:
            raise ApiError.single(409, "event_id", str(err)) from None
        except OperationalError:
            logger.warning("response not stored: database unavailable or locked")
            raise ApiError.single(
                503,
                "",
                "the database is unavailable or locked: retry with the same event_id",
                headers={"Retry-After": "5"},
            ) from None
        [account] = account_names([event.account], service.models.current.loaded.scorer.data.missing_values)
        if account is not None:
            service.responses.set_accounts({event.lead_id: account})
        previous = service.scored.latest([event.lead_id])
        before = previous[0].stage if previous else None
        fields = (
            (event.lead.model_extra or {}) if event.lead is not None else (_fields(previous[0]) if previous else None)
        )
    response.status_code = 201 if stored.created else 200
    status = "created" if stored.created else "duplicate"
    if fields is None:
        return ResponseResult(event_id=event.event_id, status=status, received_at=stored.received_at, rescored=False)
    body = json.dumps({"leads": [{**fields, "id": event.lead_id}]}).encode()
    answer = json.loads(service.score(body, explain=False).body)["leads"][0]
    after = answer.get("stage")
    if stored.created:
        with shielded("storing the response"):
            service.responses.note_rescoring(event.event_id, before, after, answer["score"])
    return ResponseResult(
        event_id=event.event_id,
        status=status,
        received_at=stored.received_at,
        rescored=True,
        lead=LeadScore.model_validate(answer),
        newly_sales_ready=after == SALES_READY and before != SALES_READY,
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
    recent = engaged(ids, service.responses.events(list(ids)), pd.Timestamp.now(tz="UTC"))
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
