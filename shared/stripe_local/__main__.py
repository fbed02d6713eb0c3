"""``python -m shared.stripe_local``: serve the stand-in until SIGTERM or SIGINT.

Each flag has an environment fallback, STRIPE_LOCAL_<FLAG> (``--webhook-url`` ->
STRIPE_LOCAL_WEBHOOK_URL); a flag wins over the environment.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from werkzeug.serving import WSGIRequestHandler, make_server

from shared.stripe_local.app import create_app
from shared.stripe_local.runtime import Config

log = logging.getLogger("stripe_local")


class _RequestLog(WSGIRequestHandler):
    """One plain line per request (werkzeug's own adds terminal colours)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.info('%s "%s" %s', self.address_string(), self.requestline, code)


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"STRIPE_LOCAL_{name}", default)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    defaults = Config()
    parser = argparse.ArgumentParser(
        prog="python -m shared.stripe_local",
        description="A small, stateful, Stripe-compatible HTTP server (see the package doc).",
    )
    parser.add_argument("--host", default=_env("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(_env("PORT", "12111") or 0))
    parser.add_argument(
        "--state", default=_env("STATE", ":memory:"), help="SQLite file (':memory:': none)"
    )
    parser.add_argument("--webhook-url", default=_env("WEBHOOK_URL"))
    parser.add_argument("--webhook-secret", default=_env("WEBHOOK_SECRET", defaults.webhook_secret))
    parser.add_argument(
        "--public-url", default=_env("PUBLIC_URL"), help="base of hosted checkout URLs"
    )
    parser.add_argument(
        "--webhook-max-attempts",
        type=int,
        default=int(_env("WEBHOOK_MAX_ATTEMPTS", str(defaults.webhook_max_attempts)) or 8),
    )
    parser.add_argument(
        "--webhook-retry-delay",
        type=float,
        default=float(_env("WEBHOOK_RETRY_DELAY", str(defaults.webhook_retry_delay)) or 0.2),
        help="seconds before the first retry; doubles each time",
    )
    parser.add_argument(
        "--expiry-interval",
        type=float,
        default=float(_env("EXPIRY_INTERVAL", str(defaults.expiry_interval)) or 1.0),
        help="seconds between sweeps for sessions past expires_at",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s stripe-local %(message)s"
    )
    config = Config(
        state=args.state,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        public_url=args.public_url,
        webhook_max_attempts=args.webhook_max_attempts,
        webhook_retry_delay=args.webhook_retry_delay,
        expiry_interval=args.expiry_interval,
    )
    app = create_app(config)
    server = make_server(args.host, args.port, app, threaded=True, request_handler=_RequestLog)
    port = server.socket.getsockname()[1]
    if config.public_url is None:
        config.public_url = f"http://{args.host}:{port}"

    stopping = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    serving = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="stripe-local-http"
    )
    serving.start()
    print(f"stripe-local listening on http://{args.host}:{port}", flush=True)
    while not stopping.wait(0.1):
        if not serving.is_alive():
            break
    server.shutdown()
    serving.join(timeout=10)
    server.server_close()
    app.extensions["stripe_local"].stop()
    print("stripe-local stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
