"""The enforcement ladder: parsing, Art. 23's prior warning, and the property that every
capability check agrees with the account's enforcement state across any sequence of measures,
appeals and time."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courtyard.accounts.model import OperatorRole
from courtyard.client import ApiError, CourtyardClient
from courtyard.container import Services
from courtyard.core.clock import FakeClock
from courtyard.governance.ladder import (
    DEFAULT_FEATURE_LIMIT,
    DEFAULT_LADDER,
    Ladder,
    LadderError,
    Measure,
    active_strikes,
    parse_duration,
)
from courtyard.governance.model import STATE_CAPABILITIES, AccountState, Capability
from tests.conftest import PASSWORD, ClientFactory, UserFactory


def test_the_default_ladder_parses_and_stops_short_of_termination() -> None:
    ladder = Ladder.parse(DEFAULT_LADDER, timedelta(days=90))
    assert [s.measure for s in ladder.steps] == [
        Measure.WARNING,
        Measure.FEATURE_LIMIT,
        Measure.FEATURE_LIMIT,
        Measure.LIMITED,
        Measure.SUSPENDED,
    ]
    assert ladder.step_for(0, warned_before=False) is None
    step = ladder.step_for(3, warned_before=True)
    assert step is not None
    assert step.duration == timedelta(days=7)
    assert step.removes == DEFAULT_FEATURE_LIMIT
    top = ladder.step_for(12, warned_before=True)
    assert top is not None
    assert top.measure is Measure.SUSPENDED


def test_suspension_without_a_prior_warning_is_a_warning() -> None:
    ladder = Ladder.parse("1:suspended:7d", timedelta(days=90))
    step = ladder.step_for(1, warned_before=False)
    assert step is not None
    assert step.measure is Measure.WARNING
    step = ladder.step_for(1, warned_before=True)
    assert step is not None
    assert step.measure is Measure.SUSPENDED


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "1:terminated",
        "0:warning",
        "1:warning, 1:limited:1d",
        "1:feature_limit",
        "x:warning",
        "1:nonsense",
        "1:limited:7w",
    ],
)
def test_bad_ladders_are_refused(spec: str) -> None:
    with pytest.raises(LadderError):
        Ladder.parse(spec, timedelta(days=1))


def test_durations() -> None:
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("indefinite") is None
    with pytest.raises(LadderError):
        parse_duration("0d")


def test_strikes_expire_and_future_strikes_do_not_count() -> None:
    now = datetime(2026, 1, 10)
    strikes = [
        (datetime(2026, 1, 1), datetime(2026, 1, 5)),
        (datetime(2026, 1, 2), datetime(2026, 2, 1)),
        (datetime(2026, 1, 11), None),
    ]
    assert active_strikes(strikes, now) == 1


# -- the property ------------------------------------------------------------------------------


@dataclass
class _Restriction:
    statement_id: str
    measure: str
    starts: datetime
    ends: datetime | None
    lifted: bool = False


_SEVERITY = {"limited": 1, "suspended": 2, "terminated": 3}
_STATE = {
    0: AccountState.ACTIVE,
    1: AccountState.LIMITED,
    2: AccountState.SUSPENDED,
    3: AccountState.TERMINATED,
}


def expected_capabilities(
    restrictions: list[_Restriction],
    now: datetime,
    appeal_window: timedelta,
    export_window: timedelta,
) -> frozenset[Capability]:
    """The reference model, written from the issue's ladder, not from the implementation."""
    live = [
        r
        for r in restrictions
        if not r.lifted and r.starts <= now and (r.ends is None or now < r.ends)
    ]
    severity = 0
    for r in live:
        if r.measure == "terminated" and now < r.starts + appeal_window:
            severity = max(severity, _SEVERITY["suspended"])  # final only after the window
        else:
            severity = max(severity, _SEVERITY.get(r.measure, 0))
    granted = set(STATE_CAPABILITIES[_STATE[severity]])
    for r in live:
        if r.measure == "feature_limit":
            granted -= DEFAULT_FEATURE_LIMIT
        if r.measure == "terminated" and now >= r.starts + appeal_window + export_window:
            granted.discard(Capability.EXPORT)
    return frozenset(granted)


_accounts = itertools.count(1)


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"session_ttl_days": 3650}  # the property waits for months between steps


_steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("impose"),
            st.sampled_from(["warning", "feature_limit", "limited", "suspended", "terminated"]),
            st.one_of(st.none(), st.integers(min_value=1, max_value=24 * 40)),
        ),
        st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=20), st.none()),
        st.tuples(st.just("wait"), st.integers(min_value=1, max_value=24 * 45), st.none()),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=_steps)
async def test_capabilities_always_agree_with_the_enforcement_state(
    make_user: UserFactory,
    make_client: ClientFactory,
    services: Services,
    clock: FakeClock,
    steps: list[tuple[str, Any, Any]],
) -> None:
    handle = f"user{next(_accounts)}"
    user = await make_user(handle)
    account_id = user.account["id"]  # type: ignore[attr-defined]
    staff_handles = (f"r1{handle}", f"r2{handle}", f"r3{handle}")
    staff = []
    for staff_handle in staff_handles:
        await services.accounts.create_operator(staff_handle, PASSWORD, OperatorRole.REVIEWER)
        client = make_client("198.51.100.20")
        await client.login(staff_handle, PASSWORD)
        staff.append(client)
    # Two to impose (termination needs both), a third to hear appeals: nobody reviews their
    # own decision.
    first, second, third = staff
    window = services.due_process.settings.export_window
    model: list[_Restriction] = []
    warned = False
    path = f"/api/v1/admin/accounts/{account_id}/measures"
    for action, arg, hours in steps:
        if action == "wait":
            clock.advance(seconds=arg * 3600)
        elif action == "impose":
            body = {"measure": arg, "policy_clause": "c#x", "reasons": "r"}
            if hours is not None:
                body["duration_hours"] = hours
            if arg == "suspended" and not warned:  # DSA Art. 23: warn first
                with pytest.raises(ApiError) as refused:
                    await first.request("POST", path, json=body)
                assert refused.value.code == "warning_required"
                continue
            result = await first.request("POST", path, json=body)
            if arg == "terminated":
                result = await second.request(
                    "POST",
                    f"/api/v1/admin/review/items/{result['id']}/decision",
                    json={"outcome": "terminated", "policy_clause": "c#x", "reasons": "r"},
                )
            warned = warned or arg == "warning"
            now = clock.now()
            if arg != "warning":
                ends = None
                if arg in {"feature_limit", "limited", "suspended"}:
                    ends = now + timedelta(hours=hours or 24 * 7)
                notices = await services.due_process.notices(
                    await services.accounts.authenticate(user.token or "")  # type: ignore[arg-type]
                )
                model.append(_Restriction(notices[0]["id"], arg, now, ends))
        elif model:  # reverse one restriction through an appeal heard by the third reviewer
            await _appeal_and_reverse(services, user, third, account_id, model[arg % len(model)])
        now = clock.now()
        expected = expected_capabilities(
            model, now, services.due_process.settings.appeal_window, window
        )
        assert await services.due_process.capabilities_of(account_id) == expected
        # The API's own capability check agrees: reporting needs REPORT, appealing APPEAL.
        standing = await user.request("GET", "/api/v1/standing")
        assert set(standing["capabilities"]) == {c.value for c in expected}


async def _appeal_and_reverse(
    services: Services,
    user: CourtyardClient,
    hearing: CourtyardClient,
    account_id: str,
    target: _Restriction,
) -> None:
    if target.lifted:
        return
    actor = await services.accounts.authenticate(user.token or "")
    assert actor is not None
    notice = await services.due_process.notice(actor, target.statement_id)
    if not notice["can_appeal"]:
        return
    await user.request("POST", f"/api/v1/notices/{target.statement_id}/appeal", json={})
    items = await hearing.request("GET", "/api/v1/admin/review/queue", params={"kind": "appeal"})
    item = next(i for i in items if i["subject_account_id"] == account_id)
    await hearing.request(
        "POST",
        f"/api/v1/admin/review/items/{item['id']}/decision",
        json={"outcome": "reverse", "policy_clause": "c#x", "reasons": "ok"},
    )
    target.lifted = True
