"""Alembic's entry point for the registry's migrations.

Always run through `registry.migrate` (or `filings registry migrate`), which configures
Alembic in code and hands over an open connection inside one transaction: there is no
`alembic.ini` to point at the wrong database, and a failed migration leaves nothing
half-applied on PostgreSQL (SQLite applies DDL in the same transaction as well).
"""

from __future__ import annotations

from alembic import context

from registry.migrate import not_bookkeeping
from registry.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError(
        "the registry's migrations run through `filings registry migrate` (registry.migrate.upgrade), "
        "which passes the database connection; plain `alembic` invocations are not supported"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    include_name=not_bookkeeping,  # the window table (registry/migrate.py) is bookkeeping
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
