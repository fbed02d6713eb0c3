"""Copy four of the browser journeys' screenshots into docs/screenshots/ for the README.

The journeys (tests/web) write every page at phone and laptop widths to
var/screenshots/ (not in git); this picks four, scales laptop shots to 960 px wide and
stores them as 256-colour PNGs so the repository stays small. Run after ``make test``:

    .venv/bin/python -m tests.web.readme_screenshots
"""

from __future__ import annotations

import sys

from PIL import Image

from tests.support.platform import REPO

SOURCE = REPO / "var" / "screenshots"
TARGET = REPO / "docs" / "screenshots"
#: (screenshot, the width it is kept at)
CHOSEN = [
    ("find-training-phone", 390),
    ("caseload-phone", 390),
    ("roster-laptop", 960),
    ("budget-laptop", 960),
]


def main() -> int:
    missing = [name for name, _w in CHOSEN if not (SOURCE / f"{name}.png").exists()]
    if missing:
        print(f"no {', '.join(missing)} in {SOURCE}: run make test first", file=sys.stderr)
        return 1
    TARGET.mkdir(parents=True, exist_ok=True)
    for name, width in CHOSEN:
        with Image.open(SOURCE / f"{name}.png") as shot:
            image = shot.convert("RGB")
        if image.width > width:
            image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
            TARGET / f"{name}.png", optimize=True
        )
        print(f"{name}.png: {(TARGET / f'{name}.png').stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
