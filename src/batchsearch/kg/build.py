"""Build the default knowledge graph offline from the data shipped in the `pytickersymbols` package.

About 1,800 listed companies from ~20 stock indices, deduplicated across indices, plus their key
people, headquarters cities, countries, US states and sectors. Deterministic: the same package
version always yields the same entities with the same ids.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from batchsearch.kg import geo
from batchsearch.kg.ids import (
    allocate_entity_id,
    city_key,
    company_key,
    country_key,
    person_key,
    region_key,
    sector_key,
)
from batchsearch.kg.lookup import codes_from_isins
from batchsearch.kg.model import Entity, EntityCategory
from batchsearch.kg.names import clean_company_name, company_aliases, match_key, parse_key_people, strip_legal_suffixes
from batchsearch.kg.sectors import SECTORS, classify

# How much membership of an index says about how well known a company is.
INDEX_WEIGHTS: dict[str, float] = {
    "DOW JONES": 4, "S&P 100": 4, "EURO STOXX 50": 4, "NASDAQ 100": 3, "S&P 500": 2, "FTSE 100": 2,
    "DAX": 2, "CAC_40": 2, "NIKKEI 225": 1, "AEX": 1, "IBEX 35": 1, "Switzerland 20": 1,
    "OMX Stockholm 30": 1, "OMX Helsinki 25": 1, "BEL 20": 1, "MDAX": 0.5, "TecDAX": 0.5,
    "CAC Mid 60": 0.5, "SDAX": 0.25, "S&P 600": 0.25,
}
_INDEX_HOME: dict[str, str] = {
    "AEX": "NL", "BEL 20": "BE", "CAC_40": "FR", "CAC Mid 60": "FR", "DAX": "DE", "MDAX": "DE", "SDAX": "DE",
    "TecDAX": "DE", "IBEX 35": "ES", "FTSE 100": "GB", "NIKKEI 225": "JP", "OMX Helsinki 25": "FI",
    "OMX Stockholm 30": "SE", "Switzerland 20": "CH", "S&P 600": "US", "S&P 500": "US", "S&P 100": "US",
    "DOW JONES": "US", "NASDAQ 100": "US",
}
# Yahoo symbol suffix -> ISO 10383 market identifier code.
_SUFFIX_MIC: dict[str, str] = {
    "DE": "XETR", "F": "XFRA", "PA": "XPAR", "L": "XLON", "T": "XTKS", "MC": "XMAD", "AS": "XAMS",
    "ST": "XSTO", "HE": "XHEL", "BR": "XBRU", "SW": "XSWX", "MI": "XMIL",
}
# Google-finance exchange prefix -> MIC.
_EXCHANGE_MIC: dict[str, str] = {
    "NASDAQ": "XNAS", "NYSE": "XNYS", "FRA": "XFRA", "LON": "XLON", "TYO": "XTKS", "AMS": "XAMS",
    "BME": "XMAD", "STO": "XSTO", "EBR": "XBRU", "HEL": "XHEL", "ETR": "XETR", "EPA": "XPAR",
    "MCX": "MISX", "SWX": "XSWX", "OTCMKTS": "OTCM",
}
_US_MICS = ("XNAS", "XNYS")

# Rows whose name does not match the rest of their data (ISIN, symbols, Wikipedia page).
_NAME_FIXES: dict[str, str] = {"STABILUS SE": "STMicroelectronics"}

# Names people use that no rule derives from the listed name.
EXTRA_ALIASES: dict[str, tuple[str, ...]] = {
    "Microsoft": ("Microsoft Corp.", "Microsoft Corporation"),
    "Alphabet Inc.": ("Google",),
    "Meta Platforms": ("Facebook",),
    "JPMorgan Chase": ("JPMorgan", "J.P. Morgan", "JP Morgan"),
    "The Coca-Cola Company": ("Coca-Cola",),
    "Berkshire Hathaway": ("Berkshire",),
    "The Walt Disney Company": ("Disney",),
    "ExxonMobil": ("Exxon Mobil", "Exxon"),
    "Goldman Sachs": ("Goldman",),
    "Procter & Gamble": ("P&G",),
    "Johnson & Johnson": ("J&J",),
    "Eli Lilly and Company": ("Eli Lilly",),
    "Bank of America": ("BofA",),
    "American Express": ("Amex",),
    "Volkswagen Group": ("VW",),
    "Mercedes-Benz Group": ("Mercedes",),
    "General Motors": ("GM",),
    "Nvidia": ("NVIDIA",),
    "Toyota": ("Toyota Motor", "Toyota Motor Corporation"),
    "Walmart": ("Wal-Mart",),
    "Shell plc": ("Royal Dutch Shell",),
    "AMD": ("Advanced Micro Devices",),
    "IBM": ("International Business Machines",),
    "ADP": ("Automatic Data Processing",),
    "BD": ("Becton Dickinson", "Becton, Dickinson and Company"),
    "HSBC": ("HSBC Holdings",),
    "LVMH": ("LVMH Moët Hennessy Louis Vuitton",),
    "Tesla, Inc.": ("Tesla Motors",),
    "Amazon": ("Amazon.com",),
    "Home Depot": ("The Home Depot",),
}


@dataclass
class _Company:
    """One company merged from its rows in every index it belongs to."""

    name: str
    indices: list[str] = field(default_factory=list)
    symbol: str | None = None
    symbols: list[dict[str, str]] = field(default_factory=list)
    isins: list[str] = field(default_factory=list)
    industries: list[str] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)  # as shipped: str values, some int (employees, founded)
    city: str | None = None
    country: str | None = None

    def absorb(self, index: str, row: dict[str, Any]) -> None:
        """Add one index row's data (first value wins for single fields)."""
        if index not in self.indices:
            self.indices.append(index)
        self.symbol = self.symbol or row.get("symbol")
        for sym in row.get("symbols") or []:
            if sym.get("google") and sym not in self.symbols:
                self.symbols.append(sym)
        _extend_unique(self.isins, (isin.strip().upper() for isin in row.get("isins") or [] if isin))
        _extend_unique(self.industries, row.get("industries") or [])
        _extend_unique(self.locations, [row["country"]] if row.get("country") else [])
        for key, value in (row.get("metadata") or {}).items():
            self.metadata.setdefault(key, value)

    @property
    def popularity(self) -> float:
        """Weighted index membership, plus up to 3 for size (log of headcount) and a little per listing."""
        size = min(3.0, max(0.0, math.log10(self.employees) - 3.0)) if self.employees else 0.0
        return sum(INDEX_WEIGHTS.get(i, 0.25) for i in self.indices) + size + 0.01 * min(len(self.symbols), 20)

    @property
    def employees(self) -> int | None:
        """Headcount from the metadata ("228,000 (2025)" or 46000), when it parses."""
        raw = self.metadata.get("employees")
        if isinstance(raw, int):
            return raw
        match = re.match(r"\s*~?([\d,.]+)", str(raw or ""))
        digits = match.group(1).replace(",", "").split(".")[0] if match else ""
        return int(digits) if digits.isdigit() and int(digits) > 0 else None


def _extend_unique(target: list[str], values: Iterable[str]) -> None:
    for value in values:
        if value not in target:
            target.append(value)


def load_index_rows() -> list[tuple[str, dict[str, Any]]]:
    """(index name, company row) for every company row shipped in pytickersymbols."""
    from pytickersymbols.indices_data import INDICES

    return [(index, row) for index, data in INDICES.items() for row in data.get("companies") or [] if row.get("name")]


def merge_rows(rows: Iterable[tuple[str, dict[str, Any]]]) -> list[_Company]:
    """One record per company: rows with the same name merge, then same-base-name records that agree."""
    by_name: dict[str, _Company] = {}
    for index, row in rows:
        name = clean_company_name(_NAME_FIXES.get(row["name"], row["name"]))
        company = by_name.setdefault(name.lower(), _Company(name=name))
        company.absorb(index, row)
    companies = list(by_name.values())
    for company in companies:
        company.city, company.country = _locate(company)
    return _merge_same_base_name(companies)


def _merge_same_base_name(companies: list[_Company]) -> list[_Company]:
    merged: list[_Company] = []
    by_base: dict[str, list[_Company]] = {}
    for company in companies:
        base = match_key(strip_legal_suffixes(company.name))
        twin = next((other for other in by_base.get(base, []) if _same_company(company, other)), None)
        if twin is None:
            by_base.setdefault(base, []).append(company)
            merged.append(company)
            continue
        for index in company.indices:
            twin.absorb(index, {"symbol": company.symbol, "symbols": company.symbols, "isins": company.isins,
                                "industries": company.industries, "metadata": company.metadata})
        twin.city, twin.country = twin.city or company.city, twin.country or company.country
    return merged


def _same_company(a: _Company, b: _Company) -> bool:
    """Two records with the same base name are one company unless country or ISINs disagree."""
    if a.country and b.country and a.country != b.country:
        return False
    return not (a.isins and b.isins and not set(a.isins) & set(b.isins))


def _locate(company: _Company) -> tuple[str | None, str | None]:
    """(city, country): the country most sources agree on, the city from a source naming that country.

    Sources: the index 'country' field (a country, or "City, State" for US indices), the headquarters
    text, the ISIN prefix and the index's home market. The rows have errors ("United Kingdom" for
    Canon), so no single source is trusted alone.
    """
    parsed = [geo.parse_location(text) for text in [company.metadata.get("headquarters"), *company.locations]]
    votes: Counter[str] = Counter(country for _city, country in parsed if country)
    if company.isins and company.isins[0][:2] in geo.COUNTRIES:
        votes[company.isins[0][:2]] += 1
    homes = {_INDEX_HOME[i] for i in company.indices if i in _INDEX_HOME}
    votes.update(homes)
    if not votes:
        return None, None
    ranked = [country for _city, country in parsed if country] + sorted(homes)
    country = max(votes, key=lambda code: (votes[code], -ranked.index(code) if code in ranked else -99))
    # US index rows give a clean "City, State"; headquarters texts are noisier, so they come last
    city = next((c for c, found in [*parsed[1:], parsed[0]] if c and found in (country, None)), None)
    return city, country


def resolve_isin_conflicts(companies: list[_Company]) -> None:
    """An ISIN claimed by two companies stays with the one whose country matches its prefix."""
    claims: dict[str, list[_Company]] = {}
    for company in companies:
        for isin in company.isins:
            claims.setdefault(isin, []).append(company)
    for isin, claimants in claims.items():
        if len(claimants) < 2:
            continue
        keeper = max(claimants, key=lambda c: (c.country == isin[:2], c.popularity, c.name))
        for company in claimants:
            if company is not keeper:
                company.isins.remove(isin)


def _tickers_and_listings(company: _Company) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Home ticker first, then US tickers; listings as MIC:TICKER."""
    tickers: list[str] = []
    listings: list[str] = []
    symbol = (company.symbol or "").strip()
    head, _, suffix = symbol.partition(".")
    suffix = suffix.split(".")[0]
    if symbol and suffix in _SUFFIX_MIC:
        tickers.append(head)
        listings.append(f"{_SUFFIX_MIC[suffix]}:{head}")
    elif symbol:
        tickers.append(symbol)
    for sym in company.symbols:
        exchange, sep, ticker = sym["google"].partition(":")
        mic = _EXCHANGE_MIC.get(exchange)
        if not sep or mic is None or not ticker:
            continue
        _extend_unique(listings, [f"{mic}:{ticker}"])
        if mic in _US_MICS:
            _extend_unique(tickers, [ticker])
    if symbol and suffix not in _SUFFIX_MIC and "NASDAQ 100" in company.indices:
        _extend_unique(listings, [f"XNAS:{symbol}"])
    return tuple(tickers), tuple(listings)


def _primary_isin(company: _Company) -> str | None:
    home = [isin for isin in company.isins if isin[:2] == company.country]
    candidates = home or company.isins
    return candidates[0] if candidates else None


def _webpage(company: _Company) -> str | None:
    site = (company.metadata.get("website") or "").strip().split()[0:1]
    if not site or "." not in site[0]:
        return None
    host = re.sub(r"^https?://", "", site[0]).strip("/")
    return f"https://{host}"


def _description(company: _Company, sector: str | None, industry: str | None) -> str:
    what = industry or sector or "listed company"
    where = ", ".join(p for p in (company.city, geo.country_name(company.country or "")) if p)
    text = f"{company.name}: {what}"
    if where:
        text += f", headquartered in {where}"
    return text + f". Member of {', '.join(company.indices)}."


@dataclass
class _Builder:
    """Accumulates entities with collision-free ids; each records its canonical key in extra["key"]."""

    entities: list[Entity] = field(default_factory=list)
    taken: set[str] = field(default_factory=set)

    def add(self, canonical_key: str, **fields: Any) -> Entity:
        new_id = allocate_entity_id(canonical_key, self.taken)
        self.taken.add(new_id)
        extra = {"key": canonical_key, **fields.pop("extra", {})}
        entity = Entity(id=new_id, extra=extra, **fields)
        self.entities.append(entity)
        return entity


def _add_places(builder: _Builder, companies: list[_Company]) -> set[str]:
    """Countries, US states and headquarters cities; returns every place name (for alias checks)."""
    per_country = Counter(c.country for c in companies if c.country)
    names: set[str] = set()
    for code, (name, aliases) in sorted(geo.COUNTRIES.items()):
        builder.add(country_key(code), name=name, category=EntityCategory.PLACES, aliases=aliases, country=code,
                    type="COUNTRY", popularity=10.0 + per_country[code], description=f"Country ({code})")
        names.update((name, *aliases))
    for state in sorted(geo.US_STATES - {"D.C.", "DC"}):
        builder.add(region_key("US", state), name=state, category=EntityCategory.PLACES, country="US",
                    type="REGION", popularity=0.5, description="State of the United States")
        names.add(state)
    per_city = Counter((c.country, c.city) for c in companies if c.city and c.country)
    for (country, city), count in sorted(per_city.items(), key=lambda item: (item[0][0] or "", item[0][1] or "")):
        builder.add(city_key(country, city), name=city, category=EntityCategory.PLACES, country=country,
                    type="CITY", popularity=float(count),
                    description=f"City in {geo.country_name(country or '') or country}")
        names.add(city or "")
    return names


def _company_entity(builder: _Builder, company: _Company, place_names: set[str],
                    label_frequency: Counter[str]) -> Entity:
    sector, industry = classify(company.industries, label_frequency)
    tickers, listings = _tickers_and_listings(company)
    cusips, sedols = codes_from_isins(company.isins)
    aliases = list(company_aliases(company.name, reserved=place_names))
    _extend_unique(aliases, EXTRA_ALIASES.get(company.name, ()))
    webpage = _webpage(company)
    return builder.add(
        company_key(company.name, _primary_isin(company)),
        name=company.name, category=EntityCategory.COMPANIES, aliases=tuple(aliases), tickers=tickers,
        isins=tuple(company.isins), listings=listings, country=company.country, sector=sector,
        industry=industry, industry_group=industry, type="PUBLIC",
        description=_description(company, sector, industry), webpage=webpage,
        extra={"indices": "|".join(company.indices), **({"city": company.city} if company.city else {}),
               **({"favicon": f"{webpage}/favicon.ico"} if webpage else {})},
        cusips=cusips, sedols=sedols, popularity=round(company.popularity, 4),
    )


def _people(builder: _Builder, company: _Company, entity: Entity) -> None:
    for name, role in parse_key_people(company.metadata.get("key_people")):
        builder.add(
            person_key(entity.id, name), name=name, category=EntityCategory.PEOPLE, country=entity.country,
            type="PERSON", description=f"{role} of {entity.name}" if role else f"Key person at {entity.name}",
            extra={"company_id": entity.id, **({"role": role} if role else {})},
            popularity=round(entity.popularity / 2, 4),
        )


def build_default_entities() -> list[Entity]:
    """Every entity of the default graph: places, companies, their key people, sectors."""
    companies = merge_rows(load_index_rows())
    resolve_isin_conflicts(companies)
    companies.sort(key=lambda c: (-c.popularity, c.name))
    label_frequency = Counter(label for c in companies for label in c.industries)
    builder = _Builder()
    place_names = _add_places(builder, companies)
    for sector in SECTORS:
        builder.add(sector_key(sector), name=sector, category=EntityCategory.CONCEPTS, type="SECTOR", sector=sector,
                    description=f"Sector: {sector}")
    for company in companies:
        entity = _company_entity(builder, company, place_names, label_frequency)
        _people(builder, company, entity)
    return builder.entities
