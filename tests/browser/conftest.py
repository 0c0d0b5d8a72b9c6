"""Browser-only fixtures: the app served on 127.0.0.1 by a real HTTP server, and the system
Chromium driven through Playwright (no browser download: the city intranet has no internet)."""
from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from incident.extensions import db

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
LOCAL_HOST = "127.0.0.1"


@pytest.fixture(scope="session")
def password(pytestconfig: pytest.Config) -> str:
    """PASSWORD of tests/conftest.py, the password of every user the `make` factory creates.

    (Every conftest.py outside a package is the module "conftest", so it cannot be imported by
    name from here; pytest keeps it as a plugin registered under its path.)
    """
    top = Path(__file__).resolve().parents[1] / "conftest.py"
    for plugin in pytestconfig.pluginmanager.get_plugins():
        source = getattr(plugin, "__file__", None)
        if source and Path(source).resolve() == top:
            return str(plugin.PASSWORD)
    raise AssertionError(f"{top} (with PASSWORD) is not loaded")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless system Chromium per test module; each test gets its own context.

    Not per session: while Playwright's sync API is running, its asyncio loop counts as the
    thread's running loop, so a later test elsewhere calling asyncio.run() would fail.
    """
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install the Debian package `chromium` to run the browser tests"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def serve(app: Flask) -> Iterator[Callable[[], str]]:
    """`base_url = serve()` starts the app on 127.0.0.1 (a free port) with CSRF protection on.

    Call it after creating the test data: it ends the test thread's database session first, so
    no read transaction of the test holds SQLite's lock while the server writes. Do not touch ORM
    objects from the factories afterwards (copy what you need into plain values before).
    """
    running: list[tuple[BaseWSGIServer, threading.Thread]] = []

    def start() -> str:
        assert not running, "serve() starts one server per test"
        app.config["WTF_CSRF_ENABLED"] = True  # a real browser posts the token
        db.session.commit()
        db.session.remove()
        server = make_server(LOCAL_HOST, 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name="live-server", daemon=True)
        thread.start()
        running.append((server, thread))
        return f"http://{LOCAL_HOST}:{server.server_port}"

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@dataclass
class Traffic:
    """What the pages of one browser context asked for, and what went wrong in them."""

    urls: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def foreign(self) -> list[str]:
        """Requests to any host but the local server (data: URLs never leave the page)."""
        return [u for u in self.urls
                if not u.startswith("data:") and urlsplit(u).hostname != LOCAL_HOST]


@pytest.fixture
def artifacts() -> Path:
    """test-artifacts/ at the project root (gitignored), for screenshots to look at."""
    path = Path(__file__).resolve().parents[2] / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def traffic() -> Traffic:
    return Traffic()


@pytest.fixture
def new_page(browser, traffic: Traffic) -> Iterator[Callable[..., object]]:
    """`page = new_page(viewport=PHONE)`: a fresh context (own cookies) and page.

    Every request of every context is recorded in `traffic`; at the end of the test, a request to
    another host, a server error (5xx), an uncaught script error or a console error (e.g. a CSP
    violation; a 4xx answer is not one: pages answer 404, 409 or 422 on purpose) fails it.
    """
    contexts = []

    def open_page(viewport: dict[str, int] | None = None, **options):
        context = browser.new_context(viewport=viewport or DESKTOP, locale="ja-JP",
                                      timezone_id="Asia/Tokyo", **options)
        context.set_default_timeout(5_000)
        context.on("request", lambda request: traffic.urls.append(request.url))
        context.on("response", lambda response: response.status >= 500
                   and traffic.server_errors.append(f"{response.status} {response.url}"))
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: traffic.page_errors.append(str(error)))
        page.on("console", lambda message: message.type == "error"
                and traffic.console_errors.append(f"{page.url}: {message.text}"))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert traffic.foreign() == [], "requests left the intranet"
    assert traffic.server_errors == [], "the server failed"
    assert traffic.page_errors == [], "script errors on the page"
    status = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d")
    errors = [e for e in traffic.console_errors if not status.search(e)]
    assert errors == [], "console errors on the page"


@pytest.fixture
def log_in(password: str) -> Callable[[object, str, str], None]:
    """`log_in(page, base_url, email)`: log in through the real login page (it leads home), then go to the
    case list."""

    def do_log_in(page, base_url: str, email: str) -> None:
        page.goto(f"{base_url}/login")
        page.get_by_label("メールアドレス").fill(email)
        page.get_by_label("パスワード").fill(password)
        page.get_by_role("button", name="ログイン").click()
        page.wait_for_url(f"{base_url}/")
        page.goto(f"{base_url}/cases")

    return do_log_in



@pytest.fixture
def generate_draft() -> Callable[[object, str, int, str], str]:
    """`generate_draft(page, base_url, case_id, type_label)`: from the case page, generate a draft of the
    type shown as `type_label`; return the draft page's URL."""

    def generate(page, base_url: str, case_id: int, type_label: str) -> str:
        page.goto(f"{base_url}/cases/{case_id}")
        drafts = page.locator("#drafts")
        drafts.get_by_text("ひな形から文案を作る").click()
        drafts.get_by_label("種類").select_option(label=type_label)
        drafts.get_by_role("button", name="文案を作る").click()
        page.wait_for_url(re.compile(re.escape(base_url) + r"/cases/\d+/drafts/\d+$"))
        return page.url

    return generate


@pytest.fixture
def no_sideways_scroll() -> Callable[..., None]:
    """A check that the page does not scroll sideways at its (phone) width, naming the text that sticks out."""
    return _no_sideways_scroll


def _no_sideways_scroll(page, width: int = 375) -> None:
    widths = page.evaluate(
        "() => ({doc: document.documentElement.scrollWidth, body: document.body.scrollWidth,"
        " inner: window.innerWidth})"
    )
    # A mobile browser widens its layout viewport (zooms out) to fit content that is too wide,
    # which would hide the overflow from scrollWidth alone: the viewport must stay phone-sized.
    assert widths["inner"] == width, (widths, _wider_than_viewport(page, width))
    assert widths["doc"] <= widths["inner"], widths
    assert widths["body"] <= widths["inner"], widths


def _wider_than_viewport(page, width: int = 375) -> list[str]:
    """Text reaching past the right edge of the screen, widest first (for the failure message)."""
    return page.evaluate(
        """(width) => {
             const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
             const found = [];
             for (let node = walker.nextNode(); node; node = walker.nextNode()) {
               if (!node.textContent.trim()) continue;
               const range = document.createRange();
               range.selectNodeContents(node);
               const right = range.getBoundingClientRect().right;
               if (right > width + 0.5) found.push([right, node.parentElement.tagName.toLowerCase()
                 + ": " + node.textContent.trim().slice(0, 50)]);
             }
             return found.sort((a, b) => b[0] - a[0]).slice(0, 8).map(([r, t]) => `${Math.round(r)}px ${t}`);
           }""",
        width,
    )
