"""Chats pages through their forms: the conversation list with unread counts, a conversation
with its history and composer (send, idempotent retry, recall), privacy (a non-member gets the
same 404 as a conversation that does not exist), group settings by the owner, an admin and a
plain member, and invitation cards with owner approval."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from courtyard.client import CourtyardClient
from courtyard.container import Services
from courtyard.core.clock import FakeClock
from courtyard.core.ids import new_id
from tests.conftest import PASSWORD, ClientFactory
from tests.web.conftest import Browser, BrowserFactory, csrf_of


def _account_id(page: str, handle: str) -> str:
    match = re.search(r'value="([0-9A-Z]{26})">[^<]*\(@' + handle + r"\)</option>", page)
    assert match, f"@{handle} is not in the friends menu"
    return match.group(1)


def _conversation_id(location: str) -> str:
    match = re.match(r"/chats/([0-9A-Z]{26})", location)
    assert match, location
    return match.group(1)


async def _befriend(a: Browser, b: Browser, b_handle: str) -> None:
    await a.submit("/contacts/add", "/contacts/add", {"handle": b_handle, "message": "hi"})
    incoming = await b.page("/contacts/requests")
    (request_id,) = re.findall(r'id="request-([0-9A-Z]{26})"', incoming)
    accepted = await b.submit("/contacts/requests", f"/contacts/requests/{request_id}/accept")
    assert accepted.status_code == 303


async def _people(browser: BrowserFactory, *handles: str) -> list[Browser]:
    people = []
    for index, handle in enumerate(handles):
        person = browser(ip=f"203.0.113.{80 + index}")
        await person.register(handle, handle.title())
        people.append(person)
    return people


async def _direct(alice: Browser, peer_handle: str) -> str:
    peer_id = _account_id(await alice.page("/chats"), peer_handle)
    opened = await alice.submit("/chats", "/chats/direct", {"account_id": peer_id})
    assert opened.status_code == 303
    return _conversation_id(opened.headers["location"])


async def _send(person: Browser, conversation_id: str, text: str, **extra: str) -> None:
    page = f"/chats/{conversation_id}"
    sent = await person.submit(page, f"{page}/messages", {"text": text, **extra})
    assert sent.status_code == 303, sent.text[:2000]
    assert sent.headers["location"] == f"{page}#composer"


async def test_direct_chat_list_view_send_and_unread(browser: BrowserFactory) -> None:
    alice, bob = await _people(browser, "alice", "bob")
    await _befriend(alice, bob, "bob")

    empty = await alice.page("/chats")
    assert "No conversations yet." in empty
    assert '<a href="/chats" aria-current="page">Chats</a>' in empty  # the main nav
    cid = await _direct(alice, "bob")
    assert cid == await _direct(alice, "bob")  # one direct conversation per pair

    view = await alice.page(f"/chats/{cid}")
    assert "<h1>Bob</h1>" in view
    assert "No messages yet. Say hello." in view
    assert 'aria-live="polite"' in view
    assert 'for="composer-text"' in view
    assert '<script src="/static/chat.js" defer></script>' in view

    await _send(alice, cid, "Hello <Bob> & friends")
    await _send(alice, cid, "Second line\nwith a break", client_id="retry-1")
    await _send(alice, cid, "Second line\nwith a break", client_id="retry-1")  # a retry

    listed = await bob.page("/chats")
    assert f'data-conversation-id="{cid}"' in listed
    assert "Alice" in listed
    assert "2 unread" in listed

    opened = await bob.page(f"/chats/{cid}")
    assert "Hello &lt;Bob&gt; &amp; friends" in opened  # escaped, never markup
    assert opened.count("Second line") == 1  # the retry did not send twice
    assert opened.index("Hello &lt;Bob&gt;") < opened.index("Second line")  # newest at bottom
    read = await bob.page("/chats")
    assert 'data-unread="0"' in read  # opening the conversation read it
    assert "2 unread" not in read

    await _send(bob, cid, "Hi Alice")
    assert "1 unread" in await alice.page("/chats")


async def test_empty_message_is_refused_on_the_page(browser: BrowserFactory) -> None:
    alice, bob = await _people(browser, "alice", "bob")
    await _befriend(alice, bob, "bob")
    cid = await _direct(alice, "bob")
    refused = await alice.submit(f"/chats/{cid}", f"/chats/{cid}/messages", {"text": "   "})
    assert refused.status_code == 422
    assert "empty_message" in refused.text
    assert "A message needs some text." in refused.text


async def test_load_older_pages_back_through_history(browser: BrowserFactory) -> None:
    alice, bob = await _people(browser, "alice", "bob")
    await _befriend(alice, bob, "bob")
    cid = await _direct(alice, "bob")
    for n in range(52):
        await alice.http.post(
            f"/chats/{cid}/messages",
            data={"csrf_token": csrf_of(await alice.page("/chats")), "text": f"message {n:02d}"},
        )
    newest = await bob.page(f"/chats/{cid}")
    assert "message 51" in newest
    assert "message 01" not in newest
    older = re.search(rf'href="/chats/{cid}\?before=(\d+)"', newest)
    assert older, "no link to older messages"
    page = await bob.page(f"/chats/{cid}?before={older.group(1)}")
    assert "message 00" in page
    assert "message 01" in page
    assert "message 51" not in page
    assert "Back to the newest messages" in page


async def test_recall_within_the_window_only(browser: BrowserFactory, clock: FakeClock) -> None:
    alice, bob = await _people(browser, "alice", "bob")
    await _befriend(alice, bob, "bob")
    cid = await _direct(alice, "bob")
    await _send(alice, cid, "oops, wrong chat")
    await _send(alice, cid, "this one stays")
    view = await alice.page(f"/chats/{cid}")
    recall_actions = re.findall(rf'action="(/chats/{cid}/messages/[0-9A-Z]{{26}}/recall)"', view)
    assert len(recall_actions) == 2
    assert "/recall" not in await bob.page(f"/chats/{cid}")  # only the sender may recall

    done = await alice.submit(f"/chats/{cid}", recall_actions[0])
    assert done.headers["location"] == f"/chats/{cid}?done=message_recalled"
    seen = await bob.page(f"/chats/{cid}")
    assert "oops, wrong chat" not in seen
    assert "This message was recalled." in seen

    clock.advance(seconds=600)
    late = await alice.submit(f"/chats/{cid}", recall_actions[1])
    assert late.status_code == 409
    assert "recall_window_passed" in late.text
    assert "this one stays" in await bob.page(f"/chats/{cid}")
    assert "/recall" not in await alice.page(f"/chats/{cid}")  # no longer offered


async def test_a_non_member_gets_404_everywhere(browser: BrowserFactory) -> None:
    alice, bob, carol = await _people(browser, "alice", "bob", "carol")
    await _befriend(alice, bob, "bob")
    cid = await _direct(alice, "bob")
    await _send(alice, cid, "just between us")

    for path in (f"/chats/{cid}", f"/chats/{cid}/settings", "/chats/01ARZ3NDEKTSV4RRFFQ69G5FAV"):
        response = await carol.get(path)
        assert response.status_code == 404, path
        assert "conversation_not_found" in response.text
        assert "just between us" not in response.text
    assert (await carol.get("/chats/not-an-id")).status_code == 404
    token = csrf_of(await carol.page("/chats"))
    sent = await carol.http.post(
        f"/chats/{cid}/messages", data={"csrf_token": token, "text": "let me in"}
    )
    assert sent.status_code == 404
    assert "let me in" not in await alice.page(f"/chats/{cid}")
    assert f"/chats/{cid}" not in await carol.page("/chats")

    # Logged out: to the login page; a form without its CSRF token: refused.
    anonymous = browser(ip="203.0.113.99")
    assert (await anonymous.get("/chats")).headers["location"] == "/login?next=/chats"
    forged = await alice.http.post(f"/chats/{cid}/messages", data={"text": "forged"})
    assert forged.status_code == 403


async def test_group_settings_owner_admin_and_member(browser: BrowserFactory) -> None:
    alice, bob, carol = await _people(browser, "alice", "bob", "carol")
    await _befriend(alice, bob, "bob")
    await _befriend(alice, carol, "carol")
    listing = await alice.page("/chats")
    bob_id, carol_id = _account_id(listing, "bob"), _account_id(listing, "carol")

    no_name = await alice.submit("/chats", "/chats/groups", {"member_ids": [bob_id]})
    assert no_name.status_code == 422
    assert "Give the group a name." in no_name.text
    created = await alice.submit(
        "/chats", "/chats/groups", {"name": "Book club", "member_ids": [bob_id, carol_id]}
    )
    assert created.status_code == 303
    cid = _conversation_id(created.headers["location"])
    assert created.headers["location"].endswith("?done=group_created")
    settings = f"/chats/{cid}/settings"

    owner_page = await alice.page(settings)
    assert "Members (3)" in owner_page
    assert "Dissolve group" in owner_page
    assert "Make admin" in owner_page
    member_page = await carol.page(settings)
    assert "Leave group" in member_page
    assert "Remove from group" not in member_page
    assert "Save group settings" not in member_page

    # A plain member's attempts are refused with the role error, and change nothing.
    refused = await carol.submit(settings, f"/chats/{cid}/members/{bob_id}/remove")
    assert refused.status_code == 403
    assert "not_allowed" in refused.text
    renamed = await carol.submit(settings, f"{settings}/group", {"name": "Carol's club"})
    assert renamed.status_code == 403
    dissolve = await carol.submit(settings, f"/chats/{cid}/dissolve", {"confirm": "on"})
    assert dissolve.status_code == 403

    # The owner renames, sets an announcement and makes Bob an admin.
    saved = await alice.submit(
        settings,
        f"{settings}/group",
        {"name": "Readers", "announcement": "We meet on Fridays.", "owner_approval": "on"},
    )
    assert saved.headers["location"] == f"{settings}?done=group_saved"
    view = await carol.page(f"/chats/{cid}")
    assert "<h1>Readers</h1>" in view
    assert "We meet on Fridays." in view
    promoted = await alice.submit(
        settings, f"/chats/{cid}/members/{bob_id}/role", {"role": "admin"}
    )
    assert promoted.headers["location"] == f"{settings}?done=role_changed"
    assert "Admin" in await alice.page(settings)

    # Bob, an admin, mutes then removes Carol; he may not touch the owner or dissolve.
    admin_page = await bob.page(settings)
    assert "Remove from group" in admin_page
    assert "Make admin" not in admin_page
    assert "Dissolve group" not in admin_page
    muted = await bob.submit(settings, f"/chats/{cid}/members/{carol_id}/mute", {"minutes": "10"})
    assert muted.headers["location"] == f"{settings}?done=member_muted"
    silenced = await carol.submit(f"/chats/{cid}", f"/chats/{cid}/messages", {"text": "hey"})
    assert silenced.status_code == 403
    assert "member_muted" in silenced.text
    removed = await bob.submit(settings, f"/chats/{cid}/members/{carol_id}/remove")
    assert removed.headers["location"] == f"{settings}?done=member_removed"
    assert (await carol.get(f"/chats/{cid}")).status_code == 404
    assert "Members (2)" in await alice.page(settings)
    alice_id = re.search(r'id="member-([0-9A-Z]{26})"', await bob.page(settings))
    assert alice_id
    not_owner = await bob.submit(settings, f"/chats/{cid}/members/{alice_id.group(1)}/remove")
    assert not_owner.status_code == 403

    # Per-member settings: pinned and muted for Bob only.
    mine = await bob.submit(
        settings, f"{settings}/mine", {"pinned": "on", "notifications_muted": "on"}
    )
    assert mine.headers["location"] == f"{settings}?done=settings_saved"
    assert "Pinned" in await bob.page("/chats")
    assert "Pinned" not in await alice.page("/chats")
    nick = await bob.submit(settings, f"{settings}/nickname", {"nickname": "Bobby"})
    assert nick.headers["location"] == f"{settings}?done=nickname_saved"
    assert "Bobby" in await alice.page(settings)

    # The owner cannot leave; Bob can. Then the owner dissolves the group.
    owner_leaves = await alice.submit(settings, f"/chats/{cid}/leave")
    assert owner_leaves.status_code == 409
    assert "owner_cannot_leave" in owner_leaves.text
    left = await bob.submit(settings, f"/chats/{cid}/leave")
    assert left.headers["location"] == "/chats?done=left"
    unconfirmed = await alice.submit(settings, f"/chats/{cid}/dissolve")
    assert unconfirmed.status_code == 422
    ended = await alice.submit(settings, f"/chats/{cid}/dissolve", {"confirm": "on"})
    assert ended.headers["location"] == f"{settings}?done=dissolved"
    closed = await alice.page(f"/chats/{cid}")
    assert "This group was dissolved." in closed
    assert 'id="composer"' not in closed


async def test_invitation_cards_with_owner_approval(browser: BrowserFactory) -> None:
    alice, bob, carol, dave = await _people(browser, "alice", "bob", "carol", "dave")
    for friend, handle in ((bob, "bob"), (carol, "carol")):
        await _befriend(alice, friend, handle)
    await _befriend(bob, dave, "dave")
    listing = await alice.page("/chats")
    created = await alice.submit(
        "/chats",
        "/chats/groups",
        {
            "name": "Hikers",
            "member_ids": [_account_id(listing, "bob"), _account_id(listing, "carol")],
        },
    )
    cid = _conversation_id(created.headers["location"])
    settings = f"/chats/{cid}/settings"
    await alice.submit(settings, f"{settings}/group", {"name": "Hikers", "owner_approval": "on"})

    bob_settings = await bob.page(settings)
    assert "Invite friends" in bob_settings
    dave_id = re.search(r'name="account_ids" value="([0-9A-Z]{26})"> Dave', bob_settings)
    assert dave_id
    invited = await bob.submit(settings, f"/chats/{cid}/invite", {"account_ids": dave_id.group(1)})
    assert invited.headers["location"] == f"{settings}?done=invited"

    # The owner sees who invited whom and approves; Dave joins (a small group needs no card).
    approvals = await alice.page(settings)
    assert "Bob invited Dave" in approvals
    (approval,) = re.findall(r'action="/chats/invitations/([0-9A-Z]{26})/approve"', approvals)
    approved = await alice.submit(
        settings, f"/chats/invitations/{approval}/approve", {"back": settings}
    )
    assert approved.headers["location"] == f"{settings}?done=invitation_approved"
    assert "Bob invited Dave" not in await alice.page(settings)
    assert "Hikers" in await dave.page(f"/chats/{cid}")
    again = await alice.submit(settings, f"/chats/invitations/{approval}/approve")
    assert again.status_code == 404  # no invitation is waiting for approval any more
    assert "invitation_not_found" in again.text


async def test_invitation_card_for_a_large_group(
    browser: BrowserFactory, make_client: ClientFactory
) -> None:
    """Above 40 members an invitee gets a card to accept or decline on the chats page."""

    async def user(handle: str, n: int) -> CourtyardClient:
        client = make_client(ip=f"198.51.100.{n}")
        client.account = (await client.register(handle, PASSWORD))["account"]  # type: ignore[attr-defined]
        return client

    alice = await user("alice", 1)
    friends = [await user(f"member{n:02d}", 10 + n) for n in range(40)]
    dave, erin = await user("dave", 2), await user("erin", 3)
    for friend in [*friends, dave, erin]:
        request = await alice.send_friend_request(account_id=_me(friend)["id"])
        await friend.accept_request(request["id"])
    group = await alice.create_group("Big walk", [_me(f)["id"] for f in friends])
    assert group["member_count"] == 41
    await alice.invite_members(group["id"], [_me(dave)["id"], _me(erin)["id"]])

    dave_page, erin_page = browser(ip="203.0.113.70"), browser(ip="203.0.113.71")
    for page, handle in ((dave_page, "dave"), (erin_page, "erin")):
        login = await page.submit("/login", "/login", {"handle": handle, "password": PASSWORD})
        assert login.status_code == 303
    cards = await dave_page.page("/chats")
    assert "Group invitations" in cards
    assert "invited you · 41 members" in cards
    assert "Big walk" in cards
    (card,) = re.findall(r'action="/chats/invitations/([0-9A-Z]{26})/accept"', cards)
    assert (await dave_page.get(f"/chats/{group['id']}")).status_code == 404  # not yet in
    joined = await dave_page.submit("/chats", f"/chats/invitations/{card}/accept")
    assert joined.headers["location"] == "/chats?done=invitation_accepted"
    done = await dave_page.page("/chats?done=invitation_accepted")
    assert "You joined the group." in done
    assert "Group invitations" not in done
    assert "Big walk" in await dave_page.page(f"/chats/{group['id']}")
    again = await dave_page.submit("/chats", f"/chats/invitations/{card}/accept")
    assert again.status_code == 404
    assert "invitation_not_found" in again.text

    (erins,) = re.findall(
        r'action="/chats/invitations/([0-9A-Z]{26})/decline"', await erin_page.page("/chats")
    )
    declined = await erin_page.submit("/chats", f"/chats/invitations/{erins}/decline")
    assert declined.headers["location"] == "/chats?done=invitation_declined"
    assert "Group invitations" not in await erin_page.page("/chats")
    assert (await erin_page.get(f"/chats/{group['id']}")).status_code == 404


def _me(client: CourtyardClient) -> dict[str, Any]:
    account: dict[str, Any] = client.account  # type: ignore[attr-defined]
    return account


async def test_pages_in_chinese(browser: BrowserFactory) -> None:
    (wang,) = await _people(browser, "wang")
    await wang.get("/lang/zh_CN?next=/chats")
    page = await wang.page("/chats")
    assert "聊天" in page
    assert "Conversations" not in page


async def test_governance_labels_show_with_the_message_in_each_language(
    browser: BrowserFactory,
) -> None:
    alice, bob = await _people(browser, "alice", "bob")
    await _befriend(alice, bob, "bob")
    conversation_id = await _direct(alice, "bob")
    await _send(alice, conversation_id, "兼职日结，稳赚不赔，私聊我")
    await _send(alice, conversation_id, "see you at seven")
    page = await bob.page(f"/chats/{conversation_id}")
    labels = re.findall(r'<p class="governance-label" data-label="([a-z_]+)">([^<]+)</p>', page)
    assert labels == [
        ("possible_scam", "Take care: this message reads like a money or investment scam.")
    ]
    bob.http.headers["accept-language"] = "zh-CN"
    zh = await bob.page(f"/chats/{conversation_id}")
    assert "请注意：此消息看起来像资金或投资诈骗。" in zh


# ---- group moderation ----------------------------------------------------------------------


async def _group(alice: Browser, *handles: str) -> str:
    listing = await alice.page("/chats")
    members = [_account_id(listing, handle) for handle in handles]
    created = await alice.submit(
        "/chats", "/chats/groups", {"name": "Allotment", "member_ids": members}
    )
    return _conversation_id(created.headers["location"])


@pytest.mark.parametrize("settings_overrides", [{"group_invite_accept_threshold": 2}])
async def test_group_rules_on_settings_chat_and_invitation_card(browser: BrowserFactory) -> None:
    alice, bob, carol, dave = await _people(browser, "alice", "bob", "carol", "dave")
    for friend, handle in ((bob, "bob"), (carol, "carol"), (dave, "dave")):
        await _befriend(alice, friend, handle)
    cid = await _group(alice, "bob", "carol")
    settings = f"/chats/{cid}/settings"
    owner_page = await alice.page(settings)
    assert 'id="group-rules"' in owner_page
    assert "Report this group" not in owner_page  # the owner answers for it
    saved = await alice.submit(
        settings,
        f"{settings}/group",
        {"name": "Allotment", "rules": "Share the tools.\r\n<b>No ads</b>."},
    )
    assert saved.headers["location"] == f"{settings}?done=group_saved"
    member_settings = await carol.page(settings)
    assert "Group rules" in member_settings
    assert "&lt;b&gt;No ads&lt;/b&gt;." in member_settings  # escaped, never markup
    assert "Report this group" in member_settings
    assert "Reports about this group" not in member_settings
    view = await carol.page(f"/chats/{cid}")
    assert '<details class="card group-rules" id="group-rules" open>' in view  # just joined
    assert "Share the tools.\n&lt;b&gt;No ads&lt;/b&gt;." in view
    too_long = await alice.submit(settings, f"{settings}/group", {"rules": "x" * 2001})
    assert too_long.status_code == 422

    # Three members is above the threshold: Dave gets a card, and reads the rules on it first.
    dave_id = re.search(r'name="account_ids" value="([0-9A-Z]{26})"> Dave', owner_page)
    assert dave_id
    await alice.submit(settings, f"/chats/{cid}/invite", {"account_ids": dave_id.group(1)})
    card = await dave.page("/chats")
    assert "Group invitations" in card
    assert "Group rules" in card
    assert "Share the tools." in card

    dave.http.headers["accept-language"] = "zh-CN"
    assert "群规" in await dave.page("/chats")


async def test_owner_and_admins_remove_messages_and_read_reports_on_the_pages(
    browser: BrowserFactory,
) -> None:
    alice, bob, carol = await _people(browser, "alice", "bob", "carol")
    for friend, handle in ((bob, "bob"), (carol, "carol")):
        await _befriend(alice, friend, handle)
    cid = await _group(alice, "bob", "carol")
    settings = f"/chats/{cid}/settings"
    listing = await alice.page("/chats")
    bob_id, carol_id = _account_id(listing, "bob"), _account_id(listing, "carol")
    await alice.submit(settings, f"/chats/{cid}/members/{bob_id}/role", {"role": "admin"})
    await _send(alice, cid, "Welcome all")
    await _send(carol, cid, "Cheap watches, DM me")

    # Bob, an admin, may remove Carol's message but not the owner's; Carol removes nothing.
    bob_view = await bob.page(f"/chats/{cid}")
    removable = re.findall(rf'action="/chats/{cid}/messages/([0-9A-Z]{{26}})/remove"', bob_view)
    assert len(removable) == 1
    assert "/remove" not in await carol.page(f"/chats/{cid}")
    (carols,) = removable
    removed = await bob.submit(f"/chats/{cid}", f"/chats/{cid}/messages/{carols}/remove")
    assert removed.headers["location"] == f"/chats/{cid}?done=message_removed"
    seen = await carol.page(f"/chats/{cid}")
    assert "Cheap watches" not in seen
    assert "owner or an admin (Bob)." in seen
    again = await alice.submit(f"/chats/{cid}", f"/chats/{cid}/messages/{carols}/remove")
    assert again.status_code == 409
    assert "message_recalled" in again.text

    # Carol reports the group; the owner and the admin read it without who filed it.
    await _send(alice, cid, "Rules are in the settings")
    report_form = await carol.page(f"/report?target_type=group&target_id={cid}&back={settings}")
    reported = await carol.http.post(
        "/report",
        data={
            "csrf_token": csrf_of(report_form),
            "target_type": "group",
            "target_id": cid,
            "category": "spam",
            "explanation": "Too many ads here.",
            "back": settings,
        },
    )
    assert reported.status_code == 303
    assert 'href="/chats/' + cid + '/reports"' in await alice.page(settings)
    for manager in (alice, bob):
        page = await manager.page(f"/chats/{cid}/reports")
        assert "Reports about this group" in page
        assert "Spam · the whole group" in page
        assert "Too many ads here." in page
        assert "Waiting for a reviewer" in page
        assert "Carol" not in page
        assert carol_id not in page
    assert (await carol.get(f"/chats/{cid}/reports")).status_code == 404
    alice.http.headers["accept-language"] = "zh-CN"
    assert "关于此群的举报" in await alice.page(f"/chats/{cid}/reports")


async def test_a_read_only_group_shows_a_banner_and_no_composer(
    browser: BrowserFactory, services: Services
) -> None:
    alice, bob = await _people(browser, "alice", "bob")
    await _befriend(alice, bob, "bob")
    cid = await _group(alice, "bob")
    await _send(bob, cid, "Before")
    statement = {
        "id": new_id(),
        "starts_at": services.clock.now(),
        "ends_at": services.clock.now() + timedelta(days=1),
        "reason": "Scam <ads> reported by members.",
        "decided_by": None,
    }
    async with services.db.write() as tx:
        await services.due_process.restrictors["group"].restrict(tx, cid, statement)
    view = await bob.page(f"/chats/{cid}")
    assert "This group is read-only" in view
    assert "The platform has made this group read-only until" in view
    assert "Reason: Scam &lt;ads&gt; reported by members." in view
    assert "Before" in view  # reading works
    assert 'id="composer"' not in view
    refused = await bob.submit(f"/chats/{cid}", f"/chats/{cid}/messages", {"text": "hello"})
    assert refused.status_code == 403
    assert "group_read_only" in refused.text
    settings = await alice.page(f"/chats/{cid}/settings")
    assert "This group is read-only" in settings
    rename = await alice.submit(
        f"/chats/{cid}/settings", f"/chats/{cid}/settings/group", {"name": "New name"}
    )
    assert rename.status_code == 403
    bob.http.headers["accept-language"] = "zh-CN"
    assert "此群为只读" in await bob.page(f"/chats/{cid}")
    left = await bob.submit(f"/chats/{cid}/settings", f"/chats/{cid}/leave")
    assert left.headers["location"] == "/chats?done=left"
