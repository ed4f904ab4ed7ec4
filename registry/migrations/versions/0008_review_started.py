"""The provincial review's start on each registry change (issue 19: when will the province decide).

The forecast (`filing/forecast.py`) counts the business days each finished provincial review
took, from its start to the approval; the registry kept the approval's instant only. L8 now
records the start beside it (`RegistryChange.review_started_at`, the workflow's
`stage_since`). Nullable: changes recorded before, and the importer's past filings, have
none and are no samples.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None
#: Additive (expand: a nullable column and an index): code of 0001 on runs on it.
serves_code_from = "0001"


def upgrade() -> None:
    with op.batch_alter_table("registry_changes") as batch:
        batch.add_column(sa.Column("review_started_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_registry_changes_approved_at", "registry_changes", ["approved_at"])


def downgrade() -> None:
    op.drop_index("ix_registry_changes_approved_at", table_name="registry_changes")
    with op.batch_alter_table("registry_changes") as batch:
        batch.drop_column("review_started_at")
