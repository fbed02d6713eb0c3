"""The gateway is ready only when every service it fronts is ready."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from shared.config import SERVICES, Settings


def services_check(settings: Settings):  # type: ignore[no-untyped-def]
    def check() -> dict[str, Any]:
        def probe(service: str) -> tuple[str, int | str]:
            try:
                resp = requests.get(f"{settings.service_url(service)}/readyz", timeout=3)
                return service, resp.status_code
            except requests.RequestException as exc:
                return service, type(exc).__name__

        with ThreadPoolExecutor(len(SERVICES)) as pool:
            results = dict(pool.map(probe, SERVICES))
        down = {s: r for s, r in results.items() if r != 200}
        if down:
            raise RuntimeError("not ready: " + ", ".join(f"{s} ({r})" for s, r in down.items()))
        return {"services": sorted(results)}

    return check
