"""The audit log names the material read (SPEC §9): its SHA-256 beside the filing.

A material's field path alone does not say which file was seen (a resubmission may name
another scan in the same field); the hash does.

Revision ID: 0004
Revises: 0003
Create Date: 2025-06-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
#: Additive (expand, a nullable column): code of 0001 on runs on it.
serves_code_from = "0001"


def upgrade() -> None:
    with op.batch_alter_table("audit_reads") as batch:
        batch.add_column(sa.Column("material_sha256", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_reads") as batch:
        batch.drop_column("material_sha256")
