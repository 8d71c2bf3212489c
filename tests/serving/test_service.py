"""The scoring service through its ASGI app (BentoML's app, in process): every route, status code and
validation rule, auth, hot swap, traffic limits, and that submitted values never leak."""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest_serving import METRICS, lead_records, local_name, service_env, start, train_model_dir
from starlette.testclient import TestClient

from leadscore.models.artifact import MODEL_FILE, ModelLoadError, load_scorer
from leadscore.models.registry import ARTIFACT_KEY, LeadScorerPyfunc
from leadscore.records.database import Database
from leadscore.records.feedback import FeedbackStore
from leadscore.serving.auth import is_loopback
from leadscore.serving.service import LeadScoringService
from leadscore.serving.settings import MIN_TOKEN_LENGTH, Settings, SettingsError
from leadscore.serving.validation import LeadChecker
from leadscore.settings import state_dir

pytestmark = pytest.mark.service

PII = "jane.doe.4711@example.com"
TOKEN = "test-token-5f1c-0a9e"


@pytest.fixture(scope="session")
def other_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_model_dir(tmp_path_factory.mktemp("models") / "challenger", seed=1)


@pytest.fixture(scope="session")
def leads() -> list[dict[str, Any]]:
    return lead_records(60)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_dir: Path) -> pytest.MonkeyPatch:
    """A clean service environment: the test model, a fresh feedback database, no token, no rules."""
    return service_env(monkeypatch, model_dir, tmp_path / "feedback.db")


@pytest.fixture(scope="session")
def asgi_app(app_with_metrics: Any) -> Any:
    return app_with_metrics


def limited_app(monkeypatch: pytest.MonkeyPatch, timeout: int, max_concurrency: int) -> Any:
    """An app with other traffic limits (and metrics off, as they are registered by the session app)."""
    monkeypatch.setitem(LeadScoringService.config, "traffic", {"timeout": timeout, "max_concurrency": max_concurrency})
    monkeypatch.setitem(LeadScoringService.config, "metrics", {"enabled": False})
    return LeadScoringService.to_asgi()


def score(client: TestClient, leads: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
    response = client.post("/score", json={"leads": leads}, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def errors(response: Any, status: int = 422) -> dict[str, str]:
    """field -> error of an error response, after checking its status."""
    assert response.status_code == status, response.text
    return {e["field"]: e["error"] for e in response.json()["detail"]}


def warnings_of(lead: dict[str, Any]) -> set[tuple[str, str]]:
    return {(w["field"], w["code"]) for w in lead["warnings"]}


# ------------------------------------------------------------------------------------------ scoring


def test_scores_match_the_model_and_keep_request_order(
    client: TestClient, model_dir: Path, leads: list[dict[str, Any]]
) -> None:
    body = score(client, leads[:25])
    scorer, _ = load_scorer(model_dir)
    expected = scorer.predict(pd.DataFrame(leads[:25]).drop(columns="id"), allow_missing=True)
    got = pd.DataFrame(body["leads"])
    assert list(got["id"]) == [lead["id"] for lead in leads[:25]]
    assert list(got["score"]) == list(expected["score"])
    assert list(got["grade"]) == list(expected["grade"])
    for column in ("p_accept", "p_won", "expected_revenue"):
        np.testing.assert_allclose(got[column], expected[column], rtol=1e-9)
    info = client.get("/model").json()
    assert set(got["model_version"]) == {info["version"]}
    assert info["trees"] == scorer.trees() and set(info["trees"]) == set(info["heads"])
    assert got["reasons"].isna().all()


def test_field_order_and_batch_company_do_not_change_a_score(client: TestClient, leads: list[dict[str, Any]]) -> None:
    lead = leads[3]
    alone = score(client, [lead])["leads"][0]
    reordered = score(client, [dict(reversed(list(lead.items())))])["leads"][0]
    in_batch = score(client, leads[:10])["leads"][3]
    assert alone == reordered == in_batch


@pytest.mark.parametrize("absent", [{"drop": True}, {"value": None}, {"value": "N/A"}, {"value": " "}])
def test_missing_field_is_scored_as_missing_and_warned(
    client: TestClient, leads: list[dict[str, Any]], absent: dict[str, Any]
) -> None:
    lead = {k: v for k, v in leads[0].items() if k != "company_size"}
    if "value" in absent:
        lead["company_size"] = absent["value"]
    result = score(client, [lead])["leads"][0]
    assert ("company_size", "missing") in warnings_of(result)
    assert 0 <= result["score"] <= 100


def test_unseen_category_is_scored_and_warned(client: TestClient, leads: list[dict[str, Any]]) -> None:
    result = score(client, [{**leads[0], "company_size": 40, "industry": "space_mining"}])["leads"][0]
    assert warnings_of(result) == {("industry", "unseen_category")}


def test_numbers_as_text_and_booleans_in_any_spelling_score_like_their_values(
    client: TestClient, leads: list[dict[str, Any]]
) -> None:
    lead = {**leads[0], "company_size": 1234, "demo_requested": "yes"}
    spelled = {**lead, "company_size": "1,234", "demo_requested": True}
    assert score(client, [lead])["leads"][0]["score"] == score(client, [spelled])["leads"][0]["score"]


def test_explain_adds_signed_reasons_with_the_leads_values(client: TestClient, leads: list[dict[str, Any]]) -> None:
    lead = leads[5]
    result = score(client, [lead], explain="true")["leads"][0]
    reasons = result["reasons"]
    assert reasons and {r["head"] for r in reasons} <= {"accepted", "won"}
    for head in {r["head"] for r in reasons}:
        contributions = [r["contribution"] for r in reasons if r["head"] == head]
        positives = [c for c in contributions if c > 0]
        assert positives == sorted(positives, reverse=True) and len(contributions) <= 6
    campaign = [r for r in reasons if r["feature"] == "campaign"]
    assert all(r["value"] == lead["campaign"] and r["text"].startswith("Campaign:") for r in campaign)


# ------------------------------------------------------------------------------------------ validation


def test_unknown_field_is_rejected_by_name(client: TestClient, leads: list[dict[str, Any]]) -> None:
    response = client.post("/score", json={"leads": [leads[0], {**leads[1], "phone": PII, "shoe_size": "x"}]})
    assert errors(response) == {
        "leads[1].phone": "unknown field for this model",
        "leads[1].shoe_size": "unknown field for this model",
    }


def test_unknown_field_can_be_ignored_with_a_warning(
    env: pytest.MonkeyPatch, leads: list[dict[str, Any]], asgi_app: Any
) -> None:
    env.setenv("LEADSCORE_UNKNOWN_FIELDS", "ignore")
    with start(asgi_app) as client:
        plain, extra = score(client, [leads[0], {**leads[0], "phone": PII}])["leads"]
    assert ("phone", "unknown_field_ignored") in warnings_of(extra)
    assert (extra["score"], extra["p_won"]) == (plain["score"], plain["p_won"])


def test_a_whole_crm_record_is_scored_with_its_declared_columns_ignored(
    client: TestClient, leads: list[dict[str, Any]]
) -> None:
    """Issue 14: the id under its configured name, created_at, outcomes and excluded columns are part of a
    CRM record: accepted and ignored with a warning, never 422 (with LEADSCORE_UNKNOWN_FIELDS=reject)."""
    lead = leads[4]
    features = {k: v for k, v in lead.items() if k != "id"}
    record = {
        "lead_id": lead["id"],
        "created_at": "2025-03-01T10:00:00",
        "accepted": "yes",
        "won": "no",
        "revenue": 0,
        "email": PII,
        "full_name": "Jane Doe",
        "sales_status": "closed",
        **features,
    }
    plain = score(client, [lead])["leads"][0]
    whole, both = score(client, [record, {**record, "id": "other-id"}])["leads"]
    assert whole["id"] == lead["id"] and both["id"] == "other-id"
    assert (whole["score"], whole["p_won"]) == (plain["score"], plain["p_won"])
    declared = {"created_at", "accepted", "won", "revenue", "email", "full_name", "sales_status"}
    assert {f for f, code in warnings_of(whole) if code == "declared_field_ignored"} == declared
    assert {f for f, code in warnings_of(both) if code == "declared_field_ignored"} == declared | {"lead_id"}
    assert PII not in json.dumps([whole, both])
    no_id = client.post("/score", json={"leads": [features]})
    assert "`lead_id`" in errors(no_id)["leads[0].id"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("company_size", "lots", "must be a number"),
        ("company_size", True, "must be a number"),
        ("company_size", -5, "must not be negative"),
        ("web_visits", 1e13, "must be between -1e+12 and 1e+12"),
        ("web_visits", "2e15", "must be between -1e+12 and 1e+12"),
        ("web_visits", "inf", "must be between -1e+12 and 1e+12"),
        ("demo_requested", "maybe", "must be yes/no, true/false or 1/0"),
        ("demo_requested", 2, "must be yes/no, true/false or 1/0"),
        ("campaign", {"name": "webinar"}, "must be text, a number, true/false or null"),
        ("campaign", ["webinar"], "must be text, a number, true/false or null"),
    ],
)
def test_bad_value_gives_422_naming_the_field(
    client: TestClient, leads: list[dict[str, Any]], field: str, value: Any, message: str
) -> None:
    response = client.post("/score", json={"leads": [leads[0], {**leads[1], field: value}]})
    assert errors(response) == {f"leads[1].{field}": message}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_give_422(client: TestClient, leads: list[dict[str, Any]], literal: str) -> None:
    raw = json.dumps({"leads": [{**leads[0], "company_size": 0}]}).replace(
        '"company_size": 0', f'"company_size": {literal}'
    )
    response = client.post("/score", content=raw, headers={"content-type": "application/json"})
    assert errors(response) == {"leads[0].company_size": "must be a finite number (NaN and Infinity are not allowed)"}


def test_a_leads_validity_does_not_depend_on_its_batch(client: TestClient, leads: list[dict[str, Any]]) -> None:
    """A boolean in a numeric field is wrong whether or not other leads send numbers there."""
    alone = client.post("/score", json={"leads": [{**leads[0], "web_visits": True}]})
    mixed = client.post("/score", json={"leads": [{**leads[0], "web_visits": True}, {**leads[1], "web_visits": 3}]})
    assert errors(alone) == errors(mixed) == {"leads[0].web_visits": "must be a number"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"leads": []}, "leads"),
        ({"leads": [{"company_size": 3}]}, "leads[0].id"),
        ({"leads": [{"id": ""}]}, "leads[0].id"),
        ({"lead": [{"id": "L1"}]}, "lead"),
        ([{"id": "L1"}], "body"),
        ('{"leads": [', "body"),
    ],
)
def test_malformed_request_gives_422(client: TestClient, body: Any, field: str) -> None:
    sent = {"content": body} if isinstance(body, str) else {"json": body}
    assert field in errors(client.post("/score", **sent, headers={"content-type": "application/json"}))


def test_error_list_is_capped(client: TestClient, leads: list[dict[str, Any]]) -> None:
    detail = client.post("/score", json={"leads": [{**lead, "company_size": -1} for lead in leads]}).json()["detail"]
    assert len(detail) == 51
    assert detail[-1]["error"] == "10 more error(s) not shown"


def test_batch_over_the_limit_gives_413(env: pytest.MonkeyPatch, leads: list[dict[str, Any]], asgi_app: Any) -> None:
    env.setenv("LEADSCORE_MAX_BATCH", "5")
    with start(asgi_app) as client:
        assert len(score(client, leads[:5])["leads"]) == 5
        detail = errors(client.post("/score", json={"leads": leads[:6]}), 413)
    assert "limit is 5" in detail["leads"]


def test_submitted_values_never_appear_in_responses_or_logs(
    client: TestClient, leads: list[dict[str, Any]], caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    bad_bodies = [
        {"leads": [{**leads[0], "phone": PII}]},
        {"leads": [{**leads[0], "company_size": PII}]},
        {"leads": [{**leads[0], "demo_requested": PII}]},
        {"leads": [{**leads[0], "campaign": {"name": PII}}]},
        {"leads": [{**leads[0], "web_visits": [PII]}], "extra": PII},
    ]
    responses = [client.post("/score", json=body) for body in bad_bodies]
    responses.append(client.post("/score", content=f'{{"leads": [{{"id": "{PII}"'))
    responses.append(client.post("/feedback", json={"event_id": "e", "lead_id": "L", "decision": PII, "rep_id": "r"}))
    for response in responses:
        assert response.status_code == 422
        assert PII not in response.text
    out, err = capfd.readouterr()
    assert PII not in caplog.text + out + err


def test_unexpected_failure_is_logged_without_its_message(
    client: TestClient, leads: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(self: LeadChecker, batch: Any, derive: Any = None) -> None:
        raise ValueError(f"could not convert {PII!r}")

    monkeypatch.setattr(LeadChecker, "check", explode)
    response = client.post("/score", json={"leads": leads[:1]})
    assert errors(response, 500) == {"": "internal error while scoring; see the server log"}
    assert "ValueError" in caplog.text and "explode" in caplog.text
    assert PII not in caplog.text + response.text


# ------------------------------------------------------------------------------------------ auth


@pytest.fixture
def token_client(env: pytest.MonkeyPatch, asgi_app: Any) -> Iterator[TestClient]:
    env.setenv("LEADSCORE_API_TOKEN", TOKEN)
    with start(asgi_app, host="203.0.113.7") as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/score", {"leads": [{"id": "L1"}]}),
        ("POST", "/v1/score", {"leads": [{"id": "L1"}]}),  # the BentoML client's door: the same token
        ("POST", "/feedback", {"event_id": "e1", "lead_id": "L1", "decision": "accept", "rep_id": "r1"}),
        ("GET", "/model", None),
    ],
)
def test_protected_routes_need_the_bearer_token(
    token_client: TestClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = token_client.request(method, path, json=body, headers=headers)
        assert errors(response, 401) == {"Authorization": "missing or invalid bearer token"}
        assert response.headers["WWW-Authenticate"] == "Bearer"
    response = token_client.request(method, path, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code in (200, 201)


def test_health_and_metrics_stay_open(token_client: TestClient) -> None:
    for path in ("/livez", "/readyz", "/metrics"):
        assert token_client.get(path).status_code == 200
    assert "text/plain" in token_client.get("/metrics").headers["content-type"]


def test_metrics_are_labelled_by_route_not_by_the_path_sent(client: TestClient, leads: list[dict[str, Any]]) -> None:
    """Issue 16 item 8: random 404 paths (one holding an e-mail address) must not add series to /metrics."""
    before = client.get("/metrics").text.count("\n")
    for n in range(200):
        assert client.get(f"/nothing-here/{n}/{PII if n == 7 else 'x'}").status_code == 404
    client.get(f"/ui/leads/{PII}")
    score(client, leads[:1])
    metrics = client.get("/metrics").text
    endpoints = set(re.findall(r'endpoint="([^"]*)"', metrics))
    assert PII not in metrics and not any(e.startswith("/nothing-here") for e in endpoints)
    assert {"<unmatched>", "/score", "/ui/leads/{row_id}"} <= endpoints
    assert metrics.count("\n") - before < 200


def test_token_can_come_from_a_file(env: pytest.MonkeyPatch, tmp_path: Path, asgi_app: Any) -> None:
    (tmp_path / "token").write_text(f"{TOKEN}\n")
    env.setenv("LEADSCORE_API_TOKEN_FILE", str(tmp_path / "token"))
    with start(asgi_app, host="203.0.113.7") as client:
        assert client.get("/model").status_code == 401
        assert client.get("/model", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_without_a_token_only_local_clients_are_served(
    env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, asgi_app: Any
) -> None:
    with start(asgi_app, host="203.0.113.7") as remote:
        assert errors(remote.get("/model"), 403)[""].startswith("no API token is configured")
    assert "no API token configured" in caplog.text
    with start(asgi_app, host="127.0.0.1") as local:
        assert local.get("/model").status_code == 200


@pytest.mark.parametrize(
    ("host", "local"), [("127.0.0.1", True), ("::1", True), ("localhost", True), ("10.0.0.5", False), (None, False)]
)
def test_is_loopback(host: str | None, local: bool) -> None:
    assert is_loopback(host) is local


# ------------------------------------------------------------------------------------------ feedback


def test_feedback_is_stored_once_per_event(client: TestClient, model_dir: Path, tmp_path: Path) -> None:
    event = {"event_id": "evt-1", "lead_id": "L000001", "decision": "reject", "reason_code": "no_budget",
             "note": "call back in Q3", "rep_id": "rep-7"}  # fmt: skip
    first = client.post("/feedback", json=event)
    assert first.status_code == 201 and first.json()["status"] == "created"
    repeats = [client.post("/feedback", json=event) for _ in range(9)]
    assert {r.status_code for r in repeats} == {200}
    assert {r.json()["received_at"] for r in repeats} == {first.json()["received_at"]}
    decisions = FeedbackStore(
        Database(f"sqlite:///{tmp_path / 'feedback.db'}", local_name(model_dir))
    ).latest_decisions()
    assert [(d.lead_id, d.decision, d.reason_code, d.rep_id) for d in decisions] == [
        ("L000001", "reject", "no_budget", "rep-7")
    ]


def test_feedback_conflicting_resubmission_gives_409(client: TestClient) -> None:
    event = {"event_id": "evt-2", "lead_id": "L1", "decision": "accept", "rep_id": "rep-1"}
    assert client.post("/feedback", json=event).status_code == 201
    changed = errors(client.post("/feedback", json={**event, "decision": "reject", "rep_id": "rep-2"}), 409)
    assert set(changed) == {"event_id", "decision", "rep_id"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"decision": "maybe"}, "decision"),
        ({"event_id": ""}, "event_id"),
        ({"reason_code": "has spaces"}, "reason_code"),
        ({"note": "x" * 2001}, "note"),
        ({"priority": "high"}, "priority"),
    ],
)
def test_feedback_validation(client: TestClient, change: dict[str, Any], field: str) -> None:
    event = {"event_id": "evt-3", "lead_id": "L1", "decision": "accept", "rep_id": "rep-1", **change}
    assert field in errors(client.post("/feedback", json=event))


@pytest.mark.parametrize("bad", ["   ", "\t", "L\x000", "\x00"], ids=["spaces", "tab", "nul-inside", "nul"])
def test_blank_ids_and_ids_with_nul_are_refused_everywhere(
    client: TestClient, leads: list[dict[str, Any]], bad: str
) -> None:
    """`/score` (as `id` and under the id column, fast and reference paths), `/feedback` and `/responses`."""
    lead = {k: v for k, v in leads[0].items() if k != "id"}
    for body in ({"leads": [{**lead, "id": bad}]}, {"leads": [{**lead, "lead_id": bad}]}):
        answer = client.post("/score", json=body)
        assert answer.status_code == 422 and "leads[0]" in answer.text and bad not in answer.text, answer.text
    event = {"event_id": "evt-id", "lead_id": "L1", "decision": "accept", "rep_id": "rep-1"}
    for field in ("event_id", "lead_id", "rep_id"):
        assert field in errors(client.post("/feedback", json={**event, field: bad}))
    response = {"event_id": "r-id", "lead_id": "L1", "occurred_at": "2026-01-01T00:00:00Z", "campaign": "c",
                "response_type": "webinar"}  # fmt: skip
    for field in ("event_id", "lead_id", "account"):
        assert field in errors(client.post("/responses", json={**response, field: bad}))


def test_latest_decisions_keep_history_and_return_the_newest(tmp_path: Path) -> None:
    store = FeedbackStore(Database(f"sqlite:///{tmp_path / 'nested' / 'fb.db'}", "m"))
    for event_id, lead, decision in [("a", "L1", "accept"), ("b", "L2", "reject"), ("c", "L1", "reject")]:
        assert store.record(dict(event_id=event_id, lead_id=lead, decision=decision, rep_id="r"), "7").created
    assert [(d.lead_id, d.decision) for d in store.latest_decisions()] == [("L1", "reject"), ("L2", "reject")]
    with store.database.engine.connect() as connection:
        assert connection.exec_driver_sql("select count(*) from feedback_events").scalar() == 3


# ------------------------------------------------------------------------------------------ model, reload


def test_model_route_describes_the_served_model(client: TestClient, model_dir: Path) -> None:
    info = client.get("/model").json()
    scorer, manifest = load_scorer(model_dir)
    schema = scorer.transformer_.schema_
    assert info["version"] == f"local-{manifest['sha256'][:12]}"
    assert info["trained_at"] == manifest["trained_at"]
    assert info["metrics"] == METRICS
    assert info["id_column"] == "lead_id"
    assert info["heads"] == ["accepted", "revenue", "won"]
    assert [(f["name"], f["kind"]) for f in info["features"]] == [(f.name, f.kind) for f in schema.features]
    industry = next(f for f in info["features"] if f["name"] == "industry")
    assert industry["categories"] == list(schema["industry"].categories)


@pytest.fixture
def swappable(env: pytest.MonkeyPatch, tmp_path: Path, model_dir: Path) -> Path:
    """A copy of the champion the test may overwrite."""
    directory = shutil.copytree(model_dir, tmp_path / "served")
    env.setenv("LEADSCORE_MODEL_URI", str(directory))
    return directory


def test_reload_swaps_in_the_new_model(
    swappable: Path, other_model_dir: Path, leads: list[dict[str, Any]], asgi_app: Any
) -> None:
    with start(asgi_app) as client:
        before = score(client, leads[:20])["leads"]
        shutil.copytree(other_model_dir, swappable, dirs_exist_ok=True)
        reload = client.post("/admin/reload").json()
        after = score(client, leads[:20])["leads"]
    assert reload["changed"] and reload["previous_version"] == before[0]["model_version"]
    assert {lead["model_version"] for lead in after} == {reload["version"]}
    assert [lead["p_won"] for lead in after] != [lead["p_won"] for lead in before]


def test_failed_reload_keeps_serving_the_old_model(swappable: Path, leads: list[dict[str, Any]], asgi_app: Any) -> None:
    with start(asgi_app) as client:
        version = client.get("/model").json()["version"]
        (swappable / MODEL_FILE).write_bytes(b"truncated")
        detail = errors(client.post("/admin/reload"), 502)
        assert "checksum" in detail["model"] and version in detail["model"]
        assert score(client, leads[:3])["leads"][0]["model_version"] == version


def blocking_check(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """Make the first `/score` request wait inside the service until `release` is set."""
    entered, release = threading.Event(), threading.Event()
    original = LeadChecker.check

    def check(self: LeadChecker, batch: Any, derive: Any = None) -> Any:
        if not entered.is_set():
            entered.set()
            release.wait(10)
        return original(self, batch, derive)

    monkeypatch.setattr(LeadChecker, "check", check)
    return entered, release


def test_in_flight_request_finishes_on_the_old_model(
    swappable: Path, other_model_dir: Path, leads: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, asgi_app: Any
) -> None:
    entered, release = blocking_check(monkeypatch)
    with start(asgi_app) as client:
        old = client.get("/model").json()["version"]
        in_flight: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: in_flight.update(score(client, leads[:2])))
        worker.start()
        assert entered.wait(10)
        shutil.copytree(other_model_dir, swappable, dirs_exist_ok=True)
        new = client.post("/admin/reload").json()["version"]
        assert score(client, leads[:2])["leads"][0]["model_version"] == new
        release.set()
        worker.join(10)
    assert new != old
    assert {lead["model_version"] for lead in in_flight["leads"]} == {old}


def test_overload_gives_429(
    env: pytest.MonkeyPatch, leads: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = limited_app(monkeypatch, timeout=30, max_concurrency=1)
    entered, release = blocking_check(monkeypatch)
    with start(app) as client:
        first: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: first.update(score(client, leads[:1])))
        worker.start()
        assert entered.wait(10)
        assert client.post("/score", json={"leads": leads[:1]}).status_code == 429
        assert client.get("/readyz").status_code == 200
        release.set()
        worker.join(10)
    assert len(first["leads"]) == 1


def test_slow_request_gives_504(
    env: pytest.MonkeyPatch, leads: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = limited_app(monkeypatch, timeout=1, max_concurrency=4)
    _, release = blocking_check(monkeypatch)
    with start(app) as client:
        response = client.post("/score", json={"leads": leads[:1]})
        release.set()
        assert response.status_code == 504
        assert score(client, leads[:1])["leads"]


def test_start_fails_clearly_without_a_loadable_model(env: pytest.MonkeyPatch, tmp_path: Path, asgi_app: Any) -> None:
    env.setenv("LEADSCORE_MODEL_URI", str(tmp_path / "nothing-here"))
    with pytest.raises(ModelLoadError, match="neither a model directory nor models:/"), start(asgi_app):
        pass


def register(tracking_uri: str, artifact_dir: Path, experiment_id: str, staging: Path) -> str:
    """Log an artifact as the pyfunc model and make it the champion; returns its version.

    The artifact is copied to a folder named like its key first: MLflow stores it under the source
    folder's name, and `models.registry` reads it from `artifacts/<ARTIFACT_KEY>`.
    """
    source = shutil.copytree(artifact_dir, staging / ARTIFACT_KEY)
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=LeadScorerPyfunc(),
            artifacts={ARTIFACT_KEY: str(source)},
            registered_model_name="leadscore",
            pip_requirements=["lightgbm"],
        )
    version = str(info.registered_model_version)
    mlflow.MlflowClient().set_registered_model_alias("leadscore", "champion", version)
    return version


def test_champion_from_the_registry_and_alias_polling(
    env: pytest.MonkeyPatch, tmp_path: Path, model_dir: Path, other_model_dir: Path, asgi_app: Any
) -> None:
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking)
    experiment = mlflow.create_experiment("leadscore-test", artifact_location=(tmp_path / "artifacts").as_uri())
    register(tracking, model_dir, experiment, tmp_path / "v1")
    env.setenv("MLFLOW_TRACKING_URI", tracking)
    env.delenv("LEADSCORE_MODEL_URI")
    env.setenv("LEADSCORE_RELOAD_INTERVAL", "1")
    with start(asgi_app) as client:
        info = client.get("/model").json()
        assert (info["name"], info["version"], info["alias"]) == ("leadscore", "1", "champion")
        assert register(tracking, other_model_dir, experiment, tmp_path / "v2") == "2"
        for _ in range(40):
            if client.get("/model").json()["version"] == "2":
                break
            time.sleep(0.25)
        assert client.get("/model").json()["version"] == "2"


# ------------------------------------------------------------------------------------------ docs, settings


def _refs(node: object) -> set[str]:
    """Every `$ref` target in a schema."""
    if isinstance(node, dict):
        return {node["$ref"]} if "$ref" in node else set().union(*map(_refs, node.values()))
    return set().union(*map(_refs, node)) if isinstance(node, list) else set()


def test_openapi_documents_the_routes_and_lead_schema(client: TestClient) -> None:
    """Both schemas, FastAPI's /openapi.json and BentoML's /docs.json (which BentoML clients read), document
    /score's body and define every schema they refer to."""
    for url in ("/openapi.json", "/docs.json"):
        spec = client.get(url).json()
        assert {"/score", "/feedback", "/model", "/admin/reload"} <= set(spec["paths"])
        components = spec["components"]["schemas"]
        assert {ref.rsplit("/", 1)[-1] for ref in _refs(spec)} <= set(components), url
        body = spec["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        lead = body["properties"]["leads"]["items"]
        assert "required" not in lead and "anyOf" in lead["additionalProperties"]  # id: `id` or the id column
        assert "id_column" in lead["properties"]["id"]["description"]
        assert "413" in spec["paths"]["/score"]["post"]["responses"]
        assert "ErrorBody" in json.dumps(spec["paths"]["/score"]["post"]["responses"]["422"])


def test_docs_page_works_offline(client: TestClient) -> None:
    """/docs loads Swagger UI from this service, not a CDN: the page works where the internet does not."""
    page = client.get("/docs")
    assert page.status_code == 200 and "/openapi.json" in page.text
    assert not re.search(r"""(src|href)=["']?https?://""", page.text)
    assert "/docs/assets/swagger-ui-bundle.js" in page.text
    for asset in re.findall(r"""(?:src|href)=["']?(/docs/assets/[^"' >]+)""", page.text):
        fetched = client.get(asset)
        assert fetched.status_code == 200 and fetched.content, asset


def test_settings_defaults_and_errors(tmp_path: Path) -> None:
    settings = Settings.from_env({})
    assert (settings.model_uri, settings.max_batch, settings.unknown_fields) == (
        "models:/leadscore@champion",
        1000,
        "reject",
    )
    assert settings.tracking_uri == f"sqlite:///{state_dir() / 'mlflow.db'}" and settings.api_token is None
    assert TOKEN not in repr(Settings.from_env({"LEADSCORE_API_TOKEN": TOKEN}))
    for env, variable in [
        ({"LEADSCORE_MAX_BATCH": "lots"}, "LEADSCORE_MAX_BATCH"),
        ({"LEADSCORE_MAX_BATCH": "0"}, "LEADSCORE_MAX_BATCH"),
        ({"LEADSCORE_UNKNOWN_FIELDS": "drop"}, "LEADSCORE_UNKNOWN_FIELDS"),
        ({"LEADSCORE_API_TOKEN_FILE": str(tmp_path / "absent")}, "LEADSCORE_API_TOKEN_FILE"),
    ]:
        with pytest.raises(SettingsError, match=variable):
            Settings.from_env(env)


def test_short_tokens_and_an_admin_token_equal_to_the_api_token_are_refused_at_start(tmp_path: Path) -> None:
    (tmp_path / "short").write_text("x\n")
    for env, variable in [
        ({"LEADSCORE_API_TOKEN": "x"}, "LEADSCORE_API_TOKEN"),
        ({"LEADSCORE_API_TOKEN": "a" * (MIN_TOKEN_LENGTH - 1)}, "LEADSCORE_API_TOKEN"),
        ({"LEADSCORE_ADMIN_TOKEN": "x"}, "LEADSCORE_ADMIN_TOKEN"),
        ({"LEADSCORE_API_TOKEN_FILE": str(tmp_path / "short")}, "LEADSCORE_API_TOKEN_FILE"),
        ({"LEADSCORE_API_TOKEN": TOKEN, "LEADSCORE_ADMIN_TOKEN": TOKEN}, "must differ"),
    ]:
        with pytest.raises(SettingsError, match=variable) as info:
            Settings.from_env(env)
        assert "x\n" not in str(info.value) and TOKEN not in str(info.value)  # never echoes a token
    exact = Settings.from_env({"LEADSCORE_API_TOKEN": "a" * MIN_TOKEN_LENGTH, "LEADSCORE_ADMIN_TOKEN": TOKEN})
    assert (exact.api_token, exact.admin_token) == ("a" * MIN_TOKEN_LENGTH, TOKEN)


def test_admin_token_allowed_hosts_and_body_limit_settings(tmp_path: Path) -> None:
    (tmp_path / "admin").write_text("admin-secret-72f1e9\n")
    settings = Settings.from_env(
        {
            "LEADSCORE_ADMIN_TOKEN_FILE": str(tmp_path / "admin"),
            "LEADSCORE_ALLOWED_HOSTS": "Leads.Internal:8443, [::1], scoring.example",
            "LEADSCORE_MAX_BODY_BYTES": "65536",
        }
    )
    assert settings.admin_token == "admin-secret-72f1e9" and "admin-secret-72f1e9" not in repr(settings)
    assert settings.allowed_hosts == {"leads.internal", "::1", "scoring.example"}
    assert settings.max_body_bytes == 65536 and Settings.from_env({}).max_body_bytes == 10 * 1024 * 1024
    for env in (
        {"LEADSCORE_ADMIN_TOKEN_FILE": str(tmp_path / "absent")},
        {"LEADSCORE_MAX_BODY_BYTES": "100"},
        {"LEADSCORE_MAX_BODY_BYTES": "10 MB"},
    ):
        with pytest.raises(SettingsError, match=next(iter(env))):
            Settings.from_env(env)


# ------------------------------------------------------------------------------------------ BentoML door


def test_bentoml_door_answers_as_score_does(client: TestClient) -> None:
    """`/v1/score` (the typed `@bentoml.api` a BentoML client calls) gives /score's answer, and /score's status
    codes and error bodies for bad leads, too many leads and a wrong media type."""
    leads = lead_records(3)
    plain = client.post("/score", json={"leads": leads})
    door = client.post("/v1/score", json={"leads": leads})
    assert door.status_code == plain.status_code == 200
    strip = [{k: v for k, v in lead.items()} for lead in door.json()["leads"]]
    assert strip == plain.json()["leads"] and door.json()["stored"] is True
    bad = [{**leads[0], "company_size": "x" * 5000}]
    assert client.post("/v1/score", json={"leads": bad}).json() == client.post("/score", json={"leads": bad}).json()
    for body in ({"leads": []}, {"leads": [{"id": ""}]}):
        door_bad, plain_bad = client.post("/v1/score", json=body), client.post("/score", json=body)
        assert door_bad.status_code == plain_bad.status_code == 422
        assert door_bad.json()["detail"] and "field" in door_bad.json()["detail"][0]
    text = client.post("/v1/score", content=b'{"leads": []}', headers={"content-type": "text/plain"})
    assert text.status_code == 415
    schema = client.get("/schema.json").json()
    assert any(route["route"] == "/v1/score" for route in schema["routes"])
