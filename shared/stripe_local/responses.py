"""How objects and lists go out: Stripe's pretty JSON, ``expand[]``, list objects."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, g

from shared.stripe_local.errors import invalid_param
from shared.stripe_local.forms import Params
from shared.stripe_local.runtime import current


def json_response(body: Any, status: int = 200) -> Response:
    """Stripe's pretty-printed JSON, keys in the objects' own order."""
    return Response(json.dumps(body, indent=2) + "\n", status, mimetype="application/json")


def expand_paths() -> list[str]:
    params: Params | None = g.get("params")
    return params.strings("expand") if params is not None else []


def respond(obj: dict[str, Any], status: int = 200) -> Response:
    """One object, rendered and with the request's ``expand[]`` applied."""
    rt = current()
    out = rt.store.render(obj)
    rt.store.expand(out, expand_paths())
    return json_response(out, status)


def list_response(
    object_type: str,
    url: str,
    *,
    where: dict[str, Any] | None = None,
    ranges: tuple[str, ...] = ("created",),
    extra: set[str] | frozenset[str] = frozenset(),
) -> Response:
    """A Stripe list object: newest first, ``limit`` 1..100 (10), cursors, ``created``
    (and other timestamp) filters, ``expand[]=data.x``; unknown parameters are rejected."""
    params: Params = g.params
    params.reject_unknown({"limit", "starting_after", "ending_before", "expand", *ranges, *extra})
    limit = params.integer("limit", minimum=1, maximum=100) or 10
    starting_after = params.string("starting_after")
    ending_before = params.string("ending_before")
    bounds = {field: b for field in ranges if (b := params.timestamps(field))}
    paths = []
    for path in params.strings("expand"):
        if not path.startswith("data."):
            raise invalid_param(f"This property cannot be expanded ({path}).", "expand")
        paths.append(path[len("data.") :])
    store = current().store
    items, has_more = store.page(
        object_type,
        where=where,
        ranges=bounds,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
    )
    data = []
    for item in items:
        out = store.render(item)
        store.expand(out, paths)
        data.append(out)
    return json_response({"object": "list", "data": data, "has_more": has_more, "url": url})
