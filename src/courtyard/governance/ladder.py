"""The enforcement ladder: what a measure does to an account, and which measure comes next.

Pure rules, no I/O. An account's restrictions are *bounds*: each removes capabilities (or sets
an account state) from a start to an end or indefinitely. Capabilities are computed from the
bounds active at the moment of the check, so a seven-day suspension inside a thirty-day limited
mode ends by itself into limited mode, with no job to run at the boundary, and a reversal that
lifts one bound leaves the others exactly as they were.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from courtyard.governance.model import AccountState, Capability


class Measure(StrEnum):
    """What was done, in Courtyard's terms: a superset of the DSA's restriction types."""

    # Content
    BLOCK = "block"  # never published; kept for its author and for an appeal
    HOLD = "hold"  # visible only to its author until a reviewer decides
    REMOVE = "remove"  # taken down after it was published
    REDUCE_REACH = "reduce_reach"  # kept out of discovery and recommendations
    # Account
    WARNING = "warning"
    FEATURE_LIMIT = "feature_limit"
    LIMITED = "limited"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"
    # Money and groups
    PAYMENT_HOLD = "payment_hold"
    GROUP_READ_ONLY = "group_read_only"

    @property
    def restricts_account(self) -> bool:
        return self in ACCOUNT_MEASURES


ACCOUNT_MEASURES = frozenset(
    {Measure.FEATURE_LIMIT, Measure.LIMITED, Measure.SUSPENDED, Measure.TERMINATED}
)
CONTENT_MEASURES = frozenset({Measure.BLOCK, Measure.HOLD, Measure.REMOVE, Measure.REDUCE_REACH})

MEASURE_STATE: dict[Measure, AccountState] = {
    Measure.LIMITED: AccountState.LIMITED,
    Measure.SUSPENDED: AccountState.SUSPENDED,
    Measure.TERMINATED: AccountState.TERMINATED,
}

# What "feature limits" take away unless a step names its own: the abilities that spread
# content or reach strangers, while the person keeps talking with their friends.
DEFAULT_FEATURE_LIMIT = frozenset(
    {
        Capability.CREATE_GROUP,
        Capability.POST,
        Capability.FORWARD,
        Capability.MESSAGE_NON_FRIENDS,
    }
)

STATE_SEVERITY: dict[AccountState, int] = {
    AccountState.ACTIVE: 0,
    AccountState.LIMITED: 1,
    AccountState.SUSPENDED: 2,
    AccountState.TERMINATED: 3,
    AccountState.DELETED: 4,
}


@dataclass(frozen=True, slots=True)
class Bound:
    """One restriction in force on an account, as the capability check sees it."""

    restriction_id: str
    state: AccountState | None
    removes: frozenset[Capability]
    starts_at: datetime
    ends_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now and (self.ends_at is None or now < self.ends_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.restriction_id,
            "state": self.state.value if self.state else None,
            "removes": sorted(c.value for c in self.removes),
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Bound:
        return cls(
            restriction_id=str(data["id"]),
            state=AccountState(data["state"]) if data.get("state") else None,
            removes=frozenset(Capability(c) for c in data.get("removes", ())),
            starts_at=datetime.fromisoformat(data["starts_at"]),
            ends_at=datetime.fromisoformat(data["ends_at"]) if data.get("ends_at") else None,
        )


def bounds_from_json(data: Any) -> tuple[Bound, ...]:
    if not data:
        return ()
    return tuple(Bound.from_json(item) for item in data)


def strongest_state(bounds: Iterable[Bound], now: datetime) -> AccountState:
    state = AccountState.ACTIVE
    for bound in bounds:
        if (
            bound.state is not None
            and bound.active(now)
            and STATE_SEVERITY[bound.state] > STATE_SEVERITY[state]
        ):
            state = bound.state
    return state


def removed_capabilities(bounds: Iterable[Bound], now: datetime) -> frozenset[Capability]:
    removed: set[Capability] = set()
    for bound in bounds:
        if bound.removes and bound.active(now):
            removed |= bound.removes
    return frozenset(removed)


def headline(bounds: Sequence[Bound], now: datetime) -> tuple[AccountState, datetime | None]:
    """The state to show on the account row and the moment it ends (None: indefinite or
    nothing in force). Capability checks never rely on it: they read every bound."""
    state = strongest_state(bounds, now)
    if state is AccountState.ACTIVE:
        return state, None
    ends = [b.ends_at for b in bounds if b.state is state and b.active(now)]
    if any(end is None for end in ends):
        return state, None
    return state, max(end for end in ends if end is not None)


# -- the ladder ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One rung: the measure an account gets when its active strikes reach ``strikes``."""

    strikes: int
    measure: Measure
    duration: timedelta | None = None
    removes: frozenset[Capability] = frozenset()

    def describe(self) -> str:
        span = f" for {_format_duration(self.duration)}" if self.duration else ""
        return f"{self.measure.value}{span}"


class LadderError(ValueError):
    pass


_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


def parse_duration(text: str) -> timedelta | None:
    """``30m``, ``12h``, ``7d``; ``indefinite`` is None."""
    text = text.strip().lower()
    if text in {"indefinite", "forever", ""}:
        return None
    unit = _UNITS.get(text[-1:])
    if unit is None or not text[:-1].isdigit() or int(text[:-1]) <= 0:
        raise LadderError(f"bad duration {text!r}: use e.g. 30m, 12h, 7d or indefinite")
    return unit * int(text[:-1])


def _format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for suffix, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{suffix}"
    return f"{seconds}s"


@dataclass(frozen=True, slots=True)
class Ladder:
    """The escalation rules: strikes expire after ``strike_ttl``; each confirmed violation adds
    one; the highest step whose threshold the active strikes reach applies.

    Automatic steps stop at suspension: termination is only ever decided by two reviewers.
    Suspension needs a prior warning (DSA Art. 23): without one, the step is a warning.
    """

    steps: tuple[Step, ...]
    strike_ttl: timedelta

    @classmethod
    def parse(cls, spec: str, strike_ttl: timedelta) -> Ladder:
        """``1:warning, 2:feature_limit:1d, 3:feature_limit:7d, 4:limited:7d, 5:suspended:30d``"""
        steps: list[Step] = []
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            fields = part.split(":")
            if len(fields) not in (2, 3) or not fields[0].strip().isdigit():
                raise LadderError(f"bad ladder step {part!r}: use STRIKES:MEASURE[:DURATION]")
            strikes = int(fields[0])
            try:
                measure = Measure(fields[1].strip())
            except ValueError:
                raise LadderError(
                    f"unknown measure {fields[1]!r} in ladder step {part!r}"
                ) from None
            if measure not in {Measure.WARNING, *ACCOUNT_MEASURES} - {Measure.TERMINATED}:
                raise LadderError(
                    f"ladder step {part!r}: automatic steps are warning, feature_limit, limited"
                    " or suspended (termination needs two reviewers)"
                )
            duration = parse_duration(fields[2]) if len(fields) == 3 else None
            if measure is Measure.FEATURE_LIMIT and duration is None:
                raise LadderError(f"ladder step {part!r}: a feature limit needs a duration")
            removes = DEFAULT_FEATURE_LIMIT if measure is Measure.FEATURE_LIMIT else frozenset()
            steps.append(Step(strikes, measure, duration, removes))
        ordered = tuple(sorted(steps, key=lambda s: s.strikes))
        if not ordered or ordered[0].strikes < 1:
            raise LadderError("a ladder needs at least one step, from 1 strike")
        if len({s.strikes for s in ordered}) != len(ordered):
            raise LadderError("two ladder steps have the same strike count")
        return cls(ordered, strike_ttl)

    def step_for(self, active_strikes: int, *, warned_before: bool) -> Step | None:
        chosen: Step | None = None
        for step in self.steps:
            if step.strikes <= active_strikes:
                chosen = step
        if chosen is None:
            return None
        if chosen.measure is Measure.SUSPENDED and not warned_before:
            return Step(chosen.strikes, Measure.WARNING)
        return chosen

    def describe(self) -> str:
        return ", ".join(f"{s.strikes}:{s.describe()}" for s in self.steps)


DEFAULT_LADDER = "1:warning, 2:feature_limit:1d, 3:feature_limit:7d, 4:limited:7d, 5:suspended:30d"


def active_strikes(strike_times: Iterable[tuple[datetime, datetime | None]], now: datetime) -> int:
    """Strikes given at or before ``now`` that have not expired nor been voided."""
    return sum(
        1
        for given_at, expires_at in strike_times
        if given_at <= now and (expires_at is None or now < expires_at)
    )


def bound_for(
    restriction_id: str,
    measure: Measure,
    starts_at: datetime,
    ends_at: datetime | None,
    removes: frozenset[Capability] = frozenset(),
) -> Bound | None:
    """The bound an account measure puts on capabilities; None for measures that are not
    account restrictions (a warning, content measures, a payment hold)."""
    if measure is Measure.FEATURE_LIMIT:
        return Bound(restriction_id, None, removes or DEFAULT_FEATURE_LIMIT, starts_at, ends_at)
    state = MEASURE_STATE.get(measure)
    if state is None:
        return None
    return Bound(restriction_id, state, frozenset(), starts_at, ends_at)
