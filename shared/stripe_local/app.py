"""The Flask app: API-key auth, parameter decoding, injected failures and Idempotency-Key
handling around every ``/v1`` request, and Stripe's error bodies.

The order per ``/v1`` request is Stripe's: authenticate (401), then an injected failure if
one matches (it is not saved under the Idempotency-Key, as if Stripe failed before the
endpoint ran, so the SDK's or the product's retry with the same key can succeed), then
replay or reject a known Idempotency-Key, then the endpoint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from shared.stripe_local import balance, checkout, controls, payments, refunds, webhooks
from shared.stripe_local.errors import (
    StripeError,
    authentication,
    idempotency_in_flight,
    idempotency_mismatch,
    invalid_param,
    unrecognized_url,
)
from shared.stripe_local.forms import Params, decode, parse_query
from shared.stripe_local.responses import json_response
from shared.stripe_local.runtime import API_VERSION, Config, Runtime, current
from shared.stripe_local.store import new_id


def create_app(config: Config | None = None) -> Flask:
    """The stand-in as a WSGI app; its threads start unless ``config.background`` is off."""
    config = config or Config()
    app = Flask(__name__)
    runtime = Runtime(config)
    app.extensions["stripe_local"] = runtime
    for module in (checkout, payments, refunds, balance, webhooks, controls):
        app.register_blueprint(module.bp)
    app.before_request(_before_request)
    app.after_request(_after_request)
    app.teardown_request(_teardown_request)
    app.register_error_handler(StripeError, error_response)
    app.register_error_handler(HTTPException, _http_error)
    if config.background:
        runtime.start()
    return app


# -- errors ---------------------------------------------------------------------------------


def error_response(error: StripeError) -> Response:
    if error.validation:
        g.skip_idempotent_save = True
    response = json_response(error.body(), error.status)
    response.headers.update(error.headers)
    return response


# -- the request pipeline -----------------------------------------------------------------


def _mask(key: str) -> str:
    """Stripe's way of naming a bad key: its prefix and last four characters."""
    head = key[: key.find("_", 3) + 1] if key.count("_") >= 2 else key[:3]
    tail = key[len(head) :]
    return head + ("*" * (len(tail) - 4) + tail[-4:] if len(tail) > 4 else "****")


def _api_key() -> str:
    header = request.headers.get("Authorization", "")
    key = ""
    if header.startswith("Bearer "):
        key = header[len("Bearer ") :].strip()
    elif header.startswith("Basic "):
        try:
            key = base64.b64decode(header[len("Basic ") :]).decode().split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
    if not key:
        raise authentication(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
            "or we can help at https://support.stripe.com/."
        )
    if not key.startswith("sk_test_") or len(key) == len("sk_test_"):
        raise authentication(f"Invalid API Key provided: {_mask(key)}")
    return key


def _injected_failure() -> StripeError | None:
    """Pop the first ``fail_next`` rule matching this request, as its Stripe error."""
    store = current().store
    with store.tx():
        rules: list[dict[str, Any]] = store.setting("fail_next", [])
        for i, rule in enumerate(rules):
            method = (rule.get("method") or request.method).upper()
            if method == request.method and request.path.startswith(rule.get("path", "/")):
                del rules[i]
                store.set_setting("fail_next", rules)
                headers = {}
                if rule.get("should_retry") is not None:
                    headers["Stripe-Should-Retry"] = str(bool(rule["should_retry"])).lower()
                return StripeError(
                    int(rule.get("status", 500)),
                    rule.get("type", "api_error"),
                    rule.get("message") or "An unknown error occurred",
                    code=rule.get("code"),
                    param=rule.get("param"),
                    validation=True,
                    headers=headers,
                )
    return None


def _before_request() -> Response | None:
    if not request.path.startswith("/v1/"):
        return None
    g.api_request = True
    g.request_id = new_id("req_", 14)
    g.api_key = _api_key()
    pairs = parse_query(request.query_string)
    if request.method == "POST":
        pairs += parse_query(request.get_data(cache=True))
    g.params = Params(decode(pairs))
    failure = _injected_failure()
    if failure is not None:
        raise failure
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return None
    if len(key) > 255:
        raise invalid_param("Idempotency-Key must be at most 255 characters.", "Idempotency-Key")
    fingerprint = hashlib.sha256(
        json.dumps([request.method, request.path, g.params.data], sort_keys=True).encode()
    ).hexdigest()
    saved = current().store.idempotent_result(g.api_key, key)
    if saved is not None:
        saved_fingerprint, status, body, original_request = saved
        if saved_fingerprint != fingerprint:
            raise idempotency_mismatch(key)
        g.replayed = True
        response = Response(body, status, mimetype="application/json")
        response.headers["Idempotent-Replayed"] = "true"
        response.headers["Original-Request"] = original_request
        response.headers["Idempotency-Key"] = key
        return response
    rt = current()
    with rt.in_flight_lock:
        if (g.api_key, key) in rt.in_flight:
            raise idempotency_in_flight(key)
        rt.in_flight.add((g.api_key, key))
    g.idempotency_key = key
    g.fingerprint = fingerprint
    return None


def _after_request(response: Response) -> Response:
    if not g.get("api_request"):
        return response
    response.headers["Request-Id"] = g.request_id
    response.headers["Stripe-Version"] = request.headers.get("Stripe-Version", API_VERSION)
    key = g.get("idempotency_key")
    if key and not g.get("replayed"):
        response.headers["Idempotency-Key"] = key
        if not g.get("skip_idempotent_save"):
            current().store.save_idempotent_result(
                g.api_key,
                key,
                g.fingerprint,
                response.status_code,
                response.get_data(as_text=True),
                g.request_id,
            )
    return response


def _teardown_request(_exc: BaseException | None) -> None:
    key = g.get("idempotency_key")
    if key:
        rt = current()
        with rt.in_flight_lock:
            rt.in_flight.discard((g.get("api_key"), key))


def _http_error(error: HTTPException) -> Response:
    """Unknown routes and methods: Stripe's JSON for the API and the controls."""
    if error.code in (404, 405):
        if request.path.startswith("/pay/"):
            return checkout.not_found_page()
        return error_response(unrecognized_url(request.method, request.path))
    status = error.code or 500
    message = "An unknown error occurred" if status >= 500 else (error.description or "Error")
    return error_response(StripeError(status, "api_error", message))
