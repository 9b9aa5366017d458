"""Contacts records, I/O schemas and the pure rules of the relationship between two accounts.

The heart of the pillar is ``transition``: given what is stored about two accounts (``Pair``)
and an operation by one of them, it returns the new ``Pair`` and what happened, or raises the
typed error the actor should see. It does no I/O; the service loads a ``Pair`` inside its
transaction, calls ``transition`` and writes the difference, and the property tests compare
the service against it.

Visibility rule: an account that has blocked you looks exactly like an account that does not
exist. Every path that would tell you otherwise raises ``NotFound`` instead.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from courtyard.accounts.model import PublicProfileOut
from courtyard.core.errors import Conflict, InvalidInput, NotFound
from courtyard.core.text import MultiLineText

LABEL_NAME_MAX = 32
REMARK_MAX = 64
MESSAGE_HARD_MAX = 2000  # schema bound; the configured limit (friend_request_message_max) is lower


class RequestStatus(StrEnum):
    PENDING = "pending"
    IGNORED = "ignored"  # the recipient set it aside; the sender still sees "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"  # withdrawn by the sender, or closed by a block


OPEN_STATUSES = frozenset({RequestStatus.PENDING, RequestStatus.IGNORED})


class Direction(StrEnum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"


class Relationship(StrEnum):
    """How an account relates to the viewer, as the viewer is allowed to know it."""

    SELF = "self"
    FRIEND = "friend"
    REQUEST_SENT = "request_sent"
    REQUEST_RECEIVED = "request_received"
    NONE = "none"
    BLOCKED_BY_YOU = "blocked_by_you"


class Op(StrEnum):
    REQUEST = "request"
    ACCEPT = "accept"
    DECLINE = "decline"
    IGNORE = "ignore"
    CANCEL = "cancel"
    REMOVE = "remove"
    BLOCK = "block"
    UNBLOCK = "unblock"


class Effect(StrEnum):
    CREATED = "created"  # a new pending request a→b
    DUPLICATE = "duplicate"  # a→b was already open: nothing changes, the open one is returned
    MUTUAL = "mutual"  # b→a was open, so a's request makes them friends at once
    ACCEPTED = "accepted"
    DECLINED = "declined"
    IGNORED = "ignored"
    CANCELLED = "cancelled"
    REMOVED = "removed"
    BLOCKED = "blocked"
    UNCHANGED = "unchanged"  # blocking someone already blocked
    UNBLOCKED = "unblocked"


# The status an open request is closed with when an effect removes it from the pair.
CLOSING_STATUS: dict[Effect, RequestStatus] = {
    Effect.MUTUAL: RequestStatus.ACCEPTED,
    Effect.ACCEPTED: RequestStatus.ACCEPTED,
    Effect.DECLINED: RequestStatus.DECLINED,
    Effect.CANCELLED: RequestStatus.CANCELLED,
    Effect.BLOCKED: RequestStatus.CANCELLED,
}


# ---- domain errors -------------------------------------------------------------------------


class CannotBefriendSelf(InvalidInput):
    code = "cannot_befriend_self"
    default_message = "You cannot send a friend request to yourself."


class CannotBlockSelf(InvalidInput):
    code = "cannot_block_self"
    default_message = "You cannot block yourself."


class AlreadyFriends(Conflict):
    code = "already_friends"
    default_message = "You are already friends."


class BlockedByYou(Conflict):
    code = "blocked_by_you"
    default_message = "You have blocked this account. Unblock it first to send a request."


class FriendCapReached(Conflict):
    code = "friend_cap_reached"

    def __init__(self, whose: str, cap: int) -> None:
        message = (
            f"You have reached the limit of {cap} friends. Remove someone to add more."
            if whose == "yours"
            else "They have reached their limit of friends, so the request cannot be accepted."
        )
        super().__init__(message, details={"whose": whose, "cap": cap})


class LabelExists(Conflict):
    code = "label_exists"
    default_message = "You already have a label with this name."


class LabelLimitReached(Conflict):
    code = "label_limit_reached"

    def __init__(self, cap: int) -> None:
        super().__init__(
            f"You can have at most {cap} labels.", details={"labels_per_account_max": cap}
        )


class MessageTooLong(InvalidInput):
    code = "message_too_long"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"A verification message is at most {limit} characters.",
            details={"field": "message", "max_length": limit},
        )


def account_not_found() -> NotFound:
    """The one answer for an unknown, deleted or hidden account: the three look the same."""
    return NotFound("No account with this handle or id.")


def request_not_found() -> NotFound:
    return NotFound("No such friend request.")


def friend_not_found() -> NotFound:
    return NotFound("This account is not in your friends.")


def label_not_found() -> NotFound:
    return NotFound("No such label.")


# ---- the relationship state machine --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pair:
    """Everything stored about accounts ``a`` (the actor) and ``b`` (the other one).

    ``a_to_b`` / ``b_to_a`` hold the status of the *open* request in that direction (pending or
    ignored), or None; closed requests are history and play no part in the rules.
    """

    friends: bool = False
    a_blocks_b: bool = False
    b_blocks_a: bool = False
    a_to_b: RequestStatus | None = None
    b_to_a: RequestStatus | None = None

    def flipped(self) -> Pair:
        return Pair(self.friends, self.b_blocks_a, self.a_blocks_b, self.b_to_a, self.a_to_b)

    def problems(self) -> list[str]:
        """Invariants a stored pair must satisfy (empty when it is valid)."""
        found = []
        for status in (self.a_to_b, self.b_to_a):
            if status is not None and status not in OPEN_STATUSES:
                found.append(f"request status {status} is not open")
        if self.friends and (self.a_to_b or self.b_to_a):
            found.append("friends with an open request between them")
        if self.friends and (self.a_blocks_b or self.b_blocks_a):
            found.append("friends across a block")
        if (self.a_blocks_b or self.b_blocks_a) and (self.a_to_b or self.b_to_a):
            found.append("open request across a block")
        if self.a_to_b is not None and self.b_to_a is not None:
            found.append("open requests in both directions")
        return found


@dataclass(frozen=True, slots=True)
class Transition:
    pair: Pair
    effect: Effect


@dataclass(frozen=True, slots=True)
class Counts:
    """Friend counts of ``a`` and ``b`` before the operation, and the cap."""

    a_friends: int = 0
    b_friends: int = 0
    cap: int = 10_000


def transition(pair: Pair, op: Op, counts: Counts | None = None) -> Transition:
    """Apply ``op`` by ``a`` to the pair, or raise the error ``a`` should see.

    ACCEPT / DECLINE / IGNORE answer ``b``'s pending request to ``a``; CANCEL withdraws ``a``'s
    open request to ``b``. ``counts`` matters only where a friendship may start.
    """
    return _RULES[op](pair, counts or Counts())


def _request(pair: Pair, counts: Counts) -> Transition:
    if pair.b_blocks_a:
        raise account_not_found()
    if pair.a_blocks_b:
        raise BlockedByYou
    if pair.friends:
        raise AlreadyFriends
    if pair.a_to_b is not None:
        return Transition(pair, Effect.DUPLICATE)
    if counts.a_friends >= counts.cap:
        raise FriendCapReached("yours", counts.cap)
    if pair.b_to_a is not None:
        _check_cap(counts)
        return Transition(replace(pair, friends=True, b_to_a=None), Effect.MUTUAL)
    return Transition(replace(pair, a_to_b=RequestStatus.PENDING), Effect.CREATED)


def _require_pending_from_b(pair: Pair) -> None:
    if pair.b_to_a is not RequestStatus.PENDING or pair.b_blocks_a or pair.a_blocks_b:
        raise request_not_found()


def _accept(pair: Pair, counts: Counts) -> Transition:
    _require_pending_from_b(pair)
    _check_cap(counts)
    return Transition(replace(pair, friends=True, b_to_a=None), Effect.ACCEPTED)


def _decline(pair: Pair, _counts: Counts) -> Transition:
    _require_pending_from_b(pair)
    return Transition(replace(pair, b_to_a=None), Effect.DECLINED)


def _ignore(pair: Pair, _counts: Counts) -> Transition:
    _require_pending_from_b(pair)
    return Transition(replace(pair, b_to_a=RequestStatus.IGNORED), Effect.IGNORED)


def _cancel(pair: Pair, _counts: Counts) -> Transition:
    if pair.a_to_b is None:
        raise request_not_found()
    return Transition(replace(pair, a_to_b=None), Effect.CANCELLED)


def _remove(pair: Pair, _counts: Counts) -> Transition:
    if not pair.friends:
        raise friend_not_found()
    return Transition(replace(pair, friends=False), Effect.REMOVED)


def _block(pair: Pair, _counts: Counts) -> Transition:
    if pair.a_blocks_b:  # what a did themselves reveals nothing about b
        return Transition(pair, Effect.UNCHANGED)
    if pair.b_blocks_a:
        raise account_not_found()
    return Transition(Pair(a_blocks_b=True), Effect.BLOCKED)


def _unblock(pair: Pair, _counts: Counts) -> Transition:
    if not pair.a_blocks_b:
        raise NotFound("You have not blocked this account.")
    return Transition(replace(pair, a_blocks_b=False), Effect.UNBLOCKED)


def _check_cap(counts: Counts) -> None:
    if counts.a_friends >= counts.cap:
        raise FriendCapReached("yours", counts.cap)
    if counts.b_friends >= counts.cap:
        raise FriendCapReached("theirs", counts.cap)


_RULES: dict[Op, Callable[[Pair, Counts], Transition]] = {
    Op.REQUEST: _request,
    Op.ACCEPT: _accept,
    Op.DECLINE: _decline,
    Op.IGNORE: _ignore,
    Op.CANCEL: _cancel,
    Op.REMOVE: _remove,
    Op.BLOCK: _block,
    Op.UNBLOCK: _unblock,
}


def relationship(pair: Pair, *, same: bool = False) -> Relationship:
    """What ``a`` is told about ``b``. Call only when ``b`` is visible to ``a``."""
    if same:
        return Relationship.SELF
    if pair.a_blocks_b:
        return Relationship.BLOCKED_BY_YOU
    if pair.friends:
        return Relationship.FRIEND
    if pair.a_to_b is not None:
        return Relationship.REQUEST_SENT
    if pair.b_to_a is RequestStatus.PENDING:
        return Relationship.REQUEST_RECEIVED
    return Relationship.NONE


def status_seen_by_sender(status: RequestStatus) -> RequestStatus:
    """An ignored request is never revealed to its sender: to them it is still pending."""
    return RequestStatus.PENDING if status is RequestStatus.IGNORED else status


# ---- labels and remarks --------------------------------------------------------------------


def normalize_label_name(raw: str) -> tuple[str, str]:
    """The label name to show and its case-insensitive key, or InvalidInput."""
    name = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not 1 <= len(name) <= LABEL_NAME_MAX:
        raise InvalidInput(
            f"A label name is 1 to {LABEL_NAME_MAX} characters.",
            details={"field": "name", "max_length": LABEL_NAME_MAX},
            code="invalid_label_name",
        )
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise InvalidInput(
            "A label name cannot contain control characters.",
            details={"field": "name"},
            code="invalid_label_name",
        )
    return name, name.casefold()


def normalize_remark(raw: str | None) -> str | None:
    """A remark as stored: trimmed, None when empty."""
    if raw is None:
        return None
    remark = " ".join(unicodedata.normalize("NFKC", raw).split())
    if len(remark) > REMARK_MAX:
        raise InvalidInput(
            f"A remark is at most {REMARK_MAX} characters.",
            details={"field": "remark", "max_length": REMARK_MAX},
        )
    if any(unicodedata.category(c).startswith("C") for c in remark):
        raise InvalidInput(
            "A remark cannot contain control characters.", details={"field": "remark"}
        )
    return remark or None


def normalize_message(raw: str, limit: int) -> str:
    message = unicodedata.normalize("NFC", raw).strip()
    if len(message) > limit:
        raise MessageTooLong(limit)
    return message


# ---- stored records ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FriendRequest:
    id: str
    from_id: str
    to_id: str
    message: str
    status: RequestStatus
    created_at: datetime
    status_changed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Label:
    id: str
    owner_id: str
    name: str
    created_at: datetime
    friend_count: int = 0


@dataclass(frozen=True, slots=True)
class Friendship:
    owner_id: str
    friend_id: str
    remark: str | None
    created_at: datetime
    label_ids: tuple[str, ...] = field(default_factory=tuple)


# ---- I/O schemas ---------------------------------------------------------------------------

_STRICT = ConfigDict(extra="forbid")


class FriendRequestIn(BaseModel):
    model_config = _STRICT
    handle: str | None = Field(default=None, min_length=1, max_length=64)
    account_id: str | None = Field(default=None, min_length=1, max_length=64)
    message: MultiLineText = Field(
        default="",
        max_length=MESSAGE_HARD_MAX,
        description="The verification message the recipient sees (limit set by the server).",
    )

    @model_validator(mode="after")
    def _exactly_one_target(self) -> FriendRequestIn:
        if (self.handle is None) == (self.account_id is None):
            raise ValueError("give exactly one of handle or account_id")
        return self


class AcceptIn(BaseModel):
    model_config = _STRICT
    remark: str | None = Field(default=None, max_length=REMARK_MAX * 2)
    label_ids: list[str] | None = Field(default=None, max_length=500)


class FriendUpdateIn(BaseModel):
    model_config = _STRICT
    remark: str | None = Field(
        default=None,
        max_length=REMARK_MAX * 2,
        description="Your private name for this friend; an empty string clears it.",
    )
    label_ids: list[str] | None = Field(
        default=None, max_length=500, description="The complete set of labels for this friend."
    )


class BlockIn(BaseModel):
    model_config = _STRICT
    account_id: str = Field(min_length=1, max_length=64)


class LabelIn(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1, max_length=LABEL_NAME_MAX * 4)


class LabelOut(BaseModel):
    id: str
    name: str
    friend_count: int
    created_at: datetime

    @classmethod
    def of(cls, label: Label) -> LabelOut:
        return cls(
            id=label.id,
            name=label.name,
            friend_count=label.friend_count,
            created_at=label.created_at,
        )


class FriendRequestOut(BaseModel):
    """A friend request as one of its two parties sees it."""

    model_config = ConfigDict(
        serialize_by_alias=True, validate_by_name=True, validate_by_alias=True
    )

    id: str
    direction: Direction
    from_: PublicProfileOut = Field(alias="from")
    to: PublicProfileOut
    message: str
    status: RequestStatus
    created_at: datetime

    @classmethod
    def of(
        cls,
        request: FriendRequest,
        viewer_id: str,
        sender: PublicProfileOut,
        recipient: PublicProfileOut,
    ) -> FriendRequestOut:
        outgoing = request.from_id == viewer_id
        status = status_seen_by_sender(request.status) if outgoing else request.status
        return cls(
            id=request.id,
            direction=Direction.OUTGOING if outgoing else Direction.INCOMING,
            from_=sender,
            to=recipient,
            message=request.message,
            status=status,
            created_at=request.created_at,
        )


class FriendOut(BaseModel):
    profile: PublicProfileOut
    remark: str | None
    labels: list[LabelOut]
    since: datetime


class BlockOut(BaseModel):
    account_id: str
    profile: PublicProfileOut | None = Field(
        description="None when the account is gone or not visible to you any more."
    )
    blocked_at: datetime


class LookupOut(BaseModel):
    profile: PublicProfileOut
    relationship: Relationship
    request_id: str | None = Field(
        default=None, description="The open request between you, when there is one."
    )
