"""Moments through the API: audiences, frozen and following labels, windows, per-friend
permissions, likes and comments seen only between friends, notifications, the check before
posting and "preview as"."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from courtyard.client import ApiError, CourtyardClient
from courtyard.container import Services
from courtyard.core.clock import FakeClock
from courtyard.governance.model import AccountState
from tests.accounts._helpers import set_state
from tests.chats.conftest import befriend, me
from tests.conftest import UserFactory


async def post(client: CourtyardClient, text: str, **audience: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"text": text}
    if audience:
        body["audience"] = audience
    result: dict[str, Any] = await client.request("POST", "/api/v1/moments/posts", json=body)
    return result


async def feed_texts(client: CourtyardClient) -> list[str]:
    page = await client.request("GET", "/api/v1/moments/feed")
    return [p["text"] for p in page["items"]]


async def label(client: CourtyardClient, name: str, members: list[CourtyardClient]) -> str:
    created = await client.create_label(name)
    for member in members:
        await client.update_friend(me(member)["id"], label_ids=[created["id"]])
    return str(created["id"])


async def friends(make_user: UserFactory, *handles: str) -> list[CourtyardClient]:
    alice = await make_user("alice")
    others = [await make_user(h) for h in handles]
    for other in others:
        await befriend(alice, other)
    return [alice, *others]


async def test_audiences_decide_who_sees_a_post_by_every_route(make_user: UserFactory) -> None:
    alice, bob, cara, dan = await friends(make_user, "bob", "cara", "dan")
    eve = await make_user("eve")  # not a friend
    work = await label(alice, "Work", [bob])
    await post(alice, "for everyone")
    await post(alice, "only me", kind="private")
    await post(alice, "only work", kind="only", labels=[work])
    await post(alice, "all but work", kind="except", labels=[work])
    await post(alice, "only cara", kind="only", accounts=[me(cara)["id"]])
    assert await feed_texts(bob) == ["only work", "for everyone"]
    assert await feed_texts(cara) == ["only cara", "all but work", "for everyone"]
    assert await feed_texts(dan) == ["all but work", "for everyone"]
    assert await feed_texts(eve) == []
    assert await feed_texts(alice) == [
        "only cara",
        "all but work",
        "only work",
        "only me",
        "for everyone",
    ]
    profile = await bob.request("GET", f"/api/v1/moments/profiles/{me(alice)['id']}")
    assert [p["text"] for p in profile["items"]] == ["only work", "for everyone"]
    # The detail of a post one may not see is the same 404 as no post at all.
    hidden = (await alice.request("GET", "/api/v1/moments/feed"))["items"][0]
    with pytest.raises(ApiError) as caught:
        await bob.request("GET", f"/api/v1/moments/posts/{hidden['id']}")
    assert caught.value.code == "post_not_found"
    assert [
        p["text"] for p in await dan.request("GET", "/api/v1/moments/search", params={"q": "work"})
    ] == ["all but work"]
    # Only the author learns how a post is shared.
    assert "audience" not in (await bob.request("GET", "/api/v1/moments/feed"))["items"][0]


async def test_a_frozen_label_keeps_its_members_a_following_label_changes_with_it(
    make_user: UserFactory,
) -> None:
    alice, bob, cara = await friends(make_user, "bob", "cara")
    close = await label(alice, "Close", [bob])
    await post(alice, "frozen", kind="only", labels=[close], mode="frozen")
    await post(alice, "follows", kind="only", labels=[close], mode="follow")
    await alice.update_friend(me(cara)["id"], label_ids=[close])
    assert await feed_texts(cara) == ["follows"]
    assert await feed_texts(bob) == ["follows", "frozen"]
    await alice.update_friend(me(bob)["id"], label_ids=[])
    assert await feed_texts(bob) == ["frozen"]


async def test_windows_permissions_and_unfriending_take_effect_at_once(
    make_user: UserFactory, clock: FakeClock
) -> None:
    alice, bob, cara = await friends(make_user, "bob", "cara")
    await post(alice, "old news")
    clock.advance(seconds=4 * 86400)
    await post(alice, "fresh")
    await alice.request("PATCH", "/api/v1/moments/settings", json={"window": "3d"})
    assert await feed_texts(bob) == ["fresh"]
    assert len(await feed_texts(alice)) == 2  # the author always sees everything
    await alice.request(
        "PUT", f"/api/v1/moments/permissions/{me(bob)['id']}", json={"hide_my_moments": True}
    )
    assert await feed_texts(bob) == []
    await cara.request(
        "PUT", f"/api/v1/moments/permissions/{me(alice)['id']}", json={"hide_their_moments": True}
    )
    assert await feed_texts(cara) == []
    # Hiding someone from one's feed still lets one open their profile.
    profile = await cara.request("GET", f"/api/v1/moments/profiles/{me(alice)['id']}")
    assert [p["text"] for p in profile["items"]] == ["fresh"]
    await cara.request(
        "PUT", f"/api/v1/moments/permissions/{me(alice)['id']}", json={"hide_their_moments": False}
    )
    await alice.remove_friend(me(cara)["id"])
    assert await feed_texts(cara) == []


async def test_a_scheduled_audience_change_applies_without_a_job(
    make_user: UserFactory, clock: FakeClock
) -> None:
    alice, bob = await friends(make_user, "bob")
    await alice.request(
        "POST",
        "/api/v1/moments/posts",
        json={
            "text": "later",
            "audience": {"kind": "private"},
            "schedule": [{"after_hours": 48, "audience": {"kind": "friends"}}],
        },
    )
    assert await feed_texts(bob) == []
    clock.advance(seconds=48 * 3600)
    assert await feed_texts(bob) == ["later"]


async def test_likes_and_comments_show_only_between_friends(make_user: UserFactory) -> None:
    alice, bob, cara = await friends(make_user, "bob", "cara")  # bob and cara are strangers
    moment = await post(alice, "dinner")
    await bob.request("PUT", f"/api/v1/moments/posts/{moment['id']}/like")
    await bob.request(
        "POST", f"/api/v1/moments/posts/{moment['id']}/comments", json={"text": "nice"}
    )
    await cara.request("PUT", f"/api/v1/moments/posts/{moment['id']}/like")
    seen_by_cara = await cara.request("GET", f"/api/v1/moments/posts/{moment['id']}")
    assert seen_by_cara["likes"] == [me(cara)["id"]]
    assert seen_by_cara["comments"] == []
    assert (seen_by_cara["like_count"], seen_by_cara["comment_count"]) == (1, 0)
    seen_by_alice = await alice.request("GET", f"/api/v1/moments/posts/{moment['id']}")
    assert seen_by_alice["like_count"] == 2
    assert [c["text"] for c in seen_by_alice["comments"]] == ["nice"]
    # The author replies to bob: cara still sees neither bob's comment nor the reply to it.
    await alice.request(
        "POST",
        f"/api/v1/moments/posts/{moment['id']}/comments",
        json={"text": "thanks", "reply_to_id": seen_by_alice["comments"][0]["id"]},
    )
    assert (await cara.request("GET", f"/api/v1/moments/posts/{moment['id']}"))["comments"] == []
    # Notifications: alice hears of both likes and bob's comment; bob of the reply.
    kinds = [n["kind"] for n in await alice.request("GET", "/api/v1/moments/notifications")]
    assert sorted(kinds) == ["comment", "like", "like"]
    assert [n["kind"] for n in await bob.request("GET", "/api/v1/moments/notifications")] == [
        "reply"
    ]
    # The same notifications reached them live, and nothing reached cara.
    live = [
        e["data"]["kind"]
        for e in (await alice.events(0, limit=100))["items"]
        if e["kind"] == "moments.notification"
    ]
    assert sorted(live) == ["comment", "like", "like"]
    assert not [
        e for e in (await cara.events(0, limit=100))["items"] if e["kind"] == "moments.notification"
    ]


async def test_the_author_removes_a_comment_and_the_commenter_is_told(
    make_user: UserFactory,
) -> None:
    alice, bob = await friends(make_user, "bob")
    moment = await post(alice, "quiet please")
    detail = await bob.request(
        "POST", f"/api/v1/moments/posts/{moment['id']}/comments", json={"text": "loud"}
    )
    comment_id = detail["comments"][0]["id"]
    await alice.request("DELETE", f"/api/v1/moments/posts/{moment['id']}/comments/{comment_id}")
    assert (await bob.request("GET", f"/api/v1/moments/posts/{moment['id']}"))["comments"] == []
    assert [n["kind"] for n in await bob.request("GET", "/api/v1/moments/notifications")] == [
        "comment_removed"
    ]


async def test_comments_close_after_the_days_the_author_chose(
    make_user: UserFactory, clock: FakeClock
) -> None:
    alice, bob = await friends(make_user, "bob")
    moment = await alice.request(
        "POST", "/api/v1/moments/posts", json={"text": "short", "close_comments_after_days": 1}
    )
    clock.advance(seconds=86400)
    with pytest.raises(ApiError) as caught:
        await bob.request(
            "POST", f"/api/v1/moments/posts/{moment['id']}/comments", json={"text": "late"}
        )
    assert caught.value.code == "comments_closed"


async def test_reminders_reach_only_friends_in_the_audience(make_user: UserFactory) -> None:
    alice, bob, cara = await friends(make_user, "bob", "cara")
    await alice.request(
        "POST",
        "/api/v1/moments/posts",
        json={
            "text": "look",
            "audience": {"kind": "only", "accounts": [me(bob)["id"]]},
            "remind": [me(bob)["id"]],
        },
    )
    assert [n["kind"] for n in await bob.request("GET", "/api/v1/moments/notifications")] == [
        "remind"
    ]
    assert await cara.request("GET", "/api/v1/moments/notifications") == []


async def test_the_check_before_posting_counts_warns_and_never_blocks(
    make_user: UserFactory,
) -> None:
    alice, bob, _cara = await friends(make_user, "bob", "cara")
    work = await label(alice, "Work", [bob])
    await alice.request("PATCH", "/api/v1/moments/settings", json={"sensitive_labels": [work]})
    result = await alice.request(
        "POST",
        "/api/v1/moments/check",
        json={"text": "call me on 13812345678", "audience": {"kind": "friends"}},
    )
    assert result["audience_count"] == 2
    assert [label["name"] for label in result["labels"]] == ["Work"]
    kinds = [w["kind"] for w in result["warnings"]]
    assert "sensitive_label" in kinds
    assert "personal_data" in kinds
    narrow = await alice.request(
        "POST",
        "/api/v1/moments/check",
        json={"text": "hi", "audience": {"kind": "except", "labels": [work]}},
    )
    assert narrow["audience_count"] == 1
    assert narrow["warnings"] == []


def _jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 10, 10))
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    exif[0x8825] = {1: "N", 2: (1.0, 2.0, 3.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


async def test_images_lose_their_location_and_only_viewers_fetch_them(
    make_user: UserFactory,
) -> None:
    alice, bob = await friends(make_user, "bob")
    eve = await make_user("eve")
    uploaded = await alice.request(
        "POST", "/api/v1/moments/images", files={"image": ("p.jpg", _jpeg_with_gps(), "image/jpeg")}
    )
    assert "gps_location" in uploaded["removed_metadata"]
    check = await alice.request(
        "POST", "/api/v1/moments/check", json={"text": "", "image_ids": [uploaded["id"]]}
    )
    assert [w["kind"] for w in check["warnings"]] == ["image_metadata_removed"]
    moment = await alice.request(
        "POST", "/api/v1/moments/posts", json={"text": "", "image_ids": [uploaded["id"]]}
    )
    data = await bob.request("GET", f"/api/v1/moments/posts/{moment['id']}/images/{uploaded['id']}")
    assert not Image.open(io.BytesIO(data)).getexif()
    with pytest.raises(ApiError) as caught:
        await eve.request("GET", f"/api/v1/moments/posts/{moment['id']}/images/{uploaded['id']}")
    assert caught.value.status == 404


async def test_preview_as_shows_the_author_what_a_friend_sees(make_user: UserFactory) -> None:
    alice, bob, cara = await friends(make_user, "bob", "cara")
    await post(alice, "everyone")
    await post(alice, "cara only", kind="only", accounts=[me(cara)["id"]])
    as_bob = await alice.request("GET", f"/api/v1/moments/preview/{me(bob)['id']}")
    as_cara = await alice.request("GET", f"/api/v1/moments/preview/{me(cara)['id']}")
    assert [p["text"] for p in as_bob["items"]] == ["everyone"]
    assert [p["text"] for p in as_cara["items"]] == ["cara only", "everyone"]


async def test_edits_are_marked_and_a_limited_account_reads_but_cannot_post(
    make_user: UserFactory, services: Services
) -> None:
    alice, bob = await friends(make_user, "bob")
    moment = await post(alice, "typo")
    edited = await alice.request(
        "PATCH", f"/api/v1/moments/posts/{moment['id']}", json={"text": "fixed"}
    )
    assert edited["edited"] is True
    await set_state(services, me(bob)["id"], AccountState.LIMITED)
    assert await feed_texts(bob) == ["fixed"]
    for method, path, body in (
        ("POST", "/api/v1/moments/posts", {"text": "x"}),
        ("PUT", f"/api/v1/moments/posts/{moment['id']}/like", None),
        ("POST", f"/api/v1/moments/posts/{moment['id']}/comments", {"text": "x"}),
    ):
        with pytest.raises(ApiError) as caught:
            await bob.request(method, path, json=body)
        assert caught.value.code == "capability_denied"


async def test_a_retry_with_the_same_client_id_posts_once(make_user: UserFactory) -> None:
    alice, bob = await friends(make_user, "bob")
    body = {"text": "once", "client_id": "c1"}
    first = await alice.request("POST", "/api/v1/moments/posts", json=body)
    second = await alice.request("POST", "/api/v1/moments/posts", json=body)
    assert first["id"] == second["id"]
    assert await feed_texts(bob) == ["once"]


async def test_a_shrunk_audience_applies_at_once_and_reminders_need_the_audience(
    make_user: UserFactory,
) -> None:
    alice, bob, cara = await friends(make_user, "bob", "cara")
    moment = await post(alice, "party")
    assert await feed_texts(cara) == ["party"]
    await bob.request("PUT", f"/api/v1/moments/posts/{moment['id']}/like")
    changed = await alice.request(
        "PUT",
        f"/api/v1/moments/posts/{moment['id']}/audience",
        json={"audience": {"kind": "only", "accounts": [me(bob)["id"]]}},
    )
    assert changed["audience"]["kind"] == "only"
    assert await feed_texts(cara) == []
    assert await feed_texts(bob) == ["party"]
    with pytest.raises(ApiError) as caught:
        await alice.request(
            "POST",
            "/api/v1/moments/posts",
            json={
                "text": "secret",
                "audience": {"kind": "only", "accounts": [me(bob)["id"]]},
                "remind": [me(cara)["id"]],
            },
        )
    assert caught.value.details == {"field": "remind", "account_id": me(cara)["id"]}


async def test_a_held_post_is_shown_only_to_its_author_and_published_on_approval(
    make_user: UserFactory, make_client: Any, services: Services
) -> None:
    from tests.governance.test_due_process import _Words, decide, queue, reviewer

    alice, bob = await friends(make_user, "bob")
    services.governance.policy = _Words()
    with pytest.raises(ApiError) as caught:
        await post(alice, "a suspicious offer")
    assert caught.value.code == "policy_held"
    [pending] = await alice.request("GET", "/api/v1/moments/pending")
    assert (pending["text"], pending["status"]) == ("a suspicious offer", "held")
    assert pending["statement_id"] == caught.value.details["statement_id"]
    assert await bob.request("GET", "/api/v1/moments/pending") == []
    assert await feed_texts(bob) == []
    staff = await reviewer(services, make_client)
    [item] = await queue(staff, "hold")
    await decide(staff, item["id"], "approve")
    assert await feed_texts(bob) == ["a suspicious offer"]
    assert await alice.request("GET", "/api/v1/moments/pending") == []


async def test_empty_settings_and_permission_updates_change_nothing(make_user: UserFactory) -> None:
    alice, bob = await friends(make_user, "bob")
    for _ in range(2):  # the second time, the rows exist
        settings = await alice.request("PATCH", "/api/v1/moments/settings", json={})
        assert settings == {"window": "all", "sensitive_labels": []}
        permissions = await alice.request(
            "PUT", f"/api/v1/moments/permissions/{me(bob)['id']}", json={}
        )
        assert permissions == {
            "hide_my_moments": False,
            "hide_their_moments": False,
            "chat_only": False,
        }


async def test_the_author_reads_permissions_and_their_unposted_images(
    make_user: UserFactory,
) -> None:
    alice, bob = await friends(make_user, "bob")
    await alice.request(
        "PUT", f"/api/v1/moments/permissions/{me(bob)['id']}", json={"chat_only": True}
    )
    assert await alice.request("GET", "/api/v1/moments/permissions") == {
        me(bob)["id"]: {"hide_my_moments": False, "hide_their_moments": False, "chat_only": True}
    }
    uploaded = await alice.request(
        "POST", "/api/v1/moments/images", files={"image": ("p.jpg", _jpeg_with_gps(), "image/jpeg")}
    )
    thumb = await alice.request(
        "GET", f"/api/v1/moments/images/{uploaded['id']}", params={"thumb": "true"}
    )
    assert Image.open(io.BytesIO(thumb)).size[0] <= 360
    with pytest.raises(ApiError) as caught:
        await bob.request("GET", f"/api/v1/moments/images/{uploaded['id']}")
    assert caught.value.status == 404
