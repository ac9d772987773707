"""The default annotator: knowledge-graph entities, rule-based topics, lexicon sentiment."""

from __future__ import annotations

from batchsearch.annotate.sentiment import score_sentiment
from batchsearch.annotate.topics import detect_topics
from batchsearch.index.records import Detection
from batchsearch.kg.detect import EntityDetector


class DefaultAnnotator:
    """Annotates chunk and headline text at ingest."""

    def __init__(self, detector: EntityDetector | None) -> None:
        self._detector = detector

    def entities(self, text: str) -> list[Detection]:
        """Entity mentions from the knowledge graph (none without a graph)."""
        return self._detector.detect(text) if self._detector is not None and text else []

    def topics(self, text: str) -> list[Detection]:
        """Topic hits of the rule taxonomy."""
        return [Detection(hit.id, hit.start, hit.end, "topic") for hit in detect_topics(text)]

    def sentiment(self, text: str) -> float:
        """Finance-lexicon sentiment in [-1, 1]."""
        return score_sentiment(text)
