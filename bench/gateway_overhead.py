"""Gateway overhead: a cheap GET through the gateway versus straight to the service.

Starts the gateway and one service as real ``eyhub serve`` processes (fresh data folder;
PostgreSQL + RabbitMQ when EYHUB_TEST_DATABASE_URL and EYHUB_TEST_BROKER_URL are set,
the embedded SQLite + filesystem broker otherwise), then, for each client count in
``--clients`` (default 1 and 32), measures request latency with that many concurrent
keep-alive clients, direct and through the gateway, in alternating rounds so drift
hits both sides alike.

The cheap GET is an authenticated ``GET /api/bookings?limit=1`` (token check + one
indexed query) or, when that service lacks it, the first candidate that answers 200.
The client is a bare ``http.client`` connection per thread, so its own cost (which both
sides pay) is small and does not flatter the ratio. On Linux it also reports the CPU
each server process spent per request (from /proc): on a shared machine that is steadier
than latency, and it shows where the time goes.

Aim (issue 10 §4): p50 within 1.3x of direct and at most 1 ms added, at 1 and 32
clients. The last stdout line is one JSON object; the ``_32`` keys are the 32-client run.

    .venv/bin/python bench/gateway_overhead.py [--quick] [--clients 1,32] [--rounds 8]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.backends import Backend, free_port_base, servers_configured  # noqa: E402

#: The launcher's console script: stays valid wherever the CLI module lives.
EYHUB = str(Path(sys.executable).with_name("eyhub"))

#: (service, port offset, path, needs a token)
CANDIDATES = [
    ("bookings", 2, "/api/bookings?limit=1", True),
    ("catalogue", 1, "/api/catalogue/sessions?limit=1", False),
    ("catalogue", 1, "/api/catalogue/hubs", False),
]


def say(msg: str) -> None:
    print(msg, flush=True)


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(url)


def _serve(component: str, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    with open(logs / f"{component}.log", "wb") as log:
        return subprocess.Popen(
            [EYHUB, "serve", component],
            cwd=REPO,
            env=env,
            start_new_session=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


class Target:
    """One GET to repeat on 127.0.0.1: port, path and headers."""

    def __init__(self, port: int, path: str, headers: dict[str, str]) -> None:
        self.port = port
        self.path = path
        self.headers = headers

    def connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self.get(conn)  # open and warm the keep-alive connection
        return conn

    def get(self, conn: http.client.HTTPConnection) -> None:
        conn.request("GET", self.path, headers=self.headers)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{self.path} answered {resp.status}: {body[:200]!r}")


class Run(NamedTuple):
    latencies: list[float]  # seconds, one per request
    rate: float  # requests per second
    cpu: dict[str, float]  # CPU seconds each watched process spent meanwhile (Linux)


def run(
    target: Target,
    clients: int,
    *,
    requests_each: int = 0,
    seconds: float = 0,
    watch: dict[str, int] | None = None,
) -> Run:
    """``clients`` concurrent keep-alive clients GET ``target``, once connected and warm.

    Each client sends ``requests_each`` requests, or as many as fit in ``seconds``;
    ``watch`` names processes (gunicorn masters) whose CPU time is measured meanwhile.
    """
    watch = watch or {}
    conns = [target.connect() for _ in range(clients)]
    per_client: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client(i: int) -> None:
        conn, out = conns[i], per_client[i]
        clock = time.perf_counter
        try:
            barrier.wait()
            n = 0
            while (n < requests_each) if requests_each else (clock() < stop_at[0]):
                t = clock()
                target.get(conn)
                out.append(clock() - t)
                n += 1
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    cpu_start = {name: tree_cpu(pid) for name, pid in watch.items()}
    started = time.perf_counter()
    stop_at[0] = started + seconds
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    cpu_end = {name: tree_cpu(pid) for name, pid in watch.items()}
    for conn in conns:
        conn.close()
    if errors:
        raise errors[0]
    lat = [x for out in per_client for x in out]
    cpu = {
        name: end - start
        for name, start in cpu_start.items()
        if start is not None and (end := cpu_end[name]) is not None
    }
    return Run(lat, len(lat) / elapsed, cpu)


def tree_cpu(pid: int) -> float | None:
    """CPU seconds used so far by a process and its children (gunicorn master + workers).

    Read from /proc (Linux); None elsewhere. Per-request CPU is a steadier measure than
    latency on a shared machine, and says which process the time goes to.
    """
    try:
        pids = [pid] + [
            int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ]
        total = 0
        for p in pids:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
        return total / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def compare(
    direct: Target,
    gateway: Target,
    pids: dict[str, int],
    clients: int,
    rounds: int,
    n: int,
    seconds: float,
) -> dict[str, float]:
    """Alternate direct and gateway rounds: p50/p99 (ms), requests/s and, where /proc
    exists, CPU ms per request of the gateway and of the service, for each side."""
    lat: dict[str, list[float]] = {"direct": [], "gateway": []}
    rps: dict[str, list[float]] = {"direct": [], "gateway": []}
    cpu = {(side, proc): 0.0 for side in lat for proc in pids}
    for r in range(rounds):
        order = ("direct", "gateway") if r % 2 == 0 else ("gateway", "direct")
        for side in order:
            target = direct if side == "direct" else gateway
            if clients == 1:
                result = run(target, 1, requests_each=n, watch=pids)
            else:
                result = run(target, clients, seconds=seconds, watch=pids)
            for proc, used in result.cpu.items():
                cpu[side, proc] += used
            lat[side] += result.latencies
            rps[side].append(result.rate)
    d50, g50 = pct(lat["direct"], 50), pct(lat["gateway"], 50)
    nd, ng = len(lat["direct"]), len(lat["gateway"])
    return {
        "direct_p50_ms": round(d50, 3),
        "gateway_p50_ms": round(g50, 3),
        "ratio_p50": round(g50 / d50, 3),
        "added_ms": round(g50 - d50, 3),
        "direct_p99_ms": round(pct(lat["direct"], 99), 3),
        "gateway_p99_ms": round(pct(lat["gateway"], 99), 3),
        "direct_rps": round(statistics.mean(rps["direct"]), 1),
        "gateway_rps": round(statistics.mean(rps["gateway"]), 1),
        "gateway_cpu_ms": round(cpu["gateway", "gateway"] / ng * 1000, 3),
        "service_cpu_ms_direct": round(cpu["direct", "service"] / nd * 1000, 3),
        "service_cpu_ms_via_gateway": round(cpu["gateway", "service"] / ng * 1000, 3),
        "samples": min(nd, ng),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds: done in under 60 s")
    parser.add_argument(
        "--clients", default="1,32", help="comma-separated concurrent client counts (1,32)"
    )
    # Many short alternating rounds: on a shared machine the load drifts within seconds.
    parser.add_argument("--rounds", type=int, help="alternating rounds per side (8; quick 4)")
    parser.add_argument("--requests", type=int, help="requests per round at 1 client (250; 150)")
    parser.add_argument("--seconds", type=float, help="seconds per round, N clients (1.5; 1)")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",") if c.strip()]
    rounds = args.rounds or (4 if args.quick else 8)
    n = args.requests or (150 if args.quick else 250)
    seconds = args.seconds or (1.0 if args.quick else 1.5)

    kind = "server" if servers_configured() else "embedded"
    tmp = Path(tempfile.mkdtemp(prefix="eyhub-bench-gw-"))
    backend = Backend(kind, tmp / "data")
    backend.create()
    base = free_port_base()
    env = {
        **os.environ,
        **backend.env(base),
        "EYHUB_LOG_LEVEL": "WARNING",
        "EYHUB_RATE_LIMIT_API": "100000000/minute",
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run([EYHUB, "migrate"], cwd=REPO, env=env, check=True, capture_output=True)
        started: dict[str, bool] = {}
        pids: dict[str, int] = {}

        def ensure(component: str, offset: int) -> bool:
            if component not in started:
                proc = _serve(component, env, tmp)
                procs.append(proc)
                pids[component] = proc.pid
                try:
                    _wait(f"http://127.0.0.1:{base + offset}/healthz", proc)
                    started[component] = True
                except (TimeoutError, RuntimeError) as exc:
                    log = (tmp / f"{component}.log").read_text(errors="replace")[-2000:]
                    say(f"{component} did not start ({exc}):\n{log}")
                    started[component] = False
            return started[component]

        if not ensure("gateway", 0):
            return 1
        token = requests.post(
            f"http://127.0.0.1:{base}/api/auth/token",
            json={"email": "admin@example.org", "password": "admin-password"},
            timeout=30,
        ).json()["access_token"]
        chosen = None
        for service, offset, path, needs_token in CANDIDATES:
            if not ensure(service, offset):
                continue
            headers = {"Authorization": f"Bearer {token}"} if needs_token else {}
            with contextlib.suppress(requests.RequestException):
                url = f"http://127.0.0.1:{base + offset}{path}"
                if requests.get(url, headers=headers, timeout=30).status_code == 200:
                    chosen = (service, offset, path, headers)
                    break
        if chosen is None:
            say("no cheap GET answers 200 on any service yet; nothing to measure")
            return 1
        service, offset, path, headers = chosen
        direct = Target(base + offset, path, headers)
        gateway = Target(base, path, headers)
        # Warm both (the service fetches the gateway's keys on its first token).
        run(direct, 1, requests_each=50)
        run(gateway, 1, requests_each=50)
        say(f"GET {path} ({service}, {kind} backend); {rounds} alternating rounds per side")

        result: dict[str, object] = {}
        say(f"{'clients':>8}{'':9}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}")
        for clients in counts:
            tracked = {"gateway": pids["gateway"], "service": pids[service]}
            row = compare(direct, gateway, tracked, clients, rounds, n, seconds)
            for side in ("direct", "gateway"):
                say(
                    f"{clients:>8} {side:8}{row[f'{side}_p50_ms']:9.2f}"
                    f"{row[f'{side}_p99_ms']:9.2f}{row[f'{side}_rps']:9.0f}"
                )
            say(
                f"{'':8} ratio p50 {row['ratio_p50']:.2f}x, added {row['added_ms']:.2f} ms "
                "(aim: <= 1.3x and <= 1 ms)"
            )
            say(
                f"{'':8} CPU ms per request: gateway {row['gateway_cpu_ms']:.2f}, {service} "
                f"{row['service_cpu_ms_direct']:.2f} direct / "
                f"{row['service_cpu_ms_via_gateway']:.2f} via the gateway"
            )
            suffix = "" if clients == 1 else f"_{clients}"
            result.update({f"{k}{suffix}": v for k, v in row.items()})
        # Context: one more gunicorn + Flask hop with no proxying and no token at all.
        hop = run(Target(base, "/healthz", {}), 1, requests_each=n, watch=pids)
        result["hop_p50_ms"] = round(pct(hop.latencies, 50), 3)
        if "gateway" in hop.cpu:
            result["hop_cpu_ms"] = round(hop.cpu["gateway"] / len(hop.latencies) * 1000, 3)
        result["backend"] = kind
        result["path"] = path
        say(
            f"(the gateway's GET /healthz alone: p50 {result['hop_p50_ms']:.2f} ms, "
            f"{result.get('hop_cpu_ms', float('nan')):.2f} ms CPU)"
        )
        print(json.dumps(result), flush=True)
        return 0
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
        backend.destroy()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
