"""The account view in a real browser: headless Chromium (Debian's package, driven by Playwright) against a
real `bentoml serve` with a model that reads responses, populated as `make run` does (leads with accounts
through `POST /score`, then their responses replayed through `POST /responses`)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pandas as pd
import pytest
from conftest_serving import PROJECT, shoot
from demo_client import post_demo_leads, post_demo_responses
from local_service import LocalServer, local_server
from playwright.sync_api import Browser, Page, expect

from leadscore.datasets.synthetic import JOURNEY_CONFIG_TOML, generate_journeys
from leadscore.features.config import parse_config_text
from leadscore.features.validation import prepare_training_frame, validate_responses
from leadscore.models.artifact import save_scorer
from leadscore.models.scorer import LeadScorer
from leadscore.training.fit import with_behaviour

pytestmark = [pytest.mark.service, pytest.mark.browser]

LEADS = 60
README_SHOT = PROJECT / "docs" / "img" / "review_account.png"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServer, pd.DataFrame, dict[str, object]]]:
    """A served journey model with the demo rules, no token (local client), `LEADS` leads and their responses."""
    tmp = tmp_path_factory.mktemp("account-view")
    config = parse_config_text(JOURNEY_CONFIG_TOML)
    journeys = generate_journeys(3000 + LEADS, seed=5)
    responses = validate_responses(journeys.responses, config.responses)
    frame = prepare_training_frame(journeys.leads.iloc[:3000], config).frame
    frame, spec = with_behaviour(frame, responses, config)
    scorer = LeadScorer(config.data, config.training, responses=spec).fit(frame.iloc[:2000], frame.iloc[2000:])
    model_dir = save_scorer(scorer, tmp / "model")
    (tmp / "leadscore.toml").write_text(JOURNEY_CONFIG_TOML)
    new = journeys.leads.iloc[3000:]
    new.to_csv(tmp / "leads.csv", index=False)
    journeys.responses.to_csv(tmp / "responses.csv", index=False)
    env = {
        "LEADSCORE_MODEL_URI": str(model_dir),
        "LEADSCORE_FEEDBACK_DB": f"sqlite:///{tmp / 'service.db'}",
        "LEADSCORE_CONFIG": str(tmp / "leadscore.toml"),
        "LEADSCORE_API_TOKEN": "",
        "LEADSCORE_API_TOKEN_FILE": "",
    }
    with local_server(env, tmp / "serve.log") as running:
        assert post_demo_leads(running.url, tmp / "leads.csv", LEADS, None) == LEADS
        replay = post_demo_responses(running.url, tmp / "leads.csv", tmp / "responses.csv", LEADS, None)
        assert replay["posted"] > 0
        yield running, new, replay


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


def test_from_a_lead_to_its_account(page: Page, server: tuple[LocalServer, pd.DataFrame, dict[str, object]]) -> None:
    running, leads, replay = server
    account = str(replay["account"])
    members = leads.iloc[:LEADS]
    members = set(members.loc[members["account"] == account, "lead_id"])
    page.goto(f"{running.url}/ui/")
    page.locator(f'#queue tr[data-lead="{replay["lead"]}"] a').first.click()
    fields = page.locator("#fields tbody tr td:first-child").all_inner_texts()
    assert "Responses" in fields and not any(f.startswith("Responses ") for f in fields)  # one row, in words
    chart = page.request.get(f"{page.url.split('?')[0]}/chart.png")
    assert chart.status == 200 and chart.headers["content-type"] == "image/png"
    link = page.locator("#account-link")
    expect(link).to_have_text(account)
    link.click()
    expect(page.get_by_role("heading", name=f"Account {account}")).to_be_visible()
    rows = page.locator("#account-people tbody tr")
    assert {rows.nth(i).get_attribute("data-lead") for i in range(rows.count())} == members
    assert int(page.locator("#people").inner_text()) == len(members)
    assert int(page.locator("#engaged").inner_text()) >= 1  # the replayed lead responded in the last days
    p_any = float(page.locator("#p-any-win").inner_text().rstrip("%"))
    assert 0 <= p_any <= 100
    api = page.request.get(f"{running.url}/accounts/{account}").json()
    assert page.locator("#expected-revenue").inner_text() == f"{api['expected_revenue']:,.0f}"
    assert page.locator("#account-reasons li").count() == len(api["top_reasons"])
    assert all(re.search(r"\(lead [^)]+\)$", r) for r in page.locator("#account-reasons li").all_inner_texts())
    shot = shoot(page, "review_account.png")
    README_SHOT.write_bytes(shot.read_bytes())
    page.set_viewport_size({"width": 390, "height": 900})  # a phone: every person a card, nothing cut
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = rows.first.locator("td[data-label='Expected revenue']").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390
    page.set_viewport_size({"width": 1366, "height": 900})
    person = rows.first.get_attribute("data-lead")
    rows.first.locator("a").click()
    expect(page.get_by_role("heading", name=f"Lead {person}")).to_be_visible()


def test_unknown_account_is_a_clear_404(
    page: Page, server: tuple[LocalServer, pd.DataFrame, dict[str, object]]
) -> None:
    response = page.goto(f"{server[0].url}/ui/accounts/no-such-account")
    assert response is not None and response.status == 404
    assert "no scored lead" in page.content()
