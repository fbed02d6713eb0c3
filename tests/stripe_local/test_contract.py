"""The contract: every Stripe call bookings and budget make, through the real SDK (stripe
16.1.0) against the real stripe-local process, parses into the SDK's typed objects with
the fields the product reads; errors surface as the SDK's typed exceptions."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
import requests
import stripe

from shared.stripe_local import API_VERSION
from tests.stripe_local.conftest import SECRET, SessionFactory, checkout_params
from tests.support.stripe_local import ControlError, StripeLocal, WebhookReceiver

# One stripe-local process per module: under xdist its tests stay on one worker.
pytestmark = pytest.mark.xdist_group("stripe_local_contract")


def test_the_servers_api_version_is_the_sdks() -> None:
    assert stripe.api_version == API_VERSION


# -- Checkout Sessions ----------------------------------------------------------------------


def test_create_checkout_session_as_the_product_does(
    client: stripe.StripeClient, stripe_local: StripeLocal
) -> None:
    params = checkout_params(amount=4500)
    before = int(time.time())
    session = client.v1.checkout.sessions.create(
        params=params, options={"idempotency_key": f"k-{uuid.uuid4()}"}
    )
    assert isinstance(session, stripe.checkout.Session)
    assert re.fullmatch(r"cs_test_[A-Za-z0-9]{20,}", session.id)
    assert session.object == "checkout.session"
    assert (session.status, session.payment_status, session.mode) == ("open", "unpaid", "payment")
    assert (session.amount_total, session.amount_subtotal, session.currency) == (4500, 4500, "gbp")
    assert session.client_reference_id == params["client_reference_id"]
    assert session.customer_email == "parent@example.org"
    assert session.metadata.to_dict() == params["metadata"]
    assert session.payment_intent is None
    assert session.success_url == params["success_url"]
    assert session.cancel_url == params["cancel_url"]
    assert session.expires_at == params["expires_at"]
    assert session.url == f"{stripe_local.api_base}/pay/{session.id}"
    assert session.livemode is False
    assert before - 1 <= session.created <= int(time.time()) + 1


def test_retrieve_session_plain_and_with_the_payment_intent_expanded(
    client: stripe.StripeClient, new_session: SessionFactory, stripe_local: StripeLocal
) -> None:
    session = new_session(amount=3000)
    paid = stripe_local.pay(session.id)
    assert (paid["status"], paid["payment_status"]) == ("complete", "paid")
    plain = client.v1.checkout.sessions.retrieve(session.id)
    assert isinstance(plain.payment_intent, str) and plain.payment_intent.startswith("pi_")
    assert plain.url is None  # only while open, as on Stripe
    expanded = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent"]}
    )
    intent = expanded.payment_intent
    assert isinstance(intent, stripe.PaymentIntent)
    assert intent.id == plain.payment_intent
    assert (intent.amount, intent.currency, intent.status) == (3000, "gbp", "succeeded")
    assert intent.metadata.to_dict() == session.metadata.to_dict()
    assert intent.latest_charge.startswith("ch_")


def test_payment_intent_and_charge(
    client: stripe.StripeClient, paid_session: SessionFactory
) -> None:
    session = paid_session(amount=4500)
    intent = client.v1.payment_intents.retrieve(session.payment_intent.id)
    assert isinstance(intent, stripe.PaymentIntent)
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert isinstance(charge, stripe.Charge)
    assert charge.amount == charge.amount_captured == 4500
    assert (charge.amount_refunded, charge.refunded, charge.paid) == (0, False, True)
    assert (charge.status, charge.currency, charge.payment_intent) == (
        "succeeded",
        "gbp",
        intent.id,
    )
    assert charge.balance_transaction.startswith("txn_")
    assert charge.metadata.to_dict() == intent.metadata.to_dict()
    assert isinstance(charge.refunds, stripe.ListObject) and charge.refunds.data == []
    txn = client.v1.balance_transactions.retrieve(charge.balance_transaction)
    assert (txn.amount, txn.fee, txn.net, txn.type, txn.source) == (
        4500,
        88,
        4412,
        "charge",
        charge.id,
    )


def test_expires_at_must_be_30_minutes_to_24_hours_out(new_session: SessionFactory) -> None:
    now = int(time.time())
    for too_soon_or_late in (now + 29 * 60, now + 24 * 3600 + 60):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            new_session(expires_at=too_soon_or_late)
        assert caught.value.param == "expires_at"
        assert caught.value.http_status == 400
    assert new_session(expires_at=now + 31 * 60).status == "open"
    assert new_session(expires_at=now + 23 * 3600).status == "open"
    default = new_session(expires_at=None)
    assert default.expires_at - default.created == 24 * 3600


def test_expire_an_open_session_then_not_again(
    client: stripe.StripeClient, new_session: SessionFactory, receiver: WebhookReceiver
) -> None:
    session = new_session()
    expired = client.v1.checkout.sessions.expire(
        session.id, options={"idempotency_key": f"expire-{session.id}"}
    )
    assert isinstance(expired, stripe.checkout.Session)
    assert (expired.status, expired.payment_status, expired.url) == ("expired", "unpaid", None)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.expire(session.id)
    assert caught.value.user_message.endswith("has a status of `expired`.")
    (hook,) = receiver.wait_for(session.id, "checkout.session.expired")
    assert hook.event["data"]["object"]["status"] == "expired"


def test_expire_a_complete_session_is_refused(
    client: stripe.StripeClient, paid_session: SessionFactory
) -> None:
    session = paid_session()
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.expire(session.id)
    assert caught.value.http_status == 400
    assert caught.value.user_message == (
        'Only Checkout Sessions with a status in ["open"] can be expired. '
        "This Checkout Session has a status of `complete`."
    )
    assert client.v1.checkout.sessions.retrieve(session.id).status == "complete"


def test_unknown_or_bad_parameters_name_the_parameter(client: stripe.StripeClient) -> None:
    cases = [
        ({k: v for k, v in checkout_params().items() if k != "mode"}, "mode"),
        (checkout_params(colour="red"), "colour"),
        (checkout_params(expires_at="soon"), "expires_at"),
        (checkout_params(customer_email="not-an-email"), "customer_email"),
        (checkout_params(success_url="nowhere"), "success_url"),
    ]
    bad_quantity = checkout_params()
    bad_quantity["line_items"][0]["quantity"] = 0
    cases.append((bad_quantity, "line_items[0][quantity]"))
    no_name = checkout_params()
    no_name["line_items"][0]["price_data"]["product_data"]["name"] = ""
    cases.append((no_name, "line_items[0][price_data][product_data][name]"))
    for params, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.checkout.sessions.create(params=params)
        assert (caught.value.param, caught.value.http_status) == (param, 400)


# -- errors -------------------------------------------------------------------------------


def test_unknown_id_is_a_404_resource_missing(client: stripe.StripeClient) -> None:
    lookups = [
        (client.v1.checkout.sessions.retrieve, "cs_test_nope", "checkout.session"),
        (client.v1.payment_intents.retrieve, "pi_nope", "payment_intent"),
        (client.v1.charges.retrieve, "ch_nope", "charge"),
        (client.v1.refunds.retrieve, "re_nope", "refund"),
    ]
    for retrieve, object_id, kind in lookups:
        with pytest.raises(stripe.InvalidRequestError) as caught:
            retrieve(object_id)
        error = caught.value
        assert (error.http_status, error.code, error.param) == (404, "resource_missing", "id")
        assert error.user_message == f"No such {kind}: '{object_id}'"
        assert error.json_body["error"]["type"] == "invalid_request_error"
        assert error.json_body["error"]["doc_url"].endswith("/resource-missing")


def test_error_body_is_stripes_shape(stripe_local: StripeLocal) -> None:
    response = requests.get(
        stripe_local.url("/v1/checkout/sessions/cs_x"),
        headers={"Authorization": "Bearer sk_test_eyhub"},
        timeout=5,
    )
    assert response.status_code == 404
    assert response.headers["Request-Id"].startswith("req_")
    assert response.json() == {
        "error": {
            "code": "resource_missing",
            "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
            "message": "No such checkout.session: 'cs_x'",
            "param": "id",
            "type": "invalid_request_error",
        }
    }


def test_api_key_must_be_a_test_secret_key(stripe_local: StripeLocal) -> None:
    cases = {
        "sk_live_abcdefgh1234": "sk_live_********1234",
        "pk_test_abcdefgh1234": "pk_test_********1234",
        "sk_test_": "sk_test_****",
    }
    for key, masked in cases.items():
        with pytest.raises(stripe.AuthenticationError) as caught:
            stripe_local.client(api_key=key).v1.checkout.sessions.retrieve("cs_test_x")
        assert caught.value.http_status == 401
        assert caught.value.json_body["error"]["type"] == "authentication_error"
        assert caught.value.user_message == f"Invalid API Key provided: {masked}"
    no_key = requests.get(stripe_local.url("/v1/charges/ch_x"), timeout=5)
    assert no_key.status_code == 401
    assert "did not provide an API key" in no_key.json()["error"]["message"]


def test_unknown_endpoint_is_stripes_unrecognized_url(stripe_local: StripeLocal) -> None:
    response = requests.get(
        stripe_local.url("/v1/customers"),
        headers={"Authorization": "Bearer sk_test_eyhub"},
        timeout=5,
    )
    assert response.status_code == 404
    assert "Unrecognized request URL (GET: /v1/customers)" in response.json()["error"]["message"]


def test_fail_next_fails_one_matching_call_then_it_succeeds(
    stripe_local: StripeLocal, client: stripe.StripeClient
) -> None:
    stripe_local.fail_next("POST", "/v1/checkout/sessions", 500, message="Stripe is down")
    key = f"k-{uuid.uuid4()}"
    params = checkout_params()
    # A GET elsewhere is not the matching call.
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.charges.retrieve("ch_missing")
    with pytest.raises(stripe.APIError) as caught:
        client.v1.checkout.sessions.create(params=params, options={"idempotency_key": key})
    assert (caught.value.http_status, caught.value.user_message) == (500, "Stripe is down")
    # Not saved under the key: the product's retry with the same key goes through.
    retried = client.v1.checkout.sessions.create(params=params, options={"idempotency_key": key})
    assert retried.status == "open"

    stripe_local.fail_next(
        "GET", "/v1/refunds", 402, "card_error", "declined", code="card_declined"
    )
    with pytest.raises(stripe.CardError) as card:
        client.v1.refunds.retrieve("re_whatever")
    assert card.value.code == "card_declined"

    # The product's client (retries on) rides over one 5xx with the same generated key...
    patient = stripe_local.client(max_network_retries=2, http_client=stripe.RequestsClient(10))
    stripe_local.fail_next("POST", "/v1/checkout/sessions", 503)
    assert patient.v1.checkout.sessions.create(params=checkout_params()).status == "open"
    # ...unless the error says not to retry (Stripe-Should-Retry: false): then it surfaces.
    stripe_local.fail_next("POST", "/v1/checkout/sessions", 500, should_retry=False)
    with pytest.raises(stripe.APIError):
        patient.v1.checkout.sessions.create(params=checkout_params())


# -- idempotency --------------------------------------------------------------------------


def test_same_key_same_params_replays_the_first_response(
    client: stripe.StripeClient, stripe_local: StripeLocal
) -> None:
    key = f"booking-{uuid.uuid4()}"
    params = checkout_params()
    first = client.v1.checkout.sessions.create(params=params, options={"idempotency_key": key})
    assert first.last_response.headers.get("Idempotent-Replayed") is None
    again = client.v1.checkout.sessions.create(params=params, options={"idempotency_key": key})
    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert again.last_response.headers["Original-Request"] == first.last_response.request_id
    # Keys are per API key: another key's request with the same Idempotency-Key is new.
    other = stripe_local.client(api_key="sk_test_other")
    elsewhere = other.v1.checkout.sessions.create(params=params, options={"idempotency_key": key})
    assert elsewhere.id != first.id


def test_same_key_other_params_is_an_idempotency_error(client: stripe.StripeClient) -> None:
    key = f"booking-{uuid.uuid4()}"
    client.v1.checkout.sessions.create(params=checkout_params(), options={"idempotency_key": key})
    with pytest.raises(stripe.IdempotencyError) as caught:
        client.v1.checkout.sessions.create(
            params=checkout_params(amount=1), options={"idempotency_key": key}
        )
    assert caught.value.http_status == 400
    assert caught.value.user_message.startswith(
        "Keys for idempotent requests can only be used with the same parameters they were "
        "first used with."
    )


def test_a_rejected_parameter_is_not_saved_under_the_key(client: stripe.StripeClient) -> None:
    key = f"booking-{uuid.uuid4()}"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.create(
            params=checkout_params(expires_at=1), options={"idempotency_key": key}
        )
    fixed = client.v1.checkout.sessions.create(
        params=checkout_params(), options={"idempotency_key": key}
    )
    assert fixed.status == "open"


def test_an_endpoint_error_is_replayed_under_the_key(
    client: stripe.StripeClient, paid_session: SessionFactory
) -> None:
    session = paid_session()
    key = f"expire-{uuid.uuid4()}"
    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.checkout.sessions.expire(session.id, options={"idempotency_key": key})
    assert caught.value.headers["Idempotent-Replayed"] == "true"


# -- refunds ------------------------------------------------------------------------------


def _refund(client: stripe.StripeClient, **params: Any) -> stripe.Refund:
    return client.v1.refunds.create(
        params={"reason": "requested_by_customer", **params},
        options={"idempotency_key": f"refund-{uuid.uuid4()}"},
    )


def test_partial_then_full_then_too_much(
    client: stripe.StripeClient, paid_session: SessionFactory
) -> None:
    session = paid_session(amount=4500)
    intent = session.payment_intent
    partial = _refund(client, payment_intent=intent.id, amount=1000, metadata={"why": "late"})
    assert isinstance(partial, stripe.Refund)
    assert partial.id.startswith("re_")
    assert (partial.amount, partial.status, partial.reason) == (
        1000,
        "succeeded",
        "requested_by_customer",
    )
    assert (partial.charge, partial.payment_intent, partial.currency) == (
        intent.latest_charge,
        intent.id,
        "gbp",
    )
    assert partial.metadata.to_dict() == {"why": "late"}
    assert partial.balance_transaction.startswith("txn_")
    assert client.v1.refunds.retrieve(partial.id).amount == 1000
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (1000, False)
    assert [r.id for r in charge.refunds.data] == [partial.id]

    with pytest.raises(stripe.InvalidRequestError) as too_much:
        _refund(client, payment_intent=intent.id, amount=3501)
    assert (too_much.value.param, too_much.value.code) == ("amount", "amount_too_large")
    assert "is greater than unrefunded amount on charge" in too_much.value.user_message
    assert "£35.01" in too_much.value.user_message and "£35.00" in too_much.value.user_message

    rest = _refund(client, charge=intent.latest_charge)  # no amount: what remains
    assert rest.amount == 3500
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (4500, True)
    assert [r.id for r in charge.refunds.data] == [rest.id, partial.id]
    txn = client.v1.balance_transactions.retrieve(rest.balance_transaction)
    assert (txn.amount, txn.fee, txn.net, txn.type, txn.source) == (
        -3500,
        0,
        -3500,
        "refund",
        rest.id,
    )

    with pytest.raises(stripe.InvalidRequestError) as again:
        _refund(client, payment_intent=intent.id)
    assert again.value.code == "charge_already_refunded"
    assert again.value.http_status == 400


def test_refund_more_than_the_charge(
    client: stripe.StripeClient, paid_session: SessionFactory
) -> None:
    intent = paid_session(amount=4500).payment_intent
    with pytest.raises(stripe.InvalidRequestError) as caught:
        _refund(client, payment_intent=intent.id, amount=9000)
    assert caught.value.user_message == (
        "Refund amount (£90.00) is greater than charge amount (£45.00)"
    )


def test_refund_needs_a_known_payment(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        _refund(client, payment_intent="pi_missing")
    assert (unknown.value.code, unknown.value.param) == ("resource_missing", "payment_intent")
    with pytest.raises(stripe.InvalidRequestError):
        _refund(client)
    with pytest.raises(stripe.InvalidRequestError) as reason:
        _refund(client, payment_intent="pi_missing", reason="because")
    assert reason.value.param == "reason"


def _charge_refunded_events(client: stripe.StripeClient, charge_id: str) -> list[stripe.Event]:
    """The stored ``charge.refunded`` events about a charge (stored with the change, so
    their absence is known at once, unlike a webhook's)."""
    events = client.v1.events.list(params={"type": "charge.refunded", "limit": 100})
    return [e for e in events.auto_paging_iter() if e.data.object.id == charge_id]


def test_pending_refund_settles_to_succeeded(
    client: stripe.StripeClient,
    stripe_local: StripeLocal,
    paid_session: SessionFactory,
    receiver: WebhookReceiver,
) -> None:
    intent = paid_session(amount=2000).payment_intent
    stripe_local.next_refund_status("pending")
    refund = _refund(client, payment_intent=intent.id, amount=500)
    assert refund.status == "pending"
    assert client.v1.charges.retrieve(intent.latest_charge).amount_refunded == 500
    assert _charge_refunded_events(client, intent.latest_charge) == []
    settled = stripe_local.settle_refund(refund.id, "succeeded")
    assert settled["status"] == "succeeded"
    assert client.v1.refunds.retrieve(refund.id).status == "succeeded"
    assert len(_charge_refunded_events(client, intent.latest_charge)) == 1
    (hook,) = receiver.wait_for(intent.latest_charge, "charge.refunded")
    event = stripe.Webhook.construct_event(hook.body, hook.signature, SECRET)
    assert isinstance(event.data.object, stripe.Charge)
    assert event.data.object.refunds.data[0].id == refund.id
    # The next refund is immediate again.
    assert _refund(client, payment_intent=intent.id, amount=100).status == "succeeded"
    with pytest.raises(ControlError) as not_pending:
        stripe_local.settle_refund(refund.id, "failed")
    assert not_pending.value.status == 400


def test_pending_refund_that_fails_gives_the_money_back(
    client: stripe.StripeClient,
    stripe_local: StripeLocal,
    paid_session: SessionFactory,
    receiver: WebhookReceiver,
) -> None:
    intent = paid_session(amount=2000).payment_intent
    stripe_local.next_refund_status("pending")
    refund = _refund(client, payment_intent=intent.id)
    assert (refund.amount, refund.status) == (2000, "pending")
    stripe_local.settle_refund(refund.id, "failed", "lost_or_stolen_card")
    failed = client.v1.refunds.retrieve(refund.id)
    assert (failed.status, failed.failure_reason) == ("failed", "lost_or_stolen_card")
    back = client.v1.balance_transactions.retrieve(failed.failure_balance_transaction)
    assert (back.type, back.amount, back.source) == ("refund_failure", 2000, refund.id)
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (0, False)
    (hook,) = receiver.wait_for(refund.id, "refund.failed")
    assert isinstance(
        stripe.Webhook.construct_event(hook.body, hook.signature, SECRET).data.object,
        stripe.Refund,
    )
    assert _refund(client, payment_intent=intent.id).amount == 2000  # refundable again


# -- the reconciliation reads ---------------------------------------------------------------


def test_balance_transactions_and_payouts_as_the_product_lists_them(
    client: stripe.StripeClient, paid_session: SessionFactory, stripe_local: StripeLocal
) -> None:
    start = int(time.time()) - 1
    charge_id = paid_session(amount=4500).payment_intent.latest_charge
    end = int(time.time()) + 2
    page = client.v1.balance_transactions.list(
        params={
            "created": {"gte": start, "lt": end},
            "limit": 100,
            "expand": ["data.source"],
            "type": "charge",
        }
    )
    assert isinstance(page, stripe.ListObject)
    txns = list(page.auto_paging_iter())
    assert all(isinstance(t, stripe.BalanceTransaction) for t in txns)
    (mine,) = [t for t in txns if t.source.id == charge_id]
    assert isinstance(mine.source, stripe.Charge)
    assert (mine.amount, mine.fee, mine.net, mine.currency, mine.reporting_category) == (
        4500,
        88,
        4412,
        "gbp",
        "charge",
    )
    payout = stripe_local.payout()
    payouts = client.v1.payouts.list(params={"created": {"gte": start, "lt": end}, "limit": 100})
    assert [p.id for p in payouts.auto_paging_iter()] == [payout["id"]]
    assert isinstance(payouts.data[0], stripe.Payout)
    assert payouts.data[0].status == "paid"


# -- the hosted page --------------------------------------------------------------------------


def test_hosted_page_is_plain_accessible_html(new_session: SessionFactory) -> None:
    session = new_session(amount=4500, name='Stay & play <b>"Owls"</b>')
    page = requests.get(session.url, timeout=5)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.text
    assert '<html lang="en">' in html
    assert "<main>" in html and html.count("<h1>") == 1
    assert "£45.00" in html
    assert "Stay &amp; play &lt;b&gt;&#34;Owls&#34;&lt;/b&gt;" in html
    assert "<b>" not in html and "<script" not in html
    assert f'action="{session.url}/pay"' in html
    assert f'action="{session.url}/cancel"' in html
    assert ">Pay with test card</button>" in html and ">Cancel</button>" in html


def test_hosted_page_cancel_then_pay(
    client: stripe.StripeClient, new_session: SessionFactory, receiver: WebhookReceiver
) -> None:
    session = new_session()
    cancel = requests.post(session.url + "/cancel", allow_redirects=False, timeout=5)
    assert (cancel.status_code, cancel.headers["Location"]) == (303, session.cancel_url)
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"

    pay = requests.post(session.url + "/pay", allow_redirects=False, timeout=5)
    assert pay.status_code == 303
    assert pay.headers["Location"] == session.success_url.replace(
        "{CHECKOUT_SESSION_ID}", session.id
    )
    after = client.v1.checkout.sessions.retrieve(session.id)
    assert (after.status, after.payment_status) == ("complete", "paid")
    (hook,) = receiver.wait_for(session.id, "checkout.session.completed")
    event = client.construct_event(hook.body, hook.signature, SECRET)  # as the product does
    assert isinstance(event, stripe.Event)
    assert isinstance(event.data.object, stripe.checkout.Session)
    assert event.data.object.payment_intent == after.payment_intent
    assert event.data.object.metadata.to_dict() == session.metadata.to_dict()
    assert event.request.id is None  # the customer paid, not an API call
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(hook.body, hook.signature, "whsec_wrong")

    again = requests.post(session.url + "/pay", allow_redirects=False, timeout=5)
    assert (again.status_code, again.headers["Location"]) == (303, pay.headers["Location"])
    assert client.v1.checkout.sessions.retrieve(session.id).payment_intent == after.payment_intent


def test_paying_an_expired_session_says_so(
    client: stripe.StripeClient, new_session: SessionFactory, stripe_local: StripeLocal
) -> None:
    session = new_session()
    client.v1.checkout.sessions.expire(session.id)
    page = requests.get(session.url, timeout=5)
    assert page.status_code == 410 and "expired" in page.text
    pay = requests.post(session.url + "/pay", allow_redirects=False, timeout=5)
    assert pay.status_code == 410 and "<h1>This checkout has expired</h1>" in pay.text
    with pytest.raises(ControlError) as json_pay:
        stripe_local.pay(session.id)
    assert json_pay.value.status == 410
    assert client.v1.checkout.sessions.retrieve(session.id).payment_intent is None
    missing = requests.get(stripe_local.url("/pay/cs_test_missing"), timeout=5)
    assert missing.status_code == 404 and "not found" in missing.text
