"""Calendar overrides and the SMS verification rate limit move into the registry database.

Both were per machine (override files on a shared volume; counters in each service
replica's memory); in the database every worker and every replica share them. Additive
only: a build before 0005 never reads these tables.

Revision ID: 0005
Revises: 0004
Create Date: 2025-07-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None
#: Additive (expand, new tables): code of 0001 on runs on it (registry/migrate.py).
serves_code_from = "0001"


def upgrade() -> None:
    op.create_table(
        "calendar_overrides",
        sa.Column("year", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("holidays", sa.Text(), nullable=False),
        sa.Column("workdays", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("version > 0", name="ck_calendar_overrides_version"),
    )
    op.create_table(
        "rate_limit_windows",
        sa.Column("bucket", sa.String(100), primary_key=True),
        sa.Column("hits", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_rate_limit_windows_expires_at", "rate_limit_windows", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_rate_limit_windows_expires_at", table_name="rate_limit_windows")
    op.drop_table("rate_limit_windows")
    op.drop_table("calendar_overrides")
