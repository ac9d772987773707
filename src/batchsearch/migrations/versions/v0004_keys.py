"""API keys can be revoked and recognised: `api_keys.revoked_at` (a revoked key stops authenticating; it stays listed)
and `api_keys.key_hint` (a key's last 4 characters, for `batchsearch keys list`; older keys have none).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("key_hint", sa.String(8)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    ]


def upgrade() -> None:
    """Add the two nullable columns (those missing: a table made from the code's metadata has them already)."""
    existing = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("api_keys")}
    for column in _columns():
        if column.name not in existing:
            op.add_column("api_keys", column)


def downgrade() -> None:
    """Drop both columns (batch mode: SQLite rebuilds the table)."""
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("key_hint")
