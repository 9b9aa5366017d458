"""Contacts pages through their forms: requests with a verification message, accept with a
remark and labels (plain and htmx), decline, ignore, cancel, labels, block and unblock."""

from __future__ import annotations

import re

from tests.web.conftest import Browser, BrowserFactory


async def _pair(browser: BrowserFactory) -> tuple[Browser, Browser]:
    alice, bob = browser(ip="203.0.113.61"), browser(ip="203.0.113.62")
    await alice.register("alice", "Alice")
    await bob.register("bob", "Bob")
    return alice, bob


def _request_ids(page: str) -> list[str]:
    return re.findall(r'id="request-([0-9A-Z]{26})"', page)


def _label_ids(page: str) -> dict[str, str]:
    return {
        name: label_id
        for label_id, name in re.findall(r'/contacts\?label=([0-9A-Z]{26})"[^>]*>([^<]+?) <', page)
    }


async def test_find_send_accept_then_both_are_friends(browser: BrowserFactory) -> None:
    alice, bob = await _pair(browser)

    found = await alice.page("/contacts/add?handle=BOB")
    assert "@bob" in found
    assert "Hi, I am Alice." in found  # a friendly default message
    sent = await alice.submit(
        "/contacts/add?handle=bob",
        "/contacts/add",
        {"handle": "bob", "message": "Alice from the book club"},
    )
    assert (sent.status_code, sent.headers["location"]) == (
        303,
        "/contacts/requests?notice=request_sent",
    )
    outgoing = await alice.page("/contacts/requests")
    assert "Alice from the book club" in outgoing
    assert "Cancel request" in outgoing
    again = await alice.page("/contacts/add?handle=bob")
    assert "Your request is waiting for their answer." in again

    incoming = await bob.page("/contacts/requests")
    assert "Alice from the book club" in incoming
    assert "@alice" in incoming
    (request_id,) = _request_ids(incoming)

    bob_labels = await bob.submit("/contacts", "/contacts/labels", {"name": "Book club"})
    assert bob_labels.headers["location"] == "/contacts?notice=label_created"
    label_id = _label_ids(await bob.page("/contacts"))["Book club"]

    accepted = await bob.submit(
        "/contacts/requests",
        f"/contacts/requests/{request_id}/accept",
        {"remark": "Alice (club)", "label_ids": label_id},
    )
    assert accepted.headers["location"] == "/contacts/requests?notice=request_accepted"

    bob_friends = await bob.page("/contacts")
    assert "Alice (club)" in bob_friends
    assert "@alice" in bob_friends
    assert '<span class="tag">Book club</span>' in bob_friends
    filtered = await bob.page(f"/contacts?label={label_id}")
    assert "Alice (club)" in filtered
    alice_friends = await alice.page("/contacts")
    assert "@bob" in alice_friends
    assert "You are already friends." in await alice.page("/contacts/add?handle=bob")


async def test_htmx_accept_returns_the_row_fragment(browser: BrowserFactory) -> None:
    alice, bob = await _pair(browser)
    await alice.submit("/contacts/add", "/contacts/add", {"handle": "bob", "message": "hello"})
    (request_id,) = _request_ids(await bob.page("/contacts/requests"))
    response = await bob.submit(
        "/contacts/requests", f"/contacts/requests/{request_id}/accept", htmx=True
    )
    assert response.status_code == 200
    assert f'id="request-{request_id}"' in response.text
    assert "You are now friends." in response.text
    assert "<html" not in response.text

    # Answering twice: the error goes to the page's message area, not into the row.
    again = await bob.submit(
        "/contacts/requests", f"/contacts/requests/{request_id}/decline", htmx=True
    )
    assert again.status_code == 404
    assert again.headers["HX-Retarget"] == "#flash"
    assert "not_found" in again.text


async def test_decline_ignore_and_cancel(browser: BrowserFactory) -> None:
    alice, bob = await _pair(browser)
    carol = browser(ip="203.0.113.63")
    await carol.register("carol", "Carol")
    dave = browser(ip="203.0.113.64")
    await dave.register("dave", "Dave")
    for sender, text in ((alice, "from alice"), (carol, "from carol"), (dave, "from dave")):
        await sender.submit("/contacts/add", "/contacts/add", {"handle": "bob", "message": text})

    page = await bob.page("/contacts/requests")
    ids = dict(zip(["dave", "carol", "alice"], _request_ids(page), strict=True))
    declined = await bob.submit("/contacts/requests", f"/contacts/requests/{ids['alice']}/decline")
    assert declined.headers["location"] == "/contacts/requests?notice=request_declined"
    ignored = await bob.submit(
        "/contacts/requests", f"/contacts/requests/{ids['carol']}/ignore", htmx=True
    )
    assert "Request ignored." in ignored.text
    page = await bob.page("/contacts/requests")
    assert "from alice" not in page
    assert "from dave" in page

    cancelled = await dave.submit("/contacts/requests", f"/contacts/requests/{ids['dave']}/cancel")
    assert cancelled.headers["location"] == "/contacts/requests?notice=request_cancelled"
    assert "from dave" not in await bob.page("/contacts/requests")
    # Carol is never told she was ignored: her request still looks pending to her.
    assert "Cancel request" in await carol.page("/contacts/requests")


async def test_labels_create_rename_delete_and_edit_a_friend(browser: BrowserFactory) -> None:
    alice, bob = await _pair(browser)
    await alice.submit("/contacts/add", "/contacts/add", {"handle": "bob", "message": ""})
    (request_id,) = _request_ids(await bob.page("/contacts/requests"))
    await bob.submit("/contacts/requests", f"/contacts/requests/{request_id}/accept")

    created = await bob.submit("/contacts", "/contacts/labels", {"name": "Work"}, htmx=True)
    assert created.status_code == 200
    assert 'id="contacts-body"' in created.text
    assert "Label created." in created.text
    label_id = _label_ids(await bob.page("/contacts"))["Work"]

    duplicate = await bob.submit("/contacts", "/contacts/labels", {"name": "work"}, htmx=True)
    assert duplicate.status_code == 409
    assert "label_exists" in duplicate.text

    alice_id = re.findall(r'id="friend-([0-9A-Z]{26})"', await bob.page("/contacts"))[0]
    edited = await bob.submit(
        "/contacts",
        f"/contacts/friends/{alice_id}",
        {"remark": "Ally", "label_ids": label_id},
        htmx=True,
    )
    assert edited.status_code == 200
    assert edited.text.lstrip().startswith(f'<li class="row friend" id="friend-{alice_id}"')
    assert "Ally" in edited.text
    assert '<span class="tag">Work</span>' in edited.text

    renamed = await bob.submit(
        "/contacts", f"/contacts/labels/{label_id}/rename", {"name": "Colleagues"}
    )
    assert renamed.headers["location"] == "/contacts?notice=label_renamed"
    assert '<span class="tag">Colleagues</span>' in await bob.page("/contacts")
    deleted = await bob.submit("/contacts", f"/contacts/labels/{label_id}/delete", htmx=True)
    assert "Label deleted." in deleted.text
    assert "Colleagues" not in await bob.page("/contacts")

    removed = await bob.submit("/contacts", f"/contacts/friends/{alice_id}/remove")
    assert removed.headers["location"] == "/contacts?notice=friend_removed"
    assert "@alice" not in await bob.page("/contacts")


async def test_block_from_the_friends_list_and_unblock(browser: BrowserFactory) -> None:
    alice, bob = await _pair(browser)
    await alice.submit("/contacts/add", "/contacts/add", {"handle": "bob", "message": "hi"})
    (request_id,) = _request_ids(await bob.page("/contacts/requests"))
    await bob.submit("/contacts/requests", f"/contacts/requests/{request_id}/accept")
    alice_id = re.findall(r'id="friend-([0-9A-Z]{26})"', await bob.page("/contacts"))[0]

    blocked = await bob.submit("/contacts", "/contacts/blocked", {"account_id": alice_id})
    assert blocked.headers["location"] == "/contacts/blocked?notice=blocked"
    page = await bob.page("/contacts/blocked")
    assert "@alice" in page
    assert "@alice" not in await bob.page("/contacts")
    # To Alice, Bob now looks like an account that does not exist.
    hidden = await alice.get("/contacts/add?handle=bob")
    assert hidden.status_code == 404
    assert "not_found" in hidden.text
    assert "You have blocked this account." in await bob.page("/contacts/add?handle=alice")

    unblocked = await bob.submit("/contacts/blocked", f"/contacts/blocked/{alice_id}/unblock")
    assert unblocked.headers["location"] == "/contacts/blocked?notice=unblocked"
    assert "You have not blocked anyone." in await bob.page("/contacts/blocked")


async def test_sending_errors_are_inline(browser: BrowserFactory) -> None:
    alice, _bob = await _pair(browser)
    myself = await alice.submit("/contacts/add", "/contacts/add", {"handle": "alice"})
    assert myself.status_code == 422
    assert "cannot_befriend_self" in myself.text
    too_long = await alice.submit(
        "/contacts/add", "/contacts/add", {"handle": "bob", "message": "m" * 1000}
    )
    assert too_long.status_code == 422
    assert "message_too_long" in too_long.text
    assert 'id="f-message-error"' in too_long.text
    nobody = await alice.get("/contacts/add?handle=nobody_here")
    assert nobody.status_code == 404
    assert 'id="f-handle-error"' in nobody.text


async def test_asking_someone_who_already_asked_you_makes_you_friends(
    browser: BrowserFactory,
) -> None:
    alice, bob = await _pair(browser)
    await alice.submit("/contacts/add", "/contacts/add", {"handle": "bob", "message": "hi"})
    found = await bob.page("/contacts/add?handle=alice")
    assert "They have sent you a request." in found
    mutual = await bob.submit("/contacts/add", "/contacts/add", {"handle": "alice"})
    assert mutual.headers["location"] == "/contacts?notice=now_friends"
    assert "@bob" in await alice.page("/contacts")


async def test_contacts_page_links_to_both_downloads(browser: BrowserFactory) -> None:
    alice, bob = await _pair(browser)
    await alice.submit("/contacts/add", "/contacts/add", {"handle": "bob", "message": "hi"})
    await bob.submit("/contacts/add", "/contacts/add", {"handle": "alice"})  # now friends
    page = await bob.page("/contacts")
    assert "Take your contacts with you" in page
    links = re.findall(r'href="(/api/v1/contacts/export\?format=(\w+))" download>', page)
    assert [fmt for _href, fmt in links] == ["vcard", "csv"]
    for href, fmt in links:
        download = await bob.get(href)  # the page's session cookie is enough
        assert download.status_code == 200
        assert download.headers["content-disposition"].startswith("attachment; filename=")
        assert download.headers["content-type"].startswith(
            "text/vcard" if fmt == "vcard" else "text/csv"
        )
        assert "alice" in download.text
    await bob.get("/lang/zh_CN?next=/contacts")
    chinese = await bob.page("/contacts")
    assert "带走你的联系人" in chinese
    assert "下载 vCard（.vcf）" in chinese
    assert "下载 CSV（电子表格）" in chinese
