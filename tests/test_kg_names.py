"""Pure helpers of the knowledge graph: name cleaning, aliases, headquarters parsing, sectors."""

from __future__ import annotations

import pytest

from batchsearch.kg.geo import country_code, parse_location
from batchsearch.kg.names import clean_company_name, company_aliases, match_key, parse_key_people, strip_legal_suffixes
from batchsearch.kg.sectors import classify, industry_sector


@pytest.mark.parametrize(
    ("name", "stripped"),
    [("Apple Inc.", "Apple"), ("Microsoft Corporation", "Microsoft"), ("KSB SE & Co. KGaA", "KSB"),
     ("Mitsui & Co.", "Mitsui"), ("Shell plc", "Shell"), ("ZOZO Co., Ltd", "ZOZO"), ("Aegon N.V.", "Aegon"),
     ("Siemens AG", "Siemens"), ("SE", "SE"), ("Johnson & Johnson", "Johnson & Johnson")],
)
def test_strip_legal_suffixes(name: str, stripped: str) -> None:
    assert strip_legal_suffixes(name) == stripped


def test_clean_company_name() -> None:
    assert clean_company_name("Puma (brand)") == "Puma"
    assert clean_company_name("IndustrivärdenC") == "Industrivärden"  # glued share class
    assert clean_company_name("EBay") == "eBay"
    assert clean_company_name("Brown–Forman") == "Brown-Forman"


def test_company_aliases() -> None:
    assert company_aliases("Nestlé SA") == ("Nestle SA", "Nestlé", "Nestle")
    assert company_aliases("CBRE Group") == ("CBRE",)
    assert company_aliases("Berkeley Group Holdings", reserved=["Berkeley"]) == ("Berkeley Group",)
    assert company_aliases("Admiral Group") == ()  # "Admiral" is a word


def test_match_key_ignores_case_accents_and_punctuation() -> None:
    assert match_key("Nestlé S.A.") == match_key("nestle s a")
    assert match_key("AT&T") == "at and t"


def test_parse_key_people() -> None:
    assert parse_key_people("Satya Nadella ( chairman & CEO ) Brad Smith ( president )") == [
        ("Satya Nadella", "chairman & CEO"), ("Brad Smith", "president")]
    assert parse_key_people("Ichiro Kashitani, President") == [("Ichiro Kashitani", "President")]
    assert parse_key_people("Sir Andrew Mackenzie ( chairman )") == [("Andrew Mackenzie", "chairman")]
    assert parse_key_people("CEO ( 2024 )") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Microsoft Campus , Redmond, Washington , U.S.", ("Redmond", "US")),
     ("New York City , New York , United States", ("New York", "US")),
     ("New York, NY", ("New York", "US")),
     ("Munich, Germany", ("Munich", "DE")),
     ("22 Avenue Montaigne Paris, France", ("Paris", "FR")),
     ("388 Greenwich Street New York City , U.S.", ("New York", "US")),
     ("Hibiya Mitsui Tower, 1-1-2 Yurakucho , Chiyoda , Tokyo 100-0006 Japan", ("Tokyo", "JP")),
     ("Washington, D.C.", ("Washington", "US")),
     ("Lancaster, PA, U.S.", ("Lancaster", "US")),
     ("Ohio, U.S.", (None, "US")),
     ("Germany", (None, "DE")),
     (None, (None, None))],
)
def test_parse_location(text: str | None, expected: tuple[str | None, str | None]) -> None:
    assert parse_location(text) == expected


def test_country_code() -> None:
    assert country_code("U.S.") == "US"
    assert country_code("Russian Federation") == "RU"
    assert country_code("fr") == "FR"
    assert country_code("Atlantis") is None


def test_sector_classification() -> None:
    assert industry_sector("Software & IT Services") == "Technology"
    assert industry_sector("Food & Drug Retailing") == "Consumer Services"
    assert industry_sector("Real estate investment trust") == "Real Estate"
    frequency = {"Software": 40, "Software & IT Services": 60}
    assert classify(["Information technology", "Software", "Software & IT Services", "Technology"], frequency) == (
        "Technology", "Software & IT Services")
    assert classify([], frequency) == (None, None)
