"""Accounts tables and their SQL. Functions take a connection and never commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Row

from courtyard.accounts.model import Account, OperatorRole, VerificationLevel
from courtyard.core.db import Conn, JSONDocument, UTCDateTime, insert_ignoring_duplicates, metadata
from courtyard.governance.ladder import bounds_from_json
from courtyard.governance.model import AccountState

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("handle", String(32), nullable=False, unique=True),
    Column("display_name", String(64), nullable=False),
    Column("bio", String(280), nullable=False, default=""),
    Column("avatar_key", String(64), nullable=True),
    Column("password_hash", String(255), nullable=False),
    Column("state", String(16), nullable=False, default=AccountState.ACTIVE.value),
    Column("state_until", UTCDateTime(), nullable=True),
    # The enforcement ladder's bounds in force (governance.ladder.Bound as JSON): capabilities
    # are computed from them at the moment of each check; ``state`` is only the headline.
    Column("enforcement", JSONDocument, nullable=True),
    Column("verification_level", String(16), nullable=False, default="none"),
    Column("totp_secret", String(64), nullable=True),
    Column("totp_pending_secret", String(64), nullable=True),
    Column("totp_last_step", Integer, nullable=True),
    Column("locale", String(16), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

account_roles = Table(
    "account_roles",
    metadata,
    Column("account_id", String(26), ForeignKey("accounts.id"), primary_key=True),
    Column("role", String(16), primary_key=True),
    Column("granted_at", UTCDateTime(), nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("account_id", String(26), ForeignKey("accounts.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("user_agent", String(256), nullable=True),
    Column("ip_address", String(64), nullable=True),
    Index("ix_sessions_account", "account_id"),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("account_id", String(26), ForeignKey("accounts.id"), primary_key=True),
    Column("code_hash", String(64), primary_key=True),
    Column("used_at", UTCDateTime(), nullable=True),
)

terms_acceptances = Table(
    "terms_acceptances",
    metadata,
    Column("account_id", String(26), ForeignKey("accounts.id"), primary_key=True),
    Column("version", String(32), primary_key=True),
    Column("accepted_at", UTCDateTime(), nullable=False),
)

login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", String(160), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_start", UTCDateTime(), nullable=False),
    Column("blocked_until", UTCDateTime(), nullable=True),
)

verification_challenges = Table(
    "verification_challenges",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("account_id", String(26), ForeignKey("accounts.id"), nullable=False),
    Column("level", String(16), nullable=False),
    Column("claim_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("completed", Boolean, nullable=False, default=False),
    Column("secret", Text, nullable=False),
)


def _account(row: Row[Any], roles: Sequence[str]) -> Account:
    m = row._mapping
    return Account(
        id=m["id"],
        handle=m["handle"],
        display_name=m["display_name"],
        bio=m["bio"] or "",
        avatar_key=m["avatar_key"],
        state=AccountState(m["state"]),
        state_until=m["state_until"],
        bounds=bounds_from_json(m["enforcement"]),
        verification_level=VerificationLevel(m["verification_level"]),
        two_factor_enabled=m["totp_secret"] is not None,
        locale=m["locale"],
        created_at=m["created_at"],
        roles=frozenset(OperatorRole(r) for r in roles),
    )


async def _roles(conn: Conn, account_id: str) -> list[str]:
    rows = await conn.execute(
        select(account_roles.c.role).where(account_roles.c.account_id == account_id)
    )
    return [r[0] for r in rows]


async def get_account(conn: Conn, account_id: str) -> Account | None:
    row = (await conn.execute(select(accounts).where(accounts.c.id == account_id))).first()
    if row is None:
        return None
    return _account(row, await _roles(conn, account_id))


async def get_accounts(conn: Conn, account_ids: Sequence[str]) -> dict[str, Account]:
    """Many accounts in two queries (no N+1 on lists)."""
    if not account_ids:
        return {}
    rows = (await conn.execute(select(accounts).where(accounts.c.id.in_(account_ids)))).all()
    role_rows = await conn.execute(
        select(account_roles.c.account_id, account_roles.c.role).where(
            account_roles.c.account_id.in_(account_ids)
        )
    )
    roles: dict[str, list[str]] = {}
    for role_row in role_rows:
        roles.setdefault(role_row.account_id, []).append(role_row.role)
    return {row.id: _account(row, roles.get(row.id, [])) for row in rows}


async def get_account_by_handle(conn: Conn, handle: str) -> Account | None:
    row = (await conn.execute(select(accounts).where(accounts.c.handle == handle))).first()
    if row is None:
        return None
    return _account(row, await _roles(conn, row.id))


async def get_password_hash(conn: Conn, account_id: str) -> str | None:
    return (
        await conn.execute(select(accounts.c.password_hash).where(accounts.c.id == account_id))
    ).scalar()


async def insert_account(
    conn: Conn,
    *,
    account_id: str,
    handle: str,
    display_name: str,
    password_hash: str,
    locale: str | None,
    now: datetime,
) -> None:
    await conn.execute(
        insert(accounts).values(
            id=account_id,
            handle=handle,
            display_name=display_name,
            bio="",
            password_hash=password_hash,
            state=AccountState.ACTIVE.value,
            verification_level=VerificationLevel.NONE.value,
            locale=locale,
            created_at=now,
            updated_at=now,
        )
    )


async def update_account(conn: Conn, account_id: str, now: datetime, **values: Any) -> None:
    await conn.execute(
        update(accounts).where(accounts.c.id == account_id).values(updated_at=now, **values)
    )


async def grant_role(conn: Conn, account_id: str, role: OperatorRole, now: datetime) -> None:
    """Grant a role; granting one the account already has changes nothing."""
    await conn.execute(
        insert_ignoring_duplicates(conn, account_roles).values(
            account_id=account_id, role=role.value, granted_at=now
        )
    )


# ---- sessions ------------------------------------------------------------------------------


async def insert_session(
    conn: Conn,
    *,
    session_id: str,
    token_hash: str,
    account_id: str,
    csrf_token: str,
    now: datetime,
    expires_at: datetime,
    user_agent: str | None,
    ip_address: str | None,
) -> None:
    await conn.execute(
        insert(sessions).values(
            id=session_id,
            token_hash=token_hash,
            account_id=account_id,
            csrf_token=csrf_token,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
            user_agent=user_agent,
            ip_address=ip_address,
        )
    )


@dataclass(frozen=True, slots=True)
class LiveSession:
    id: str
    csrf_token: str
    last_seen_at: datetime
    account: Account


async def find_session_account(conn: Conn, token_hash: str, now: datetime) -> LiveSession | None:
    """A live session and its account (with roles) in one query: every request pays for it."""
    rows = (
        await conn.execute(
            select(
                sessions.c.id.label("session_id"),
                sessions.c.csrf_token,
                sessions.c.last_seen_at,
                accounts,
                account_roles.c.role,
            )
            .select_from(
                sessions.join(accounts, accounts.c.id == sessions.c.account_id).outerjoin(
                    account_roles, account_roles.c.account_id == accounts.c.id
                )
            )
            .where(
                sessions.c.token_hash == token_hash,
                sessions.c.revoked_at.is_(None),
                sessions.c.expires_at > now,
            )
        )
    ).all()
    if not rows:
        return None
    first = rows[0]
    roles = [row.role for row in rows if row.role is not None]
    return LiveSession(
        id=first.session_id,
        csrf_token=first.csrf_token,
        last_seen_at=first.last_seen_at,
        account=_account(first, roles),
    )


async def touch_session(conn: Conn, session_id: str, now: datetime) -> None:
    await conn.execute(update(sessions).where(sessions.c.id == session_id).values(last_seen_at=now))


async def list_sessions(conn: Conn, account_id: str, now: datetime) -> list[Row[Any]]:
    rows = await conn.execute(
        select(sessions)
        .where(
            sessions.c.account_id == account_id,
            sessions.c.revoked_at.is_(None),
            sessions.c.expires_at > now,
        )
        .order_by(sessions.c.created_at.desc())
    )
    return list(rows)


async def revoke_session(conn: Conn, account_id: str, session_id: str, now: datetime) -> bool:
    result = await conn.execute(
        update(sessions)
        .where(
            sessions.c.id == session_id,
            sessions.c.account_id == account_id,
            sessions.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return bool(result.rowcount)


async def revoke_other_sessions(
    conn: Conn, account_id: str, keep_session_id: str | None, now: datetime
) -> int:
    condition = and_(sessions.c.account_id == account_id, sessions.c.revoked_at.is_(None))
    if keep_session_id is not None:
        condition = and_(condition, sessions.c.id != keep_session_id)
    result = await conn.execute(update(sessions).where(condition).values(revoked_at=now))
    return int(result.rowcount or 0)


# ---- two-factor ----------------------------------------------------------------------------


async def get_totp_state(conn: Conn, account_id: str) -> Row[Any] | None:
    return (
        await conn.execute(
            select(
                accounts.c.totp_secret, accounts.c.totp_pending_secret, accounts.c.totp_last_step
            ).where(accounts.c.id == account_id)
        )
    ).first()


async def activate_totp(
    conn: Conn, account_id: str, pending_secret: str, step: int, now: datetime
) -> bool:
    """Turn the pending secret on (recording the step used to confirm it), once."""
    result = await conn.execute(
        update(accounts)
        .where(
            accounts.c.id == account_id,
            accounts.c.totp_pending_secret == pending_secret,
            accounts.c.totp_secret.is_(None),
        )
        .values(
            totp_secret=pending_secret,
            totp_pending_secret=None,
            totp_last_step=step,
            updated_at=now,
        )
    )
    return bool(result.rowcount)


async def claim_totp_step(conn: Conn, account_id: str, step: int, now: datetime) -> bool:
    """Record ``step`` as used, only if no later or equal step was used before (no replays)."""
    result = await conn.execute(
        update(accounts)
        .where(
            accounts.c.id == account_id,
            accounts.c.totp_secret.is_not(None),
            or_(accounts.c.totp_last_step.is_(None), accounts.c.totp_last_step < step),
        )
        .values(totp_last_step=step, updated_at=now)
    )
    return bool(result.rowcount)


async def replace_recovery_codes(conn: Conn, account_id: str, code_hashes: Sequence[str]) -> None:
    await conn.execute(delete(recovery_codes).where(recovery_codes.c.account_id == account_id))
    if code_hashes:
        await conn.execute(
            insert(recovery_codes),
            [{"account_id": account_id, "code_hash": h, "used_at": None} for h in code_hashes],
        )


async def use_recovery_code(conn: Conn, account_id: str, code_hash: str, now: datetime) -> bool:
    result = await conn.execute(
        update(recovery_codes)
        .where(
            recovery_codes.c.account_id == account_id,
            recovery_codes.c.code_hash == code_hash,
            recovery_codes.c.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return bool(result.rowcount)


async def count_unused_recovery_codes(conn: Conn, account_id: str) -> int:
    return int(
        (
            await conn.execute(
                select(func.count()).where(
                    recovery_codes.c.account_id == account_id, recovery_codes.c.used_at.is_(None)
                )
            )
        ).scalar_one()
    )


# ---- terms ---------------------------------------------------------------------------------


async def record_terms(conn: Conn, account_id: str, version: str, now: datetime) -> None:
    """Record an acceptance; the first acceptance of a version is the one kept."""
    await conn.execute(
        insert_ignoring_duplicates(conn, terms_acceptances).values(
            account_id=account_id, version=version, accepted_at=now
        )
    )


async def list_terms(conn: Conn, account_id: str) -> list[Row[Any]]:
    rows = await conn.execute(
        select(terms_acceptances)
        .where(terms_acceptances.c.account_id == account_id)
        .order_by(terms_acceptances.c.accepted_at)
    )
    return list(rows)


# ---- login throttle ------------------------------------------------------------------------


async def get_throttles(conn: Conn, keys: Sequence[str]) -> dict[str, Row[Any]]:
    rows = await conn.execute(select(login_throttle).where(login_throttle.c.key.in_(keys)))
    return {row.key: row for row in rows}


async def lock_throttles(conn: Conn, keys: Sequence[str], now: datetime) -> dict[str, Row[Any]]:
    """The throttle rows for ``keys``, created if missing and locked until the transaction ends,
    so that concurrent failures are all counted (and never collide on the key)."""
    ordered = sorted(set(keys))  # one lock order for everyone: no deadlocks
    await conn.execute(
        insert_ignoring_duplicates(conn, login_throttle),
        [{"key": k, "failures": 0, "window_start": now, "blocked_until": None} for k in ordered],
    )
    rows = await conn.execute(
        select(login_throttle)
        .where(login_throttle.c.key.in_(ordered))
        .order_by(login_throttle.c.key)
        .with_for_update()
    )
    return {row.key: row for row in rows}


async def put_throttle(
    conn: Conn,
    key: str,
    *,
    failures: int,
    window_start: datetime,
    blocked_until: datetime | None,
) -> None:
    await conn.execute(
        update(login_throttle)
        .where(login_throttle.c.key == key)
        .values(failures=failures, window_start=window_start, blocked_until=blocked_until)
    )


async def clear_throttle(conn: Conn, key: str) -> None:
    await conn.execute(delete(login_throttle).where(login_throttle.c.key == key))


# ---- verification --------------------------------------------------------------------------


async def insert_challenge(conn: Conn, **values: Any) -> None:
    await conn.execute(insert(verification_challenges).values(**values))


async def get_challenge(conn: Conn, challenge_id: str, account_id: str) -> Row[Any] | None:
    return (
        await conn.execute(
            select(verification_challenges).where(
                verification_challenges.c.id == challenge_id,
                verification_challenges.c.account_id == account_id,
            )
        )
    ).first()


async def count_challenge_attempt(
    conn: Conn, challenge_id: str, account_id: str, now: datetime, max_attempts: int
) -> bool:
    """Use up one attempt on an open challenge; False when none is left (or it is closed)."""
    c = verification_challenges.c
    result = await conn.execute(
        update(verification_challenges)
        .where(
            c.id == challenge_id,
            c.account_id == account_id,
            c.completed.is_(False),
            c.expires_at > now,
            c.attempts < max_attempts,
        )
        .values(attempts=c.attempts + 1)
    )
    return bool(result.rowcount)


async def complete_challenge(conn: Conn, challenge_id: str) -> bool:
    """Mark a challenge completed; False if it already was (a challenge completes once)."""
    c = verification_challenges.c
    result = await conn.execute(
        update(verification_challenges)
        .where(c.id == challenge_id, c.completed.is_(False))
        .values(completed=True)
    )
    return bool(result.rowcount)


async def operator_ids(conn: Conn, role: str) -> list[str]:
    rows = await conn.execute(
        select(account_roles.c.account_id).where(account_roles.c.role == role)
    )
    return sorted(r[0] for r in rows)
