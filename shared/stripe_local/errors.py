"""Stripe's error objects, so the SDK raises the same typed exceptions it raises in production.

The SDK picks the exception class from the HTTP status (400/404 -> InvalidRequestError, or
IdempotencyError when ``type`` is ``idempotency_error``; 401 -> AuthenticationError; 402 ->
CardError; 403 -> PermissionError; 429 -> RateLimitError; anything else -> APIError) and
reads ``message``, ``code`` and ``param`` from the body's ``error`` object.
"""

from __future__ import annotations

from typing import Any

DOC_BASE = "https://stripe.com/docs/error-codes/"


class StripeError(Exception):
    """An API error answered as ``{"error": {...}}`` with ``status``.

    ``validation`` marks errors found before the endpoint started executing (bad or missing
    parameters): Stripe does not save those under an Idempotency-Key, so a corrected retry
    with the same key runs instead of replaying the error."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        validation: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.validation = validation
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = DOC_BASE + self.code.replace("_", "-")
        error["message"] = self.message
        if self.param:
            error["param"] = self.param
        error["type"] = self.type
        return {"error": error}


def invalid_request(
    message: str,
    param: str | None = None,
    *,
    code: str | None = None,
    status: int = 400,
    validation: bool = False,
) -> StripeError:
    """A 400 ``invalid_request_error`` raised by endpoint logic (saved for idempotency)."""
    return StripeError(
        status, "invalid_request_error", message, code=code, param=param, validation=validation
    )


def invalid_param(message: str, param: str, *, code: str = "parameter_invalid") -> StripeError:
    """A bad parameter value: raised before the endpoint runs, so not saved for idempotency."""
    return invalid_request(message, param, code=code, validation=True)


def missing_param(param: str) -> StripeError:
    return invalid_request(
        f"Missing required param: {param}.", param, code="parameter_missing", validation=True
    )


def unknown_param(param: str) -> StripeError:
    return invalid_request(
        f"Received unknown parameter: {param}", param, code="parameter_unknown", validation=True
    )


def resource_missing(object_type: str, object_id: str, param: str = "id") -> StripeError:
    """Stripe's 404 for an unknown id (400 when the id came in a body parameter, as Stripe)."""
    status = 404 if param == "id" else 400
    return invalid_request(
        f"No such {object_type}: '{object_id}'", param, code="resource_missing", status=status
    )


def unrecognized_url(method: str, path: str) -> StripeError:
    return invalid_request(
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
        status=404,
        validation=True,
    )


def authentication(message: str) -> StripeError:
    return StripeError(401, "authentication_error", message, validation=True)


def idempotency_mismatch(key: str) -> StripeError:
    return StripeError(
        400,
        "idempotency_error",
        "Keys for idempotent requests can only be used with the same parameters they were "
        f"first used with. Try using a key other than '{key}' if you meant to execute a "
        "different request.",
        validation=True,
    )


def idempotency_in_flight(key: str) -> StripeError:
    return StripeError(
        409,
        "idempotency_error",
        f"There is currently another in-progress request using this Idempotent Key: {key}. "
        "Please try again later.",
        validation=True,
    )
