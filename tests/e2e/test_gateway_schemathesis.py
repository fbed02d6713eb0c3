"""Schemathesis against the gateway's merged OpenAPI document, bounded for CI.

Its own platform (not the shared session one): fuzzing registers many accounts from
127.0.0.1, which would use up the shared platform's per-IP registration limit. The
run is bounded by ``--max-examples`` and ``--max-time`` (about a minute).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.backends import Backend
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 15
MAX_SECONDS = 45


@pytest.fixture
def fuzz_platform(embedded: Backend) -> Iterator[Platform]:
    p = Platform(
        embedded,
        extra_env={
            "EYHUB_RATE_LIMIT_LOGIN": "100000/minute",
            "EYHUB_RATE_LIMIT_REGISTER": "100000/minute",
            "EYHUB_RATE_LIMIT_API": "100000/minute",
        },
    )
    try:
        p.start(demo=True)
        yield p
    finally:
        p.stop()


def test_no_server_errors_and_responses_match_the_schema(
    fuzz_platform: Platform, tmp_path: Path
) -> None:
    token = fuzz_platform.login("admin@example.org", "admin-password")
    st = Path(sys.executable).with_name("st")
    cmd = [
        str(st),
        "run",
        f"{fuzz_platform.url}/openapi.json",
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--max-time",
        str(MAX_SECONDS),
        "--phases",
        "examples,coverage,fuzzing",
        "--seed",
        "20261123",
        "--generation-database",
        "none",
        "--workers",
        "2",
        "--request-timeout",
        "20",
        "-H",
        f"Authorization: Bearer {token}",
        "--no-color",
    ]
    result = subprocess.run(
        cmd, capture_output=True, text=True, timeout=MAX_SECONDS * 4, cwd=tmp_path
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:] + "\n" + fuzz_platform.log_tail(40)
    assert "Tested:" in output and " passed" in output, output[-3000:]
