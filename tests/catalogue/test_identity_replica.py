"""A service refuses tokens the account no longer backs, from its identity replica
(shared/identity.py), fed by the gateway's identity.* events through the inbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from services.catalogue.handlers import handlers
from shared import identity
from shared.events import identity as identity_events
from shared.messaging import Event, HandlerContext
from shared.messaging.testing import wait_until
from tests.catalogue.conftest import CatalogueApp, event_body
from tests.support.tokens import bearer, make_token


@pytest.fixture(autouse=True)
def no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read the replica on every request: these tests change it between requests."""
    monkeypatch.setattr(identity, "CACHE_SECONDS", 0.0)


def _deliver(catalogue: CatalogueApp, event_type: str, **state: Any) -> None:
    """Apply an identity event the way the worker does: the registered handler, in a
    transaction, with the data loaded by the event's schema."""
    data = identity_events.SCHEMAS[event_type]().load(identity.state_event(**state))
    (spec,) = [s for s in handlers.specs if event_type in s.event_types]
    event = Event(
        id=uuid.uuid4(),
        type=event_type,
        version=1,
        occurred_at=datetime.now(UTC),
        data=data,
        source="gateway",
        correlation_id="t",
        causation_id=None,
        raw={},
    )
    with catalogue.db.transaction() as s:
        spec.fn(s, event, HandlerContext(settings=catalogue.settings))


def _lead_token(catalogue: CatalogueApp, user_id: str, hub_id: str) -> str:
    return make_token(catalogue.settings, user_id=user_id, roles=("hub_lead",), hub_ids=[hub_id])


def _state(user_id: str, hub_id: str, **changes: Any) -> dict[str, Any]:
    base = {
        "user_id": user_id,
        "is_active": True,
        "roles": ["hub_lead"],
        "hub_ids": [hub_id],
        "tokens_valid_after": None,
        "changed_at": datetime.now(UTC),
    }
    return {**base, **changes}


def _create_event(catalogue: CatalogueApp, hub_id: str, token: str) -> Any:
    return catalogue.post("/api/catalogue/events", event_body(hub_id), bearer(token))


def _iat(token: str) -> float:
    return float(jwt.decode(token, options={"verify_signature": False})["iat"])


def test_a_deactivated_hub_lead_is_refused_at_once(catalogue: CatalogueApp) -> None:
    hub_id = catalogue.hub()["id"]
    user_id = str(uuid.uuid4())
    token = _lead_token(catalogue, user_id, hub_id)
    assert _create_event(catalogue, hub_id, token).status_code == 201

    _deliver(
        catalogue,
        identity_events.USER_DEACTIVATED,
        **_state(user_id, hub_id, is_active=False, tokens_valid_after=datetime.now(UTC)),
    )
    resp = _create_event(catalogue, hub_id, token)
    assert resp.status_code == 401, resp.get_json()
    assert "deactivated" in resp.get_json()["detail"]


def test_a_hub_taken_away_voids_tokens_that_carry_it(catalogue: CatalogueApp) -> None:
    hub_id, other = catalogue.hub()["id"], catalogue.hub()["id"]
    user_id = str(uuid.uuid4())
    token = make_token(
        catalogue.settings, user_id=user_id, roles=("hub_lead",), hub_ids=[hub_id, other]
    )
    _deliver(catalogue, identity_events.USER_CHANGED, **_state(user_id, other))
    assert _create_event(catalogue, other, token).status_code == 401
    # A new sign-in gives a token with today's rights, which works.
    fresh = _lead_token(catalogue, user_id, other)
    assert _create_event(catalogue, other, fresh).status_code == 201


def test_an_older_event_arriving_late_changes_nothing(catalogue: CatalogueApp) -> None:
    hub_id = catalogue.hub()["id"]
    user_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    _deliver(
        catalogue,
        identity_events.USER_DEACTIVATED,
        **_state(user_id, hub_id, is_active=False, tokens_valid_after=now, changed_at=now),
    )
    # Redelivered from before the deactivation (reordering): it must not revive access.
    _deliver(
        catalogue,
        identity_events.USER_CHANGED,
        **_state(user_id, hub_id, changed_at=now - timedelta(seconds=5)),
    )
    assert (
        _create_event(catalogue, hub_id, _lead_token(catalogue, user_id, hub_id)).status_code == 401
    )


def test_tokens_issued_before_a_sign_out_everywhere_are_refused(catalogue: CatalogueApp) -> None:
    hub_id = catalogue.hub()["id"]
    user_id = str(uuid.uuid4())
    before = _lead_token(catalogue, user_id, hub_id)
    # Signed out half a millisecond after ``before`` was issued (iat has milliseconds).
    signed_out = datetime.fromtimestamp(_iat(before) + 0.0005, UTC)
    _deliver(
        catalogue,
        identity_events.USER_CHANGED,
        **_state(user_id, hub_id, tokens_valid_after=signed_out),
    )
    assert _create_event(catalogue, hub_id, before).status_code == 401
    minted: list[str] = []

    def issued_after_sign_out() -> bool:
        minted.append(_lead_token(catalogue, user_id, hub_id))
        return _iat(minted[-1]) > signed_out.timestamp()

    assert wait_until(issued_after_sign_out, timeout=5)
    assert _create_event(catalogue, hub_id, minted[-1]).status_code == 201


def test_an_account_that_never_changed_keeps_its_tokens(catalogue: CatalogueApp) -> None:
    hub_id = catalogue.hub()["id"]
    token = _lead_token(catalogue, str(uuid.uuid4()), hub_id)
    assert _create_event(catalogue, hub_id, token).status_code == 201


def test_the_replica_is_a_directory_of_names_and_addresses(catalogue: CatalogueApp) -> None:
    user_id = str(uuid.uuid4())
    assert identity.account_state(catalogue.db, user_id) is None
    _deliver(
        catalogue,
        identity_events.USER_CHANGED,
        **_state(user_id, str(uuid.uuid4()), email="ann@example.org", name="Ann Smith"),
    )
    state = identity.account_state(catalogue.db, user_id)
    assert state is not None and (state.email, state.name) == ("ann@example.org", "Ann Smith")
    # An event from before the fields existed (none sent) leaves them unknown, not wrong.
    _deliver(catalogue, identity_events.USER_CHANGED, **_state(user_id, str(uuid.uuid4())))
    state = identity.account_state(catalogue.db, user_id)
    assert state is not None and (state.email, state.name) == (None, None)
