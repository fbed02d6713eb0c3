"""The web pages' API client: the public HTTP API at the gateway's own URL, nothing else.

Every call goes to ``settings.gateway_url`` + ``/api/...`` with the signed-in user's
bearer token (as any other client would), so the pages see exactly what the API allows
that user, and the services' own rules, limits and logs apply. ``parallel`` runs a
page's independent calls at once on a small shared thread pool: a page costs one round
of calls, not one per item.
"""

from __future__ import annotations

import contextvars
import secrets
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter

from gateway.limits import WEB_CLIENT_HEADER

T = TypeVar("T")

#: Calls a page makes at once, across every request of this process.
POOL_SIZE = 8
TIMEOUT = (3.0, 30.0)

_http = requests.Session()
_http.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=32))
_http.mount("https://", HTTPAdapter(pool_connections=4, pool_maxsize=32))
_http.trust_env = False  # never through an HTTP(S)_PROXY: this is a call to ourselves
_pool = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="eyhub-web-api")
#: The round of calls a call belongs to: calls made together by ``parallel`` share one,
#: so the gateway's access log shows which calls a page made at once (bench/pages.py).
_round: contextvars.ContextVar[str | None] = contextvars.ContextVar("web_api_round", default=None)


class ApiError(Exception):
    """A non-2xx answer: its status and problem document (title, detail, errors)."""

    def __init__(self, status: int, problem: dict[str, Any] | None = None) -> None:
        self.status = status
        self.problem = problem or {}
        super().__init__(f"{status}: {self.detail}")

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self.problem.get("title") or "Error")

    @property
    def kind(self) -> str:
        """The problem's ``type`` without its ``urn:eyhub:problem:`` prefix."""
        return str(self.problem.get("type") or "").rsplit(":", 1)[-1]

    @property
    def errors(self) -> dict[str, Any]:
        errs = self.problem.get("errors")
        return errs if isinstance(errs, dict) else {}

    @property
    def retry_after(self) -> int | None:
        value = self.problem.get("retry_after")
        return int(value) if isinstance(value, int | float) else None


class Api:
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        request_id: str | None = None,
        client: str | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.request_id = request_id
        #: ``X-Eyhub-Web-Client``: the browser's address, vouched for (gateway/limits.py)
        self.client = client

    def with_token(self, token: str | None) -> Api:
        return Api(self.base_url, token, self.request_id, self.client)

    def _headers(self, accept: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        sent = {"Accept": accept, **(extra or {})}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        if self.client:
            sent[WEB_CLIENT_HEADER] = self.client
        if self.request_id:
            # The page's id, suffixed with the call's round and its own id: each call is
            # its own request, all correlated, and those made at once share a round.
            batch = _round.get() or secrets.token_hex(2)
            sent["X-Request-ID"] = f"{self.request_id}.{batch}-{uuid.uuid4().hex[:8]}"
        return sent

    def _send(self, method: str, path: str, **kw: Any) -> requests.Response:
        try:
            return _http.request(
                method, self.base_url + path, timeout=TIMEOUT, allow_redirects=False, **kw
            )
        except requests.RequestException as exc:
            raise ApiError(503, {"title": "Service unavailable", "detail": str(exc)}) from exc

    def download(self, path: str, accept: str, **params: Any) -> requests.Response:
        """A non-JSON answer (a CSV export), as it came; ApiError if not a 2xx."""
        clean = {k: v for k, v in params.items() if v not in (None, "")}
        resp = self._send("GET", path, params=clean, headers=self._headers(accept))
        if not 200 <= resp.status_code < 300:
            raise _error(resp)
        return resp

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The decoded JSON body of a 2xx answer (None when empty); ApiError otherwise."""
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        resp = self._send(
            method,
            path,
            params=clean,
            json=json,
            headers=self._headers("application/json", headers),
        )
        if 200 <= resp.status_code < 300:
            return resp.json() if resp.content else None
        raise _error(resp)

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params)

    def post(self, path: str, json: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.call("POST", path, json=json if json is not None else {}, headers=headers)

    def delete(self, path: str) -> Any:
        return self.call("DELETE", path)


def _error(resp: requests.Response) -> ApiError:
    """The answer's problem document as an ApiError (with Retry-After when sent)."""
    try:
        problem = resp.json()
    except ValueError:
        problem = {"title": resp.reason}
    if not isinstance(problem, dict):
        problem = {"title": resp.reason}
    if "Retry-After" in resp.headers and resp.headers["Retry-After"].isdigit():
        problem["retry_after"] = int(resp.headers["Retry-After"])
    return ApiError(resp.status_code, problem)


def parallel(*calls: Callable[[], T]) -> list[T]:
    """Run independent calls at once; their results in order (the first error raised)."""
    if len(calls) == 1:
        return [calls[0]()]
    batch = secrets.token_hex(2)

    def in_round(call: Callable[[], T]) -> T:
        _round.set(batch)  # each pool task runs in a copy of the caller's context
        return call()

    futures = [_pool.submit(contextvars.copy_context().run, in_round, c) for c in calls]
    return [f.result() for f in futures]
