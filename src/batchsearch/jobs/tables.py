"""The batch job tables (SQLAlchemy Core): what the store queries. Alembic revisions in batchsearch.migrations
create and change them; a new column here needs a new revision there."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

metadata = MetaData()

batch_jobs = Table(
    "batch_jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("upload_expires_at", DateTime(timezone=True), nullable=False),
    Column("input_key", String(300), nullable=False),
    Column("output_key", String(300)),
    Column("uploaded_at", DateTime(timezone=True)),
    Column("started_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("input_bytes", BigInteger),
    Column("lines_total", Integer),
    Column("lines_done", Integer, nullable=False, default=0),
    Column("checkpoint_line", Integer, nullable=False, default=0),
    Column("checkpoint_offset", BigInteger, nullable=False, default=0),
    Column("error", Text),
    Column("lease_owner", String(100)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("lines_per_s", Float),
    Column("attempts", Integer, nullable=False, default=0),
    Column("count_success", Integer, nullable=False, default=0, server_default="0"),
    Column("count_error", Integer, nullable=False, default=0, server_default="0"),
    Column("count_timeout", Integer, nullable=False, default=0, server_default="0"),
    Column("count_exception", Integer, nullable=False, default=0, server_default="0"),
    Column("snapshot_generation", Integer),
    Column("priority", Integer, nullable=False, default=0, server_default="0"),
    Column("validate_first", Boolean, nullable=False, default=False, server_default=false()),
    Column("files_deleted_at", DateTime(timezone=True)),
    Column("idempotency_key", String(255)),
    Column("request_hash", String(64)),
    Column("retries", Integer, nullable=False, default=0, server_default="0"),
    Column("webhook_url", Text),
    Column("webhook_secret", String(64)),
    Column("webhook_pending", Boolean, nullable=False, default=False, server_default=false()),
    Column("webhook_next_at", DateTime(timezone=True)),
    Column("webhook_attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("webhook_deliveries", Text),
    Column("output_pending", Boolean, nullable=False, default=False, server_default=false()),
    Index("ix_batch_jobs_status_created", "status", "created_at"),
    Index("ix_batch_jobs_owner", "owner"),
    Index("ix_batch_jobs_owner_created", "owner", "created_at", "id"),
    Index("ix_batch_jobs_claim", "status", "priority", "created_at", "id"),
    Index("ix_batch_jobs_owner_status", "owner", "status"),  # quotas, fair claims, own queue (v0003)
    Index("ix_batch_jobs_owner_started", "owner", "started_at"),  # when fair claims last served an owner (v0003)
    Index("ux_batch_jobs_idempotency", "owner", "idempotency_key", unique=True),
)

batch_workers = Table(
    "batch_workers",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
    Column("lines_per_s", Float),
)
