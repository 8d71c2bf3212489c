"""The sales review page at `/ui`: the queue of scored leads, a lead's reasons and chart, accept/reject with
a reason code (stored like `POST /feedback`), and a campaign view for marketers.

Server-rendered Jinja templates and PNG charts, no front-end build. Access: with LEADSCORE_API_TOKEN set,
`/ui/login` takes the token once and sets an HttpOnly, SameSite=Strict cookie holding an HMAC of it (never
the token itself); without a token, only local clients are served, as for the API. Forms refuse
cross-site posts. Only model feature columns are ever shown: the store of scored leads keeps nothing else,
so PII sent for the qualification rules cannot appear here.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import bentoml
import numpy as np
import pandas as pd
from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from leadscore.features.config import describe
from leadscore.features.contract import GRADES
from leadscore.features.qualification import STAGES
from leadscore.features.responses import PREFIX
from leadscore.features.schema import FeatureSpec
from leadscore.marketing.folding import TOP_CAMPAIGNS, is_folded
from leadscore.models.reasons import display_value
from leadscore.models.scorer import PROBABILITY_HEADS, LeadScorer
from leadscore.records.events import EventConflict
from leadscore.records.scored import SortOrder
from leadscore.records.tables import ScoredLead
from leadscore.serving.auth import authorize, token_matches
from leadscore.serving.charts import Bar, campaign_chart, contribution_chart
from leadscore.serving.errors import ApiError, shielded
from leadscore.serving.guard import refuse_cross_site
from leadscore.serving.journeys import PEOPLE_PAGE, AccountId, account_info
from leadscore.serving.reports import MIN_WINS, campaign_report
from leadscore.serving.schemas import FeedbackRequest
from leadscore.serving.wording import merged_reasons

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "leadscore_session"
REP_COOKIE = "leadscore_rep"
REASON_CODES = {
    "wrong_fit": "Wrong fit",
    "no_budget": "No budget",
    "no_authority": "No authority",
    "bad_timing": "Bad timing",
    "duplicate": "Duplicate",
    "other": "Other (add a note)",
}
SORTS: dict[str, str] = {"recent": "Newest first", "score": "Score, highest first", "score_asc": "Score, lowest first"}
DECISIONS: dict[str, str] = {"awaiting": "Awaiting review", "accept": "Accepted", "reject": "Rejected"}
PAGE_SIZE = 50
"""Leads per page of the queue: a page stays small and fast however many leads are stored."""

templates = Jinja2Templates(directory=HERE / "templates")


def crm_link(template: str, record_id: str) -> str:
    """A CRM record's address from LEADSCORE_CRM_LEAD_URL / _ACCOUNT_URL, the id percent-encoded."""
    return template.replace("{id}", quote(record_id, safe=""))


templates.env.filters["crm_link"] = crm_link
router = APIRouter(prefix="/ui", include_in_schema=False)


class LoginRequired(Exception):
    """A page was asked for without a valid session."""


def _service() -> Any:
    return bentoml.get_current_service()


def _check_access(request: Request) -> None:
    """Session cookie when a token is configured (else `LoginRequired`), local clients only otherwise."""
    token = _service().settings.api_token
    if token is None:
        authorize(None, None, request.client.host if request.client else None)
        return
    if not _service().sessions.valid(request.cookies.get(SESSION_COOKIE)):
        raise LoginRequired


def _check_same_origin(request: Request) -> None:
    """Refuse form posts from other sites (the cookie is SameSite=Strict; without a token there is no
    cookie, so a browser's Origin header is what stops a web page from posting to a local service)."""
    refuse_cross_site(request.headers)


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    service = _service()
    model = service.models.current
    base = {"logged_in": service.settings.api_token is not None, "serving_version": model.version}
    base["gate_note"] = model.loaded.gate_note
    return templates.TemplateResponse(request, name, base | context, status_code=status)


def _safe_next(target: str | None) -> str:
    """Only redirect within the review page after login."""
    return target if target and target.startswith("/ui/") and not target.startswith("//") else "/ui/"


# ------------------------------------------------------------------------------------------ login


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    if _service().settings.api_token is None:
        return RedirectResponse("/ui/", status_code=303)
    return _page(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, token: Annotated[str, Form()], next: Annotated[str | None, Form()] = None) -> Response:
    _check_same_origin(request)
    expected = _service().settings.api_token
    if expected is None:
        return RedirectResponse("/ui/", status_code=303)
    limiter, client = _service().auth_failures, request.client.host if request.client else None
    limiter.check(client)
    if not token_matches(token.strip(), expected):
        limiter.failed(client)
        return _page(request, "login.html", 401, next=_safe_next(next), error="That token is not valid.")
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        _service().sessions.start(),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/ui",
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    _check_same_origin(request)
    _service().sessions.end(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/ui")
    return response


# ------------------------------------------------------------------------------------------ queue


@router.get("/", response_class=HTMLResponse)
def queue(
    request: Request,
    grade: Annotated[str | None, Query()] = None,
    campaign: Annotated[str | None, Query(max_length=256)] = None,
    stage: Annotated[str | None, Query()] = None,
    decision: Annotated[str | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=256)] = None,
    sort: Annotated[str, Query()] = "recent",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    _check_access(request)
    service = _service()
    order: SortOrder = sort if sort in SORTS else "recent"  # type: ignore[assignment]
    chosen = {
        "grade": grade if grade in GRADES else "",
        "stage": stage if stage in STAGES else "",
        "decision": decision if decision in DECISIONS else "",
        "campaign": (campaign or "").strip(),
        "q": (q or "").strip(),
    }
    with shielded("listing scored leads"):
        rows = service.scored.queue(
            grade=chosen["grade"] or None,
            campaign=chosen["campaign"] or None,
            stage=chosen["stage"] or None,
            decision=chosen["decision"] or None,  # type: ignore[arg-type]
            search=chosen["q"] or None,
            sort=order,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE + 1,
        )
        campaigns = service.scored.campaigns(TOP_CAMPAIGNS)
        newly = service.responses.newly_sales_ready()
    filters = {**chosen, "sort": order}
    return _page(
        request,
        "queue.html",
        rows=rows[:PAGE_SIZE],
        first=(page - 1) * PAGE_SIZE + 1,
        previous=_query_url("/ui/", filters, page - 1) if page > 1 else None,
        next=_query_url("/ui/", filters, page + 1) if len(rows) > PAGE_SIZE else None,
        campaigns=campaigns,
        grades=GRADES,
        stages=STAGES,
        decisions=DECISIONS,
        sorts=SORTS,
        filters=filters,
        filtered=any(chosen.values()),
        reason_codes=REASON_CODES,
        newly=newly,
        crm=service.settings.crm_lead_url,
    )


def _query_url(path: str, params: dict[str, Any], page: int) -> str:
    """A link to another page of a list with the same filters."""
    return f"{path}?{urlencode({**{k: v for k, v in params.items() if v}, 'page': page})}"


# ------------------------------------------------------------------------------------------ lead detail


def _stored(row_id: int) -> ScoredLead:
    """The stored lead of a page's row id; an id no database integer holds (over 2**63 - 1) is no lead."""
    lead = _service().scored.get(row_id) if 0 < row_id < 2**63 else None
    if lead is None:
        raise ApiError.single(404, "lead", "no such scored lead (it may have passed the retention period)")
    return lead


def _explained(lead: ScoredLead) -> tuple[Any, pd.DataFrame, np.ndarray, pd.DataFrame]:
    """The current model, and the stored inputs as a frame, matrix and per-value status."""
    model = _service().models.current
    names = model.checker.names
    frame = pd.DataFrame([lead.fields], columns=names)
    matrix, status = model.loaded.scorer.transformer_.transform_with_status(frame, allow_missing=True)
    return model, frame, matrix, status


def _behavioural(scorer: LeadScorer, spec: FeatureSpec) -> bool:
    """A column rebuilt from the lead's responses: shown once, as "Responses", like the reasons do."""
    return scorer.responses is not None and spec.name.startswith(PREFIX)


def _shown(scorer: LeadScorer, spec: FeatureSpec, raw: object, state: str) -> tuple[str, str]:
    """(label, value) of one stored field as sales read it, with the model's `[labels]`."""
    given = None if state == "missing" else raw
    label, meaning = describe(scorer.labels, spec.name, given)
    return label, display_value(given, spec.kind, state, meaning)


@router.get("/leads/{row_id}", response_class=HTMLResponse)
def lead_detail(request: Request, row_id: int, error: str | None = None) -> Response:
    _check_access(request)
    service = _service()
    with shielded("showing a lead"):
        lead = _stored(row_id)
        model, frame, matrix, status = _explained(lead)
        scorer = model.loaded.scorer
        reasons = merged_reasons(scorer.explain_transformed(frame, matrix, status, k=3)[0])
        specs = scorer.transformer_.schema_.features
        fields = []
        for j, spec in enumerate(specs):
            if _behavioural(scorer, spec):
                continue
            name, value = _shown(scorer, spec, frame.at[0, spec.name], status.iat[0, j])
            fields.append({"name": name, "value": value, "status": status.iat[0, j]})
        if scorer.responses is not None:
            fields.append({"name": "Responses", "value": scorer.responses.describe(frame.iloc[0]), "status": "ok"})
        history = service.scored.history(lead.lead_id)
        account = service.responses.account_of(lead.lead_id)
        rules = service.settings.qualification
    return _page(
        request,
        "lead.html",
        422 if error else 200,
        lead=lead,
        explained_by=model.version,
        reasons=reasons,
        heads=_chart_heads(scorer),
        fields=fields,
        history=history,
        legend=rules.descriptions(lambda column: describe(scorer.labels, column)[0]) if rules else {},
        reason_codes=REASON_CODES,
        event_id=uuid.uuid4().hex,
        rep_id=request.cookies.get(REP_COOKIE, ""),
        error=error,
        account=account,
        crm=service.settings.crm_lead_url,
        crm_account=service.settings.crm_account_url,
    )


def _chart_heads(scorer: LeadScorer) -> list[str]:
    """The heads a lead's page draws a chart for (acceptance, win: those the model has)."""
    return [h for h in PROBABILITY_HEADS if h in scorer.heads_]


@router.get("/leads/{row_id}/chart.png")
def lead_chart(request: Request, row_id: int, head: Annotated[str | None, Query()] = None) -> Response:
    """What raises or lowers one head (`head`), or every head side by side."""
    _check_access(request)
    with shielded("drawing a lead chart"):
        model, frame, matrix, status = _explained(_stored(row_id))
        scorer = model.loaded.scorer
        specs = scorer.transformer_.schema_.features
        heads = _chart_heads(scorer)
        if head is not None and head not in heads:
            raise ApiError.single(422, "head", f"choose one of {', '.join(heads)}")
        per_head: dict[str, list[Bar]] = {}
        for drawn in [head] if head else heads:
            contributions = scorer.contributions(matrix, drawn).iloc[0]
            bars = []
            for j, spec in enumerate(specs):
                if _behavioural(scorer, spec):
                    continue
                state = status.iat[0, j]
                name, value = _shown(scorer, spec, frame.at[0, spec.name], state)
                flagged = state in ("missing", "unseen", "rare", "rare_or_unseen")
                label = f"{name} = {value}"[:48] + (f" [{state.replace('_', ' ')}]" if flagged else "")
                bars.append(Bar(label, float(contributions[spec.name]), flagged))
            if scorer.responses is not None:
                together = float(contributions[[s.name for s in specs if _behavioural(scorer, s)]].sum())
                bars.append(Bar(f"Responses = {scorer.responses.describe(frame.iloc[0])}"[:48], together, False))
            per_head[drawn] = bars
        png = contribution_chart(per_head)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=60"})


@router.post("/leads/{row_id}/decision")
def decide(
    request: Request,
    row_id: int,
    decision: Annotated[str, Form()],
    event_id: Annotated[str, Form()],
    rep_id: Annotated[str, Form()] = "",
    reason_code: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Store an accept/reject like `POST /feedback`; the page's event id makes a double click one event."""
    _check_same_origin(request)
    _check_access(request)
    service = _service()
    lead = _stored(row_id)
    problem = None
    if decision == "reject" and not reason_code:
        problem = "Choose a reason for the rejection."
    elif reason_code and reason_code not in REASON_CODES:
        problem = "Choose one of the listed reasons."
    elif reason_code == "other" and not note.strip():
        problem = "Add a note for the reason 'other'."
    if problem is None:
        try:
            event = FeedbackRequest(
                event_id=event_id,
                lead_id=lead.lead_id,
                decision=decision,  # type: ignore[arg-type]
                reason_code=reason_code or None,
                note=note.strip() or None,
                rep_id=rep_id.strip(),
            )
        except ValidationError as err:
            problem = "Check: " + ", ".join(sorted({str(e["loc"][0]) for e in err.errors()}))
    if problem is not None:
        return lead_detail(request, row_id, error=problem)
    with shielded("storing feedback"):
        try:
            service.feedback.record(event.model_dump(), service.models.current.version, lead_scored=True)
        except EventConflict:
            return lead_detail(request, row_id, error="This form was already used; reload the page.")
    response = RedirectResponse(f"/ui/leads/{row_id}", status_code=303)
    response.set_cookie(REP_COOKIE, event.rep_id, httponly=True, samesite="strict", path="/ui")
    return response


# ------------------------------------------------------------------------------------------ campaigns


@router.get("/accounts/{account:path}", response_class=HTMLResponse)
def account_view(request: Request, account: AccountId, page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Response:
    _check_access(request)
    service = _service()
    with shielded("showing an account"):
        info = account_info(account, (page - 1) * PEOPLE_PAGE, PEOPLE_PAGE)
        rows = {row.lead_id: row.id for row in service.scored.latest([p.lead_id for p in info.people])}
    path = f"/ui/accounts/{quote(account)}"
    return _page(
        request,
        "account.html",
        info=info,
        rows=rows,
        previous=_query_url(path, {}, page - 1) if page > 1 else None,
        next=_query_url(path, {}, page + 1) if info.offset + len(info.people) < info.people_total else None,
        crm=service.settings.crm_lead_url,
        crm_account=service.settings.crm_account_url,
    )


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns(request: Request, min_leads: Annotated[int, Query(ge=1)] = 100) -> Response:
    _check_access(request)
    with shielded("summarising campaigns"):
        report = campaign_report(_service().scored, min_leads)
    folded = {row["campaign"] for row in report.campaigns if is_folded(row["campaign"])}
    return _page(request, "campaigns.html", report=report, min_wins=MIN_WINS, folded=folded)


@router.get("/campaigns.png")
def campaigns_chart(request: Request, min_leads: Annotated[int, Query(ge=1)] = 100) -> Response:
    _check_access(request)
    with shielded("drawing the campaign chart"):
        rows = campaign_report(_service().scored, min_leads).campaigns
        png = campaign_chart(
            [r["campaign"] for r in rows], [r["mean_score"] for r in rows], [r.get("accept_rate") for r in rows]
        )
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=60"})


def mount_ui(app: FastAPI) -> None:
    """Add the review page to the service's FastAPI app; pages without a session go to the login form."""
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _: LoginRequired) -> Response:
        if request.method == "GET" and not request.url.path.endswith(".png"):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/ui/login?next={quote(target)}", status_code=303)
        return Response("login required", status_code=401, media_type="text/plain")
