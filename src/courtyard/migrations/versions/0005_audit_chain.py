"""Audit log hash chain: seq, prev_hash and hash on audit_log; the audit_head row

Existing entries are chained in (at, id) order so `courtyard audit verify` passes on an
upgraded database.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 10:00:00.000000
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

import courtyard.core.db
from courtyard.governance.audit import GENESIS_HASH, Head, chain_entries

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BATCH = 5_000

# The columns as they were at this revision (not the live store table, which may move on).
_audit_log = sa.table(
    "audit_log",
    sa.column("id", sa.String(26)),
    sa.column("at", courtyard.core.db.UTCDateTime()),
    sa.column("actor_id", sa.String(26)),
    sa.column("tag", sa.String(80)),
    sa.column("target_type", sa.String(40)),
    sa.column("target_id", sa.String(64)),
    sa.column("before", courtyard.core.db.JSONDocument),
    sa.column("after", courtyard.core.db.JSONDocument),
    sa.column("note", sa.Text()),
    sa.column("seq", sa.BigInteger()),
    sa.column("prev_hash", sa.String(64)),
    sa.column("hash", sa.String(64)),
)
_audit_head = sa.table(
    "audit_head",
    sa.column("id", sa.Integer()),
    sa.column("seq", sa.BigInteger()),
    sa.column("hash", sa.String(64)),
)


def _chain_existing_entries() -> Head:
    conn = op.get_bind()
    t = _audit_log.c
    rows = conn.execute(
        sa.select(
            t.id, t.at, t.actor_id, t.tag, t.target_type, t.target_id, t.before, t.after, t.note
        ).order_by(t.at, t.id)
    ).mappings()
    head = Head(0, GENESIS_HASH)
    update = (
        sa.update(_audit_log)
        .where(t.id == sa.bindparam("b_id"))
        .values(
            seq=sa.bindparam("b_seq"), prev_hash=sa.bindparam("b_prev"), hash=sa.bindparam("b_hash")
        )
    )
    pending: list[dict[str, Any]] = []
    for batch in iter(lambda: rows.fetchmany(_BATCH), []):
        for entry in chain_entries((dict(row) for row in batch), start=head):
            pending.append(
                {
                    "b_id": entry["id"],
                    "b_seq": entry["seq"],
                    "b_prev": entry["prev_hash"],
                    "b_hash": entry["hash"],
                }
            )
            head = Head(entry["seq"], entry["hash"])
    # Updates after the read is exhausted: one cursor at a time on every driver.
    for start in range(0, len(pending), _BATCH):
        conn.execute(update, pending[start : start + _BATCH])
    return head


def upgrade() -> None:
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))

    head = _chain_existing_entries()
    if head.seq:
        # A new database gets its head with its first entry: it stays empty (`port` needs that).
        op.get_bind().execute(sa.insert(_audit_head).values(id=1, seq=head.seq, hash=head.hash))

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_log_seq"), ["seq"])


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_log_seq"), type_="unique")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
    op.drop_table("audit_head")
