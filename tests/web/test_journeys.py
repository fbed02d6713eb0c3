"""The web pages in real Chromium against the real platform (issue 14, first slice).

A practitioner signs in with a demo login, finds a session by filters, opens it, books
it, sees it in My bookings, subscribes to a calendar feed and cancels; another does a
journey with the keyboard only. axe-core checks every page visited (no serious or
critical violations); screenshots at phone and laptop widths go to var/screenshots/.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests

from gateway.demo import DEMO_PASSWORD, PRACTITIONERS
from gateway.web.formatting import FORMATS, KINDS, SETTING_LABELS, TOPIC_LABELS
from services.catalogue.models import FORMATS as CATALOGUE_FORMATS
from services.catalogue.models import KINDS as CATALOGUE_KINDS
from shared.vocabulary import SETTING_TYPES, TOPICS
from tests.support.platform import Platform
from tests.web.conftest import EMBEDDED, check_a11y, screenshot, sign_in

pytestmark = pytest.mark.e2e

AMIRA = f"{PRACTITIONERS[0][1]}@example.org"  # childminder, the brief's demo login
SARAH = f"{PRACTITIONERS[7][1]}@example.org"  # another childminder: the keyboard journey
JOANNE = f"{PRACTITIONERS[2][1]}@example.org"  # pre-school: the journey without scripts


def test_labels_cover_the_vocabulary() -> None:
    assert set(KINDS) == set(CATALOGUE_KINDS) and set(FORMATS) == set(CATALOGUE_FORMATS)
    assert set(SETTING_LABELS) == set(SETTING_TYPES) and set(TOPIC_LABELS) == set(TOPICS)


@EMBEDDED
def test_pages_anonymous(page: Any, web: Platform) -> None:
    """Home links to sign in and find training; errors are GOV.UK pages and summaries."""
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "en-GB"
    check_a11y(page)
    screenshot(page, "home")
    assert page.get_by_role("link", name="Sign in").first.is_visible()
    page.get_by_role("button", name="Find training").click()
    page.get_by_role("heading", name="Find training", level=1).wait_for()

    # A bad date: an error summary linked to the field, an inline message, "Error:" title.
    page.goto("/find-training?from=2027-02-30")
    check_a11y(page)
    assert page.title().startswith("Error: ")
    summary = page.locator(".govuk-error-summary")
    assert "Date from must be a real date" in summary.inner_text()
    assert summary.get_by_role("link").get_attribute("href") == "#from"
    assert page.locator("#from-error").is_visible()

    page.goto("/sign-in")
    page.get_by_role("button", name="Sign in").click()
    assert "Enter your email address" in page.locator(".govuk-error-summary").inner_text()
    check_a11y(page)

    # A web 404 is a page for a browser, the API's stays a problem document.
    resp = page.goto("/no-such-page")
    assert resp.status == 404 and page.get_by_role("heading", name="Page not found").is_visible()
    check_a11y(page)
    api = requests.get(web.url + "/api/catalogue/nope", headers={"Accept": "text/html"}, timeout=10)
    assert api.status_code == 404 and api.headers["Content-Type"].startswith("application/problem")

    # Forms need the CSRF token: a cross-site post is refused.
    forged = requests.post(web.url + "/sign-in", data={"email": AMIRA, "password": "x"}, timeout=10)
    assert forged.status_code == 400 and "csrf" not in forged.headers.get("Set-Cookie", "")


@EMBEDDED
def test_practitioner_books_subscribes_and_cancels(page: Any, web: Platform) -> None:
    sign_in(page, AMIRA)
    cookie = next(c for c in page.context.cookies() if c["name"] == "eyhub_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]

    page.get_by_role("link", name="Find training").first.click()
    page.get_by_label("Kind of training").select_option("network_meeting")
    page.get_by_label("Your setting").select_option("childminder")
    page.get_by_label("Format").select_option("in_person")
    page.get_by_label("Search").fill("childminder")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"kind=network_meeting"))
    check_a11y(page)
    screenshot(page, "find-training")
    results = page.locator(".eyhub-result h3 a")
    assert results.count() > 0
    assert all("Childminder network meeting" in t for t in results.all_inner_texts())
    hrefs = [results.nth(i).get_attribute("href") for i in range(results.count())]

    # The first session not already booked by this login (the shared platform's other
    # tests may use the same demo account).
    for href in hrefs:
        page.goto(href)
        if page.get_by_role("button", name="Book").count():
            break
    else:
        pytest.fail("no bookable session among the results")
    check_a11y(page)
    summary = page.locator(".govuk-summary-list").inner_text()
    assert re.search(r"\b(?:[1-9]|1[0-2])(?::\d\d)?[ap]m to ", summary), summary
    assert "CPD" in summary and "Free" in summary and "Places left" in summary
    screenshot(page, "session")
    session_path = href

    page.get_by_role("button", name="Book").click()
    page.wait_for_url("**/my-bookings")
    banner = page.locator(".govuk-notification-banner--success")
    assert "You have booked a place on Childminder network meeting" in banner.inner_text()
    row = page.locator("tr", has=page.locator(f'a[href="{session_path}"]'))
    assert "Booked" in row.inner_text()
    check_a11y(page)
    screenshot(page, "my-bookings")

    with page.expect_download() as ics:
        row.get_by_role("link", name=re.compile("Add to calendar")).click()
    assert ics.value.suggested_filename == "booking.ics"
    assert "BEGIN:VEVENT" in Path(ics.value.path()).read_text(encoding="utf-8")

    page.get_by_role("button", name=re.compile("Get a (new )?calendar link")).click()
    link = page.locator("#feed-link")
    assert link.inner_text().startswith("webcal://127.0.0.1:")
    assert link.inner_text().endswith(".ics")
    check_a11y(page)
    feed = requests.get(link.inner_text().replace("webcal://", "http://"), timeout=10)
    assert feed.status_code == 200 and "BEGIN:VCALENDAR" in feed.text
    # With JavaScript, a button copies it (without, the button stays hidden).
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=web.url)
    page.get_by_role("button", name="Copy link").click()
    page.get_by_text("Link copied").wait_for()
    assert page.evaluate("() => navigator.clipboard.readText()") == link.inner_text()

    row.get_by_role("button", name=re.compile("^Cancel")).click()
    assert "is cancelled" in page.locator(".govuk-notification-banner--success").inner_text()
    assert not page.locator(f'#upcoming a[href="{session_path}"]').count()
    past = page.locator("#past tr", has=page.locator(f'a[href="{session_path}"]'))
    assert "Cancelled" in past.first.inner_text()
    check_a11y(page)

    page.get_by_role("button", name="Sign out").click()
    assert "You have signed out" in page.locator(".govuk-notification-banner").inner_text()
    page.goto("/my-bookings")
    page.wait_for_url(re.compile(r"/sign-in\?next=(%2F|/)my-bookings$"))


def _tab_to(page: Any, matches: str, limit: int = 60) -> None:
    """Press Tab until the focused element matches the JS predicate ``matches(el)``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const el = document.activeElement; return {matches}; }}"):
            return
    raise AssertionError(f"Tab never reached {matches} on {page.url}")


@EMBEDDED
def test_keyboard_only_journey(page: Any) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent.trim()") == (
        "Skip to main content"
    )
    _tab_to(page, "el.textContent.trim() === 'Sign in'")
    page.keyboard.press("Enter")
    page.wait_for_url("**/sign-in")
    _tab_to(page, "el.id === 'email'")
    page.keyboard.type(SARAH)
    page.keyboard.press("Tab")
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Sign out").wait_for()

    _tab_to(page, "el.textContent.trim() === 'Find training' && el.tagName === 'A'")
    page.keyboard.press("Enter")
    page.wait_for_url("**/find-training")
    _tab_to(page, "el.id === 'q'")
    page.keyboard.type("network meeting")
    page.keyboard.press("Enter")
    page.wait_for_url("**/find-training?q=network*")
    check_a11y(page)
    hrefs = page.locator(".eyhub-result h3 a").evaluate_all("els => els.map(a => a.pathname)")
    assert hrefs
    for target in hrefs:  # the first one this login has not booked yet, by keyboard
        _tab_to(page, f"el.pathname === '{target}'")
        page.keyboard.press("Enter")
        page.wait_for_url(f"**{target}")
        if page.get_by_role("button", name="Book").count():
            break
        page.go_back()
    else:
        pytest.fail("no bookable session among the results")
    _tab_to(page, "el.textContent.trim() === 'Book'")
    page.keyboard.press("Enter")
    page.wait_for_url("**/my-bookings")
    check_a11y(page)
    _tab_to(
        page,
        f"el.closest('tr') && el.closest('tr').querySelector('a[href=\"{target}\"]')"
        " && el.tagName === 'BUTTON'",
    )
    page.keyboard.press("Enter")
    page.locator(".govuk-notification-banner--success").wait_for()
    assert "is cancelled" in page.locator(".govuk-notification-banner--success").inner_text()


@EMBEDDED
def test_without_javascript_a_practitioner_books_and_cancels(browser: Any, web: Platform) -> None:
    """Progressive enhancement: with scripts off, sign in, filter, book and cancel."""
    context = browser.new_context(base_url=web.url, java_script_enabled=False, locale="en-GB")
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        page.goto("/sign-in")
        page.get_by_label("Email address").fill(JOANNE)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Sign out").wait_for()
        page.goto("/find-training")
        page.get_by_label("Kind of training").select_option("network_meeting")
        page.get_by_role("button", name="Apply filters").click()
        page.wait_for_url(re.compile(r"kind=network_meeting"))
        links = page.locator(".eyhub-result h3 a")
        hrefs = [str(links.nth(i).get_attribute("href")) for i in range(links.count())]
        for href in hrefs:
            page.goto(href)
            if page.get_by_role("button", name="Book", exact=True).count():
                break
        else:
            pytest.fail(f"no bookable network meeting among {hrefs}")
        page.get_by_role("button", name="Book", exact=True).click()
        page.wait_for_url("**/my-bookings")
        row = page.locator("#upcoming tr", has=page.locator(f'a[href="{href}"]'))
        assert "Booked" in row.inner_text()
        row.get_by_role("button", name=re.compile("^Cancel")).click()
        assert "is cancelled" in page.locator(".govuk-notification-banner--success").inner_text()
    finally:
        context.close()
