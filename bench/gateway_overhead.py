"""Gateway overhead: a cheap GET through the gateway versus straight to the service.

Starts the gateway and one service as real ``eyhub serve`` processes (embedded backend,
fresh temporary data folder), then measures in one run, interleaved so drift hits both
sides alike:

- latency: p50/p99 of sequential requests from one keep-alive client;
- throughput: requests per second from several concurrent clients.

Prints the figures and the gateway/direct ratios (aim: p50 within 1.3x).
The cheap GET is an authenticated ``GET /api/bookings`` (token check + one indexed
query) or, when that service lacks it, the first candidate that answers 200.

    .venv/bin/python bench/gateway_overhead.py [--requests 2000] [--clients 8] [--seconds 5]
"""

from __future__ import annotations

import argparse
import contextlib
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

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.backends import free_port_base  # noqa: E402

#: (service, port offset, path, needs a token)
CANDIDATES = [
    ("bookings", 2, "/api/bookings?limit=1", True),
    ("catalogue", 1, "/api/catalogue/sessions?limit=1", False),
    ("catalogue", 1, "/api/catalogue/hubs", False),
]


def _wait(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


def _serve(component: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = open(Path(env["EYHUB_DATA_DIR"]) / f"{component}.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "serve", component],
        cwd=REPO,
        env=env,
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def latencies(url: str, headers: dict[str, str], n: int) -> list[float]:
    session = requests.Session()
    session.get(url, headers=headers, timeout=10)  # warm the connection
    out = []
    for _ in range(n):
        t = time.perf_counter()
        resp = session.get(url, headers=headers, timeout=10)
        out.append(time.perf_counter() - t)
        if resp.status_code != 200:
            raise RuntimeError(f"{url} answered {resp.status_code}: {resp.text[:200]}")
    return out


def throughput(url: str, headers: dict[str, str], clients: int, seconds: float) -> float:
    stop = time.monotonic() + seconds
    counts = [0] * clients

    def run(i: int) -> None:
        session = requests.Session()
        while time.monotonic() < stop:
            if session.get(url, headers=headers, timeout=10).status_code == 200:
                counts[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - started)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    base = free_port_base()
    data = tempfile.mkdtemp(prefix="eyhub-bench-")
    env = {
        **os.environ,
        "EYHUB_DATA_DIR": data,
        "EYHUB_PORT_BASE": str(base),
        "EYHUB_LOG_LEVEL": "WARNING",
        "EYHUB_RATE_LIMIT_API": "10000000/minute",
    }
    subprocess.run(
        [sys.executable, "-m", "shared.cli", "migrate"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    procs: list[subprocess.Popen[bytes]] = []
    try:
        gateway = f"http://127.0.0.1:{base}"
        started: set[str] = set()

        def ensure(component: str, offset: int) -> bool:
            if component not in started:
                started.add(component)
                procs.append(_serve(component, env))
                try:
                    _wait(f"http://127.0.0.1:{base + offset}/healthz")
                except TimeoutError:
                    log = (Path(data) / f"{component}.log").read_text()[-2000:]
                    print(f"{component} did not start:\n{log}")
                    return False
            return True

        if not ensure("gateway", 0):
            return 1
        token = requests.post(
            f"{gateway}/api/auth/token",
            json={"email": "admin@example.org", "password": "admin-password"},
            timeout=10,
        ).json()["access_token"]
        chosen = None
        for service, offset, path, needs_token in CANDIDATES:
            if not ensure(service, offset):
                continue
            headers = {"Authorization": f"Bearer {token}"} if needs_token else {}
            direct = f"http://127.0.0.1:{base + offset}{path}"
            try:
                if requests.get(direct, headers=headers, timeout=10).status_code == 200:
                    chosen = (service, direct, gateway + path, headers, path)
                    break
            except requests.RequestException:
                continue
        if chosen is None:
            print("no cheap GET answers 200 on any service yet; nothing to measure")
            return 1
        service, direct, through, headers, path = chosen
        print(
            f"GET {path} ({service}); {args.requests} sequential requests, "
            f"{args.clients} clients for {args.seconds:.0f}s"
        )
        lat_d: list[float] = []
        lat_g: list[float] = []
        half = args.requests // 2
        for _ in range(2):  # interleave: direct, gateway, direct, gateway
            lat_d += latencies(direct, headers, half)
            lat_g += latencies(through, headers, half)
        # Context: what one more Python HTTP hop costs with no proxying at all.
        hop = pct(latencies(f"{gateway}/healthz", {}, half), 50)
        rps_d = throughput(direct, headers, args.clients, args.seconds)
        rps_g = throughput(through, headers, args.clients, args.seconds)
        rows = [
            ("direct", pct(lat_d, 50), pct(lat_d, 99), rps_d),
            ("gateway", pct(lat_g, 50), pct(lat_g, 99), rps_g),
        ]
        print(f"{'':10}{'p50 ms':>10}{'p99 ms':>10}{'req/s':>10}")
        for name, p50, p99, rps in rows:
            print(f"{name:10}{p50:10.2f}{p99:10.2f}{rps:10.0f}")
        r50 = rows[1][1] / rows[0][1]
        print(
            f"ratio gateway/direct: p50 {r50:.2f}x  p99 {rows[1][2] / rows[0][2]:.2f}x  "
            f"throughput {rows[1][3] / rows[0][3]:.2f}x  (aim: p50 <= 1.3x)"
        )
        print(f"(one gunicorn+Flask hop alone, gateway GET /healthz: p50 {hop:.2f} ms)")
        return 0
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            p.wait(15)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
