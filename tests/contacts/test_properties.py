"""Property-based tests of the contacts service against a simple pure model of the rules.

Each example registers fresh users (unique handles, so examples never see each other's data)
and runs a random sequence of operations through ``ContactsService``. After every step the
outcome must match the model, the stored state must match the model, the invariants must hold,
and a blocked user must see nothing of the blocker.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import select

from courtyard.accounts.model import Actor
from courtyard.accounts.service import ClientInfo
from courtyard.contacts import store as contacts_store
from courtyard.contacts.model import Direction
from courtyard.container import Services
from courtyard.core.errors import CourtyardError, NotFound
from courtyard.core.media import sanitize_square_image

CAP = 2
_examples = itertools.count()


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"friend_cap": CAP}


# ---- the model -----------------------------------------------------------------------------


@dataclass
class World:
    """What the rules say the state is, written as plainly as possible."""

    n: int
    friends: set[frozenset[int]] = field(default_factory=set)
    blocks: set[tuple[int, int]] = field(default_factory=set)
    open: dict[tuple[int, int], str] = field(default_factory=dict)  # (from, to) → status
    last_id: dict[tuple[int, int], str] = field(default_factory=dict)

    def are_friends(self, i: int, j: int) -> bool:
        return frozenset((i, j)) in self.friends

    def count(self, i: int) -> int:
        return sum(1 for pair in self.friends if i in pair)

    def blocked_either_way(self, i: int, j: int) -> bool:
        return (i, j) in self.blocks or (j, i) in self.blocks

    def expect(self, op: str, i: int, j: int) -> str | None:
        """Apply op by i towards j; return the expected error code, or None on success."""
        rule: Any = getattr(self, f"_{op}")
        result: str | None = rule(i, j)
        return result

    def _request(self, i: int, j: int) -> str | None:
        if (j, i) in self.blocks:
            return "not_found"  # the blocker looks like an account that does not exist
        if (i, j) in self.blocks:
            return "blocked_by_you"
        if self.are_friends(i, j):
            return "already_friends"
        if (i, j) in self.open:
            return None  # the open one is returned
        return self._new_request(i, j)

    def _new_request(self, i: int, j: int) -> str | None:
        if self.count(i) >= CAP:
            return "friend_cap_reached"
        if (j, i) in self.open:  # they asked first: friends at once
            if self.count(j) >= CAP:
                return "friend_cap_reached"
            del self.open[(j, i)]
            self.friends.add(frozenset((i, j)))
            return None
        self.open[(i, j)] = "pending"
        return None

    def _answerable(self, i: int, j: int) -> bool:
        return self.open.get((j, i)) == "pending"

    def _accept(self, i: int, j: int) -> str | None:
        if not self._answerable(i, j):
            return "not_found"
        if self.count(i) >= CAP or self.count(j) >= CAP:
            return "friend_cap_reached"
        del self.open[(j, i)]
        self.friends.add(frozenset((i, j)))
        return None

    def _decline(self, i: int, j: int) -> str | None:
        if not self._answerable(i, j):
            return "not_found"
        del self.open[(j, i)]
        return None

    def _ignore(self, i: int, j: int) -> str | None:
        if not self._answerable(i, j):
            return "not_found"
        self.open[(j, i)] = "ignored"
        return None

    def _cancel(self, i: int, j: int) -> str | None:
        if (i, j) not in self.open:
            return "not_found"
        del self.open[(i, j)]
        return None

    def _remove(self, i: int, j: int) -> str | None:
        if not self.are_friends(i, j):
            return "not_found"
        self.friends.discard(frozenset((i, j)))
        return None

    def _block(self, i: int, j: int) -> str | None:
        if (i, j) in self.blocks:
            return None
        if (j, i) in self.blocks:
            return "not_found"
        self.blocks.add((i, j))
        self.friends.discard(frozenset((i, j)))
        self.open.pop((i, j), None)
        self.open.pop((j, i), None)
        return None

    def _unblock(self, i: int, j: int) -> str | None:
        if (i, j) not in self.blocks:
            return "not_found"
        self.blocks.discard((i, j))
        return None

    def relationship(self, i: int, j: int) -> str:
        if (i, j) in self.blocks:
            return "blocked_by_you"
        if self.are_friends(i, j):
            return "friend"
        if (i, j) in self.open:
            return "request_sent"
        if self.open.get((j, i)) == "pending":
            return "request_received"
        return "none"


# ---- driving the service -------------------------------------------------------------------


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 40), (20, 120, 200)).save(out, format="PNG")
    return out.getvalue()


PNG = _png()
UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


async def make_actors(services: Services, n: int, *, avatars: bool) -> list[Actor]:
    example = next(_examples)
    actors = []
    for i in range(n):
        _account, session = await services.accounts.do_register(
            f"p{example}u{i}", f"User {i}", "not-a-real-hash", None, ClientInfo(None, None)
        )
        actor = await services.accounts.authenticate(session.token)
        assert actor is not None
        if avatars:
            await services.accounts.check_set_avatar(actor, PNG)
            actor = await services.accounts.authenticate(session.token)
            assert actor is not None
        actors.append(actor)
    return actors


async def run_op(
    services: Services, world: World, actors: list[Actor], op: str, i: int, j: int
) -> None:
    contacts = services.contacts
    a, b = actors[i], actors[j]
    expected = world.expect(op, i, j)  # mutates the model
    try:
        if op == "request":
            result = await contacts.check_send_request(a, account_id=b.id, message=f"hi {j}")
            world.last_id[(i, j)] = result.id
        elif op in ("accept", "decline", "ignore"):
            request_id = world.last_id.get((j, i), UNKNOWN_ID)
            check = {
                "accept": contacts.check_accept_request,
                "decline": contacts.check_decline_request,
                "ignore": contacts.check_ignore_request,
            }[op]
            await check(a, request_id)
        elif op == "cancel":
            await contacts.check_cancel_request(a, world.last_id.get((i, j), UNKNOWN_ID))
        elif op == "remove":
            await contacts.check_remove_friend(a, b.id)
        elif op == "block":
            await contacts.check_block(a, b.id)
        elif op == "unblock":
            await contacts.check_unblock(a, b.id)
    except CourtyardError as exc:
        got: str | None = exc.code
    else:
        got = None
    assert got == expected, (op, i, j, got, expected)


async def stored_state(services: Services, actors: list[Actor]) -> dict[str, Any]:
    index = {actor.id: n for n, actor in enumerate(actors)}
    ids = list(index)
    friendships = contacts_store.friendships.c
    requests = contacts_store.contact_requests.c
    blocks = contacts_store.contact_blocks.c
    async with services.db.read() as conn:
        friend_rows = (
            await conn.execute(
                select(friendships.owner_id, friendships.friend_id).where(
                    friendships.owner_id.in_(ids)
                )
            )
        ).all()
        open_rows = (
            await conn.execute(
                select(requests.from_id, requests.to_id, requests.status).where(
                    requests.from_id.in_(ids), requests.status.in_(["pending", "ignored"])
                )
            )
        ).all()
        block_rows = (
            await conn.execute(
                select(blocks.blocker_id, blocks.blocked_id).where(blocks.blocker_id.in_(ids))
            )
        ).all()
    return {
        "friend_rows": [(index[r.owner_id], index[r.friend_id]) for r in friend_rows],
        "open_rows": [(index[r.from_id], index[r.to_id], r.status) for r in open_rows],
        "blocks": {(index[r.blocker_id], index[r.blocked_id]) for r in block_rows},
    }


def check_state(world: World, state: dict[str, Any]) -> None:
    friend_rows: list[tuple[int, int]] = state["friend_rows"]
    open_rows: list[tuple[int, int, str]] = state["open_rows"]
    # Invariants, independent of the model.
    assert len(set(friend_rows)) == len(friend_rows)
    assert all((j, i) in friend_rows for i, j in friend_rows), "friendship is symmetric"
    pairs = [(i, j) for i, j, _ in open_rows]
    assert len(set(pairs)) == len(pairs), "at most one open request per ordered pair"
    assert not any((j, i) in pairs for i, j in pairs), "never open requests both ways"
    friend_pairs = {frozenset(p) for p in friend_rows}
    assert not any(frozenset(p) in friend_pairs for p in pairs), "no request between friends"
    for i, j in state["blocks"]:
        assert frozenset((i, j)) not in friend_pairs, "never friends across a block"
        assert (i, j) not in pairs, "no request across a block"
        assert (j, i) not in pairs, "no request across a block"
    for n in range(world.n):
        assert sum(1 for owner, _ in friend_rows if owner == n) <= CAP
    # And the model.
    assert friend_pairs == world.friends
    assert {(i, j): s for i, j, s in open_rows} == world.open
    assert state["blocks"] == world.blocks


async def check_visibility(
    services: Services, world: World, actors: list[Actor], avatar: bytes
) -> None:
    contacts = services.contacts
    listed: dict[int, set[str]] = {}
    for n, actor in enumerate(actors):
        friends = await contacts.list_friends(actor)
        incoming = await contacts.list_requests(actor, Direction.INCOMING)
        outgoing = await contacts.list_requests(actor, Direction.OUTGOING)
        seen = {f.profile.id for f in friends.items}
        seen |= {r.from_.id for r in incoming.items} | {r.to.id for r in outgoing.items}
        listed[n] = seen
        assert {f.profile.id for f in friends.items} == {
            actors[m].id for m in range(world.n) if world.are_friends(n, m)
        }
    for i, viewer in enumerate(actors):
        for j, other in enumerate(actors):
            if i == j:
                continue
            if (j, i) in world.blocks:  # j blocked i: j must not exist for i
                assert other.id not in listed[i]
                for probe in (
                    contacts.lookup(viewer, other.account.handle),
                    contacts.public_profile(viewer, other.id),
                    contacts.avatar(viewer, other.id),
                    contacts.check_send_request(viewer, account_id=other.id, message=""),
                    contacts.check_send_request(viewer, handle=other.account.handle, message=""),
                ):
                    with pytest.raises(NotFound):
                        await probe
            else:
                found = await contacts.lookup(viewer, other.account.handle)
                assert found.relationship.value == world.relationship(i, j)
                assert (await contacts.public_profile(viewer, other.id)).id == other.id
                assert await contacts.avatar(viewer, other.id) == avatar


OPS = ["request", "accept", "decline", "ignore", "cancel", "remove", "block", "unblock"]


def op_lists(n: int, weights: dict[str, int], max_size: int) -> st.SearchStrategy[Any]:
    ops = [op for op in OPS for _ in range(weights.get(op, 1))]
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    return st.lists(st.tuples(st.sampled_from(ops), st.sampled_from(pairs)), max_size=max_size)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=op_lists(3, {"request": 3, "accept": 2, "block": 2, "unblock": 2}, max_size=10))
async def test_blocking_hides_the_blocker(
    services: Services, steps: list[tuple[str, tuple[int, int]]]
) -> None:
    actors = await make_actors(services, 3, avatars=True)
    cfg = services.settings
    avatar = sanitize_square_image(
        PNG, size=cfg.avatar_size_px, max_bytes=cfg.avatar_max_bytes
    ).data
    world = World(3)
    for op, (i, j) in steps:
        await run_op(services, world, actors, op, i, j)
        check_state(world, await stored_state(services, actors))
        await check_visibility(services, world, actors, avatar)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=op_lists(4, {"request": 4, "accept": 3}, max_size=25))
async def test_request_state_machine_stays_valid(
    services: Services, steps: list[tuple[str, tuple[int, int]]]
) -> None:
    actors = await make_actors(services, 4, avatars=False)
    world = World(4)
    for op, (i, j) in steps:
        await run_op(services, world, actors, op, i, j)
        check_state(world, await stored_state(services, actors))
