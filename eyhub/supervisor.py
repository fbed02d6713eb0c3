"""``eyhub up``: the whole platform in the foreground, all or nothing.

Starts the gateway, the four services and their workers (the gateway's relays identity
events), and without a STRIPE_API_KEY the local Stripe stand-in, as child processes (each in
its own process group, so stopping one stops everything it forked), waits until every
HTTP component answers ``/readyz``, and prints where to go. If any child dies, ``up``
names it, stops the rest and exits non-zero: never a half-alive platform.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from eyhub.components import COMPONENTS
from shared.config import STRIPE_LOCAL_OFFSET, Settings
from shared.retry import Backoff


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def _say(msg: str) -> None:
    print(f"eyhub up: {msg}", flush=True)


def plan(settings: Settings) -> list[Child]:
    exe = [sys.executable, "-m", "eyhub"]
    children = [Child(c, [*exe, "serve", c]) for c in COMPONENTS]
    children += [Child(f"{c}-worker", [*exe, "worker", c]) for c in COMPONENTS]
    if settings.stripe_local:
        children.append(Child(STRIPE_LOCAL, stripe_local_argv(settings)))
    return children


#: The local Stripe stand-in's child name (started when no STRIPE_API_KEY is set).
STRIPE_LOCAL = "stripe-local"


def stripe_local_argv(settings: Settings) -> list[str]:
    """The stand-in on its port, its state in the data folder, webhooks to the gateway
    (as Stripe would send them: through the public route, signed with our secret)."""
    port = urlsplit(settings.stripe_api_base).port or settings.port_base + STRIPE_LOCAL_OFFSET
    return [
        sys.executable,
        "-m",
        "eyhub",
        "stripe-local",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--state",
        str(settings.data_dir / "stripe-local.sqlite3"),
        "--webhook-url",
        f"{settings.gateway_url}/api/bookings/stripe/webhook",
        "--webhook-secret",
        settings.webhook_secret(),
    ]


def _demo_activity(settings: Settings) -> None:
    """Card payments and funded places, made through the running platform's API."""
    from eyhub.demo_activity import play

    try:
        done = play(settings)
    except Exception as exc:  # the demo must never stop the platform
        _say(f"demo activity skipped: {exc}")
    else:
        _say("demo activity: " + ", ".join(f"{n} {what}" for what, n in done.items()))


def _ready_urls(settings: Settings) -> dict[str, str]:
    urls = {c: f"http://127.0.0.1:{settings.port(c)}/readyz" for c in COMPONENTS}
    if settings.stripe_local:
        urls[STRIPE_LOCAL] = f"{settings.stripe_api_base}/_stripe_local/healthz"
    return urls


def _stop_all(children: list[Child], timeout: float = 15.0) -> None:
    for child in children:
        if child.proc is not None and child.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        if child.proc is None:
            continue
        try:
            child.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _say(f"{child.name} did not stop in time; killing it")
        # Whatever the leader did, take down anything left in its group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.proc.pid, signal.SIGKILL)
        if child.proc.poll() is None:
            child.proc.wait(5)


def _answers_as(name: str, url: str) -> bool:
    """Ready, and the answer is this component's: another program holding its port (an
    old eyhub, anything else) must not pass for it."""
    try:
        answer = requests.get(url, timeout=2)
        body = answer.json() if answer.status_code == 200 else {}
    except (requests.RequestException, ValueError):
        return False  # not up yet, or not speaking our JSON
    if name == STRIPE_LOCAL:
        return body.get("ok") is True
    return isinstance(body, dict) and body.get("component") == name


def _wait_ready(
    settings: Settings, children: list[Child], timeout: float, stopping: Callable[[], bool]
) -> Child | None:
    """Poll every /readyz; return a child that died meanwhile, else None once all ready."""
    pending = _ready_urls(settings)
    deadline = time.monotonic() + timeout
    backoff = Backoff(base=0.05, cap=0.5)  # quick to notice readiness, gentle after
    while pending and not stopping():
        for child in children:
            if child.proc is not None and child.proc.poll() is not None:
                return child
        for name, url in list(pending.items()):
            if _answers_as(name, url):
                del pending[name]
        if time.monotonic() > deadline:
            raise TimeoutError(f"not ready after {timeout:.0f}s: {', '.join(sorted(pending))}")
        if pending:
            time.sleep(backoff.failed())
    return None


def up(
    settings: Settings,
    *,
    demo: bool = False,
    demo_activity: bool = True,
    ready_timeout: float = 90.0,
) -> int:
    from eyhub.components import check_wiring
    from shared.migrations import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _say(f"data in {settings.data_dir}; broker {settings.broker_url.split('@')[-1]}")
    try:
        check_wiring(settings)
    except LookupError as exc:
        _say(str(exc))
        return 1
    _say("applying migrations")
    for component, c in COMPONENTS.items():
        upgrade(component, settings, c.migrations)
    if demo:
        from eyhub.demo import seed_demo

        _say("loading demo data")
        seed_demo(settings)

    env = {**os.environ, "EYHUB_AUTO_MIGRATE": "false", "PYTHONUNBUFFERED": "1"}
    children = plan(settings)
    stopping = False

    def _on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    old_term = signal.signal(signal.SIGTERM, _on_signal)
    old_int = signal.signal(signal.SIGINT, _on_signal)
    try:
        for child in children:
            child.proc = subprocess.Popen(child.argv, env=env, start_new_session=True)
        _say(f"started {len(children)} processes; waiting until every service is ready")
        try:
            dead = _wait_ready(settings, children, ready_timeout, lambda: stopping)
        except TimeoutError as exc:
            _say(str(exc))
            return 1
        if dead is not None:
            _say(f"{dead.name} exited with code {dead.proc.returncode} during start; stopping")  # type: ignore[union-attr]
            return 1
        if stopping:
            _say("stopping before everything was ready")
            return 0
        _say(f"ready: {settings.public_url}  (API docs {settings.public_url}/docs)")
        if settings.stripe_local:
            _say(
                f"card payments: the local Stripe stand-in at {settings.stripe_api_base} "
                "(set STRIPE_API_KEY for real Stripe; README, 'Card payments')"
            )
        if demo:
            from eyhub.demo import DEMO_LOGINS

            _say("demo logins (role, email, password):")
            for role, email, password in DEMO_LOGINS:
                print(f"    {role:<14} {email:<40} {password}", flush=True)
            if demo_activity:
                threading.Thread(target=_demo_activity, args=(settings,), daemon=True).start()
        _say("Ctrl-C stops everything")
        while not stopping:
            for child in children:
                if child.proc is not None and child.proc.poll() is not None:
                    code = child.proc.returncode
                    _say(f"{child.name} exited unexpectedly (code {code}); stopping the rest")
                    return 1
            time.sleep(0.3)
        _say("stopping")
        return 0
    finally:
        _stop_all(children)
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)
        _say("stopped")
