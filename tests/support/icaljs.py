"""Parse iCalendar bytes with the real ical.js (Thunderbird's parser) from Python tests.

Our own parser (icalendar) would agree with whatever icalendar wrote; ical.js is an
independent client, so its reading of TZIDs and instants is the check that matters.
Needs node and ``npm ci`` at the repository root.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "js" / "parse_ics.mjs"
ICALJS = ROOT / "node_modules" / "ical.js" / "package.json"


class IcalJsError(RuntimeError):
    """ical.js could not be run, or rejected the file."""


def parse_with_icaljs(ics: bytes | str) -> dict[str, Any]:
    """What ical.js reads from ``ics``: calendar fields and one dict per VEVENT.

    See ``tests/js/parse_ics.mjs`` for the shape; each event's ``start``/``end`` are UTC
    instants computed by ical.js, and ``dtstart.zone`` is ``"floating"`` when ical.js
    could not resolve the TZID through the file's VTIMEZONE.
    """
    node = shutil.which("node")
    if node is None:
        raise IcalJsError("node is not installed; it is needed to run ical.js")
    if not ICALJS.exists():
        raise IcalJsError(f"ical.js is not installed: run `npm ci` in {ROOT}")
    data = ics.encode("utf-8") if isinstance(ics, str) else ics
    proc = subprocess.run(
        [node, str(SCRIPT)],
        input=data,
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise IcalJsError(
            f"ical.js failed to parse the file:\n{proc.stderr.decode(errors='replace')}"
        )
    return json.loads(proc.stdout)
