"""Knowledge-graph records: entities (companies, people, places, ...) and sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class EntityCategory(str, Enum):
    """The category buckets an entity belongs to (wire values of `category`)."""

    COMPANIES = "companies"
    PEOPLE = "people"
    PLACES = "places"
    ORGANIZATIONS = "organizations"
    PRODUCTS = "products"
    CONCEPTS = "concepts"


SOURCE_RANKS = ("RANK_1", "RANK_2", "RANK_3", "RANK_4", "RANK_5")


@dataclass(frozen=True)
class Entity:
    """One knowledge-graph entity; `id` is 6 uppercase alphanumerics derived from a canonical key."""

    id: str
    name: str
    category: EntityCategory
    aliases: tuple[str, ...] = ()
    tickers: tuple[str, ...] = ()
    isins: tuple[str, ...] = ()
    listings: tuple[str, ...] = ()
    country: str | None = None
    sector: str | None = None
    industry: str | None = None
    type: str | None = None
    description: str | None = None
    webpage: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    cusips: tuple[str, ...] = ()
    sedols: tuple[str, ...] = ()
    industry_group: str | None = None
    # How well known the entity is (companies: weighted count of the indices they belong to);
    # ranks lookups and resolves ambiguous mentions. Not part of the wire format.
    popularity: float = 0.0


@dataclass(frozen=True)
class Source:
    """A publisher of documents; `rank` is RANK_1 (best) .. RANK_5."""

    id: str
    name: str
    rank: str
    country: str | None = None
    categories: tuple[str, ...] = ()
    description: str | None = None
    webpage: str | None = None
