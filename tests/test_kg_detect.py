"""Entity detection: true positives, rejected false positives, offsets, tickers, longest match."""

from __future__ import annotations

import pytest

from batchsearch.kg import Detection, Entity, EntityCategory, EntityDetector, KnowledgeGraph, company_surface_forms

C, P, L = EntityCategory.COMPANIES, EntityCategory.PEOPLE, EntityCategory.PLACES

ENTITIES = [
    Entity(id="APPLE1", name="Apple Inc.", category=C, aliases=("Apple",), tickers=("AAPL",),
           listings=("XNAS:AAPL",), country="US", popularity=15.0),
    Entity(id="APPHOS", name="Apple Hospitality REIT, Inc.", category=C, aliases=("Apple Hospitality REIT",),
           tickers=("APLE",), popularity=2.0),
    Entity(id="TARGET", name="Target Corporation", category=C, aliases=("Target",), tickers=("TGT",), country="US",
           popularity=5.0),
    Entity(id="MSFT01", name="Microsoft", category=C, aliases=("Microsoft Corp.",), tickers=("MSFT",),
           listings=("XNAS:MSFT",), popularity=15.0),
    Entity(id="BANKAM", name="Bank of America", category=C, aliases=("BofA",), tickers=("BAC",), popularity=12.0),
    Entity(id="ALLSTA", name="Allstate", category=C, tickers=("ALL",), popularity=4.0),
    Entity(id="CATERP", name="Caterpillar Inc.", category=C, aliases=("Caterpillar",), tickers=("CAT",),
           popularity=12.0),
    Entity(id="BPPLC1", name="BP", category=C, tickers=("BP",), country="GB", popularity=8.0),
    Entity(id="NOWINC", name="NOW Inc", category=C, aliases=("NOW",), tickers=("DNOW",), popularity=0.3),
    Entity(id="TOYOTA", name="Toyota", category=C, tickers=("7203",), listings=("XTKS:7203",), popularity=4.0),
    Entity(id="NESTLE", name="Nestlé SA", category=C, aliases=("Nestlé", "Nestle"), popularity=9.0),
    Entity(id="TIMCOO", name="Tim Cook", category=P, popularity=7.0),
    Entity(id="USA001", name="United States", category=L, aliases=("US", "U.S."), type="COUNTRY", popularity=20.0),
    Entity(id="AMERIC", name="America", category=L, type="COUNTRY", popularity=1.0),
    Entity(id="READNG", name="Reading", category=L, type="CITY", popularity=1.0),
    Entity(id="WARREN", name="Warren", category=L, type="CITY", popularity=1.0),
    Entity(id="REDMON", name="Redmond", category=L, type="CITY", popularity=1.0),
    Entity(id="TECHNO", name="Technology", category=EntityCategory.CONCEPTS, type="SECTOR"),
]


@pytest.fixture(scope="module")
def detector() -> EntityDetector:
    return EntityDetector(ENTITIES)


def found(detector: EntityDetector, text: str) -> list[tuple[str, str]]:
    """(surface, id) pairs, checking that every offset pair really spans its surface."""
    detections = detector.detect(text)
    assert all(isinstance(d, Detection) and d.type == "entity" for d in detections)
    assert [d.start for d in detections] == sorted(d.start for d in detections)
    return [(text[d.start : d.end], d.id) for d in detections]


def test_offsets_span_the_surface_form(detector: EntityDetector) -> None:
    text = "Shares of Microsoft rose."
    (detection,) = detector.detect(text)
    assert (detection.id, detection.start, detection.end) == ("MSFT01", 10, 19)
    assert text[detection.start : detection.end] == "Microsoft"


def test_names_aliases_people_and_places(detector: EntityDetector) -> None:
    text = "Tim Cook said Apple will invest in Redmond and the U.S. economy, unlike Bank of America."
    assert found(detector, text) == [("Tim Cook", "TIMCOO"), ("Apple", "APPLE1"), ("Redmond", "REDMON"),
                                     ("U.S.", "USA001"), ("Bank of America", "BANKAM")]


def test_longest_match_wins(detector: EntityDetector) -> None:
    assert found(detector, "Apple Hospitality REIT bought a hotel.") == [("Apple Hospitality REIT", "APPHOS")]
    assert found(detector, "Bank of America") == [("Bank of America", "BANKAM")]  # not the place "America"
    assert found(detector, "Microsoft Corp. said") == [("Microsoft Corp.", "MSFT01")]  # the period is part of it
    assert found(detector, "Microsoft Corp said") == [("Microsoft Corp", "MSFT01")]


def test_word_boundaries_on_both_sides(detector: EntityDetector) -> None:
    assert found(detector, "Applebee's and Pineapple and Microsofts and BPX") == []
    assert found(detector, "Apple's results, (Microsoft) and \"BP\".") == [
        ("Apple", "APPLE1"), ("Microsoft", "MSFT01"), ("BP", "BPPLC1")]


def test_lowercase_mentions_of_names_are_rejected(detector: EntityDetector) -> None:
    assert found(detector, "an apple a day, a target audience, microsoft word, bp") == []


def test_headline_caps_and_accent_variants(detector: EntityDetector) -> None:
    assert found(detector, "MICROSOFT BEATS ESTIMATES") == [("MICROSOFT", "MSFT01")]
    assert found(detector, "Nestlé and Nestle") == [("Nestlé", "NESTLE"), ("Nestle", "NESTLE")]


def test_common_word_names_need_exact_case_and_context(detector: EntityDetector) -> None:
    assert found(detector, "Analysts like Target and Apple this year.") == [("Target", "TARGET"), ("Apple", "APPLE1")]
    assert found(detector, "Target prices were raised.") == []  # sentence start, not well known enough
    assert found(detector, "Apple rose. Target Field is full.") == [("Apple", "APPLE1")]  # next word capitalised
    assert found(detector, "TARGET and APPLE") == []  # all caps: could be any word
    assert found(detector, "the Big Apple") == []  # preceded by another capitalised word


def test_short_and_acronym_names_need_exact_case(detector: EntityDetector) -> None:
    assert found(detector, "BP shares rose") == [("BP", "BPPLC1")]
    assert found(detector, "Bp shares rose") == []
    assert found(detector, "Act NOW before it is too late") == []  # "NOW" is never a name


def test_places_named_by_common_words_or_first_names(detector: EntityDetector) -> None:
    assert found(detector, "A plant in Reading, near London.") == [("Reading", "READNG")]
    assert found(detector, "Reading the report, analysts agreed.") == []
    assert found(detector, "Warren said the plant in Warren is closing.") == []


def test_tickers_with_dollar_or_exchange_prefix(detector: EntityDetector) -> None:
    assert found(detector, "Apple (NASDAQ: AAPL) and $MSFT rallied; NYSE: ALL fell.") == [
        ("Apple", "APPLE1"), ("AAPL", "APPLE1"), ("MSFT", "MSFT01"), ("ALL", "ALLSTA")]
    assert found(detector, "Toyota (TYO: 7203) and $TGT.") == [("Toyota", "TOYOTA"), ("7203", "TOYOTA"),
                                                             ("TGT", "TARGET")]


def test_ticker_in_parentheses_after_the_name(detector: EntityDetector) -> None:
    assert found(detector, "Toyota (7203) and Allstate (ALL) but Apple (XYZ), Nestlé (NESN)") == [
        ("Toyota", "TOYOTA"), ("7203", "TOYOTA"), ("Allstate", "ALLSTA"), ("ALL", "ALLSTA"), ("Apple", "APPLE1"),
        ("Nestlé", "NESTLE")]


def test_bare_tickers_are_case_sensitive_and_filtered(detector: EntityDetector) -> None:
    assert found(detector, "AAPL and MSFT gained while TGT slipped.") == [
        ("AAPL", "APPLE1"), ("MSFT", "MSFT01"), ("TGT", "TARGET")]
    assert found(detector, "aapl and msft") == []
    assert found(detector, "ALL of it, a CAT video, the CEO of IT, NOW or never") == []  # words and acronyms
    assert found(detector, "WALL STREET SAYS AAPL IS CHEAP") == []  # shouting headline
    assert found(detector, "Tickers: AAPL MSFT TGT") == [("AAPL", "APPLE1"), ("MSFT", "MSFT01"), ("TGT", "TARGET")]
    assert found(detector, "APLE rose") == []  # not a US line in this graph: needs "$APLE" or an exchange


def test_concepts_are_not_detected_by_default(detector: EntityDetector) -> None:
    assert found(detector, "Technology stocks rallied.") == []


def test_detect_many_and_empty_text(detector: EntityDetector) -> None:
    assert detector.detect("") == []
    assert [[d.id for d in ds] for ds in detector.detect_many(["Apple rose.", "", "BofA fell."])] == [
        ["APPLE1"], [], ["BANKAM"]]


def test_company_surface_forms_short_alias_first() -> None:
    apple, _, _, microsoft, *_ = ENTITIES
    assert company_surface_forms(apple) == ["Apple", "Apple Inc"]
    assert company_surface_forms(microsoft) == ["Microsoft", "Microsoft Corp"]
    now_inc = next(e for e in ENTITIES if e.id == "NOWINC")
    assert company_surface_forms(now_inc) == ["NOW Inc"]


def test_default_graph_examples(default_graph: KnowledgeGraph) -> None:
    text = ("Microsoft and Apple reported; Satya Nadella spoke in Redmond. Shares of Siemens rose in Germany, "
            "while BP and Deutsche Telekom fell. (NYSE: BRK.B) gained.")
    got = [(text[d.start : d.end], default_graph.fetch_entity(d.id).name) for d in default_graph.detector().detect(text)]
    assert got == [("Microsoft", "Microsoft"), ("Apple", "Apple Inc."), ("Satya Nadella", "Satya Nadella"),
                   ("Redmond", "Redmond"), ("Siemens", "Siemens"), ("Germany", "Germany"), ("BP", "BP"),
                   ("Deutsche Telekom", "Deutsche Telekom"), ("BRK.B", "Berkshire Hathaway")]


def test_every_company_surface_form_is_detected_in_a_sentence(default_graph: KnowledgeGraph) -> None:
    """The contract the corpus generator relies on: forms from surface_forms() are found where written."""
    detector = default_graph.detector()
    missed = []
    for company in default_graph.companies():
        forms = detector.surface_forms(company)
        for form in forms:
            text = f"Analysts said that {form} reported results on Tuesday."
            spans = [(d.id, text[d.start : d.end]) for d in detector.detect(text)]
            if (company.id, form.rstrip(".")) not in spans:
                missed.append((company.name, form, spans))
    assert missed == []
    with_forms = sum(1 for c in default_graph.companies() if detector.surface_forms(c))
    assert with_forms >= 0.97 * len(default_graph.companies())
