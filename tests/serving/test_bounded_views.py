"""Every view stays bounded however much the CRM sends (issue #23): thousands of unique campaign names, an
account with thousands of people, placeholder account values. Through the ASGI app; sizes and counts, never
timings."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest_serving import asgi_app_without_metrics, service_env
from fastapi.testclient import TestClient
from local_service import request_leads
from PIL import Image
from sqlalchemy import create_engine, text

from leadscore.datasets.synthetic import CONFIG_TOML, generate_funnel
from leadscore.features.config import parse_config_text
from leadscore.features.validation import prepare_training_frame
from leadscore.marketing.folding import TOP_CAMPAIGNS, other_label
from leadscore.models.artifact import save_scorer
from leadscore.models.scorer import LeadScorer
from leadscore.records import tables
from leadscore.serving.errors import ApiError, Deadline
from leadscore.serving.journeys import PEOPLE_PAGE
from leadscore.serving.settings import Settings, SettingsError
from leadscore.serving.ui import PAGE_SIZE

pytestmark = pytest.mark.service

WITH_ACCOUNT = 'campaign = "campaign"\naccount = "account"\n'
CONFIG = parse_config_text(CONFIG_TOML.replace('campaign = "campaign"\n', WITH_ACCOUNT, 1))
BURST = 3000
BIG_ACCOUNT = 1200


@pytest.fixture(scope="module")
def account_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model whose config names an account column."""
    leads, _ = generate_funnel(3000, 0)
    leads["account"] = [f"acct-{i % 300}" for i in range(len(leads))]
    frame = prepare_training_frame(leads, CONFIG).frame
    scorer = LeadScorer(CONFIG.data, CONFIG.training).fit(frame.iloc[:2000], frame.iloc[2000:])
    return save_scorer(scorer, tmp_path_factory.mktemp("models") / "accounts")


def _leads(n: int, seed: int, **columns: list[Any]) -> list[dict[str, Any]]:
    leads, _ = generate_funnel(n, seed)
    for name, values in columns.items():
        leads[name] = values
    keep = [c for c in leads.columns if c not in CONFIG.data.non_feature_columns or c in ("lead_id", "account")]
    return request_leads(leads[keep].assign(lead_id=[f"L{seed}-{i}" for i in range(n)]), "lead_id")


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, account_model: Path) -> Iterator[TestClient]:
    service_env(monkeypatch, account_model, tmp_path / "service.db")
    with (
        asgi_app_without_metrics() as app,
        TestClient(app, base_url="http://localhost:3000", client=("127.0.0.1", 5)) as c,
    ):
        yield c


def _post(client: TestClient, leads: list[dict[str, Any]]) -> None:
    for start in range(0, len(leads), 1000):
        answer = client.post("/score", json={"leads": leads[start : start + 1000]})
        assert answer.status_code == 200, answer.text


def test_a_burst_of_unique_campaign_names_keeps_every_view_bounded(client: TestClient) -> None:
    names = [f"campaign {i:05d} " + "x" * 235 for i in range(BURST)]
    assert {len(n) for n in names} == {250}
    leads = _leads(BURST, 1, campaign=names, account=[f"acct-{i}" for i in range(BURST)])
    _post(client, leads)

    campaigns = client.get("/campaigns")
    assert campaigns.status_code == 200
    assert len(campaigns.content) < 50_000  # 3,000 rows of 250-character names would be over 1 MB
    rows = campaigns.json()["campaigns"]
    assert len(rows) == TOP_CAMPAIGNS + 1
    assert sum(r["leads"] for r in rows) == BURST
    assert {r["campaign"] for r in rows} >= {other_label(BURST - TOP_CAMPAIGNS)}

    queue = client.get("/ui/")
    assert queue.status_code == 200 and len(queue.content) < 150_000
    assert queue.text.count("<tr data-lead=") == PAGE_SIZE and 'id="next-page"' in queue.text
    assert queue.text.count("<option") < 3 * TOP_CAMPAIGNS  # the campaign filter lists the biggest, not all
    second = client.get("/ui/", params={"page": 2})
    assert second.text.count("<tr data-lead=") == PAGE_SIZE and 'id="previous-page"' in second.text

    page = client.get("/ui/campaigns")
    assert page.status_code == 200 and len(page.content) < 100_000
    assert page.text.count("<tr data-campaign>") == TOP_CAMPAIGNS + 1  # the top campaigns and "other"

    for lead in leads[:30]:  # with decisions the campaigns are ranked, still folded
        event = {"event_id": f"d-{lead['id']}", "lead_id": lead["id"], "decision": "accept", "rep_id": "r1"}
        assert client.post("/feedback", json=event).status_code == 201
    ranked = client.get("/campaigns").json()
    assert ranked["ranked_by"] == "accept_rate" and len(ranked["campaigns"]) == TOP_CAMPAIGNS + 1

    chart = client.get("/ui/campaigns.png")
    assert chart.status_code == 200
    width, height = Image.open(io.BytesIO(chart.content)).size
    assert height < 1_500 and width < 2_000  # about 21 bars with short labels, not 3,000


def test_an_account_with_many_people_is_paged(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # reads by lead id go in pieces, as they must past SQLite's 32,766 parameters
    monkeypatch.setattr(tables, "ID_CHUNK", 500)
    leads = _leads(BIG_ACCOUNT, 2, account=["big-co"] * BIG_ACCOUNT)
    _post(client, leads)
    first = client.get("/accounts/big-co")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["people_total"] == BIG_ACCOUNT and len(body["people"]) == PEOPLE_PAGE
    revenue = [p["expected_revenue"] for p in body["people"]]
    assert revenue == sorted(revenue, reverse=True)
    assert len(first.content) < 30_000 and len(body["top_reasons"]) <= 3

    seen: list[str] = []
    for offset in range(0, BIG_ACCOUNT, 500):
        page = client.get("/accounts/big-co", params={"offset": offset, "limit": 500}).json()
        seen += [p["lead_id"] for p in page["people"]]
        assert page["expected_revenue"] == pytest.approx(body["expected_revenue"])  # the roll-up is of everyone
    assert sorted(seen) == sorted(lead["id"] for lead in leads)
    assert client.get("/accounts/big-co", params={"limit": 100_000}).status_code == 422

    found = client.get("/ui/", params={"q": "big-co"})  # the queue's search finds a lead by its account
    assert found.text.count("<tr data-lead=") == PAGE_SIZE

    view = client.get("/ui/accounts/big-co")
    assert view.status_code == 200 and view.text.count("<tr data-lead=") == PEOPLE_PAGE
    assert 'id="next-page"' in view.text and len(view.content) < 100_000
    last = client.get("/ui/accounts/big-co", params={"page": BIG_ACCOUNT // PEOPLE_PAGE})
    assert 'id="next-page"' not in last.text and last.text.count("<tr data-lead=") == PEOPLE_PAGE


def test_placeholder_account_values_are_not_accounts(client: TestClient) -> None:
    placeholders = ["N/A", "Select", " select ", "-", "", "acme"]
    leads = _leads(len(placeholders), 3, account=placeholders)
    _post(client, leads)
    response = {"event_id": "r1", "lead_id": "L-other", "occurred_at": pd.Timestamp.now(tz="UTC").isoformat(),
                "campaign": "webinar", "response_type": "webinar", "account": "N/A"}  # fmt: skip
    assert client.post("/responses", json=response).status_code == 201
    client.get("/ui/")  # waits for the writer
    engine = create_engine(os.environ["LEADSCORE_FEEDBACK_DB"])
    with engine.connect() as connection:
        stored = dict(connection.execute(text("SELECT lead_id, account FROM lead_accounts")).all())
    engine.dispose()
    assert stored == {leads[-1]["id"]: "acme"}
    for value in ("N/A", "Select"):
        assert client.get(f"/accounts/{value}").status_code == 404
    assert client.get("/accounts/acme").json()["people_total"] == 1


def test_crm_links_go_to_the_record_of_each_lead_and_account(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, account_model: Path
) -> None:
    service_env(monkeypatch, account_model, tmp_path / "service.db")
    monkeypatch.setenv("LEADSCORE_CRM_LEAD_URL", "https://crm.example.test/lead/{id}")
    monkeypatch.setenv("LEADSCORE_CRM_ACCOUNT_URL", "https://crm.example.test/account?id={id}")
    with (
        asgi_app_without_metrics() as app,
        TestClient(app, base_url="http://localhost:3000", client=("127.0.0.1", 5)) as client,
    ):
        _post(client, _leads(3, 4, account=["Acme & Co/EU"] * 3))
        queue = client.get("/ui/").text
        assert queue.count('href="https://crm.example.test/lead/L4-') == 3
        account = client.get("/ui/accounts/Acme & Co/EU").text
        assert 'href="https://crm.example.test/account?id=Acme%20%26%20Co%2FEU"' in account  # the id encoded
        assert account.count('href="https://crm.example.test/lead/L4-') == 3


@pytest.mark.parametrize(
    ("value", "problem"),
    [("https://crm.example.test/lead", "{id}"), ("javascript:alert(1)//{id}", "http"), ("crm/{id}", "http")],
)
def test_crm_link_templates_are_checked(value: str, problem: str) -> None:
    with pytest.raises(SettingsError, match="LEADSCORE_CRM_LEAD_URL") as caught:
        Settings.from_env({"LEADSCORE_CRM_LEAD_URL": value})
    assert problem in str(caught.value)


def test_long_work_gives_up_once_the_request_has_timed_out() -> None:
    Deadline(60).left("scoring")  # time left: goes on
    with pytest.raises(ApiError) as caught:
        Deadline(-1).left("scoring the account's people")
    assert caught.value.status == 504 and "LEADSCORE_TIMEOUT" in str(caught.value.body())
