"""Properties of the enforcement ladder's capabilities (pure rules, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from courtyard.core.errors import CapabilityDenied
from courtyard.governance.model import (
    AccountState,
    Capability,
    Standing,
    capabilities_for,
)

LADDER = [
    AccountState.ACTIVE,
    AccountState.LIMITED,
    AccountState.SUSPENDED,
    AccountState.TERMINATED,
    AccountState.DELETED,
]

states = st.sampled_from(list(AccountState))
capabilities = st.sampled_from(list(Capability))
account_ids = st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=26, max_size=26)


def granted(state: AccountState) -> frozenset[Capability]:
    return capabilities_for(Standing("A" * 26, state)).granted


def test_the_ladder_names_every_state() -> None:
    assert set(LADDER) == set(AccountState)


@given(state=states)
def test_each_step_down_the_ladder_only_removes_capabilities(state: AccountState) -> None:
    index = LADDER.index(state)
    for lower in LADDER[index:]:
        assert granted(lower) <= granted(state), (lower, state)
    for higher in LADDER[:index]:
        assert granted(state) <= granted(higher), (state, higher)


def test_active_has_everything_and_deleted_nothing() -> None:
    assert granted(AccountState.ACTIVE) == frozenset(Capability)
    assert granted(AccountState.DELETED) == frozenset()


def test_limited_keeps_reading_money_export_and_appeal() -> None:
    kept = {
        Capability.LOGIN,
        Capability.READ,
        Capability.READ_NOTICES,
        Capability.EXPORT,
        Capability.APPEAL,
        Capability.PAY,
        Capability.RECEIVE,
        Capability.WITHDRAW,
        Capability.MANAGE_SECURITY,
    }
    assert kept <= granted(AccountState.LIMITED)
    assert Capability.EDIT_PROFILE not in granted(AccountState.LIMITED)
    assert Capability.POST not in granted(AccountState.LIMITED)


def test_suspended_keeps_the_ways_out() -> None:
    kept = {
        Capability.LOGIN,
        Capability.EXPORT,
        Capability.WITHDRAW,
        Capability.APPEAL,
        Capability.READ_NOTICES,
    }
    assert kept <= granted(AccountState.SUSPENDED)
    assert Capability.SEND not in granted(AccountState.SUSPENDED)


@pytest.mark.parametrize(
    "state", [AccountState.LIMITED, AccountState.SUSPENDED, AccountState.TERMINATED]
)
def test_every_restricted_account_can_still_leave_and_appeal(state: AccountState) -> None:
    """Due process: whoever is restricted can read why, appeal, and take their data and money."""
    assert {
        Capability.LOGIN,
        Capability.READ_NOTICES,
        Capability.EXPORT,
        Capability.APPEAL,
        Capability.WITHDRAW,
    } <= granted(state)


@given(state=states, capability=capabilities, account_id=account_ids)
def test_require_raises_exactly_when_the_capability_is_missing(
    state: AccountState, capability: Capability, account_id: str
) -> None:
    caps = capabilities_for(Standing(account_id, state))
    assert caps.account_id == account_id
    assert caps.state is state
    assert caps.has(capability) == (capability in caps.granted)
    if caps.has(capability):
        caps.require(capability)
    else:
        with pytest.raises(CapabilityDenied) as err:
            caps.require(capability)
        assert err.value.http_status == 403
        assert err.value.code == "capability_denied"
        assert err.value.details == {"capability": capability.value, "account_state": state.value}


NOW = datetime(2026, 6, 1, tzinfo=UTC)


@given(
    state=st.sampled_from([AccountState.LIMITED, AccountState.SUSPENDED]),
    seconds=st.integers(min_value=-(10**8), max_value=10**8),
)
def test_a_timed_restriction_applies_until_its_end_and_not_after(
    state: AccountState, seconds: int
) -> None:
    until = NOW + timedelta(seconds=seconds)
    caps = capabilities_for(Standing("A" * 26, state, until), now=NOW)
    if until > NOW:
        assert caps.granted == granted(state)
        assert caps.state is state
    else:
        assert caps.granted == granted(AccountState.ACTIVE)
        assert caps.state is AccountState.ACTIVE


@given(
    state=st.sampled_from([AccountState.TERMINATED, AccountState.DELETED]),
    seconds=st.integers(min_value=-(10**8), max_value=10**8),
)
def test_termination_and_deletion_do_not_lapse(state: AccountState, seconds: int) -> None:
    caps = capabilities_for(Standing("A" * 26, state, NOW + timedelta(seconds=seconds)), now=NOW)
    assert caps.granted == granted(state)


@given(state=states)
def test_without_a_time_the_state_applies_as_recorded(state: AccountState) -> None:
    caps = capabilities_for(Standing("A" * 26, state, NOW - timedelta(days=1)))
    assert caps.granted == granted(state)
