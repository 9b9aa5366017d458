"""The only way to fetch a contacts object for an actor.

"Not found" and "not allowed" raise the same ``NotFound``, so existence never leaks: an
account that has blocked the viewer, a deleted account and a handle nobody holds all give the
same answer.
"""

from __future__ import annotations

from collections.abc import Iterable

from courtyard.accounts import store as accounts_store
from courtyard.accounts.model import HANDLE_PATTERN, Account, Actor, normalize_handle
from courtyard.contacts import store
from courtyard.contacts.model import (
    FriendRequest,
    Friendship,
    Label,
    RequestStatus,
    account_not_found,
    friend_not_found,
    label_not_found,
    request_not_found,
)
from courtyard.core.db import Conn
from courtyard.core.ids import is_valid_id
from courtyard.governance.model import AccountState


def _visible(account: Account | None, blocked_by: set[str]) -> Account:
    if account is None or account.state is AccountState.DELETED or account.id in blocked_by:
        raise account_not_found()
    return account


async def access_profile(conn: Conn, viewer: Actor, account_id: str) -> Account:
    """An account the viewer may see: it exists, is not deleted and has not blocked them."""
    if not is_valid_id(account_id):
        raise account_not_found()
    account = await accounts_store.get_account(conn, account_id)
    blocked_by = await store.blockers_of(conn, viewer.id, [account_id])
    return _visible(account, blocked_by)


async def access_handle(conn: Conn, viewer: Actor, handle: str) -> Account:
    """The same as ``access_profile``, by exact handle (no search, no prefix matching)."""
    normalized = normalize_handle(handle)
    if not HANDLE_PATTERN.fullmatch(normalized):  # cannot be anyone's handle: no query
        raise account_not_found()
    account = await accounts_store.get_account_by_handle(conn, normalized)
    if account is None:
        raise account_not_found()
    blocked_by = await store.blockers_of(conn, viewer.id, [account.id])
    return _visible(account, blocked_by)


async def access_request(conn: Conn, actor: Actor, request_id: str) -> FriendRequest:
    """A request the actor is a party to. The recipient no longer sees requests they ignored
    or that were withdrawn; the sender always sees their own."""
    if not is_valid_id(request_id):
        raise request_not_found()
    request = await store.get_request(conn, request_id)
    if request is None:
        raise request_not_found()
    if request.from_id == actor.id:
        return request
    if request.to_id == actor.id and request.status not in (
        RequestStatus.IGNORED,
        RequestStatus.CANCELLED,
    ):
        return request
    raise request_not_found()


async def access_friend(conn: Conn, actor: Actor, friend_id: str) -> Friendship:
    if not is_valid_id(friend_id):
        raise friend_not_found()
    friendship = await store.get_friendship(conn, actor.id, friend_id)
    if friendship is None:
        raise friend_not_found()
    account = await accounts_store.get_account(conn, friend_id)
    if account is None or account.state is AccountState.DELETED:
        raise friend_not_found()
    return friendship


async def access_label(conn: Conn, actor: Actor, label_id: str) -> Label:
    if not is_valid_id(label_id):
        raise label_not_found()
    label = await store.get_label(conn, label_id)
    if label is None or label.owner_id != actor.id:
        raise label_not_found()
    return label


async def access_labels(conn: Conn, actor: Actor, label_ids: Iterable[str]) -> list[str]:
    """The ids, deduplicated in order, if every one is the actor's label; else NotFound."""
    wanted = list(dict.fromkeys(label_ids))
    if not all(is_valid_id(label_id) for label_id in wanted):
        raise label_not_found()
    owned = await store.owned_label_ids(conn, actor.id, wanted)
    if len(owned) != len(wanted):
        raise label_not_found()
    return wanted
