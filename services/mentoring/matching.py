"""Optimal mentor-mentee matching for a hub's matching run (pure code: no database, no Flask).

A run takes every open request and every mentor of one hub and proposes the assignment that is
optimal for the score below under the hard constraints (``allowed``):

- first the NUMBER of matched requests is maximised, then the total score;
- score of a pair (integer points, ``Weights``): ``topic`` per overlapping topic,
  ``setting_type`` if the mentor knows the mentee's setting type, ``language`` if the request
  names languages and one is shared, ``region`` for an in-person request in the mentor's
  region, and the load term: the k-th new mentee of a mentor in this run (k = 0, 1, ...) costs
  ``load_balance * (mentor.load + k)``. The load term is convex, so it is modelled exactly as
  unit mentor→sink arcs of increasing cost.

Model (OR-Tools ``SimpleMinCostFlow``, ``solve_max_flow_with_min_cost``: cardinality first):
source → request (capacity 1) → mentor (allowed pairs only) → sink (one unit arc per remaining
caseload place, the k-th costing the k-th load term). Integer arc costs are
``SCALE * (BIG - pair_score) + rank(mentor)`` and ``SCALE * load_term`` on the slot arcs, with
``SCALE = n_max * (M - 1) + 1`` where ``n_max`` bounds the number of matched pairs: the
tie-break term summed over any assignment is at most ``n_max * (M - 1) < SCALE``, so it can
never override one score point; among equally scored optima it prefers mentors with smaller
ids, and the solver itself is deterministic on the canonical graph (requests and mentors
sorted by id), so the same inputs in any order give the same output.

Speed: the full graph has up to R*M arcs (11M for 10,000 x 1,500: ~8 s in the solver), so the
solver sees a sparse candidate graph (each request's best mentors, each mentor's best
requests) and the result is then *certified* against the full graph: (1) no augmenting path
exists through any allowed pair (so the cardinality is maximum), and (2) node potentials from
Bellman-Ford on the sparse residual graph give every allowed pair outside the candidate set
a non-negative reduced cost (so the residual graph of the full problem has no negative cycle:
the cost is minimum for that cardinality). Pairs failing either check are added and the
sparse problem is solved again; the loop ends only with a certified optimum, so the answer is
exactly optimal, not a heuristic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ortools.graph.python import min_cost_flow

REASON_NO_CAPACITY = "no_mentor_with_capacity"
REASON_NO_FORMAT = "no_compatible_format"
REASON_EXCLUDED = "all_candidates_excluded"

#: Candidate arcs per request (its best mentors) and extra candidates per mentor (on top of
#: its remaining places) in the first sparse round; the certificate adds whatever is missing.
ROW_CANDIDATES = 6
COLUMN_EXTRA = 16
#: Rows per block when scoring the full request x mentor matrix (keeps temporaries small).
_BLOCK = 512


@dataclass(frozen=True)
class Mentor:
    id: str
    specialisms: frozenset[str]
    setting_types: frozenset[str]
    formats: frozenset[str]
    region: str | None
    languages: frozenset[str]
    setting_name: str
    capacity: int
    load: int
    available: bool = True


@dataclass(frozen=True)
class Request:
    id: str
    mentee_id: str
    topics: frozenset[str]
    setting_type: str
    format: str
    setting_name: str
    languages: frozenset[str] = frozenset()
    region: str | None = None


@dataclass(frozen=True)
class Weights:
    topic: int = 10
    setting_type: int = 6
    language: int = 4
    region: int = 5
    load_balance: int = 1


@dataclass(frozen=True)
class Proposal:
    request_id: str
    mentor_id: str
    score: int
    breakdown: dict[str, int] = field(hash=False)


@dataclass(frozen=True)
class Unmatched:
    request_id: str
    reason: str


@dataclass(frozen=True)
class MatchResult:
    proposals: list[Proposal]
    unmatched: list[Unmatched]


# --- the rules, one pair at a time ---------------------------------------------------------


def _setting_key(name: str) -> str:
    return "".join(name.casefold().split())


def _languages(values: frozenset[str]) -> frozenset[str]:
    return frozenset(v.strip().lower() for v in values)


def _remaining(mentor: Mentor) -> int:
    return max(0, mentor.capacity - mentor.load)


def score_pair(request: Request, mentor: Mentor, weights: Weights, *, nth: int = 0) -> Proposal:
    """The pair's score and its breakdown; ``nth`` = mentees the mentor already has (its load
    plus earlier assignments in this run), which sets the load-balance term."""
    req_langs = _languages(request.languages)
    breakdown = {
        "topics": weights.topic * len(request.topics & mentor.specialisms),
        "setting_type": weights.setting_type if request.setting_type in mentor.setting_types else 0,
        "language": (
            weights.language if req_langs and req_langs & _languages(mentor.languages) else 0
        ),
        "region": (
            weights.region
            if request.format == "in_person"
            and request.region is not None
            and request.region == mentor.region
            else 0
        ),
        "load_balance": -(weights.load_balance * nth),
    }
    return Proposal(request.id, mentor.id, sum(breakdown.values()), breakdown)


def _excluded_pair(request: Request, mentor: Mentor, excluded: frozenset[tuple[str, str]]) -> bool:
    """Declined before, same setting, or the mentor themself (format and capacity aside)."""
    key = _setting_key(request.setting_name)
    return (
        request.mentee_id == mentor.id
        or (request.mentee_id, mentor.id) in excluded
        or (key != "" and key == _setting_key(mentor.setting_name))
    )


def allowed(request: Request, mentor: Mentor, excluded: frozenset[tuple[str, str]]) -> bool:
    """The hard constraints of one pair."""
    return (
        mentor.available
        and _remaining(mentor) > 0
        and request.format in mentor.formats
        and not _excluded_pair(request, mentor, excluded)
    )


# --- vectorised scoring --------------------------------------------------------------------


def _bits(sets: Sequence[frozenset[str]], vocab: dict[str, int], words: int) -> np.ndarray:
    """One row of uint64 bit words per set, bit ``vocab[x]`` set for each known member."""
    out = np.zeros((len(sets), max(words, 1)), dtype=np.uint64)
    for row, values in enumerate(sets):
        for value in values:
            index = vocab.get(value)
            if index is not None:
                out[row, index >> 6] |= np.uint64(1 << (index & 63))
    return out


def _vocab(values) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {v: i for i, v in enumerate(sorted(set(values)))}


class _Instance:
    """Requests and mentors (sorted by id) encoded as arrays; scores and the allowed mask of
    every pair, computed in row blocks."""

    def __init__(
        self,
        requests: Sequence[Request],
        mentors: Sequence[Mentor],
        excluded: frozenset[tuple[str, str]],
        weights: Weights,
    ) -> None:
        self.requests = sorted(requests, key=lambda r: r.id)
        self.mentors = sorted(mentors, key=lambda m: m.id)
        self.weights = weights
        reqs, ments = self.requests, self.mentors
        R, M = len(reqs), len(ments)

        topic_vocab = _vocab(t for r in reqs for t in r.topics)
        words = (len(topic_vocab) + 63) // 64
        self.req_topics = _bits([r.topics for r in reqs], topic_vocab, words)
        self.men_topics = _bits([m.specialisms for m in ments], topic_vocab, words)

        st_vocab = _vocab(r.setting_type for r in reqs)
        self.req_st = np.array([st_vocab[r.setting_type] for r in reqs], dtype=np.int64)
        self.men_st = np.zeros((M, len(st_vocab)), dtype=bool)
        for j, m in enumerate(ments):
            for s in m.setting_types:
                if s in st_vocab:
                    self.men_st[j, st_vocab[s]] = True

        req_langs = [_languages(r.languages) for r in reqs]
        lang_vocab = _vocab(x for langs in req_langs for x in langs)
        lwords = (len(lang_vocab) + 63) // 64
        self.req_lang = _bits(req_langs, lang_vocab, lwords)
        self.req_has_lang = np.array([bool(x) for x in req_langs])
        self.men_lang = _bits([_languages(m.languages) for m in ments], lang_vocab, lwords)

        region_vocab = _vocab(r.region for r in reqs if r.region is not None)
        self.req_region = np.array(
            [
                region_vocab[r.region] if r.format == "in_person" and r.region is not None else -1
                for r in reqs
            ],
            dtype=np.int64,
        )
        self.men_region = np.array([region_vocab.get(m.region, -2) for m in ments], dtype=np.int64)

        fmt_vocab = _vocab(r.format for r in reqs)
        self.req_fmt = np.array([fmt_vocab[r.format] for r in reqs], dtype=np.int64)
        self.men_fmt = np.zeros((M, len(fmt_vocab)), dtype=bool)
        for j, m in enumerate(ments):
            for f in m.formats:
                if f in fmt_vocab:
                    self.men_fmt[j, fmt_vocab[f]] = True

        self.available = np.array([m.available for m in ments], dtype=bool)
        self.load = np.array([m.load for m in ments], dtype=np.int64)
        self.remaining = np.array([_remaining(m) for m in ments], dtype=np.int64)
        self.open = self.available & (self.remaining > 0)

        setting_vocab: dict[str, int] = {}
        keys_r = [_setting_key(r.setting_name) for r in reqs]
        keys_m = [_setting_key(m.setting_name) for m in ments]
        for key in keys_r + keys_m:
            if key:
                setting_vocab.setdefault(key, len(setting_vocab))
        self.req_setting = np.array([setting_vocab.get(k, -1) for k in keys_r], dtype=np.int64)
        self.men_setting = np.array([setting_vocab.get(k, -2) for k in keys_m], dtype=np.int64)

        # Self-pairs and declined pairs: a handful, as explicit (row, column) lists.
        mentor_index = {m.id: j for j, m in enumerate(ments)}
        by_mentee: dict[str, list[int]] = {}
        for i, r in enumerate(reqs):
            by_mentee.setdefault(r.mentee_id, []).append(i)
        rows, cols = [], []
        for i, r in enumerate(reqs):
            j = mentor_index.get(r.mentee_id)
            if j is not None:
                rows.append(i)
                cols.append(j)
        for mentee_id, mentor_id in excluded:
            j = mentor_index.get(mentor_id)
            if j is not None:
                for i in by_mentee.get(mentee_id, ()):
                    rows.append(i)
                    cols.append(j)
        self.pair_rows = np.array(rows, dtype=np.int64)
        self.pair_cols = np.array(cols, dtype=np.int64)
        self.R, self.M = R, M
        # Per setting type / format: a row over mentors (points, or offered by an available one).
        self._st_points = (self.men_st.T * weights.setting_type).astype(np.int32)
        self._fmt_ok = np.ascontiguousarray(self.men_fmt.T & self.available[None, :])
        self.any_format: np.ndarray | None = None
        self.any_candidate: np.ndarray | None = None

    def block(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pair score without the load term, format-compatible, excluded) for rows lo:hi."""
        w = self.weights
        words = self.req_topics.shape[1]
        score = np.bitwise_count(self.req_topics[lo:hi, 0, None] & self.men_topics[None, :, 0])
        score = score.astype(np.int32)
        for word in range(1, words):
            both = self.req_topics[lo:hi, word, None] & self.men_topics[None, :, word]
            score += np.bitwise_count(both)
        score *= np.int32(w.topic)
        if self._st_points.shape[0]:
            score += self._st_points[self.req_st[lo:hi]]
        if self.req_lang.shape[1] and w.language:
            shared = np.zeros((hi - lo, self.M), dtype=bool)
            for word in range(self.req_lang.shape[1]):
                shared |= (self.req_lang[lo:hi, word, None] & self.men_lang[None, :, word]) != 0
            shared &= self.req_has_lang[lo:hi, None]
            score += shared * np.int32(w.language)
        same_region = self.req_region[lo:hi, None] == self.men_region[None, :]
        score += same_region * np.int32(w.region)
        fmt = self._fmt_ok[self.req_fmt[lo:hi]]
        excl = self.req_setting[lo:hi, None] == self.men_setting[None, :]
        inside = (self.pair_rows >= lo) & (self.pair_rows < hi)
        excl[self.pair_rows[inside] - lo, self.pair_cols[inside]] = True
        return score, fmt, excl

    def matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """Pair scores (int32) and the allowed mask of all R x M pairs; also sets, per request,
        whether an available mentor offers its format (``any_format``) and whether one of
        those is not excluded (``any_candidate``), for the unmatched reasons."""
        score = np.empty((self.R, self.M), dtype=np.int32)
        ok = np.empty((self.R, self.M), dtype=bool)
        self.any_format = np.zeros(self.R, dtype=bool)
        self.any_candidate = np.zeros(self.R, dtype=bool)
        for lo in range(0, self.R, _BLOCK):
            hi = min(self.R, lo + _BLOCK)
            s, fmt, excl = self.block(lo, hi)
            score[lo:hi] = s
            candidate = fmt & ~excl
            ok[lo:hi] = candidate & self.open[None, :]
            self.any_format[lo:hi] = fmt.any(axis=1)
            self.any_candidate[lo:hi] = candidate.any(axis=1)
        return score, ok


# --- the solver ----------------------------------------------------------------------------


class _Flow:
    """The network's constant parts: costs, slot arcs and node numbering."""

    def __init__(self, inst: _Instance, score: np.ndarray, ok: np.ndarray) -> None:
        R, M = inst.R, inst.M
        self.R, self.M = R, M
        self.source, self.sink = 0, R + M + 1
        rem = np.where(inst.open, inst.remaining, 0)
        self.rem = rem
        n_max = int(min(R, rem.sum()))
        self.scale = n_max * max(M - 1, 0) + 1
        self.big = int(score[ok].max()) if ok.any() else 0
        lb = inst.weights.load_balance
        # Slot arcs: mentor j's k-th place costs SCALE * lb * (load_j + k).
        self.slot_mentor = np.repeat(np.arange(M, dtype=np.int64), rem)
        starts = np.cumsum(rem) - rem
        self.slot_k = np.arange(int(rem.sum()), dtype=np.int64) - np.repeat(starts, rem)
        self.slot_cost = self.scale * lb * (inst.load[self.slot_mentor] + self.slot_k)
        self.lb = lb
        self.load = inst.load
        self.score = score
        self.ok = ok

    def arc_cost(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return self.scale * (self.big - self.score[rows, cols].astype(np.int64)) + cols

    def slot_cost_of(self, j: np.ndarray, k: np.ndarray) -> np.ndarray:
        return self.scale * self.lb * (self.load[j] + k)

    def solve(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Min-cost max-flow over the candidate pairs; returns the matched mask over them."""
        R = self.R
        n_slots = len(self.slot_mentor)
        tails = np.concatenate(
            [
                np.zeros(R, dtype=np.int64),
                rows + 1,
                self.slot_mentor + R + 1,
            ]
        ).astype(np.int32)
        heads = np.concatenate(
            [
                np.arange(1, R + 1, dtype=np.int64),
                cols + R + 1,
                np.full(n_slots, self.sink, dtype=np.int64),
            ]
        ).astype(np.int32)
        costs = np.concatenate(
            [np.zeros(R, dtype=np.int64), self.arc_cost(rows, cols), self.slot_cost]
        )
        flow = min_cost_flow.SimpleMinCostFlow()
        flow.add_arcs_with_capacity_and_unit_cost(
            tails, heads, np.ones(len(tails), dtype=np.int64), costs
        )
        flow.set_node_supply(self.source, R)
        flow.set_node_supply(self.sink, -R)
        status = flow.solve_max_flow_with_min_cost()
        if status != min_cost_flow.SimpleMinCostFlow.OPTIMAL:
            raise RuntimeError(f"min cost flow failed: {status}")
        arcs = np.arange(R, R + len(rows), dtype=np.int32)
        return np.asarray(flow.flows(arcs)) > 0

    def potentials(
        self, rows: np.ndarray, cols: np.ndarray, used: np.ndarray, matched: np.ndarray
    ) -> np.ndarray:
        """Shortest distances from a virtual root in the sparse residual graph (Bellman-Ford;
        it converges because the residual graph of an optimal flow has no negative cycle)."""
        R, M = self.R, self.M
        node_r = np.arange(R, dtype=np.int64) + 1
        node_m = np.arange(M, dtype=np.int64) + R + 1
        cost = self.arc_cost(rows, cols)
        u = [np.where(matched, node_r, self.source), node_r[rows[~used]], node_m[cols[used]]]
        v = [np.where(matched, self.source, node_r), node_m[cols[~used]], node_r[rows[used]]]
        w = [np.zeros(R, dtype=np.int64), cost[~used], -cost[used]]
        count = np.bincount(cols[used], minlength=M)
        free = count < self.rem
        j = np.flatnonzero(free)
        u.append(node_m[j])
        v.append(np.full(len(j), self.sink))
        w.append(self.slot_cost_of(j, count[j]))
        j = np.flatnonzero(count > 0)
        u.append(np.full(len(j), self.sink))
        v.append(node_m[j])
        w.append(-self.slot_cost_of(j, count[j] - 1))
        U, V, W = np.concatenate(u), np.concatenate(v), np.concatenate(w)
        order = np.argsort(V, kind="stable")
        U, V, W = U[order], V[order], W[order]
        heads, starts = np.unique(V, return_index=True)
        dist = np.zeros(R + M + 2, dtype=np.int64)
        for _ in range(R + M + 3):
            best = np.minimum.reduceat(dist[U] + W, starts)
            better = best < dist[heads]
            if not better.any():
                return dist
            dist[heads[better]] = best[better]
        raise RuntimeError("negative cycle in the residual graph")  # pragma: no cover


def _candidates(flow: _Flow, inst: _Instance) -> np.ndarray:
    """First-round candidate mask: each request's best mentors (pair score minus the mentor's
    current load term), and each mentor's best ``remaining + COLUMN_EXTRA`` requests."""
    R, M = inst.R, inst.M
    score, ok = flow.score, flow.ok
    keep = np.zeros((R, M), dtype=bool)
    floor = np.iinfo(np.int32).min
    k = min(ROW_CANDIDATES, M)
    load_term = (flow.lb * inst.load).astype(np.int32)
    for lo in range(0, R, _BLOCK):
        hi = min(R, lo + _BLOCK)
        if k >= M:
            keep[lo:hi] = True
            continue
        key = np.where(ok[lo:hi], score[lo:hi] - load_term[None, :], floor)
        top = np.argpartition(key, M - k, axis=1)[:, M - k :]
        keep[np.arange(lo, hi)[:, None], top] = True
    need = np.minimum(flow.rem + COLUMN_EXTRA, R)
    kk = int(need.max())
    for lo in range(0, M, _BLOCK):
        hi = min(M, lo + _BLOCK)
        key = np.where(ok[:, lo:hi].T, score[:, lo:hi].T, -1)  # mentors x requests
        if kk < R:
            top = np.argpartition(key, R - kk, axis=1)[:, R - kk :]
        else:
            top = np.broadcast_to(np.arange(R), key.shape)
        # Best first (ties: lower request index), then each mentor's own number.
        picked = np.take_along_axis(key, top, axis=1)
        order = np.lexsort((top, -picked), axis=1)
        top = np.take_along_axis(top, order, axis=1)
        within = np.arange(top.shape[1])[None, :] < need[lo:hi, None]
        mentor = np.broadcast_to(np.arange(lo, hi)[:, None], top.shape)
        keep[top[within], mentor[within]] = True
    return keep & ok


def _augmenting(flow: _Flow, assign: np.ndarray, count: np.ndarray) -> np.ndarray | None:
    """Allowed pairs to add if an augmenting path exists in the full graph, else None."""
    ok = flow.ok
    reach_r = assign < 0
    reach_m = np.zeros(flow.M, dtype=bool)
    frontier = reach_r.copy()
    while frontier.any():
        new_m = ok[frontier].any(axis=0) & ~reach_m
        reach_m |= new_m
        if (new_m & (count < flow.rem)).any():
            add = np.zeros_like(ok)
            add[np.ix_(reach_r, reach_m)] = ok[np.ix_(reach_r, reach_m)]
            return add
        frontier = np.zeros_like(reach_r)
        matched = assign >= 0
        frontier[matched] = new_m[assign[matched]]
        frontier &= ~reach_r
        reach_r |= frontier
    return None


def _violations(flow: _Flow, keep: np.ndarray, dist: np.ndarray) -> np.ndarray | None:
    """Allowed pairs outside the candidates with a negative reduced cost, else None."""
    R, M = flow.R, flow.M
    pot_r, pot_m = dist[1 : R + 1], dist[R + 1 : R + M + 1]
    cols = np.arange(M, dtype=np.int64)
    add = None
    for lo in range(0, R, _BLOCK):
        hi = min(R, lo + _BLOCK)
        cost = flow.scale * (flow.big - flow.score[lo:hi].astype(np.int64)) + cols[None, :]
        reduced = cost + pot_r[lo:hi, None] - pot_m[None, :]
        bad = (reduced < 0) & flow.ok[lo:hi] & ~keep[lo:hi]
        if bad.any():
            if add is None:
                add = np.zeros_like(keep)
            add[lo:hi] = bad
    return add


def _optimal_assignment(inst: _Instance) -> np.ndarray:
    """assign[i] = mentor index of request i (sorted order) or -1, certified optimal."""
    R, M = inst.R, inst.M
    assign = np.full(R, -1, dtype=np.int64)
    if R == 0 or M == 0:
        return assign
    score, ok = inst.matrices()
    if not ok.any():
        return assign
    flow = _Flow(inst, score, ok)
    keep = _candidates(flow, inst)
    while True:
        rows, cols = np.nonzero(keep)
        used = flow.solve(rows, cols)
        assign[:] = -1
        assign[rows[used]] = cols[used]
        count = np.bincount(cols[used], minlength=M)
        add = _augmenting(flow, assign, count)
        if add is None:
            dist = flow.potentials(rows, cols, used, assign >= 0)
            add = _violations(flow, keep, dist)
        if add is None:
            return assign
        keep |= add


def _result(inst: _Instance, assign: np.ndarray) -> MatchResult:
    proposals: list[Proposal] = []
    taken = [0] * inst.M
    for i, j in enumerate(assign.tolist()):  # request-id order: k = rank among the mentor's
        if j >= 0:
            mentor = inst.mentors[j]
            proposals.append(
                score_pair(inst.requests[i], mentor, inst.weights, nth=mentor.load + taken[j])
            )
            taken[j] += 1
    if inst.any_format is None and inst.R and inst.M:
        inst.matrices()
    unmatched = []
    for i in np.flatnonzero(assign < 0).tolist():
        if inst.any_format is None or not inst.any_format[i]:
            reason = REASON_NO_FORMAT
        elif inst.any_candidate is None or not inst.any_candidate[i]:
            reason = REASON_EXCLUDED
        else:
            reason = REASON_NO_CAPACITY
        unmatched.append(Unmatched(inst.requests[i].id, reason))
    return MatchResult(proposals, unmatched)


def solve(
    requests: Sequence[Request],
    mentors: Sequence[Mentor],
    *,
    excluded: frozenset[tuple[str, str]] = frozenset(),
    weights: Weights = Weights(),
) -> MatchResult:
    """The optimal proposals of a matching run (see the module docstring)."""
    inst = _Instance(requests, mentors, excluded, weights)
    return _result(inst, _optimal_assignment(inst))


def greedy(
    requests: Sequence[Request],
    mentors: Sequence[Mentor],
    *,
    excluded: frozenset[tuple[str, str]] = frozenset(),
    weights: Weights = Weights(),
) -> MatchResult:
    """Baseline for the bench only: best pair first (pair score minus the mentor's current
    load term), ties by request id then mentor id; not optimal."""
    inst = _Instance(requests, mentors, excluded, weights)
    assign = np.full(inst.R, -1, dtype=np.int64)
    if inst.R and inst.M:
        score, ok = inst.matrices()
        rows, cols = np.nonzero(ok)
        key = score[rows, cols].astype(np.int64) - weights.load_balance * inst.load[cols]
        order = np.lexsort((cols, rows, -key))
        left = np.where(inst.open, inst.remaining, 0).tolist()
        todo, places = inst.R, int(sum(left))
        done = assign.tolist()
        for i, j in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
            if done[i] < 0 and left[j] > 0:
                done[i] = j
                left[j] -= 1
                todo -= 1
                places -= 1
                if not todo or not places:
                    break
        assign = np.array(done, dtype=np.int64)
    return _result(inst, assign)
