"""Chats in real browsers against a real server: two people chat in real time (each sees the
other's messages appear without a reload, and their own go from pending to sent over the
socket); and a group of three where the owner makes an admin who removes a member, whose open
page then says so and stops letting her send.

Accounts and friendships are set up through the JSON API (the contacts pages have their own
browser test); everything about chats goes through the pages.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import ConsoleErrors, Shots

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 10_000


class Person:
    """One account made over the API; its session becomes a browser context's cookie."""

    def __init__(self, server_url: str, handle: str, name: str) -> None:
        self.http = httpx.Client(base_url=server_url, timeout=15)
        body = {"handle": handle, "password": PASSWORD, "display_name": name, "accept_terms": True}
        result = self.http.post("/api/v1/accounts", json=body)
        assert result.status_code == 201, result.text
        data: dict[str, Any] = result.json()
        self.id: str = data["account"]["id"]
        self.token: str = data["session"]["token"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def befriend(self, other: Person) -> None:
        sent = self.http.post("/api/v1/contacts/requests", json={"account_id": other.id})
        assert sent.status_code in {200, 201}, sent.text
        accepted = other.http.post(f"/api/v1/contacts/requests/{sent.json()['id']}/accept")
        assert accepted.status_code == 200, accepted.text

    def browse(self, browser: Browser, server_url: str, width: int = 420) -> BrowserContext:
        context = browser.new_context(locale="en-US", viewport={"width": width, "height": 860})
        context.set_default_timeout(TIMEOUT_MS)
        context.add_cookies([{"name": "cy_session", "value": self.token, "url": server_url}])
        return context

    def close(self) -> None:
        self.http.close()


def _live(page: Page) -> None:
    """Wait until chat.js has registered on the event stream."""
    expect(page.locator("html")).to_have_attribute("data-chat-live", "on")


def _mark(page: Page) -> None:
    """Mark the document; the mark survives only as long as the page is not reloaded."""
    page.evaluate("() => { window.__noReload = true; }")


def _not_reloaded(page: Page) -> None:
    assert page.evaluate("() => window.__noReload === true"), "the page was reloaded"


def test_two_people_chat_in_real_time(
    browser: Browser, server_url: str, shots: Shots, console_errors: ConsoleErrors
) -> None:
    suffix = secrets.token_hex(3)
    alice = Person(server_url, f"alice_{suffix}", "Alice")
    bob = Person(server_url, f"bob_{suffix}", "Bob")
    alice.befriend(bob)
    ctx_a = alice.browse(browser, server_url)
    ctx_b = bob.browse(browser, server_url, width=1000)
    try:
        page_a, page_b = ctx_a.new_page(), ctx_b.new_page()
        errors_a, errors_b = console_errors(page_a), console_errors(page_b)

        # Alice opens a chat with Bob from her chats page.
        page_a.goto(server_url + "/chats")
        page_a.get_by_role("navigation", name="Main").get_by_role("link", name="Chats").click()
        page_a.get_by_label("Message a friend").select_option(label=f"Bob (@bob_{suffix})")
        page_a.get_by_role("button", name="Open chat").click()
        expect(page_a.get_by_role("heading", name="Bob", exact=True)).to_be_visible()
        conversation_url = page_a.url
        assert re.search(r"/chats/[0-9A-Z]{26}$", conversation_url)
        _live(page_a)
        shots(page_a, "a-empty-chat")

        # Bob has his list open: Alice's first message shows up as an unread badge there.
        page_b.goto(server_url + "/chats")
        row = page_b.locator("li.conversation").filter(has_text="Alice")
        expect(row).to_be_visible()
        _live(page_b)
        _mark(page_b)
        page_a.get_by_label("Message", exact=True).fill("Hi Bob! Are you coming on Friday?")
        page_a.get_by_role("button", name="Send").click()
        mine = page_a.locator("li.bubble.mine").filter(has_text="Are you coming on Friday?")
        expect(mine.locator(".state")).to_have_text("Sent")
        expect(row.get_by_text("1 unread")).to_be_attached()
        _not_reloaded(page_b)
        shots(page_b, "b-list-unread")

        # Bob opens the conversation; the next messages arrive without a reload both ways.
        row.get_by_role("link", name="Alice").click()
        expect(page_b.get_by_text("Are you coming on Friday?")).to_be_visible()
        _live(page_b)
        _mark(page_b)
        _mark(page_a)
        page_a.get_by_label("Message", exact=True).fill("I'll bring the <b>cake</b>")
        page_a.get_by_label("Message", exact=True).press("Enter")
        theirs = page_b.locator("#messages li.bubble").filter(has_text="I'll bring the <b>cake</b>")
        expect(theirs).to_be_visible()
        expect(theirs.locator(".sender")).to_have_text("Alice")
        assert page_b.locator("#messages b").count() == 0  # text, never markup

        page_b.get_by_label("Message", exact=True).fill("Yes! See you there.")
        page_b.get_by_role("button", name="Send").click()
        expect(
            page_a.locator("#messages li.bubble").filter(has_text="See you there.")
        ).to_be_visible()
        expect(
            page_b.locator("li.bubble.mine").filter(has_text="See you there.").locator(".state")
        ).to_have_text("Sent")
        _not_reloaded(page_a)
        _not_reloaded(page_b)
        assert page_a.locator("#messages li.bubble").count() == 3
        assert page_b.locator("#messages li.bubble").count() == 3
        shots(page_a, "a-chat")
        shots(page_b, "b-chat")

        # Alice recalls her last message; Bob's open page shows the notice in its place.
        last = page_a.locator("li.bubble.mine").filter(has_text="cake")
        last.get_by_role("button", name="Recall").click()
        expect(page_a.get_by_role("status")).to_contain_text("Message recalled.")
        recalled = page_b.locator("#messages li.bubble.recalled")
        expect(recalled).to_have_text(re.compile("This message was recalled."))
        expect(page_b.get_by_text("I'll bring the")).to_have_count(0)

        # After a reload the history is the same, newest at the bottom.
        page_b.reload()
        texts = page_b.locator("#messages li.bubble .text").all_inner_texts()
        assert texts == [
            "Hi Bob! Are you coming on Friday?",
            "This message was recalled.",
            "Yes! See you there.",
        ]
        assert errors_a == []
        assert errors_b == []
    finally:
        ctx_a.close()
        ctx_b.close()
        alice.close()
        bob.close()


def test_an_admin_removes_a_member_who_sees_it_live(
    browser: Browser, server_url: str, shots: Shots, console_errors: ConsoleErrors
) -> None:
    suffix = secrets.token_hex(3)
    alice = Person(server_url, f"owner_{suffix}", "Alice")
    bob = Person(server_url, f"admin_{suffix}", "Bob")
    carol = Person(server_url, f"member_{suffix}", "Carol")
    alice.befriend(bob)
    alice.befriend(carol)
    contexts = [p.browse(browser, server_url) for p in (alice, bob, carol)]
    try:
        page_a, page_b, page_c = (c.new_page() for c in contexts)
        errors = [console_errors(p) for p in (page_a, page_b, page_c)]

        # Alice starts the group from her chats page.
        page_a.goto(server_url + "/chats")
        page_a.get_by_text("New group").click()
        page_a.get_by_label("Group name").fill("Trail crew")
        page_a.get_by_label("Bob").check()
        page_a.get_by_label("Carol").check()
        page_a.get_by_role("button", name="Create group").click()
        expect(page_a.get_by_role("heading", name="Trail crew")).to_be_visible()
        expect(page_a.get_by_role("status")).to_contain_text("Group created.")
        group_url = page_a.url.split("?")[0]

        # She makes Bob an admin in the group settings.
        page_a.get_by_role("link", name="Group settings").click()
        bob_row = page_a.locator("li.member").filter(has_text="Bob")
        bob_row.get_by_text("Manage").click()
        bob_row.get_by_role("button", name="Make admin").click()
        expect(page_a.get_by_role("status")).to_contain_text("Role changed.")
        expect(page_a.locator("li.member").filter(has_text="Bob")).to_contain_text("Admin")
        shots(page_a, "a-settings")

        # Carol has the group open and says hello; everyone sees it.
        page_c.goto(group_url)
        _live(page_c)
        _mark(page_c)
        page_c.get_by_label("Message", exact=True).fill("Hello crew")
        page_c.get_by_role("button", name="Send").click()
        expect(
            page_c.locator("li.bubble.mine").filter(has_text="Hello crew").locator(".state")
        ).to_have_text("Sent")

        # Bob, the admin, removes Carol through the settings page.
        page_b.goto(group_url + "/settings")
        expect(page_b.get_by_role("button", name="Dissolve group")).to_have_count(0)
        carol_row = page_b.locator("li.member").filter(has_text="Carol")
        carol_row.get_by_text("Manage").click()
        carol_row.get_by_role("button", name=re.compile("Remove from group")).click()
        expect(page_b.get_by_role("status")).to_contain_text("Member removed.")
        expect(page_b.locator("li.member").filter(has_text="Carol")).to_have_count(0)
        expect(page_b.get_by_role("heading", name="Members (2)")).to_be_visible()
        shots(page_b, "b-removed-carol")

        # Carol's open page says so at once and no longer lets her send.
        expect(page_c.get_by_role("alert")).to_contain_text("You were removed from this group.")
        expect(page_c.get_by_label("Message", exact=True)).to_be_disabled()
        expect(page_c.get_by_role("button", name="Send")).to_be_disabled()
        _not_reloaded(page_c)
        shots(page_c, "c-removed")
        page_c.reload()
        expect(page_c.get_by_role("heading", name="No such conversation.")).to_be_visible()
        assert "Hello crew" not in page_c.content()
        for page_errors in errors[:2]:
            assert page_errors == []
        # Carol's reload of a conversation she left is a 404 page: only that may be logged.
        assert all("404" in e for e in errors[2]), errors[2]
    finally:
        for context in contexts:
            context.close()
        for person in (alice, bob, carol):
            person.close()
