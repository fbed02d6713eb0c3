"""401 → 403 → 422: who may call an operation is checked before its input is validated.

Walks each app's url map for the views ``shared.auth.requires`` guards and sends each an
invalid body and query: without a token the answer is 401, with a token of a role the
operation refuses it is 403 — never 422, whose field errors would tell a caller who may
not use the operation what it accepts. A caller with an allowed role gets the 422.
A static check makes sure every view that asks for the caller is guarded this way.
"""

from __future__ import annotations

import ast
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway import MIGRATIONS as GATEWAY_MIGRATIONS
from shared.auth import REQUIRES_ATTR, ROLES, issue_token
from shared.config import SERVICES
from shared.migrations import upgrade
from tests.support.backends import Backend, free_port_base
from tests.support.tokens import install_test_verifier, make_token

REPO = Path(__file__).resolve().parents[2]
API_MODULES = sorted(
    [
        REPO / "gateway" / "api.py",
        *REPO.glob("services/*/api.py"),
        *REPO.glob("services/*/*_api.py"),
    ]
)
_PATH_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
INVALID_BODY = ["not", "an", "object"]
#: Put in every field of an operation's query schema: not a number, UUID, boolean,
#: cursor or choice.
INVALID_VALUE = "!not-valid!"
#: Every ``hub_id`` in a path, and the hub the walk's hub leads lead (a lead of another
#: hub is rightly refused with 403 before validation).
WALK_HUB = uuid.UUID("0e0e0e0e-0e0e-4e0e-8e0e-0e0e0e0e0e0e")


@dataclass(frozen=True)
class Operation:
    method: str
    rule: str
    roles: frozenset[str]
    view: Callable[..., Any]

    @property
    def url(self) -> str:
        def fill(match: re.Match[str]) -> str:
            if match.group(2) == "hub_id":  # the hub the walk's leads lead
                return str(WALK_HUB)
            return str(uuid.uuid4()) if match.group(1) == "uuid" else "x"

        return _PATH_PARAM.sub(fill, self.rule)

    @property
    def openapi_path(self) -> str:
        return _PATH_PARAM.sub(lambda m: "{" + m.group(2) + "}", self.rule)

    @property
    def takes_arguments(self) -> bool:
        return bool(getattr(self.view, "_apidoc", {}).get("arguments"))

    @property
    def invalid_query(self) -> dict[str, str]:
        """An invalid value for every field of the query schemas the view parses."""
        query = {}
        arguments = getattr(self.view, "_apidoc", {}).get("arguments", {})
        for parameter in arguments.get("parameters", []):
            if parameter.get("in") == "query":
                schema = parameter["schema"]
                schema = schema() if isinstance(schema, type) else schema
                for name, field in schema.fields.items():
                    query[field.data_key or name] = INVALID_VALUE
        return query


def guarded_operations(app: Flask) -> list[Operation]:
    """Every (method, rule) whose view carries ``@requires``."""
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            func = getattr(view_class, method.lower(), None) if view_class else view
            roles = getattr(func, REQUIRES_ATTR, None)
            if func is not None and roles is not None:
                found.append(Operation(method, rule.rule, roles, func))
    return found


@dataclass
class Component:
    app: Flask
    token: Callable[[str], str]  # role -> a bearer token of a user with only that role

    @property
    def client(self) -> FlaskClient:
        return self.app.test_client()


def _gateway(backend: Backend) -> Component:
    from gateway.app import create_app

    closed = free_port_base(len(SERVICES))
    settings = backend.settings(
        **{
            f"EYHUB_{s.upper()}_URL": f"http://127.0.0.1:{closed + i}"
            for i, s in enumerate(SERVICES)
        }
    )
    upgrade("gateway", settings, GATEWAY_MIGRATIONS)
    app = create_app(settings)
    keyring = app.extensions["eyhub"].extras["keyring"]

    def token(role: str) -> str:
        key = keyring.signing_key
        return issue_token(
            key.private_key,
            key.kid,
            settings,
            user_id=str(uuid.uuid4()),
            email=f"{role}@example.org",
            name=role,
            roles=[role],
        )

    return Component(app, token)


def _service(create_app: Callable[..., Flask]) -> Callable[[Backend], Component]:
    def build(backend: Backend) -> Component:
        app = create_app(backend.settings())
        install_test_verifier(app)
        settings = app.extensions["eyhub"].settings
        return Component(
            app,
            lambda role: make_token(
                settings, user_id=str(uuid.uuid4()), roles=[role], hub_ids=[str(WALK_HUB)]
            ),
        )

    return build


def _catalogue(backend: Backend) -> Component:
    from services.catalogue.app import create_app

    return _service(create_app)(backend)


def _bookings(backend: Backend) -> Component:
    from services.bookings.app import create_app

    return _service(create_app)(backend)


def _mentoring(backend: Backend) -> Component:
    from services.mentoring.app import create_app

    return _service(create_app)(backend)


def _budget(backend: Backend) -> Component:
    from services.budget.app import create_app

    return _service(create_app)(backend)


COMPONENTS = {
    "gateway": _gateway,
    "catalogue": _catalogue,
    "bookings": _bookings,
    "mentoring": _mentoring,
    "budget": _budget,
}
#: The fewest guarded operations each app has (so an empty walk cannot pass).
AT_LEAST = {"gateway": 5, "catalogue": 9, "bookings": 15, "mentoring": 23, "budget": 8}


@pytest.fixture(params=sorted(COMPONENTS))
def component(request: pytest.FixtureRequest, backend: Backend) -> Iterator[tuple[str, Component]]:
    yield request.param, COMPONENTS[request.param](backend)


def _send(client: FlaskClient, op: Operation, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.open(
        op.url, method=op.method, json=INVALID_BODY, query_string=op.invalid_query, headers=headers
    )


def test_no_token_is_401_and_a_refused_role_is_403_before_any_422(
    component: tuple[str, Component],
) -> None:
    name, comp = component
    ops = guarded_operations(comp.app)
    assert len(ops) >= AT_LEAST[name], [(o.method, o.rule) for o in ops]
    client = comp.client
    wrong: list[str] = []
    for op in ops:
        label = f"{op.method} {op.rule}"
        resp = _send(client, op)
        if resp.status_code != 401 or resp.mimetype != "application/problem+json":
            wrong.append(f"{label} without a token: {resp.status_code}, not 401")
        if op.roles:
            refused = next(r for r in ROLES if r not in op.roles and r != "admin")
            resp = _send(client, op, comp.token(refused))
            if resp.status_code != 403:
                wrong.append(f"{label} as {refused}: {resp.status_code}, not 403")
        allowed = sorted(op.roles)[0] if op.roles else "practitioner"
        resp = _send(client, op, comp.token(allowed))
        if op.takes_arguments and resp.status_code != 422:
            wrong.append(f"{label} as {allowed}: {resp.status_code}, not 422")
        if resp.status_code in (401, 403) or resp.status_code >= 500:
            wrong.append(f"{label} as {allowed}: {resp.status_code}")
    assert not wrong, "\n".join(wrong)


def test_the_guard_keeps_the_openapi_documentation(component: tuple[str, Component]) -> None:
    """``requires`` uses functools.wraps, so what flask-smorest's decorators collected
    (``_apidoc``) is the wrapped view's; and every operation the document marks as
    needing a bearer token is guarded."""
    _, comp = component
    ops = guarded_operations(comp.app)
    for op in ops:
        wrapped = op.view.__wrapped__  # type: ignore[attr-defined]
        assert getattr(op.view, "_apidoc", None) == getattr(wrapped, "_apidoc", None), op
        assert op.view.__doc__ == wrapped.__doc__
    spec = comp.app.extensions["eyhub"].extras["api"].spec.to_dict()
    guarded = {(op.method.lower(), op.openapi_path) for op in ops}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and operation.get("security"):
                assert (method, path) in guarded, f"{method.upper()} {path} is not guarded"


def _calls(func: ast.FunctionDef) -> set[str]:
    """Names this function calls itself (not in functions nested inside it)."""
    names: set[str] = set()
    stack: list[ast.AST] = list(func.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            names.add(node.func.id)
        stack.extend(ast.iter_child_nodes(node))
    return names


def _guarded(func: ast.FunctionDef) -> bool:
    for deco in func.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        if isinstance(target, ast.Name | ast.Attribute) and (
            getattr(target, "id", None) == "requires" or getattr(target, "attr", None) == "requires"
        ):
            return True
    return False


@pytest.mark.parametrize("module", API_MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_view_that_asks_for_the_caller_is_guarded(module: Path) -> None:
    tree = ast.parse(module.read_text())
    unguarded = [
        f"{module.name}:{node.lineno} {node.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        and _calls(node) & {"require_identity", "require_role"}
        and not _guarded(node)
    ]
    assert not unguarded, f"add @requires(...) above @blp.arguments: {unguarded}"
