"""Stripe's form encoding: ``line_items[0][price_data][currency]=gbp`` to nested dicts/lists.

The SDK (stripe/_encode.py) sends every request, GET query or POST body, as flat
``key[sub][0]=value`` pairs with every value a string (booleans as ``true``/``false``),
so the server decodes the nesting here and converts types per parameter in ``Params``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from shared.stripe_local.errors import invalid_param, missing_param, unknown_param

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")

#: Dicts under these keys keep their keys even when they look like list indexes.
_FREE_KEYS = frozenset({"metadata"})


def parse_query(raw: bytes | str) -> list[tuple[str, str]]:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return parse_qsl(text, keep_blank_values=True)


def decode(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nest ``a[b][0][c]=v`` pairs; ``a[]=v`` appends. Dicts whose keys are all indexes
    become lists (sorted by index), except under ``metadata``."""
    root: dict[str, Any] = {}
    appends: dict[int, int] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if not match:
            raise invalid_param(f"Invalid parameter name: {key}", key)
        path = [match.group(1), *_PART.findall(match.group(2))]
        node: dict[str, Any] = root
        for depth, part in enumerate(path):
            if part == "":  # `a[]`: the next free index of this node
                counter = appends.get(id(node), 0)
                while str(counter) in node:
                    counter += 1
                appends[id(node)] = counter + 1
                part = str(counter)
            last = depth == len(path) - 1
            current = node.get(part)
            if last:
                if isinstance(current, dict):
                    raise invalid_param(f"Invalid parameter: {key} is an object", _name(path))
                node[part] = value
            else:
                if current is None:
                    current = node[part] = {}
                elif not isinstance(current, dict):
                    raise invalid_param(
                        f"Invalid parameter: {_name(path[: depth + 1])} is not an object",
                        _name(path[: depth + 1]),
                    )
                node = current
    return _listify(root, None)


def _name(path: list[str]) -> str:
    return path[0] + "".join(f"[{p}]" for p in path[1:])


def _listify(node: Any, key: str | None) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v, k) for k, v in node.items()}
    if key not in _FREE_KEYS and converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


class Params:
    """Typed, validated access to decoded parameters, with Stripe's error messages.

    Each getter names the parameter by its wire name (``line_items[0][quantity]``) in errors,
    as Stripe does; ``reject_unknown`` answers Stripe's "Received unknown parameter"."""

    def __init__(self, data: Mapping[str, Any], prefix: str = "") -> None:
        self.data = dict(data)
        self.prefix = prefix

    def name(self, key: str) -> str:
        return f"{self.prefix}[{key}]" if self.prefix else key

    def reject_unknown(self, allowed: Iterable[str]) -> None:
        allowed = set(allowed)
        for key in self.data:
            if key not in allowed:
                raise unknown_param(self.name(key))

    def has(self, key: str) -> bool:
        return key in self.data

    def string(self, key: str, *, required: bool = False, max_length: int = 5000) -> str | None:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise missing_param(self.name(key))
            return None
        if not isinstance(value, str):
            raise invalid_param(f"Invalid string: {self.name(key)} is an object", self.name(key))
        if len(value) > max_length:
            raise invalid_param(
                f"Invalid string: {value[:20]}...; must be at most {max_length} characters",
                self.name(key),
            )
        return value

    def choice(self, key: str, choices: Iterable[str], *, required: bool = False) -> str | None:
        value = self.string(key, required=required)
        options = list(choices)
        if value is not None and value not in options:
            listed = ", ".join(f"`{c}`" for c in options)
            raise invalid_param(
                f"Invalid {self.name(key)}: must be one of {listed}", self.name(key)
            )
        return value

    def integer(
        self,
        key: str,
        *,
        required: bool = False,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise missing_param(self.name(key))
            return None
        if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
            raise invalid_param(f"Invalid integer: {value}", self.name(key))
        number = int(value)
        if minimum is not None and number < minimum:
            raise invalid_param(
                f"This value must be greater than or equal to {minimum}.", self.name(key)
            )
        if maximum is not None and number > maximum:
            raise invalid_param(
                f"This value must be less than or equal to {maximum}.", self.name(key)
            )
        return number

    def obj(self, key: str, *, required: bool = False) -> Params | None:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise missing_param(self.name(key))
            return None
        if not isinstance(value, dict):
            raise invalid_param(f"Invalid object: {self.name(key)}", self.name(key))
        return Params(value, self.name(key))

    def array(self, key: str, *, required: bool = False) -> list[Any]:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise missing_param(self.name(key))
            return []
        if isinstance(value, dict) and not value:
            return []
        if not isinstance(value, list):
            raise invalid_param(f"Invalid array: {self.name(key)}", self.name(key))
        return value

    def strings(self, key: str) -> list[str]:
        values = self.array(key)
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise invalid_param("Invalid string", f"{self.name(key)}[{i}]")
        return values

    def item(self, key: str, index: int) -> Params:
        value = self.array(key)[index]
        name = f"{self.name(key)}[{index}]"
        if not isinstance(value, dict):
            raise invalid_param(f"Invalid object: {name}", name)
        return Params(value, name)

    def metadata(self, key: str = "metadata") -> dict[str, str]:
        """Stripe's limits: at most 50 keys, keys up to 40 characters, values up to 500."""
        value = self.data.get(key)
        if value is None or value == "":
            return {}
        name = self.name(key)
        if not isinstance(value, dict):
            raise invalid_param(f"Invalid object: {name}", name)
        if len(value) > 50:
            raise invalid_param("Metadata can have up to 50 keys.", name)
        out: dict[str, str] = {}
        for k, v in value.items():
            if not isinstance(v, str):
                raise invalid_param(f"Invalid string: {name}[{k}] is an object", f"{name}[{k}]")
            if len(k) > 40:
                raise invalid_param(
                    f"Metadata key '{k}' must be at most 40 characters.", f"{name}[{k}]"
                )
            if len(v) > 500:
                raise invalid_param(
                    f"Metadata values can have up to 500 characters, but you passed in a value "
                    f"that is {len(v)} characters.",
                    f"{name}[{k}]",
                )
            if v != "":  # an empty value unsets the key, as on Stripe
                out[k] = v
        return out

    def timestamps(self, key: str) -> dict[str, int]:
        """A timestamp filter: ``created=ts`` or ``created[gte|gt|lt|lte]=ts``."""
        value = self.data.get(key)
        if value is None or value == "":
            return {}
        if isinstance(value, str):
            exact = self.integer(key)
            assert exact is not None
            return {"gte": exact, "lte": exact}
        bounds = self.obj(key)
        assert bounds is not None
        bounds.reject_unknown({"gt", "gte", "lt", "lte"})
        return {op: n for op in ("gt", "gte", "lt", "lte") if (n := bounds.integer(op)) is not None}
