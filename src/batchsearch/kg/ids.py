"""Deterministic ids: 6 uppercase alphanumerics derived from a canonical key.

The same key always gives the same id, so rebuilding the graph keeps every id. Canonical keys:

    company:isin:US5949181045          company:name:<match key of the name>
    person:<company id>:<match key>    place:country:US
    place:city:<country>:<match key>   place:region:<country>:<match key>
    concept:sector:<match key>         source:<match key of the name>
"""

from __future__ import annotations

import hashlib
from collections.abc import Container

from batchsearch.kg.names import match_key

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ID_LENGTH = 6
_SPACE = len(_ALPHABET) ** _ID_LENGTH


def _hashed_id(namespace: str, canonical_key: str, attempt: int) -> str:
    salt = f"#{attempt}" if attempt else ""
    digest = hashlib.sha256(f"{namespace}|{canonical_key}{salt}".encode()).digest()
    number = int.from_bytes(digest[:8], "big") % _SPACE
    chars = []
    for _ in range(_ID_LENGTH):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def entity_id(canonical_key: str, attempt: int = 0) -> str:
    """The id of the entity with this canonical key; `attempt` > 0 only to step past a collision."""
    return _hashed_id("entity", canonical_key, attempt)


def source_id(canonical_key: str, attempt: int = 0) -> str:
    """The id of the source with this canonical key; `attempt` > 0 only to step past a collision."""
    return _hashed_id("source", canonical_key, attempt)


def allocate_entity_id(canonical_key: str, taken: Container[str]) -> str:
    """The key's id, or the next attempt's when another key already holds it (deterministic)."""
    attempt = 0
    while (candidate := entity_id(canonical_key, attempt)) in taken:
        attempt += 1
    return candidate


def allocate_source_id(canonical_key: str, taken: Container[str]) -> str:
    """Like allocate_entity_id, for sources."""
    attempt = 0
    while (candidate := source_id(canonical_key, attempt)) in taken:
        attempt += 1
    return candidate


def company_key(name: str, primary_isin: str | None = None) -> str:
    """Canonical key of a company: its primary ISIN when it has one, else its name."""
    if primary_isin:
        return f"company:isin:{primary_isin.upper()}"
    return f"company:name:{match_key(name)}"


def person_key(company: str | None, name: str) -> str:
    """Canonical key of a person, scoped by the id of the company they are known through."""
    return f"person:{company or '-'}:{match_key(name)}"


def country_key(code: str) -> str:
    """Canonical key of a country (ISO alpha-2)."""
    return f"place:country:{code.upper()}"


def city_key(country: str | None, city: str) -> str:
    """Canonical key of a city within a country."""
    return f"place:city:{(country or '-').upper()}:{match_key(city)}"


def region_key(country: str, region: str) -> str:
    """Canonical key of a state or region within a country."""
    return f"place:region:{country.upper()}:{match_key(region)}"


def sector_key(name: str) -> str:
    """Canonical key of a sector concept."""
    return f"concept:sector:{match_key(name)}"


def generic_key(category: str, name: str) -> str:
    """Canonical key of any other entity (user-loaded organizations, products, concepts)."""
    return f"{category}:name:{match_key(name)}"


def source_key(name: str) -> str:
    """Canonical key of a source (publisher)."""
    return f"source:{match_key(name)}"
