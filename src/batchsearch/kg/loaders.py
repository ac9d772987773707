"""Load user entities and sources from JSON lines or CSV files into a knowledge graph.

A bad row never stops the load: it is reported with its row number (the line of the file, the CSV
header being row 1), the field at fault and the reason, and every good row is still added.

Entity fields (JSON keys or CSV columns; CSV lists are separated by `|`):

    name            required
    category        companies (default), people, places, organizations, products, concepts
    id              6 upper-case letters/digits; default: derived from the canonical key, so loading
                    the same row twice updates one entity (and a company with the ISIN of a built-in
                    company replaces it)
    aliases, tickers, isins, listings (MIC:TICKER), cusips, sedols        lists; CUSIPs are also derived
                    from US and CA ISINs, SEDOLs from GB00 ISINs
    country         ISO 3166 alpha-2 code or an English country name
    sector, industry, industry_group, description, webpage
    type            companies: PUBLIC or PRIVATE (default PUBLIC when it has tickers, ISINs or
                    listings, else PRIVATE); others free text (PERSON, CITY, ...)
    popularity      number >= 0, ranks lookups and ambiguous mentions (default 0)
    company_id      people only: the id of the company they belong to
    extra           JSON only: an object of string values

Source fields: name (required), id, rank (RANK_1..RANK_5, default RANK_3), country, categories
(list of: news, news_premium, news_public, transcripts, filings, research, ...), description, webpage.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from batchsearch.errors import ValidationError
from batchsearch.kg import geo
from batchsearch.kg.ids import company_key, generic_key, person_key
from batchsearch.kg.lookup import codes_from_isins, normalise_listing
from batchsearch.kg.model import SOURCE_RANKS, Entity, EntityCategory, Source
from batchsearch.kg.names import match_key
from batchsearch.kg.sources import SOURCE_CATEGORIES
from batchsearch.kg.store import KnowledgeGraph

ENTITY_LIST_FIELDS = ("aliases", "tickers", "isins", "listings", "cusips", "sedols")
ENTITY_TEXT_FIELDS = ("sector", "industry", "industry_group", "type", "description", "webpage", "company_id")
ENTITY_FIELDS = frozenset(("id", "name", "category", "country", "popularity", "extra",
                           *ENTITY_LIST_FIELDS, *ENTITY_TEXT_FIELDS))
SOURCE_FIELDS = frozenset(("id", "name", "rank", "country", "categories", "description", "webpage"))
COMPANY_TYPES = ("PUBLIC", "PRIVATE")
_ID = re.compile(r"^[0-9A-Z]{6}$")
_ISIN = re.compile(r"^[A-Z]{2}[A-Z0-9]{9}[0-9]$")


class RowError(ValueError):
    """A row cannot be loaded: `field` names the field at fault (None when the row as a whole is), the message why."""

    def __init__(self, field: str | None, reason: str) -> None:
        """The error of one field (or of the whole row when `field` is None)."""
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class RowProblem:
    """One rejected row: its number in the file, the field at fault (None: the whole row) and the reason."""

    row: int
    field: str | None
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.reason}" if self.field else f"row {self.row}: {self.reason}"


@dataclass
class LoadReport:
    """What a load did: how many rows were added, the ids they hold (file order), and each rejected row."""

    loaded: int = 0
    ids: list[str] = field(default_factory=list)
    errors: list[RowProblem] = field(default_factory=list)

    @property
    def is_complete(self) -> bool:
        """True when every row loaded."""
        return not self.errors


def _format_of(suffix: str, fmt: str | None, what: str) -> str:
    chosen = (fmt or suffix.lstrip(".")).lower()
    if chosen in ("jsonl", "ndjson", "json"):
        return "jsonl"
    if chosen == "csv":
        return "csv"
    raise ValidationError(f"Unknown file format {chosen!r} for {what}: use jsonl or csv")


def read_rows(handle: IO[str], fmt: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(row number, row) for each row of a JSONL or CSV stream; a row that cannot be parsed is a message."""
    if fmt == "csv":
        reader = csv.DictReader(handle)
        for row in reader:
            if None in row:
                yield reader.line_num, "more values than header columns"
                continue
            cells = {k.strip(): v.strip() for k, v in row.items() if k and v is not None and v.strip()}
            if cells:
                yield reader.line_num, {k: (v.split("|") if k in (*ENTITY_LIST_FIELDS, "categories") else v)
                                        for k, v in cells.items()}
        return
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, f"invalid JSON: {exc.msg} (column {exc.colno})"
            continue
        yield number, value if isinstance(value, dict) else "each line must be a JSON object"


def _text(row: dict[str, Any], name: str) -> str | None:
    value = row.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise RowError(name, "expected text")
    return str(value).strip() or None


def _strings(row: dict[str, Any], name: str) -> tuple[str, ...]:
    value = row.get(name)
    if value in (None, "", []):
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RowError(name, "expected a list of strings")
    return tuple(dict.fromkeys(v.strip() for v in value if v.strip()))


def _country(row: dict[str, Any]) -> str | None:
    raw = _text(row, "country")
    if raw is None:
        return None
    code = geo.country_code(raw) or (raw.upper() if re.fullmatch(r"[A-Za-z]{2}", raw) else None)
    if code is None:
        raise RowError("country", f"{raw!r} is not an ISO 3166 alpha-2 code or a known country name")
    return code


def _isins(row: dict[str, Any]) -> tuple[str, ...]:
    isins = tuple(v.upper() for v in _strings(row, "isins"))
    for isin in isins:
        if not _ISIN.match(isin) or not _isin_checksum_ok(isin):
            raise RowError("isins", f"{isin!r} is not a valid ISIN")
    return isins


def _isin_checksum_ok(isin: str) -> bool:
    digits = "".join(str(int(ch, 36)) for ch in isin[:-1])
    total = 0
    for index, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if index % 2 == 0 else 1)
        total += n // 10 + n % 10
    return (10 - total % 10) % 10 == int(isin[-1])


def _popularity(row: dict[str, Any]) -> float:
    raw = row.get("popularity")
    if raw is None or raw == "":
        return 0.0
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise RowError("popularity", f"{raw!r} is not a number") from None
    if value < 0:
        raise RowError("popularity", "must be >= 0")
    return value


def _extra(row: dict[str, Any]) -> dict[str, str]:
    raw = row.get("extra") or {}
    if not isinstance(raw, dict):
        raise RowError("extra", "expected an object")
    return {str(k): str(v) for k, v in raw.items()}


def _canonical_key(category: EntityCategory, name: str, entity_type: str | None, country: str | None,
                   isins: tuple[str, ...], company_id: str | None) -> str:
    if category is EntityCategory.COMPANIES:
        primary = next((i for i in isins if i[:2] == country), isins[0] if isins else None)
        return company_key(name, primary)
    if category is EntityCategory.PEOPLE:
        return person_key(company_id, name)
    if category is EntityCategory.PLACES:
        return f"place:{(entity_type or 'place').lower()}:{country or '-'}:{match_key(name)}"
    return generic_key(category.value, name)


def entity_from_row(row: dict[str, Any], graph: KnowledgeGraph, reserved: set[str]) -> Entity:
    """An entity from one user row; raises RowError naming the field at fault."""
    unknown = sorted(set(row) - ENTITY_FIELDS)
    if unknown:
        raise RowError(", ".join(unknown), "unknown field" + ("s" if len(unknown) > 1 else ""))
    name = _text(row, "name")
    if not name:
        raise RowError("name", "required")
    try:
        category = EntityCategory((_text(row, "category") or "companies").lower())
    except ValueError:
        raise RowError("category", f"must be one of {', '.join(c.value for c in EntityCategory)}") from None
    texts = {f: _text(row, f) for f in ENTITY_TEXT_FIELDS}
    country, isins = _country(row), _isins(row)
    entity_type = texts["type"].upper() if texts["type"] else None
    tickers = tuple(t.upper() for t in _strings(row, "tickers"))
    listings = tuple(normalise_listing(v) for v in _strings(row, "listings"))
    if category is EntityCategory.COMPANIES and entity_type is None:
        entity_type = "PUBLIC" if tickers or isins or listings else "PRIVATE"
    if category is EntityCategory.COMPANIES and entity_type not in COMPANY_TYPES:
        raise RowError("type", f"{entity_type!r}: a company is {' or '.join(COMPANY_TYPES)}")
    key = _canonical_key(category, name, entity_type, country, isins, texts["company_id"])
    entity_id = _text(row, "id")
    if entity_id is not None and not _ID.match(entity_id):
        raise RowError("id", f"{entity_id!r} is not 6 upper-case letters or digits")
    derived_cusips, derived_sedols = codes_from_isins(isins)
    extra = {**_extra(row), "key": key, **({"company_id": texts["company_id"]} if texts["company_id"] else {})}
    return Entity(
        id=entity_id or graph.new_entity_id(key, reserved), name=name, category=category,
        aliases=_strings(row, "aliases"), tickers=tickers, isins=isins, listings=listings, country=country,
        sector=texts["sector"], industry=texts["industry"], industry_group=texts["industry_group"] or texts["industry"],
        type=entity_type, description=texts["description"], webpage=texts["webpage"], extra=extra,
        cusips=_with_derived(_strings(row, "cusips"), derived_cusips),
        sedols=_with_derived(_strings(row, "sedols"), derived_sedols), popularity=_popularity(row),
    )


def _with_derived(given: tuple[str, ...], derived: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*(v.upper() for v in given), *derived)))


def source_from_row(row: dict[str, Any], graph: KnowledgeGraph, reserved: set[str]) -> Source:
    """A source from one user row; raises RowError naming the field at fault."""
    unknown = sorted(set(row) - SOURCE_FIELDS)
    if unknown:
        raise RowError(", ".join(unknown), "unknown field" + ("s" if len(unknown) > 1 else ""))
    name = _text(row, "name")
    if not name:
        raise RowError("name", "required")
    rank = (_text(row, "rank") or "RANK_3").upper()
    if rank not in SOURCE_RANKS:
        raise RowError("rank", f"must be one of {', '.join(SOURCE_RANKS)}")
    categories = tuple(c.lower() for c in _strings(row, "categories"))
    bad = [c for c in categories if c not in SOURCE_CATEGORIES]
    if bad:
        raise RowError("categories", f"unknown {', '.join(bad)}")
    source_id = _text(row, "id")
    if source_id is not None and not _ID.match(source_id):
        raise RowError("id", f"{source_id!r} is not 6 upper-case letters or digits")
    return Source(id=source_id or graph.new_source_id(name, reserved), name=name, rank=rank, country=_country(row),
                  categories=categories, description=_text(row, "description"), webpage=_text(row, "webpage"))


def _load(graph: KnowledgeGraph, handle: IO[str], fmt: str,
          parse: Callable[[dict[str, Any], KnowledgeGraph, set[str]], Any],
          add: Callable[[Iterable[Any]], list[Any]]) -> LoadReport:
    report = LoadReport()
    records: dict[str, Any] = {}  # by id: a later row for the same id replaces an earlier one
    for number, row in read_rows(handle, fmt):
        if isinstance(row, str):
            report.errors.append(RowProblem(number, None, row))
            continue
        try:
            record = parse(row, graph, set(records))
        except RowError as exc:
            report.errors.append(RowProblem(number, exc.field, exc.reason))
            continue
        records[record.id] = record
        report.loaded += 1
    if records:
        add(records.values())
    report.ids = list(records)
    return report


def _load_from(graph: KnowledgeGraph, source: Path | str | IO[str], fmt: str | None,
               parse: Callable[[dict[str, Any], KnowledgeGraph, set[str]], Any],
               add: Callable[[Iterable[Any]], list[Any]]) -> LoadReport:
    if isinstance(source, str | Path):
        path = Path(source)
        chosen = _format_of(path.suffix, fmt, path.name)
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return _load(graph, handle, chosen, parse, add)
    return _load(graph, source, _format_of("", fmt, "stream"), parse, add)


def load_entities(graph: KnowledgeGraph, source: Path | str | IO[str], fmt: str | None = None) -> LoadReport:
    """Add the entities of a .jsonl or .csv file (or of an open text stream, with `fmt`) to the graph."""
    return _load_from(graph, source, fmt, entity_from_row, graph.add_entities)


def load_sources(graph: KnowledgeGraph, source: Path | str | IO[str], fmt: str | None = None) -> LoadReport:
    """Add the sources of a .jsonl or .csv file (or of an open text stream, with `fmt`) to the graph."""
    return _load_from(graph, source, fmt, source_from_row, graph.add_sources)
