"""Contacts use cases: friend requests, friendships, blocks, labels, and profile visibility.

Each ``check_*`` validates, resolves what the actor may see and asks governance (capability +
decision) before any write transaction opens; the matching ``do_*`` takes the accounts' locks,
reloads the relationship, applies the pure ``model.transition`` and writes the difference,
its audit row and its after-commit events in one transaction.

Blocking is never revealed to the blocked account: every path that could tell them raises the
same ``NotFound`` as a handle nobody holds, and no event about a block is published to them.

Private data (remarks, label names) never goes into policy events: those rules look at what
people send to others, not at notes they keep for themselves.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from courtyard.accounts import store as accounts_store
from courtyard.accounts.model import Account, Actor, PublicProfileOut, normalize_handle
from courtyard.accounts.service import AccountsService
from courtyard.contacts import events, store
from courtyard.contacts.access import (
    access_friend,
    access_handle,
    access_label,
    access_labels,
    access_profile,
    access_request,
)
from courtyard.contacts.export import ExportedContact, ExportFile, ExportFormat, render
from courtyard.contacts.model import (
    CLOSING_STATUS,
    BlockOut,
    CannotBefriendSelf,
    CannotBlockSelf,
    Counts,
    Direction,
    Effect,
    FriendOut,
    FriendRequest,
    FriendRequestOut,
    LabelExists,
    LabelLimitReached,
    LabelOut,
    LookupOut,
    Op,
    Relationship,
    RequestStatus,
    Transition,
    account_not_found,
    friend_not_found,
    label_not_found,
    normalize_label_name,
    normalize_message,
    normalize_remark,
    relationship,
    request_not_found,
    transition,
)
from courtyard.core.clock import Clock
from courtyard.core.config import Settings
from courtyard.core.db import Conn, Database, Tx, is_unique_violation
from courtyard.core.errors import InvalidInput, NotFound
from courtyard.core.ids import is_valid_id, new_id
from courtyard.core.pagination import Page, clamp_limit, decode_cursor, encode_cursor
from courtyard.core.store import recall_result, remember_result
from courtyard.governance.model import AccountState, Capability, EventKind, PolicyEvent
from courtyard.governance.service import GovernanceService
from courtyard.realtime.model import EventDraft
from courtyard.realtime.service import RealtimeService

REQUEST_SCOPE = "contacts:request"
LABEL_SCOPE = "contacts:label"
EXPORT_BATCH = 500  # friends read per query by the export (keeps IN lists small)


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _cursor_str(cursor: str | None) -> str | None:
    value = decode_cursor(cursor)
    if value is None:
        return None
    if len(value) != 1 or not isinstance(value[0], str):
        raise InvalidInput("The cursor is not valid.", details={"field": "cursor"})
    return value[0]


def _idempotency_reused() -> InvalidInput:
    return InvalidInput(
        "This Idempotency-Key was already used for a different request.",
        details={"field": "Idempotency-Key"},
        code="idempotency_key_reused",
    )


class ContactsService:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        clock: Clock,
        realtime: RealtimeService,
        governance: GovernanceService,
        accounts: AccountsService,
    ) -> None:
        self._settings = settings
        self._db = db
        self._clock = clock
        self._realtime = realtime
        self._governance = governance
        self._accounts = accounts

    # -- helpers -----------------------------------------------------------------------------

    @asynccontextmanager
    async def _reading(self, conn: Conn | None) -> AsyncIterator[Conn]:
        if conn is not None:
            yield conn
        else:
            async with self._db.read() as fresh:
                yield fresh

    def _counts(self, a_friends: int, b_friends: int) -> Counts:
        return Counts(a_friends, b_friends, self._settings.friend_cap)

    async def _pair_counts(self, conn: Conn, a: str, b: str) -> Counts:
        return self._counts(await store.count_friends(conn, a), await store.count_friends(conn, b))

    async def _profiles(self, ids: Iterable[str]) -> dict[str, PublicProfileOut]:
        found = await self._accounts.get_accounts(sorted(set(ids)))
        return {account_id: PublicProfileOut.of(a) for account_id, a in found.items()}

    async def _apply(
        self, conn: Conn, a: str, b: str, before: store.StoredPair, t: Transition, now: datetime
    ) -> None:
        """Write the difference between ``before`` and ``t.pair`` (requests, friendship, block).

        New requests are inserted by the caller, who knows their message.
        """
        closing = CLOSING_STATUS.get(t.effect)
        after = t.pair
        for request_id, old, new in (
            (before.a_to_b_id, before.pair.a_to_b, after.a_to_b),
            (before.b_to_a_id, before.pair.b_to_a, after.b_to_a),
        ):
            if old is None or old == new:
                continue
            assert request_id is not None
            status = new if new is not None else closing
            assert status is not None, f"{t.effect} closes a request without a closing status"
            await store.set_request_status(conn, request_id, status, now)
        if after.friends and not before.pair.friends:
            await store.insert_friendship(conn, a, b, now)
        elif before.pair.friends and not after.friends:
            await store.delete_friendship(conn, a, b)
        if after.a_blocks_b and not before.pair.a_blocks_b:
            await store.insert_block(conn, a, b, now)
        elif before.pair.a_blocks_b and not after.a_blocks_b:
            await store.delete_block(conn, a, b)
        assert after.b_blocks_a == before.pair.b_blocks_a

    async def _audit(
        self,
        tx: Tx,
        actor: Actor,
        tag: str,
        target_type: str,
        target_id: str,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        await self._governance.audit(
            tx,
            actor_id=actor.id,
            tag=tag,
            target_type=target_type,
            target_id=target_id,
            before=before,
            after=after,
        )

    async def _publish(self, tx: Tx, account_id: str, event: dict[str, Any]) -> None:
        """Append an event for ``account_id`` to the stream, in ``tx`` (gone if it rolls back)."""
        payload = dict(event)
        kind = payload.pop("type")
        draft = EventDraft(kind=kind, payload=payload, account_id=account_id)
        await self._realtime.append(tx, [draft])

    # -- profiles and lookup -----------------------------------------------------------------

    async def lookup(self, actor: Actor, handle: str) -> LookupOut:
        """Find one account by its exact handle, with how it relates to the actor."""
        async with self._db.read() as conn:
            target = await access_handle(conn, actor, handle)
            stored = await store.load_pair(conn, actor.id, target.id)
        rel = relationship(stored.pair, same=target.id == actor.id)
        request_id = {
            Relationship.REQUEST_SENT: stored.a_to_b_id,
            Relationship.REQUEST_RECEIVED: stored.b_to_a_id,
        }.get(rel)
        return LookupOut(
            profile=PublicProfileOut.of(target), relationship=rel, request_id=request_id
        )

    async def public_profile(self, viewer: Actor, account_id: str) -> PublicProfileOut:
        async with self._db.read() as conn:
            account = await access_profile(conn, viewer, account_id)
        return PublicProfileOut.of(account)

    async def avatar(self, viewer: Actor, account_id: str) -> bytes:
        """The account's avatar image (PNG), if the viewer may see the account and it has one."""
        async with self._db.read() as conn:
            account = await access_profile(conn, viewer, account_id)
        data = await self._accounts.avatar_bytes(account)
        if data is None:
            raise NotFound("This account has no avatar.")
        return data

    # -- friend requests ---------------------------------------------------------------------

    async def check_send_request(
        self,
        actor: Actor,
        *,
        handle: str | None = None,
        account_id: str | None = None,
        message: str,
        idempotency_key: str | None = None,
    ) -> FriendRequestOut:
        if (handle is None) == (account_id is None):
            raise InvalidInput(
                "Give exactly one of handle or account_id.", details={"field": "handle"}
            )
        message = normalize_message(message, self._settings.friend_request_message_max)
        fingerprint = _fingerprint(
            normalize_handle(handle) if handle is not None else None, account_id, message
        )
        async with self._db.read() as conn:
            if idempotency_key is not None:
                recalled = await recall_result(conn, actor.id, REQUEST_SCOPE, idempotency_key)
                if recalled is not None:
                    return await self._replay_request(conn, actor, recalled, fingerprint)
            if handle is not None:
                if normalize_handle(handle) == actor.account.handle:
                    raise CannotBefriendSelf
                target = await access_handle(conn, actor, handle)
            else:
                assert account_id is not None
                if account_id == actor.id:
                    raise CannotBefriendSelf
                target = await access_profile(conn, actor, account_id)
            stored = await store.load_pair(conn, actor.id, target.id)
            t = transition(
                stored.pair, Op.REQUEST, await self._pair_counts(conn, actor.id, target.id)
            )
            if t.effect is Effect.DUPLICATE and idempotency_key is None:
                assert stored.a_to_b_id is not None
                existing = await store.get_request(conn, stored.a_to_b_id)
                assert existing is not None
                return FriendRequestOut.of(
                    existing,
                    actor.id,
                    PublicProfileOut.of(actor.account),
                    PublicProfileOut.of(target),
                )
        await self._governance.authorize(
            actor.standing,
            Capability.ADD_CONTACT,
            PolicyEvent(
                EventKind.CONTACT_REQUEST,
                actor_id=actor.id,
                subject_type="account",
                subject_id=target.id,
                text={"message": message} if message else {},
                context={"mutual": t.effect is Effect.MUTUAL},
            ),
        )
        return await self.do_send_request(actor, target, message, idempotency_key, fingerprint)

    async def _replay_request(
        self, conn: Conn, actor: Actor, recalled: dict[str, Any], fingerprint: str
    ) -> FriendRequestOut:
        if recalled.get("fingerprint") != fingerprint:
            raise _idempotency_reused()
        request = await store.get_request(conn, str(recalled["request_id"]))
        if request is None:  # pragma: no cover - requests are never deleted
            raise request_not_found()
        target = await access_profile(conn, actor, request.to_id)
        return FriendRequestOut.of(
            request, actor.id, PublicProfileOut.of(actor.account), PublicProfileOut.of(target)
        )

    async def do_send_request(
        self,
        actor: Actor,
        target: Account,
        message: str,
        idempotency_key: str | None = None,
        fingerprint: str | None = None,
    ) -> FriendRequestOut:
        now = self._clock.now()
        me = PublicProfileOut.of(actor.account)
        them = PublicProfileOut.of(target)
        async with self._db.write() as tx:
            conn = tx.conn
            await store.lock_accounts(conn, actor.id, target.id)
            if idempotency_key is not None:
                recalled = await recall_result(conn, actor.id, REQUEST_SCOPE, idempotency_key)
                if recalled is not None:
                    return await self._replay_request(conn, actor, recalled, fingerprint or "")
            stored = await store.load_pair(conn, actor.id, target.id)
            t = transition(
                stored.pair, Op.REQUEST, await self._pair_counts(conn, actor.id, target.id)
            )
            if t.effect is Effect.DUPLICATE:
                assert stored.a_to_b_id is not None
                existing = await store.get_request(conn, stored.a_to_b_id)
                assert existing is not None
                request = existing
            else:
                mutual = t.effect is Effect.MUTUAL
                request = FriendRequest(
                    id=new_id(),
                    from_id=actor.id,
                    to_id=target.id,
                    message=message,
                    status=RequestStatus.ACCEPTED if mutual else RequestStatus.PENDING,
                    created_at=now,
                    status_changed_at=now if mutual else None,
                )
                await store.insert_request(conn, request)
                await self._apply(conn, actor.id, target.id, stored, t, now)
                out = FriendRequestOut.of(request, target.id, me, them)
                if mutual:
                    assert stored.b_to_a_id is not None
                    friend = FriendOut(profile=me, remark=None, labels=[], since=now)
                    await self._publish(
                        tx, target.id, events.request_accepted(stored.b_to_a_id, friend)
                    )
                else:
                    await self._publish(tx, target.id, events.request_received(out))
                await self._audit(
                    tx,
                    actor,
                    "contacts:request:create",
                    "contact_request",
                    request.id,
                    after={"from_id": actor.id, "to_id": target.id, "status": request.status.value},
                )
                if mutual:
                    assert stored.b_to_a_id is not None
                    await self._audit(
                        tx,
                        actor,
                        "contacts:request:accept",
                        "contact_request",
                        stored.b_to_a_id,
                        before={"status": str(stored.pair.b_to_a)},
                        after={"status": RequestStatus.ACCEPTED.value, "mutual": True},
                    )
            if idempotency_key is not None:
                await remember_result(
                    conn,
                    actor.id,
                    REQUEST_SCOPE,
                    idempotency_key,
                    {"request_id": request.id, "fingerprint": fingerprint},
                    now,
                )
        return FriendRequestOut.of(request, actor.id, me, them)

    async def list_requests(
        self,
        actor: Actor,
        direction: Direction | str,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[FriendRequestOut]:
        """Incoming (pending, newest first) or outgoing (open, newest first) requests."""
        try:
            direction = Direction(direction)
        except ValueError as exc:
            raise InvalidInput(
                "direction is incoming or outgoing.", details={"field": "direction"}
            ) from exc
        size = clamp_limit(limit)
        before_id = _cursor_str(cursor)
        async with self._db.read() as conn:
            rows = await store.list_requests(conn, actor.id, direction, before_id, size + 1)
        page = rows[:size]
        profiles = await self._profiles(
            [actor.id, *(r.from_id for r in page), *(r.to_id for r in page)]
        )
        items = [
            FriendRequestOut.of(r, actor.id, profiles[r.from_id], profiles[r.to_id])
            for r in page
            if r.from_id in profiles and r.to_id in profiles
        ]
        next_cursor = encode_cursor(page[-1].id) if len(rows) > size else None
        return Page[FriendRequestOut](items=items, next_cursor=next_cursor)

    async def _incoming(
        self, conn: Conn, actor: Actor, request_id: str
    ) -> tuple[FriendRequest, Account]:
        """A request the actor may still answer, and its visible sender."""
        request = await access_request(conn, actor, request_id)
        if request.to_id != actor.id or request.status is not RequestStatus.PENDING:
            raise request_not_found()
        try:
            sender = await access_profile(conn, actor, request.from_id)
        except NotFound:
            raise request_not_found() from None
        return request, sender

    async def check_accept_request(
        self,
        actor: Actor,
        request_id: str,
        remark: str | None = None,
        label_ids: Sequence[str] | None = None,
    ) -> FriendOut:
        remark = normalize_remark(remark)
        async with self._db.read() as conn:
            request, sender = await self._incoming(conn, actor, request_id)
            labels = await access_labels(conn, actor, label_ids or [])
            stored = await store.load_pair(conn, actor.id, sender.id)
            if stored.b_to_a_id != request.id:
                raise request_not_found()
            transition(stored.pair, Op.ACCEPT, await self._pair_counts(conn, actor.id, sender.id))
        await self._authorize_respond(actor, request.id, "accept")
        return await self.do_accept_request(actor, request, sender, remark, labels)

    async def _authorize_respond(self, actor: Actor, request_id: str, action: str) -> None:
        await self._governance.authorize(
            actor.standing,
            Capability.MANAGE_CONTACTS,
            PolicyEvent(
                EventKind.CONTACT_RESPOND,
                actor_id=actor.id,
                subject_type="contact_request",
                subject_id=request_id,
                context={"action": action},
            ),
        )

    async def do_accept_request(
        self,
        actor: Actor,
        request: FriendRequest,
        sender: Account,
        remark: str | None,
        label_ids: Sequence[str],
    ) -> FriendOut:
        now = self._clock.now()
        async with self._db.write() as tx:
            conn = tx.conn
            await store.lock_accounts(conn, actor.id, sender.id)
            stored = await store.load_pair(conn, actor.id, sender.id)
            if stored.b_to_a_id != request.id:
                raise request_not_found()
            t = transition(
                stored.pair, Op.ACCEPT, await self._pair_counts(conn, actor.id, sender.id)
            )
            if len(await store.owned_label_ids(conn, actor.id, label_ids)) != len(set(label_ids)):
                raise label_not_found()
            await self._apply(conn, actor.id, sender.id, stored, t, now)
            if remark is not None:
                await store.set_remark(conn, actor.id, sender.id, remark)
            if label_ids:
                await store.set_friend_labels(conn, actor.id, sender.id, label_ids)
            friend = FriendOut(
                profile=PublicProfileOut.of(actor.account), remark=None, labels=[], since=now
            )
            await self._publish(tx, sender.id, events.request_accepted(request.id, friend))
            await self._audit(
                tx,
                actor,
                "contacts:request:accept",
                "contact_request",
                request.id,
                before={"status": RequestStatus.PENDING.value},
                after={"status": RequestStatus.ACCEPTED.value, "label_count": len(label_ids)},
            )
        return await self._friend_out(actor, sender.id)

    async def check_decline_request(self, actor: Actor, request_id: str) -> None:
        await self._check_answer(actor, request_id, Op.DECLINE)

    async def check_ignore_request(self, actor: Actor, request_id: str) -> None:
        """Set a request aside: it leaves the incoming list and the sender is never told."""
        await self._check_answer(actor, request_id, Op.IGNORE)

    async def _check_answer(self, actor: Actor, request_id: str, op: Op) -> None:
        async with self._db.read() as conn:
            request, sender = await self._incoming(conn, actor, request_id)
            stored = await store.load_pair(conn, actor.id, sender.id)
            if stored.b_to_a_id != request.id:
                raise request_not_found()
            transition(stored.pair, op)
        await self._authorize_respond(actor, request.id, op.value)
        if op is Op.DECLINE:
            await self.do_decline_request(actor, request)
        else:
            await self.do_ignore_request(actor, request)

    async def do_decline_request(self, actor: Actor, request: FriendRequest) -> None:
        await self._do_answer(actor, request, Op.DECLINE)

    async def do_ignore_request(self, actor: Actor, request: FriendRequest) -> None:
        await self._do_answer(actor, request, Op.IGNORE)

    async def _do_answer(self, actor: Actor, request: FriendRequest, op: Op) -> None:
        now = self._clock.now()
        async with self._db.write() as tx:
            await store.lock_accounts(tx.conn, actor.id, request.from_id)
            stored = await store.load_pair(tx.conn, actor.id, request.from_id)
            if stored.b_to_a_id != request.id:
                raise request_not_found()
            t = transition(stored.pair, op)
            await self._apply(tx.conn, actor.id, request.from_id, stored, t, now)
            if op is Op.DECLINE:
                await self._publish(tx, request.from_id, events.request_declined(request.id))
            await self._audit(
                tx,
                actor,
                f"contacts:request:{op.value}",
                "contact_request",
                request.id,
                before={"status": RequestStatus.PENDING.value},
                after={"status": (t.pair.b_to_a or CLOSING_STATUS[t.effect]).value},
            )

    async def check_cancel_request(self, actor: Actor, request_id: str) -> None:
        """Withdraw one's own open request (including one the recipient ignored)."""
        async with self._db.read() as conn:
            request = await access_request(conn, actor, request_id)
            if request.from_id != actor.id:
                raise request_not_found()
            stored = await store.load_pair(conn, actor.id, request.to_id)
            if stored.a_to_b_id != request.id:
                raise request_not_found()
            transition(stored.pair, Op.CANCEL)
        await self._authorize_respond(actor, request.id, "cancel")
        await self.do_cancel_request(actor, request)

    async def do_cancel_request(self, actor: Actor, request: FriendRequest) -> None:
        now = self._clock.now()
        async with self._db.write() as tx:
            await store.lock_accounts(tx.conn, actor.id, request.to_id)
            stored = await store.load_pair(tx.conn, actor.id, request.to_id)
            if stored.a_to_b_id != request.id:
                raise request_not_found()
            t = transition(stored.pair, Op.CANCEL)
            await self._apply(tx.conn, actor.id, request.to_id, stored, t, now)
            if stored.pair.a_to_b is RequestStatus.PENDING:  # an ignored one is not in their list
                await self._publish(tx, request.to_id, events.request_cancelled(request.id))
            await self._audit(
                tx,
                actor,
                "contacts:request:cancel",
                "contact_request",
                request.id,
                before={"status": str(stored.pair.a_to_b)},
                after={"status": RequestStatus.CANCELLED.value},
            )

    # -- friends -----------------------------------------------------------------------------

    async def _friend_out(self, actor: Actor, friend_id: str) -> FriendOut:
        async with self._db.read() as conn:
            friendship = await access_friend(conn, actor, friend_id)
            labels = {
                label.id: LabelOut.of(label) for label in await store.list_labels(conn, actor.id)
            }
        profiles = await self._profiles([friend_id])
        return FriendOut(
            profile=profiles[friend_id],
            remark=friendship.remark,
            labels=[labels[lid] for lid in friendship.label_ids if lid in labels],
            since=friendship.created_at,
        )

    async def list_friends(
        self,
        actor: Actor,
        label_id: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[FriendOut]:
        """Friends ordered by handle; with ``label_id``, only those carrying that label."""
        size = clamp_limit(limit)
        after_handle = _cursor_str(cursor)
        async with self._db.read() as conn:
            if label_id is not None:
                await access_label(conn, actor, label_id)
            rows = await store.list_friends(
                conn, actor.id, label_id=label_id, after_handle=after_handle, limit=size + 1
            )
            page = rows[:size]
            ids = [friendship.friend_id for friendship, _handle in page]
            on_friend = await store.labels_for_friends(conn, actor.id, ids)
            labels = (
                {label.id: LabelOut.of(label) for label in await store.list_labels(conn, actor.id)}
                if on_friend
                else {}
            )
        profiles = await self._profiles(ids)
        items = [
            FriendOut(
                profile=profiles[friendship.friend_id],
                remark=friendship.remark,
                labels=[
                    labels[lid] for lid in on_friend.get(friendship.friend_id, ()) if lid in labels
                ],
                since=friendship.created_at,
            )
            for friendship, _handle in page
            if friendship.friend_id in profiles
        ]
        next_cursor = encode_cursor(page[-1][1]) if len(rows) > size else None
        return Page[FriendOut](items=items, next_cursor=next_cursor)

    async def check_update_friend(
        self,
        actor: Actor,
        friend_id: str,
        remark: str | None = None,
        label_ids: Sequence[str] | None = None,
    ) -> FriendOut:
        """Set the private remark (None: unchanged, "": cleared) and/or the exact label set."""
        new_remark = normalize_remark(remark)
        async with self._db.read() as conn:
            await access_friend(conn, actor, friend_id)
            labels = await access_labels(conn, actor, label_ids) if label_ids is not None else None
        if remark is None and labels is None:
            return await self._friend_out(actor, friend_id)
        await self._governance.authorize(
            actor.standing,
            Capability.MANAGE_CONTACTS,
            PolicyEvent(
                EventKind.CONTACT_LABEL,
                actor_id=actor.id,
                subject_type="account",
                subject_id=friend_id,
                context={"action": "update_friend"},
            ),
        )
        return await self.do_update_friend(
            actor, friend_id, set_remark=remark is not None, remark=new_remark, label_ids=labels
        )

    async def do_update_friend(
        self,
        actor: Actor,
        friend_id: str,
        *,
        set_remark: bool,
        remark: str | None,
        label_ids: Sequence[str] | None,
    ) -> FriendOut:
        async with self._db.write() as tx:
            conn = tx.conn
            await store.lock_accounts(conn, actor.id)
            before = await store.get_friendship(conn, actor.id, friend_id)
            if before is None:
                raise friend_not_found()
            if set_remark:
                await store.set_remark(conn, actor.id, friend_id, remark)
            if label_ids is not None:
                if len(await store.owned_label_ids(conn, actor.id, label_ids)) != len(
                    set(label_ids)
                ):
                    raise label_not_found()
                await store.set_friend_labels(conn, actor.id, friend_id, label_ids)
            await self._audit(
                tx,
                actor,
                "contacts:friend:update",
                "account",
                friend_id,
                before={"label_ids": list(before.label_ids)},
                after={
                    "remark_changed": set_remark and remark != before.remark,
                    "label_ids": sorted(set(label_ids)) if label_ids is not None else None,
                },
            )
        return await self._friend_out(actor, friend_id)

    async def check_remove_friend(self, actor: Actor, friend_id: str) -> None:
        """End a friendship on both sides (with each side's remark and labels)."""
        async with self._db.read() as conn:
            await access_friend(conn, actor, friend_id)
        await self._governance.authorize(
            actor.standing,
            Capability.MANAGE_CONTACTS,
            PolicyEvent(
                EventKind.CONTACT_REMOVE,
                actor_id=actor.id,
                subject_type="account",
                subject_id=friend_id,
            ),
        )
        await self.do_remove_friend(actor, friend_id)

    async def do_remove_friend(self, actor: Actor, friend_id: str) -> None:
        now = self._clock.now()
        async with self._db.write() as tx:
            await store.lock_accounts(tx.conn, actor.id, friend_id)
            stored = await store.load_pair(tx.conn, actor.id, friend_id)
            t = transition(stored.pair, Op.REMOVE)
            await self._apply(tx.conn, actor.id, friend_id, stored, t, now)
            await self._publish(tx, friend_id, events.friend_removed(actor.id))
            await self._audit(tx, actor, "contacts:friend:remove", "account", friend_id)

    # -- blocks ------------------------------------------------------------------------------

    async def check_block(self, actor: Actor, account_id: str) -> BlockOut:
        """Block an account: ends the friendship and every open request between the two."""
        if account_id == actor.id:
            raise CannotBlockSelf
        if not is_valid_id(account_id):
            raise account_not_found()
        target = await self._accounts.get_account(account_id)
        if target is None or target.state is AccountState.DELETED:
            raise account_not_found()
        async with self._db.read() as conn:
            stored = await store.load_pair(conn, actor.id, account_id)
            t = transition(stored.pair, Op.BLOCK)
            if t.effect is Effect.UNCHANGED:
                blocked_at = await store.get_block_time(conn, actor.id, account_id)
                assert blocked_at is not None
                return BlockOut(
                    account_id=account_id,
                    profile=PublicProfileOut.of(target),
                    blocked_at=blocked_at,
                )
        await self._governance.authorize(
            actor.standing,
            Capability.BLOCK,
            PolicyEvent(
                EventKind.CONTACT_BLOCK,
                actor_id=actor.id,
                subject_type="account",
                subject_id=account_id,
                context={"action": "block"},
            ),
        )
        return await self.do_block(actor, target)

    async def do_block(self, actor: Actor, target: Account) -> BlockOut:
        now = self._clock.now()
        async with self._db.write() as tx:
            await store.lock_accounts(tx.conn, actor.id, target.id)
            stored = await store.load_pair(tx.conn, actor.id, target.id)
            t = transition(stored.pair, Op.BLOCK)
            if t.effect is Effect.UNCHANGED:
                blocked_at = await store.get_block_time(tx.conn, actor.id, target.id)
                assert blocked_at is not None
                return BlockOut(
                    account_id=target.id, profile=PublicProfileOut.of(target), blocked_at=blocked_at
                )
            await self._apply(tx.conn, actor.id, target.id, stored, t, now)
            # Deliberately no event to the blocked account: a block is never revealed.
            await self._audit(
                tx,
                actor,
                "contacts:block:create",
                "account",
                target.id,
                before={
                    "friends": stored.pair.friends,
                    "closed_request_ids": [
                        rid for rid in (stored.a_to_b_id, stored.b_to_a_id) if rid is not None
                    ],
                },
            )
        return BlockOut(account_id=target.id, profile=PublicProfileOut.of(target), blocked_at=now)

    async def check_unblock(self, actor: Actor, account_id: str) -> None:
        """Lift a block. The friendship it ended is not restored."""
        if not is_valid_id(account_id):
            raise NotFound("You have not blocked this account.")
        async with self._db.read() as conn:
            stored = await store.load_pair(conn, actor.id, account_id)
            transition(stored.pair, Op.UNBLOCK)
        await self._governance.authorize(
            actor.standing,
            Capability.BLOCK,
            PolicyEvent(
                EventKind.CONTACT_BLOCK,
                actor_id=actor.id,
                subject_type="account",
                subject_id=account_id,
                context={"action": "unblock"},
            ),
        )
        await self.do_unblock(actor, account_id)

    async def do_unblock(self, actor: Actor, account_id: str) -> None:
        now = self._clock.now()
        async with self._db.write() as tx:
            await store.lock_accounts(tx.conn, actor.id, account_id)
            stored = await store.load_pair(tx.conn, actor.id, account_id)
            t = transition(stored.pair, Op.UNBLOCK)
            await self._apply(tx.conn, actor.id, account_id, stored, t, now)
            await self._audit(tx, actor, "contacts:block:remove", "account", account_id)

    async def list_blocks(self, actor: Actor) -> list[BlockOut]:
        """The actor's block list, newest first. An account that is gone, or that has blocked
        the actor in turn, is listed without a profile (the two cases look the same)."""
        async with self._db.read() as conn:
            rows = await store.list_blocks(conn, actor.id)
            hidden = await store.blockers_of(conn, actor.id, [account_id for account_id, _ in rows])
        found = await self._accounts.get_accounts([account_id for account_id, _ in rows])
        result = []
        for account_id, blocked_at in rows:
            account = found.get(account_id)
            visible = (
                account is not None
                and account.state is not AccountState.DELETED
                and account_id not in hidden
            )
            result.append(
                BlockOut(
                    account_id=account_id,
                    profile=PublicProfileOut.of(account) if visible and account else None,
                    blocked_at=blocked_at,
                )
            )
        return result

    # -- labels ------------------------------------------------------------------------------

    async def _authorize_label(self, actor: Actor, action: str, label_id: str | None) -> None:
        await self._governance.authorize(
            actor.standing,
            Capability.MANAGE_CONTACTS,
            PolicyEvent(
                EventKind.CONTACT_LABEL,
                actor_id=actor.id,
                subject_type="contact_label",
                subject_id=label_id,
                context={"action": action},
            ),
        )

    async def check_create_label(
        self, actor: Actor, name: str, idempotency_key: str | None = None
    ) -> LabelOut:
        name, key = normalize_label_name(name)
        if idempotency_key is not None:
            async with self._db.read() as conn:
                recalled = await recall_result(conn, actor.id, LABEL_SCOPE, idempotency_key)
                if recalled is not None:
                    return await self._replay_label(conn, actor, recalled, key)
        async with self._db.read() as conn:
            await self._check_label_room(conn, actor, key)
        await self._authorize_label(actor, "create", None)
        return await self.do_create_label(actor, name, key, idempotency_key)

    async def _replay_label(
        self, conn: Conn, actor: Actor, recalled: dict[str, Any], key: str
    ) -> LabelOut:
        if recalled.get("fingerprint") != _fingerprint(key):
            raise _idempotency_reused()
        return LabelOut.of(await access_label(conn, actor, str(recalled["label_id"])))

    async def _check_label_room(self, conn: Conn, actor: Actor, key: str) -> None:
        if await store.label_id_by_key(conn, actor.id, key) is not None:
            raise LabelExists(details={"field": "name"})
        cap = self._settings.labels_per_account_max
        if await store.count_labels(conn, actor.id) >= cap:
            raise LabelLimitReached(cap)

    async def do_create_label(
        self, actor: Actor, name: str, key: str, idempotency_key: str | None = None
    ) -> LabelOut:
        now = self._clock.now()
        label_id = new_id()
        try:
            async with self._db.write() as tx:
                await store.lock_accounts(tx.conn, actor.id)
                if idempotency_key is not None:
                    recalled = await recall_result(tx.conn, actor.id, LABEL_SCOPE, idempotency_key)
                    if recalled is not None:
                        return await self._replay_label(tx.conn, actor, recalled, key)
                await self._check_label_room(tx.conn, actor, key)
                await store.insert_label(tx.conn, label_id, actor.id, name, key, now)
                if idempotency_key is not None:
                    await remember_result(
                        tx.conn,
                        actor.id,
                        LABEL_SCOPE,
                        idempotency_key,
                        {"label_id": label_id, "fingerprint": _fingerprint(key)},
                        now,
                    )
                await self._audit(tx, actor, "contacts:label:create", "contact_label", label_id)
        except Exception as exc:
            if is_unique_violation(exc):
                raise LabelExists(details={"field": "name"}) from exc
            raise
        return LabelOut(id=label_id, name=name, friend_count=0, created_at=now)

    async def check_rename_label(self, actor: Actor, label_id: str, name: str) -> LabelOut:
        name, key = normalize_label_name(name)
        async with self._db.read() as conn:
            label = await access_label(conn, actor, label_id)
            existing = await store.label_id_by_key(conn, actor.id, key)
        if existing is not None and existing != label.id:
            raise LabelExists(details={"field": "name"})
        if label.name == name:
            return LabelOut.of(label)
        await self._authorize_label(actor, "rename", label.id)
        return await self.do_rename_label(actor, label.id, name, key)

    async def do_rename_label(self, actor: Actor, label_id: str, name: str, key: str) -> LabelOut:
        try:
            async with self._db.write() as tx:
                await store.lock_accounts(tx.conn, actor.id)
                await access_label(tx.conn, actor, label_id)
                existing = await store.label_id_by_key(tx.conn, actor.id, key)
                if existing is not None and existing != label_id:
                    raise LabelExists(details={"field": "name"})
                await store.rename_label(tx.conn, label_id, name, key)
                await self._audit(tx, actor, "contacts:label:rename", "contact_label", label_id)
        except Exception as exc:
            if is_unique_violation(exc):
                raise LabelExists(details={"field": "name"}) from exc
            raise
        async with self._db.read() as conn:
            return LabelOut.of(await access_label(conn, actor, label_id))

    async def check_delete_label(self, actor: Actor, label_id: str) -> None:
        """Delete a label; the friends who carried it stay friends."""
        async with self._db.read() as conn:
            label = await access_label(conn, actor, label_id)
        await self._authorize_label(actor, "delete", label.id)
        await self.do_delete_label(actor, label.id)

    async def do_delete_label(self, actor: Actor, label_id: str) -> None:
        async with self._db.write() as tx:
            await store.lock_accounts(tx.conn, actor.id)
            label = await access_label(tx.conn, actor, label_id)
            await store.delete_label(tx.conn, label_id)
            await self._audit(
                tx,
                actor,
                "contacts:label:delete",
                "contact_label",
                label_id,
                before={"friend_count": label.friend_count},
            )

    async def list_labels(self, actor: Actor) -> list[LabelOut]:
        return await self.labels_of(actor.id)

    # -- export ------------------------------------------------------------------------------

    async def export_contacts(
        self, actor: Actor, fmt: ExportFormat | str, *, server_url: str
    ) -> ExportFile:
        """Every friend, with the actor's remarks and labels, as a vCard or CSV file to take
        elsewhere. Allowed in every account state but deleted (``Capability.EXPORT``): a
        restricted person can always leave with their contacts. A read: no audit row.

        Friends whose account was deleted are left out; blocked accounts are not friends (a
        block ends the friendship), so they are never in it. ``server_url`` is this server's
        public address, which the links to each account are built from.
        """
        try:
            fmt = ExportFormat(fmt)
        except ValueError as exc:
            raise InvalidInput("format is vcard or csv.", details={"field": "format"}) from exc
        self._governance.capabilities(actor.standing).require(Capability.EXPORT)
        contacts: list[ExportedContact] = []
        async with self._db.read() as conn:
            label_names = {
                label.id: label.name for label in await store.list_labels(conn, actor.id)
            }
            position = {label_id: i for i, label_id in enumerate(label_names)}  # by name
            after_handle: str | None = None
            while True:
                rows = await store.list_friends(
                    conn, actor.id, label_id=None, after_handle=after_handle, limit=EXPORT_BATCH
                )
                ids = [friendship.friend_id for friendship, _handle in rows]
                on_friend = await store.labels_for_friends(conn, actor.id, ids)
                found = await accounts_store.get_accounts(conn, ids)
                for friendship, _handle in rows:
                    account = found.get(friendship.friend_id)
                    if account is None or account.state is AccountState.DELETED:
                        continue
                    labels = sorted(
                        (lid for lid in on_friend.get(account.id, ()) if lid in label_names),
                        key=position.__getitem__,
                    )
                    contacts.append(
                        ExportedContact(
                            account_id=account.id,
                            handle=account.handle,
                            display_name=account.display_name,
                            bio=account.bio,
                            remark=friendship.remark,
                            labels=tuple(label_names[lid] for lid in labels),
                            friends_since=friendship.created_at,
                        )
                    )
                if len(rows) < EXPORT_BATCH:
                    break
                after_handle = rows[-1][1]
        # Up to friend_cap contacts: render off the event loop.
        return await asyncio.to_thread(
            render,
            fmt,
            contacts,
            server_url=server_url,
            owner_handle=actor.account.handle,
            now=self._clock.now(),
        )

    # -- for other pillars (Moments audiences, chats, invites) -------------------------------

    async def labels_of(self, owner_id: str, *, conn: Conn | None = None) -> list[LabelOut]:
        """The owner's labels, ordered by name, each with its number of friends."""
        async with self._reading(conn) as c:
            return [LabelOut.of(label) for label in await store.list_labels(c, owner_id)]

    async def friend_ids(self, owner_id: str, *, conn: Conn | None = None) -> set[str]:
        async with self._reading(conn) as c:
            return await store.friend_ids(c, owner_id)

    async def friend_ids_with_labels(
        self, owner_id: str, label_ids: Iterable[str], *, conn: Conn | None = None
    ) -> set[str]:
        """Friends of ``owner_id`` carrying any of ``label_ids`` (labels of other owners count
        for nothing)."""
        async with self._reading(conn) as c:
            return await store.friend_ids_with_labels(c, owner_id, label_ids)

    async def are_friends(self, a: str, b: str, *, conn: Conn | None = None) -> bool:
        async with self._reading(conn) as c:
            return await store.are_friends(c, a, b)

    async def is_blocked_either_way(self, a: str, b: str, *, conn: Conn | None = None) -> bool:
        async with self._reading(conn) as c:
            return await store.is_blocked_either_way(c, a, b)
