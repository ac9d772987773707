"""Entities and sources in the knowledge-graph wire format (spec section 5)."""

from __future__ import annotations

from typing import Any

from batchsearch.kg.lookup import source_packages
from batchsearch.kg.model import Entity, EntityCategory, Source

COMPANY_FIELDS: tuple[str, ...] = (
    "id", "name", "description", "type", "country", "sector", "industry_group", "industry", "favicon",
    "webpage", "isin_values", "cusip_values", "sedol_values", "listing_values", "category",
)


def company_to_wire(entity: Entity) -> dict[str, Any]:
    """The Company object: every field present, null or [] where unknown."""
    return {
        "id": entity.id,
        "name": entity.name,
        "description": entity.description,
        "type": entity.type,
        "country": entity.country,
        "sector": entity.sector,
        "industry_group": entity.industry_group,
        "industry": entity.industry,
        "favicon": entity.extra.get("favicon"),
        "webpage": entity.webpage,
        "isin_values": list(entity.isins),
        "cusip_values": list(entity.cusips),
        "sedol_values": list(entity.sedols),
        "listing_values": list(entity.listings),
        "category": entity.category.value,
    }


def entity_to_wire(entity: Entity) -> dict[str, Any]:
    """Any entity: companies as Company objects, others with the fields that apply to them."""
    if entity.category is EntityCategory.COMPANIES:
        return company_to_wire(entity)
    body: dict[str, Any] = {
        "id": entity.id,
        "name": entity.name,
        "description": entity.description,
        "type": entity.type,
        "country": entity.country,
        "category": entity.category.value,
    }
    if entity.aliases:
        body["aliases"] = list(entity.aliases)
    if entity.extra.get("company_id"):
        body["company_id"] = entity.extra["company_id"]
    if entity.extra.get("role"):
        body["role"] = entity.extra["role"]
    return body


def source_to_wire(source: Source) -> dict[str, Any]:
    """The Source object of `POST /v1/knowledge-graph/sources`."""
    return {
        "id": source.id,
        "name": source.name,
        "description": source.description,
        "country": source.country,
        "rank": source.rank,
        "retention": "FULL_HISTORY",
        "webpage": source.webpage,
        "categories": list(source.categories),
        "packages": list(source_packages(source)),
        "subscribed": True,
    }
