"""The service's store of scored leads and what is built on it: recording and retention, `/campaigns`,
drift in `/model`, stage/route from the qualification rules, rule-only PII fields that are never stored,
and the review page's access rules (the browser tests are in test_review_ui.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bentoml
import pandas as pd
import pytest
from conftest_serving import asgi_app_without_metrics, lead_records, local_name, service_env, start
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from leadscore.datasets.synthetic import CONFIG_TOML, DATA_TOML
from leadscore.features.config import parse_config_text
from leadscore.features.qualification import apply_qualification
from leadscore.models.artifact import load_scorer
from leadscore.records.database import Database
from leadscore.records.scored import ScoreStore
from leadscore.serving.auth import SESSION_HOURS
from leadscore.serving.settings import Settings, SettingsError
from leadscore.serving.ui import SESSION_COOKIE

pytestmark = pytest.mark.service

PII = "jane.doe.4711@gmail.com"
TOKEN = "ui-token-93bd-6f27a1"


@pytest.fixture(scope="module")
def asgi_app() -> Iterator[Any]:
    with asgi_app_without_metrics() as app:
        yield app


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "feedback.db"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_dir: Path, db: Path) -> pytest.MonkeyPatch:
    """Test model, fresh database, the demo qualification rules, no token."""
    (tmp_path / "leadscore.toml").write_text(CONFIG_TOML)
    return service_env(monkeypatch, model_dir, db, tmp_path / "leadscore.toml")


def score(client: TestClient, leads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = client.post("/score", json={"leads": leads})
    assert response.status_code == 200, response.text
    return response.json()["leads"]


def stored(db: Path) -> pd.DataFrame:
    with create_engine(f"sqlite:///{db}").connect() as connection:
        return pd.read_sql(text("SELECT * FROM scored_leads ORDER BY id"), connection)


# ------------------------------------------------------------------------------------------ store


def test_every_score_call_records_its_leads(client: TestClient, db: Path) -> None:
    leads = lead_records(30, keep=("email",))
    first = score(client, leads[:20])
    second = score(client, leads[20:])
    features = [f["name"] for f in client.get("/model").json()["features"]]  # its drift read waits for the writes
    rows = stored(db)
    assert list(rows["lead_id"]) == [lead["id"] for lead in leads]
    assert list(rows["score"]) == [lead["score"] for lead in first + second]
    assert list(rows["route"]) == [lead["route"] for lead in first + second]
    assert list(rows["campaign"]) == [lead["campaign"] for lead in leads]
    assert rows["scored_at"].nunique() == 2  # one insert per request, one timestamp each
    assert set(rows["model_version"]) == {first[0]["model_version"]}
    assert all(len(b.split(",")) == len(features) for b in rows["bins"])
    for lead, fields in zip(leads, rows["fields_json"], strict=True):
        assert json.loads(fields) == {k: v for k, v in lead.items() if k in features and v is not None}


def test_a_failing_store_does_not_fail_scoring_and_logs_no_values(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: ScoreStore, batches: list[Any]) -> None:
        raise ValueError(f"cannot insert {PII}")

    monkeypatch.setattr(ScoreStore, "record", broken)
    assert len(score(client, lead_records(3))) == 3
    client.get("/campaigns")  # reads wait for the writer, which has tried by then
    assert "scored leads not stored: ValueError" in caplog.text
    assert PII not in caplog.text


def test_retention_prunes_old_rows_on_start_and_hourly(
    env: pytest.MonkeyPatch, asgi_app: Any, db: Path, monkeypatch: pytest.MonkeyPatch, model_dir: Path
) -> None:
    with start(asgi_app) as client:
        score(client, lead_records(10))
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as connection:
        old = datetime.now(UTC) - timedelta(days=3)
        connection.execute(text("UPDATE scored_leads SET scored_at = :old WHERE id <= 4"), {"old": old})
    env.setenv("LEADSCORE_RETENTION_DAYS", "2")
    with start(asgi_app) as client:
        assert len(stored(db)) == 6  # pruned on start
        with engine.begin() as connection:
            connection.execute(text("UPDATE scored_leads SET scored_at = :old WHERE id = 5"), {"old": old})
        score(client, lead_records(2))
        client.get("/campaigns")  # reads wait for the writer
        assert len(stored(db)) == 8  # last prune is recent: not pruned again yet
    store = ScoreStore(Database(f"sqlite:///{db}", local_name(model_dir)), retention_days=2)
    assert len(stored(db)) == 7
    assert store.prune(datetime.now(UTC) + timedelta(days=3)) == 7


# ------------------------------------------------------------------------------------------ campaigns


def test_campaigns_agree_with_a_direct_computation(client: TestClient) -> None:
    leads = lead_records(400, seed=3)
    scored = pd.DataFrame(score(client, leads))
    scored["campaign"] = [lead["campaign"] for lead in leads]
    score(client, leads[:5])  # scored again: each lead counts once
    decided = {lead["id"]: ("accept" if i % 3 else "reject") for i, lead in enumerate(leads[:150])}
    decided[leads[0]["id"]] = "accept"  # changed below from its first decision: the latest counts
    events = [("e-first", leads[0]["id"], "reject")] + [(f"e{i}", k, d) for i, (k, d) in enumerate(decided.items())]
    for event_id, lead_id, decision in events:
        body = {"event_id": event_id, "lead_id": lead_id, "decision": decision, "rep_id": "r1"}
        assert client.post("/feedback", json=body).status_code == 201
    got = pd.DataFrame(client.get("/campaigns", params={"min_leads": 5}).json()["campaigns"]).set_index("campaign")
    scored["accepted"] = scored["id"].map({k: float(d == "accept") for k, d in decided.items()})
    expected = scored.groupby("campaign").agg(
        leads=("score", "size"),
        mean_score=("score", "mean"),
        share_A=("grade", lambda g: (g == "A").mean()),
        closed_leads=("accepted", "count"),
        accept_rate=("accepted", "mean"),
    )
    pd.testing.assert_frame_equal(
        got.loc[expected.index, expected.columns], expected, check_dtype=False, check_names=False
    )
    assert got["rank"].notna().sum() == (expected["closed_leads"] >= 5).sum()


def test_campaigns_without_decisions_list_volume_and_scores(client: TestClient) -> None:
    leads = lead_records(60, seed=4)
    scored = pd.DataFrame(score(client, leads)).assign(campaign=[lead["campaign"] for lead in leads])
    body = client.get("/campaigns").json()
    got = pd.DataFrame(body["campaigns"]).set_index("campaign")
    assert body["ranked_by"] is None
    assert got["leads"].to_dict() == scored.groupby("campaign").size().to_dict()
    assert list(got["mean_score"]) == sorted(got["mean_score"], reverse=True)


# ------------------------------------------------------------------------------------------ drift


def drift_after(client: TestClient, leads: list[dict[str, Any]]) -> dict[str, Any]:
    for i in range(0, len(leads), 1000):
        score(client, leads[i : i + 1000])
    return client.get("/model").json()["drift"]


def test_model_drift_flags_a_shifted_population(env: pytest.MonkeyPatch, asgi_app: Any, tmp_path: Path) -> None:
    with start(asgi_app) as client:
        assert client.get("/model").json()["drift"] is None
    with start(asgi_app) as client:
        same = drift_after(client, lead_records(2000, seed=5))
    env.setenv("LEADSCORE_FEEDBACK_DB", f"sqlite:///{tmp_path / 'shifted.db'}")
    with start(asgi_app) as client:
        shifted = drift_after(client, lead_records(2000, seed=5, shift=True))
        assert client.get("/model").json()["drift"]["computed_at"] == shifted["computed_at"]  # cached
    assert same["leads"] == shifted["leads"] == 2000 and same["window_days"] == 7
    assert {name for name, status in same["status"].items() if status == "drift"} == set()
    for name in ("company_size", "campaign"):
        assert shifted["status"][name] != "stable" and shifted["psi"][name] > 3 * same["psi"][name]
    for name in ("seniority", "country"):
        assert shifted["status"][name] == "stable"


# ------------------------------------------------------------------------------------------ qualification


def test_score_carries_stage_and_route_like_the_rules(client: TestClient) -> None:
    leads = lead_records(80, seed=6, keep=("email",))
    leads[0]["email"] = PII  # a gmail.com address: excluded by the demo rules
    got = pd.DataFrame(score(client, leads))
    frame = pd.DataFrame(leads).drop(columns="id")
    config = parse_config_text(CONFIG_TOML)
    scorer = load_scorer(Path(client.get("/model").json()["uri"]))[0]
    expected = apply_qualification(
        frame,
        scorer.predict(frame, allow_missing=True),
        config.qualification,
        missing_values=config.data.missing_values,
    )
    assert list(got["stage"]) == list(expected["stage"]) and list(got["route"]) == list(expected["route"])
    assert [tuple(m) for m in got["rules_missed"]] == list(expected["rules_missed"])
    assert list(got["review_flag"]) == list(expected["review_flag"])
    assert got.loc[0, "route"] == "disqualify"
    assert {"sales", "nurture"} <= set(got["route"])
    reordered = score(client, [dict(reversed(list(lead.items()))) for lead in leads[:10]])
    assert reordered == score(client, leads[:10])
    info = client.get("/model").json()
    assert info["rule_fields"] == ["email", "email_domain"] and "exclude.email_domain" in info["rules"]


def test_without_rules_stage_is_null(env: pytest.MonkeyPatch, asgi_app: Any, tmp_path: Path) -> None:
    (tmp_path / "data-only.toml").write_text(DATA_TOML)
    env.setenv("LEADSCORE_CONFIG", str(tmp_path / "data-only.toml"))
    with start(asgi_app) as client:
        lead = score(client, lead_records(1))[0]
        refused = client.post("/score", json={"leads": [{**lead_records(1)[0], "shoe_size": 44}]})
    assert lead["stage"] is lead["route"] is lead["rules_met"] is None
    assert refused.status_code == 422 and "shoe_size" in refused.text


def test_rule_only_fields_are_accepted_but_never_stored_or_logged(
    client: TestClient, db: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    leads = [{**lead, "email": PII} for lead in lead_records(5, keep=("email",))]
    result = score(client, leads)
    assert {lead["route"] for lead in result} == {"disqualify"}
    refused = client.post("/score", json={"leads": [{**leads[0], "shoe_size": 44}]})
    assert refused.status_code == 422 and "shoe_size" in refused.text
    named = score(client, [{**leads[0], "full_name": "Jane Doe"}])[0]  # excluded in the config: ignored
    assert {"field": "full_name", "code": "declared_field_ignored"}.items() <= named["warnings"][0].items()
    client.get("/ui/")
    client.get(f"/ui/leads/{stored(db)['id'].iloc[0]}")
    assert PII.encode() not in db.read_bytes() and b"Jane Doe" not in db.read_bytes()
    assert "@gmail.com" not in db.read_bytes().decode(errors="replace")
    out, err = capfd.readouterr()
    assert PII not in caplog.text + out + err


# ------------------------------------------------------------------------------------------ review page access


def test_review_page_needs_a_login_when_a_token_is_set(env: pytest.MonkeyPatch, asgi_app: Any) -> None:
    env.setenv("LEADSCORE_API_TOKEN", TOKEN)
    with start(asgi_app, host="203.0.113.7") as client:
        page = client.get("/ui/?grade=A", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/ui/login?next=/ui/%3Fgrade%3DA"
        assert client.get("/ui/campaigns.png").status_code == 401
        assert client.post("/ui/login", data={"token": "wrong"}).status_code == 401
        login = client.post("/ui/login", data={"token": TOKEN, "next": "/ui/?grade=A"}, follow_redirects=False)
        assert login.status_code == 303 and login.headers["location"] == "/ui/?grade=A"
        cookie = login.headers["set-cookie"]
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        assert TOKEN not in cookie and client.cookies.get(SESSION_COOKIE)
        assert client.get("/ui/").status_code == 200
        assert client.get("/model").status_code == 401  # the cookie is not an API credential


def test_logout_revokes_the_session_and_sessions_expire(env: pytest.MonkeyPatch, asgi_app: Any) -> None:
    env.setenv("LEADSCORE_API_TOKEN", TOKEN)
    with start(asgi_app, host="203.0.113.7") as client:
        first = client.post("/ui/login", data={"token": TOKEN}, follow_redirects=False).cookies[SESSION_COOKIE]
        second = client.post("/ui/login", data={"token": TOKEN}, follow_redirects=False).cookies[SESSION_COOKIE]
        assert first != second  # a session id, not a value derived from the token
        client.cookies.clear()
        page = {"cookies": {SESSION_COOKIE: first}, "follow_redirects": False}
        assert client.get("/ui/", **page).status_code == 200
        assert client.post("/ui/logout", **page).status_code == 303
        assert client.get("/ui/", **page).status_code == 303  # the copied cookie is dead after logout
        assert client.get("/ui/", cookies={SESSION_COOKIE: second}).status_code == 200  # other logins live on
        sessions = bentoml.get_current_service().sessions
        now = sessions.clock()
        sessions.clock = lambda: now + SESSION_HOURS * 3600 + 1
        assert client.get("/ui/", cookies={SESSION_COOKIE: second}, follow_redirects=False).status_code == 303


def test_a_row_id_beyond_the_database_integers_is_404(env: pytest.MonkeyPatch, asgi_app: Any) -> None:
    with start(asgi_app) as local:
        score(local, lead_records(1))
        for row in (2**63, 2**63 - 1, 10**40, 0):
            assert local.get(f"/ui/leads/{row}").status_code == 404, row
            assert local.get(f"/ui/leads/{row}/chart.png").status_code == 404, row
            decision = {"decision": "accept", "event_id": f"e{row}", "rep_id": "r"}
            assert local.post(f"/ui/leads/{row}/decision", data=decision).status_code == 404, row
        assert local.get("/ui/leads/1").status_code == 200


def test_review_page_is_local_only_without_a_token_and_refuses_cross_site_posts(
    env: pytest.MonkeyPatch, asgi_app: Any, db: Path
) -> None:
    with start(asgi_app, host="203.0.113.7") as remote:
        assert remote.get("/ui/").status_code == 403
    with start(asgi_app) as local:
        score(local, lead_records(1))
        assert local.get("/ui/").status_code == 200
        post = local.post(
            "/ui/leads/1/decision",
            data={"decision": "accept", "event_id": "x", "rep_id": "r"},
            headers={"origin": "https://evil.example"},
        )
        assert post.status_code == 403
    with create_engine(f"sqlite:///{db}").connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM feedback_events")).scalar() == 0


def test_new_settings_and_their_errors(tmp_path: Path) -> None:
    (tmp_path / "rules.toml").write_text(CONFIG_TOML)
    settings = Settings.from_env({"LEADSCORE_CONFIG": str(tmp_path / "rules.toml"), "LEADSCORE_RETENTION_DAYS": "30"})
    assert settings.qualification == parse_config_text(CONFIG_TOML).qualification
    assert (settings.retention_days, settings.drift_window_days) == (30, 7)
    assert Settings.from_env({"LEADSCORE_CONFIG": "none"}).qualification is None
    (tmp_path / "bad.toml").write_text(CONFIG_TOML.replace("min_score = 50", "min_score = 500"))
    for env in (
        {"LEADSCORE_CONFIG": str(tmp_path / "absent.toml")},
        {"LEADSCORE_CONFIG": str(tmp_path / "bad.toml")},
        {"LEADSCORE_RETENTION_DAYS": "0"},
        {"LEADSCORE_DRIFT_WINDOW_DAYS": "a week"},
    ):
        with pytest.raises(SettingsError, match=next(iter(env))):
            Settings.from_env(env)
