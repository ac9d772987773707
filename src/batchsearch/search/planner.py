"""Query planning (pure): auto-enrichment, smart-mode sub-queries, and fusing the sub-queries' answers.

`plan_search` turns a parsed query (which carries its request's search_mode and include_audit) into the
queries actually run:

* fast mode: the query itself; with `auto_enrich_filters` and no entity filter of its own, the entities
  the detector finds in `text` are added as `entity.any_of`.
* smart mode: date phrases ("last quarter", "in 2025", "past 30 days") become a timestamp filter unless
  the caller set one; reporting periods ("Q3 2024", "FY2025") and detected entities become one
  sub-query each: an entity's sub-query filters on that entity, a period's on documents reporting on
  that period (and on the detected entities, if any). The phrases are taken out of the text.

`run_plans` runs every plan's queries in one `search_many` call and `combine` fuses each plan's answers
(reciprocal rank fusion over chunks) into one response with `metadata.audit` listing the queries run.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from batchsearch.errors import BatchSearchError, InternalError
from batchsearch.index.records import Detection
from batchsearch.models.search import EntityFilter, Query, ReportingPeriod, TimestampFilter
from batchsearch.search import ranking

MAX_SUB_QUERIES = 10  # a smart query naming more entities and periods than this runs the first ones
RRF_K = 60  # reciprocal rank fusion constant (Cormack et al.), as search/fusion.py uses
Answer = Mapping[str, Any] | BatchSearchError  # a search response, or why that query failed


class Detector(Protocol):
    """Finds knowledge-graph entities in a text (kg.detect.EntityDetector)."""

    def detect(self, text: str) -> list[Detection]:
        """Entity mentions in `text`, in order."""
        ...


@dataclass(frozen=True)
class SearchPlan:
    """The queries one request runs, and how their answers are reported."""

    queries: tuple[Query, ...]
    max_chunks: int
    is_smart: bool = False
    include_audit: bool = False

    @property
    def shows_audit(self) -> bool:
        """Smart mode always reports its sub-queries; fast mode when include_audit asks."""
        return self.is_smart or self.include_audit


# ---- planning ----------------------------------------------------------------------------------------------

def plan_search(query: Query, detector: Detector | None, now: datetime) -> SearchPlan:
    """The queries to run for `query` (its search_mode and include_audit come with it)."""
    if query.search_mode == "smart":
        return _plan_smart(query, detector, now)
    queries = (enrich(query, detector),)
    return SearchPlan(queries, query.max_chunks, include_audit=query.include_audit)


def enrich(query: Query, detector: Detector | None) -> Query:
    """`query` with the entities detected in its text as `entity.any_of`, when it asks for enrichment and has
    no entity filter of its own; else `query` unchanged."""
    if detector is None or not query.auto_enrich_filters or not query.text or query.filters.entity is not None:
        return query
    ids = detected_ids(query.text, detector)
    if not ids:
        return query
    return _with_filters(query, entity=EntityFilter(any_of=ids))


def detected_ids(text: str, detector: Detector) -> list[str]:
    """Distinct entity ids the detector finds in `text`, in order of first mention."""
    return list(dict.fromkeys(d.id for d in detector.detect(text) if d.type == "entity"))


def _plan_smart(query: Query, detector: Detector | None, now: datetime) -> SearchPlan:
    text = query.text or ""
    periods, text = find_periods(text)
    window, text = find_window(text, now)
    text = " ".join(text.split())
    entities = detected_ids(text, detector) if detector is not None and text else []
    base: dict[str, Any] = {}
    if window is not None and query.filters.timestamp is None:
        base["timestamp"] = window
    kept_text = text or None
    has_filter = bool(entities or periods or base) or any(
        getattr(query.filters, name) is not None for name in ("timestamp", "source"))
    if not kept_text and not has_filter:
        kept_text = query.text  # nothing but a date phrase and no filter: search the words as written
    root = query.model_copy(update={"text": kept_text, "auto_enrich_filters": True})
    subs = [_with_filters(root, **base, entity=EntityFilter(any_of=[e])) for e in entities]
    subs += [_with_filters(root, **base, reporting_periods=[p], **({"reporting_entities": entities} if entities else {}))
             for p in periods]
    if not subs:
        subs = [_with_filters(root, **base)]
    return SearchPlan(tuple(subs[:MAX_SUB_QUERIES]), query.max_chunks, is_smart=True, include_audit=query.include_audit)


def _with_filters(query: Query, **filters: Any) -> Query:
    """A copy of `query` with these filters set (the others kept)."""
    if not filters:
        return query
    new_filters = query.filters.model_copy(update=filters)
    new_filters.__pydantic_fields_set__ = query.filters.model_fields_set | set(filters)
    return query.model_copy(update={"filters": new_filters})


# ---- phrases -----------------------------------------------------------------------------------------------

_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4}
_QUARTER_YEAR = re.compile(r"\bQ([1-4])(?:\s*|-)(?:FY\s*|fiscal\s+(?:year\s+)?)?'?((?:19|20|21)\d{2})\b", re.I)
_YEAR_QUARTER = re.compile(r"\b((?:19|20|21)\d{2})(?:\s*|-)Q([1-4])\b", re.I)
_ORDINAL_QUARTER = re.compile(
    r"\b(first|second|third|fourth|1st|2nd|3rd|4th)\s+(?:fiscal\s+)?quarter\s+(?:of\s+)?(?:fiscal\s+(?:year\s+)?|FY\s*)?"
    r"((?:19|20|21)\d{2})\b", re.I)
_FISCAL_YEAR = re.compile(r"\b(?:FY\s*|fiscal\s+(?:year\s+)?)((?:19|20|21)\d{2})\b", re.I)
_UNITS = "day|week|month|quarter|year"
_RELATIVE = re.compile(rf"\b(?:in\s+|during\s+|over\s+)?(?:the\s+)?(this|last|past|previous)\s+({_UNITS})\b", re.I)
_LAST_N = re.compile(rf"\b(?:in\s+|during\s+|over\s+)?(?:the\s+)?(?:last|past)\s+(\d{{1,3}})\s+({_UNITS})s\b", re.I)
_IN_YEAR = re.compile(r"\b(in|during|throughout|for|since)\s+((?:19|20|21)\d{2})\b", re.I)
_DAY_WORD = re.compile(r"\b(today|yesterday)\b", re.I)


def find_periods(text: str) -> tuple[list[ReportingPeriod], str]:
    """Fiscal periods named in `text` ("Q3 2024", "2024 Q3", "third quarter of 2024", "FY2025", "fiscal 2025"),
    distinct and in order, and the text without them."""
    found: list[tuple[int, ReportingPeriod]] = []
    for pattern, read in ((_QUARTER_YEAR, lambda m: (m.group(2), m.group(1))),
                          (_YEAR_QUARTER, lambda m: (m.group(1), m.group(2))),
                          (_ORDINAL_QUARTER, lambda m: (m.group(2), str(_ORDINALS[m.group(1).lower()]))),
                          (_FISCAL_YEAR, lambda m: (m.group(1), None))):
        for match in pattern.finditer(text):
            year, quarter = read(match)
            found.append((match.start(), ReportingPeriod(fiscal_year=int(year),
                                                         fiscal_quarter=int(quarter) if quarter else None)))
        text = pattern.sub(lambda m: " " * len(m.group(0)), text)  # same length: the next pattern's offsets hold
    unique: dict[tuple[int, int | None], ReportingPeriod] = {}
    for _, period in sorted(found, key=lambda item: item[0]):
        unique.setdefault((period.fiscal_year, period.fiscal_quarter), period)
    return list(unique.values()), text


def find_window(text: str, now: datetime) -> tuple[TimestampFilter | None, str]:
    """The time window of the first date phrase in `text` ("last quarter", "in 2025", "past 30 days", "since 2024",
    "yesterday"), relative to `now` (UTC), and the text without that phrase."""
    now = now.astimezone(UTC)
    matches = [m for pattern in (_LAST_N, _RELATIVE, _IN_YEAR, _DAY_WORD) for m in pattern.finditer(text)]
    if not matches:
        return None, text
    first = min(matches, key=lambda m: m.start())
    start, end = _window_of(first, now)
    window = TimestampFilter.model_validate({"start": start.isoformat(), "end": end.isoformat()})
    return window, text[: first.start()] + " " + text[first.end():]


def _window_of(match: re.Match[str], now: datetime) -> tuple[datetime, datetime]:
    if match.re is _LAST_N:
        return _back(now, int(match.group(1)), match.group(2).lower()), now
    if match.re is _RELATIVE:
        which, unit = match.group(1).lower(), match.group(2).lower()
        start, end = _calendar_unit(now, unit)
        if which == "this":
            return start, now
        if which == "past":
            return _back(now, 1, unit), now
        return _calendar_unit(start - timedelta(microseconds=1), unit)  # last, previous: the whole unit before
    if match.re is _IN_YEAR:
        year = int(match.group(2))
        start = datetime(year, 1, 1, tzinfo=UTC)
        if match.group(1).lower() == "since":
            return start, max(now, start)
        return start, datetime(year + 1, 1, 1, tzinfo=UTC) - timedelta(microseconds=1)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if match.group(1).lower() == "today":
        return day, now
    return day - timedelta(days=1), day - timedelta(microseconds=1)


def _calendar_unit(moment: datetime, unit: str) -> tuple[datetime, datetime]:
    """The calendar day, week (Monday first), month, quarter or year holding `moment`: first and last instant."""
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "day":
        start, after = day, day + timedelta(days=1)
    elif unit == "week":
        start = day - timedelta(days=day.weekday())
        after = start + timedelta(days=7)
    elif unit == "month":
        start = day.replace(day=1)
        after = _add_months(start, 1)
    elif unit == "quarter":
        start = day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)
        after = _add_months(start, 3)
    else:
        start = day.replace(month=1, day=1)
        after = start.replace(year=start.year + 1)
    return start, after - timedelta(microseconds=1)


def _back(now: datetime, count: int, unit: str) -> datetime:
    """`count` units before `now` (months, quarters and years by the calendar)."""
    if unit in ("day", "week"):
        return now - timedelta(days=count * (7 if unit == "week" else 1))
    months = count * {"month": 1, "quarter": 3, "year": 12}[unit]
    return _add_months(now, -min(months, 12 * 200))


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = max(1, index // 12), index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


# ---- running and fusing ------------------------------------------------------------------------------------

def run_plans(plans: Sequence[SearchPlan], search_many: Callable[[list[Query]], Sequence[Answer]]) -> list[Answer]:
    """Every plan's queries in one search_many call; one combined answer per plan, in order."""
    flat = [q for plan in plans for q in plan.queries]
    answers = list(search_many(flat)) if flat else []
    if len(answers) != len(flat):
        error = InternalError("Internal error while executing search")
        return [error for _ in plans]
    out: list[Answer] = []
    at = 0
    for plan in plans:
        out.append(combine(plan, answers[at: at + len(plan.queries)]))
        at += len(plan.queries)
    return out


def combine(plan: SearchPlan, answers: Sequence[Answer]) -> Answer:
    """One response for the plan: its only answer, or the answers fused; the first error if any query failed."""
    for answer in answers:
        if isinstance(answer, BatchSearchError):
            return answer
    responses = [a for a in answers if not isinstance(a, BatchSearchError)]
    response = dict(responses[0]) if len(responses) == 1 else fuse_responses(responses, plan.max_chunks)
    metadata = dict(response.get("metadata") or {})
    metadata.pop("audit", None)
    if plan.shows_audit:
        metadata["audit"] = {"queries": [q.model_dump(mode="json", by_alias=True, exclude_none=True)
                                         for q in plan.queries]}
    response["metadata"] = metadata
    return response


def fuse_responses(responses: Sequence[Mapping[str, Any]], max_chunks: int) -> dict[str, Any]:
    """Reciprocal rank fusion of the responses' chunks (a chunk is a document id and cnum): the best `max_chunks`,
    grouped by document in order of each document's best chunk; a chunk keeps its highest relevance."""
    score: dict[tuple[str, int], float] = {}
    chunk_of: dict[tuple[str, int], dict[str, Any]] = {}
    doc_of: dict[str, dict[str, Any]] = {}
    for response in responses:
        rank = 0
        for doc in response.get("results", []):
            doc_of.setdefault(doc["id"], {k: v for k, v in doc.items() if k != "chunks"})
            for chunk in doc["chunks"]:
                rank += 1
                key = (doc["id"], int(chunk["cnum"]))
                score[key] = score.get(key, 0.0) + 1.0 / (RRF_K + rank)
                best = chunk_of.get(key)
                if best is None or chunk["relevance"] > best["relevance"]:
                    chunk_of[key] = chunk
    seen = {key: i for i, key in enumerate(score)}  # first seen first among equal scores
    chosen = sorted(seen, key=lambda key: (-score[key], seen[key]))[:max_chunks]
    results: dict[str, dict[str, Any]] = {}
    for key in chosen:
        doc = results.setdefault(key[0], {**doc_of[key[0]], "chunks": []})
        doc["chunks"].append(chunk_of[key])
    first = responses[0].get("metadata") or {}
    metadata = {k: first[k] for k in ("request_id", "timestamp", "snapshot_id") if k in first}
    return {"results": list(results.values()), "metadata": metadata,
            "usage": {"api_query_units": ranking.query_units(len(chosen))}}
