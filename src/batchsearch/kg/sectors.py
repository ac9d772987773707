"""Sector taxonomy: map free-text industry labels ("Software & IT Services") to one of our sectors.

Pure functions; the sector names are the values of the `sectors` filter and of
`GET /v1/knowledge-graph/companies/sectors`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

SECTORS: tuple[str, ...] = (
    "Basic Materials",
    "Consumer Goods",
    "Consumer Services",
    "Financials",
    "Health Care",
    "Industrials",
    "Oil & Gas",
    "Real Estate",
    "Technology",
    "Telecommunications",
    "Utilities",
)

# Index providers' sector-level labels: reliable votes, but too coarse to be an industry.
_GENERIC_LABELS: dict[str, str] = {
    "financials": "Financials",
    "industrials": "Industrials",
    "information technology": "Technology",
    "technology": "Technology",
    "health care": "Health Care",
    "healthcare": "Health Care",
    "consumer discretionary": "Consumer Services",
    "consumer cyclicals": "Consumer Services",
    "consumer cyclical": "Consumer Services",
    "consumer staples": "Consumer Goods",
    "consumer non-cyclicals": "Consumer Goods",
    "consumer defensive": "Consumer Goods",
    "energy": "Oil & Gas",
    "materials": "Basic Materials",
    "basic materials": "Basic Materials",
    "utilities": "Utilities",
    "real estate": "Real Estate",
    "communication services": "Telecommunications",
    "telecommunications": "Telecommunications",
    "services": "Industrials",
    "manufacturing": "Industrials",
    "conglomerate": "Industrials",
}

# First matching rule wins, so specific phrases come before broad ones.
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Consumer Services", ("food & drug retail", "food retail", "drug retail", "pharmacy", "e-commerce",
                           "online food", "travel technology")),
    ("Real Estate", ("real estate", "reit", "retis", "property", "properties", "immobilien", "realty")),
    ("Health Care", ("health", "pharma", "biotech", "medical", "drug", "hospital", "life science",
                     "diagnostic", "biopharm", "medizin", "therapeut")),
    ("Financials", ("bank", "financ", "insurance", "reinsurance", "invest", "asset management",
                    "brokerage", "capital market", "payment", "credit", "lending", "fintech",
                    "stock exchange", "commodity market")),
    ("Telecommunications", ("telecom", "wireless", "mobile telephony", "broadband")),
    ("Technology", ("software", "semiconductor", "halbleiter", "computer", "it service", "it-dienst",
                    "internet", "electronic", "cloud", "information security", "edp", "technology",
                    "video game", "handheld", "networking", "information technology", "data ")),
    ("Utilities", ("utilit", "water", "electricity", "renewable", "power generation", "ipp")),
    ("Oil & Gas", ("oil", "gas", "petroleum", "fossil", "pipeline", "drilling", "energy", "coal")),
    ("Basic Materials", ("chemi", "material", "mining", "metal", "steel", "alumin", "paper", "forest",
                         "mineral", "gold", "copper", "basic resources")),
    ("Consumer Goods", ("food", "beverage", "drink", "brew", "tobacco", "automo", "auto", "vehicle",
                        "household", "personal product", "apparel", "textile", "luxury", "footwear",
                        "sportswear", "cosmetic", "consumer goods", "consumer products", "toy",
                        "furniture", "homebuild", "home construction", "housebuild", "tyre", "tire",
                        "sports equipment", "accessories")),
    ("Consumer Services", ("retail", "restaurant", "hotel", "media", "entertainment", "travel",
                           "leisure", "airline", "aviation", "broadcast", "publish", "casino", "gaming",
                           "education", "consumer services", "hospitality", "tourism", "department store",
                           "advertising", "cruise", "recreation")),
    ("Industrials", ("industrial", "machinery", "aerospace", "defen", "construction", "engineering",
                     "transport", "logistic", "freight", "rail", "conglomerate", "electrical",
                     "packaging", "container", "waste", "staffing", "professional", "business",
                     "support", "building", "shipping", "trucking", "manufactur", "equipment",
                     "trading compan", "services")),
)


def industry_sector(label: str) -> str | None:
    """The sector an industry label belongs to, or None when no rule recognises it."""
    lower = " ".join(label.lower().split())
    if lower in _GENERIC_LABELS:
        return _GENERIC_LABELS[lower]
    for sector, keywords in _RULES:
        if any(keyword in lower for keyword in keywords):
            return sector
    return None


def is_generic_label(label: str) -> bool:
    """True for sector-level labels such as "Financials" that are too coarse to be an industry."""
    return " ".join(label.lower().split()) in _GENERIC_LABELS


def classify(labels: Iterable[str], label_frequency: Mapping[str, int]) -> tuple[str | None, str | None]:
    """(sector, industry) for a company's industry labels.

    The sector is the one most labels vote for (sector-level labels weigh more); the industry is the
    label of that sector used by the most companies overall, which picks clean, common labels.
    """
    labels = [label.strip() for label in labels if label and label.strip()]
    votes: dict[str, float] = {}
    for label in labels:
        sector = industry_sector(label)
        if sector is not None:
            votes[sector] = votes.get(sector, 0.0) + (1.5 if is_generic_label(label) else 1.0)
    if not votes:
        return None, (labels[0] if labels else None)
    best = max(votes.values())
    sector = next(s for s in (industry_sector(label) for label in labels) if s is not None and votes[s] == best)
    specific = [label for label in labels if industry_sector(label) == sector and not is_generic_label(label)]
    if not specific:
        return sector, None
    industry = max(specific, key=lambda label: (label_frequency.get(label, 0), -len(label), label))
    return sector, industry
