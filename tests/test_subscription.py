"""Query units per tenant and month (batchsearch.usage on SQLite and PostgreSQL, revision 0005) and
GET /v1/subscription/quotas through the real app (httpx.ASGITransport)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from batchsearch import migrations
from batchsearch.api.app import create_app
from batchsearch.config import Settings
from batchsearch.db import create_db_engine, engine_for
from batchsearch.search.engine import SearchEngine
from batchsearch.usage import UsageStore, metadata, period_bounds, period_of, returned_chunks
from search_fixtures import FakeEmbedder, build_store, random_documents

T0 = datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC)
DIM = 16


class Ticking:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_periods_are_utc_calendar_months() -> None:
    assert period_of(T0) == "2026-01"
    assert period_of(datetime.fromisoformat("2026-02-01T00:30:00+01:00")) == "2026-01"  # still January in UTC
    assert period_bounds("2026-12") == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    response = {"results": [{"chunks": [{}, {}, {}]}, {"chunks": [{}]}], "usage": {"api_query_units": 0.4}}
    assert returned_chunks(response) == 4 and returned_chunks({"results": []}) == 0


def test_usage_adds_up_per_tenant_and_month_even_from_many_threads(database_url: str) -> None:
    clock = Ticking(T0)
    store = UsageStore(create_db_engine(database_url), clock)
    assert store.get_usage("acme").query_units == 0.0 and store.get_usage("acme").period == "2026-01"

    def spend() -> None:
        for _ in range(10):
            store.record("acme", chunks=7)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.record("globex", chunks=3)
    clock.now = datetime(2026, 2, 1, tzinfo=UTC)
    store.record("acme", chunks=25, searches=2)

    january = store.get_usage("acme", "2026-01")
    assert (january.chunks, january.searches, january.query_units) == (560, 80, 56.0)
    february = store.get_usage("acme")
    assert (february.period, february.chunks, february.searches, february.query_units) == ("2026-02", 25, 2, 2.5)
    assert store.get_usage("globex", "2026-01").query_units == 0.3 and store.get_usage("globex").chunks == 0


def test_revision_0005_makes_the_table_usage_py_declares(database_url: str) -> None:
    engine = engine_for(database_url)
    migrations.upgrade(engine)
    with engine.connect() as conn:
        found = compare_metadata(MigrationContext.configure(conn), metadata)
    # the other tables are not in `metadata`: only differences about api_usage count
    assert [d for d in found if "api_usage" in repr(d)] == []
    assert "api_usage" in inspect(engine).get_table_names()


# ---- the route ------------------------------------------------------------------------------------------------
SETTINGS: dict[str, Any] = {"quota_active_jobs": 7, "quota_queued_lines": 12_345, "rate_search_per_second": 3.5,
                            "rate_search_burst": 9, "rate_poll_per_second": 4.0, "rate_poll_burst": 11,
                            "upload_max_concurrent_per_key": 2}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    engine_index = build_store(tmp_path / "index", [random_documents(np.random.default_rng(3), 5, DIM)], DIM)
    app = create_app(Settings(data_dir=tmp_path, **SETTINGS), engine=SearchEngine(engine_index, FakeEmbedder(DIM)))
    app.state.alice = {"X-API-KEY": app.state.keys.create("alice")[1]}
    app.state.bob = {"X-API-KEY": app.state.keys.create("bob")[1]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http, app
    app.state.contents.close()


@pytest.mark.anyio
async def test_quotas_show_the_tenants_usage_and_the_limits(client: tuple[httpx.AsyncClient, Any]) -> None:
    http, app = client
    fresh = await http.get("/v1/subscription/quotas", headers=app.state.alice)
    assert fresh.status_code == 200, fresh.text
    body = fresh.json()
    assert set(body) == {"results", "errors", "metadata"} and body["errors"] is None
    assert set(body["metadata"]) == {"request_id", "timestamp"}
    results = body["results"]
    month = period_of(datetime.now(UTC))
    start, end = period_bounds(month)
    assert results["subscription_type"] == "quota"
    assert results["period"] == {"id": month, "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                 "end": end.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert results["api_query_units"] == {"used": 0.0, "limit": None}
    assert results["quota_active_jobs"] == {"used": 0, "limit": 7}
    assert results["quota_queued_lines"] == {"used": 0, "limit": 12_345}
    assert results["rate_search"] == {"per_second": 3.5, "burst": 9, "setting": "rate_search_per_second"}
    assert results["rate_poll"] == {"per_second": 4.0, "burst": 11, "setting": "rate_poll_per_second"}
    assert results["upload_max_concurrent_per_key"] == 2

    UsageStore(app.state.db).record("alice", chunks=43, searches=5)
    created = await http.post("/v1/search/batches", headers=app.state.alice)
    assert created.status_code == 200, created.text
    alice = (await http.get("/v1/subscription/quotas", headers=app.state.alice)).json()["results"]
    assert alice["api_query_units"]["used"] == 4.3 and alice["searches"]["used"] == 5
    assert alice["quota_active_jobs"]["used"] == 1
    bob = (await http.get("/v1/subscription/quotas", headers=app.state.bob)).json()["results"]
    assert bob["api_query_units"]["used"] == 0.0 and bob["quota_active_jobs"]["used"] == 0
    past = (await http.get("/v1/subscription/quotas", headers=app.state.alice, params={"period": "2020-02"})).json()
    assert past["results"]["period"]["id"] == "2020-02" and past["results"]["api_query_units"]["used"] == 0.0


@pytest.mark.anyio
async def test_quotas_need_a_key_and_a_well_formed_period(client: tuple[httpx.AsyncClient, Any]) -> None:
    http, app = client
    assert (await http.get("/v1/subscription/quotas")).status_code == 401
    for bad in ("2026-13", "2026-1", "x" * 500, "2026-01-01", "0000-01", "9999-12"):
        response = await http.get("/v1/subscription/quotas", headers=app.state.alice, params={"period": bad})
        assert response.status_code == 400 and "period" in response.json()["message"], (bad, response.text)
