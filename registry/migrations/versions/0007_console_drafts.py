"""The applicant's drafts of the console's form (issue 19), kept until submitted or discarded.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None
#: Additive (expand: one new table): code of 0001 on runs on it.
serves_code_from = "0001"


def upgrade() -> None:
    op.create_table(
        "console_drafts",
        sa.Column("draft_id", sa.String(36), primary_key=True),
        sa.Column("owner_digest", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("appid", sa.String(20), nullable=False),
        sa.Column("sealed_content", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_console_drafts_owner_digest", "console_drafts", ["owner_digest"])


def downgrade() -> None:
    op.drop_index("ix_console_drafts_owner_digest", table_name="console_drafts")
    op.drop_table("console_drafts")
