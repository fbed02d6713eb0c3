"""The ledger the product reconciles against: balance transactions (fees, filters,
pagination), a tampered transaction, payouts. A fresh process, so counts are exact; its
clock is moved on between payments so ``created`` filters have distinct times to cut."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import stripe

from tests.stripe_local.conftest import checkout_params
from tests.support.stripe_local import ControlError, StripeLocal

# One stripe-local process per module: under xdist its tests stay on one worker.
pytestmark = pytest.mark.xdist_group("stripe_local_ledger")


def _pay(stripe_local: StripeLocal, client: stripe.StripeClient, amount: int) -> dict[str, Any]:
    """Pay a session of ``amount``; the charge (as a dict) with its created time."""
    session = client.v1.checkout.sessions.create(params=checkout_params(amount=amount))
    paid = stripe_local.pay(session.id)
    intent = client.v1.payment_intents.retrieve(paid["payment_intent"])
    return client.v1.charges.retrieve(intent.latest_charge).to_dict()


@pytest.fixture(scope="module")
def charges(stripe_local: StripeLocal, client: stripe.StripeClient) -> list[dict[str, Any]]:
    """Five payments 100 s apart (oldest first)."""
    made = []
    for amount in (4500, 1000, 30, 100, 2500):
        made.append(_pay(stripe_local, client, amount))
        stripe_local.advance_clock(100)
    return made


def _ids(page: Any) -> list[str]:
    return [item.id for item in page.data]


def test_uk_card_fee_is_1_5_percent_plus_20p_rounded(
    client: stripe.StripeClient, charges: list[dict[str, Any]]
) -> None:
    expected_fees = {4500: 88, 1000: 35, 30: 20, 100: 22, 2500: 58}
    for charge in charges:
        txn = client.v1.balance_transactions.retrieve(charge["balance_transaction"])
        assert isinstance(txn, stripe.BalanceTransaction)
        fee = expected_fees[charge["amount"]]
        assert (txn.amount, txn.fee, txn.net) == (charge["amount"], fee, charge["amount"] - fee)
        assert txn.fee_details[0].type == "stripe_fee"
        assert (txn.type, txn.reporting_category, txn.status) == ("charge", "charge", "available")


def test_below_the_minimum_charge_is_refused(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.create(params=checkout_params(amount=29))
    assert caught.value.param == "line_items"


def test_lists_are_newest_first_and_page_both_ways(
    client: stripe.StripeClient, charges: list[dict[str, Any]]
) -> None:
    newest_first = [c["balance_transaction"] for c in reversed(charges)]
    everything = client.v1.balance_transactions.list(params={"limit": 100})
    assert _ids(everything) == newest_first and everything.has_more is False
    first = client.v1.balance_transactions.list(params={"limit": 2})
    assert _ids(first) == newest_first[:2] and first.has_more is True
    second = client.v1.balance_transactions.list(
        params={"limit": 2, "starting_after": first.data[-1].id}
    )
    assert _ids(second) == newest_first[2:4] and second.has_more is True
    back = client.v1.balance_transactions.list(
        params={"limit": 2, "ending_before": second.data[0].id}
    )
    assert _ids(back) == newest_first[:2]
    walked = client.v1.balance_transactions.list(params={"limit": 2, "expand": ["data.source"]})
    items = list(walked.auto_paging_iter())
    assert [t.id for t in items] == newest_first
    assert [t.source.id for t in items] == [c["id"] for c in reversed(charges)]
    assert all(isinstance(t.source, stripe.Charge) for t in items)


def test_list_parameters_are_checked(client: stripe.StripeClient) -> None:
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": "many"}):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.balance_transactions.list(params=bad)
        assert caught.value.param == "limit"
    with pytest.raises(stripe.InvalidRequestError) as cursor:
        client.v1.balance_transactions.list(params={"starting_after": "txn_missing"})
    assert (cursor.value.code, cursor.value.param) == ("resource_missing", "starting_after")
    with pytest.raises(stripe.InvalidRequestError) as expand:
        client.v1.balance_transactions.list(params={"expand": ["source"]})
    assert expand.value.param == "expand"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.payouts.list(params={"sort": "asc"})
    assert unknown.value.param == "sort"


def test_created_filters_cut_where_they_should(
    client: stripe.StripeClient, charges: list[dict[str, Any]]
) -> None:
    times = [c["created"] for c in charges]
    txn_ids = [c["balance_transaction"] for c in charges]

    def listed(created: Any) -> list[str]:
        page = client.v1.balance_transactions.list(params={"created": created, "limit": 100})
        return list(reversed(_ids(page)))  # oldest first, like txn_ids

    assert listed({"gte": times[1], "lt": times[3]}) == txn_ids[1:3]
    assert listed({"gt": times[1], "lte": times[3]}) == txn_ids[2:4]
    assert listed({"gte": times[4] + 1}) == []
    assert listed({"lt": times[0]}) == []
    assert listed(times[2]) == [txn_ids[2]]


def test_type_filter_separates_charges_from_refunds(
    client: stripe.StripeClient, charges: list[dict[str, Any]]
) -> None:
    refund = client.v1.refunds.create(
        params={"charge": charges[0]["id"], "amount": 500},
        options={"idempotency_key": str(uuid.uuid4())},
    )
    refunds = client.v1.balance_transactions.list(params={"type": "refund", "limit": 100})
    assert _ids(refunds) == [refund.balance_transaction]
    assert (refunds.data[0].amount, refunds.data[0].fee, refunds.data[0].source) == (
        -500,
        0,
        refund.id,
    )
    only_charges = client.v1.balance_transactions.list(params={"type": "charge", "limit": 100})
    assert {t.type for t in only_charges.data} == {"charge"}
    assert len(only_charges.data) == len(charges)


def test_tamper_makes_the_ledger_disagree_with_the_charge(
    client: stripe.StripeClient, stripe_local: StripeLocal
) -> None:
    charge = _pay(stripe_local, client, 4500)
    txn = stripe_local.tamper(charge["id"], 4000)
    assert (txn["amount"], txn["fee"], txn["net"]) == (4000, 80, 3920)
    listed = client.v1.balance_transactions.retrieve(
        charge["balance_transaction"], params={"expand": ["source"]}
    )
    assert listed.amount == 4000 and listed.source.amount == 4500
    with pytest.raises(ControlError) as missing:
        stripe_local.tamper("ch_missing", 1)
    assert missing.value.status == 404


def test_payout_takes_the_available_balance(
    client: stripe.StripeClient, stripe_local: StripeLocal
) -> None:
    charge = _pay(stripe_local, client, 2000)
    client.v1.refunds.create(params={"charge": charge["id"], "amount": 300})
    available = client.v1.balance.retrieve().available[0]
    assert available.currency == "gbp" and available.amount > 0
    payout = stripe_local.payout()
    assert payout["id"].startswith("po_") and payout["amount"] == available.amount
    assert client.v1.balance.retrieve().available[0].amount == 0
    fetched = client.v1.payouts.retrieve(payout["id"])
    assert isinstance(fetched, stripe.Payout)
    assert (fetched.status, fetched.currency, fetched.arrival_date > fetched.created) == (
        "paid",
        "gbp",
        True,
    )
    txn = client.v1.balance_transactions.retrieve(fetched.balance_transaction)
    assert (txn.type, txn.amount, txn.net, txn.source) == (
        "payout",
        -payout["amount"],
        -payout["amount"],
        payout["id"],
    )
    # As on Stripe, the payout's transactions include its own: together they come to 0.
    settled = list(
        client.v1.balance_transactions.list(
            params={"payout": payout["id"], "limit": 2}
        ).auto_paging_iter()
    )
    assert txn.id in [t.id for t in settled]
    assert sum(t.net for t in settled if t.type != "payout") == payout["amount"]
    assert {t.type for t in settled} == {"charge", "refund", "payout"}
    listed = client.v1.payouts.list(params={"limit": 100})
    assert [p.id for p in listed.auto_paging_iter()] == [payout["id"]]
    with pytest.raises(ControlError) as nothing_left:
        stripe_local.payout()
    assert nothing_left.value.body["error"]["code"] == "balance_insufficient"
