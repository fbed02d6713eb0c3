"""GOV.UK Frontend's compiled files at ``/assets/...``, straight from ``node_modules``.

The compiled stylesheet asks for its fonts and images at ``/assets/fonts/...`` and
``/assets/images/...`` (the package's default ``$govuk-assets-path``), so those map to
``dist/govuk/assets/``; the stylesheet and script themselves sit one level up. Nothing is
copied into git: ``make install`` runs ``npm ci``; the Docker image copies the package's
``dist/govuk`` into ``/app/node_modules`` (deploy/Dockerfile).
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, abort, send_from_directory

REPO = Path(__file__).resolve().parents[2]
DIST = Path("node_modules/govuk-frontend/dist/govuk")
#: Files served from dist/govuk itself; everything else comes from dist/govuk/assets.
TOP_LEVEL = frozenset({"govuk-frontend.min.css", "govuk-frontend.min.js"})
MAX_AGE = 3600


def frontend_dir() -> Path | None:
    """Where GOV.UK Frontend's compiled files are, or None when it is not installed."""
    for path in (REPO / DIST, Path.cwd() / DIST, Path("/app") / DIST):
        if (path / "govuk-frontend.min.css").is_file():
            return path
    return None


def install(app: Flask) -> None:
    root = frontend_dir()

    def asset(filename: str) -> Response:
        if root is None:
            abort(404)
        if filename in TOP_LEVEL:
            return send_from_directory(root, filename, max_age=MAX_AGE)
        return send_from_directory(root / "assets", filename, max_age=MAX_AGE)

    app.add_url_rule("/assets/<path:filename>", "web_asset", asset, methods=["GET", "HEAD"])
