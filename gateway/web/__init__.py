"""The gateway's web pages (issue 14): server-rendered HTML with GOV.UK Frontend.

Everything here is a client of the public API: pages call ``/api/...`` over HTTP at the
gateway's own URL with the signed-in user's bearer token (``client.py``), never another
component's database. ``install`` adds, to the gateway app:

- the ``web`` blueprint (``base.py``) with one module of pages per area: ``views.py``
  (``/``, ``/sign-in``, ``/sign-out``, ``/register``, ``/find-training``,
  ``/sessions/<id>``, ``/my-bookings``), ``programme.py`` (a hub lead's programme and
  rosters), ``cpd.py`` (CPD record, certificates, feedback), ``mentoring.py``
  (``/mentoring``, ``/caseload``, a hub's mentoring), ``budget.py`` (a hub's budget
  dashboard and reconciliation), ``admin.py`` (hubs and users);
- GOV.UK Frontend's compiled CSS, JS, fonts and images at ``/assets/...``, served from
  ``node_modules`` (``assets.py``), never copied into git;
- Flask's signed session cookie for sign-in state (``session.py``) and Flask-WTF CSRF,
  checked on the web blueprint's forms only (the JSON API takes bearer tokens, not
  cookies, so it needs none);
- HTML 404/405 pages for browsers on non-API URLs; the API keeps its problem documents.
"""

from __future__ import annotations

from flask import Flask

from shared.web import Runtime

#: The page modules, in menu order of their areas.
PAGE_MODULES = ("views", "programme", "cpd", "mentoring", "budget", "admin")


def install(app: Flask, rt: Runtime) -> None:
    import importlib

    from gateway.web import assets, base, errors, session

    for area in PAGE_MODULES:  # each adds its routes and menu links to base.bp
        importlib.import_module(f"gateway.web.{area}")
    session.configure(app, rt)
    assets.install(app)
    base.csrf.init_app(app)
    app.register_blueprint(base.bp)
    errors.install(app)
