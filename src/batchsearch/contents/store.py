"""Content records and tags in three SQL tables (SQLAlchemy Core on SQLite or PostgreSQL; the tables are created
and changed by Alembic revisions in batchsearch.migrations)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from batchsearch.clock import as_utc
from batchsearch.contents.errors import ContentNotFoundError
from batchsearch.contents.model import ContentRecord, ContentStatus, Tag, check_transition
from batchsearch.errors import ConflictError

metadata = MetaData()

contents = Table(
    "contents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("file_name", String(1024), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True)),
    Column("raw_size", BigInteger, nullable=False, default=0),
    Column("content_type", String(255)),
    Column("share_with_org", Boolean, nullable=False, default=False),
    Column("object_key", String(300)),
    Column("error_code", String(64)),
    Column("error", Text),
    Index("ix_contents_owner_created", "owner", "created_at"),
    Index("ix_contents_status", "status"),
)

content_tags = Table(
    "content_tags",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("owner", "name", name="uq_content_tags_owner_name"),
)

content_tag_links = Table(
    "content_tag_links",
    metadata,
    Column("content_id", String(32), primary_key=True),
    Column("tag_id", String(36), primary_key=True),
    Index("ix_content_tag_links_tag", "tag_id"),
)

SortBy = Literal["created_at", "updated_at", "file_name", "raw_size", "content_type", "status"]
SortOrder = Literal["asc", "desc"]
Origin = Literal["file_upload", "email"]
Ownership = Literal["all", "owned", "shared"]
FILE_UPLOAD = "file_upload"  # the request_origin of every record: files come only through upload slots
_CHANGEABLE = frozenset({"updated_at", "published_at", "raw_size", "content_type", "share_with_org", "object_key",
                         "error_code", "error"})
_DATETIMES = ("created_at", "updated_at", "published_at")


@dataclass(frozen=True)
class ListQuery:
    """One page of an owner's records: filters and order (spec section 6, list query params)."""

    page: int = 1
    page_size: int = 50
    file_name: str | None = None  # case-insensitive substring
    tags: tuple[str, ...] = ()  # tag ids or names; a record matches if it has any of them
    origin: Origin | None = None  # every record is a file upload: "email" matches none
    from_date: datetime | None = None  # created at or after
    ownership: Ownership = "all"  # no tenant shares with another: "shared" matches none
    sort_by: SortBy = "created_at"
    sort_order: SortOrder = "desc"


def _columns(changes: Mapping[str, object]) -> dict[str, object]:
    unknown = set(changes) - _CHANGEABLE
    if unknown:
        raise ValueError(f"cannot set content fields {sorted(unknown)}")
    return dict(changes)


class ContentStore:
    """Content records and per-owner tags; every status change is an UPDATE ... WHERE status = :expected."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # ---- records ---------------------------------------------------------------------------
    def create(self, record: ContentRecord) -> ContentRecord:
        """Insert a new record with its (existing) tags."""
        values = {name: getattr(record, name) for name in contents.c.keys()} | {"status": record.status.value}
        with self._engine.begin() as conn:
            conn.execute(insert(contents).values(**values))
            self._link(conn, record.id, [tag.id for tag in record.tags])
        return record

    def get(self, content_id: str) -> ContentRecord | None:
        """The record, whoever owns it, or None."""
        with self._engine.connect() as conn:
            row = conn.execute(select(contents).where(contents.c.id == content_id)).first()
            return None if row is None else self._records(conn, [row])[0]

    def fetch_owned(self, content_id: str, owner: str) -> ContentRecord:
        """The owner's record; ContentNotFoundError when missing or another owner's."""
        record = self.get(content_id)
        if record is None or record.owner != owner:
            raise ContentNotFoundError()
        return record

    def transition(self, content_id: str, expected: ContentStatus, new: ContentStatus,
                   changes: Mapping[str, object] | None = None) -> ContentRecord:
        """Move the record from `expected` to `new` with other column changes (ConflictError if not in `expected`)."""
        check_transition(expected, new)
        values = _columns(changes or {}) | {"status": new.value}
        stmt = update(contents).where(contents.c.id == content_id, contents.c.status == expected.value)
        with self._engine.begin() as conn:
            matched = conn.execute(stmt.values(**values)).rowcount
        record = self.get(content_id)
        if record is None:
            raise ContentNotFoundError()
        if matched != 1:
            raise ConflictError(f"Document {content_id} is {record.status.value}, not {expected.value}")
        return record

    def update(self, content_id: str, changes: Mapping[str, object], tag_ids: Sequence[str] | None = None) -> None:
        """Change non-status columns and, when given, replace the record's tags."""
        with self._engine.begin() as conn:
            conn.execute(update(contents).where(contents.c.id == content_id).values(**_columns(changes)))
            if tag_ids is not None:
                conn.execute(delete(content_tag_links).where(content_tag_links.c.content_id == content_id))
                self._link(conn, content_id, tag_ids)

    def delete(self, content_id: str) -> bool:
        """Remove the record and its tag links; False when it was already gone."""
        with self._engine.begin() as conn:
            conn.execute(delete(content_tag_links).where(content_tag_links.c.content_id == content_id))
            return conn.execute(delete(contents).where(contents.c.id == content_id)).rowcount == 1

    def list_records(self, owner: str, query: ListQuery) -> tuple[list[ContentRecord], int]:
        """One page of the owner's records and the total that match the filters."""
        where = [contents.c.owner == owner]
        if (query.origin not in (None, FILE_UPLOAD)) or query.ownership == "shared":
            where.append(false())
        if query.from_date is not None:
            where.append(contents.c.created_at >= query.from_date.astimezone(UTC))
        if query.file_name:
            where.append(func.lower(contents.c.file_name).contains(query.file_name.lower(), autoescape=True))
        if query.tags:
            tagged = (select(content_tag_links.c.content_id)
                      .join(content_tags, content_tags.c.id == content_tag_links.c.tag_id)
                      .where(content_tags.c.owner == owner,
                             or_(content_tags.c.id.in_(query.tags), content_tags.c.name.in_(query.tags))))
            where.append(contents.c.id.in_(tagged))
        column = func.lower(contents.c.file_name) if query.sort_by == "file_name" else contents.c[query.sort_by]
        tie = contents.c.id
        order = (column.asc(), tie.asc()) if query.sort_order == "asc" else (column.desc(), tie.desc())
        page = (select(contents).where(*where).order_by(*order)
                .limit(query.page_size).offset((query.page - 1) * query.page_size))
        with self._engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(contents).where(*where)).scalar_one()
            return self._records(conn, list(conn.execute(page))), int(total)

    def ids_with_status(self, status: ContentStatus) -> list[str]:
        """Ids of every record in `status`, oldest first (to resume processing after a restart)."""
        stmt = select(contents.c.id).where(contents.c.status == status.value).order_by(contents.c.created_at)
        with self._engine.connect() as conn:
            return list(conn.execute(stmt).scalars())

    # ---- tags ------------------------------------------------------------------------------
    def ensure_tags(self, owner: str, names: Iterable[str], now: datetime) -> list[Tag]:
        """The owner's tags with these names, creating the missing ones; in the order given."""
        tags = []
        for name in dict.fromkeys(names):
            tag = self._tag_named(owner, name)
            if tag is None:
                try:
                    with self._engine.begin() as conn:
                        tag = Tag(str(uuid.uuid4()), name)
                        conn.execute(insert(content_tags).values(id=tag.id, owner=owner, name=name, created_at=now))
                except IntegrityError:  # another request created it first
                    tag = self._tag_named(owner, name)
                    assert tag is not None
            tags.append(tag)
        return tags

    def tags_by_id(self, owner: str, tag_ids: Iterable[str]) -> dict[str, Tag]:
        """The owner's tags among these ids (unknown or foreign ids are left out)."""
        wanted = list(dict.fromkeys(tag_ids))
        stmt = select(content_tags).where(content_tags.c.owner == owner, content_tags.c.id.in_(wanted))
        with self._engine.connect() as conn:
            return {row.id: Tag(row.id, row.name) for row in conn.execute(stmt)}

    def list_tags(self, owner: str) -> list[tuple[Tag, int]]:
        """Every tag of the owner with how many of the owner's files carry it, by name."""
        count = func.count(content_tag_links.c.content_id)
        stmt = (select(content_tags.c.id, content_tags.c.name, count)
                .select_from(content_tags.outerjoin(content_tag_links, content_tag_links.c.tag_id == content_tags.c.id))
                .where(content_tags.c.owner == owner)
                .group_by(content_tags.c.id, content_tags.c.name)
                .order_by(content_tags.c.name, content_tags.c.id))
        with self._engine.connect() as conn:
            return [(Tag(row[0], row[1]), int(row[2])) for row in conn.execute(stmt)]

    # ---- internals -------------------------------------------------------------------------
    def _tag_named(self, owner: str, name: str) -> Tag | None:
        stmt = select(content_tags).where(content_tags.c.owner == owner, content_tags.c.name == name)
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else Tag(row.id, row.name)

    @staticmethod
    def _link(conn: Connection, content_id: str, tag_ids: Sequence[str]) -> None:
        unique = list(dict.fromkeys(tag_ids))
        if unique:
            conn.execute(insert(content_tag_links), [{"content_id": content_id, "tag_id": t} for t in unique])

    @staticmethod
    def _records(conn: Connection, rows: Sequence[Row[Any]]) -> list[ContentRecord]:
        """Records for rows, with their tags (one query for all of them), tags by name."""
        ids = [row.id for row in rows]
        tags: dict[str, list[Tag]] = {content_id: [] for content_id in ids}
        if ids:
            stmt = (select(content_tag_links.c.content_id, content_tags.c.id, content_tags.c.name)
                    .join(content_tags, content_tags.c.id == content_tag_links.c.tag_id)
                    .where(content_tag_links.c.content_id.in_(ids))
                    .order_by(content_tags.c.name))
            for link in conn.execute(stmt):
                tags[link.content_id].append(Tag(link.id, link.name))
        records = []
        for row in rows:
            data = dict(row._mapping)
            for name in _DATETIMES:
                data[name] = as_utc(data[name])
            data["status"] = ContentStatus(data["status"])
            records.append(ContentRecord(**data, tags=tuple(tags[row.id])))
        return records
