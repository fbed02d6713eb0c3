"""Schemathesis against the gateway's merged OpenAPI document, as every role, bounded for CI.

On the shared embedded platform (tests/conftest.py lifts its per-IP limits; the run
registers many accounts from 127.0.0.1). Everything it changes is its own: events,
sessions, bookings and feeds it makes, a fuzz target account, look-alike accounts for
logout, and the mentoring hub it sets up (the demo mentor moved there, the hub's other
mentors paused).

One ``st run`` per role (admin, hub lead, practitioner, mentor), in parallel, each with
that role's token, the checks ``not_a_server_error`` and ``response_schema_conformance``,
and what random data cannot find: a config file (``fuzz_config``) with the ids of real
hubs, events, sessions, bookings, feeds and users, so operations with path ids reach
their logic instead of answering 404; and, through the hook in tests/e2e/fuzz_hooks.py,
the body fields that must name something real (``hub_id``, ``session_id``) or keep a
rule OpenAPI 3.0 cannot state (a session ends after it starts, within 12 hours). The
warnings that say the spec and the API disagree (``validation_mismatch``: positive data
mostly rejected; ``missing_test_data``: only 404s) fail the run.

CI: ``MAX_EXAMPLES`` cases per operation and phase, ``MAX_SECONDS`` a role. ``make fuzz``
sets ``EYHUB_FUZZ_EXAMPLES`` / ``EYHUB_FUZZ_SECONDS`` for a longer run of the same test.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from gateway.demo import DEMO_PASSWORD, LEADS, MENTORS, PRACTITIONERS
from shared.messaging.testing import wait_until
from tests.support.mailbox import mails_to
from tests.support.platform import REPO, Platform

pytestmark = pytest.mark.e2e

# CI: the coverage phase reaches every operation with the schema's boundary values and
# negative cases (~17 s a role on 2 loaded cores), then random fuzzing until the time is
# up (one case an operation and mode per round). `make fuzz` runs 100 a role, 600 s.
MAX_EXAMPLES = int(os.environ.get("EYHUB_FUZZ_EXAMPLES", "1"))
MAX_SECONDS = int(os.environ.get("EYHUB_FUZZ_SECONDS", "60"))
#: ``make fuzz`` sets it: every role, for longer.
EVERY_ROLE = bool(os.environ.get("EYHUB_FUZZ_EXAMPLES"))
SEED = int(os.environ.get("EYHUB_FUZZ_SEED", "20261123"))
#: Every role, with a demo login (gateway/demo.py).
ROLES = {
    "admin": ("admin@example.org", "admin-password"),
    "hub_lead": (f"{LEADS[0][1]}@example.org", DEMO_PASSWORD),
    "practitioner": (f"{PRACTITIONERS[0][1]}@example.org", DEMO_PASSWORD),
    "mentor": (f"{MENTORS[0][1]}@example.org", DEMO_PASSWORD),
}
#: In CI the hub lead and the practitioner fuzz every operation (one reaches the lead's
#: logic with real data, the other every refusal); ``make fuzz`` adds the admin and the
#: mentor, every role over everything (on 2 cores CI cannot afford four runs at once).
CI_ROLES = ("hub_lead", "practitioner")
#: Warnings that mean the spec does not say what the API enforces, or the run never got
#: past a 404: each fails the run.
FAIL_ON = ["missing_test_data", "validation_mismatch"]


def _feed_owner(role: str) -> str:
    """Whose mentoring feed a role's run uses: its own, or (admin, hub lead) the mentee's."""
    return role if role in ("mentor", "practitioner") else "practitioner"


@dataclass
class Fixtures:
    """The ids one role's run is given (its own booking and feeds, shared programme)."""

    role: str
    token: str
    hub_id: str
    event_id: str
    cancel_event_id: str
    session_id: str
    cancel_session_id: str
    book_session_id: str
    booking_id: str
    feed_id: str
    feed_token: str
    user_id: str
    starts_at: str
    ends_at: str
    #: A second sign-in's refresh token (its own session: reusing it ends only that one).
    refresh_token: str | None
    #: A token of a look-alike account for POST /api/auth/logout, whose ``everywhere``
    #: would otherwise sign the role's own token out in the middle of the run.
    logout_token: str
    #: The token of a real confirmation link (confirming again is harmless).
    confirm_token: str
    #: Budget: an allocation to read, a spend to reverse (reversing an allocation would
    #: leave the hub's lines empty for the rest of the run).
    transfer_id: str
    reverse_transfer_id: str
    #: A reconciliation item of the hub: a card payment taken on the Stripe stand-in.
    reconciliation_item: str
    #: The budget's current financial year (allocations name one the ledger keeps).
    financial_year: str
    #: Mentoring: the practitioner's request, its proposed match (mentor: the mentor
    #: role), the run that proposed it, and that mentor's user id.
    mentoring: dict[str, str]


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ok(resp: Any, status: int = 200) -> dict[str, Any]:
    assert resp.status_code == status, (resp.status_code, resp.text)
    return resp.json()


def prepare(platform: Platform) -> dict[str, Fixtures]:
    """Make, through the public API, what each role's run needs; return it per role."""
    tokens = {role: platform.login(*login) for role, login in ROLES.items()}
    run = secrets.token_hex(3)
    lead = tokens["hub_lead"]
    hub_id = _ok(platform.get("/api/auth/me", token=lead))["hub_ids"][0]
    starts = (datetime.now(UTC) + timedelta(days=30)).replace(hour=10, minute=0, second=0)
    # The times of the fuzzed session: a PATCH setting them again changes nothing.
    times = {
        "starts_at": _stamp(starts + timedelta(days=1)),
        "ends_at": _stamp(starts + timedelta(days=1, hours=2)),
    }

    def event(title: str, sessions: int) -> tuple[str, list[str]]:
        body = {
            "hub_id": hub_id,
            "title": title,
            "kind": "training",
            "format": "in_person",
            "audience": ["childminder", "nursery"],
            "cpd_hours": 2,
            "capacity": 1000,
            "venue": "Hub room 1",
        }
        event_id = _ok(platform.post("/api/catalogue/events", token=lead, json=body), 201)["id"]
        ids = []
        for day in range(sessions):
            when = starts + timedelta(days=day + 1)
            made = platform.post(
                f"/api/catalogue/events/{event_id}/sessions",
                token=lead,
                json={"starts_at": _stamp(when), "ends_at": _stamp(when + timedelta(hours=2))},
            )
            ids.append(_ok(made, 201)["items"][0]["id"])
        _ok(platform.post(f"/api/catalogue/events/{event_id}/publish", token=lead))
        return event_id, ids

    event_id, (session_id, cancel_session_id, book_session_id) = event("Fuzzed programme", 3)
    cancel_event_id, _ = event("Fuzzed cancellation", 1)
    user = platform.post(
        "/api/auth/users",
        token=tokens["admin"],
        json={
            "email": f"fuzz-target-{run}@example.org",
            "password": "fuzz-password-1",
            "name": "Fuzz Target",
            "roles": ["practitioner"],
        },
    )
    user_id = _ok(user, 201)["id"]

    confirm_token = _confirmation_token(platform, f"fuzz-confirm-{run}@example.org", hub_id)
    mentoring = _mentoring(platform, tokens, hub_id)
    allocation, spend, item = _budget(platform, tokens, hub_id, starts)
    year = _ok(platform.get(f"/api/budget/hubs/{hub_id}/summary", token=lead))["financial_year"]

    def sidekick(role: str) -> str:
        email = f"fuzz-logout-{role}-{run}@example.org"
        body = {"email": email, "password": "fuzz-password-1", "name": f"Sidekick {role}"}
        body |= {"roles": [role], "hub_ids": [hub_id] if role == "hub_lead" else []}
        _ok(platform.post("/api/auth/users", token=tokens["admin"], json=body), 201)
        return platform.login(email, "fuzz-password-1")

    out = {}
    for role, token in tokens.items():
        second = _ok(
            platform.post(
                "/api/auth/token", json=dict(zip(("email", "password"), ROLES[role], strict=True))
            )
        )
        booking = platform.post("/api/bookings", token=token, json={"session_id": session_id})
        feeds = [
            _ok(
                platform.post("/api/bookings/calendar-feeds", token=token, json={"scope": "me"}),
                201,
            )
            for _ in range(2)
        ]
        out[role] = Fixtures(
            role=role,
            token=token,
            hub_id=hub_id,
            event_id=event_id,
            cancel_event_id=cancel_event_id,
            session_id=session_id,
            cancel_session_id=cancel_session_id,
            book_session_id=book_session_id,
            booking_id=_ok(booking, 201)["id"],
            feed_id=feeds[0]["id"],
            feed_token=feeds[1]["url"].rsplit("/", 1)[1].removesuffix(".ics"),
            user_id=user_id,
            refresh_token=second.get("refresh_token"),
            logout_token=sidekick(role),
            confirm_token=confirm_token,
            mentoring=mentoring,
            transfer_id=allocation,
            reverse_transfer_id=spend,
            reconciliation_item=item,
            financial_year=year,
            **times,
        )
    return out


def _mentoring(platform: Platform, tokens: dict[str, str], hub_id: str) -> dict[str, str]:
    """A proposed match in the lead's hub between the practitioner role (mentee) and the
    mentor role, made through the API: the mentor's profile moves to the hub (admin),
    the hub's other mentors pause, the practitioner asks, the lead runs a matching run."""
    admin, lead = tokens["admin"], tokens["hub_lead"]
    mentor_id = _ok(platform.get("/api/auth/me", token=tokens["mentor"]))["id"]
    profile = {
        "hub_id": hub_id,
        "specialisms": ["send", "psed", "mathematics"],
        "setting_types": ["childminder", "nursery", "preschool", "school"],
        "formats": ["online", "in_person"],
        "region": "South East",
        "capacity": 20,
        "languages": ["English"],
        "bio": "Fuzz mentor.",
        "available": True,
        "setting_name": "Fuzz Mentoring Practice",
    }
    _ok(platform.request("PUT", f"/api/mentoring/mentors/{mentor_id}", token=admin, json=profile))
    listed = _ok(platform.get("/api/mentoring/mentors", token=lead, params={"hub_id": hub_id}))
    for other in listed["items"]:
        if other["user_id"] != mentor_id:
            body = {k: other[k] for k in profile if k in other} | {"available": False}
            _ok(
                platform.request(
                    "PUT", f"/api/mentoring/mentors/{other['user_id']}", token=admin, json=body
                )
            )
    request = {
        "hub_id": hub_id,
        "topics": ["send"],
        "goals": "Fuzzing goals.",
        "format": "online",
        "setting_type": "childminder",
        "setting_name": "Fuzz Mentee Setting",
    }
    mine = _ok(platform.get("/api/mentoring/requests", token=tokens["practitioner"]))["items"]
    open_here = [r["id"] for r in mine if r["hub_id"] == hub_id and r["status"] == "open"]
    if open_here:  # the demo files requests for its practitioners: one open per hub
        request_id = open_here[0]
    else:
        asked = platform.post("/api/mentoring/requests", token=tokens["practitioner"], json=request)
        request_id = _ok(asked, 201)["id"]
    made = _ok(platform.post(f"/api/mentoring/hubs/{hub_id}/matching-runs", token=lead), 201)
    (match,) = [m for m in made["matches"] if m["request_id"] == request_id]
    assert match["mentor_id"] == mentor_id, match
    mentor = tokens["mentor"]
    _ok(platform.post(f"/api/mentoring/matches/{match['id']}/accept", token=mentor))
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=20)
    meeting = {
        "starts_at": _stamp(starts),
        "ends_at": _stamp(starts + timedelta(hours=1)),
        "format": "online",
        "online_url": "https://meet.example.org/fuzz-mentoring",
    }
    made_meeting = platform.post(
        f"/api/mentoring/matches/{match['id']}/meetings", token=mentor, json=meeting
    )
    ids = {
        "request_id": request_id,
        "match_id": match["id"],
        "run_id": made["id"],
        "mentor_id": mentor_id,
        "meeting_id": _ok(made_meeting, 201)["id"],
    }
    # Caseload feeds of the pair: one to revoke, one to read (as bookings' feeds).
    for role in ("mentor", "practitioner"):
        revoke, read = (
            _ok(platform.post("/api/mentoring/calendar-feeds", token=tokens[role]), 201)
            for _ in range(2)
        )
        ids[f"{role}_feed_id"] = revoke["id"]
        ids[f"{role}_feed_token"] = read["url"].rsplit("/", 1)[1].removesuffix(".ics")
    return ids


#: The budget lines (every one may overdraw in the fuzzed hub: a spend of any amount is
#: then a valid request, not a 409 for want of money).
LINES = ["training_delivery", "backfill", "mentoring", "venue", "resources", "other"]
SETTINGS = {
    "alert_thresholds": [80, 100],
    "overdraft_lines": LINES,
    "no_show_policy": "void",
    "mentor_hourly_rate_pence": None,
}


def _budget(
    platform: Platform, tokens: dict[str, str], hub_id: str, starts: datetime
) -> tuple[str, str, str]:
    """Money in the lead's hub, overdraft on every line, two transfers to name, and a
    card payment on the Stripe stand-in that reconciliation lists."""
    lead = tokens["hub_lead"]
    base = f"/api/budget/hubs/{hub_id}"
    _ok(platform.request("PUT", f"{base}/settings", token=lead, json=SETTINGS))
    summary = _ok(platform.get(f"{base}/summary", token=lead))
    allocation = platform.post(
        f"{base}/allocations",
        token=lead,
        json={
            "financial_year": summary["financial_year"],
            "line": "other",
            "amount_pence": 10_000_000,
            "source": "Fuzz grant",
        },
    )
    spend = platform.post(
        f"{base}/spend",
        token=lead,
        json={
            "line": "venue",
            "amount_pence": 5000,
            "description": "Fuzz room hire",
            "spent_on": datetime.now(UTC).date().isoformat(),
        },
    )
    body = {
        "hub_id": hub_id,
        "title": "Fuzz paid course",
        "kind": "training",
        "format": "online",
        "online_url": "https://meet.example.org/fuzz-paid",
        "audience": ["childminder"],
        "cpd_hours": 1,
        "capacity": 5,
        "price_pence": 1500,
    }
    event_id = _ok(platform.post("/api/catalogue/events", token=lead, json=body), 201)["id"]
    times = {"starts_at": _stamp(starts), "ends_at": _stamp(starts + timedelta(hours=1))}
    made = platform.post(f"/api/catalogue/events/{event_id}/sessions", token=lead, json=times)
    session_id = _ok(made, 201)["items"][0]["id"]
    _ok(platform.post(f"/api/catalogue/events/{event_id}/publish", token=lead))
    paying = platform.post(
        "/api/bookings", token=tokens["practitioner"], json={"session_id": session_id}
    )
    checkout_url = _ok(paying, 201)["checkout_url"]
    assert requests.post(checkout_url + "/pay", allow_redirects=False, timeout=10).is_redirect

    def item() -> str | None:
        report = _ok(platform.get(f"{base}/reconciliation", token=lead))
        matched = [i["id"] for i in report["items"] if i["status"] == "matched"]
        return matched[0] if matched else None

    found = wait_until(item, timeout=30, what="the card payment on the hub's ledger")
    return _ok(allocation, 201)["id"], _ok(spend, 201)["id"], found


def _confirmation_token(platform: Platform, email: str, hub_id: str) -> str:
    """Register ``email`` and read the token of the link the gateway's worker mails."""
    body = {"email": email, "password": "fuzz-password-1", "name": "Fuzz Confirm"}
    body |= {"setting_type": "childminder"}
    _ok(platform.post("/api/auth/register", json=body | {"hub_id": hub_id}), 202)

    def token() -> str | None:
        for mail in mails_to(platform, email):
            text = mail.get_body(("plain",))
            if text is not None:
                found = re.search(r"confirm-email\?token=([A-Za-z0-9_.-]+)", text.get_content())
                if found:
                    return found.group(1)
        return None

    wait_until(lambda: token() is not None, timeout=30, what=f"a confirmation mail to {email}")
    found = token()
    assert found
    return found


def fuzz_bodies(f: Fixtures) -> dict[str, dict[str, Any]]:
    """Body fields the hook sets on positive cases (tests/e2e/fuzz_hooks.py)."""
    times = {"starts_at": f.starts_at, "ends_at": f.ends_at}
    bodies: dict[str, dict[str, Any]] = {
        "POST /api/catalogue/events": {"hub_id": f.hub_id},
        "POST /api/catalogue/events/{event_id}/sessions": times,
        "PATCH /api/catalogue/sessions/{session_id}": times,
        "POST /api/bookings": {"session_id": f.book_session_id},
        "POST /api/auth/register": {"hub_id": f.hub_id},
        # Mentoring in the hub the run's ids belong to (a random hub would move the
        # mentor out of it).
        "PUT /api/mentoring/mentors/{user_id}": {"hub_id": f.hub_id},
        "PUT /api/mentoring/mentors/me": {"hub_id": f.hub_id},
        "POST /api/mentoring/requests": {"hub_id": f.hub_id},
        "POST /api/mentoring/matches/{match_id}/meetings": times,
        "PATCH /api/mentoring/meetings/{meeting_id}": times,
        # Hub ids must name hubs that exist (422 otherwise): give the real one.
        "POST /api/auth/users": {"hub_ids": [f.hub_id]},
        "PATCH /api/auth/users/{user_id}": {"hub_ids": [f.hub_id]},
        # Signs out the look-alike account (its own token): a refresh token is optional.
        "POST /api/auth/logout": {"refresh_token": None},
        # Budget: a day within the years the ledger keeps, and settings that keep every
        # line open to spend for the rest of the run.
        "POST /api/budget/hubs/{hub_id}/spend": {"spent_on": datetime.now(UTC).date().isoformat()},
        "POST /api/budget/hubs/{hub_id}/allocations": {"financial_year": f.financial_year},
        "PUT /api/budget/hubs/{hub_id}/settings": {"overdraft_lines": LINES},
    }
    if f.refresh_token:
        bodies["POST /api/auth/refresh"] = {"refresh_token": f.refresh_token}
    return bodies


def fuzz_config(f: Fixtures) -> str:
    """A schemathesis.toml giving one role's run its ids.

    Global ``parameters`` fill every operation's path parameter of that name; an
    ``[[operations]]`` entry narrows a value to one operation (a cancel gets its own
    event or session, so the others stay usable for the rest of the run).
    """

    def toml(value: Any) -> str:
        return json.dumps(value)  # a JSON string or list is a TOML one too

    def table(values: dict[str, str]) -> str:
        return "{ " + ", ".join(f"{toml(k)} = {toml(v)}" for k, v in values.items()) + " }"

    def operation(
        path: str,
        method: str,
        params: dict[str, str],
        headers: dict[str, str] | None = None,
        *,
        enabled: bool = True,
    ) -> str:
        lines = [
            "[[operations]]",
            # One filter: schemathesis ORs include-path and include-method.
            f"include-name = {toml(f'{method} {path}')}",
            f"parameters = {table(params)}",
        ]
        if not enabled:
            lines.append("enabled = false")
        if headers:
            lines.append(f"headers = {table(headers)}")
        return "\n".join(lines) + "\n"

    return "\n".join(
        [
            # The coverage phase would also send every path each HTTP method it does not
            # have (hundreds of 405 probes a role): the gateway's routing answers those
            # alike, and tests/gateway covers it; CI's time goes to the operations instead.
            "[phases.coverage]",
            "unexpected-methods = []",
            "",
            "[warnings]",
            # Only these: a practitioner's 403s from lead-only operations are the point.
            f"display = {toml(FAIL_ON)}",
            f"fail-on = {toml(FAIL_ON)}",
            "",
            "[parameters]",
            f'"path.hub_id" = {toml(f.hub_id)}',
            f'"path.event_id" = {toml(f.event_id)}',
            f'"path.session_id" = {toml(f.session_id)}',
            f'"path.booking_id" = {toml(f.booking_id)}',
            f'"path.feed_id" = {toml(f.feed_id)}',
            f'"path.token" = {toml(f.feed_token)}',
            f'"path.user_id" = {toml(f.user_id)}',
            f'"path.request_id" = {toml(f.mentoring["request_id"])}',
            f'"path.match_id" = {toml(f.mentoring["match_id"])}',
            f'"path.run_id" = {toml(f.mentoring["run_id"])}',
            f'"path.meeting_id" = {toml(f.mentoring["meeting_id"])}',
            f'"path.transfer_id" = {toml(f.transfer_id)}',
            f'"path.item_id" = {toml(f.reconciliation_item)}',
            f'"query.hub_id" = {toml(f.hub_id)}',
            "",
            operation(
                "/api/catalogue/events/{event_id}/cancel",
                "POST",
                {"path.event_id": f.cancel_event_id},
            ),
            operation(
                "/api/catalogue/sessions/{session_id}/cancel",
                "POST",
                {"path.session_id": f.cancel_session_id},
            ),
            operation(
                "/api/mentoring/mentors/{user_id}",
                "PUT",
                {"path.user_id": f.mentoring["mentor_id"]},
            ),
            operation(
                "/calendar/mentoring/{token}.ics",
                "GET",
                {"path.token": f.mentoring[f"{_feed_owner(f.role)}_feed_token"]},
            ),
            operation(
                "/api/mentoring/calendar-feeds/{feed_id}",
                "DELETE",
                {"path.feed_id": f.mentoring[f"{_feed_owner(f.role)}_feed_id"]},
                # A hub lead has no caseload feed and may revoke nobody's (404 each time).
                enabled=f.role != "hub_lead",
            ),
            operation(
                "/api/budget/hubs/{hub_id}/transfers/{transfer_id}/reverse",
                "POST",
                {"path.transfer_id": f.reverse_transfer_id},
            ),
            # Stripe's webhook: anything without Stripe's signature is refused (400) by
            # design, and generated requests cannot carry one; tests/bookings/
            # test_payments.py and tests/e2e/test_payments_flow.py cover it instead.
            operation("/api/bookings/stripe/webhook", "POST", {}, enabled=False),
            operation("/api/auth/confirm-email", "GET", {"query.token": f.confirm_token}),
            operation("/api/auth/confirm-email", "POST", {"query.token": f.confirm_token}),
            operation(
                "/api/auth/logout",
                "POST",
                {},
                headers={"Authorization": f"Bearer {f.logout_token}"},
            ),
        ]
    )


@dataclass
class RunResult:
    role: str
    returncode: int
    output: str

    def figure(self, label: str) -> str:
        found = re.search(rf"{label}[^\n]*", self.output)
        return found.group(0).strip() if found else f"{label} ?"


def run_role(url: str, role: str, f: Fixtures, workdir: Path) -> RunResult:
    workdir.mkdir()
    config = workdir / "schemathesis.toml"
    config.write_text(fuzz_config(f))
    st = Path(sys.executable).with_name("st")
    cmd = [
        str(st),
        "--config-file",
        str(config),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--max-time",
        str(MAX_SECONDS),
        # No "examples" phase: the coverage phase reaches every operation with values
        # from the same schemas, and the 4 roles' examples cost ~40 s of CPU in CI.
        "--phases",
        "coverage,fuzzing",
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        # One thread: Hypothesis describes filters by parsing lambdas with `ast`, which
        # CPython 3.11 can fail at from two threads ("AST constructor recursion depth
        # mismatch"); the four roles already run side by side.
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "-H",
        f"Authorization: Bearer {f.token}",
        "--no-color",
    ]
    if os.environ.get("EYHUB_FUZZ_REPORT"):  # every request and answer, to look into a run
        cmd += ["--report", "ndjson", "--report-dir", str(workdir / "report")]
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SCHEMATHESIS_HOOKS": "tests.e2e.fuzz_hooks",
        "EYHUB_FUZZ_BODIES": json.dumps(fuzz_bodies(f)),
    }
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=MAX_SECONDS * 4, cwd=workdir, env=env
    )
    (workdir / "output.txt").write_text(done.stdout + done.stderr)  # the whole run, to read
    return RunResult(role, done.returncode, done.stdout + done.stderr)


@pytest.mark.parametrize("platform", ["embedded"], indirect=True)
def test_no_server_errors_and_responses_match_the_schema_for_every_role(
    platform: Platform, tmp_path: Path
) -> None:
    fuzz_platform = platform
    fixtures = {
        role: f for role, f in prepare(fuzz_platform).items() if EVERY_ROLE or role in CI_ROLES
    }
    with ThreadPoolExecutor(len(fixtures)) as pool:
        results = list(
            pool.map(
                lambda role: run_role(fuzz_platform.url, role, fixtures[role], tmp_path / role),
                fixtures,
            )
        )
    for r in results:
        print(f"{r.role}: {r.figure('Tested:')}; {r.figure('Test cases:')}", r.figure("generated"))
    for r in results:
        assert r.returncode == 0, (
            f"{r.role}:\n" + r.output[-8000:] + "\n" + fuzz_platform.log_tail(40)
        )
        assert "Tested:" in r.output and " passed" in r.output, r.output[-3000:]
        selected = re.search(r"Selected:\s+(\d+)/", r.output)
        tested = re.search(r"Tested:\s+(\d+)", r.output)
        assert selected and tested, r.output[-3000:]
        # Every selected operation reached, not cut short by the time limit.
        assert tested.group(1) == selected.group(1), f"{r.role}: " + r.output[-3000:]
        assert "WARNINGS" not in r.output, f"{r.role}:\n" + r.output[-6000:]
