"""Mentor matching: the optimal min-cost-flow run versus greedy and an independent solver.

Pure code (services/mentoring/matching.py; no database, no Flask). Seeded random hub
instances shaped like real ones: 1-5 topics per request from 20 early-years topics,
mentor capacities 1-8 with a current load (a few lowered below it), ~85% of mentors offer
online and ~55% in person, ~5% unavailable, 9 regions, a few languages, 4 setting types,
shared setting names (so some same-setting pairs are forbidden), a mentor or two who is
also a mentee, and declined pairs for ~3% of requests. For each size:

- ``solve_s``: ``solve()`` wall time, best of ``--repeat`` (aims: <= 0.2 s for
  2,000 requests x 300 mentors, <= 1.5 s for 10,000 x 1,500);
- ``matched`` / ``score``: cardinality and total score of the optimum (cardinality first);
- ``greedy_*`` and ``ratio_greedy``: the best-pair-first baseline, greedy score / optimal score;
- ``check``: how optimality was verified, with ``ratio_check`` = optimal score / checker score
  (1.0 with equal cardinality = the optimum is confirmed):
  * ``scipy_lsa``: ``scipy.optimize.linear_sum_assignment`` on the whole instance:
    requests x (mentors expanded to one column per remaining place, the k-th copy carrying
    the k-th load term), pair scores and allowed pairs from the scalar ``score_pair`` /
    ``allowed`` (not the vectorised scorer), forbidden pairs at cost 0, allowed pairs at
    ``-(H + score)`` with ``H`` > any score difference summed over a matching, so
    cardinality comes first exactly as in ``solve()``. Used for 300 x 60 and 2,000 x 300.
  * ``scipy_lsa_subsample``: on 10,000 x 1,500 the dense matrix (10,000 x ~3,400 places)
    is too slow for LSA, so it checks a sub-instance (2,000 random requests x 300 random
    mentors of the same instance) with the scipy check above; and, outside ``--quick``,
    ``full_graph``: the same instance solved on the complete network (every allowed pair
    an arc, ~11M arcs, no candidate pruning, no certificate), which checks the sparse +
    certificate path but with the same solver (OR-Tools), i.e. not independent.

A readable line per instance goes to stdout; the last stdout line is one JSON object.
``--quick`` (<= 60 s): 2 repeats and no full-graph run.

    .venv/bin/python bench/matching.py [--quick] [--repeat 5] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scipy.optimize import linear_sum_assignment  # noqa: E402

from services.mentoring import matching  # noqa: E402
from services.mentoring.matching import (  # noqa: E402
    MatchResult,
    Mentor,
    Request,
    Weights,
    allowed,
    greedy,
    score_pair,
    solve,
)

TOPICS = [
    "communication-language",
    "early-reading",
    "phonics",
    "early-maths",
    "send",
    "speech-language",
    "pshe",
    "physical-development",
    "outdoor-learning",
    "safeguarding",
    "transitions",
    "parental-engagement",
    "eal",
    "self-regulation",
    "observation-assessment",
    "curriculum-design",
    "leadership",
    "wellbeing",
    "under-twos",
    "expressive-arts",
]
REGIONS = [
    "north-east",
    "north-west",
    "yorkshire",
    "east-midlands",
    "west-midlands",
    "east",
    "london",
    "south-east",
    "south-west",
]
LANGUAGES = ["english", "polish", "urdu", "punjabi", "romanian", "bengali", "arabic"]
SETTING_TYPES = ["childminder", "nursery", "preschool", "school"]


def instance(
    n_req: int, n_men: int, seed: int
) -> tuple[list[Request], list[Mentor], frozenset[tuple[str, str]]]:
    rng = random.Random(seed)
    names = [f"Setting {k}" for k in range(max(4, n_req // 3))]
    mentors = []
    for j in range(n_men):
        capacity = rng.randint(1, 8)
        formats = set()
        if rng.random() < 0.85:
            formats.add("online")
        if rng.random() < 0.55 or not formats:
            formats.add("in_person")
        mentors.append(
            Mentor(
                id=f"mentor-{seed}-{j:05d}",
                specialisms=frozenset(rng.sample(TOPICS, rng.randint(2, 6))),
                setting_types=frozenset(rng.sample(SETTING_TYPES, rng.randint(1, 3))),
                formats=frozenset(formats),
                region=rng.choice(REGIONS),
                languages=frozenset(
                    ["english", *rng.sample(LANGUAGES[1:], rng.choice([0, 0, 0, 1, 2]))]
                ),
                setting_name=rng.choice(names),
                capacity=capacity,
                load=min(capacity + rng.choice([0, 0, 1]), rng.randint(0, capacity)),
                available=rng.random() > 0.05,
            )
        )
    requests = []
    for i in range(n_req):
        in_person = rng.random() < 0.3
        mentee = f"mentee-{seed}-{i:06d}"
        if i < 2 and mentors:  # a mentor who also asked for a mentor
            mentee = mentors[i].id
        requests.append(
            Request(
                id=f"request-{seed}-{i:06d}",
                mentee_id=mentee,
                topics=frozenset(rng.sample(TOPICS, rng.randint(1, 5))),
                setting_type=rng.choice(SETTING_TYPES),
                format="in_person" if in_person else "online",
                setting_name=rng.choice(names).upper(),
                languages=frozenset(rng.sample(LANGUAGES, 1))
                if rng.random() < 0.3
                else frozenset(),
                region=rng.choice(REGIONS),
            )
        )
    excluded = frozenset(
        (requests[rng.randrange(n_req)].mentee_id, mentors[rng.randrange(n_men)].id)
        for _ in range(max(1, n_req // 30))
    )
    return requests, mentors, excluded


def objective(result: MatchResult) -> tuple[int, int]:
    return len(result.proposals), sum(p.score for p in result.proposals)


def lsa_objective(requests, mentors, excluded, weights) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Independent optimum: dense linear_sum_assignment over mentors expanded by place."""
    slots = [
        (j, m.load + k)
        for j, m in enumerate(mentors)
        if m.available
        for k in range(max(0, m.capacity - m.load))
    ]
    if not requests or not slots:
        return 0, 0
    pair = np.zeros((len(requests), len(mentors)))
    ok = np.zeros((len(requests), len(mentors)), dtype=bool)
    for i, r in enumerate(requests):
        for j, m in enumerate(mentors):
            if allowed(r, m, excluded):
                ok[i, j] = True
                pair[i, j] = score_pair(r, m, weights).score
    slot_mentor = np.array([j for j, _ in slots])
    slot_load = np.array([n for _, n in slots], dtype=float) * weights.load_balance
    score = pair[:, slot_mentor] - slot_load[None, :]
    spread = float(np.abs(score).max()) * 2 + 1
    big = (min(len(requests), len(slots)) + 1) * spread
    cost = np.where(ok[:, slot_mentor], -(big + score), 0.0)
    rows, cols = linear_sum_assignment(cost)
    real = ok[:, slot_mentor][rows, cols]
    return int(real.sum()), round(float(score[rows, cols][real].sum()))


def best_time(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run_size(n_req: int, n_men: int, *, seed: int, repeat: int, quick: bool) -> dict:
    weights = Weights()
    requests, mentors, excluded = instance(n_req, n_men, seed)
    solve_s, result = best_time(lambda: solve(requests, mentors, excluded=excluded), repeat)
    matched, score = objective(result)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    base = greedy(requests, mentors, excluded=excluded)
    greedy_s = time.perf_counter() - t0
    g_matched, g_score = objective(base)
    row: dict = {
        "requests": n_req,
        "mentors": n_men,
        "places": sum(max(0, m.capacity - m.load) for m in mentors if m.available),
        "solve_s": round(solve_s, 4),
        "matched": matched,
        "score": score,
        "greedy_s": round(greedy_s, 3),
        "greedy_matched": g_matched,
        "greedy_score": g_score,
        "ratio_greedy": round(g_score / score, 4) if score else None,
    }
    if n_req * n_men <= 2_000 * 300:
        row["check"] = "scipy_lsa"
        c_matched, c_score = lsa_objective(requests, mentors, excluded, weights)
        row.update(check_matched=c_matched, check_score=c_score)
        row["ratio_check"] = round(score / c_score, 6) if c_score else None
        row["check_ok"] = (matched, score) == (c_matched, c_score)
    else:
        rng = random.Random(seed + 1)
        sub_req = rng.sample(requests, 2_000)
        sub_men = rng.sample(mentors, 300)
        sub = solve(sub_req, sub_men, excluded=excluded)
        s_obj = objective(sub)
        c_obj = lsa_objective(sub_req, sub_men, excluded, weights)
        row["check"] = "scipy_lsa_subsample(2000x300)"
        row.update(check_sub_optimal=list(s_obj), check_sub_scipy=list(c_obj))
        row["ratio_check"] = round(s_obj[1] / c_obj[1], 6) if c_obj[1] else None
        row["check_ok"] = s_obj == c_obj
        if not quick:
            row["check"] += "+full_graph"
            t0 = time.perf_counter()
            with mock.patch.multiple(matching, ROW_CANDIDATES=10**9, COLUMN_EXTRA=10**9):
                full = objective(solve(requests, mentors, excluded=excluded))
            row["full_graph_s"] = round(time.perf_counter() - t0, 2)
            row["full_graph"] = list(full)
            row["ratio_full_graph"] = round(score / full[1], 6) if full[1] else None
            row["check_ok"] = row["check_ok"] and full == (matched, score)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 repeats, no full-graph run")
    parser.add_argument("--repeat", type=int)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    repeat = args.repeat or (2 if args.quick else 5)
    sizes = [(300, 60, 0.2), (2_000, 300, 0.2), (10_000, 1_500, 1.5)]
    rows = []
    for n_req, n_men, aim in sizes:
        row = run_size(n_req, n_men, seed=args.seed, repeat=repeat, quick=args.quick)
        row["aim_s"] = aim
        rows.append(row)
        print(
            f"{n_req:>6} x {n_men:<5} solve {row['solve_s']:7.3f} s (aim {aim}) "
            f"matched {row['matched']:>5}/{row['places']:<5} score {row['score']:>7} | "
            f"greedy {row['greedy_matched']:>5} {row['greedy_score']:>7} "
            f"ratio {row['ratio_greedy']} | check {row['check']} ok={row['check_ok']} "
            f"ratio {row['ratio_check']}",
            flush=True,
        )
    result = {
        "quick": args.quick,
        "seed": args.seed,
        "solve_s_2000x300": rows[1]["solve_s"],
        "solve_s_10000x1500": rows[2]["solve_s"],
        "within_aims": all(r["solve_s"] <= r["aim_s"] for r in rows),
        "all_checks_ok": all(r["check_ok"] for r in rows),
        "instances": rows,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
