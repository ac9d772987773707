"""Topic detection: the taxonomy, one triggering example per topic, negation and offsets."""

from __future__ import annotations

import re

import pytest

from batchsearch.annotate.topics import TOPICS, canonical_topic_id, detect_topics, get_topic

# (text, topic id, the phrase that must be reported as the trigger)
CASES = [
    ("Acme beat analysts' estimates for the third quarter.", "business,earnings,earnings-beat", "beat analysts' estimates"),
    ("It was a better-than-expected quarter.", "business,earnings,earnings-beat", "better-than-expected"),
    ("Acme missed Wall Street expectations again.", "business,earnings,earnings-miss", "missed Wall Street expectations"),
    ("Acme failed to meet consensus estimates.", "business,earnings,earnings-miss", "failed to meet consensus estimates"),
    ("Acme raised its full-year 2025 revenue guidance.", "business,guidance,guidance-raised", "raised its full-year 2025 revenue guidance"),
    ("The group cut its annual outlook on weak orders.", "business,guidance,guidance-lowered", "cut its annual outlook"),
    ("Management reaffirmed its fiscal 2026 guidance.", "business,guidance,guidance-reaffirmed", "reaffirmed its fiscal 2026 guidance"),
    ("Beta agreed to acquire Gamma for $4 billion.", "business,mergers-acquisitions,acquisition", "agreed to acquire"),
    ("Beta will merge with Gamma next year.", "business,mergers-acquisitions,merger", "merge with"),
    ("Beta plans to sell its consumer health unit.", "business,mergers-acquisitions,divestiture", "sell its consumer health unit"),
    ("The retailer will cut about 1,200 jobs.", "business,labor-issues,layoffs", "cut about 1,200 jobs"),
    ("Pilots went on strike on Monday.", "business,labor-issues,strike", "went on strike"),
    ("Shareholders filed a class action against Acme.", "business,legal,lawsuit", "class action"),
    ("Acme agreed to pay $80 million to settle the claims.", "business,legal,settlement", "agreed to pay $80 million to settle"),
    ("Regulators opened an investigation into its billing.", "business,legal,regulatory-investigation", "investigation"),
    ("Acme unveiled a new line of electric trucks.", "business,products,product-launch", "unveiled a new"),
    ("Acme recalled 120,000 vehicles over brake faults.", "business,products,product-recall", "recalled 120,000 vehicles"),
    ("Moody's upgraded Acme's credit rating to A2.", "business,credit-ratings,credit-rating-upgrade", "Moody's upgraded Acme's credit rating"),
    ("S&P lowered the company's rating to junk.", "business,credit-ratings,credit-rating-downgrade", "S&P lowered the company's rating"),
    ("Northcote upgraded the stock to buy from hold.", "business,analyst-ratings,upgrade", "upgraded the stock to buy"),
    ("Halvorsen downgraded Acme to underperform.", "business,analyst-ratings,downgrade", "downgraded Acme to underperform"),
    ("The broker raised its price target to $140.", "business,analyst-ratings,price-target-raised", "raised its price target"),
    ("Analysts cut their price target on the shares.", "business,analyst-ratings,price-target-lowered", "cut their price target"),
    ("Acme named Jane Okafor as its new chief financial officer.", "business,executive-changes,executive-appointment", "named Jane Okafor as its new chief financial officer"),
    ("Its chief executive resigned on Friday.", "business,executive-changes,executive-departure", "resigned"),
    ("The board approved a $5 billion share repurchase.", "business,capital-returns,buyback", "share repurchase"),
    ("Acme raised its quarterly dividend by 8%.", "business,capital-returns,dividend-increase", "raised its quarterly dividend"),
    ("Acme suspended its dividend to preserve cash.", "business,capital-returns,dividend-cut", "suspended its dividend"),
    ("The retailer filed for Chapter 11 protection.", "business,bankruptcy,bankruptcy-filing", "Chapter 11"),
    ("A ransomware attack hit its plants.", "business,cybersecurity,cyber-attack", "ransomware"),
    ("Acme won a $2 billion contract from the Navy.", "business,contracts,contract-award", "won a $2 billion contract"),
    ("Shares of Acme Corp. rose 5.2% in early trading.", "business,stock-prices,stock-price-volatility,up", "Shares of Acme Corp. rose"),
    ("Acme's stock plunged 22% on Tuesday.", "business,stock-prices,stock-price-volatility,down", "stock plunged"),
    ("New tariffs on steel imports hit the automaker.", "economy,trade,tariffs", "tariffs"),
    ("Washington tightened export controls on chips.", "economy,trade,export-controls", "export controls"),
    ("The Federal Reserve cut interest rates by 25 basis points.", "economy,central-banks,rate-decision", "Federal Reserve cut interest rates"),
    ("Consumer prices rose 3.1% in May.", "economy,inflation,consumer-prices", "Consumer prices"),
]


def test_taxonomy_ids_are_lowercase_comma_paths() -> None:
    ids = [topic.id for topic in TOPICS]
    assert len(ids) >= 25
    assert len(set(ids)) == len(ids)
    for topic in TOPICS:
        assert re.fullmatch(r"[a-z]+(?:,[a-z0-9-]+)+", topic.id), topic.id
        assert topic.name and topic.description


def test_every_topic_has_an_example() -> None:
    assert {topic_id for _, topic_id, _ in CASES} == {topic.id for topic in TOPICS}


@pytest.mark.parametrize(("text", "topic_id", "phrase"), CASES)
def test_detects_topic_with_offsets(text: str, topic_id: str, phrase: str) -> None:
    found = [text[hit.start : hit.end] for hit in detect_topics(text) if hit.id == topic_id]
    assert phrase in found, (found, detect_topics(text))


@pytest.mark.parametrize(
    ("text", "topic_id"),
    [
        ("The company did not miss estimates this time.", "business,earnings,earnings-miss"),
        ("The firm said there would be no layoffs this year.", "business,labor-issues,layoffs"),
        ("Management has never cut its guidance.", "business,guidance,guidance-lowered"),
        ("The bank didn't raise its dividend.", "business,capital-returns,dividend-increase"),
    ],
)
def test_negated_phrases_are_not_topics(text: str, topic_id: str) -> None:
    assert topic_id not in {hit.id for hit in detect_topics(text)}


@pytest.mark.parametrize(
    "text",
    [
        "The company will report fourth-quarter results on February 12.",
        "The board of directors meets twice a year in Frankfurt.",
        "Please note that this call is being recorded.",
        "Analysts raised questions about the price target methodology.",
    ],
)
def test_neutral_text_has_no_topics(text: str) -> None:
    assert detect_topics(text) == []


def test_hits_are_in_text_order_within_bounds_and_not_nested() -> None:
    text = " ".join(case[0] for case in CASES)
    hits = detect_topics(text)
    assert hits == sorted(hits, key=lambda h: (h.start, -h.end, h.id))
    for hit in hits:
        assert 0 <= hit.start < hit.end <= len(text)
    for a in hits:
        assert not any(b is not a and b.id == a.id and b.start <= a.start and a.end <= b.end
                       and (b.start, b.end) != (a.start, a.end) for b in hits)


def test_ids_match_case_insensitively() -> None:
    topic = get_topic("BUSINESS,Earnings,earnings-BEAT")
    assert topic is not None and topic.id == "business,earnings,earnings-beat"
    assert get_topic("business,earnings,no-such-topic") is None
    assert canonical_topic_id(" Business , Stock-Prices,stock-price-volatility, DOWN ") == (
        "business,stock-prices,stock-price-volatility,down"
    )


def test_detection_is_case_insensitive() -> None:
    assert [h.id for h in detect_topics("ACME BEAT ESTIMATES")] == ["business,earnings,earnings-beat"]
