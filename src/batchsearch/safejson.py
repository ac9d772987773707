"""Parsing JSON from untrusted clients (pure): bounded nesting and integer size, no NaN or Infinity.

The standard parser accepts `NaN`, `Infinity` and `1e999` (which no JSON encoder may write back), turns a
5,000-digit integer into a ValueError of its own, and a 100,000-deep array into a RecursionError. `loads`
turns each of those into one `JsonInputError` that names where the value is (a dotted path, as field
problems name fields), so every edge answers a 400 instead of a 500 and nothing non-finite is echoed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 64  # a search request nests 7 levels deep; 64 leaves room and keeps every later walk shallow
MAX_INT_DIGITS = 100  # far below Python's own 4,300-digit guard; no field of any body needs more than 20
DEPTH_MESSAGE = f"JSON nests deeper than {MAX_DEPTH} levels"
INT_MESSAGE = f"Integer has more than {MAX_INT_DIGITS} digits"
FINITE_MESSAGE = "Input should be a finite number (NaN and Infinity are not JSON)"


class JsonInputError(ValueError):
    """Parseable JSON that is not acceptable input: where (`field`, a dotted path; "body" for the root) and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class _Rejected:
    """A placeholder the parser leaves where an unacceptable value stood, so the walk can name its path."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def _parse_int(text: str) -> int | _Rejected:
    digits = len(text) - (text[0] == "-")
    return int(text) if digits <= MAX_INT_DIGITS else _Rejected(INT_MESSAGE)


def _parse_float(text: str) -> float | _Rejected:
    value = float(text)
    return value if math.isfinite(value) else _Rejected(FINITE_MESSAGE)


def _parse_constant(text: str) -> _Rejected:
    return _Rejected(FINITE_MESSAGE)


_DECODER = json.JSONDecoder(parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
_decode: Callable[[str], Any] = _DECODER.decode


def loads(data: bytes | str) -> Any:
    """Parse one JSON document; JSONDecodeError (or UnicodeDecodeError) when it is not JSON at all, and
    JsonInputError when it nests too deep or holds a huge integer, NaN or an infinite number."""
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    try:
        value = _decode(text)
    except RecursionError:
        raise JsonInputError("body", DEPTH_MESSAGE) from None
    _check(value)
    return value


def _check(root: Any) -> None:
    """Walk the parsed value without recursion; raise JsonInputError at the first rejected or too-deep value."""
    if isinstance(root, _Rejected):
        raise JsonInputError("body", root.message)
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(root, ())]
    while stack:
        value, path = stack.pop()
        if not isinstance(value, dict | list):
            continue
        if len(path) >= MAX_DEPTH:
            raise JsonInputError(_dotted(path[:8]) + ".(...)", DEPTH_MESSAGE)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(item, dict | list):
                stack.append((item, (*path, key)))
            elif isinstance(item, _Rejected):
                raise JsonInputError(_dotted((*path, key)), item.message)


def _dotted(path: tuple[str | int, ...]) -> str:
    """A path as field problems write it: `query.filters.keyword.any_of.0` ("body" for the whole document)."""
    return ".".join(str(part) for part in path) if path else "body"
