"""A deterministic, streaming generator of synthetic financial documents about given companies.

Document `i` of a corpus depends only on (seed, i) and the inputs: its id is the first 16 bytes
of BLAKE2b("<seed>:<i>") in hex, and the same digest seeds its own random generator. Nothing
is kept between documents, so memory stays flat however many are generated.

Mix: about 75% news (from the sources whose categories include "news", or all sources if none
do), 15% earnings-call transcripts (sources in "transcripts") and 10% Form 8-K filings
(sources in "filings"). Timestamps are uniform over [start, end), default the two years
before 2026-11-27T00:00Z. Companies are drawn with a Zipf-like skew (weight 1/rank^0.8) over
their order by `popularity`, ties in a seeded order, so well-known companies are in the news far
more than others; counterparties and peers prefer the same sector.

Documents use the native JSONL format of the ingest pipeline. Extra fields, ignored by ingestion, are
ground truth for evaluations: `_mentions` (spans in `text`) and `_headline_mentions` (spans in `headline`),
each `{"id", "start", "end", "form"}` with `form` "name", "alias" or "ticker" (every company surface the
templates write is listed; entity, sentiment and topic annotations are left out), and `_company` (the
document's main company) with `_event` (what it reports: a news event's name such as "layoffs", "earnings
call" for a transcript, the 8-K item's title for a filing), which make judged queries for relevance.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from batchsearch.corpus import filings, news, transcripts
from batchsearch.corpus.facts import Facts
from batchsearch.corpus.phrases import FIRST_NAMES, LAST_NAMES
from batchsearch.corpus.text import Company, TextBuilder, prose_ticker, short_names
from batchsearch.errors import ValidationError
from batchsearch.kg.model import Entity, Source

DEFAULT_END = datetime(2026, 11, 27, tzinfo=UTC)
DEFAULT_SPAN = timedelta(days=730)
KIND_WEIGHTS = (("news", 0.75), ("transcript", 0.15), ("filing", 0.10))
CATEGORY_OF_KIND = {"news": "news", "transcript": "transcripts", "filing": "filings"}
DOCUMENT_TYPES = {
    "news": {"type": "NEWS"},
    "transcript": {"type": "TRANSCRIPT", "subtype": "EARNINGS_CALL"},
    "filing": {"type": "FILING", "subtype": "SEC_8_K"},
}
ZIPF_EXPONENT = 0.8
POSITIVE_SHARE = 0.55
_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """Lowercase words joined by hyphens, for URLs."""
    return _SLUG.sub("-", text.lower()).strip("-")


def source_domain(source: Source) -> str:
    """The host of the source's webpage, else its name squeezed into a .com domain."""
    host = urlsplit(source.webpage).hostname if source.webpage else None
    return host or f"{slug(source.name).replace('-', '')}.com"


def _digest(seed: int, index: int) -> bytes:
    """The 16 bytes that name document `index` of the corpus of `seed` and seed its randomness."""
    return hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=16).digest()


def document_id(seed: int, index: int) -> str:
    """The 32-hex id of document `index` in the corpus of `seed`."""
    return _digest(seed, index).hex().upper()


def company_profile(entity: Entity) -> Company:
    """House facts for an entity (size, fiscal year end, executives), stable across corpora."""
    rng = random.Random(f"company:{entity.id}")
    names = [f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" for _ in range(3)]
    return Company(
        entity=entity,
        aliases=short_names(entity),
        ticker=prose_ticker(entity),
        scale=10 ** rng.uniform(-0.6, 1.7),
        fy_end_month=rng.choice((12, 12, 12, 12, 12, 12, 3, 6, 9)),
        ceo=names[0],
        cfo=names[1],
        ir_head=names[2],
    )


class _Corpus:
    """The per-corpus lookups: company draw weights, sector peers and source pools."""

    def __init__(self, companies: Sequence[Entity], sources: Sequence[Source], seed: int,
                 start: datetime, end: datetime) -> None:
        if not companies:
            raise ValidationError("the corpus needs at least one company", details={"field": "companies"})
        if not sources:
            raise ValidationError("the corpus needs at least one source", details={"field": "sources"})
        if end <= start:
            raise ValidationError("end must be after start", details={"field": "end"})
        self.seed = seed
        self.start = start
        self.end = end
        self.span_minutes = int((end - start).total_seconds() // 60)
        self.entities = list(companies)
        shuffled = list(range(len(self.entities)))
        random.Random(f"order:{seed}").shuffle(shuffled)
        # Popular companies are drawn most; equally popular ones in a seeded order.
        self.order = sorted(shuffled, key=lambda i: -self.entities[i].popularity)
        self.cum_weights = list(accumulate(1 / (rank + 1) ** ZIPF_EXPONENT for rank in range(len(self.order))))
        self.by_sector: dict[str, list[int]] = {}
        for index, entity in enumerate(self.entities):
            self.by_sector.setdefault(entity.sector or "", []).append(index)
        self.sources = {kind: _sources_for(sources, category) for kind, category in CATEGORY_OF_KIND.items()}
        self.domains = {source.id: source_domain(source) for source in sources}
        self.profiles: dict[int, Company] = {}

    def profile(self, index: int) -> Company:
        """The cached profile of company `index` (one per company, not per document)."""
        if index not in self.profiles:
            self.profiles[index] = company_profile(self.entities[index])
        return self.profiles[index]

    def draw_company(self, rng: random.Random) -> int:
        """A company index, popular ones more often."""
        rank = bisect_right(self.cum_weights, rng.random() * self.cum_weights[-1])
        return self.order[min(rank, len(self.order) - 1)]

    def draw_other(self, rng: random.Random, index: int, *, same_sector: bool) -> int:
        """Another company than `index`, from the same sector when asked and possible."""
        if len(self.entities) == 1:
            return index
        pool = self.by_sector.get(self.entities[index].sector or "", []) if same_sector else []
        if len(pool) > 1:
            position = rng.randrange(len(pool) - 1)
            return pool[position] if pool[position] != index else pool[-1]
        other = rng.randrange(len(self.entities) - 1)
        return other if other < index else other + 1

    def _timestamp(self, rng: random.Random, kind: str) -> datetime:
        """A minute in [start, end); calls start on the hour or half hour, before the US open or after the close."""
        when = self.start + timedelta(minutes=rng.randrange(self.span_minutes))
        if kind == "transcript":
            call = when.replace(hour=rng.choice((12, 13, 14, 20, 21)), minute=rng.choice((0, 30)))
            if self.start <= call < self.end:
                return call
        return when

    def document(self, index: int) -> dict[str, Any]:
        """Document `index` of the corpus."""
        digest = _digest(self.seed, index)
        doc_id = digest.hex().upper()
        rng = random.Random(int.from_bytes(digest, "big"))
        kind = rng.choices([k for k, _ in KIND_WEIGHTS], weights=[w for _, w in KIND_WEIGHTS])[0]
        when = self._timestamp(rng, kind)
        primary = self.draw_company(rng)
        roles = {
            "co": self.profile(primary),
            "co2": self.profile(self.draw_other(rng, primary, same_sector=rng.random() < 0.5)),
            "peer": self.profile(self.draw_other(rng, primary, same_sector=True)),
        }
        is_positive = rng.random() < POSITIVE_SHARE
        facts = Facts(rng, roles["co"], when, is_positive=is_positive)
        headline = TextBuilder(rng, roles, facts)
        body = TextBuilder(rng, roles, facts)
        has_counterparty = roles["co2"].id != roles["co"].id
        periods, event = _compose(kind, rng, headline, body, facts, is_positive, has_counterparty)
        source = rng.choice(self.sources[kind])
        text, title = body.text(), headline.text()
        return {
            "id": doc_id,
            "headline": title,
            "text": text,
            "timestamp": when.strftime("%Y-%m-%dT%H:%M:00Z"),
            "url": f"https://{self.domains[source.id]}/{_url_path(kind, when, title, doc_id)}",
            "source": {"id": source.id, "name": source.name, "rank": source.rank},
            "document_type": dict(DOCUMENT_TYPES[kind]),
            "category": CATEGORY_OF_KIND[kind],
            "language": "en",
            "tags": [],
            "reporting_entities": [roles["co"].id] if kind != "news" else [],
            "reporting_periods": periods,
            "_mentions": body.mentions,
            "_headline_mentions": headline.mentions,
            "_company": roles["co"].id,
            "_event": event,
        }


def _compose(kind: str, rng: random.Random, headline: TextBuilder, body: TextBuilder, facts: Facts,
             is_positive: bool, has_counterparty: bool) -> tuple[list[dict[str, int | None]], str]:
    """Write headline and body for the kind; returns the reporting periods and what the document reports."""
    period: list[dict[str, int | None]] = [{"fiscal_year": facts.fiscal_year, "fiscal_quarter": facts.fiscal_quarter}]
    if kind == "transcript":
        transcripts.compose_headline(headline, rng, has_ticker=facts.company.ticker is not None)
        guidance = rng.choice(("raised", "reaffirmed") if is_positive else ("lowered", "reaffirmed"))
        transcripts.compose_body(body, rng, is_positive, guidance)
        return period, "earnings call"
    if kind == "filing":
        item = filings.choose_item(rng, has_counterparty)
        facts["item_title"], facts["item_number"] = item.title, item.number
        filings.compose_headline(headline, rng, item)
        filings.compose_body(body, rng, item, is_positive)
        return (period if item.has_period else []), item.title
    event = news.choose_event(rng, has_counterparty)
    news.compose_headline(headline, rng, event, is_positive)
    news.compose_body(body, rng, event, is_positive)
    return [], event.name


def _url_path(kind: str, when: datetime, headline: str, doc_id: str) -> str:
    """A plausible article path: section, date, headline slug and a short id."""
    section = {"news": "news", "transcript": "transcripts", "filing": "filings/8-k"}[kind]
    return f"{section}/{when:%Y/%m/%d}/{slug(headline)[:80].rstrip('-')}-{doc_id[:8].lower()}"


def _sources_for(sources: Sequence[Source], category: str) -> list[Source]:
    """The sources publishing a category; news also takes sources without categories; else all."""
    matching = [s for s in sources if category in s.categories or (category == "news" and not s.categories)]
    return matching or list(sources)


def generate_documents(companies: Sequence[Entity], sources: Sequence[Source], *, n_docs: int, seed: int,
                       start: datetime | None = None, end: datetime = DEFAULT_END) -> Iterator[dict[str, Any]]:
    """Yield `n_docs` documents, deterministically for a seed, one at a time (inputs checked at call)."""
    corpus = _Corpus(companies, sources, seed, start or end - DEFAULT_SPAN, end)
    return (corpus.document(index) for index in range(n_docs))


def write_corpus(path: str | os.PathLike[str], companies: Sequence[Entity], sources: Sequence[Source],
                 n_docs: int, seed: int) -> int:
    """Write a generated corpus as JSONL (atomically, streaming); returns the number of documents."""
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    count = 0
    with partial.open("w", encoding="utf-8") as out:
        for document in generate_documents(companies, sources, n_docs=n_docs, seed=seed):
            out.write(json.dumps(document, ensure_ascii=False))
            out.write("\n")
            count += 1
    os.replace(partial, target)
    return count
