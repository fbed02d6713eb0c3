"""The budget API (embedded backend): allocations, spend, overdrafts, idempotent ids,
reversals, settings, the summary's figures, the CSV, and who may do what."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from services.budget import years
from shared.db import utcnow
from tests.budget.conftest import YEAR, BudgetApp, budget_app


@pytest.fixture(scope="module", params=["embedded"])
def budget(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BudgetApp]:
    """The API's rules are ours, not the database's: the embedded backend only (the
    ledger's locking and bus paths run on both backends: test_concurrency.py, test_bus.py)."""
    with budget_app(request, tmp_path_factory) as app:
        yield app


def test_allocations_and_spend_with_idempotent_ids(budget: BudgetApp, hub: uuid.UUID) -> None:
    tid = str(uuid.uuid4())
    first = budget.allocate(hub, 100_000, id=tid, note="Q1 tranche")
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["id"] == tid and body["kind"] == "allocation"
    assert body["effect"] == {
        "allocated": 100_000,
        "committed": 0,
        "spent": 0,
        "income": 0,
        "refunds": 0,
    }
    assert first.headers["Location"] == f"/api/budget/hubs/{hub}/transfers/{tid}"
    # The same id and body again: the original, nothing new.
    again = budget.allocate(hub, 100_000, id=tid, note="Q1 tranche")
    assert again.status_code == 200 and again.get_json() == body
    assert again.headers["Idempotent-Replayed"] == "true"
    # The same id with another body: 409, nothing changes.
    other = budget.allocate(hub, 99_999, id=tid, note="Q1 tranche")
    assert other.status_code == 409
    assert other.get_json()["type"] == "urn:eyhub:problem:transfer-id-reused"
    assert other.mimetype == "application/problem+json"
    elsewhere = budget.allocate(hub, 100_000, id=tid, line="venue", note="Q1 tranche")
    assert elsewhere.status_code == 409

    sid = str(uuid.uuid4())
    spent = budget.spend(hub, 30_000, id=sid, reference="INV-17")
    assert spent.status_code == 201 and spent.get_json()["financial_year"] == YEAR
    assert budget.spend(hub, 30_000, id=sid, reference="INV-17").status_code == 200
    assert budget.spend(hub, 30_000, id=sid, reference="INV-18").status_code == 409
    # spent_on decides the year: 31 March is the last day of 2026-27, 1 April the next
    # (where venue has no money).
    assert budget.allocate(hub, 10, line="venue").status_code == 201
    march = budget.spend(hub, 1, spent_on="2027-03-31", line="venue")
    assert march.status_code == 201 and march.get_json()["financial_year"] == YEAR
    april = budget.spend(hub, 1, spent_on="2027-04-01", line="venue")
    assert april.status_code == 409
    assert budget.line(hub) == {
        "line": "training_delivery",
        "allocated": 100_000,
        "committed": 0,
        "spent": 30_000,
        "remaining": 70_000,
        "income": 0,
        "refunds": 0,
    }
    kinds = [t.kind for t in budget.transfers(hub)]
    assert kinds == ["allocation", "spend", "allocation", "spend"]
    budget.check(hub)


def test_overdraft_refused_unless_the_line_allows_it(budget: BudgetApp, hub: uuid.UUID) -> None:
    assert budget.allocate(hub, 10_000, line="venue").status_code == 201
    assert budget.spend(hub, 10_000, line="venue").status_code == 201  # to zero exactly
    refused = budget.spend(hub, 1, line="venue")
    assert refused.status_code == 409
    problem = refused.get_json()
    assert problem["type"] == "urn:eyhub:problem:insufficient-funds"
    assert "£0.00 available" in problem["detail"]
    assert len(budget.transfers(hub)) == 2  # nothing written
    settings = budget.put_settings(hub, overdraft_lines=["venue"])
    assert settings["overdraft_lines"] == ["venue"]
    allowed = budget.spend(hub, 2_500, line="venue")
    assert allowed.status_code == 201 and allowed.get_json()["forced"] is False
    assert budget.line(hub, "venue")["remaining"] == -2_500
    # Another line is still guarded.
    assert budget.spend(hub, 1, line="resources").status_code == 409
    budget.check(hub)


def test_reversals(budget: BudgetApp, hub: uuid.UUID) -> None:
    lead = budget.lead(hub)
    alloc = budget.allocate(hub, 50_000).get_json()
    spend = budget.spend(hub, 20_000, description="Room hire, wrong line").get_json()
    url = f"/api/budget/hubs/{hub}/transfers/{spend['id']}/reverse"
    first = budget.client.post(url, json={"note": "Booked on the wrong line"}, headers=lead)
    assert first.status_code == 201, first.get_json()
    reversal = first.get_json()
    assert reversal["kind"] == "reversal" and reversal["reverses_id"] == spend["id"]
    assert reversal["effect"]["spent"] == -20_000 and reversal["amount_pence"] == 20_000
    replay = budget.client.post(url, json={"note": "Booked on the wrong line"}, headers=lead)
    assert replay.status_code == 200 and replay.get_json()["id"] == reversal["id"]
    twice = budget.client.post(url, json={"note": "Another go"}, headers=lead)
    assert twice.status_code == 409
    assert twice.get_json()["type"] == "urn:eyhub:problem:already-reversed"
    back = f"/api/budget/hubs/{hub}/transfers/{reversal['id']}/reverse"
    no_chain = budget.client.post(back, json={"note": "undo the undo"}, headers=lead)
    assert no_chain.status_code == 409 and "not-reversible" in no_chain.get_json()["type"]
    shown = budget.client.get(f"/api/budget/hubs/{hub}/transfers/{spend['id']}", headers=lead)
    assert shown.get_json()["reversed_by"] == reversal["id"]

    # Reversing an allocation whose money is already spent would overdraw: refused.
    assert budget.spend(hub, 40_000).status_code == 201
    alloc_url = f"/api/budget/hubs/{hub}/transfers/{alloc['id']}/reverse"
    overdraw = budget.client.post(alloc_url, json={"note": "Grant withdrawn"}, headers=lead)
    assert overdraw.status_code == 409
    assert overdraw.get_json()["type"] == "urn:eyhub:problem:insufficient-funds"
    # Another hub's transfer is not found through this hub, nor through a lead's own hub.
    other = uuid.uuid4()
    foreign = f"/api/budget/hubs/{other}/transfers/{spend['id']}/reverse"
    assert (
        budget.client.post(foreign, json={"note": "x"}, headers=budget.lead(other)).status_code
        == 404
    )
    missing = f"/api/budget/hubs/{hub}/transfers/{uuid.uuid4()}/reverse"
    assert budget.client.post(missing, json={"note": "x"}, headers=lead).status_code == 404
    assert budget.line(hub)["spent"] == 40_000
    budget.check(hub)


def test_settings(budget: BudgetApp, hub: uuid.UUID) -> None:
    url = f"/api/budget/hubs/{hub}/settings"
    defaults = budget.client.get(url, headers=budget.lead(hub)).get_json()
    assert defaults == {
        "hub_id": str(hub),
        "alert_thresholds": [80, 100],
        "overdraft_lines": [],
        "no_show_policy": "void",
        "mentor_hourly_rate_pence": None,
        "updated_at": None,
        "updated_by": None,
    }
    saved = budget.put_settings(
        hub, alert_thresholds=[100, 50], no_show_policy="post", mentor_hourly_rate_pence=4_500
    )
    assert saved["alert_thresholds"] == [50, 100] and saved["no_show_policy"] == "post"
    assert saved["updated_at"].endswith("Z")
    assert budget.client.get(url, headers=budget.admin()).get_json() == saved
    bad = [
        {"alert_thresholds": [80, 80]},
        {"alert_thresholds": [0]},
        {"overdraft_lines": ["snacks"]},
        {"no_show_policy": "maybe"},
        {"mentor_hourly_rate_pence": 12.5},
        {"mentor_hourly_rate_pence": "4500"},
    ]
    for change in bad:
        body = {
            **{
                k: saved[k]
                for k in (
                    "alert_thresholds",
                    "overdraft_lines",
                    "no_show_policy",
                    "mentor_hourly_rate_pence",
                )
            },
            **change,
        }
        resp = budget.client.put(url, json=body, headers=budget.lead(hub))
        assert resp.status_code == 422, change
        assert set(change) <= set(resp.get_json()["errors"]), resp.get_json()
    assert budget.client.get(url, headers=budget.lead(hub)).get_json() == saved


def test_summary_figures(budget: BudgetApp, hub: uuid.UUID) -> None:
    budget.allocate(hub, 200_000)
    budget.allocate(hub, 30_000, line="backfill")
    budget.spend(hub, 12_345, spent_on="2026-04-01")
    budget.spend(hub, 1_000, spent_on="2027-03-31")
    budget.spend(hub, 5_000, spent_on="2026-10-26", line="backfill")
    budget.allocate(hub, 7_000, financial_year="2027-28")  # another year: not in this one
    summary = budget.summary(hub)
    assert summary["financial_year"] == YEAR
    assert [x["line"] for x in summary["lines"]] == [
        "training_delivery",
        "backfill",
        "mentoring",
        "venue",
        "resources",
        "other",
    ]
    assert summary["totals"] == {
        "allocated": 230_000,
        "committed": 0,
        "spent": 18_345,
        "remaining": 211_655,
        "income": 0,
        "refunds": 0,
    }
    months = {m["month"]: m for m in summary["by_month"]}
    assert list(months) == years.months(YEAR)
    assert months["2026-04"]["spent"] == 12_345
    assert months["2026-10"]["spent"] == 5_000
    assert months["2027-03"]["spent"] == 1_000
    assert sum(m["spent"] for m in summary["by_month"]) == summary["totals"]["spent"]
    assert summary["cost_per_attended_place"] is None
    later = budget.summary(hub, "2027-28")
    assert later["totals"]["allocated"] == 7_000
    default = budget.client.get(f"/api/budget/hubs/{hub}/summary", headers=budget.lead(hub))
    assert default.get_json()["financial_year"] == years.financial_year_at(utcnow())
    for bad in ("2026-28", "2026", "26-27", "1999-00"):
        resp = budget.client.get(
            f"/api/budget/hubs/{hub}/summary?financial_year={bad}", headers=budget.lead(hub)
        )
        assert resp.status_code == 422 and "query.financial_year" in resp.get_json()["errors"], bad


def test_transfer_pages_and_the_csv(budget: BudgetApp, hub: uuid.UUID) -> None:
    budget.allocate(hub, 90_000, source="Local authority top-up £")
    hostile = '=HYPERLINK("http://evil.example","click")'
    budget.spend(hub, 1_500, description=hostile, reference="+44 20 7946 0000")
    budget.spend(hub, 2_500, description='Café "Les Amis", lunch\nfor 12', line="training_delivery")
    budget.spend(hub, 100, description="@SUM(A1)", reference="-3")
    lead = budget.lead(hub)
    url = f"/api/budget/hubs/{hub}/transfers"
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = budget.client.get(url, query_string=query, headers=lead).get_json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [t["amount_pence"] for t in seen] == [90_000, 1_500, 2_500, 100]
    only_spend = budget.client.get(url, query_string={"line": "venue"}, headers=lead)
    assert only_spend.get_json() == {"items": [], "next_cursor": None}
    bad_cursor = budget.client.get(url, query_string={"cursor": "%%%"}, headers=lead)
    assert bad_cursor.status_code == 422 and "cursor" in str(bad_cursor.get_json()["errors"])

    rows = budget.csv_rows(hub)
    assert [r["kind"] for r in rows] == ["allocation", "spend", "spend", "spend"]
    assert rows[0]["source"] == "Local authority top-up £"
    assert rows[1]["description"] == "'" + hostile  # neutralised: Excel shows text
    assert rows[1]["reference"] == "'+44 20 7946 0000"
    assert rows[2]["description"] == 'Café "Les Amis", lunch\nfor 12'  # quoted, round-trips
    assert rows[3]["description"] == "'@SUM(A1)" and rows[3]["reference"] == "'-3"
    assert rows[1]["spent"] == "1500" and rows[1]["amount_pence"] == "1500"
    assert all(r["financial_year"] == YEAR for r in rows)
    assert budget.csv_rows(hub, "&line=venue") == []


def test_who_may_do_what(budget: BudgetApp, hub: uuid.UUID) -> None:
    """401 without a token, 403 for another role or another hub's lead, 422 for bad input
    (after the role), and nothing changes on any of them."""
    url = f"/api/budget/hubs/{hub}/allocations"
    good = {"financial_year": YEAR, "line": "other", "amount_pence": 100, "source": "x"}
    assert budget.client.post(url, json=good).status_code == 401
    assert (
        budget.client.post(url, json=good, headers=budget.headers("practitioner")).status_code
        == 403
    )
    assert (
        budget.client.post(
            url, json=good, headers=budget.headers("mentor", hubs=(hub,))
        ).status_code
        == 403
    )
    other_lead = budget.lead(uuid.uuid4())
    assert budget.client.post(url, json=good, headers=other_lead).status_code == 403
    assert (
        budget.client.get(f"/api/budget/hubs/{hub}/summary", headers=other_lead).status_code == 403
    )
    assert (
        budget.client.get(
            f"/api/budget/hubs/{hub}/transfers?format=csv", headers=other_lead
        ).status_code
        == 403
    )
    assert budget.client.post(url, json=good, headers=budget.admin()).status_code == 201
    for bad in (
        {**good, "amount_pence": 0},
        {**good, "amount_pence": -5},
        {**good, "amount_pence": 1.5},
        {**good, "line": "snacks"},
        {**good, "financial_year": "2026-2027"},
        {**good, "source": "line\nbreak"},
        {**good, "id": "not-a-uuid"},
        {k: v for k, v in good.items() if k != "source"},
    ):
        resp = budget.client.post(url, json=bad, headers=budget.lead(hub))
        assert resp.status_code == 422, bad
        assert resp.get_json()["type"] == "urn:eyhub:problem:validation"
    spend = f"/api/budget/hubs/{hub}/spend"
    body = {"line": "other", "amount_pence": 1, "description": "x", "spent_on": "2026-13-01"}
    assert budget.client.post(spend, json=body, headers=budget.lead(hub)).status_code == 422
    assert len(budget.transfers(hub)) == 1


def test_financial_years_follow_the_london_calendar() -> None:
    """April to March by London's date: 23:30 UTC on 31 March 2027 is already 00:30 BST
    on 1 April in London, so it belongs to 2027-28."""
    cases = {
        datetime(2027, 3, 31, 22, 59, tzinfo=UTC): "2026-27",  # 23:59 BST, 31 March
        datetime(2027, 3, 31, 23, 30, tzinfo=UTC): "2027-28",  # 00:30 BST, 1 April
        datetime(2026, 1, 15, 12, 0, tzinfo=UTC): "2025-26",
        datetime(2099, 12, 31, 23, 0, tzinfo=UTC): "2099-00",
    }
    assert {when: years.financial_year_at(when) for when in cases} == cases
    assert years.is_financial_year("2099-00") is False  # past the years the API takes
    assert years.is_financial_year("2098-99") and not years.is_financial_year("2026-28")
    assert years.within(date(2027, 6, 1), "2026-27") == date(2027, 3, 31)
    assert years.months("2026-27")[0] == "2026-04" and years.months("2026-27")[-1] == "2027-03"
