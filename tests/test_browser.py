"""The widget and the merchant page in a real headless Chromium, against a real Lumen server on a loopback port."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from agent import prompts
from tests.browser_helpers import (
    CHROMIUM,
    SPLIT_QUESTION,
    WAIT_MS,
    GatedSource,
    LiveServer,
    Widget,
    launch_chromium,
    take_screenshots,
)
from tests.server_helpers import ADMIN_TOKEN, make_settings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (`make browser` installs it)"),
]

TRACKING = ("9400111899223197428490", "789104567123")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(make_settings(tmp_path_factory.mktemp("live"))) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(browser: Browser, live: LiveServer) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(WAIT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def widget(page: Page) -> Widget:
    page.goto("/")
    return Widget(page)


def test_split_shipment_answer_shows_both_packages_with_links(widget: Widget, page: Page) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    widget.open()
    expect(widget.bubble).to_have_attribute("aria-expanded", "true")
    expect(widget.log).to_contain_text("Hi! Ask me where your order is.")
    widget.ask(SPLIT_QUESTION)
    answer = widget.last_answer()
    for number in TRACKING:
        expect(answer).to_contain_text(number)
    usps = answer.locator("a[href='https://tools.usps.com/go/TrackConfirmAction?tLabels=9400111899223197428490']")
    fedex = answer.locator("a[href='https://www.fedex.com/fedextrack/?trknbr=789104567123']")
    for link in (usps, fedex):
        expect(link).to_have_count(1)
        expect(link).to_have_attribute("rel", "noopener noreferrer")
        expect(link).to_have_attribute("target", "_blank")
    # The ")" and "," after a URL in the text are not part of the link.
    expect(answer.locator("a")).to_have_count(2)
    # The answer was streamed (no fallback to the plain endpoint).
    assert [url.removeprefix(widget.page.url.rstrip("/")) for url in requests if "/api/" in url] == ["/api/chat/stream"]


def test_the_widget_says_it_is_looking_while_the_store_answers(browser: Browser, tmp_path: Path) -> None:
    lines = prompts.toml("status.toml")["tools"]
    with LiveServer(make_settings(tmp_path)) as live:
        lumen = live.app.state.lumen
        gate = GatedSource(lumen.source)
        lumen.source = gate
        context = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 800})
        context.set_default_timeout(WAIT_MS)
        try:
            page = context.new_page()
            page.goto("/")
            widget = Widget(page)
            widget.open()
            widget.input.fill(SPLIT_QUESTION)
            widget.input.press("Enter")

            # While the lookup waits: the line in place of the dots, and in the polite live region.
            typing = widget.log.locator(".typing")
            expect(typing).to_have_text(lines["find_order"])
            status = page.locator("#lumen-status")
            expect(status).to_have_text(lines["find_order"])
            expect(status).to_have_attribute("aria-live", "polite")
            expect(status).to_have_attribute("role", "status")
            expect(widget.log.locator(".msg.assistant:not(.typing)")).to_have_count(1)  # the greeting only

            gate.open()
            expect(widget.last_answer()).to_contain_text(TRACKING[1])
            expect(typing).to_have_count(0)
            expect(status).to_have_text("")
            expect(widget.log).not_to_contain_text(lines["find_order"])
        finally:
            context.close()


def test_the_session_and_transcript_survive_a_page_load(widget: Widget, page: Page) -> None:
    widget.open()
    widget.ask(SPLIT_QUESTION)
    session_id = page.evaluate("JSON.parse(localStorage.getItem('lumen:' + location.origin)).sessionId")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", session_id)

    page.reload()
    widget = Widget(page)
    expect(widget.panel).to_be_visible()  # it was open on the previous page
    expect(widget.log).to_contain_text(TRACKING[1])  # the transcript is back
    widget.open()
    widget.ask("when will it arrive?")
    answer = widget.last_answer()
    expect(answer).to_contain_text("February 28")
    expect(answer).not_to_contain_text("email")  # the verified order is remembered by the server
    assert page.evaluate("JSON.parse(localStorage.getItem('lumen:' + location.origin)).sessionId") == session_id


def test_markup_in_a_message_is_shown_as_text(widget: Widget, page: Page) -> None:
    widget.open()
    attack = "<img src=x onerror=window.__xss=1>"
    widget.ask(attack)
    expect(widget.log.get_by_text(attack, exact=True)).to_be_visible()
    expect(widget.log.locator("img")).to_have_count(0)
    assert page.evaluate("typeof window.__xss") == "undefined"
    # And again after a reload, from the stored transcript.
    page.reload()
    expect(Widget(page).log.get_by_text(attack, exact=True)).to_be_visible()
    expect(Widget(page).log.locator("img")).to_have_count(0)
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_keyboard_open_escape_and_focus(widget: Widget, page: Page) -> None:
    widget.bubble.focus()
    page.keyboard.press("Enter")
    expect(widget.panel).to_be_visible()
    expect(widget.panel).to_have_attribute("role", "dialog")
    expect(widget.log).to_have_attribute("aria-live", "polite")
    expect(widget.input).to_be_focused()
    page.keyboard.press("Escape")
    expect(widget.panel).to_be_hidden()
    expect(widget.bubble).to_be_focused()
    expect(widget.bubble).to_have_attribute("aria-expanded", "false")


def test_example_questions_go_into_the_chat_box(widget: Widget, page: Page) -> None:
    page.get_by_role("button", name="When will my pre-order ship?").click()
    expect(widget.panel).to_be_visible()
    expect(widget.input).to_have_value("When will my pre-order ship?")
    expect(widget.input).to_be_focused()


def test_persona_set_in_admin_reaches_the_widget(page: Page) -> None:
    page.goto("/admin")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    context_box = page.get_by_label("Notes for shoppers")
    expect(page.get_by_label("Name")).not_to_have_value("")
    context_box.fill("Pre-orders typically ship within 4-6 weeks.")
    page.get_by_role("button", name="Save assistant").click()
    expect(page.locator("#persona-status")).to_have_text("Saved")

    page.goto("/")
    widget = Widget(page)
    widget.open()
    widget.ask("When will my pre-order ship? order 1088 sam.rivera@example.com")
    expect(widget.last_answer()).to_contain_text("Pre-orders typically ship within 4-6 weeks.")


def test_admin_refuses_a_wrong_token(page: Page) -> None:
    page.goto("/admin")
    page.get_by_label("Admin token").fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("A valid admin token is required.")
    expect(page.locator("#app")).to_be_hidden()


def test_admin_shows_escalations_and_transcripts(page: Page, live: LiveServer) -> None:
    first = live.chat("It says delivered but I never got it. order #1031 maya.patel@example.com")
    reference = live.chat("yes please", first["session_id"])["escalation"]["reference"]

    page.goto("/admin")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#escalations")).to_contain_text(reference)
    expect(page.locator("#stat-answered")).to_have_text(re.compile(r"^\d+%$"))
    page.get_by_role("button", name="Read conversation").first.click()
    transcript = page.locator("#transcript")
    expect(transcript).to_contain_text("yes please")
    expect(transcript).to_contain_text("Tool call · escalate")
    expect(transcript).to_contain_text(reference)


def test_the_panel_fits_a_phone(browser: Browser, live: LiveServer) -> None:
    context = browser.new_context(base_url=live.url, viewport={"width": 375, "height": 667}, has_touch=True)
    try:
        page = context.new_page()
        page.goto("/")
        widget = Widget(page)
        widget.open()
        box = widget.panel.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["y"] >= 0
        assert box["x"] + box["width"] <= 375 and box["y"] + box["height"] <= 667
        assert box["width"] >= 370  # full screen, not a squeezed desktop panel
        field = widget.input.bounding_box()
        assert field is not None and field["y"] + field["height"] <= 667 and field["x"] + field["width"] <= 375
        widget.ask("where is my order?")
        expect(widget.last_answer()).to_contain_text("order number")
        expect(widget.bubble).to_be_hidden()  # the full-screen panel has its own close button
        page.get_by_role("button", name="Close chat").click()
        expect(widget.bubble).to_be_visible()
    finally:
        context.close()


def test_an_unreachable_server_is_explained_and_the_message_kept(widget: Widget, page: Page) -> None:
    page.route(re.compile(r"/api/chat"), lambda route: route.abort())
    widget.open()
    widget.input.fill("where is my order?")
    widget.input.press("Enter")
    expect(widget.notice).to_contain_text("can't reach our order assistant")
    expect(widget.input).to_have_value("where is my order?")
    expect(widget.log.locator(".msg.user")).to_have_count(0)

    # Once the server is back, the same message goes through.
    page.unroute(re.compile(r"/api/chat"))
    widget.send_button.click()
    expect(widget.last_answer()).to_contain_text("order number")
    expect(widget.notice).to_be_hidden()


def test_a_server_error_is_explained(widget: Widget, page: Page) -> None:
    page.route(re.compile(r"/api/chat"), lambda route: route.fulfill(status=502, body="Bad gateway"))
    widget.open()
    widget.input.fill("where is my order?")
    widget.input.press("Enter")
    expect(widget.notice).to_contain_text("something went wrong on our side")
    expect(widget.input).to_have_value("where is my order?")


def test_a_forgotten_session_starts_a_new_conversation(widget: Widget, page: Page) -> None:
    widget.open()
    widget.ask("where is my order?")
    page.evaluate(
        """() => {
            const key = 'lumen:' + location.origin;
            const state = JSON.parse(localStorage.getItem(key));
            state.sessionId = 'AAAAAAAAAAAAAAAAAAAAAA';
            localStorage.setItem(key, JSON.stringify(state));
        }"""
    )
    page.reload()
    widget = Widget(page)
    widget.open()
    widget.ask(SPLIT_QUESTION)
    expect(widget.last_answer()).to_contain_text(TRACKING[0])
    assert page.evaluate("JSON.parse(localStorage.getItem('lumen:' + location.origin)).sessionId") != (
        "AAAAAAAAAAAAAAAAAAAAAA"
    )


def test_the_widget_works_from_another_origin(browser: Browser, live: LiveServer) -> None:
    """A shop page on one origin, Lumen on another: the API base comes from the script's own src.

    The test page is served by Playwright, so Chromium files it under the public address space and asks before it
    reaches a loopback server (Local Network Access); a real shop and a real Lumen host are both public.
    """
    context = browser.new_context()
    context.grant_permissions(["local-network-access"])
    try:
        page = context.new_page()
        shop = f"http://localhost:{live.port}"
        page.route(
            f"{shop}/shop",
            lambda route: route.fulfill(
                content_type="text/html",
                body=f'<!doctype html><title>Shop</title><h1>Shop</h1><script src="{live.url}/widget.js" defer></script>',
            ),
        )
        page.goto(f"{shop}/shop")
        assert page.evaluate("location.origin") != live.url
        widget = Widget(page)
        widget.open()
        widget.ask("where is my order?")
        expect(widget.last_answer()).to_contain_text("order number")
    finally:
        context.close()


def test_screenshots(browser: Browser, live: LiveServer, tmp_path: Path) -> None:
    """The docs screenshots can be regenerated (`python -m tests.browser_helpers` writes them into docs/)."""
    for path in take_screenshots(browser, live, tmp_path):
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
