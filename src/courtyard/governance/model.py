"""Decisions, events and capabilities: the values every write is checked against.

Decisions are values, never booleans: a block or a label carries the rules and reasons behind
it so it can be explained to the person affected and audited later.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from courtyard.core.errors import CapabilityDenied
from courtyard.core.text import MultiLineText, SingleLineText

if TYPE_CHECKING:
    from courtyard.governance.ladder import Bound


class EventKind(StrEnum):
    ACCOUNT_REGISTER = "account.register"
    ACCOUNT_PROFILE = "account.profile"
    ACCOUNT_SECURITY = "account.security"
    CONTACT_REQUEST = "contact.request"
    CONTACT_RESPOND = "contact.respond"
    CONTACT_REMOVE = "contact.remove"
    CONTACT_BLOCK = "contact.block"
    CONTACT_LABEL = "contact.label"
    MESSAGE = "message"  # a message sent (or forwarded) into a conversation
    CONVERSATION = "conversation"  # opening one, read markers, settings, recall, delete-for-me
    ATTACHMENT = "attachment"  # an image or file uploaded to a conversation
    POST = "post"
    COMMENT = "comment"
    ARTICLE = "article"
    PAYMENT = "payment"
    GROUP = "group"


class Verdict(StrEnum):
    """What a rule does, from least to most restrictive (the DSA's restriction types map onto
    these: label → visibility "labelled", friction and reduce_reach → "demoted"/"other",
    hold → "disabled pending review", block → "removed")."""

    ALLOW = "allow"
    LABEL = "label"
    FRICTION = "friction"
    REDUCE_REACH = "reduce_reach"
    HOLD = "hold"
    BLOCK = "block"

    @property
    def rank(self) -> int:
        return _VERDICT_RANK[self]


_VERDICT_RANK = {verdict: rank for rank, verdict in enumerate(Verdict)}


class Mode(StrEnum):
    ENFORCE = "enforce"
    # A shadow rule is evaluated and recorded but changes nothing for the user: how an operator
    # sees what a rule would do on real traffic before it is enforced.
    SHADOW = "shadow"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class PolicyEvent:
    """What an actor is about to do, in the terms rules are written in.

    ``facts`` is filled by the governance service before a rule sees the event: the author's
    account facts and the counters the loaded rules read. Callers leave it empty.
    """

    kind: EventKind
    actor_id: str | None
    subject_type: str
    subject_id: str | None = None
    text: dict[str, str] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RuleHit:
    """One rule that fired, with the signals that made it fire (spans, projections, entries):
    what a statement of reasons is built from."""

    rule_id: str
    policy_clause: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    reason_zh: str = ""
    action: Verdict = Verdict.BLOCK
    mode: Mode = Mode.ENFORCE
    severity: Severity = Severity.MEDIUM
    label: str | None = None
    pack_id: str = ""
    pack_version: int = 0

    def explain(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "policy_clause": self.policy_clause,
            "reason": self.reason,
            "reason_zh": self.reason_zh,
            "action": self.action.value,
            "mode": self.mode.value,
            "severity": self.severity.value,
            "label": self.label,
            "pack_id": self.pack_id,
            "pack_version": self.pack_version,
            "evidence": self.evidence,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's answer. ``verdict`` is the most restrictive enforced action; ``effects``
    holds every enforced action (a message can be labelled *and* get friction);
    ``shadow_hits`` are what shadow rules would have done."""

    verdict: Verdict
    hits: tuple[RuleHit, ...] = ()
    labels: tuple[str, ...] = ()
    decision_id: str | None = None
    shadow_hits: tuple[RuleHit, ...] = ()
    automated: bool = True

    @classmethod
    def allow(cls) -> Decision:
        return _ALLOW

    @classmethod
    def from_hits(
        cls, hits: tuple[RuleHit, ...], shadow_hits: tuple[RuleHit, ...] = ()
    ) -> Decision:
        if not hits and not shadow_hits:
            return _ALLOW
        # The first most restrictive action (max by rank, without a key call per hit).
        verdict, best = Verdict.ALLOW, -1
        for hit in hits:
            rank = _VERDICT_RANK[hit.action]
            if rank > best:
                verdict, best = hit.action, rank
        labels = tuple(dict.fromkeys(hit.label for hit in hits if hit.label))
        return cls(verdict, hits, labels, shadow_hits=shadow_hits)

    @property
    def allowed(self) -> bool:
        return self.verdict is not Verdict.BLOCK

    @property
    def effects(self) -> frozenset[Verdict]:
        return frozenset(hit.action for hit in self.hits)

    @property
    def recorded(self) -> bool:
        """Whether this decision leaves a record: anything but a plain allow."""
        return self.verdict is not Verdict.ALLOW or bool(self.shadow_hits)

    def with_id(self, decision_id: str) -> Decision:
        return replace(self, decision_id=decision_id)

    def explanation(self) -> list[dict[str, Any]]:
        """What the affected user may be shown: the enforced rules, never shadow ones."""
        return [hit.explain() for hit in self.hits]


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
    REPORT = "report"


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
        Capability.REPORT,
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
    """What governance needs to know about an actor to compute capabilities: the account
    row's state and the enforcement ladder's bounds in force (``ladder.Bound``)."""

    account_id: str
    state: AccountState
    state_until: datetime | None = None
    bounds: tuple[Bound, ...] = ()


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
            status = (
                "has a feature limit in force"
                if self.state is AccountState.ACTIVE
                else f"is {self.state.value}"
            )
            raise CapabilityDenied(
                f"Your account {status} and cannot {action} right now. "
                "See your notices for why and how to appeal.",
                details={"capability": capability.value, "account_state": self.state.value},
            )


# Restrictions that end by themselves when ``state_until`` passes; termination and deletion
# are not time-limited.
TIMED_STATES = frozenset({AccountState.LIMITED, AccountState.SUSPENDED})


def effective_state(standing: Standing, now: datetime | None) -> AccountState:
    """The state that applies at ``now``: the strongest of the account row's state (a timed one
    lapses when ``state_until`` passes) and the ladder's bounds active at ``now``."""
    state = standing.state
    if state is AccountState.DELETED:
        return state
    if (
        now is not None
        and state in TIMED_STATES
        and standing.state_until is not None
        and standing.state_until <= now
    ):
        state = AccountState.ACTIVE
    if standing.bounds and now is not None:
        from courtyard.governance.ladder import STATE_SEVERITY, strongest_state

        ladder_state = strongest_state(standing.bounds, now)
        if STATE_SEVERITY[ladder_state] > STATE_SEVERITY[state]:
            state = ladder_state
    return state


def capabilities_for(standing: Standing, *, now: datetime | None = None) -> Capabilities:
    """The capabilities of an account; pass ``now`` so that ended restrictions no longer apply."""
    state = effective_state(standing, now)
    granted = STATE_CAPABILITIES[state]
    if standing.bounds and now is not None:
        from courtyard.governance.ladder import removed_capabilities

        granted = granted - removed_capabilities(standing.bounds, now)
    return Capabilities(account_id=standing.account_id, state=state, granted=granted)


# -- admin API schemas ---------------------------------------------------------------------

_STRICT = ConfigDict(extra="forbid")
PACK_SOURCE_MAX = 2_000_000


class PackSummaryOut(BaseModel):
    pack_id: str
    version: int
    enabled: bool
    in_force: bool
    origin: str
    sha256: str
    created_at: datetime
    created_by: str | None
    note: str | None
    title: str = ""
    rules: int = 0
    lists: int = 0


class PackVersionOut(PackSummaryOut):
    source: str


class PackIn(BaseModel):
    model_config = _STRICT
    source: MultiLineText = Field(min_length=1, max_length=PACK_SOURCE_MAX)
    note: SingleLineText | None = Field(default=None, max_length=500)


class PackEnabledIn(BaseModel):
    model_config = _STRICT
    enabled: bool
    note: SingleLineText | None = Field(default=None, max_length=500)


class PackRevertIn(BaseModel):
    model_config = _STRICT
    version: int = Field(ge=1)
    note: SingleLineText | None = Field(default=None, max_length=500)


class PackCheckIn(BaseModel):
    model_config = _STRICT
    source: MultiLineText = Field(min_length=1, max_length=PACK_SOURCE_MAX)


class ProblemOut(BaseModel):
    line: int | None
    message: str


class PackCheckOut(BaseModel):
    valid: bool
    pack_id: str | None = None
    rules: int = 0
    lists: int = 0
    problems: list[ProblemOut] = []


class SampleEventIn(BaseModel):
    model_config = _STRICT
    kind: EventKind = EventKind.MESSAGE
    text: MultiLineText = Field(default="", max_length=20_000)
    fields: dict[str, MultiLineText] | None = None
    author: dict[str, int | float | bool | str] | None = None
    event: dict[str, int | float | bool | str] | None = None
    content: dict[str, int | float | bool | str] | None = None


class PolicyTestIn(BaseModel):
    model_config = _STRICT
    source: MultiLineText = Field(min_length=1, max_length=PACK_SOURCE_MAX)
    events: list[SampleEventIn] = Field(min_length=1, max_length=1000)


class RuleActivityCountOut(BaseModel):
    action: str
    mode: str
    count: int


class DecisionOut(BaseModel):
    id: str
    decided_at: datetime
    event_kind: str
    actor_id: str | None
    subject_type: str
    subject_id: str | None
    verdict: str
    mode: str
    labels: list[str]
    hits: list[dict[str, Any]]
    automated_detection: bool
    automated_decision: bool
    content_type: str | None = None
    content_id: str | None = None


class RuleActivityOut(BaseModel):
    rule_id: str
    since: datetime
    counts: list[RuleActivityCountOut]
    recent: list[DecisionOut]


class ReachOut(BaseModel):
    content_type: str
    content_id: str
    views: int
    shares: int
    max_hops: int
    labels: list[str]
    friction: bool
    escalated_at: datetime | None
    decision_id: str | None


class CorrectionIn(BaseModel):
    model_config = _STRICT
    text: MultiLineText = Field(min_length=1, max_length=2000)


class CorrectionOut(BaseModel):
    recipients: int
