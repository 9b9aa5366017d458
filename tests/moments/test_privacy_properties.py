"""No route reveals a post, comment, like or even a count the rules do not allow.

Hypothesis generates a small social graph, labels, audiences (frozen and following), per-friend
permissions, history windows, likes, comments and replies, then label changes, unfriendings,
deletions and the passing of time. For every account it compares what the feed, each
profile, each post's detail (and its likes, comments and counts), search and notifications
reveal with a reference written here from the issue's rules, independently of
``moments.model``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courtyard.client import ApiError, CourtyardClient
from courtyard.container import Services
from courtyard.core.clock import FakeClock
from tests.chats.conftest import befriend, me
from tests.conftest import UserFactory

PEOPLE = 4  # 0 and 1 post; everyone views
WINDOWS = {"all": None, "3d": timedelta(days=3), "1m": timedelta(days=30)}
_examples = itertools.count()


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"session_ttl_days": 3650}


@dataclass
class _Post:
    id: str
    author: int
    created_at: datetime
    kind: str
    labels: frozenset[int]  # label numbers of the author
    accounts: frozenset[int]
    mode: str
    frozen: frozenset[int]
    deleted: bool = False


@dataclass
class _World:
    friends: set[frozenset[int]] = field(default_factory=set)
    label_members: dict[tuple[int, int], set[int]] = field(default_factory=dict)
    windows: dict[int, str] = field(default_factory=dict)
    perms: dict[tuple[int, int], dict[str, bool]] = field(default_factory=dict)
    posts: list[_Post] = field(default_factory=list)
    likes: dict[str, set[int]] = field(default_factory=dict)
    comments: dict[str, list[tuple[int, str, str | None]]] = field(default_factory=dict)

    def are_friends(self, a: int, b: int) -> bool:
        return a == b or frozenset({a, b}) in self.friends

    def perm(self, owner: int, friend: int, name: str) -> bool:
        return self.perms.get((owner, friend), {}).get(name, False)

    def visible(  # noqa: PLR0911 - one return per rule, as the issue lists them
        self, post: _Post, viewer: int, now: datetime
    ) -> bool:
        if post.deleted:
            return False
        if viewer == post.author:
            return True
        if not self.are_friends(post.author, viewer):
            return False
        if self.perm(post.author, viewer, "hide_my_moments"):
            return False
        if self.perm(post.author, viewer, "chat_only") or self.perm(
            viewer, post.author, "chat_only"
        ):
            return False
        span = WINDOWS[self.windows.get(post.author, "all")]
        if span is not None and post.created_at < now - span:
            return False
        if post.kind == "friends":
            return True
        if post.kind == "private":
            return False
        if post.mode == "frozen":
            in_labels = viewer in post.frozen
        else:
            in_labels = any(
                viewer in self.label_members.get((post.author, n), set()) for n in post.labels
            )
        named = viewer in post.accounts or in_labels
        return named if post.kind == "only" else not named

    def in_feed(self, post: _Post, viewer: int, now: datetime) -> bool:
        if viewer != post.author and self.perm(viewer, post.author, "hide_their_moments"):
            return False
        return self.visible(post, viewer, now)

    def sees_actor(self, post: _Post, viewer: int, actor: int) -> bool:
        return viewer in (post.author, actor) or self.are_friends(viewer, actor)


_audience = st.tuples(
    st.sampled_from(["friends", "private", "only", "only", "except", "except"]),
    st.frozensets(st.integers(0, 1), max_size=2),  # label numbers
    st.frozensets(st.integers(0, PEOPLE - 1), max_size=2),  # named people
    st.sampled_from(["frozen", "follow"]),
)

_scenario = st.fixed_dictionaries(
    {
        "friends": st.sets(
            st.sampled_from(
                [frozenset({a, b}) for a in range(PEOPLE) for b in range(a + 1, PEOPLE)]
            ),
            min_size=2,
        ),
        "labels": st.lists(
            st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, PEOPLE - 1)),
            max_size=4,
        ),  # (author, label number, member)
        "windows": st.dictionaries(st.integers(0, 1), st.sampled_from(sorted(WINDOWS))),
        "perms": st.lists(
            st.tuples(
                st.integers(0, PEOPLE - 1),
                st.integers(0, PEOPLE - 1),
                st.sampled_from(["hide_my_moments", "hide_their_moments", "chat_only"]),
            ),
            max_size=3,
        ),
        "posts": st.lists(
            st.tuples(st.integers(0, 1), _audience, st.integers(0, 5)), min_size=1, max_size=4
        ),  # (author, audience, days later)
        "interactions": st.lists(
            st.tuples(
                st.sampled_from(["like", "comment", "reply"]),
                st.integers(0, PEOPLE - 1),
                st.integers(0, 3),
            ),
            max_size=5,
        ),
        "after": st.lists(
            st.tuples(
                st.sampled_from(["unfriend", "relabel", "relabel", "delete", "wait"]),
                st.integers(0, PEOPLE - 1),
                st.integers(0, PEOPLE - 1),
            ),
            max_size=4,
        ),
    }
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=_scenario)
async def test_every_route_reveals_exactly_what_the_rules_allow(
    make_user: UserFactory, services: Services, clock: FakeClock, scenario: dict[str, Any]
) -> None:
    n = next(_examples)
    people = [await make_user(f"p{n}x{i}") for i in range(PEOPLE)]
    ids = [me(p)["id"] for p in people]
    world = _World()
    label_ids = await _set_up(people, ids, world, scenario)
    for author, audience, days in scenario["posts"]:
        clock.advance(seconds=days * 86400)
        await _post(people, ids, world, label_ids, author, audience, clock.now())
    cursors = [(await p.events(0, limit=1000))["cursor"] for p in people]
    for action, who, which in scenario["interactions"]:
        await _interact(people, world, clock.now(), action, who, which)
        # The stream: each notification it carries was allowed when it was sent.
        for viewer, client in enumerate(people):
            page = await client.events(cursors[viewer], limit=1000)
            cursors[viewer] = page["cursor"]
            for event in page["items"]:
                if event["kind"] == "moments.notification":
                    _check_note(world, viewer, clock.now(), event["data"], ids)
    for action, a, b in scenario["after"]:
        await _change(people, ids, world, label_ids, clock, action, a, b)
    await _check_every_route(people, ids, world, clock.now())


async def _set_up(
    people: list[CourtyardClient], ids: list[str], world: _World, scenario: dict[str, Any]
) -> dict[tuple[int, int], str]:
    """Friendships, two labels for each author, windows and per-friend permissions."""
    for pair in sorted(scenario["friends"], key=sorted):
        a, b = sorted(pair)
        await befriend(people[a], people[b])
        world.friends.add(pair)
    label_ids: dict[tuple[int, int], str] = {}
    for author in (0, 1):
        for number in (0, 1):
            created = await people[author].create_label(f"L{number}")
            label_ids[(author, number)] = created["id"]
            world.label_members[(author, number)] = set()
    await _apply_labels(people, ids, world, label_ids, scenario["labels"])
    for author, window in scenario["windows"].items():
        await people[author].request("PATCH", "/api/v1/moments/settings", json={"window": window})
        world.windows[author] = window
    for owner, friend, name in scenario["perms"]:
        if owner != friend and world.are_friends(owner, friend):
            await people[owner].request(
                "PUT", f"/api/v1/moments/permissions/{ids[friend]}", json={name: True}
            )
            world.perms.setdefault((owner, friend), {})[name] = True
    return label_ids


async def _post(
    people: list[CourtyardClient],
    ids: list[str],
    world: _World,
    label_ids: dict[tuple[int, int], str],
    author: int,
    audience: tuple[str, frozenset[int], frozenset[int], str],
    now: datetime,
) -> None:
    chosen, labels, named, mode = audience
    named_friends = frozenset(p for p in named if p != author and world.are_friends(author, p))
    kind = (
        "friends" if chosen in ("only", "except") and not labels and not named_friends else chosen
    )
    body = {
        "kind": kind,
        "labels": [label_ids[(author, x)] for x in sorted(labels)],
        "accounts": [ids[p] for p in sorted(named_friends)],
        "mode": mode,
    }
    created = await people[author].request(
        "POST",
        "/api/v1/moments/posts",
        json={"text": f"post {len(world.posts)}", "audience": body},
    )
    frozen = frozenset().union(*(world.label_members[(author, x)] for x in labels))
    world.posts.append(
        _Post(created["id"], author, now, kind, frozenset(labels), named_friends, mode, frozen)
    )


async def _change(
    people: list[CourtyardClient],
    ids: list[str],
    world: _World,
    label_ids: dict[tuple[int, int], str],
    clock: FakeClock,
    action: str,
    a: int,
    b: int,
) -> None:
    """What happens after posting: unfriending, relabelling, deleting, time passing."""
    if action == "unfriend" and a != b and world.are_friends(a, b):
        await people[a].remove_friend(ids[b])
        world.friends.discard(frozenset({a, b}))
        for key in list(world.label_members):
            if key[0] in (a, b):
                world.label_members[key] -= {a, b}
    elif action == "relabel" and a % 2 != b and world.are_friends(a % 2, b):
        await _apply_labels(people, ids, world, label_ids, [(a % 2, (a // 2) % 2, b)])
    elif action == "delete" and world.posts:
        post = world.posts[b % len(world.posts)]
        if not post.deleted:
            await people[post.author].request("DELETE", f"/api/v1/moments/posts/{post.id}")
            post.deleted = True
    elif action == "wait":
        clock.advance(seconds=(b + 1) * 86400 * 2)


async def _apply_labels(
    people: list[CourtyardClient],
    ids: list[str],
    world: _World,
    label_ids: dict[tuple[int, int], str],
    changes: list[tuple[int, int, int]],
) -> None:
    for author, number, member in changes:
        if member == author or not world.are_friends(author, member):
            continue
        members = world.label_members[(author, number)]
        members ^= {member}  # toggle
        labels = [
            label_ids[(author, x)] for x in (0, 1) if member in world.label_members[(author, x)]
        ]
        await people[author].update_friend(ids[member], label_ids=labels)


async def _interact(
    people: list[CourtyardClient], world: _World, now: datetime, action: str, who: int, which: int
) -> None:
    if not world.posts:
        return
    post = world.posts[which % len(world.posts)]
    if not world.visible(post, who, now):
        return  # the API refuses: nothing to model
    path = f"/api/v1/moments/posts/{post.id}"
    if action == "like":
        await people[who].request("PUT", f"{path}/like")
        world.likes.setdefault(post.id, set()).add(who)
        return
    reply_to = None
    if action == "reply":
        visible = [c for c in world.comments.get(post.id, []) if world.sees_actor(post, who, c[0])]
        if not visible:
            return
        reply_to = visible[-1][1]
    detail = await people[who].request(
        "POST", f"{path}/comments", json={"text": f"c{who}", "reply_to_id": reply_to}
    )
    mine = [c for c in detail["comments"] if c["author_id"] == me(people[who])["id"]]
    world.comments.setdefault(post.id, []).append((who, mine[-1]["id"], reply_to))


async def _check_every_route(
    people: list[CourtyardClient], ids: list[str], world: _World, now: datetime
) -> None:
    index = {account: i for i, account in enumerate(ids)}
    for viewer, client in enumerate(people):
        expected_feed = [p.id for p in reversed(world.posts) if world.in_feed(p, viewer, now)]
        feed = await client.request("GET", "/api/v1/moments/feed", params={"limit": 50})
        assert [p["id"] for p in feed["items"]] == expected_feed, ("feed", viewer)
        for author in (0, 1):
            profile = await client.request(
                "GET", f"/api/v1/moments/profiles/{ids[author]}", params={"limit": 50}
            )
            expected = [
                p.id
                for p in reversed(world.posts)
                if p.author == author and world.visible(p, viewer, now)
            ]
            assert [p["id"] for p in profile["items"]] == expected, ("profile", viewer, author)
        found = await client.request("GET", "/api/v1/moments/search", params={"q": "post"})
        expected_search = [p.id for p in reversed(world.posts) if world.visible(p, viewer, now)]
        assert [p["id"] for p in found] == expected_search, ("search", viewer)
        for post in world.posts:
            await _check_detail(client, world, post, viewer, now, index)
        await _check_notifications(client, world, viewer, now, index)


async def _check_detail(
    client: CourtyardClient,
    world: _World,
    post: _Post,
    viewer: int,
    now: datetime,
    index: dict[str, int],
) -> None:
    if not world.visible(post, viewer, now):
        with pytest.raises(ApiError) as caught:
            await client.request("GET", f"/api/v1/moments/posts/{post.id}")
        assert caught.value.code == "post_not_found"
        return
    detail = await client.request("GET", f"/api/v1/moments/posts/{post.id}")
    likes = {p for p in world.likes.get(post.id, set()) if world.sees_actor(post, viewer, p)}
    assert {index[a] for a in detail["likes"]} == likes
    assert detail["like_count"] == len(likes)
    shown: list[str] = []
    for author, comment_id, reply_to in world.comments.get(post.id, []):
        if world.sees_actor(post, viewer, author) and (reply_to is None or reply_to in shown):
            shown.append(comment_id)
    assert [c["id"] for c in detail["comments"]] == shown
    assert detail["comment_count"] == len(shown)


def _check_note(
    world: _World, viewer: int, now: datetime, note: dict[str, Any], ids: list[str]
) -> None:
    post = next(p for p in world.posts if p.id == note["post_id"])
    assert world.visible(post, viewer, now), ("notified of an invisible post", note)
    if note["kind"] in ("like", "comment", "reply"):
        actor = ids.index(note["actor_id"])
        assert world.sees_actor(post, viewer, actor), ("notified of a stranger", note)


async def _check_notifications(
    client: CourtyardClient, world: _World, viewer: int, now: datetime, index: dict[str, int]
) -> None:
    posts = {p.id: p for p in world.posts}
    for note in await client.request("GET", "/api/v1/moments/notifications", params={"limit": 100}):
        post = posts[note["post_id"]]
        assert world.visible(post, viewer, now), ("notification about an invisible post", note)
        actor = index[note["actor_id"]]
        if note["kind"] in ("like", "comment", "reply"):
            assert world.sees_actor(post, viewer, actor), ("notification from a stranger", note)
