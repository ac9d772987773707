"""Baseline: every table and index of batchsearch 0.1 (batch jobs, workers, API keys, contents).

A database made by a version before Alembic (tables present, newer columns and indexes missing, no
alembic_version) is completed in place: only what is missing is created, then Alembic stamps it.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _batch_jobs() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("upload_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("input_key", sa.String(300), nullable=False),
        sa.Column("output_key", sa.String(300)),
        sa.Column("uploaded_at", sa.DateTime(timezone=True)),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("input_bytes", sa.BigInteger),
        sa.Column("lines_total", sa.Integer),
        sa.Column("lines_done", sa.Integer, nullable=False),
        sa.Column("checkpoint_line", sa.Integer, nullable=False),
        sa.Column("checkpoint_offset", sa.BigInteger, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("lease_owner", sa.String(100)),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
        sa.Column("lines_per_s", sa.Float),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("count_success", sa.Integer, nullable=False, server_default="0"),
        sa.Column("count_error", sa.Integer, nullable=False, server_default="0"),
        sa.Column("count_timeout", sa.Integer, nullable=False, server_default="0"),
        sa.Column("count_exception", sa.Integer, nullable=False, server_default="0"),
        sa.Column("snapshot_generation", sa.Integer),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("validate_first", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("files_deleted_at", sa.DateTime(timezone=True)),
        sa.Column("idempotency_key", sa.String(255)),
        sa.Column("request_hash", sa.String(64)),
        sa.Column("retries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("webhook_url", sa.Text),
        sa.Column("webhook_secret", sa.String(64)),
        sa.Column("webhook_pending", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("webhook_next_at", sa.DateTime(timezone=True)),
        sa.Column("webhook_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("webhook_deliveries", sa.Text),
        sa.Column("output_pending", sa.Boolean, nullable=False, server_default=sa.false()),
    ]


def _batch_workers() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lines_per_s", sa.Float),
    ]


def _api_keys() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _contents() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("file_name", sa.String(1024), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("raw_size", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.String(255)),
        sa.Column("share_with_org", sa.Boolean, nullable=False),
        sa.Column("object_key", sa.String(300)),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error", sa.Text),
    ]


def _content_tags() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _content_tag_links() -> list[sa.Column[object]]:
    return [
        sa.Column("content_id", sa.String(32), primary_key=True),
        sa.Column("tag_id", sa.String(36), primary_key=True),
    ]


# table -> (its columns, its constraints beyond the columns' own)
TABLES: dict[str, tuple[Callable[[], list[sa.Column[object]]], tuple[sa.UniqueConstraint, ...]]] = {
    "batch_jobs": (_batch_jobs, ()),
    "batch_workers": (_batch_workers, ()),
    "api_keys": (_api_keys, ()),
    "contents": (_contents, ()),
    "content_tags": (_content_tags, (sa.UniqueConstraint("owner", "name", name="uq_content_tags_owner_name"),)),
    "content_tag_links": (_content_tag_links, ()),
}

# (index name, table, columns, unique)
INDEXES = [
    ("ix_batch_jobs_status_created", "batch_jobs", ["status", "created_at"], False),
    ("ix_batch_jobs_owner", "batch_jobs", ["owner"], False),
    ("ix_batch_jobs_owner_created", "batch_jobs", ["owner", "created_at", "id"], False),
    ("ix_batch_jobs_claim", "batch_jobs", ["status", "priority", "created_at", "id"], False),
    ("ux_batch_jobs_idempotency", "batch_jobs", ["owner", "idempotency_key"], True),
    ("ix_contents_owner_created", "contents", ["owner", "created_at"], False),
    ("ix_contents_status", "contents", ["status"], False),
    ("ix_content_tag_links_tag", "content_tag_links", ["tag_id"], False),
]


def upgrade() -> None:
    """Create the missing tables, add the missing columns of existing ones, then the missing indexes."""
    inspector = sa.inspect(op.get_bind())
    for name, (columns, constraints) in TABLES.items():
        if not inspector.has_table(name):
            op.create_table(name, *columns(), *constraints)
            continue
        present = {column["name"] for column in inspector.get_columns(name)}
        for column in columns():
            if column.name not in present:  # every column added after 0.1 first shipped has a server default
                op.add_column(name, column)
    inspector = sa.inspect(op.get_bind())  # a fresh look: the reflection cache predates the changes above
    existing = {table: {ix["name"] for ix in inspector.get_indexes(table)} for table in TABLES}
    for index, table, index_columns, unique in INDEXES:
        if index not in existing[table]:
            op.create_index(index, table, index_columns, unique=unique)


def downgrade() -> None:
    """Drop every table (and with them their indexes)."""
    for name in reversed(TABLES):
        op.drop_table(name)
