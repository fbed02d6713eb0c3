"""Web pages: p50/p99 of the main pages through the gateway, against the API calls each
page makes, measured in the same run.

Starts the whole platform (``eyhub up --demo``, fresh data folder; PostgreSQL + RabbitMQ
when EYHUB_TEST_DATABASE_URL and EYHUB_TEST_BROKER_URL are set, the embedded default
otherwise) with access logs on, signs in through the sign-in form as each demo role, and
loads each page ``--rounds`` times with its own ``X-Request-ID``. The pages' API client
suffixes that id on every call it makes (gateway/web/client.py), so the gateway's access
log says, for each page load, which API calls it made, when each started and how long it
took. From that:

- ``api_ms``: the wall time the page spent waiting on the API (first call's start to last
  call's end) — the baseline the page is compared with;
- ``calls`` and ``rounds``: how many API calls a page load made, and in how many
  sequential rounds (the client tags the calls it makes at once with one round id). The
  aim (issue 14): one round a page, never one call per item;
- ``ratio``: page p50 / API p50 — what rendering and the web layer add.

    .venv/bin/python bench/pages.py [--quick] [--rounds 40]

The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gateway.demo import DEMO_PASSWORD, LEADS, MENTORS, PRACTITIONERS  # noqa: E402
from tests.support.backends import Backend, free_port_base, servers_configured  # noqa: E402
from tests.support.platform import Platform  # noqa: E402

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def say(msg: str) -> None:
    print(msg, flush=True)


def sign_in(base: str, email: str, password: str) -> requests.Session:
    """A browser-like session signed in through the form (cookie + CSRF token)."""
    web = requests.Session()
    form = web.get(f"{base}/sign-in", timeout=30)
    token = _CSRF.search(form.text)
    if not token:
        raise SystemExit("no CSRF token on /sign-in")
    answer = web.post(
        f"{base}/sign-in",
        data={"email": email, "password": password, "csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=30,
    )
    if answer.status_code != 302:
        raise SystemExit(f"signing in as {email} answered {answer.status_code}")
    return web


def pages(platform: Platform, admin: tuple[str, str]) -> list[tuple[str, str, str | None]]:
    """(name, path, login) for the main pages, with ids from the demo data."""
    sessions = platform.get("/api/catalogue/sessions", params={"limit": 1}).json()["items"]
    lead = f"{LEADS[0][1]}@example.org"
    token = platform.login(lead, DEMO_PASSWORD)
    hub = platform.get("/api/auth/me", token=token).json()["hub_ids"][0]
    practitioner = f"{PRACTITIONERS[0][1]}@example.org"
    mentor = f"{MENTORS[0][1]}@example.org"
    out: list[tuple[str, str, str | None]] = [
        ("home", "/", None),
        ("find_training", "/find-training?kind=network_meeting&format=in_person", None),
        ("session", f"/sessions/{sessions[0]['id']}", practitioner),
        ("my_bookings", "/my-bookings", practitioner),
        ("cpd_record", "/cpd-record", practitioner),
        ("mentoring", "/mentoring", practitioner),
        ("caseload", "/caseload", mentor),
        ("programme", f"/hubs/{hub}/programme", lead),
        ("hub_mentoring", f"/hubs/{hub}/mentoring", lead),
        ("budget", f"/hubs/{hub}/budget", lead),
        ("admin", "/admin", admin[0]),
    ]
    return out


def api_calls(log: Path, prefix: str) -> dict[str, list[tuple[float, float, str, str]]]:
    """The gateway's API calls by page load id: (start, end, path, round), from the
    access log (request ids ``<page's id>.<round>-<call>``)."""
    out: dict[str, list[tuple[float, float, str, str]]] = {}
    for line in log.read_text(errors="replace").splitlines():
        if prefix not in line or '"duration_ms"' not in line:
            continue
        try:
            entry = json.loads(line[line.index("{") :])
        except ValueError:
            continue
        rid = str(entry.get("request_id") or "")
        path = str(entry.get("path") or "")
        if entry.get("component") != "gateway" or not path.startswith("/api/"):
            continue
        page_id, _, suffix = rid.rpartition(".")
        if not page_id.startswith(prefix) or not suffix:
            continue
        end = datetime.fromisoformat(entry["ts"].replace("Z", "+00:00")).timestamp()
        start = end - float(entry["duration_ms"]) / 1000
        out.setdefault(page_id, []).append((start, end, path, suffix.partition("-")[0]))
    return out


def rounds(calls: list[tuple[float, float, str, str]]) -> int:
    """Sequential rounds of calls: the pages' client tags calls made at once with one
    round id (gateway/web/client.py ``parallel``), each call on its own with its own."""
    return len({batch for _start, _end, _path, batch in calls})


def pct(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="15 loads a page")
    parser.add_argument("--rounds", type=int, help="loads a page (default 40, quick 15)")
    parser.add_argument(
        "--show-calls", action="store_true", help="list the API calls of each page's last load"
    )
    args = parser.parse_args()
    n = args.rounds or (15 if args.quick else 40)

    kind = "server" if servers_configured() else "embedded"
    label = "PostgreSQL + RabbitMQ" if kind == "server" else "SQLite + filesystem broker"
    tmp = Path(tempfile.mkdtemp(prefix="eyhub-bench-pages-"))
    backend = Backend(kind, tmp / "data")
    backend.create()
    platform = Platform(
        backend,
        port_base=free_port_base(),
        extra_env={"EYHUB_RATE_LIMIT_API": "100000000/minute", "EYHUB_LOG_LEVEL": "INFO"},
    )
    settings = backend.settings(platform.port_base)
    admin = (settings.admin_email, settings.admin_password)
    figures: dict[str, Any] = {"backend": kind, "loads_a_page": n}
    try:
        say(f"pages on {label}: {n} loads a page after one warm-up")
        started = time.perf_counter()
        platform.start(demo=True)
        say(f"  platform up in {time.perf_counter() - started:.1f}s")
        logins: dict[str | None, requests.Session] = {None: requests.Session()}
        results: dict[str, dict[str, Any]] = {}
        missing: list[str] = []
        for name, path, login in pages(platform, admin):
            if login not in logins:
                password = admin[1] if login == admin[0] else DEMO_PASSWORD
                logins[login] = sign_in(platform.url, str(login), password)
            web = logins[login]
            warm = web.get(platform.url + path, timeout=60)
            if warm.status_code == 404:
                missing.append(name)
                continue
            if warm.status_code != 200:
                raise SystemExit(f"{path} answered {warm.status_code}")
            took = []
            for i in range(n):
                t = time.perf_counter()
                resp = web.get(
                    platform.url + path, headers={"X-Request-ID": f"bench.{name}.{i}"}, timeout=60
                )
                took.append(time.perf_counter() - t)
                if resp.status_code != 200:
                    raise SystemExit(f"{path} answered {resp.status_code}")
            results[name] = {"took": took}
        # The access log lines are written as the calls end: give the last ones a moment.
        deadline = time.monotonic() + 10
        calls: dict[str, list[tuple[float, float, str, str]]] = {}
        while time.monotonic() < deadline:
            assert platform.log_path is not None
            calls = api_calls(platform.log_path, "bench.")
            if all(f"bench.{name}.{n - 1}" in calls for name in results if name != "home"):
                break
            time.sleep(0.2)

        say(f"  {'page':<14} {'p50 ms':>7} {'p99 ms':>7} {'api p50':>8} {'calls':>6} {'rounds':>7}")
        for name, row in results.items():
            loads = [calls.get(f"bench.{name}.{i}", []) for i in range(n)]
            api = [(max(c[1] for c in cs) - min(c[0] for c in cs)) for cs in loads if cs]
            page_p50, page_p99 = pct(row["took"], 50) * 1000, pct(row["took"], 99) * 1000
            api_p50 = pct(api, 50) * 1000 if api else 0.0
            n_calls = max((len(cs) for cs in loads), default=0)
            n_rounds = max((rounds(cs) for cs in loads), default=0)
            figures[name] = {
                "p50_ms": round(page_p50, 1),
                "p99_ms": round(page_p99, 1),
                "api_p50_ms": round(api_p50, 1),
                "ratio": round(page_p50 / api_p50, 2) if api_p50 else None,
                "calls": n_calls,
                "rounds": n_rounds,
            }
            say(
                f"  {name:<14} {page_p50:7.1f} {page_p99:7.1f} {api_p50:8.1f} "
                f"{n_calls:6d} {n_rounds:7d}"
            )
            if args.show_calls and loads[-1]:
                first = min(c[0] for c in loads[-1])
                for start, end, path, batch in sorted(loads[-1]):
                    say(
                        f"      +{(start - first) * 1000:6.1f} ms {(end - start) * 1000:6.1f} ms"
                        f"  round {batch}  {path}"
                    )
        worst = max((f["rounds"] for k, f in figures.items() if isinstance(f, dict)), default=0)
        figures["max_rounds"] = worst
        figures["one_round_a_page"] = worst <= 1
        figures["missing_pages"] = missing
        if missing:
            say(f"  not built yet (404): {', '.join(missing)}")
    finally:
        platform.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
