"""The index generation pointer of a shared deployment: `index_state` (the generation readers follow, moved by
compare-and-set) and `index_generations` (the manifest of every generation still published).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _index_state() -> list[sa.Column[object]]:
    return [
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("manifest", sa.String(300), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _index_generations() -> list[sa.Column[object]]:
    return [
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("generation", sa.Integer, primary_key=True),
        sa.Column("manifest", sa.String(300), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    """Create the two tables batchsearch.index.pointer queries (those missing: as the baseline, this completes a
    database whose tables were made from the code's metadata)."""
    inspector = sa.inspect(op.get_bind())
    for name, columns in (("index_state", _index_state), ("index_generations", _index_generations)):
        if not inspector.has_table(name):
            op.create_table(name, *columns())


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("index_generations")
    op.drop_table("index_state")
