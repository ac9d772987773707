"""Ranked company and source lookup over in-memory entities: pure, no IO.

Company ranking, best first: exact identifier or exact name/alias; then name/alias prefix; then every
query word starting a word of the name; then fuzzy (typos). Within a tier, well-known companies first.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from batchsearch.errors import ValidationError
from batchsearch.kg.model import SOURCE_RANKS, Entity, Source
from batchsearch.kg.names import match_key, strip_legal_suffixes

IDENTIFIER_KINDS: tuple[str, ...] = ("isin", "cusip", "sedol", "listing", "ticker")
_TIER_EXACT, _TIER_PREFIX, _TIER_WORDS, _TIER_FUZZY = range(4)
_FUZZY_CUTOFF = 0.78

# Exchange names people write before a ticker -> market identifier code used in listings.
EXCHANGE_MICS: dict[str, str] = {
    "NASDAQ": "XNAS", "NASDAQGS": "XNAS", "NASDAQGM": "XNAS", "NYSE": "XNYS", "NYSEAMERICAN": "XASE",
    "AMEX": "XASE", "NYSEARCA": "ARCX", "LSE": "XLON", "LON": "XLON", "TYO": "XTKS", "TSE": "XTKS",
    "FWB": "XFRA", "FRA": "XFRA", "XETRA": "XETR", "ETR": "XETR", "EPA": "XPAR", "EURONEXTPARIS": "XPAR",
    "AMS": "XAMS", "EURONEXTAMSTERDAM": "XAMS", "EBR": "XBRU", "EURONEXTBRUSSELS": "XBRU", "BME": "XMAD",
    "STO": "XSTO", "HEL": "XHEL", "SWX": "XSWX", "SIX": "XSWX", "BIT": "XMIL", "MCX": "MISX",
    "OTC": "OTCM", "OTCMKTS": "OTCM",
}


def normalise_listing(value: str) -> str:
    """"nasdaq: msft" -> "XNAS:MSFT"; MIC-prefixed values are only upper-cased."""
    exchange, sep, ticker = value.strip().upper().partition(":")
    if not sep:
        return value.strip().upper()
    exchange = re.sub(r"[^A-Z]", "", exchange)
    return f"{EXCHANGE_MICS.get(exchange, exchange)}:{ticker.strip()}"


def codes_from_isins(isins: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(CUSIPs, SEDOLs) embedded in ISINs: characters 3-11 of US and CA ISINs, 5-11 of GB00 ISINs."""
    upper = [isin.strip().upper() for isin in isins]
    cusips = tuple(dict.fromkeys(isin[2:11] for isin in upper if isin[:2] in ("US", "CA") and len(isin) == 12))
    sedols = tuple(dict.fromkeys(isin[4:11] for isin in upper if isin.startswith("GB00") and len(isin) == 12))
    return cusips, sedols


def _host(url: str | None) -> str | None:
    if not url:
        return None
    host = re.sub(r"^[a-z]+://", "", url.strip().lower()).split("/")[0]
    return host[4:] if host.startswith("www.") else host


@dataclass(frozen=True)
class _CompanyKeys:
    entity: Entity
    keys: tuple[str, ...]  # match keys of the name and aliases, legal suffixes dropped too
    words: frozenset[str]
    identifiers: frozenset[str]  # upper-case ISINs, CUSIPs, SEDOLs, tickers, listings
    host: str | None


def _company_keys(entity: Entity) -> _CompanyKeys:
    forms = (entity.name, *entity.aliases)
    keys = tuple(dict.fromkeys(
        key for form in forms for key in (match_key(form), match_key(strip_legal_suffixes(form))) if key))
    identifiers = {*entity.isins, *entity.cusips, *entity.sedols, *entity.tickers, *entity.listings,
                   *(code for codes in codes_from_isins(entity.isins) for code in codes)}
    return _CompanyKeys(entity, keys, frozenset(w for k in keys for w in k.split()),
                        frozenset(i.upper() for i in identifiers), _host(entity.webpage))


class CompanyIndex:
    """Companies prepared for ranked lookup and identifier resolution."""

    def __init__(self, companies: Iterable[Entity]) -> None:
        ordered = sorted(companies, key=lambda e: (-e.popularity, e.name, e.id))
        self._rows = [_company_keys(entity) for entity in ordered]
        self._by_identifier: dict[str, dict[str, list[Entity]]] = {kind: {} for kind in IDENTIFIER_KINDS}
        for row in self._rows:  # most popular first, so the first entity per value is the best
            entity = row.entity
            cusips, sedols = codes_from_isins(entity.isins)  # also for graphs stored before codes were derived
            for kind, values in (("isin", entity.isins), ("cusip", (*entity.cusips, *cusips)),
                                 ("sedol", (*entity.sedols, *sedols)),
                                 ("listing", entity.listings), ("ticker", entity.tickers)):
                for value in dict.fromkeys(v.upper() for v in values):
                    self._by_identifier[kind].setdefault(value, []).append(entity)
        self._key_owners: dict[str, list[int]] = {}
        for position, row in enumerate(self._rows):
            for key in row.keys:
                self._key_owners.setdefault(key, []).append(position)

    def resolve(self, kind: str, values: Sequence[str]) -> dict[str, Entity | None]:
        """Each value mapped to the best company holding that identifier, or None."""
        if kind not in IDENTIFIER_KINDS:
            raise ValidationError(f"Unknown identifier kind {kind!r}; expected one of {', '.join(IDENTIFIER_KINDS)}")
        table = self._by_identifier[kind]
        results: dict[str, Entity | None] = {}
        for value in values:
            key = normalise_listing(value) if kind == "listing" else value.strip().upper()
            found = table.get(key)
            results[value] = found[0] if found else None
        return results

    def search(self, query: str | None, *, types: Sequence[str] | None = None, countries: Sequence[str] | None = None,
               sectors: Sequence[str] | None = None, limit: int = 20) -> list[Entity]:
        """Companies matching the query and filters, best first (see module doc for the order)."""
        allowed = _filter(types, countries, sectors)
        if not query or not query.strip():
            return [row.entity for row in self._rows if allowed(row.entity)][:limit]
        tiers = self._tiers(query)
        ranked = sorted((tier, position) for position, tier in tiers.items() if allowed(self._rows[position].entity))
        return [self._rows[position].entity for _tier, position in ranked[:limit]]

    def _tiers(self, query: str) -> dict[int, int]:
        """Best tier per matching row position (positions are popularity-ordered, so ties sort right)."""
        upper = query.strip().upper()
        qkey = match_key(query)
        qbase = match_key(strip_legal_suffixes(query))
        qhost = _host(query) if "." in query else None
        qwords = qkey.split()
        tiers: dict[int, int] = {}
        for position, row in enumerate(self._rows):
            tier = _row_tier(row, upper, qkey, qbase, qhost, qwords)
            if tier is not None:
                tiers[position] = tier
        if len(qkey) >= 4 and len(tiers) < 20:  # typo tolerance only when better tiers found little
            for key in difflib.get_close_matches(qkey, list(self._key_owners), n=20, cutoff=_FUZZY_CUTOFF):
                for position in self._key_owners[key]:
                    tiers.setdefault(position, _TIER_FUZZY)
        return tiers


def _row_tier(row: _CompanyKeys, upper: str, qkey: str, qbase: str, qhost: str | None,
              qwords: list[str]) -> int | None:
    if upper in row.identifiers or (qhost and qhost == row.host) or qkey in row.keys or qbase in row.keys:
        return _TIER_EXACT
    if not qkey:
        return None
    if any(key.startswith(qkey) for key in row.keys):
        return _TIER_PREFIX
    if qwords and all(any(word.startswith(q) for word in row.words) for q in qwords):
        return _TIER_WORDS
    return None


def _filter(types: Sequence[str] | None, countries: Sequence[str] | None,
            sectors: Sequence[str] | None) -> Callable[[Entity], bool]:
    type_set = {t.upper() for t in types or ()}
    country_set = {c.upper() for c in countries or ()}
    sector_set = {s.lower() for s in sectors or ()}

    def allowed(entity: Entity) -> bool:
        return ((not type_set or (entity.type or "").upper() in type_set)
                and (not country_set or (entity.country or "").upper() in country_set)
                and (not sector_set or (entity.sector or "").lower() in sector_set))

    return allowed


def search_sources(sources: Iterable[Source], query: str | None = None, *, countries: Sequence[str] | None = None,
                   ranks: Sequence[str] | None = None, categories: Sequence[str] | None = None,
                   packages: Sequence[str] | None = None) -> list[Source]:
    """Sources matching every given criterion; by name match (exact, prefix, contains), then rank."""
    country_set = {c.upper() for c in countries or ()}
    rank_set = {r.upper() for r in ranks or ()}
    category_set = {c.lower() for c in categories or ()}
    package_set = {p.lower() for p in packages or ()}
    qkey = match_key(query) if query else ""
    matches: list[tuple[int, int, str, Source]] = []
    for source in sources:
        if country_set and (source.country or "").upper() not in country_set:
            continue
        if rank_set and source.rank.upper() not in rank_set:
            continue
        if category_set and not category_set & set(source.categories):
            continue
        if package_set and not package_set & set(source_packages(source)):
            continue
        tier = _source_tier(match_key(source.name), qkey) if qkey else 0
        if tier is not None:
            rank = SOURCE_RANKS.index(source.rank) if source.rank in SOURCE_RANKS else len(SOURCE_RANKS)
            matches.append((tier, rank, source.name, source))
    return [source for *_key, source in sorted(matches, key=lambda m: m[:3])]


def _source_tier(name_key: str, qkey: str) -> int | None:
    if name_key == qkey:
        return 0
    if name_key.startswith(qkey):
        return 1
    if qkey in name_key or all(any(w.startswith(q) for w in name_key.split()) for q in qkey.split()):
        return 2
    if difflib.SequenceMatcher(None, name_key, qkey).ratio() >= _FUZZY_CUTOFF:
        return 3
    return None


def source_packages(source: Source) -> tuple[str, ...]:
    """The subscription packages a source is in: its categories, plus "all"."""
    return (*source.categories, "all")
