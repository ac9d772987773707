"""Running one micro-batch of lines through a searcher, isolating every line's failure from its neighbours."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, TypeVar, runtime_checkable

from batchsearch.errors import BatchSearchError, InternalError, SearchTimeoutError
from batchsearch.jobs.lines import (
    EXCEPTION_MESSAGE,
    TIMEOUT_MESSAGE,
    LineResult,
    Outcome,
    ParsedLine,
    RawLine,
    error_result,
    outcome_result,
    parse_line,
)
from batchsearch.models.search import Query
from batchsearch.search.planner import Detector, plan_search, run_plans
from batchsearch.usage import returned_chunks

log = logging.getLogger(__name__)
T = TypeVar("T")


class LineSearcher(Protocol):
    """What the runner needs from the search engine: the generation a new job pins, and search_many over it."""

    def current_generation(self) -> int | None:
        """The newest index generation, which a new job pins (None: the searcher has no snapshots)."""
        ...

    def search_many(self, queries: Sequence[Query], *, owner: str | None, generation: int | None) -> list[Outcome]:
        """One response dict or error per query, in order, all over index `generation` (None: the newest)."""
        ...


@dataclass(frozen=True)
class OutputLine:
    """A line's output as it is written: its JSON line, its status, and the chunks its search returned when it
    succeeded (for usage). Encoded where the line ran, so a cluster sends back bytes rather than responses."""

    number: int
    status: str
    data: bytes
    chunks: int | None = None

    @classmethod
    def of(cls, result: LineResult) -> OutputLine:
        """The output line of a result."""
        chunks = returned_chunks(result.response) if result.status == "success" and result.response else None
        return cls(result.number, result.status, result.to_json_line(), chunks)

    def with_attempts(self, attempts: int) -> OutputLine:
        """The same line counting `attempts` runs (a line searched again on a retry)."""
        row = json.loads(self.data)
        row["attempts"] = attempts
        return replace(self, data=json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")


@runtime_checkable
class BatchExecutor(Protocol):
    """Where a job's micro-batches run: in this process (MicroBatchExecutor) or on a cluster (the ray extra)."""

    def current_generation(self) -> int | None:
        """The index generation a job starting now pins (None when the searcher has no snapshots)."""
        ...

    def map(self, batches: Iterable[Sequence[RawLine]], owner: str | None,
            generation: int | None) -> Generator[list[OutputLine], None, None]:
        """The output of every micro-batch, in input order; batches may be read ahead of the results (closing
        the iterator early abandons the work still running)."""
        ...

    def close(self) -> None:
        """Release what the executor holds."""
        ...


def query_key(query: Query) -> str:
    """A canonical text of a parsed query and its request's mode: equal for identical requests (for deduplication)."""
    body = {"query": query.model_dump(mode="json"), "mode": query.search_mode, "audit": query.include_audit}
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


class PlanningSearcher:
    """A LineSearcher that plans each line's query (auto-enrichment, smart mode) and runs every line's queries in
    one search_many call of the searcher it wraps; one fused outcome per line."""

    def __init__(self, searcher: LineSearcher, detector: Detector | None, clock: Callable[[], datetime]) -> None:
        self._searcher = searcher
        self._detector = detector
        self._clock = clock

    def current_generation(self) -> int | None:
        """The wrapped searcher's newest generation."""
        return self._searcher.current_generation()

    def search_many(self, queries: Sequence[Query], *, owner: str | None, generation: int | None) -> list[Outcome]:
        """One outcome per query, in order; a query's sub-queries all search the same generation."""
        now = self._clock()
        plans = [plan_search(query, self._detector, now) for query in queries]
        answers = run_plans(plans, lambda flat: self._searcher.search_many(flat, owner=owner, generation=generation))
        return [answer if isinstance(answer, BatchSearchError) else dict(answer) for answer in answers]


def dedupe(queries: Sequence[Query]) -> tuple[list[Query], list[int]]:
    """The distinct queries (first occurrences, in order) and, per input query, the index of its distinct one."""
    first: dict[str, int] = {}
    unique: list[Query] = []
    index = []
    for query in queries:
        key = query_key(query)
        if key not in first:
            first[key] = len(unique)
            unique.append(query)
        index.append(first[key])
    return unique, index


class Deadline:
    """Runs calls in a helper thread and gives up waiting after a timeout (a stuck call keeps its own thread)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-search")

    def call(self, fn: Callable[[], T], timeout: float) -> T:
        """The result of fn(), or TimeoutError after `timeout` seconds."""
        future = self._pool.submit(fn)
        try:
            return future.result(timeout=timeout)
        except FutureTimeoutError:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-search")
            raise TimeoutError(f"call exceeded {timeout} s") from None

    def close(self) -> None:
        """Stop the helper thread (without waiting for a stuck call)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class MicroBatchExecutor:
    """Parses and searches a micro-batch; on a failed batch call retries its lines one by one."""

    def __init__(self, searcher: LineSearcher, *, timeout_seconds: float) -> None:
        self._searcher = searcher
        self._timeout = timeout_seconds
        self._deadline = Deadline()

    def run(self, lines: Sequence[RawLine], owner: str | None, generation: int | None = None) -> list[LineResult]:
        """The output line of every input line, in input order; identical queries are searched once."""
        parsed = [self._parse(line) for line in lines]
        valid = [p for p in parsed if isinstance(p, ParsedLine)]
        unique, index = dedupe([p.query for p in valid])
        distinct = self._search(unique, owner, generation)
        outcomes = iter([distinct[i] for i in index])
        return [outcome_result(p, next(outcomes)) if isinstance(p, ParsedLine) else p for p in parsed]

    def map(self, batches: Iterable[Sequence[RawLine]], owner: str | None,
            generation: int | None) -> Generator[list[OutputLine], None, None]:
        """The output of every micro-batch, one after the other in this process."""
        for lines in batches:
            yield self.encode(lines, owner, generation)

    def encode(self, lines: Sequence[RawLine], owner: str | None, generation: int | None = None) -> list[OutputLine]:
        """run(), with every result encoded as its output line."""
        return [OutputLine.of(result) for result in self.run(lines, owner, generation)]

    def current_generation(self) -> int | None:
        """The index generation a job starting now pins (None when the searcher has no snapshots)."""
        return self._searcher.current_generation()

    def close(self) -> None:
        """Release the helper thread."""
        self._deadline.close()

    def _parse(self, line: RawLine) -> ParsedLine | LineResult:
        """Parse a line; a crash in the parser becomes that line's exception result."""
        try:
            return parse_line(line)
        except Exception:
            log.exception("unexpected error parsing batch line %d", line.number)
            return error_result(line.number, None, InternalError(EXCEPTION_MESSAGE))

    def _search(self, queries: list[Query], owner: str | None, generation: int | None) -> list[Outcome]:
        """Outcomes for the queries: one batch call, else one call per query."""
        if not queries:
            return []
        try:
            outcomes = self._deadline.call(
                lambda: self._searcher.search_many(queries, owner=owner, generation=generation), self._timeout
            )
            if len(outcomes) == len(queries):
                return outcomes
            log.error("search_many returned %d outcomes for %d queries", len(outcomes), len(queries))
        except Exception as exc:  # one bad line must not fail its neighbours
            log.warning("micro-batch of %d queries failed (%s); retrying one by one", len(queries), exc)
        return [self._search_one(query, owner, generation) for query in queries]

    def _search_one(self, query: Query, owner: str | None, generation: int | None) -> Outcome:
        """The outcome of one query on its own, with timeouts and crashes turned into errors."""
        try:
            outcomes = self._deadline.call(
                lambda: self._searcher.search_many([query], owner=owner, generation=generation), self._timeout
            )
        except TimeoutError:
            return SearchTimeoutError(TIMEOUT_MESSAGE)
        except Exception:
            log.exception("search failed for one batch query")
            return InternalError(EXCEPTION_MESSAGE)
        if len(outcomes) != 1:
            return InternalError(EXCEPTION_MESSAGE)
        return outcomes[0]
