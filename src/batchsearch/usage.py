"""Query units spent per tenant and calendar month (UTC), kept in the service database (table created by Alembic
revision 0005 in batchsearch.migrations).

One query unit is 10 returned chunks, fractional (spec 4.5): the table counts chunks, an exact integer, and the
units are derived when read. Both places that answer searches spend units: `POST /v1/search` records each
response, and the batch runner each successful line (`UsageStore.record`, `returned_chunks`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Engine, MetaData, String, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from batchsearch.clock import Clock, utcnow
from batchsearch.search.ranking import query_units

metadata = MetaData()

api_usage = Table(
    "api_usage",
    metadata,
    Column("owner", String(200), primary_key=True),
    Column("period", String(7), primary_key=True),  # the calendar month, UTC: "2026-11"
    Column("chunks", BigInteger, nullable=False, default=0, server_default="0"),
    Column("searches", BigInteger, nullable=False, default=0, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


def period_of(moment: datetime) -> str:
    """The usage period (calendar month, UTC) a moment falls in: "YYYY-MM"."""
    return moment.astimezone(UTC).strftime("%Y-%m")


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """The first instant of a period and of the next one (UTC)."""
    start = datetime.strptime(period, "%Y-%m").replace(tzinfo=UTC)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def returned_chunks(response: Mapping[str, Any]) -> int:
    """The chunks a search response returned (what its `usage.api_query_units` bills)."""
    return sum(len(doc.get("chunks", ())) for doc in response.get("results", ()))


@dataclass(frozen=True)
class Usage:
    """One tenant's spending in one period."""

    owner: str
    period: str
    chunks: int = 0
    searches: int = 0

    @property
    def query_units(self) -> float:
        """The query units spent: returned chunks / 10."""
        return query_units(self.chunks)


class UsageStore:
    """Counts returned chunks and searches per tenant and period; safe under concurrent writers (SQLite, PostgreSQL)."""

    def __init__(self, engine: Engine, clock: Clock = utcnow) -> None:
        self._engine = engine
        self._clock = clock

    def record(self, owner: str, *, chunks: int, searches: int = 1) -> None:
        """Add `searches` searches that returned `chunks` chunks to the owner's current period."""
        now = self._clock()
        key = (api_usage.c.owner == owner, api_usage.c.period == period_of(now))
        grow = update(api_usage).where(*key).values(chunks=api_usage.c.chunks + chunks,
                                                    searches=api_usage.c.searches + searches, updated_at=now)
        with self._engine.begin() as conn:
            if conn.execute(grow).rowcount == 1:
                return
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(api_usage).values(owner=owner, period=period_of(now), chunks=chunks,
                                                      searches=searches, updated_at=now))
        except IntegrityError:  # another writer made the row first: add to it
            with self._engine.begin() as conn:
                conn.execute(grow)

    def get_usage(self, owner: str, period: str | None = None) -> Usage:
        """The owner's usage in a period (default: the current one); zero when nothing was spent."""
        period = period or period_of(self._clock())
        stmt = select(api_usage.c.chunks, api_usage.c.searches).where(api_usage.c.owner == owner,
                                                                       api_usage.c.period == period)
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return Usage(owner, period) if row is None else Usage(owner, period, int(row.chunks), int(row.searches))
