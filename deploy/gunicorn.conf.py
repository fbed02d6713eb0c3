"""Gunicorn settings for running one component with plain ``gunicorn``.

The containers start components with ``eyhub serve <component> --bind 0.0.0.0:<port>``,
which builds its gunicorn settings in ``eyhub.serving.gunicorn_options`` (gthread,
EYHUB_WEB_WORKERS x EYHUB_WEB_THREADS, JSON logs, no control socket). This file is the
same settings for operators who want gunicorn's own command line (extra flags, another
supervisor), plus container-friendly extras; it starts from ``gunicorn_options`` so the
two cannot drift apart::

    gunicorn -c deploy/gunicorn.conf.py 'services.catalogue.app:create_app()'
    gunicorn -c deploy/gunicorn.conf.py 'gateway.app:create_app()'

The component is read from the app argument; the port is ``$PORT`` when set (gunicorn's
own convention), else the component's port from EYHUB_PORT_BASE. Unlike ``eyhub serve``
this never migrates: run ``eyhub migrate`` first (the compose ``migrate`` service, the
Kubernetes ``eyhub-migrate`` Job).
"""

from __future__ import annotations

import os
import re
import sys

from eyhub.serving import gunicorn_options
from shared.config import COMPONENTS, load_settings

_APP = re.compile(r"^(?:gateway|services\.(?P<service>\w+))\.app:")


def component_from_argv(argv: list[str]) -> str:
    """Which component the app argument names (``gateway.app:...``, ``services.X.app:...``)."""
    for arg in argv:
        match = _APP.match(arg)
        if match:
            name = match.group("service") or "gateway"
            if name in COMPONENTS:
                return name
    raise RuntimeError(
        "deploy/gunicorn.conf.py: name the app as 'gateway.app:create_app()' or "
        f"'services.<service>.app:create_app()' (services: {', '.join(COMPONENTS[1:])})"
    )


_settings = load_settings()
_component = component_from_argv(sys.argv[1:])
_port = os.environ.get("PORT") or str(_settings.port(_component))
_options = gunicorn_options(_component, _settings, bind=f"0.0.0.0:{_port}")

bind = [_options["bind"]]
workers = _options["workers"]  # EYHUB_WEB_WORKERS
worker_class = _options["worker_class"]  # gthread: threads share one DB pool per process
threads = _options["threads"]  # EYHUB_WEB_THREADS
timeout = _options["timeout"]
graceful_timeout = 25  # under the pods' 30 s terminationGracePeriodSeconds
keepalive = _options["keepalive"]
accesslog = _options["accesslog"]  # None: the app logs each request as JSON, secrets scrubbed
errorlog = _options["errorlog"]
logconfig_dict = _options["logconfig_dict"]  # gunicorn's own lines as JSON too
loglevel = _settings.log_level.lower()
proc_name = _options["proc_name"]
preload_app = _options["preload_app"]
control_socket_disable = True  # one per host by default: replicas on a node would collide

# Container extras.
worker_tmp_dir = "/dev/shm"  # heartbeat files on tmpfs: a slow overlay disk is not a dead worker
max_requests = 5000  # recycle workers now and then, staggered so they never restart together
max_requests_jitter = 500
limit_request_line = 8190
