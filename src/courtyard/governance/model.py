"""Decisions, events and capabilities: the values every write is checked against.

Decisions are values, never booleans: a block or a label carries the rules and reasons behind
it so it can be explained to the person affected and audited later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from courtyard.core.errors import CapabilityDenied


class EventKind(StrEnum):
    ACCOUNT_REGISTER = "account.register"
    ACCOUNT_PROFILE = "account.profile"
    ACCOUNT_SECURITY = "account.security"
    CONTACT_REQUEST = "contact.request"
    CONTACT_RESPOND = "contact.respond"
    CONTACT_REMOVE = "contact.remove"
    CONTACT_BLOCK = "contact.block"
    CONTACT_LABEL = "contact.label"
    MESSAGE = "message"
    POST = "post"
    COMMENT = "comment"
    ARTICLE = "article"
    PAYMENT = "payment"
    GROUP = "group"


class Verdict(StrEnum):
    ALLOW = "allow"
    LABEL = "label"
    FRICTION = "friction"
    REDUCE_REACH = "reduce_reach"
    HOLD = "hold"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class PolicyEvent:
    """What an actor is about to do, in the terms rules are written in."""

    kind: EventKind
    actor_id: str | None
    subject_type: str
    subject_id: str | None = None
    text: dict[str, str] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RuleHit:
    rule_id: str
    policy_clause: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    hits: tuple[RuleHit, ...] = ()
    labels: tuple[str, ...] = ()
    decision_id: str | None = None

    @classmethod
    def allow(cls) -> Decision:
        return _ALLOW

    @property
    def allowed(self) -> bool:
        return self.verdict is not Verdict.BLOCK

    def explanation(self) -> list[dict[str, Any]]:
        return [
            {
                "rule_id": hit.rule_id,
                "policy_clause": hit.policy_clause,
                "reason": hit.reason,
                "evidence": hit.evidence,
            }
            for hit in self.hits
        ]


_ALLOW = Decision(Verdict.ALLOW)


class Capability(StrEnum):
    """Fine-grained abilities; the enforcement ladder removes them, pillars require them."""

    LOGIN = "login"
    READ = "read"
    READ_NOTICES = "read_notices"
    MANAGE_SECURITY = "manage_security"
    EDIT_PROFILE = "edit_profile"
    ADD_CONTACT = "add_contact"
    MANAGE_CONTACTS = "manage_contacts"
    BLOCK = "block"
    SEND = "send"
    MESSAGE_NON_FRIENDS = "message_non_friends"
    FORWARD = "forward"
    POST = "post"
    COMMENT = "comment"
    CREATE_GROUP = "create_group"
    PAY = "pay"
    RECEIVE = "receive"
    WITHDRAW = "withdraw"
    EXPORT = "export"
    APPEAL = "appeal"


class AccountState(StrEnum):
    ACTIVE = "active"
    LIMITED = "limited"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"
    DELETED = "deleted"


_ALL = frozenset(Capability)
_LIMITED = frozenset(
    {
        Capability.LOGIN,
        Capability.READ,
        Capability.READ_NOTICES,
        Capability.MANAGE_SECURITY,
        Capability.MANAGE_CONTACTS,
        Capability.BLOCK,
        Capability.PAY,
        Capability.RECEIVE,
        Capability.WITHDRAW,
        Capability.EXPORT,
        Capability.APPEAL,
    }
)
_SUSPENDED = frozenset(
    {
        Capability.LOGIN,
        Capability.READ_NOTICES,
        Capability.MANAGE_SECURITY,
        Capability.BLOCK,
        Capability.WITHDRAW,
        Capability.EXPORT,
        Capability.APPEAL,
    }
)
# Even a terminated account can read why, appeal, and leave with its data and its money: the
# platform never holds a person's contacts or balance hostage to a decision.
_TERMINATED = frozenset(
    {
        Capability.LOGIN,
        Capability.READ_NOTICES,
        Capability.EXPORT,
        Capability.APPEAL,
        Capability.WITHDRAW,
    }
)

STATE_CAPABILITIES: dict[AccountState, frozenset[Capability]] = {
    AccountState.ACTIVE: _ALL,
    AccountState.LIMITED: _LIMITED,
    AccountState.SUSPENDED: _SUSPENDED,
    AccountState.TERMINATED: _TERMINATED,
    AccountState.DELETED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Standing:
    """What governance needs to know about an actor to compute capabilities."""

    account_id: str
    state: AccountState
    state_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    account_id: str
    state: AccountState
    granted: frozenset[Capability]

    def has(self, capability: Capability) -> bool:
        return capability in self.granted

    def require(self, capability: Capability) -> None:
        if capability not in self.granted:
            action = capability.value.replace("_", " ")
            raise CapabilityDenied(
                f"Your account is {self.state.value} and cannot {action} right now. "
                "See your notices for why and how to appeal.",
                details={"capability": capability.value, "account_state": self.state.value},
            )


# Restrictions that end by themselves when ``state_until`` passes; termination and deletion
# are not time-limited.
TIMED_STATES = frozenset({AccountState.LIMITED, AccountState.SUSPENDED})


def effective_state(standing: Standing, now: datetime | None) -> AccountState:
    """The state that applies at ``now``: a timed restriction whose end has passed has lapsed."""
    if (
        now is not None
        and standing.state in TIMED_STATES
        and standing.state_until is not None
        and standing.state_until <= now
    ):
        return AccountState.ACTIVE
    return standing.state


def capabilities_for(standing: Standing, *, now: datetime | None = None) -> Capabilities:
    """The capabilities of an account; pass ``now`` so that ended restrictions no longer apply."""
    state = effective_state(standing, now)
    return Capabilities(
        account_id=standing.account_id,
        state=state,
        granted=STATE_CAPABILITIES[state],
    )
