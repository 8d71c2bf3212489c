"""Responses and accounts in the service: `POST /responses` (idempotent, re-scores, newly sales-ready),
`GET /accounts/{id}` (roll-up adds up) and multi-touch credit in `GET /campaigns`."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest_serving import asgi_app_without_metrics
from fastapi.testclient import TestClient
from local_service import request_leads
from sqlalchemy import create_engine, text

from leadscore.datasets.synthetic import JOURNEY_CONFIG_TOML, QUALIFICATION_TOML, generate_journeys
from leadscore.features.config import parse_config_text
from leadscore.features.responses import ResponsesConfig
from leadscore.features.validation import prepare_training_frame, validate_responses
from leadscore.marketing.attribution import RULES
from leadscore.models.artifact import save_scorer
from leadscore.models.scorer import LeadScorer
from leadscore.training.fit import with_behaviour

pytestmark = pytest.mark.service

COUNTS: Counter[str] = Counter()
"""Concurrent `/responses` that did not store (reported by `make reliability`)."""

CONFIG = parse_config_text(JOURNEY_CONFIG_TOML)
NOW = pd.Timestamp.now(tz="UTC")
BURST = [
    ("webinar_customer_stories", "webinar"),
    ("roi_calculator", "download"),
    ("email_case_studies", "email_click"),
] * 2


def _burst_events(lead_id: str) -> pd.DataFrame:
    return validate_responses(
        pd.DataFrame(
            {
                "lead_id": lead_id,
                "timestamp": [NOW - pd.Timedelta(hours=2 + i) for i in range(len(BURST))],
                "campaign": [c for c, _ in BURST],
                "response_type": [t for _, t in BURST],
            }
        ),
        ResponsesConfig(path="r.csv"),
    )


@pytest.fixture(scope="module")
def journey_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LeadScorer, list[dict[str, Any]]]:
    """A model with behavioural features (3000 generated leads) and 80 other leads to post."""
    journeys = generate_journeys(3100, seed=4)
    responses = validate_responses(journeys.responses, CONFIG.responses)
    frame = prepare_training_frame(journeys.leads.iloc[:3000], CONFIG).frame
    frame, spec = with_behaviour(frame, responses, CONFIG)
    scorer = LeadScorer(CONFIG.data, CONFIG.training, responses=spec).fit(frame.iloc[:2000], frame.iloc[2000:])
    directory = save_scorer(scorer, tmp_path_factory.mktemp("models") / "journeys")
    new = journeys.leads.iloc[3000:3080]
    keep = {CONFIG.data.id, CONFIG.data.account, *scorer.transformer_.schema_.names}
    return directory, scorer, request_leads(new[[c for c in new.columns if c in keep]], CONFIG.data.id)


@pytest.fixture(scope="module")
def chosen(journey_model: tuple[Path, LeadScorer, list[dict[str, Any]]]) -> tuple[dict[str, Any], int, int]:
    """A lead whose score rises with a burst of responses now: (lead, score before, score after)."""
    _, scorer, leads = journey_model
    best = None
    for lead in leads:
        row = pd.DataFrame([{**lead, "lead_id": lead["id"]}])
        before = int(scorer.predict(scorer.with_responses(row, None, NOW))["score"].iloc[0])
        after = int(scorer.predict(scorer.with_responses(row, _burst_events(lead["id"]), NOW))["score"].iloc[0])
        if best is None or after - before > best[2] - best[1]:
            best = (lead, before, after)
    assert best is not None and best[2] > best[1]
    return best


@pytest.fixture
def client(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    journey_model: tuple[Path, LeadScorer, list[dict[str, Any]]],
    chosen: tuple[dict[str, Any], int, int],
) -> Iterator[TestClient]:
    """The service with the journey model and rules whose score floor the chosen lead crosses with its burst
    (fit and readiness rules dropped, so the score decides)."""
    for name in ("LEADSCORE_API_TOKEN", "LEADSCORE_API_TOKEN_FILE", "LEADSCORE_RELOAD_INTERVAL", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    before = chosen[1]
    rules = f"[qualification]\nmin_score = {before + 1}\nflag_score = 100\n"
    config = tmp_path / "leadscore.toml"
    config.write_text(JOURNEY_CONFIG_TOML.split("[qualification]")[0] + rules)
    assert QUALIFICATION_TOML.startswith("# What sales")
    monkeypatch.setenv("LEADSCORE_MODEL_URI", str(journey_model[0]))
    monkeypatch.setenv("LEADSCORE_FEEDBACK_DB", f"sqlite:///{tmp_path / 'service.db'}")
    monkeypatch.setenv("LEADSCORE_CONFIG", str(config))
    with (
        asgi_app_without_metrics() as app,
        TestClient(app, base_url="http://localhost:3000", client=("127.0.0.1", 5)) as c,
    ):
        yield c


def _event(lead_id: str, i: int, **extra: Any) -> dict[str, Any]:
    campaign, kind = BURST[i % len(BURST)]
    when = (NOW - pd.Timedelta(hours=2 + i)).isoformat()
    return {"event_id": f"{lead_id}-e{i}", "lead_id": lead_id, "occurred_at": when, "campaign": campaign,
            "response_type": kind, **extra}  # fmt: skip


def test_post_responses_is_idempotent_and_rescored(
    client: TestClient, journey_model: tuple[Path, LeadScorer, list[dict[str, Any]]]
) -> None:
    lead = journey_model[2][0]
    assert client.post("/score", json={"leads": [lead]}).status_code == 200
    first = client.post("/responses", json=_event(lead["id"], 0))
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["status"] == "created" and body["rescored"] and body["lead"]["id"] == lead["id"]
    assert {"score", "stage", "route"} <= set(body["lead"])
    again = client.post("/responses", json=_event(lead["id"], 0))
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["lead"]["score"] == body["lead"]["score"]  # the same event is not counted twice
    changed = client.post("/responses", json=_event(lead["id"], 0) | {"campaign": "other_campaign"})
    assert changed.status_code == 409 and "event_id" in changed.text
    engine = create_engine(os.environ["LEADSCORE_FEEDBACK_DB"])
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT count(*) FROM response_events WHERE event_id = :e"), {"e": f"{lead['id']}-e0"}
        )
        assert rows.scalar() == 1
    engine.dispose()


def test_post_responses_validates_like_score_and_never_echoes_values(client: TestClient) -> None:
    bad = client.post("/responses", json=_event("L1", 0) | {"occurred_at": "secret-value-9"})
    assert bad.status_code == 422 and "occurred_at" in bad.text and "secret-value-9" not in bad.text
    naive = client.post("/responses", json=_event("L1", 0) | {"occurred_at": "2026-01-01T10:00:00"})
    assert naive.status_code == 422
    for when in ("0001-01-01T00:00:00Z", "2999-01-01T00:00:00Z"):  # timestamps cannot hold / the future
        assert client.post("/responses", json=_event("L1", 0) | {"occurred_at": when}).status_code == 422
    unknown = client.post("/responses", json=_event("L1", 0) | {"colour": "red"})
    assert unknown.status_code == 422 and "colour" in unknown.text
    assert client.post("/responses", content="x", headers={"Content-Type": "text/plain"}).status_code == 415
    never_scored = client.post("/responses", json=_event("L-new", 1))
    assert never_scored.status_code == 201 and never_scored.json()["rescored"] is False


def test_post_responses_needs_the_same_auth_as_score(
    monkeypatch: pytest.MonkeyPatch, client: TestClient, journey_model: tuple[Path, LeadScorer, list[dict[str, Any]]]
) -> None:
    with (
        asgi_app_without_metrics() as app,
        TestClient(app, base_url="http://localhost:3000", client=("10.1.2.3", 5)) as far,
    ):
        assert far.post("/responses", json=_event("L1", 0)).status_code == 403
        assert far.post("/score", json={"leads": journey_model[2][:1]}).status_code == 403


def test_a_burst_of_responses_makes_a_lead_newly_sales_ready(
    client: TestClient, chosen: tuple[dict[str, Any], int, int]
) -> None:
    lead, before, after = chosen
    scored = client.post("/score", json={"leads": [lead]}).json()["leads"][0]
    assert scored["score"] == before and scored["stage"] != "sales-ready"
    answers = [client.post("/responses", json=_event(lead["id"], i)).json() for i in range(len(BURST))]
    assert answers[-1]["lead"]["score"] == after
    assert answers[-1]["lead"]["stage"] == "sales-ready" and answers[-1]["lead"]["route"] == "sales"
    assert sum(a["newly_sales_ready"] for a in answers) == 1
    queue = client.get("/ui/")
    assert queue.status_code == 200 and "newly sales-ready" in queue.text


@pytest.mark.parametrize("offset", ["Z", "+02:00", "-05:00"])
def test_a_response_time_is_the_same_instant_whatever_its_offset(
    client: TestClient, chosen: tuple[dict[str, Any], int, int], offset: str
) -> None:
    """The burst written in another time zone scores as written in UTC, is stored in UTC, and its retry (byte
    for byte, or the same instant written as `Z`) is a duplicate, not a conflict."""
    lead, _, after = chosen
    client.post("/score", json={"leads": [lead]})
    shift = pd.Timedelta(0) if offset == "Z" else pd.Timedelta(offset.replace(":", " hours ") + " minutes")
    events = []
    for i in range(len(BURST)):
        event = _event(lead["id"], i)
        instant = pd.Timestamp(event["occurred_at"])
        event["occurred_at"] = (instant + shift).strftime("%Y-%m-%dT%H:%M:%S.%f") + offset
        assert pd.Timestamp(event["occurred_at"]) == instant
        events.append(event)
    answers = [client.post("/responses", json=event) for event in events]
    assert [a.status_code for a in answers] == [201] * len(BURST)
    assert answers[-1].json()["lead"]["score"] == after
    retry = client.post("/responses", json=events[0])
    assert retry.status_code == 200 and retry.json()["status"] == "duplicate"
    as_utc = events[0] | {"occurred_at": pd.Timestamp(events[0]["occurred_at"]).tz_convert("UTC").isoformat()}
    assert client.post("/responses", json=as_utc).json()["status"] == "duplicate"
    engine = create_engine(os.environ["LEADSCORE_FEEDBACK_DB"])
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT event_id, occurred_at FROM response_events")).all()
    engine.dispose()
    expected = {e["event_id"]: pd.Timestamp(e["occurred_at"]) for e in events}
    assert {event_id: pd.Timestamp(when, tz="UTC") for event_id, when in stored} == expected


def test_account_rolls_up_its_people(
    client: TestClient, journey_model: tuple[Path, LeadScorer, list[dict[str, Any]]]
) -> None:
    leads = journey_model[2]
    assert client.post("/score", json={"leads": leads}).status_code == 200
    accounts = pd.Series({lead["id"]: lead["account"] for lead in leads})
    account = accounts.value_counts().index[0]
    members = sorted(accounts[accounts == account].index)
    client.post("/responses", json=_event(members[0], 0))
    info = client.get(f"/accounts/{account}")
    assert info.status_code == 200, info.text
    body = info.json()
    assert sorted(p["lead_id"] for p in body["people"]) == members
    assert body["expected_revenue"] == pytest.approx(sum(p["expected_revenue"] for p in body["people"]))
    p_none = 1.0
    for person in body["people"]:
        p_none *= 1 - person["p_won"]
    assert body["p_any_win"] == pytest.approx(1 - p_none)
    assert body["engaged_people"] == 1 and len(body["top_reasons"]) <= 3
    assert client.get("/accounts/no-such-account").status_code == 404


def test_campaigns_credit_every_touch_and_sum_to_the_total(
    client: TestClient, journey_model: tuple[Path, LeadScorer, list[dict[str, Any]]]
) -> None:
    leads = journey_model[2][:30]
    client.post("/score", json={"leads": leads})
    for i, lead in enumerate(leads[:10]):
        client.post("/responses", json=_event(lead["id"], i))
    client.post("/feedback", json={"event_id": "d1", "lead_id": leads[0]["id"], "decision": "accept", "rep_id": "r"})
    credit = client.get("/campaigns").json()["attribution"]
    assert credit["totals"]["leads"] == 30 and credit["totals"]["accepted_leads"] == 1
    for metric, total in credit["totals"].items():
        for rule in RULES:
            assert sum(c[metric][rule] for c in credit["campaigns"]) == pytest.approx(total, abs=1e-3)
    names = {c["campaign"] for c in credit["campaigns"]}
    assert {c for c, _ in BURST} & names


# ------------------------------------------------------------------------------------------ one transaction


def _stored(lead_id: str) -> tuple[int, int]:
    """(response events, scorings) stored for a lead."""
    engine = create_engine(os.environ["LEADSCORE_FEEDBACK_DB"])
    with engine.connect() as connection:
        events = connection.execute(text("SELECT count(*) FROM response_events WHERE lead_id = :l"), {"l": lead_id})
        scorings = connection.execute(text("SELECT count(*) FROM scored_leads WHERE lead_id = :l"), {"l": lead_id})
        counts = (int(events.scalar() or 0), int(scorings.scalar() or 0))
    engine.dispose()
    return counts


def test_a_response_whose_lead_fails_validation_stores_nothing(
    client: TestClient, journey_model: tuple[Path, LeadScorer, list[dict[str, Any]]]
) -> None:
    lead = {k: v for k, v in journey_model[2][1].items() if k != "id"}
    event = _event("L-fresh", 0)
    broken = client.post("/responses", json=event | {"lead": {**lead, "colour": "red"}})
    assert broken.status_code == 422 and "colour" in broken.text
    assert _stored("L-fresh") == (0, 0)
    corrected = client.post("/responses", json=event | {"lead": lead})
    assert corrected.status_code == 201, corrected.text
    assert corrected.json()["status"] == "created" and corrected.json()["rescored"]
    assert _stored("L-fresh") == (1, 1)


def test_the_same_event_id_with_another_account_or_lead_is_409_naming_them(
    client: TestClient, journey_model: tuple[Path, LeadScorer, list[dict[str, Any]]]
) -> None:
    lead = {k: v for k, v in journey_model[2][2].items() if k != "id"}
    event = _event("L-acct", 0) | {"account": "acme", "lead": lead}
    assert client.post("/responses", json=event).status_code == 201
    assert client.post("/responses", json=event).status_code == 200  # a retry
    other_account = client.post("/responses", json=event | {"account": "globex"})
    other_lead = client.post("/responses", json=event | {"lead": {**lead, "id": "x"} | {"campaign": "changed"}})
    both = client.post("/responses", json=event | {"account": "globex", "lead": None})
    fields = [{e["field"] for e in r.json()["detail"]} for r in (other_account, other_lead, both)]
    assert [r.status_code for r in (other_account, other_lead, both)] == [409] * 3
    assert fields == [{"event_id", "account"}, {"event_id", "lead"}, {"event_id", "account", "lead"}]
    assert client.get("/accounts/globex").status_code == 404
    acme = client.get("/accounts/acme")
    assert acme.status_code == 200, acme.text
    assert [p["lead_id"] for p in acme.json()["people"]] == ["L-acct"]
    assert _stored("L-acct") == (1, 1)  # refused resubmissions re-scored and stored nothing


def test_concurrent_responses_with_an_account_for_one_lead_all_store_and_rescore(
    client: TestClient, journey_model: tuple[Path, LeadScorer, list[dict[str, Any]]]
) -> None:
    lead = journey_model[2][3]
    assert client.post("/score", json={"leads": [lead]}).status_code == 200
    events = [_event(lead["id"], i) | {"event_id": f"c-{i}", "account": f"acct-{i % 3}"} for i in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda e: client.post("/responses", json=e), events))
    statuses = Counter(a.status_code for a in answers)
    COUNTS["concurrent_responses"] += len(events)
    COUNTS["concurrent_responses_failed"] += len(events) - statuses[201]
    stored_events, scorings = _stored(lead["id"])
    COUNTS["concurrent_responses_rows_lost"] += max(0, statuses[201] - stored_events)
    assert statuses == {201: len(events)}
    assert all(a.json()["rescored"] for a in answers)
    assert (stored_events, scorings) == (len(events), 1 + len(events))
    account = client.get(f"/accounts/{events[-1]['account']}")
    assert account.status_code in (200, 404)  # the latest write wins; which one is last is up to the race
