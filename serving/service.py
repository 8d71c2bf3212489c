"""`LeadScoringService`: the BentoML service the CRM calls to score leads and report sales decisions.

Routes are a FastAPI app mounted on the service, so they get real status codes (201, 401, 413, 422, 502),
an OpenAPI schema at `/docs`, and value-free error bodies; BentoML still provides `/livez`, `/readyz`,
`/metrics`, process management, and the traffic limits that turn overload into 429 and slow requests
into 504.

Run: `bentoml serve leadscore.serving.service:LeadScoringService` (settings: see `leadscore.serving.settings`).
"""

from __future__ import annotations

import logging
from importlib.metadata import version
from typing import Annotated, Any

import bentoml
import msgspec
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from leadscore.features.qualification import STAGES
from leadscore.models.artifact import ModelLoadError
from leadscore.models.registry import load_model
from leadscore.records.database import Database
from leadscore.records.events import EventConflict
from leadscore.records.feedback import FeedbackStore, FeedbackUnavailable
from leadscore.records.responses import ResponseStore
from leadscore.records.scored import ScoreStore
from leadscore.serving import metrics
from leadscore.serving import score as scoring
from leadscore.serving.auth import FailureLimiter, Sessions, authorize, authorize_admin
from leadscore.serving.docs import mount_docs, request_body
from leadscore.serving.errors import ApiError, conflict, install_error_handlers, shielded
from leadscore.serving.guard import PrefixGuard, RequestGuard, require_json
from leadscore.serving.journeys import mount_journeys, served_attribution
from leadscore.serving.model import ModelHolder
from leadscore.serving.reports import TimedCache, campaign_report, drift_report
from leadscore.serving.rules import rule_fields
from leadscore.serving.schemas import (
    CampaignsResponse,
    ErrorBody,
    FeedbackRequest,
    FeedbackResponse,
    ModelInfo,
    ReloadResponse,
    ScoreRequest,
    ScoreResponse,
)
from leadscore.serving.score import stored_responses
from leadscore.serving.settings import Settings, SettingsError
from leadscore.serving.ui import mount_ui
from leadscore.serving.validation import decode_leads, reference_leads, validated_leads

logger = logging.getLogger("bentoml.leadscore")

try:
    SETTINGS = Settings.from_env()
except SettingsError as err:
    raise SystemExit(f"leadscore: not starting: {err}") from None
"""Read at import for what BentoML needs before the service exists (traffic limits, bind address);
each worker re-reads the environment when it starts."""

app = FastAPI(
    title="leadscore",
    version=version("leadscore"),
    summary="Scores B2B leads (acceptance, win, expected revenue, with reasons) and records sales feedback.",
    docs_url=None,  # `mount_docs`: the same page, with its assets served here instead of a CDN
    redoc_url=None,
)
install_error_handlers(app)
mount_docs(app)
app.add_middleware(RequestGuard)
mount_ui(app)
metrics.install()
_bearer = HTTPBearer(auto_error=False, description="LEADSCORE_API_TOKEN of the service")
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token"},
    403: {
        "model": ErrorBody,
        "description": "No token configured and the client is not local, or a cross-site request",
    },
    413: {"model": ErrorBody, "description": "Body over LEADSCORE_MAX_BODY_BYTES"},
    421: {"model": ErrorBody, "description": "A Host header this service does not answer to (LEADSCORE_ALLOWED_HOSTS)"},
    422: {"model": ErrorBody, "description": "Invalid request; `detail` names each field at fault, never its value"},
    429: {"description": "More than LEADSCORE_MAX_CONCURRENCY requests in flight (BentoML error body)"},
    504: {"description": "Not answered within LEADSCORE_TIMEOUT seconds (BentoML error body)"},
}


async def _authorized(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Route dependency: bearer token when one is configured, else local clients only. Async, as the other
    dependencies here: they do no I/O, and a sync one costs each request a hop through the thread pool."""
    service: LeadScoringService = bentoml.get_current_service()
    client = request.client.host if request.client else None
    supplied = credentials.credentials if credentials else None
    authorize(service.settings.api_token, supplied, client, service.auth_failures)


async def _admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Route dependency for `/admin/*`: the admin token, or a local client when none is configured."""
    service: LeadScoringService = bentoml.get_current_service()
    client = request.client.host if request.client else None
    supplied = credentials.credentials if credentials else None
    authorize_admin(service.settings.api_token, service.settings.admin_token, supplied, client, service.auth_failures)


async def _json_body(request: Request) -> None:
    """Route dependency: `guard.require_json`."""
    require_json(request.headers)


async def _raw_body(request: Request) -> bytes:
    """Route dependency: the body as sent; `/score` decodes and validates it in one pass itself
    (`validation.decode_leads`), instead of FastAPI's JSON parse plus a pydantic model per lead. A body
    without a Content-Type is refused as FastAPI refuses it (it does not read it as JSON)."""
    body = await request.body()
    if body and not request.headers.get("content-type"):
        reference_leads(body, declared_json=False)
    return body


_AUTH = [Depends(_authorized)]
_AUTH_JSON = [Depends(_authorized), Depends(_json_body)]
_SCORE_BODY = request_body(ScoreRequest)
"""`/score`'s body in the OpenAPI schema: `ScoreRequest`, which `decode_leads` enforces."""
_RESPONSE_ENCODER = msgspec.json.Encoder()
BENTOML_ROUTES = "/v1/"
"""Where the service's typed `@bentoml.api` endpoints live, beside the FastAPI routes (which take the rest)."""
mount_journeys(app, _AUTH, _AUTH_JSON, _ERRORS)


@bentoml.service(
    name="leadscore",
    traffic={"timeout": SETTINGS.timeout, "max_concurrency": SETTINGS.max_concurrency},
    http={"host": "0.0.0.0" if SETTINGS.api_token else "127.0.0.1"},
)
@bentoml.asgi_app(app, path="/")
class LeadScoringService:
    """Serves the champion model; loads it at start and swaps it on `/admin/reload` or alias polling."""

    @bentoml.on_deployment
    def verify_model() -> None:  # no self: BentoML runs deployment hooks as static functions
        """Before any worker starts: stop `bentoml serve` with a clear message if the model cannot load
        (a worker failing in `__init__` would be restarted forever instead)."""
        try:
            loaded = load_model(SETTINGS.model_uri, SETTINGS.tracking_uri)
        except ModelLoadError as err:
            raise SystemExit(f"leadscore: not starting: model {SETTINGS.model_uri}: {err}") from None
        logger.info("model check passed: %s loads (version %s)", SETTINGS.model_uri, loaded.version or "local")

    def __init__(self) -> None:
        self.settings = Settings.from_env()
        self.auth_failures = FailureLimiter()
        self.sessions = Sessions()
        if self.settings.api_token is None:
            logger.warning(
                "no API token configured (LEADSCORE_API_TOKEN or LEADSCORE_API_TOKEN_FILE): authentication is "
                "off, so the service binds to 127.0.0.1 by default and answers local clients only"
            )
        self.models = ModelHolder(self.settings)
        # Every row this service stores or reads is of its model (one name for the service's life).
        self.database = Database(self.settings.feedback_db, self.models.current.name)
        self.feedback = FeedbackStore(self.database)
        self.scored = ScoreStore(self.database, self.settings.retention_days)
        self.responses = ResponseStore(self.database, sales_ready=STAGES[-1])
        self.drift_cache = TimedCache()
        self.models.start_polling()
        logger.info("serving model version %s from %s", self.models.current.version, self.settings.model_uri)

    @bentoml.on_shutdown
    def close(self) -> None:
        """Stop alias polling, write the scored leads still queued, and release database connections."""
        self.models.stop_polling()
        self.scored.close()
        self.database.close()

    def __is_ready__(self) -> bool:
        """`/readyz`: the database answers (recreated if it was deleted while serving) and the last write of
        scored leads succeeded (or a probe write does now)."""
        return self.database.healthy() and self.scored.healthy()

    @app.post(
        "/score",
        dependencies=_AUTH_JSON,
        openapi_extra=_SCORE_BODY,
        response_model=ScoreResponse,
        responses={
            **_ERRORS,
            413: {"model": ErrorBody, "description": "More leads than LEADSCORE_MAX_BATCH, or a body too large"},
            415: {"model": ErrorBody, "description": "Body not sent as application/json"},
        },
    )
    def score(
        self,
        body: Annotated[bytes, Depends(_raw_body)],
        explain: Annotated[bool, Query(description="Add the top reasons per head to each lead (slower)")] = False,
    ) -> Response:
        """Score one or many leads; missing fields and unseen categories are scored and reported in `warnings`."""
        return self._answer(decode_leads(body), explain)

    @bentoml.api(route=f"{BENTOML_ROUTES}score")
    def score_leads(
        self, ctx: bentoml.Context, leads: list[dict[str, Any]], explain: bool = False
    ) -> dict[str, Any]:
        """`POST /score` for BentoML clients (`bentoml.SyncHTTPClient(url).score_leads(leads=[...])`): the
        same guards, token, checks, answer and error bodies; plain HTTP clients keep `/score`. The answer is
        `ScoreResponse` (see /docs), declared as plain JSON here: BentoML's client decodes a declared model
        strictly and fails on its optional lists."""
        request = ctx.request
        try:
            require_json(request.headers)
            scheme, _, supplied = request.headers.get("authorization", "").partition(" ")
            client = request.client.host if request.client else None
            token = supplied.strip() if scheme.lower() == "bearer" else None
            authorize(self.settings.api_token, token or None, client, self.auth_failures)
            return self._answer(validated_leads({"leads": leads}), explain)  # type: ignore[return-value]
        except ApiError as err:  # BentoML sets the status and headers of an answer from `ctx.response`
            ctx.response.status_code = err.status
            ctx.response.metadata.update(err.headers or {})
            return JSONResponse(err.body())  # type: ignore[return-value]

    def _answer(self, leads: list[dict[str, Any]], explain: bool) -> Response:
        """What both scoring doors answer: the batch limit, scoring, the stored flag, one encoding."""
        if len(leads) > self.settings.max_batch:
            raise ApiError.single(
                413,
                "leads",
                f"{len(leads)} leads in one request; the limit is {self.settings.max_batch} "
                "(LEADSCORE_MAX_BATCH): split the batch",
            )
        model = self.models.current  # read once: a concurrent swap does not affect this request
        scored = scoring.score_leads(model, leads, self.settings.qualification, self.responses, explain)
        # Written by the store's writer thread with whatever else queued up; the answer waits for that commit
        # so that it can say whether these leads were stored (`records.scored`).
        stored = self.scored.submit(scored.stored).wait()
        if not stored:
            metrics.unstored_rows().inc(len(leads))
        # Plain rows of checked values, encoded once: `ScoreResponse` documents them; validating them again
        # would cost as much as the scoring.
        body = _RESPONSE_ENCODER.encode({"leads": scored.answers, "stored": stored})
        return Response(body, media_type="application/json")

    @app.post(
        "/feedback",
        dependencies=_AUTH_JSON,
        status_code=201,
        response_model=FeedbackResponse,
        responses={
            **_ERRORS,
            200: {"model": FeedbackResponse, "description": "Already stored (same event_id): nothing changed"},
            409: {"model": ErrorBody, "description": "event_id already stored with different content"},
            415: {"model": ErrorBody, "description": "Body not sent as application/json"},
            503: {"model": ErrorBody, "description": "Feedback database down or locked: retry the same event"},
        },
    )
    def feedback_event(self, event: FeedbackRequest, response: Response) -> FeedbackResponse:
        """Record a sales decision on a lead; idempotent on `event_id`. A decision on a lead this service never
        scored (within the retention period) is stored too, the CRM may score elsewhere, but marked
        (`lead_scored: false`) and counted by `leadscore monitor`."""
        with shielded("storing feedback"):
            try:
                scored = self.scored.seen(event.lead_id)
                recorded = self.feedback.record(event.model_dump(), self.models.current.version, scored)
            except EventConflict as err:
                raise conflict(err) from None
            except FeedbackUnavailable as err:
                logger.warning("feedback not stored: database unavailable or locked")
                raise ApiError.single(503, "", str(err), headers={"Retry-After": "5"}) from None
        response.status_code = 201 if recorded.created else 200
        return FeedbackResponse(
            event_id=event.event_id,
            status="created" if recorded.created else "duplicate",
            received_at=recorded.received_at,
            lead_scored=recorded.lead_scored,
        )

    @app.get("/model", dependencies=_AUTH, response_model=ModelInfo, responses=_ERRORS)
    def model_info(self) -> ModelInfo:
        """The model answering `/score`: version, training time, holdout metrics, feature schema, the
        qualification rules, and drift of the last LEADSCORE_DRIFT_WINDOW_DAYS of traffic (cached ~60 s)."""
        model = self.models.current
        window = self.settings.drift_window_days
        with shielded("computing drift"):
            drift = self.drift_cache.get(model.version, lambda: drift_report(self.scored, model, window))
        rules = self.settings.qualification
        return model.info().model_copy(
            update={
                "drift": drift,
                "rules": rules.descriptions() if rules else None,
                "rule_fields": sorted(rule_fields(rules) - set(model.checker.names)),
            }
        )

    @app.get("/campaigns", dependencies=_AUTH, response_model=CampaignsResponse, responses=_ERRORS)
    def campaigns(
        self,
        min_leads: Annotated[int, Query(ge=1, description="Decided leads a campaign needs to be ranked")] = 100,
    ) -> CampaignsResponse:
        """Per campaign, from the stored scored leads and sales decisions: leads, mean score, grade shares,
        acceptance rate with its interval, best first."""
        with shielded("summarising campaigns"):
            report = campaign_report(self.scored, min_leads)
            credit = served_attribution(self.scored.latest_with_decisions(), stored_responses(self.responses))
        return report.model_copy(update={"attribution": credit.to_dict() if credit else None})

    @app.post(
        "/admin/reload",
        dependencies=[Depends(_admin)],
        response_model=ReloadResponse,
        responses={**_ERRORS, 502: {"model": ErrorBody, "description": "New model unusable; old one kept"}},
    )
    def reload(self) -> ReloadResponse:
        """Load the model at LEADSCORE_MODEL_URI again (e.g. after moving the champion alias) and swap it in."""
        with shielded("reloading the model"):
            try:
                old, new = self.models.reload()
            except ModelLoadError as err:
                raise ApiError.single(
                    502, "model", f"reload failed, still serving version {self.models.current.version}: {err}"
                ) from None
        return ReloadResponse(previous_version=old.version, version=new.version, changed=old.version != new.version)


LeadScoringService.add_asgi_middleware(PrefixGuard, prefix=BENTOML_ROUTES)
