"""The review page in a real browser: headless Chromium (Debian's package, driven by Playwright) against a
real `bentoml serve`, populated through `POST /score`, at a laptop's 1366 px and a phone's 390 px.
Screenshots go to test-artifacts/ (and docs/img/ when missing or LEADSCORE_UPDATE_SCREENSHOTS is set)."""

from __future__ import annotations

import os
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

DOCS_IMG = PROJECT / "docs" / "img"
TOKEN = "browser-token-7c2e-41d0"
LEADS = 120
PAGE = 50
CRM = "https://crm.example.test/leads/{id}/view"
WIDTHS = {"laptop": 1366, "phone": 390}


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
        "LEADSCORE_CRM_LEAD_URL": CRM,
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


def leads_in_queue(page: Page) -> list[str]:
    return [row.get_attribute("data-lead") or "" for row in page.locator("#queue tbody tr").all()]


def sized_page(session: BrowserContext, device: str) -> Page:
    """A new page of the logged-in session at one of `WIDTHS`."""
    page = session.new_page()
    page.set_viewport_size({"width": WIDTHS[device], "height": 900})
    return page


def follow(page: Page, target: Any) -> None:
    """Click a link or button and wait for the page it leads to (lists are read right after)."""
    with page.expect_navigation():
        target.click()


def shoot_for_docs(page: Page, name: str) -> None:
    """A full-page screenshot into test-artifacts/, and what the screen shows into docs/img/ when missing
    there or asked for (LEADSCORE_UPDATE_SCREENSHOTS)."""
    shoot(page, name)
    if not (DOCS_IMG / name).exists() or os.environ.get("LEADSCORE_UPDATE_SCREENSHOTS"):
        page.screenshot(path=str(DOCS_IMG / name))


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


@pytest.mark.parametrize("device", list(WIDTHS))
def test_every_lead_is_reachable_page_by_page_newest_first(
    session: BrowserContext, server: tuple[LocalServer, Path], device: str
) -> None:
    page = sized_page(session, device)
    page.goto(f"{server[0].url}/ui/")
    first = leads_in_queue(page)
    assert len(first) == PAGE and page.locator("#previous-page").count() == 0
    seen = list(first)
    while page.locator("#next-page").count():
        follow(page, page.locator("#next-page"))
        seen += leads_in_queue(page)
    assert len(seen) == len(set(seen)) == LEADS  # every scored lead, once
    assert seen == sorted(seen, reverse=True)  # the demo's ids grow with time: newest first
    follow(page, page.locator("#previous-page"))
    assert leads_in_queue(page) == seen[PAGE : 2 * PAGE]
    page.close()


def test_sort_and_filter_by_grade_and_stage(page: Page, server: tuple[LocalServer, Path]) -> None:
    page.goto(f"{server[0].url}/ui/")
    page.get_by_label("Sort", exact=True).select_option("score")
    follow(page, page.get_by_role("button", name="Apply"))
    scores = scores_in_queue(page)
    assert scores == sorted(scores, reverse=True)
    page.get_by_label("Sort", exact=True).select_option("score_asc")
    page.get_by_label("Grade", exact=True).select_option("A")
    follow(page, page.get_by_role("button", name="Apply"))
    filtered = scores_in_queue(page)
    assert filtered == sorted(filtered) and 0 < len(filtered) < PAGE
    assert set(page.locator("#queue .grade").all_inner_texts()) == {"A"}
    page.get_by_label("Grade", exact=True).select_option("")
    page.get_by_label("Stage", exact=True).select_option("marketing-qualified")
    follow(page, page.get_by_role("button", name="Apply"))
    stages = page.locator("#queue td[data-label='Stage']").all_inner_texts()
    assert stages and set(stages) == {"marketing-qualified"}


@pytest.mark.parametrize("device", list(WIDTHS))
def test_search_finds_a_lead_by_id_and_by_campaign(
    session: BrowserContext, server: tuple[LocalServer, Path], device: str
) -> None:
    page = sized_page(session, device)
    page.goto(f"{server[0].url}/ui/?page=2")
    lead_id = leads_in_queue(page)[7]
    page.get_by_label("Search", exact=True).fill(lead_id)
    follow(page, page.get_by_role("button", name="Apply"))
    assert leads_in_queue(page) == [lead_id]
    campaign = page.locator("#queue td.campaign").first.inner_text().strip()
    page.get_by_label("Search", exact=True).fill(campaign)
    follow(page, page.get_by_role("button", name="Apply"))
    found = page.locator("#queue td.campaign").all_inner_texts()
    assert found and {c.strip() for c in found} == {campaign}
    page.get_by_label("Search", exact=True).fill("no-such-lead-anywhere")
    follow(page, page.get_by_role("button", name="Apply"))
    expect(page.locator(".empty")).to_contain_text("match these filters")
    page.close()


@pytest.mark.parametrize("device", list(WIDTHS))
def test_queue_fits_the_screen_with_every_key_column(
    session: BrowserContext, server: tuple[LocalServer, Path], device: str
) -> None:
    width = WIDTHS[device]
    page = sized_page(session, device)
    page.goto(f"{server[0].url}/ui/")
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing runs off the page
    box = page.locator("#queue").evaluate("t => [t.scrollWidth, t.parentElement.clientWidth]")
    assert box[0] <= box[1]  # the whole table shows: no column hides behind a scroll bar
    row = page.locator("#queue tbody tr").first
    for key in ("Lead", "Score", "Grade", "Decision", "P(accept)", "Stage"):
        box = row.locator(f"td[data-label='{key}']").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, key  # on screen, not cut
    link = row.locator("a.crm")
    assert link.get_attribute("href") == CRM.replace("{id}", row.get_attribute("data-lead") or "")
    assert link.get_attribute("target") == "_blank" and "noopener" in (link.get_attribute("rel") or "")
    expect(page.get_by_label("Decision", exact=True)).to_be_visible()
    shoot_for_docs(page, "review_queue.png" if device == "laptop" else "review_queue_phone.png")
    page.close()


@pytest.mark.parametrize("device", list(WIDTHS))
def test_lead_detail_shows_one_list_of_reasons_and_a_chart(
    session: BrowserContext, server: tuple[LocalServer, Path], device: str
) -> None:
    width = WIDTHS[device]
    page = sized_page(session, device)
    page.goto(f"{server[0].url}/ui/")
    lead_id = leads_in_queue(page)[0]
    page.locator("#queue tbody tr").first.locator("td[data-label='Lead'] a").first.click()
    expect(page.get_by_role("heading", name="Why this score")).to_be_visible()
    assert page.locator("#lead-crm").get_attribute("href") == CRM.replace("{id}", lead_id)
    reasons = page.locator("#reasons li").all_inner_texts()
    assert reasons and all(" — " in r and ("raises" in r or "lowers" in r) for r in reasons)
    subjects = [r.split(" — ")[0] for r in reasons]
    assert len(subjects) == len(set(subjects))  # acceptance and win reasons merged: each field once
    assert any("likelihood and" in r or ", " in r.split(" — ")[1] for r in reasons)  # one names both heads
    assert "log-odds" not in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    charts = page.locator("img.chart")
    assert charts.count() == 2  # acceptance and win
    charts.first.scroll_into_view_if_needed()
    page.wait_for_function("[...document.querySelectorAll('img.chart')].every(img => img.complete)")
    assert all(chart.evaluate("img => img.naturalWidth") > 200 for chart in charts.all())
    boxes = [chart.bounding_box() for chart in charts.all()]
    assert all(b is not None and b["x"] + b["width"] <= width for b in boxes)
    side_by_side = boxes[0]["y"] == boxes[1]["y"]  # type: ignore[index]
    assert side_by_side == (device == "laptop")  # a phone stacks them, each as wide as the screen
    assert page.locator("#fields tbody tr").count() > 5
    shoot_for_docs(page, "review_lead_detail.png" if device == "laptop" else "review_lead_phone.png")
    page.close()


def test_reject_with_a_reason_stores_one_row_and_updates_the_queue(
    page: Page, server: tuple[LocalServer, Path]
) -> None:
    url, db = server
    page.goto(f"{url.url}/ui/")
    row = page.locator("#queue tbody tr").nth(2)
    lead_id = row.get_attribute("data-lead")
    row.locator("a").first.click()
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
    page.get_by_label("Decision", exact=True).select_option("reject")
    follow(page, page.get_by_role("button", name="Apply"))
    assert leads_in_queue(page) == [lead_id]
    page.get_by_label("Decision", exact=True).select_option("awaiting")
    follow(page, page.get_by_role("button", name="Apply"))
    assert page.locator(f"#queue tr[data-lead='{lead_id}']").count() == 0 and len(leads_in_queue(page)) == PAGE


@pytest.mark.parametrize("device", list(WIDTHS))
def test_campaign_view_shows_a_chart(session: BrowserContext, server: tuple[LocalServer, Path], device: str) -> None:
    page = sized_page(session, device)
    page.goto(f"{server[0].url}/ui/campaigns")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[device]
    assert page.locator("#campaigns tbody tr").count() >= 5
    page.wait_for_function("document.querySelector('#campaign-chart').complete")
    assert page.locator("#campaign-chart").evaluate("img => img.naturalWidth") > 200
    shoot(page, f"campaigns_{device}.png")
    page.close()
