"""Tables that belong to no pillar: idempotency records for creates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, String, Table, insert, select

from courtyard.core.db import Conn, JSONDocument, UTCDateTime, metadata

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("account_id", String(26), primary_key=True),
    Column("scope", String(64), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("result", JSONDocument, nullable=False),
)


async def recall_result(conn: Conn, account_id: str, scope: str, key: str) -> dict[str, Any] | None:
    """The stored result of an earlier create with the same key, if there was one."""
    row = (
        await conn.execute(
            select(idempotency_keys.c.result).where(
                idempotency_keys.c.account_id == account_id,
                idempotency_keys.c.scope == scope,
                idempotency_keys.c.key == key,
            )
        )
    ).first()
    return None if row is None else dict(row[0])


async def remember_result(
    conn: Conn,
    account_id: str,
    scope: str,
    key: str,
    result: dict[str, Any],
    now: datetime,
) -> None:
    """Stored in the same transaction as the create, so a retry can never create twice."""
    await conn.execute(
        insert(idempotency_keys).values(
            account_id=account_id, scope=scope, key=key, created_at=now, result=result
        )
    )
