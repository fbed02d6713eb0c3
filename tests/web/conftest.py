"""Browser fixtures: Debian's Chromium driven by Playwright, axe-core, screenshots.

One browser for the whole test session, a fresh context (cookies, storage) per test,
against the shared ``platform`` (tests/conftest.py), so no platform of their own starts.
No browser is downloaded: Playwright drives ``/usr/bin/chromium`` (``.ci/run`` installs
the Debian package when it is missing).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.platform import REPO, Platform

CHROMIUM = Path(os.environ.get("EYHUB_CHROMIUM", "/usr/bin/chromium"))
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO / "var" / "screenshots"
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
#: The journeys run on the embedded shared platform (see ``web`` below): mark each test.
EMBEDDED = pytest.mark.parametrize("platform", ["embedded"], indirect=True)
#: axe impacts that fail a page (WCAG 2.2 AA rules and axe's best practices).
FAILING = ("serious", "critical")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright import sync_api

    if not CHROMIUM.exists():  # a missing browser fails the journeys, never skips them
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    if not AXE.exists():
        pytest.fail("no node_modules/axe-core: run make install (npm ci)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--lang=en-GB"]
        )
        yield browser
        browser.close()


@pytest.fixture
def web(platform: Platform) -> Platform:
    """The shared platform, for the browser journeys: the embedded one only (the tests
    select it with ``EMBEDDED``; the pages are API clients, so the backend changes
    nothing they do)."""
    assert not platform.backend.is_server
    return platform


@pytest.fixture
def page(browser: Any, web: Platform) -> Iterator[Any]:
    context = browser.new_context(base_url=web.url, viewport=LAPTOP, locale="en-GB")
    # Generous: the suite runs four platforms and Chromium on two cores at once.
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Scripts must not fail, and every asset (CSS, JS, fonts, images) must load; pages
    # themselves may answer 4xx (the error pages are tested).
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and r.request.resource_type != "document"
            else None
        ),
    )
    yield page
    context.close()
    assert not errors, f"errors in the browser: {errors}"


_AXE_RUN = """async () => {
  const result = await axe.run(document, {
    runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa',
                                    'best-practice']},
    resultTypes: ['violations'],
  });
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5),
  }));
}"""


def check_a11y(page: Any) -> list[dict[str, Any]]:
    """Run axe-core on the page; fail on any serious or critical violation."""
    # evaluate, not a <script> tag: the pages' CSP rightly refuses injected scripts.
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    violations = page.evaluate(_AXE_RUN)
    bad = [v for v in violations if v["impact"] in FAILING]
    assert not bad, f"axe on {page.url}: {bad}"
    return violations


def screenshot(page: Any, name: str) -> None:
    """The page at phone and laptop widths, into var/screenshots/ (gitignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("phone", PHONE), ("laptop", LAPTOP)):
        page.set_viewport_size(size)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(LAPTOP)


def sign_in(page: Any, email: str, password: str | None = None) -> None:
    """Sign in through the form (checked with axe) as a demo login."""
    from gateway.demo import DEMO_PASSWORD

    page.goto("/sign-in")
    check_a11y(page)
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password or DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()
