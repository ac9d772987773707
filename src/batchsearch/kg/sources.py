"""The default sources: made-up publishers, so a fresh install has realistic source ids and ranks.

Every name here is invented for batchsearch; none is a real publisher. Web pages use the reserved
`.example` domain.
"""

from __future__ import annotations

from batchsearch.kg.ids import allocate_source_id, source_key
from batchsearch.kg.model import SOURCE_RANKS, Source

# Values of the search filter `category` (spec 4.3); a source belongs to one or more of them.
SOURCE_CATEGORIES: tuple[str, ...] = (
    "news", "news_premium", "news_public", "transcripts", "filings", "research",
    "research_investment_research", "research_academic_journals", "podcasts", "expert_interviews",
    "expert_networks", "newsletters", "my_files", "regulatory",
)

# (name, rank, country, categories, description)
_DEFAULT_SOURCES: tuple[tuple[str, str, str, tuple[str, ...], str], ...] = (
    ("Meridian Financial Wire", "RANK_1", "US", ("news", "news_premium"),
     "Real-time wire covering US equities, earnings and deals."),
    ("Harbourline Markets Daily", "RANK_1", "GB", ("news", "news_premium"),
     "London-based markets desk covering European stocks, rates and currencies."),
    ("Northgate Business Journal", "RANK_1", "US", ("news", "news_premium"),
     "In-depth reporting on corporate strategy, management and M&A."),
    ("Kestrel Capital Times", "RANK_1", "US", ("news", "news_premium"),
     "Daily coverage of capital markets, funds and central banks."),
    ("Alpine Ledger", "RANK_2", "CH", ("news",), "Swiss business news: banks, pharma and industry."),
    ("Rhine Valley Economic Review", "RANK_2", "DE", ("news",),
     "German-language economy and DAX company coverage, in English."),
    ("Quai Financial Review", "RANK_2", "FR", ("news",), "French corporate and market news."),
    ("Tokyo Bay Markets Report", "RANK_2", "JP", ("news",), "Japanese equities, yen and Nikkei company news."),
    ("Pacific Rim Business Monitor", "RANK_2", "SG", ("news",), "Asia-Pacific trade, supply chains and companies."),
    ("Maple Street Investor", "RANK_3", "CA", ("news",), "North American small and mid caps."),
    ("Iberia Markets Digest", "RANK_3", "ES", ("news",), "Spanish and Portuguese companies and markets."),
    ("Nordic Trade Observer", "RANK_3", "SE", ("news",), "Scandinavian and Finnish business news."),
    ("Lowlands Business Post", "RANK_3", "NL", ("news",), "Dutch and Belgian corporate news."),
    ("Midwest Commerce Gazette", "RANK_3", "US", ("news", "news_public"), "Regional US business and industry."),
    ("Copperfield Market Notes", "RANK_4", "AU", ("news", "news_public"), "Commodities and miners, briefly."),
    ("Blue Heron Finance Letter", "RANK_4", "US", ("news", "newsletters"), "A weekly investing newsletter."),
    ("Daily Ticker Roundup", "RANK_5", "US", ("news", "news_public"), "Automated summaries of the day's movers."),
    ("StreetChatter Digest", "RANK_5", "US", ("news", "news_public"), "Aggregated market chatter and rumours."),
    ("Penny Pulse", "RANK_5", "US", ("news", "news_public"), "Micro-cap and speculative stock news."),
    ("Bayside Community Business News", "RANK_5", "IE", ("news", "news_public"), "Local business news."),
    ("Veritas Call Transcripts", "RANK_1", "US", ("transcripts",),
     "Earnings call and investor conference transcripts."),
    ("Clearfile Regulatory Filings", "RANK_1", "US", ("filings", "regulatory"),
     "Annual, quarterly and current reports filed with regulators."),
    ("Ashgrove Equity Research", "RANK_2", "GB", ("research", "research_investment_research"),
     "Sell-side style company and sector research notes."),
    ("Fireside Markets Podcast", "RANK_3", "US", ("podcasts",), "Conversations with investors and executives."),
)


def _slug(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def default_sources() -> list[Source]:
    """The 24 built-in sources, with ids derived from their names (stable across rebuilds)."""
    sources: list[Source] = []
    taken: set[str] = set()
    for name, rank, country, categories, description in _DEFAULT_SOURCES:
        assert rank in SOURCE_RANKS and set(categories) <= set(SOURCE_CATEGORIES)
        new_id = allocate_source_id(source_key(name), taken)
        taken.add(new_id)
        sources.append(Source(id=new_id, name=name, rank=rank, country=country, categories=categories,
                              description=description, webpage=f"https://{_slug(name)}.example"))
    return sources
