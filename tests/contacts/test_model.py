"""The pure relationship state machine (``contacts.model.transition``), without I/O."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from courtyard.contacts.model import (
    AlreadyFriends,
    BlockedByYou,
    Counts,
    Effect,
    FriendCapReached,
    Op,
    Pair,
    Relationship,
    RequestStatus,
    normalize_label_name,
    normalize_remark,
    relationship,
    transition,
)
from courtyard.core.errors import CourtyardError, InvalidInput, NotFound

PENDING, IGNORED = RequestStatus.PENDING, RequestStatus.IGNORED


def test_request_then_accept() -> None:
    sent = transition(Pair(), Op.REQUEST)
    assert sent.effect is Effect.CREATED
    assert sent.pair == Pair(a_to_b=PENDING)
    # b answers: seen from b, the request comes from the other side.
    accepted = transition(sent.pair.flipped(), Op.ACCEPT)
    assert accepted.effect is Effect.ACCEPTED
    assert accepted.pair == Pair(friends=True)


def test_mutual_request() -> None:
    t = transition(Pair(b_to_a=IGNORED), Op.REQUEST)
    assert (t.effect, t.pair) == (Effect.MUTUAL, Pair(friends=True))


def test_duplicate_request_changes_nothing() -> None:
    for status in (PENDING, IGNORED):
        t = transition(Pair(a_to_b=status), Op.REQUEST)
        assert (t.effect, t.pair) == (Effect.DUPLICATE, Pair(a_to_b=status))


@pytest.mark.parametrize(
    ("pair", "error"),
    [
        (Pair(b_blocks_a=True), NotFound),
        (Pair(a_blocks_b=True), BlockedByYou),
        (Pair(friends=True), AlreadyFriends),
    ],
)
def test_request_errors(pair: Pair, error: type[CourtyardError]) -> None:
    with pytest.raises(error):
        transition(pair, Op.REQUEST)


def test_cap_says_whose() -> None:
    with pytest.raises(FriendCapReached) as err:
        transition(Pair(), Op.REQUEST, Counts(a_friends=2, b_friends=0, cap=2))
    assert err.value.details["whose"] == "yours"
    # A plain request to someone who is full is allowed (it may be accepted later)...
    assert transition(Pair(), Op.REQUEST, Counts(0, 2, 2)).effect is Effect.CREATED
    # ...but a request that would make friends at once is not.
    with pytest.raises(FriendCapReached) as err:
        transition(Pair(b_to_a=PENDING), Op.REQUEST, Counts(0, 2, 2))
    assert err.value.details["whose"] == "theirs"
    with pytest.raises(FriendCapReached):
        transition(Pair(b_to_a=PENDING), Op.ACCEPT, Counts(2, 0, 2))


def test_only_a_pending_request_can_be_answered() -> None:
    for op in (Op.ACCEPT, Op.DECLINE, Op.IGNORE):
        for pair in (Pair(), Pair(b_to_a=IGNORED), Pair(a_to_b=PENDING)):
            with pytest.raises(NotFound):
                transition(pair, op)


def test_block_clears_everything_and_unblock_restores_nothing() -> None:
    t = transition(Pair(friends=True), Op.BLOCK)
    assert (t.effect, t.pair) == (Effect.BLOCKED, Pair(a_blocks_b=True))
    t = transition(Pair(b_to_a=PENDING), Op.BLOCK)
    assert t.pair == Pair(a_blocks_b=True)
    assert transition(t.pair, Op.BLOCK).effect is Effect.UNCHANGED
    assert transition(t.pair, Op.UNBLOCK).pair == Pair()
    with pytest.raises(NotFound):  # blocking someone who blocked you: they look nonexistent
        transition(Pair(b_blocks_a=True), Op.BLOCK)


def test_relationship_as_the_viewer_may_know_it() -> None:
    assert relationship(Pair(), same=True) is Relationship.SELF
    assert relationship(Pair(a_blocks_b=True)) is Relationship.BLOCKED_BY_YOU
    assert relationship(Pair(friends=True)) is Relationship.FRIEND
    assert relationship(Pair(a_to_b=IGNORED)) is Relationship.REQUEST_SENT
    assert relationship(Pair(b_to_a=PENDING)) is Relationship.REQUEST_RECEIVED
    assert relationship(Pair(b_to_a=IGNORED)) is Relationship.NONE


def test_label_names_and_remarks() -> None:
    assert normalize_label_name("  Ｗork   trips ") == ("Work trips", "work trips")
    assert normalize_label_name("Straße")[1] == "strasse"
    for bad in ("", "   ", "x" * 33, "a\x00b"):
        with pytest.raises(InvalidInput):
            normalize_label_name(bad)
    assert normalize_remark("  ") is None
    assert normalize_remark(None) is None
    with pytest.raises(InvalidInput):
        normalize_remark("r" * 65)


steps = st.lists(
    st.tuples(st.sampled_from(list(Op)), st.booleans(), st.integers(0, 3)), max_size=30
)


@settings(max_examples=300, deadline=None)
@given(steps=steps, cap=st.integers(1, 3))
def test_transitions_keep_every_invariant(steps: list[tuple[Op, bool, int]], cap: int) -> None:
    """From any reachable pair, by either side, every transition yields a valid pair."""
    pair = Pair()
    for op, by_b, others in steps:
        view = pair.flipped() if by_b else pair
        friends = 1 if pair.friends else 0
        counts = Counts(a_friends=min(cap, friends + others), b_friends=friends, cap=cap)
        try:
            t = transition(view, op, counts)
        except CourtyardError:
            continue
        new = t.pair.flipped() if by_b else t.pair
        assert new.problems() == [], (pair, op, by_b, new)
        if t.effect in (Effect.ACCEPTED, Effect.MUTUAL):
            assert counts.a_friends < cap
            assert counts.b_friends < cap
        if new.friends and not pair.friends:
            assert t.effect in (Effect.ACCEPTED, Effect.MUTUAL)
        pair = new
