"""Alembic environment: migrations run on the connection handed over by core.migrate."""

from __future__ import annotations

from alembic import context

import courtyard.tables  # registers every table on the metadata
from courtyard.core.db import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `courtyard migrate`, which supplies a connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
