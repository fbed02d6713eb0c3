"""The optimal matching core: score terms, hard constraints, optimality against brute force."""

from __future__ import annotations

import random
from dataclasses import replace
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from services.mentoring import matching
from services.mentoring.matching import (
    REASON_EXCLUDED,
    REASON_NO_CAPACITY,
    REASON_NO_FORMAT,
    MatchResult,
    Mentor,
    Request,
    Weights,
    allowed,
    greedy,
    score_pair,
    solve,
)

NONE: frozenset[tuple[str, str]] = frozenset()


def mentor(mid: str = "m1", **kw) -> Mentor:  # type: ignore[no-untyped-def]
    base = Mentor(
        id=mid,
        specialisms=frozenset(),
        setting_types=frozenset(),
        formats=frozenset({"online", "in_person"}),
        region=None,
        languages=frozenset(),
        setting_name=f"Setting of {mid}",
        capacity=3,
        load=0,
    )
    return replace(base, **kw)


def request(rid: str = "r1", **kw) -> Request:  # type: ignore[no-untyped-def]
    base = Request(
        id=rid,
        mentee_id=f"u-{rid}",
        topics=frozenset({"maths"}),
        setting_type="nursery",
        format="online",
        setting_name=f"Nursery of {rid}",
    )
    return replace(base, **kw)


# --- score terms ---------------------------------------------------------------------------


def test_topic_points_per_overlapping_topic() -> None:
    r = request(topics=frozenset({"maths", "send", "phonics"}))
    m = mentor(specialisms=frozenset({"maths", "send", "outdoor"}))
    p = score_pair(r, m, Weights())
    assert p.breakdown["topics"] == 20
    assert p.score == 20


def test_setting_type_points() -> None:
    r = request(setting_type="childminder")
    assert score_pair(r, mentor(setting_types=frozenset({"childminder"})), Weights()).score == 6
    assert score_pair(r, mentor(setting_types=frozenset({"school"})), Weights()).score == 0


def test_language_points_only_when_the_request_names_languages() -> None:
    m = mentor(languages=frozenset({"polish", "english"}))
    assert score_pair(request(languages=frozenset({"Polish"})), m, Weights()).score == 4
    assert score_pair(request(languages=frozenset({"urdu"})), m, Weights()).score == 0
    assert score_pair(request(), m, Weights()).breakdown["language"] == 0


def test_region_points_for_in_person_requests_only() -> None:
    m = mentor(region="north-east")
    in_person = request(format="in_person", region="north-east")
    assert score_pair(in_person, m, Weights()).breakdown["region"] == 5
    assert score_pair(replace(in_person, format="online"), m, Weights()).score == 0
    assert score_pair(replace(in_person, region="london"), m, Weights()).score == 0


def test_load_balance_term_and_breakdown_sum() -> None:
    r = request(topics=frozenset({"maths"}), setting_type="nursery")
    m = mentor(specialisms=frozenset({"maths"}), setting_types=frozenset({"nursery"}))
    p = score_pair(r, m, Weights(load_balance=2), nth=3)
    assert p.breakdown == {
        "topics": 10,
        "setting_type": 6,
        "language": 0,
        "region": 0,
        "load_balance": -6,
    }
    assert p.score == sum(p.breakdown.values()) == 10


def test_solve_breakdowns_rank_new_mentees_by_request_id() -> None:
    m = mentor(specialisms=frozenset({"maths"}), load=1, capacity=4)
    result = solve([request("r2"), request("r1"), request("r3")], [m])
    assert [(p.request_id, p.breakdown["load_balance"]) for p in result.proposals] == [
        ("r1", -1),
        ("r2", -2),
        ("r3", -3),
    ]


# --- hard constraints ----------------------------------------------------------------------


def test_allowed_baseline() -> None:
    assert allowed(request(), mentor(), NONE)


def test_unavailable_mentor_not_allowed() -> None:
    assert not allowed(request(), mentor(available=False), NONE)


def test_mentor_without_remaining_capacity_not_allowed() -> None:
    assert not allowed(request(), mentor(capacity=2, load=2), NONE)
    assert not allowed(request(), mentor(capacity=1, load=3), NONE)
    assert allowed(request(), mentor(capacity=3, load=2), NONE)


def test_format_must_be_offered() -> None:
    assert not allowed(request(format="in_person"), mentor(formats=frozenset({"online"})), NONE)


def test_never_a_mentor_from_the_mentees_own_setting() -> None:
    r = request(setting_name="Little  Acorns Nursery")
    assert not allowed(r, mentor(setting_name="little acornsnursery"), NONE)
    assert allowed(r, mentor(setting_name="Little Oaks Nursery"), NONE)
    assert allowed(request(setting_name=" "), mentor(setting_name=""), NONE)


def test_declined_pair_excluded() -> None:
    r = request()
    assert not allowed(r, mentor("m1"), frozenset({(r.mentee_id, "m1")}))
    assert allowed(r, mentor("m1"), frozenset({(r.mentee_id, "m2")}))


def test_mentor_never_matched_with_themselves() -> None:
    assert not allowed(request(mentee_id="m1"), mentor("m1"), NONE)


# --- solve ---------------------------------------------------------------------------------


def test_empty_inputs() -> None:
    assert solve([], []) == MatchResult([], [])
    assert solve([], [mentor()]) == MatchResult([], [])
    assert solve([request()], []).unmatched[0].reason == REASON_NO_FORMAT


def test_capacity_lowered_below_load_gets_nothing() -> None:
    lowered = mentor("m1", specialisms=frozenset({"maths"}), capacity=1, load=2)
    other = mentor("m2", capacity=1)
    result = solve([request("r1"), request("r2")], [lowered, other])
    assert [p.mentor_id for p in result.proposals] == ["m2"]
    assert [(u.request_id, u.reason) for u in result.unmatched] == [("r2", REASON_NO_CAPACITY)]


def test_unmatched_reasons() -> None:
    online_only = mentor("m1", formats=frozenset({"online"}), capacity=1)
    busy = mentor("m2", formats=frozenset({"online"}), capacity=1, setting_name="Oak")
    away = mentor("m3", formats=frozenset({"in_person"}), available=False)
    requests = [
        request("r1", format="in_person"),  # only m3 offers it, and m3 is unavailable
        request("r2", mentee_id="u2", setting_name="OAK"),  # m1 declined, m2 same setting
        request("r3"),
        request("r4"),  # r3, r4 and r5 compete for m1's and m2's one place each
        request("r5"),
    ]
    result = solve(requests, [online_only, busy, away], excluded=frozenset({("u2", "m1")}))
    reasons = {u.request_id: u.reason for u in result.unmatched}
    assert reasons["r1"] == REASON_NO_FORMAT
    assert reasons["r2"] == REASON_EXCLUDED
    assert len(result.proposals) == 2
    (loser,) = set(reasons) - {"r1", "r2"}
    assert loser in {"r3", "r4", "r5"}
    assert reasons[loser] == REASON_NO_CAPACITY


def test_cardinality_comes_before_score() -> None:
    # m1 is great for r1 but is r2's only option; the optimum matches both.
    m1 = mentor("m1", specialisms=frozenset({"maths", "send"}), capacity=1)
    m2 = mentor("m2", formats=frozenset({"online"}), capacity=1)
    r1 = request("r1", topics=frozenset({"maths", "send"}))
    r2 = request("r2", format="in_person", topics=frozenset({"outdoor"}))
    result = solve([r1, r2], [m1, m2])
    assert {(p.request_id, p.mentor_id) for p in result.proposals} == {("r1", "m2"), ("r2", "m1")}
    assert result.unmatched == []


def test_optimum_beats_greedy_on_a_trap() -> None:
    # r1: m1 20, m2 10; r2: m1 20, m2 0. Greedy takes the tied best pair r1-m1 first
    # (20 + 0); the optimum is r1-m2 and r2-m1 (10 + 20).
    m1 = mentor("m1", specialisms=frozenset({"a", "b", "c"}), capacity=1)
    m2 = mentor("m2", specialisms=frozenset({"a"}), capacity=1)
    r1 = request("r1", topics=frozenset({"a", "b"}))
    r2 = request("r2", topics=frozenset({"b", "c", "d"}))
    best = solve([r1, r2], [m1, m2])
    base = greedy([r1, r2], [m1, m2])
    assert sum(p.score for p in best.proposals) == 30
    assert sum(p.score for p in base.proposals) == 20


def _random_instance(seed: int, n_req: int = 40, n_men: int = 12):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    topics = [f"t{i}" for i in range(8)]
    mentors = [
        mentor(
            f"m{j:02d}",
            specialisms=frozenset(rng.sample(topics, rng.randint(1, 4))),
            setting_types=frozenset(rng.sample(["nursery", "school", "childminder"], 1)),
            formats=frozenset(rng.choice([["online"], ["in_person"], ["online", "in_person"]])),
            region=rng.choice(["n", "s", None]),
            capacity=rng.randint(1, 3),
            load=rng.randint(0, 2),
            setting_name=rng.choice(["A", "B", "C", "D"]),
        )
        for j in range(n_men)
    ]
    requests = [
        request(
            f"r{i:03d}",
            mentee_id=f"u{i % 30}",
            topics=frozenset(rng.sample(topics, rng.randint(1, 3))),
            setting_type=rng.choice(["nursery", "school", "childminder"]),
            format=rng.choice(["online", "in_person"]),
            region=rng.choice(["n", "s"]),
            setting_name=rng.choice(["a", "b", "c", "d", "e"]),
        )
        for i in range(n_req)
    ]
    excluded = frozenset(
        (f"u{rng.randrange(30)}", f"m{rng.randrange(n_men):02d}") for _ in range(20)
    )
    return requests, mentors, excluded


def test_deterministic_under_shuffling() -> None:
    requests, mentors, excluded = _random_instance(7)
    first = solve(requests, mentors, excluded=excluded)
    assert first.proposals  # a real instance, not a trivially empty one
    rng = random.Random(1)
    for _ in range(5):
        rng.shuffle(requests)
        rng.shuffle(mentors)
        assert solve(requests, mentors, excluded=excluded) == first
    ids = [p.request_id for p in first.proposals]
    assert ids == sorted(ids)


# --- optimality against brute force --------------------------------------------------------


def _load_cost(weights: Weights, m: Mentor, taken: int) -> int:
    return sum(weights.load_balance * (m.load + k) for k in range(taken))


def _brute_force(requests, mentors, excluded, weights):  # type: ignore[no-untyped-def]
    """Best (number matched, total score) over every assignment respecting the constraints."""
    options = [[m for m in mentors if allowed(r, m, excluded)] for r in requests]
    best = (0, 0)
    taken = {m.id: 0 for m in mentors}

    def walk(i: int, matched: int, pair_score: int) -> None:
        nonlocal best
        if i == len(requests):
            total = pair_score - sum(_load_cost(weights, m, taken[m.id]) for m in mentors)
            best = max(best, (matched, total))
            return
        walk(i + 1, matched, pair_score)
        for m in options[i]:
            if taken[m.id] < m.capacity - m.load:
                taken[m.id] += 1
                walk(i + 1, matched + 1, pair_score + score_pair(requests[i], m, weights).score)
                taken[m.id] -= 1

    walk(0, 0, 0)
    return best


TOPICS = ["maths", "send", "phonics", "outdoor"]


@st.composite
def instances(draw):  # type: ignore[no-untyped-def]
    n_men = draw(st.integers(0, 4))
    mentors = []
    for j in range(n_men):
        capacity = draw(st.integers(0, 3))
        mentors.append(
            Mentor(
                id=f"m{j}",
                specialisms=frozenset(draw(st.sets(st.sampled_from(TOPICS), max_size=3))),
                setting_types=frozenset(draw(st.sets(st.sampled_from(["nursery", "school"])))),
                formats=frozenset(draw(st.sets(st.sampled_from(["online", "in_person"])))),
                region=draw(st.sampled_from([None, "n", "s"])),
                languages=frozenset(draw(st.sets(st.sampled_from(["en", "pl"])))),
                setting_name=draw(st.sampled_from(["", "Oak", "Ash", "Elm"])),
                capacity=capacity,
                load=draw(st.integers(0, capacity + 1)),
                available=draw(st.booleans()),
            )
        )
    requests = [
        Request(
            id=f"r{i}",
            mentee_id=draw(st.sampled_from(["u1", "u2", "u3", "m0", "m1"])),
            topics=frozenset(draw(st.sets(st.sampled_from(TOPICS), min_size=1, max_size=3))),
            setting_type=draw(st.sampled_from(["nursery", "school"])),
            format=draw(st.sampled_from(["online", "in_person"])),
            setting_name=draw(st.sampled_from(["", "oak", "ASH", "Birch"])),
            languages=frozenset(draw(st.sets(st.sampled_from(["en", "pl"])))),
            region=draw(st.sampled_from([None, "n", "s"])),
        )
        for i in range(draw(st.integers(0, 6)))
    ]
    excluded = frozenset(
        draw(
            st.sets(
                st.tuples(st.sampled_from(["u1", "u2", "u3"]), st.sampled_from(["m0", "m1", "m2"])),
                max_size=3,
            )
        )
    )
    weights = draw(
        st.sampled_from([Weights(), Weights(load_balance=0), Weights(topic=3, load_balance=4)])
    )
    return requests, mentors, excluded, weights


@settings(max_examples=150, deadline=None)
@given(instances())
def test_min_cost_flow_equals_brute_force(instance) -> None:  # type: ignore[no-untyped-def]
    requests, mentors, excluded, weights = instance
    result = solve(requests, mentors, excluded=excluded, weights=weights)
    by_id = {m.id: m for m in mentors}
    req_by_id = {r.id: r for r in requests}
    taken: dict[str, int] = {}
    for p in result.proposals:
        r, m = req_by_id[p.request_id], by_id[p.mentor_id]
        assert allowed(r, m, excluded)
        taken[m.id] = taken.get(m.id, 0) + 1
        assert p.score == sum(p.breakdown.values())
    for mid, n in taken.items():
        assert n <= by_id[mid].capacity - by_id[mid].load
    got = (len(result.proposals), sum(p.score for p in result.proposals))
    assert got == _brute_force(requests, mentors, excluded, weights)
    # One candidate per request and none per mentor in the first sparse round: the
    # certificate (augmenting paths, reduced costs) has to add the missing arcs.
    with mock.patch.multiple(matching, ROW_CANDIDATES=1, COLUMN_EXTRA=0):
        sparse = solve(requests, mentors, excluded=excluded, weights=weights)
    assert (len(sparse.proposals), sum(p.score for p in sparse.proposals)) == got
    assert {p.request_id for p in result.proposals} | {
        u.request_id for u in result.unmatched
    } == set(req_by_id)
    assert len(result.proposals) + len(result.unmatched) == len(requests)


def _objective(result: MatchResult) -> tuple[int, int]:
    return len(result.proposals), sum(p.score for p in result.proposals)


def test_sparse_certified_rounds_equal_the_full_graph() -> None:
    # Large enough that the first sparse round is not the whole graph.
    for seed in range(4):
        requests, mentors, excluded = _random_instance(seed, n_req=120, n_men=30)
        best = solve(requests, mentors, excluded=excluded)
        with mock.patch.multiple(matching, ROW_CANDIDATES=10**6, COLUMN_EXTRA=10**6):
            full = solve(requests, mentors, excluded=excluded)
        with mock.patch.multiple(matching, ROW_CANDIDATES=1, COLUMN_EXTRA=0):
            thin = solve(requests, mentors, excluded=excluded)
        assert _objective(best) == _objective(full) == _objective(thin)
        base = greedy(requests, mentors, excluded=excluded)
        assert _objective(best) >= _objective(base)
