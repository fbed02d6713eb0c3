"""Health endpoints of every component (shared/health.py) and how `eyhub up` waits on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from eyhub import supervisor
from shared.config import COMPONENTS, ConfigError, load_settings
from shared.health import NotReady, add_deep_check
from shared.web import create_component_app
from tests.support.backends import METRICS_AUTH, Backend


def _app(backend: Backend, **env: str):  # type: ignore[no-untyped-def]
    return create_component_app("catalogue", title="t", settings=backend.settings(**env))


def test_metrics_need_the_configured_token(embedded: Backend) -> None:
    client = _app(embedded).test_client()
    bare = client.get("/metrics")
    assert bare.status_code == 401
    assert bare.mimetype == "application/problem+json"
    assert bare.headers["WWW-Authenticate"] == 'Bearer realm="eyhub-metrics"'
    assert client.get("/metrics", headers={"Authorization": "Basic eA=="}).status_code == 401
    wrong = {"Authorization": "Bearer suite-metrics-token-not-a-secreT"}
    assert client.get("/metrics", headers=wrong).status_code == 401
    ok = client.get("/metrics", headers=METRICS_AUTH)
    assert ok.status_code == 200
    assert ok.mimetype == "text/plain"


def test_metrics_are_not_served_without_a_token(embedded: Backend) -> None:
    client = _app(embedded, EYHUB_METRICS_TOKEN="").test_client()
    assert client.get("/metrics", headers=METRICS_AUTH).status_code == 404
    assert client.get("/healthz").status_code == 200  # probes stay open


def test_a_short_metrics_token_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="EYHUB_METRICS_TOKEN"):
        load_settings({"EYHUB_DATA_DIR": str(tmp_path), "EYHUB_METRICS_TOKEN": "secret"})
    assert load_settings({"EYHUB_DATA_DIR": str(tmp_path)}).metrics_token is None


def test_deep_checks_run_only_when_asked(embedded: Backend) -> None:
    app = _app(embedded)
    calls: list[str] = []

    def upstream() -> dict[str, Any]:
        calls.append("deep")
        raise NotReady("not ready: elsewhere (503)", {"elsewhere": {"status": 503}})

    add_deep_check(app.extensions["eyhub"], "elsewhere", upstream)
    client = app.test_client()
    shallow = client.get("/readyz")
    assert shallow.status_code == 200
    assert "elsewhere" not in shallow.get_json()["checks"] and not calls
    deep = client.get("/readyz?deep=1")
    assert deep.status_code == 503
    assert deep.get_json()["checks"]["elsewhere"] == {
        "ok": False,
        "error": "not ready: elsewhere (503)",
        "elsewhere": {"status": 503},
    }


class _Answer:
    def __init__(self, status_code: int, body: Any) -> None:
        self.status_code = status_code
        self.body = body

    def json(self) -> Any:
        if isinstance(self.body, str):
            raise ValueError("not JSON")
        return self.body


@pytest.mark.parametrize(
    ("down", "how"),
    [
        (None, ""),
        *((c, "refused") for c in COMPONENTS),
        ("bookings", "foreign"),
        ("budget", "html"),
    ],
)
def test_eyhub_up_is_ready_only_when_every_components_own_readyz_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, down: str | None, how: str
) -> None:
    """The gateway's /readyz no longer covers the services, so `eyhub up` (and the test
    platform, which waits for its "ready" line) must poll each component's own port, and
    take only that component's answer (another program on its port is not it)."""
    settings = load_settings({"EYHUB_DATA_DIR": str(tmp_path), "EYHUB_PORT_BASE": "18080"})
    polled: list[str] = []
    by_url = {f"http://127.0.0.1:{settings.port(c)}/readyz": c for c in COMPONENTS}

    def get(url: str, timeout: float) -> _Answer:
        polled.append(url)
        if down is not None and url == f"http://127.0.0.1:{settings.port(down)}/readyz":
            if how == "refused":
                raise requests.ConnectionError("refused")
            if how == "foreign":  # an eyhub component, but another one
                return _Answer(200, {"status": "ready", "component": "catalogue"})
            return _Answer(200, "<html>someone else's server</html>")
        if url in by_url:
            return _Answer(200, {"status": "ready", "component": by_url[url]})
        return _Answer(200, {"ok": True})  # the Stripe stand-in

    monkeypatch.setattr(supervisor.requests, "get", get)
    if down is None:  # all ready on the first round: no waiting
        assert supervisor._wait_ready(settings, [], 60, lambda: False) is None
    else:
        with pytest.raises(TimeoutError, match=f"not ready after 0s: {down}$"):
            supervisor._wait_ready(settings, [], 0, lambda: False)
    # Without a Stripe key the local stand-in is part of the platform: waited for too.
    assert sorted(polled) == sorted(
        [f"http://127.0.0.1:{settings.port(c)}/readyz" for c in COMPONENTS]
        + ["http://127.0.0.1:18085/_stripe_local/healthz"]
    )
