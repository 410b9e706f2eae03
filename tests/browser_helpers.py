"""A real Lumen server on a loopback port and Debian's Chromium, for the browser tests and the docs screenshots.

.venv/bin/python -m tests.browser_helpers      # rewrites docs/widget.png and docs/admin.png
"""

from __future__ import annotations

import asyncio
import socket
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from playwright.sync_api import Browser, Page, Playwright, expect

import server
from agent.playbook.acts import shipped_model
from config import Settings
from tests.server_helpers import ADMIN_TOKEN, make_settings

CHROMIUM = Path("/usr/bin/chromium")
# The browser tests wait for events (an answer in, a panel shown); how long one may take only guards against a hang.
# Playwright's own limits (5 s for `expect`) fail a test when a loaded machine takes longer over a turn, so every
# browser test waits up to this instead.
WAIT_MS = 120_000
expect.set_options(timeout=WAIT_MS)
# Without the background-networking flags Chromium's own connections get refused in this sandbox and slow it down.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS = Path(__file__).resolve().parents[1] / "docs"
SPLIT_QUESTION = "where is order 1042? jordan.lee@example.com"


class LiveServer:
    """`create_app` served by uvicorn in a thread. The socket is bound before the thread starts, so the port is known
    at once and early connections wait in the backlog until the app is up."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = server.create_app(settings)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="on", ws="none", timeout_graceful_shutdown=2, access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="lumen-live-server", daemon=True
        )

    def __enter__(self) -> LiveServer:
        # The playbook's reader is trained at first use in a process (seconds, or a minute on a loaded machine):
        # trained here, before the browser waits for a first answer, rather than inside that wait.
        shipped_model()
        self._thread.start()
        # Blocks until the app answers (the request waits in the backlog while the lifespan starts).
        response = httpx.get(f"{self.url}/healthz", timeout=WAIT_MS / 1000)
        response.raise_for_status()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._socket.close()
        if self._thread.is_alive():  # pragma: no cover - a hung shutdown should fail loudly
            raise RuntimeError("the Lumen test server did not stop")

    def chat(self, message: str, session_id: str | None = None) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/api/chat", json={"message": message, "session_id": session_id}, timeout=WAIT_MS / 1000
        )
        response.raise_for_status()
        return response.json()


class GatedSource:
    """Wraps an order source so that order lookups wait until the test opens the gate: a slow store, without a sleep.

    The lookups run on the server's event loop (its thread); `open` hands `set` to that loop."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._gate = asyncio.Event()
        self._waiting = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def _wait(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._waiting.set()
        await self._gate.wait()

    async def orders_by_name(self, name: str, *, email: str | None = None, held_only: bool = False) -> Any:
        await self._wait()
        return await self.inner.orders_by_name(name, email=email, held_only=held_only)

    async def orders_by_email(self, email: str, *, limit: int = 5) -> Any:
        await self._wait()
        return await self.inner.orders_by_email(email, limit=limit)

    def open(self) -> None:
        """Lets the waiting lookup (and every later one) through."""
        if not self._waiting.wait(timeout=WAIT_MS / 1000):
            raise AssertionError("no order lookup was waiting at the gate")
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._gate.set)


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


# --- driving the widget --------------------------------------------------------------------------------------------


class Widget:
    """The chat widget on a page (Playwright's CSS and role locators pierce its open shadow root)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.bubble = page.get_by_role("button", name="Chat with us about your order")
        self.panel = page.locator("#lumen-panel")
        self.log = page.locator("#lumen-log")
        self.input = page.locator("#lumen-input")
        self.send_button = page.get_by_role("button", name="Send")
        self.notice = page.locator("#lumen-widget .notice")

    def open(self) -> None:
        """Opens the panel with the bubble (focus moves into the box); a panel restored open just gets focus."""
        if self.panel.is_visible():
            self.input.focus()
        else:
            self.bubble.click()
        expect(self.panel).to_be_visible()
        expect(self.input).to_be_focused()

    def ask(self, message: str) -> None:
        """Sends a message and waits until the whole answer is in (the typing indicator gone, Send enabled)."""
        answers = self.log.locator(".msg.assistant:not(.typing)")
        before = answers.count()
        self.input.fill(message)
        self.input.press("Enter")
        expect(self.log.locator(".msg.user").last).to_contain_text(message)
        expect(answers).to_have_count(before + 1)
        expect(self.log.locator(".typing")).to_have_count(0)
        expect(self.send_button).to_be_enabled()

    def last_answer(self):
        return self.log.locator(".msg.assistant").last


# --- screenshots for the docs ----------------------------------------------------------------------------------------


def take_screenshots(browser: Browser, live: LiveServer, out_dir: Path) -> tuple[Path, Path]:
    """docs/widget.png (the open widget with a split-shipment answer) and docs/admin.png (the merchant page)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    widget_png, admin_png = out_dir / "widget.png", out_dir / "admin.png"

    context = browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
    try:
        page = context.new_page()
        page.goto(live.url + "/")
        widget = Widget(page)
        widget.open()
        widget.ask(SPLIT_QUESTION)
        expect(widget.last_answer()).to_contain_text("789104567123")
        page.mouse.move(0, 0)
        page.screenshot(path=str(widget_png))

        # Something for the merchant to see: a hand-off and a few conversations.
        first = live.chat("It says delivered but I never got it. order #1031 maya.patel@example.com")
        live.chat("yes please", first["session_id"])
        live.chat("Where is my Amazon order?")
        admin_api = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        httpx.put(
            f"{live.url}/api/admin/persona",
            json={"context": "Pre-orders typically ship within 4-6 weeks."},
            headers=admin_api,
        ).raise_for_status()
        httpx.put(
            f"{live.url}/api/admin/settings",
            json={
                "escalation_email": "help@harborandpine.example",
                "mail_from": "Harbor & Pine <lumen@harborandpine.example>",
            },
            headers=admin_api,
        ).raise_for_status()

        admin = context.new_page()
        admin.set_viewport_size({"width": 1280, "height": 1500})
        admin.goto(live.url + "/admin")
        admin.get_by_label("Admin token").fill(ADMIN_TOKEN)
        admin.get_by_role("button", name="Sign in").click()
        expect(admin.locator("#stat-conversations")).not_to_have_text("–")
        admin.locator(".escalation summary").first.click()
        admin.get_by_role("button", name="Read conversation").last.click()
        expect(admin.locator("#transcript")).to_contain_text("Tool call · find_order")
        admin.locator("#transcript .tool.call").first.locator("summary").click()
        admin.mouse.move(0, 0)
        admin.screenshot(path=str(admin_png), full_page=True)
    finally:
        context.close()
    return widget_png, admin_png


def main() -> int:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp))
        with LiveServer(settings) as live, sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                for path in take_screenshots(browser, live, DOCS):
                    print(f"wrote {path}")
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
