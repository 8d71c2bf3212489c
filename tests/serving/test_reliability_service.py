"""Reliability and security of the running service (issue: reliability and security).

A real `bentoml serve` backed by a temporary MLflow registry is fuzzed from its own OpenAPI schema,
overloaded, hot-swapped under load, fed broken models, and searched for a PII canary afterwards (log,
`/metrics`, MLflow store). Faults that need to reach inside the process (a locked or failing feedback
database, a forced server error) run through the service's ASGI app in process.

Counts scale with environment variables so `make test` stays quick and `make reliability`
(`benchmarks/reliability.py`) runs the full sizes: LEADSCORE_FUZZ_EXAMPLES (hypothesis examples per
operation), LEADSCORE_LOAD_REQUESTS (requests per load burst). With LEADSCORE_RELIABILITY_REPORT set to a
file, the measured counts are appended to it as JSON lines for the summary table.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import re
import shutil
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pytest
import schemathesis
from conftest_serving import asgi_app_without_metrics, lead_records, service_env, train_model_dir
from hypothesis import HealthCheck, given, settings
from local_service import LocalServer, local_server
from schemathesis.generation.modes import GenerationMode
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient

from leadscore.models.artifact import MANIFEST_FILE, MODEL_FILE, load_scorer
from leadscore.records.database import Database
from leadscore.serving.auth import token_matches
from leadscore.serving.validation import LeadChecker
from leadscore.training import tracking

pytestmark = pytest.mark.service

FUZZ_EXAMPLES = int(os.environ.get("LEADSCORE_FUZZ_EXAMPLES", "50"))
LOAD_REQUESTS = int(os.environ.get("LEADSCORE_LOAD_REQUESTS", "200"))
MAX_CONCURRENCY = 4
"""The server's LEADSCORE_MAX_CONCURRENCY: above the swap test's 2 clients plus the reload call, far below
the overload burst's concurrency."""
CANARY = f"pii-canary-{uuid.uuid4().hex[:12]}"
MODEL_NAME = "leadscore"

COUNTS: Counter[str] = Counter()
"""What this module measured; written to LEADSCORE_RELIABILITY_REPORT when the module ends."""


def is_error_body(response: httpx.Response) -> bool:
    """JSON with a non-empty `detail` saying what was wrong: our `ErrorBody`, FastAPI's string detail
    (404/405/400) or BentoML's `error` (429/504)."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and bool(body.get("detail") or body.get("error"))


# ------------------------------------------------------------------------------------------ the live server


class Registry:
    """A temporary MLflow store with good, corrupt and schema-incompatible versions of one model."""

    def __init__(self, root: Path) -> None:
        self.uri = f"sqlite:///{root / 'mlflow.db'}"
        self.root = root
        tracking.configure(self.uri)
        first = train_model_dir(root / "artifacts" / "v1", seed=0)
        second = train_model_dir(root / "artifacts" / "v2", seed=1)
        corrupt = shutil.copytree(first, root / "artifacts" / "corrupt")
        (corrupt / MODEL_FILE).write_bytes((corrupt / MODEL_FILE).read_bytes()[:1000])
        incompatible = shutil.copytree(first, root / "artifacts" / "incompatible")
        manifest = json.loads((incompatible / MANIFEST_FILE).read_text())
        manifest["schema"]["features"] = manifest["schema"]["features"][1:]
        (incompatible / MANIFEST_FILE).write_text(json.dumps(manifest))
        scorer, _ = load_scorer(first)
        self.versions = {
            name: self._register(scorer, path)
            for name, path in [("v1", first), ("v2", second), ("corrupt", corrupt), ("incompatible", incompatible)]
        }
        self.champion("v1")

    def _register(self, scorer: Any, artifact: Path) -> str:
        """Log and register like `leadscore train` does; MLflow names the artifact after its folder."""
        staged = shutil.copytree(artifact, self.root / "staging" / artifact.name / "leadscorer")
        with mlflow.start_run():
            return str(tracking.log_model(scorer, staged, MODEL_NAME).version)

    def champion(self, name: str) -> str:
        """Point the champion alias at one of the registered versions; returns its number."""
        mlflow.MlflowClient(self.uri).set_registered_model_alias(MODEL_NAME, "champion", self.versions[name])
        return self.versions[name]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return Registry(tmp_path_factory.mktemp("registry"))


class Service:
    """The module's `bentoml serve`, restartable; every life writes its own log, all kept for the PII scan."""

    def __init__(self, env: dict[str, str], work: Path) -> None:
        self.env = env
        self.work = work
        self.logs: list[Path] = []
        self._stack = ExitStack()
        self.server = self._start()

    def _start(self) -> LocalServer:
        self.logs.append(self.work / f"serve-{len(self.logs)}.log")
        return self._stack.enter_context(local_server(self.env, self.logs[-1]))

    @property
    def url(self) -> str:
        return self.server.url

    def restart(self) -> None:
        """SIGTERM the server (as a deploy does) and start it again on the same stores."""
        self._stack.close()
        self.server = self._start()

    def log(self) -> str:
        return "".join(path.read_text(errors="replace") for path in self.logs)

    def close(self) -> None:
        self._stack.close()


@pytest.fixture(scope="module")
def service(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One `bentoml serve` for the module: champion from the registry, small concurrency limit, no token,
    a feedback database that gives up quickly when locked."""
    work = tmp_path_factory.mktemp("server")
    env = {
        "LEADSCORE_MODEL_URI": f"models:/{MODEL_NAME}@champion",
        "MLFLOW_TRACKING_URI": registry.uri,
        "LEADSCORE_FEEDBACK_DB": f"sqlite:///{work / 'feedback.db'}?timeout=0.5",
        "LEADSCORE_MAX_CONCURRENCY": str(MAX_CONCURRENCY),
        "LEADSCORE_TIMEOUT": "30",
        "LEADSCORE_API_TOKEN": "",
        "LEADSCORE_API_TOKEN_FILE": "",
        "LEADSCORE_RELOAD_INTERVAL": "0",
    }
    running = Service(env, work)
    yield running
    running.close()


@pytest.fixture(scope="module")
def live_schema(service: Service) -> Any:
    return schemathesis.openapi.from_url(f"{service.url}/openapi.json")


@pytest.fixture(scope="session")
def leads() -> list[dict[str, Any]]:
    return lead_records(200)


# ------------------------------------------------------------------------------------------ fuzzing


def fuzz_operation(operation: Any, mode: GenerationMode, examples: int) -> None:
    """Send `examples` generated cases for one operation; no 5xx, and every 4xx explains itself."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        response = case.call(timeout=30)
        COUNTS["fuzz_cases"] += 1
        sent = response.request.path_url
        where = f"{case.method} {case.path} as {sent} ({mode.value}): {response.status_code} {response.text[:300]}"
        if response.status_code >= 500:
            COUNTS["fuzz_5xx"] += 1
            raise AssertionError(f"server error: {where}")
        if response.status_code == 404 and (not sent.startswith(case.path.split("{")[0]) or "%0A" in sent.upper()):
            # The request never reached this operation: the client resolved a ".." in a path parameter, or the
            # path holds a line break, which BentoML's mount of the app cannot match (it answers plain text).
            COUNTS["fuzz_unroutable_paths"] += 1
            return
        if response.status_code >= 400 and not is_error_body(response):
            COUNTS["fuzz_unexplained_4xx"] += 1
            raise AssertionError(f"4xx without a JSON error body: {where}")

    run()


def test_fuzzed_requests_never_get_a_server_error(live_schema: Any) -> None:
    """Every operation of the live OpenAPI schema, with valid and invalid generated requests (schemathesis's
    pytest plugin does not run under pytest 9, so its strategies are driven by hypothesis directly)."""
    operations = [result.ok() for result in live_schema.get_all_operations()]
    assert {"/score", "/feedback", "/model", "/admin/reload"} <= {op.path for op in operations}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz_operation(operation, mode, FUZZ_EXAMPLES)


# ------------------------------------------------------------------------------------------ load and faults


@dataclass
class Load:
    """Outcome of a bounded load run: status per request, model version per success, health checks."""

    statuses: Counter[int] = field(default_factory=Counter)
    versions: list[tuple[float, float, str]] = field(default_factory=list)
    """(sent at, answered at, model_version) per successful score."""
    health: Counter[int] = field(default_factory=Counter)

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200)


async def run_load(
    url: str,
    body: dict[str, Any],
    requests: int,
    concurrency: int,
    midway: Callable[[httpx.AsyncClient], Awaitable[None]] | None = None,
) -> Load:
    """POST `body` to /score `requests` times from `concurrency` clients while polling /readyz; once half the
    requests are answered, run `midway` (e.g. a hot swap)."""
    load = Load()
    queue = iter(range(requests))
    half = asyncio.Event()
    done = 0
    limits = httpx.Limits(max_connections=concurrency + 4)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def worker() -> None:
            nonlocal done
            for _ in queue:
                sent = time.monotonic()
                try:
                    response = await client.post("/score", json=body)
                except httpx.TransportError:
                    load.statuses[0] += 1  # connection refused or dropped: the server is down
                    continue
                load.statuses[response.status_code] += 1
                if response.status_code == 200:
                    load.versions.append((sent, time.monotonic(), response.json()["leads"][0]["model_version"]))
                done += 1
                if done >= requests // 2:
                    half.set()

        async def health() -> None:
            while not stopped.is_set():
                try:
                    load.health[(await client.get("/readyz", timeout=5)).status_code] += 1
                except httpx.TransportError:
                    load.health[0] += 1
                await asyncio.sleep(0.02)

        async def at_half() -> None:
            await half.wait()
            if midway is not None:
                await midway(client)

        stopped = asyncio.Event()
        poller = asyncio.create_task(health())
        await asyncio.gather(*(worker() for _ in range(concurrency)), at_half())
        stopped.set()
        await poller
    return load


def test_overload_gets_429_never_a_crash_and_health_answers(service: Service, leads: list[dict[str, Any]]) -> None:
    concurrency = 50
    load = asyncio.run(run_load(service.url, {"leads": leads[:100]}, LOAD_REQUESTS, concurrency))
    COUNTS["overload_requests"] += sum(load.statuses.values())
    COUNTS["overload_429"] += load.statuses[429]
    COUNTS["overload_5xx_or_dropped"] += sum(n for s, n in load.statuses.items() if s >= 500 or s == 0)
    COUNTS["health_checks_failed"] += sum(n for s, n in load.health.items() if s != 200)
    assert set(load.statuses) <= {200, 429}, load.statuses
    assert load.statuses[429] > 0 and load.statuses[200] > 0, load.statuses
    assert load.health[200] > 0 and set(load.health) == {200}, load.health
    assert httpx.post(f"{service.url}/score", json={"leads": leads[:1]}, timeout=10).status_code == 200


def test_hot_swap_under_load_fails_no_request(
    service: Service, registry: Registry, leads: list[dict[str, Any]]
) -> None:
    before = httpx.get(f"{service.url}/model", timeout=10).json()["version"]
    target = "v2" if before == registry.versions["v1"] else "v1"
    swapped: dict[str, Any] = {}

    async def swap(client: httpx.AsyncClient) -> None:
        await asyncio.to_thread(registry.champion, target)
        response = await client.post("/admin/reload")
        swapped.update(response.json(), status=response.status_code, at=time.monotonic())

    load = asyncio.run(run_load(service.url, {"leads": leads[:5]}, LOAD_REQUESTS, 2, swap))
    COUNTS["swap_requests"] += sum(load.statuses.values())
    COUNTS["swap_failed_requests"] += load.failed
    assert swapped["status"] == 200 and swapped["changed"], swapped
    assert load.failed == 0, load.statuses
    assert {version for *_, version in load.versions} == {before, swapped["version"]}
    assert all(version == swapped["version"] for sent, _, version in load.versions if sent > swapped["at"])


@pytest.mark.parametrize(("broken", "message"), [("corrupt", "checksum"), ("incompatible", "feature schema")])
def test_reload_of_a_broken_model_keeps_the_old_one(
    service: Service, registry: Registry, leads: list[dict[str, Any]], broken: str, message: str
) -> None:
    serving = httpx.get(f"{service.url}/model", timeout=10).json()["version"]
    registry.champion(broken)
    try:
        response = httpx.post(f"{service.url}/admin/reload", timeout=30)
    finally:
        mlflow.MlflowClient(registry.uri).set_registered_model_alias(MODEL_NAME, "champion", serving)
    assert response.status_code == 502, response.text
    error = response.json()["detail"][0]["error"]
    assert message in error and f"still serving version {serving}" in error
    scored = httpx.post(f"{service.url}/score", json={"leads": leads[:3]}, timeout=10)
    assert scored.status_code == 200 and scored.json()["leads"][0]["model_version"] == serving


def feedback_event(n: int, note: str = "") -> dict[str, Any]:
    return {"event_id": f"evt-{n}", "lead_id": f"L{n:06d}", "decision": "reject" if n % 2 else "accept",
            "reason_code": "no_budget", "note": note or f"note {n}", "rep_id": "rep-1"}  # fmt: skip


def stored_events(url: str, events: list[dict[str, Any]]) -> Counter[str]:
    """event_id -> rows in the feedback database, for these events (fuzzing stores others)."""
    ours = {event["event_id"] for event in events}
    with Database(url, MODEL_NAME).engine.connect() as connection:
        rows = connection.exec_driver_sql("select event_id from feedback_events").scalars()
        return Counter(row for row in rows if row in ours)


@contextmanager
def locked(database: Path) -> Iterator[None]:
    """Hold an exclusive lock on a SQLite file, as a long migration or a stuck writer would."""
    connection = sqlite3.connect(database, timeout=0)
    connection.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        connection.rollback()
        connection.close()


def test_feedback_survives_a_locked_database_and_a_restart(service: Service) -> None:
    """Locked database: 503 with a clear body, nothing half-stored; the client's retries then store each event
    exactly once; every acknowledged event is still there after the service restarts."""
    url = service.env["LEADSCORE_FEEDBACK_DB"]
    database = Path(url.removeprefix("sqlite:///").split("?")[0])
    events = [feedback_event(n, note="'; DROP TABLE feedback_events; --" if n == 3 else "") for n in range(40)]
    acknowledged: set[str] = set()
    unavailable = []
    with httpx.Client(base_url=service.url, timeout=30) as client:
        for i, event in enumerate(events):
            if i == 10:
                with locked(database):
                    response = client.post("/feedback", json=event)
                unavailable.append(response)
                continue
            response = client.post("/feedback", json=event)
            if response.status_code == 201:
                acknowledged.add(event["event_id"])
        service.restart()
        with httpx.Client(base_url=service.url, timeout=30) as retry:
            retried = {event["event_id"]: retry.post("/feedback", json=event).status_code for event in events}
    rows = stored_events(url, events)
    COUNTS["feedback_acknowledged"] += len(acknowledged)
    COUNTS["feedback_rows_lost"] += len(acknowledged - set(rows))
    COUNTS["feedback_rows_duplicated"] += sum(n - 1 for n in rows.values())
    [refused] = unavailable
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    assert "unavailable or locked" in refused.json()["detail"][0]["error"]
    assert len(acknowledged) == len(events) - 1
    assert {e: s for e, s in retried.items() if s != 200} == {"evt-10": 201}
    assert rows == Counter(event["event_id"] for event in events)
    with Database(url, MODEL_NAME).engine.connect() as connection:
        notes = connection.exec_driver_sql("select note from feedback_events where event_id = 'evt-3'").scalars()
        assert list(notes) == ["'; DROP TABLE feedback_events; --"]


def test_pii_canary_never_reaches_logs_error_bodies_metrics_or_mlflow(
    service: Service, registry: Registry, leads: list[dict[str, Any]]
) -> None:
    """The canary goes in as the value of every field of every route (unknown fields, a header and a query
    parameter too), in good and bad requests and in a server-side failure (locked feedback database);
    afterwards it is searched for everywhere the service writes. Field *names* are echoed in errors by
    design ("leads[0].email: unknown field"), so the canary is only ever a value."""
    lead = leads[0]
    everywhere = {key: CANARY for key in lead}
    bodies: list[tuple[str, Any]] = [
        ("/score", {"leads": [{**lead, "id": CANARY}]}),
        ("/score?explain=true", {"leads": [{**lead, "industry": CANARY, "campaign": CANARY}]}),
        ("/score", {"leads": [everywhere]}),
        ("/score", {"leads": [{**lead, "email": CANARY}]}),
        ("/score", {"leads": [{**lead, "company_size": {"value": [CANARY]}}], "comment": CANARY}),
        ("/score", {"leads": [{**lead, "id": CANARY * 30}]}),
        ("/score", f'{{"leads": [{{"id": "{CANARY}", "company_size": '),
        ("/feedback", {**feedback_event(1), "decision": CANARY, "note": CANARY}),
        (
            "/feedback",
            {
                **feedback_event(1),
                "event_id": CANARY,
                "lead_id": CANARY,
                "rep_id": CANARY,
                "reason_code": CANARY,
                "note": CANARY,
            },
        ),
        ("/feedback", {**feedback_event(1), "email": CANARY}),
        ("/feedback", {**feedback_event(1), "event_id": CANARY, "note": f"changed {CANARY}"}),
        (f"/model?email={CANARY}", None),
    ]
    responses = []
    with httpx.Client(base_url=service.url, timeout=30, headers={"X-Lead": CANARY}) as client:
        for path, body in bodies:
            sent = (
                {"content": body, "headers": {"content-type": "application/json"}}
                if isinstance(body, str)
                else {"json": body}
            )
            responses.append(client.request("GET" if body is None else "POST", path, **sent))
        database = Path(service.env["LEADSCORE_FEEDBACK_DB"].removeprefix("sqlite:///").split("?")[0])
        with locked(database):
            responses.append(client.post("/feedback", json={**feedback_event(2), "event_id": f"{CANARY}-2"}))
        metrics = client.get("/metrics").text
    errors = [r for r in responses if r.status_code >= 400]
    assert {r.status_code for r in errors} >= {409, 422, 503}
    places = {
        "error bodies": "".join(r.text for r in errors),
        "service log": service.log(),
        "metrics": metrics,
        **{
            str(path): path.read_bytes().decode(errors="replace") for path in registry.root.rglob("*") if path.is_file()
        },
    }
    hits = sorted(place for place, text in places.items() if CANARY in text)
    COUNTS["pii_hits"] += len(hits)
    COUNTS["pii_places_searched"] += len(places)
    assert not hits


def test_unknown_paths_add_no_metrics_series(service: Service) -> None:
    """A scanner's random paths (one in a hundred holding an e-mail address) are one `<unmatched>` label."""
    with httpx.Client(base_url=service.url, timeout=10) as client:
        for n in range(LOAD_REQUESTS):
            suffix = f"/{CANARY}@example.com" if n % 100 == 0 else ""
            assert client.get(f"/scan/{uuid.uuid4().hex}{suffix}").status_code == 404
        metrics = client.get("/metrics").text
    endpoints = set(re.findall(r'endpoint="([^"]*)"', metrics))
    COUNTS["unknown_paths_sent"] += LOAD_REQUESTS
    COUNTS["metrics_series_from_unknown_paths"] += sum(e.startswith("/scan") for e in endpoints)
    COUNTS["pii_hits"] += CANARY in metrics
    assert "<unmatched>" in endpoints and not any(e.startswith("/scan") for e in endpoints)
    assert CANARY not in metrics


# ------------------------------------------------------------------------------------------ in process


@pytest.fixture(scope="module")
def model_dir(registry: Registry) -> Path:
    return registry.root / "artifacts" / "v1"


@pytest.fixture(scope="module")
def asgi_app() -> Iterator[Any]:
    with asgi_app_without_metrics() as app:
        yield app


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_dir: Path) -> pytest.MonkeyPatch:
    """The in-process service's environment: the v1 artifact, a fresh feedback database, no token."""
    return service_env(monkeypatch, model_dir, tmp_path / "feedback.db")


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"campaign": "🚀 webinar — ünïcödé 中文"}, 200),
        ({"industry": "x" * 11_000_000}, 413),
        ({"industry": "x" * 1000}, 422),
        ({"company_size": "", "industry": "", "demo_requested": ""}, 200),
        ({"company_size": 10**400}, 422),
        ({"company_size": -(2**70)}, 422),
        ({"company_size": "1e308"}, 422),
        ({"demo_requested": [1, {"a": None}]}, 422),
        ({"seniority": {"nested": {"junk": [1, 2, 3]}}}, 422),
        ({"id": None}, 422),
        ({"id": 12345}, 422),
    ],
)
def test_hand_written_junk_is_scored_or_refused_with_a_reason(
    client: TestClient, leads: list[dict[str, Any]], change: dict[str, Any], status: int
) -> None:
    response = client.post("/score", json={"leads": [{**leads[0], **change}]})
    assert response.status_code == status, response.text[:300]
    if status in (413, 422):
        assert response.json()["detail"][0]["error"]
    if status == 422:
        assert response.json()["detail"][0]["field"].startswith("leads[0].")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"null",
        b"[" * 100_000,
        b'{"leads": [' + b'{"id": "x"},' * 5000,
        "\ufeff{}".encode(),
        b"\xff\xfe\x00garbage",
    ],
)
def test_unparseable_bodies_get_a_json_4xx(client: TestClient, raw: bytes) -> None:
    response = client.post("/score", content=raw, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500
    assert response.json()["detail"][0]["error"]


def test_batches_over_the_lead_or_byte_cap_get_413(client: TestClient, leads: list[dict[str, Any]]) -> None:
    too_many = json.dumps({"leads": [leads[i % len(leads)] for i in range(1500)]}).encode()
    too_big = json.dumps({"leads": [leads[i % len(leads)] for i in range(40_000)]}).encode()
    assert len(too_big) > 10 * 1024 * 1024 > len(too_many)
    for body, message in ((too_many, "limit is 1000"), (too_big, "LEADSCORE_MAX_BODY_BYTES")):
        response = client.post("/score", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 413 and message in response.json()["detail"][0]["error"]


def test_reordered_fields_and_unknown_or_missing_fields(client: TestClient, leads: list[dict[str, Any]]) -> None:
    lead = leads[7]
    reordered = dict(sorted(lead.items(), reverse=True))
    first, second = client.post("/score", json={"leads": [lead, reordered]}).json()["leads"]
    assert first == second
    assert client.post("/score", json={"leads": [{**lead, "shoe_size": "x"}]}).status_code == 422
    declared = client.post("/score", json={"leads": [{**lead, "email": "x"}]})  # excluded by the config
    assert declared.json()["leads"][0]["warnings"][0]["code"] == "declared_field_ignored"
    sparse = client.post("/score", json={"leads": [{"id": "L1"}]}).json()["leads"][0]
    assert {w["code"] for w in sparse["warnings"]} == {"missing"} and 0 <= sparse["score"] <= 100


def test_every_protected_route_refuses_missing_and_wrong_tokens(env: pytest.MonkeyPatch, asgi_app: Any) -> None:
    """Routes come from the OpenAPI schema, so a new route is covered without editing this test."""
    token = f"tok-{uuid.uuid4().hex}"
    env.setenv("LEADSCORE_API_TOKEN", token)
    env.setenv("LEADSCORE_ADMIN_TOKEN", f"admin-{token}")
    refused = []
    with TestClient(asgi_app, base_url="http://localhost:3000", client=("127.0.0.1", 50000)) as local:
        paths = local.get("/openapi.json").json()["paths"]
        routes = [(method.upper(), path) for path, methods in paths.items() for method in methods]
        for n, (method, path) in enumerate(routes):
            # a client address per route: more wrong guesses than the limit from one client get 429
            remote = TestClient(asgi_app, base_url="http://localhost:3000", client=(f"203.0.113.{n + 1}", 50000))
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {token[:-1]}"}):
                response = remote.request(method, path, headers=headers)
                refused.append(response.status_code == 401 and response.json()["detail"][0]["field"] == "Authorization")
        assert local.get("/readyz").status_code == 200
    assert len(routes) >= 4 and all(refused)


def test_token_comparison_is_constant_time() -> None:
    source = inspect.getsource(token_matches)
    assert "hmac.compare_digest(" in source and "==" not in source.split("compare_digest")[1].split("\n")[0]


def test_dropped_database_connection_gives_503_and_the_retry_is_stored_once(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A database that drops the connection mid-commit (its message quoting the row, as drivers do)."""
    event = feedback_event(1, note=CANARY)
    original = Connection._commit_impl  # where every commit of a transaction reaches the driver

    def drop(self: Connection) -> None:
        raise OperationalError("INSERT INTO feedback_events ...", {"note": CANARY}, ConnectionError(CANARY))

    monkeypatch.setattr(Connection, "_commit_impl", drop)
    refused = client.post("/feedback", json=event)
    monkeypatch.setattr(Connection, "_commit_impl", original)
    retried = [client.post("/feedback", json=event) for _ in range(3)]
    assert refused.status_code == 503 and "retry" in refused.json()["detail"][0]["error"]
    assert [r.status_code for r in retried] == [201, 200, 200]
    assert stored_events(f"sqlite:///{tmp_path / 'feedback.db'}", [event]) == Counter({"evt-1": 1})
    COUNTS["pii_hits"] += int(CANARY in caplog.text + refused.text)
    assert CANARY not in caplog.text + refused.text


def test_forced_server_error_leaks_nothing(
    client: TestClient,
    leads: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)

    def explode(self: LeadChecker, batch: Any, derive: Any = None) -> None:
        raise ValueError(f"could not convert {batch[0]['id']!r}")  # the message holds lead data

    monkeypatch.setattr(LeadChecker, "check", explode)
    response = client.post("/score", json={"leads": [{**leads[0], "id": CANARY, "industry": CANARY}]})
    out, err = capfd.readouterr()
    assert response.status_code == 500 and response.json()["detail"][0]["error"].startswith("internal error")
    assert "ValueError" in caplog.text
    COUNTS["pii_hits"] += int(CANARY in caplog.text + out + err + response.text)
    assert CANARY not in caplog.text + out + err + response.text
