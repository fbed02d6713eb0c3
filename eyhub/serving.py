"""``eyhub serve``: a component's app under gunicorn (gthread workers)."""

from __future__ import annotations

import dataclasses
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from eyhub.components import COMPONENTS, app_factory
from shared.config import Settings


class QuietAccessLogger(Logger):  # type: ignore[misc]
    """Gunicorn's logger without access lines: our app logs each request as JSON with
    secrets scrubbed, and gunicorn would otherwise build every access line's fields
    (about 4% of a proxied request's CPU in the gateway) only to discard them."""

    def access(self, *_args: Any, **_kwargs: Any) -> None:
        return None


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, component: str, settings: Settings, options: dict[str, Any]) -> None:
        self.component = component
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        """Our defaults, then a ``--config`` file and flags from ``GUNICORN_CMD_ARGS``.

        Operators tune production with gunicorn's own mechanisms (deploy/gunicorn.conf.py)
        without a second set of variables.
        """
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)
        parser = self.cfg.parser()
        env_args = parser.parse_args(self.cfg.get_cmd_args_from_env())
        if env_args.config:
            self.load_config_from_file(env_args.config)
        for key, value in vars(env_args).items():
            if value is not None and key not in ("args", "config"):
                self.cfg.set(key.lower(), value)

    def load(self) -> Any:
        app = app_factory(self.component)(self.settings)
        if self.component != "gateway":  # the gateway verifies with its own keys
            from shared.auth import warm_up_in_background

            warm_up_in_background(self.settings)
        return app


def gunicorn_options(component: str, settings: Settings, bind: str | None = None) -> dict[str, Any]:
    """Defaults that suit the embedded mode; production tunes them by env (deploy/)."""
    return {
        "bind": bind or f"127.0.0.1:{settings.port(component)}",
        "workers": settings.web_workers,
        "worker_class": "gthread",
        # The gateway's threads mostly wait on upstreams: give it more of them.
        "threads": settings.web_threads * (4 if component == "gateway" else 1),
        "timeout": 60,
        "graceful_timeout": 10,
        "keepalive": 5,
        "accesslog": None,  # our app logs requests as JSON, with secrets scrubbed
        "logger_class": "eyhub.serving.QuietAccessLogger",
        "errorlog": "-",
        "proc_name": f"eyhub-{component}",
        "preload_app": False,
        "control_socket_disable": True,  # one per host by default: several would collide
        "logconfig_dict": _json_logging(component),
    }


def _json_logging(component: str) -> dict[str, Any]:
    """Gunicorn's own lines in the same one-JSON-object-a-line format as ours."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "shared.logs.JsonFormatter", "component": component}},
        "handlers": {"console": handler, "error_console": handler},
        "root": {"level": "INFO", "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
            # Requests are logged by the app (shared.web) with secrets scrubbed; gunicorn's
            # own access lines would carry feed tokens in their paths.
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }


def serve(component: str, settings: Settings, bind: str | None = None) -> None:
    if settings.should_migrate_at_start(component):
        from shared.logs import configure_logging
        from shared.migrations import upgrade

        configure_logging(component, settings.log_level)
        # once, in the master, before workers fork
        upgrade(component, settings, COMPONENTS[component].migrations)
        settings = dataclasses.replace(settings, auto_migrate=False)
    _Gunicorn(component, settings, gunicorn_options(component, settings, bind)).run()
