"""ContentStore on a fresh SQLite file and a fresh PostgreSQL database: compare-and-set status changes, tags,
listing, deletion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from batchsearch.contents.errors import ContentNotFoundError
from batchsearch.contents.model import ContentRecord, ContentStatus
from batchsearch.contents.store import ContentStore, ListQuery
from batchsearch.db import create_db_engine
from batchsearch.errors import ConflictError

T0 = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture
def store(database_url: str) -> ContentStore:
    """A store on a fresh database: a SQLite file, then a PostgreSQL database (every test runs on both)."""
    return ContentStore(create_db_engine(database_url))


def record(store: ContentStore, number: int, name: str, owner: str = "alice", tags: tuple[str, ...] = (),
           size: int = 0) -> ContentRecord:
    at = T0 + timedelta(minutes=number)
    made = ContentRecord(id=f"{number:032X}", owner=owner, file_name=name, status=ContentStatus.PENDING,
                         created_at=at, updated_at=at, raw_size=size,
                         tags=tuple(store.ensure_tags(owner, tags, at)))
    return store.create(made)


def test_round_trip_keeps_every_field_and_aware_datetimes(store: ContentStore) -> None:
    made = record(store, 1, "a.txt", tags=("b-tag", "a-tag"))
    got = store.get(made.id)
    assert got is not None
    assert got.created_at == T0 + timedelta(minutes=1) and got.created_at.tzinfo is not None
    assert [t.name for t in got.tags] == ["a-tag", "b-tag"]  # by name
    assert got.status is ContentStatus.PENDING and got.published_at is None


def test_fetch_owned_hides_other_owners(store: ContentStore) -> None:
    made = record(store, 1, "a.txt")
    assert store.fetch_owned(made.id, "alice").id == made.id
    with pytest.raises(ContentNotFoundError):
        store.fetch_owned(made.id, "bob")
    with pytest.raises(ContentNotFoundError):
        store.fetch_owned("F" * 32, "alice")


def test_transitions_are_compare_and_set(store: ContentStore) -> None:
    made = record(store, 1, "a.txt")
    moved = store.transition(made.id, ContentStatus.PENDING, ContentStatus.PROCESSING, {"raw_size": 12})
    assert moved.status is ContentStatus.PROCESSING and moved.raw_size == 12
    with pytest.raises(ConflictError, match="is processing, not pending"):
        store.transition(made.id, ContentStatus.PENDING, ContentStatus.PROCESSING)
    with pytest.raises(ConflictError, match="cannot go from processing to pending"):
        store.transition(made.id, ContentStatus.PROCESSING, ContentStatus.PENDING)
    done = store.transition(made.id, ContentStatus.PROCESSING, ContentStatus.COMPLETED)
    assert done.status is ContentStatus.COMPLETED
    store.delete(made.id)
    with pytest.raises(ContentNotFoundError):
        store.transition(made.id, ContentStatus.PROCESSING, ContentStatus.FAILED)


def test_tags_are_per_owner_and_created_once(store: ContentStore) -> None:
    first = store.ensure_tags("alice", ["Research", "Research", "Deals"], T0)
    again = store.ensure_tags("alice", ["Deals"], T0)
    other = store.ensure_tags("bob", ["Deals"], T0)
    assert [t.name for t in first] == ["Research", "Deals"]
    assert again[0] == first[1] and other[0].id != first[1].id
    assert set(store.tags_by_id("alice", [first[0].id, other[0].id, "nope"])) == {first[0].id}


def test_list_filters_pages_and_sorts(store: ContentStore) -> None:
    for number, name in enumerate(["Alpha.txt", "beta.md", "GAMMA.pdf", "alpine.html", "delta.json"], start=1):
        record(store, number, name, tags=("even",) if number % 2 == 0 else ("odd",), size=100 - number)
    record(store, 9, "alpha-bob.txt", owner="bob", tags=("odd",))
    page, total = store.list_records("alice", ListQuery(page_size=2))
    assert total == 5 and [r.file_name for r in page] == ["delta.json", "alpine.html"]  # newest first
    page, _ = store.list_records("alice", ListQuery(page=3, page_size=2))
    assert [r.file_name for r in page] == ["Alpha.txt"]
    found, total = store.list_records("alice", ListQuery(file_name="ALP"))
    assert total == 2 and {r.file_name for r in found} == {"Alpha.txt", "alpine.html"}
    found, _ = store.list_records("alice", ListQuery(file_name="%"))  # a LIKE wildcard is a literal character
    assert found == []
    even_id = store.ensure_tags("alice", ["even"], T0)[0].id
    found, total = store.list_records("alice", ListQuery(tags=(even_id, "no-such-tag")))
    assert total == 2 and {r.file_name for r in found} == {"beta.md", "alpine.html"}
    found, _ = store.list_records("alice", ListQuery(tags=("odd", "even"), sort_by="file_name", sort_order="asc"))
    assert [r.file_name for r in found] == ["Alpha.txt", "alpine.html", "beta.md", "delta.json", "GAMMA.pdf"]
    found, _ = store.list_records("alice", ListQuery(sort_by="raw_size", sort_order="asc"))
    assert [r.raw_size for r in found] == [95, 96, 97, 98, 99]


def test_update_replaces_tags_and_counts_follow(store: ContentStore) -> None:
    made = record(store, 1, "a.txt", tags=("x", "y"))
    record(store, 2, "b.txt", tags=("x",))
    z = store.ensure_tags("alice", ["z"], T0)[0]
    store.update(made.id, {"share_with_org": True}, [z.id])
    got = store.fetch_owned(made.id, "alice")
    assert got.share_with_org and [t.name for t in got.tags] == ["z"]
    assert [(t.name, n) for t, n in store.list_tags("alice")] == [("x", 1), ("y", 0), ("z", 1)]
    assert store.delete(made.id) and not store.delete(made.id)
    assert [(t.name, n) for t, n in store.list_tags("alice")] == [("x", 1), ("y", 0), ("z", 0)]
    assert store.ids_with_status(ContentStatus.PENDING) == [f"{2:032X}"]
