"""Per-tenant batch job indexes: quota counts and fair claims read one owner's active jobs (owner, status) and
when an owner was last served (owner, started_at) without scanning other owners' rows or finished history.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# (index name, columns) on batch_jobs
INDEXES = (
    ("ix_batch_jobs_owner_status", ["owner", "status"]),
    ("ix_batch_jobs_owner_started", ["owner", "started_at"]),
)


def upgrade() -> None:
    """Create the indexes that are missing (a database made from the code's metadata may have them already)."""
    existing = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("batch_jobs")}
    for name, columns in INDEXES:
        if name not in existing:
            op.create_index(name, "batch_jobs", columns)


def downgrade() -> None:
    """Drop both indexes."""
    for name, _ in INDEXES:
        op.drop_index(name, table_name="batch_jobs")
