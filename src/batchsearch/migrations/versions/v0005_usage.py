"""Query units spent per tenant and month: `api_usage` (owner, period "YYYY-MM", returned chunks, searches), read
by GET /v1/subscription/quotas.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the table (unless a database made from the code's metadata has it already)."""
    if "api_usage" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "api_usage",
        sa.Column("owner", sa.String(200), primary_key=True),
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("chunks", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("searches", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop the table (the counts are lost)."""
    op.drop_table("api_usage")
