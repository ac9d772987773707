"""Sentiment: accuracy on a hand-labelled set of financial sentences, and the scoring rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchsearch.annotate.sentiment import label, score_sentiment

LABELLED = Path(__file__).parent / "data" / "sentiment_labelled.jsonl"


def test_accuracy_on_labelled_sentences() -> None:
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) >= 120
    assert {row["label"] for row in rows} == {"positive", "negative", "neutral"}
    wrong = [(row["label"], row["text"]) for row in rows if label(score_sentiment(row["text"])) != row["label"]]
    accuracy = 1 - len(wrong) / len(rows)
    print(f"sentiment accuracy {accuracy:.3f} on {len(rows)} labelled sentences; misses: {wrong}")
    assert accuracy >= 0.8, wrong


@pytest.mark.parametrize(
    ("plain", "negated"),
    [
        ("Revenue grew 8% in the quarter.", "Revenue did not grow in the quarter."),
        ("The company missed estimates.", "The company did not miss estimates."),
        ("The retailer announced layoffs.", "The retailer said there would be no layoffs."),
        ("The lender was profitable.", "The lender is no longer profitable."),
        ("The chipmaker beat expectations.", "The chipmaker failed to beat expectations."),
        ("Results disappointed investors.", "Results never disappointed investors."),
        ("The strike disrupted production.", "The airline avoided a strike."),
    ],
)
def test_negation_flips_polarity(plain: str, negated: str) -> None:
    assert score_sentiment(plain) * score_sentiment(negated) < 0


def test_negation_dampens_as_well_as_flips() -> None:
    assert abs(score_sentiment("The company did not miss estimates.")) < abs(score_sentiment("The company missed estimates."))


def test_negation_stops_at_the_clause_end() -> None:
    assert score_sentiment("Nothing changed, and sales surged.") > 0


@pytest.mark.parametrize(
    ("text", "sign"),
    [
        ("The net loss narrowed to $45 million.", 1),
        ("The net loss widened to $210 million.", -1),
        ("Debt fell to its lowest level in a decade.", 1),
        ("Operating costs rose sharply.", -1),
        ("The insurer cut costs by $300 million.", 1),
        ("Profit dropped as input costs soared.", -1),
        ("Inflation eased to 2.1%.", 1),
        ("Defaults rose again.", -1),
    ],
)
def test_direction_flips_for_adverse_quantities(text: str, sign: int) -> None:
    assert score_sentiment(text) * sign > 0


def test_phrases_beat_their_words() -> None:
    assert score_sentiment("The company cut its guidance.") < 0
    assert score_sentiment("Revenue fell short of forecasts.") < 0
    assert score_sentiment("Earnings beat expectations.") > 0
    assert score_sentiment("A spokesperson declined to comment.") == 0.0
    assert score_sentiment("The deal is subject to regulatory approval.") == 0.0


def test_intensifiers_and_diminishers() -> None:
    assert abs(score_sentiment("Sales fell sharply.")) > abs(score_sentiment("Sales fell."))
    assert abs(score_sentiment("Sales rose slightly.")) < abs(score_sentiment("Sales rose."))


def test_contrast_favours_the_clause_after_but() -> None:
    assert score_sentiment("Revenue rose, but profit plunged.") < 0
    assert score_sentiment("Profit plunged, but revenue rose strongly and margins improved.") > 0


def test_scores_are_bounded_and_rounded() -> None:
    texts = ["", "The board meets in March.", "Record profit, soaring sales, stellar margins and a raised outlook " * 5,
             "Plunging sales, huge losses, layoffs, a lawsuit and a downgrade " * 5]
    for text in texts:
        score = score_sentiment(text)
        assert -1.0 <= score <= 1.0
        assert score == round(score, 2)
    assert score_sentiment("") == 0.0
    assert score_sentiment(texts[2]) > 0.9
    assert score_sentiment(texts[3]) < -0.9


def test_label_thresholds() -> None:
    assert label(0.06) == "positive"
    assert label(0.05) == "neutral"
    assert label(0.0) == "neutral"
    assert label(-0.05) == "neutral"
    assert label(-0.06) == "negative"
    assert label(1.0) == "positive" and label(-1.0) == "negative"
