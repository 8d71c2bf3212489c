"""The review page in a real browser: headless Chromium (Debian's package, driven by Playwright) against a
real `bentoml serve`, populated through `POST /score`. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest_serving import PROJECT, shoot, train_model_dir
from demo_client import post_demo_leads
from local_service import LocalServer, local_server
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import create_engine, text

from leadscore.datasets.synthetic import CONFIG_TOML, generate_funnel

pytestmark = [pytest.mark.service, pytest.mark.browser]

README_SHOT = PROJECT / "docs" / "img" / "review_queue.png"
TOKEN = "browser-token-7c2e-41d0"
LEADS = 40


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServer, Path]]:
    """A served model with the demo rules and a token, holding `LEADS` demo leads sent as `make run` does
    (e-mail included, for the rules); no e-mail address may reach the server log or its database."""
    tmp = tmp_path_factory.mktemp("review-ui")
    model_dir = train_model_dir(tmp / "model")
    (tmp / "leadscore.toml").write_text(CONFIG_TOML)
    db = tmp / "service.db"
    env = {
        "LEADSCORE_MODEL_URI": str(model_dir),
        "LEADSCORE_FEEDBACK_DB": f"sqlite:///{db}",
        "LEADSCORE_CONFIG": str(tmp / "leadscore.toml"),
        "LEADSCORE_API_TOKEN": TOKEN,
        "LEADSCORE_API_TOKEN_FILE": "",
    }
    leads, _ = generate_funnel(LEADS, seed=1)
    leads.to_csv(tmp / "leads.csv", index=False)
    with local_server(env, tmp / "serve.log") as running:
        assert post_demo_leads(running.url, tmp / "leads.csv", LEADS, TOKEN) == LEADS
        yield running, db
    emails = set(leads["email"])
    assert not any(email in running.log() for email in emails)
    assert not any(email.encode() in db.read_bytes() for email in emails)


@pytest.fixture(scope="module")
def session(browser: Browser, server: tuple[LocalServer, Path]) -> Iterator[BrowserContext]:
    """A browser context logged in through the login form."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(f"{server[0].url}/ui/")
    page.get_by_label("API token", exact=True).fill(TOKEN)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Lead queue")).to_be_visible()
    page.close()
    yield context
    context.close()


@pytest.fixture
def page(session: BrowserContext) -> Iterator[Page]:
    opened = session.new_page()
    yield opened
    opened.close()


def scores_in_queue(page: Page) -> list[int]:
    return [int(cell) for cell in page.locator("#queue td.score").all_inner_texts()]


def test_an_unauthenticated_visit_is_refused(browser: Browser, server: tuple[LocalServer, Path]) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server[0].url}/ui/")
    assert "/ui/login" in page.url
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert page.locator("#queue").count() == 0
    assert context.request.get(f"{server[0].url}/ui/leads/1/chart.png").status == 401
    page.get_by_label("API token", exact=True).fill("not-the-token")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    context.close()


def test_queue_lists_scored_leads_in_score_order(page: Page, server: tuple[LocalServer, Path]) -> None:
    page.goto(f"{server[0].url}/ui/")
    scores = scores_in_queue(page)
    assert len(scores) == LEADS and scores == sorted(scores, reverse=True)
    assert page.locator("#queue tbody tr").first.locator("td").nth(8).inner_text() in ("sales", "nurture", "disqualify")
    shot = shoot(page, "review_queue.png")
    if not README_SHOT.exists() or os.environ.get("LEADSCORE_UPDATE_SCREENSHOTS"):
        shutil.copyfile(shot, README_SHOT)
    page.get_by_label("Sort", exact=True).select_option("score_asc")
    page.get_by_label("Grade", exact=True).select_option("A")
    page.get_by_role("button", name="Apply").click()
    filtered = scores_in_queue(page)
    assert filtered == sorted(filtered) and 0 < len(filtered) < LEADS
    assert set(page.locator("#queue .grade").all_inner_texts()) == {"A"}


def test_queue_fits_a_tablet(browser: Browser, session: BrowserContext, server: tuple[LocalServer, Path]) -> None:
    page = session.new_page()
    page.set_viewport_size({"width": 768, "height": 1024})
    page.goto(f"{server[0].url}/ui/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 768  # the table scrolls inside its box
    expect(page.get_by_label("Awaiting review", exact=True)).to_be_visible()
    shoot(page, "review_queue_tablet.png")
    page.close()


def test_lead_detail_shows_reasons_and_chart(page: Page, server: tuple[LocalServer, Path]) -> None:
    page.goto(f"{server[0].url}/ui/")
    page.locator("#queue tbody tr a").first.click()
    expect(page.get_by_role("heading", name="Why this score")).to_be_visible()
    reasons = page.locator("#reasons li").all_inner_texts()
    assert reasons and all(" — " in r and ("raises" in r or "lowers" in r) for r in reasons)
    chart = page.locator("#chart")
    chart.scroll_into_view_if_needed()
    page.wait_for_function("document.querySelector('#chart').complete")
    assert chart.evaluate("img => img.naturalWidth") > 200
    assert page.locator("#fields tbody tr").count() > 5
    shoot(page, "lead_detail.png")


def test_reject_with_a_reason_stores_one_row_and_updates_the_queue(
    page: Page, server: tuple[LocalServer, Path]
) -> None:
    url, db = server
    page.goto(f"{url.url}/ui/")
    row = page.locator("#queue tbody tr").nth(2)
    lead_id = row.get_attribute("data-lead")
    row.locator("a").click()
    page.get_by_label("Your rep id", exact=True).fill("rep-7")
    page.get_by_label("Reason", exact=True).select_option("no_budget")
    page.get_by_role("button", name=f"Reject lead {lead_id}").click()
    expect(page.locator("#current-decision")).to_contain_text("reject")
    with create_engine(f"sqlite:///{db}").connect() as connection:
        rows: list[Any] = connection.execute(
            text("SELECT decision, reason_code, rep_id FROM feedback_events WHERE lead_id = :id"), {"id": lead_id}
        ).all()
    assert [tuple(r) for r in rows] == [("reject", "no_budget", "rep-7")]
    page.goto(f"{url.url}/ui/")
    expect(page.locator(f"#queue tr[data-lead='{lead_id}'] td.decision")).to_have_text("reject (no_budget)")
    page.get_by_label("Awaiting review", exact=True).check()
    page.get_by_role("button", name="Apply").click()
    assert page.locator(f"#queue tr[data-lead='{lead_id}']").count() == 0
    assert len(scores_in_queue(page)) == LEADS - 1


def test_campaign_view_shows_a_chart(page: Page, server: tuple[LocalServer, Path]) -> None:
    page.goto(f"{server[0].url}/ui/campaigns")
    assert page.locator("#campaigns tbody tr").count() >= 5
    page.wait_for_function("document.querySelector('#campaign-chart').complete")
    assert page.locator("#campaign-chart").evaluate("img => img.naturalWidth") > 200
    shoot(page, "campaigns.png")
