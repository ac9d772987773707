"""The synthetic corpus: determinism, streaming, field validity, ground-truth mentions; reporting helpers."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tracemalloc
import types
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import pytest

from batchsearch.annotate.reporting import (
    parse_reporting_period,
    parse_reporting_subject,
    reporting_entities,
    reporting_periods,
)
from batchsearch.corpus import (
    document_id,
    events_corporate,
    events_results,
    filings,
    generate_documents,
    news,
    transcripts,
    write_corpus,
)
from batchsearch.corpus.facts import Facts, fiscal_period
from batchsearch.corpus.generate import DEFAULT_END, company_profile
from batchsearch.corpus.text import TextBuilder, prose_ticker, short_names
from batchsearch.errors import ValidationError
from batchsearch.kg.model import Entity, EntityCategory, Source

C = EntityCategory.COMPANIES
COMPANIES = [
    Entity("NWT001", "Northwind Traders Inc.", C, aliases=("Northwind",), tickers=("NWT",), sector="Technology", country="US"),
    Entity("CTS002", "Contoso Pharmaceuticals plc", C, aliases=("Contoso",), sector="Healthcare", country="GB"),
    Entity("FBK003", "Fabrikam Bank AG", C, sector="Financials", country="DE"),
    Entity("TSM004", "Tailspin Motors Corp.", C, aliases=("Tailspin",), tickers=("TSPN",), sector="Industrials", country="US"),
    Entity("LTW005", "Litware & Co.", C, aliases=("Litware",), sector="Consumer Services", country="US"),
    Entity("PWE006", "Proseware Energy S.A.", C, sector="Energy", country="FR"),
    Entity("WGT007", "Wingtip Telecom N.V.", C, aliases=("Wingtip",), tickers=("WTIP",), sector="Telecommunications", country="NL"),
    Entity("ADS008", "Adatum Software", C, sector="Technology", country="US"),
    Entity("WGH009", "Woodgrove Holdings Ltd.", C, aliases=("Woodgrove",), sector="Financials", country="CA"),
    Entity("BLU010", "Blue Yonder Airlines", C, aliases=("Blue Yonder",), country="US"),
]
SOURCES = [
    *(Source(f"NEWS0{i}", f"Example Wire {i}", f"RANK_{i}", categories=("news",)) for i in range(1, 5)),
    Source("TRNS01", "Example Transcripts", "RANK_1", categories=("transcripts",), webpage="https://transcripts.example"),
    Source("FILE01", "Example Filings", "RANK_1", categories=("filings",)),
]
DOCUMENT_TYPES = {("NEWS", None): "news", ("TRANSCRIPT", "EARNINGS_CALL"): "transcripts", ("FILING", "SEC_8_K"): "filings"}
BY_ID = {entity.id: entity for entity in COMPANIES}


def generate(n: int, seed: int = 5, **kwargs: datetime) -> list[dict]:
    return list(generate_documents(COMPANIES, SOURCES, n_docs=n, seed=seed, **kwargs))


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    return generate(2000)


def surfaces(entity: Entity) -> dict[str, set[str]]:
    """The surface forms the generator may write for an entity, by form."""
    ticker = prose_ticker(entity)
    return {"name": {entity.name}, "alias": set(short_names(entity)), "ticker": {ticker} if ticker else set()}


# -- determinism


def test_same_seed_same_documents() -> None:
    assert generate(50, seed=9) == generate(50, seed=9)


def test_different_seeds_differ() -> None:
    first, second = generate(50, seed=1), generate(50, seed=2)
    assert {d["id"] for d in first}.isdisjoint(d["id"] for d in second)
    assert sum(a["text"] == b["text"] for a, b in zip(first, second, strict=True)) == 0


def test_documents_do_not_depend_on_hash_randomisation() -> None:
    code = (
        f"import hashlib, json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        "from test_corpus import generate; "
        "print(hashlib.sha256(json.dumps(generate(30, seed=3)).encode()).hexdigest())"
    )
    expected = hashlib.sha256(json.dumps(generate(30, seed=3)).encode()).hexdigest()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == expected


def test_document_ids_come_from_seed_and_index() -> None:
    docs = generate(5, seed=11)
    assert [d["id"] for d in docs] == [document_id(11, i) for i in range(5)]


# -- streaming


def test_generation_streams_in_flat_memory() -> None:
    stream = generate_documents(COMPANIES, SOURCES, n_docs=10**12, seed=1)
    assert isinstance(stream, types.GeneratorType)
    for _ in islice(stream, 200):  # warm the template and profile caches before measuring
        pass
    tracemalloc.start()
    for _ in islice(stream, 5_000):
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MiB while streaming 20,000 documents"


def test_bad_inputs_fail_at_call_time() -> None:
    with pytest.raises(ValidationError):
        generate_documents([], SOURCES, n_docs=1, seed=1)
    with pytest.raises(ValidationError):
        generate_documents(COMPANIES, [], n_docs=1, seed=1)
    with pytest.raises(ValidationError):
        generate_documents(COMPANIES, SOURCES, n_docs=1, seed=1, start=DEFAULT_END, end=DEFAULT_END)


def test_write_corpus_streams_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    assert write_corpus(path, COMPANIES, SOURCES, 300, 4) == 300
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == generate(300, seed=4)
    assert list(tmp_path.iterdir()) == [path]


# -- fields


def test_fields_are_valid(corpus: list[dict]) -> None:
    start = DEFAULT_END - timedelta(days=730)
    assert len({d["id"] for d in corpus}) == len(corpus)
    for doc in corpus:
        assert re.fullmatch(r"[0-9A-F]{32}", doc["id"])
        when = datetime.strptime(doc["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert start <= when < DEFAULT_END
        assert re.fullmatch(r"https://[a-z0-9.-]+\.[a-z]+/\S+", doc["url"])
        assert doc["source"] in [{"id": s.id, "name": s.name, "rank": s.rank} for s in SOURCES]
        kind = (doc["document_type"]["type"], doc["document_type"].get("subtype"))
        assert DOCUMENT_TYPES[kind] == doc["category"]
        assert doc["category"] in {s.name: s.categories for s in SOURCES}[doc["source"]["name"]]
        assert doc["language"] == "en" and doc["tags"] == []
        assert doc["headline"] and doc["text"].count("\n\n") >= 1
        assert not {"sentiment", "entities", "topics", "detections", "chunks"} & doc.keys()


def test_document_mix(corpus: list[dict]) -> None:
    shares = {k: v / len(corpus) for k, v in Counter(d["category"] for d in corpus).items()}
    assert 0.70 <= shares["news"] <= 0.80
    assert 0.11 <= shares["transcripts"] <= 0.19
    assert 0.07 <= shares["filings"] <= 0.13
    lengths = {c: [len(d["text"]) for d in corpus if d["category"] == c] for c in shares}
    assert min(lengths["transcripts"]) > sum(lengths["news"]) / len(lengths["news"])


def test_reporting_fields(corpus: list[dict]) -> None:
    for doc in corpus:
        if doc["category"] == "news":
            assert doc["reporting_entities"] == [] and doc["reporting_periods"] == []
            continue
        assert len(doc["reporting_entities"]) == 1 and doc["reporting_entities"][0] in BY_ID
        if doc["category"] == "transcripts":
            assert len(doc["reporting_periods"]) == 1
        for period in doc["reporting_periods"]:
            assert 2024 <= period["fiscal_year"] <= 2027 and 1 <= period["fiscal_quarter"] <= 4


def test_mentions_match_company_surfaces(corpus: list[dict]) -> None:
    forms = Counter()
    for doc in corpus:
        for field, key in (("text", "_mentions"), ("headline", "_headline_mentions")):
            previous_end = 0
            for mention in doc[key]:
                surface = doc[field][mention["start"] : mention["end"]]
                assert surface in surfaces(BY_ID[mention["id"]])[mention["form"]], (surface, mention)
                assert mention["start"] >= previous_end
                previous_end = mention["end"]
                forms[mention["form"]] += 1
        companies = {m["id"] for m in doc["_mentions"] + doc["_headline_mentions"]}
        assert 1 <= len(companies) <= 3
        assert doc["reporting_entities"] == [] or doc["reporting_entities"][0] in companies
    assert forms["name"] and forms["alias"] and forms["ticker"]


def test_some_documents_mention_a_second_company(corpus: list[dict]) -> None:
    multi = sum(len({m["id"] for m in d["_mentions"]}) > 1 for d in corpus)
    assert 0.2 < multi / len(corpus) < 0.9


def test_custom_time_window() -> None:
    start, end = datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 2, 1, tzinfo=UTC)
    for doc in generate(200, start=start, end=end):
        assert "2020-01-01T00:00:00Z" <= doc["timestamp"] < "2020-02-01T00:00:00Z"


def _all_templates() -> list[str]:
    templates: list[str] = []
    for event in events_results.EVENTS + events_corporate.EVENTS:
        for wording in (event.positive, event.negative):
            templates += [*wording.headlines, *wording.leads, *wording.details, *wording.quotes]
        templates += event.shared
    for pool in (news.REACTION_UP, news.REACTION_DOWN, news.ANALYST_UP, news.ANALYST_DOWN, news.PEER,
                 news.BACKGROUND, news.MACRO, news.NEXT):
        templates += pool
    for name, value in vars(transcripts).items():
        if name.isupper():
            values = value.values() if isinstance(value, dict) else [value] if isinstance(value, str) else value
            for item in values:
                templates += [item] if isinstance(item, str) else list(item)
    for item in filings.ITEMS:
        templates += [*item.positive, *item.negative]
    return [*templates, *filings.HEADLINES, *filings.COVER, *filings.EXHIBITS, *filings.SIGNATURE]


def test_every_template_renders() -> None:
    rng = random.Random(0)
    roles = {"co": company_profile(COMPANIES[0]), "co2": company_profile(COMPANIES[1]), "peer": company_profile(COMPANIES[3])}
    templates = _all_templates()
    assert len(templates) > 300
    for template in templates:
        for is_positive in (True, False):
            facts = Facts(rng, roles["co"], datetime(2025, 5, 2, tzinfo=UTC), is_positive=is_positive)
            facts["item_title"], facts["item_number"] = "Other Events", "8.01"
            builder = TextBuilder(rng, roles, facts)
            builder.sentence(template)
            text = builder.text()
            assert "{" not in text and "[" not in text.replace("[Press", ""), text
            assert ".." not in text and "  " not in text, text


# -- fiscal periods and the reporting helpers


@pytest.mark.parametrize(
    ("when", "fy_end", "expected"),
    [
        (datetime(2025, 4, 30), 6, (2025, 3)),   # Microsoft-style June year end: Jan-Mar is Q3
        (datetime(2025, 1, 30), 9, (2025, 1)),   # September year end: Oct-Dec is Q1 of the next year
        (datetime(2025, 2, 10), 12, (2024, 4)),
        (datetime(2025, 7, 25), 12, (2025, 2)),
    ],
)
def test_fiscal_period(when: datetime, fy_end: int, expected: tuple[int, int]) -> None:
    assert fiscal_period(when, fy_end) == expected


def test_generated_headlines_parse_back(corpus: list[dict]) -> None:
    checked = 0
    for doc in corpus:
        if doc["reporting_periods"]:
            period = parse_reporting_period(doc["headline"])
            assert period is not None and period.to_dict() == doc["reporting_periods"][0], doc["headline"]
            name = BY_ID[doc["reporting_entities"][0]].name
            assert parse_reporting_subject(doc["headline"]) == name, doc["headline"]
            headline_only = {k: doc[k] for k in ("headline", "document_type")}
            assert reporting_periods(headline_only) == doc["reporting_periods"]
            assert reporting_entities(headline_only, {name: doc["reporting_entities"][0]}.get) == doc["reporting_entities"]
            checked += 1
    assert checked > 200


@pytest.mark.parametrize(
    ("headline", "subject", "period"),
    [
        ("Microsoft Corp. Q3 2025 Earnings Call", "Microsoft Corp.", (2025, 3)),
        ("Microsoft Corp., Q3 2025 Earnings Call, Apr 30, 2025", "Microsoft Corp.", (2025, 3)),
        ("Microsoft Corp. (MSFT) Q3 FY2025 Earnings Call Transcript", "Microsoft Corp.", (2025, 3)),
        ("Acme Inc. Fiscal 2025 Third Quarter Earnings Conference Call", "Acme Inc.", (2025, 3)),
        ("Acme Inc. Third Quarter Fiscal 2025 Results Call", "Acme Inc.", (2025, 3)),
        ("Acme 3Q25 earnings call", "Acme", (2025, 3)),
        ("Acme | 2025 Q2 Earnings", "Acme", (2025, 2)),
        ("Acme Corp. - Form 8-K - Results of Operations (Q4 2024)", "Acme Corp.", (2024, 4)),
        ("Acme FY2024 Annual Results", "Acme", (2024, None)),
        ("Acme shares rise after upbeat outlook", None, None),
    ],
)
def test_parse_reporting_headlines(headline: str, subject: str | None, period: tuple[int, int | None] | None) -> None:
    assert parse_reporting_subject(headline) == subject
    parsed = parse_reporting_period(headline)
    assert (parsed.fiscal_year, parsed.fiscal_quarter) == period if period else parsed is None


def test_explicit_reporting_metadata_wins() -> None:
    doc = {"document_type": {"type": "TRANSCRIPT"}, "headline": "Acme Q1 2026 Earnings Call",
           "reporting_periods": [{"fiscal_year": 2024, "fiscal_quarter": 4}, {"fiscal_year": 2025}],
           "reporting_entities": ["ABC123", "ABC123"]}
    assert reporting_periods(doc) == [{"fiscal_year": 2024, "fiscal_quarter": 4}, {"fiscal_year": 2025, "fiscal_quarter": None}]
    assert reporting_entities(doc, lambda name: "OTHER1") == ["ABC123"]
    flat = {"document_type": "NEWS", "fiscal_year": 2025, "fiscal_quarter": 2}
    assert reporting_periods(flat) == [{"fiscal_year": 2025, "fiscal_quarter": 2}]


def test_news_reports_on_nothing_without_metadata() -> None:
    doc = {"document_type": {"type": "NEWS"}, "headline": "Acme Q1 2026 results beat estimates"}
    assert reporting_periods(doc) == [] and reporting_entities(doc, lambda name: "X") == []


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"reporting_periods": [{"fiscal_year": 2024, "fiscal_quarter": 5}]}, "reporting_periods[0].fiscal_quarter"),
        ({"reporting_periods": [{"fiscal_quarter": 1}]}, "reporting_periods[0].fiscal_year"),
        ({"reporting_periods": "2024"}, "reporting_periods"),
        ({"fiscal_year": 2024, "fiscal_quarter": 0}, "fiscal_year.fiscal_quarter"),
    ],
)
def test_bad_reporting_metadata_names_the_field(doc: dict, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        reporting_periods(doc)
    assert caught.value.details == {"field": field}
