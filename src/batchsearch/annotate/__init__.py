"""Chunk and document annotations computed at ingest: sentiment, topics, reporting entities and periods."""

from batchsearch.annotate.reporting import (
    ReportingPeriod,
    parse_reporting_period,
    parse_reporting_subject,
    reporting_entities,
    reporting_periods,
)
from batchsearch.annotate.sentiment import label, score_sentiment
from batchsearch.annotate.topics import TOPICS, Topic, TopicHit, canonical_topic_id, detect_topics, get_topic

__all__ = [
    "TOPICS",
    "ReportingPeriod",
    "Topic",
    "TopicHit",
    "canonical_topic_id",
    "detect_topics",
    "get_topic",
    "label",
    "parse_reporting_period",
    "parse_reporting_subject",
    "reporting_entities",
    "reporting_periods",
    "score_sentiment",
]
