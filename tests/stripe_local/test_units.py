"""In-process checks of the pieces: the form decoding the SDK's encoding needs, fees and
amounts, the signature (against the SDK's own), the CLI's flags and environment, and the
app under Flask's test client (no threads)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
import stripe
from stripe._encode import _api_encode

from shared.stripe_local import Config, create_app
from shared.stripe_local.__main__ import parse_args
from shared.stripe_local.balance import card_fee
from shared.stripe_local.checkout import format_amount
from shared.stripe_local.errors import StripeError
from shared.stripe_local.forms import Params, decode, parse_query
from shared.stripe_local.webhooks import sign


def _sdk_round_trip(params: dict[str, Any]) -> dict[str, Any]:
    """Encode as the SDK does (stripe/_api_requestor.py) and decode as the server does."""
    encoded = urlencode(list(_api_encode(params))).replace("%5B", "[").replace("%5D", "]")
    return decode(parse_query(encoded))


def test_the_sdks_encoding_decodes_back_to_the_same_shape() -> None:
    params = {
        "line_items": [
            {"price_data": {"currency": "gbp", "unit_amount": 4500}, "quantity": 1},
            {"price_data": {"currency": "gbp", "unit_amount": 10}, "quantity": 2},
        ],
        "metadata": {"0": "numeric key stays a key", "booking_id": "b&=1 [x]"},
        "expand": ["payment_intent", "line_items"],
        "created": {"gte": 1, "lt": 2},
        "flag": True,
    }
    assert _sdk_round_trip(params) == {
        "line_items": [
            {"price_data": {"currency": "gbp", "unit_amount": "4500"}, "quantity": "1"},
            {"price_data": {"currency": "gbp", "unit_amount": "10"}, "quantity": "2"},
        ],
        "metadata": {"0": "numeric key stays a key", "booking_id": "b&=1 [x]"},
        "expand": ["payment_intent", "line_items"],
        "created": {"gte": "1", "lt": "2"},
        "flag": "true",
    }


def test_empty_brackets_append_and_conflicts_are_errors() -> None:
    assert decode([("expand[]", "a"), ("expand[]", "b")]) == {"expand": ["a", "b"]}
    with pytest.raises(StripeError) as conflict:
        decode([("a", "1"), ("a[b]", "2")])
    assert conflict.value.param == "a"
    with pytest.raises(StripeError):
        decode([("a[b]", "1"), ("a", "2")])


def test_params_convert_and_name_what_is_wrong() -> None:
    params = Params({"n": "12", "bad": "1.5", "when": {"gte": "5"}, "md": {"k": "v", "gone": ""}})
    assert params.integer("n", minimum=1) == 12
    assert params.timestamps("when") == {"gte": 5}
    assert params.metadata("md") == {"k": "v"}
    with pytest.raises(StripeError) as bad:
        params.integer("bad")
    assert (bad.value.param, bad.value.message) == ("bad", "Invalid integer: 1.5")
    with pytest.raises(StripeError) as missing:
        Params({}, "line_items[0]").string("name", required=True)
    assert missing.value.param == "line_items[0][name]" and missing.value.validation
    with pytest.raises(StripeError) as unknown:
        params.reject_unknown({"n"})
    assert unknown.value.message.startswith("Received unknown parameter: ")


def test_card_fee_and_amounts() -> None:
    assert [card_fee(a) for a in (4500, 1000, 100, 30, 2500, 0)] == [88, 35, 22, 20, 58, 20]
    assert format_amount(4500, "gbp") == "£45.00"
    assert format_amount(123456, "usd") == "$1,234.56"
    assert format_amount(500, "jpy") == "500 JPY"


def test_signature_is_the_sdks() -> None:
    payload = '{"id": "evt_1"}'
    header = sign(payload, "whsec_x", 1_700_000_000)
    expected = stripe.WebhookSignature.generate_signature_header(
        payload, "whsec_x", timestamp=1_700_000_000
    )
    assert header == expected


def test_cli_flags_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_LOCAL_PORT", "4242")
    monkeypatch.setenv("STRIPE_LOCAL_WEBHOOK_URL", "http://127.0.0.1:1/env")
    monkeypatch.setenv("STRIPE_LOCAL_WEBHOOK_SECRET", "whsec_env")
    args = parse_args(["--webhook-secret", "whsec_flag"])
    assert (args.port, args.webhook_url, args.webhook_secret) == (
        4242,
        "http://127.0.0.1:1/env",
        "whsec_flag",
    )
    assert args.state == ":memory:" and args.webhook_max_attempts == 8


def test_app_in_process_without_threads() -> None:
    app = create_app(Config(background=False, public_url="http://stripe.test"))
    web = app.test_client()
    auth = {"Authorization": "Bearer sk_test_unit"}
    body = (
        "mode=payment&line_items[0][price_data][currency]=gbp"
        "&line_items[0][price_data][unit_amount]=500"
        "&line_items[0][price_data][product_data][name]=Play"
        "&line_items[0][quantity]=2"
    )
    created = web.post(
        "/v1/checkout/sessions",
        data=body,
        headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert created.status_code == 200, created.json
    session = created.json
    assert session["amount_total"] == 1000
    assert session["url"] == f"http://stripe.test/pay/{session['id']}"
    assert "_line_items" not in session  # private fields stay inside
    basic = web.get(
        f"/v1/checkout/sessions/{session['id']}",
        headers={"Authorization": "Basic c2tfdGVzdF91bml0Og=="},  # sk_test_unit:
    )
    assert basic.status_code == 200
    wrong_method = web.delete(f"/v1/checkout/sessions/{session['id']}", headers=auth)
    assert wrong_method.status_code == 404
    assert wrong_method.json["error"]["type"] == "invalid_request_error"
    app.extensions["stripe_local"].store.close()
