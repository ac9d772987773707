"""Entities and sources as plain JSON objects: the on-disk format of the graph and of user files."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from batchsearch.kg.model import Entity, EntityCategory, Source

_ENTITY_TUPLES = frozenset(f.name for f in fields(Entity) if str(f.type).startswith("tuple"))
_SOURCE_TUPLES = frozenset(f.name for f in fields(Source) if str(f.type).startswith("tuple"))
ENTITY_FIELDS = tuple(f.name for f in fields(Entity))
SOURCE_FIELDS = tuple(f.name for f in fields(Source))


def entity_to_json(entity: Entity) -> dict[str, Any]:
    """A JSON object with every field of the entity; empty values are left out."""
    out: dict[str, Any] = {}
    for name in ENTITY_FIELDS:
        value = getattr(entity, name)
        if value in (None, (), {}) or (name == "popularity" and not value):
            continue
        if isinstance(value, EntityCategory):
            value = value.value
        out[name] = list(value) if name in _ENTITY_TUPLES else value
    return out


def entity_from_json(data: dict[str, Any]) -> Entity:
    """The entity stored by entity_to_json (raises KeyError/ValueError/TypeError on bad data)."""
    kwargs: dict[str, Any] = {name: data[name] for name in ENTITY_FIELDS if name in data}
    kwargs["category"] = EntityCategory(data["category"])
    for name in _ENTITY_TUPLES & kwargs.keys():
        kwargs[name] = tuple(kwargs[name])
    kwargs["extra"] = {str(k): str(v) for k, v in (data.get("extra") or {}).items()}
    kwargs["popularity"] = float(data.get("popularity") or 0.0)
    return Entity(**kwargs)


def source_to_json(source: Source) -> dict[str, Any]:
    """A JSON object with every field of the source; empty values are left out."""
    out: dict[str, Any] = {}
    for name in SOURCE_FIELDS:
        value = getattr(source, name)
        if value in (None, ()):
            continue
        out[name] = list(value) if name in _SOURCE_TUPLES else value
    return out


def source_from_json(data: dict[str, Any]) -> Source:
    """The source stored by source_to_json."""
    kwargs: dict[str, Any] = {name: data[name] for name in SOURCE_FIELDS if name in data}
    for name in _SOURCE_TUPLES & kwargs.keys():
        kwargs[name] = tuple(kwargs[name])
    return Source(**kwargs)
