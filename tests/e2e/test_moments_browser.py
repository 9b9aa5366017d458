"""Moments in real browsers against a real server: Alice posts to a label that holds only Bob.
The composer's check panel counts one person before she posts; Bob sees the post and likes it
in place; Carol, also Alice's friend, sees nothing of it, and its address is a not-found page.

Accounts, friendships and the label are set up through the JSON API (the contacts pages have
their own browser test); everything about Moments goes through the pages.
"""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.conftest import ConsoleErrors, Shots
from tests.e2e.test_chats_browser import Person

pytestmark = pytest.mark.e2e


def _label(owner: Person, name: str, *members: Person) -> str:
    created = owner.http.post("/api/v1/contacts/labels", json={"name": name})
    assert created.status_code == 201, created.text
    label_id: str = created.json()["id"]
    for member in members:
        tagged = owner.http.patch(
            f"/api/v1/contacts/friends/{member.id}", json={"label_ids": [label_id]}
        )
        assert tagged.status_code == 200, tagged.text
    return label_id


def _post(page: Page, text: str) -> Locator:
    return page.locator("article.post").filter(has_text=text)


def test_a_post_to_a_label_is_seen_by_one_friend_and_not_another(
    browser: Browser, server_url: str, shots: Shots, console_errors: ConsoleErrors
) -> None:
    suffix = secrets.token_hex(3)
    alice = Person(server_url, f"alice_{suffix}", "Alice")
    bob = Person(server_url, f"bob_{suffix}", "Bob")
    carol = Person(server_url, f"carol_{suffix}", "Carol")
    alice.befriend(bob)
    alice.befriend(carol)
    _label(alice, "Close friends", bob)
    contexts = [
        alice.browse(browser, server_url),
        bob.browse(browser, server_url, width=1000),
        carol.browse(browser, server_url),
    ]
    try:
        page_a, page_b, page_c = (c.new_page() for c in contexts)
        errors = [console_errors(p) for p in (page_a, page_b, page_c)]

        # Alice opens Moments from the main navigation and starts a post.
        page_a.goto(server_url + "/chats")
        page_a.get_by_role("navigation", name="Main").get_by_role("link", name="Moments").click()
        expect(page_a.get_by_role("heading", name="Moments", exact=True)).to_be_visible()
        page_a.get_by_role("link", name="New post").first.click()
        panel = page_a.locator("#check-panel")
        expect(panel).to_contain_text("People who will see this post: 2")
        text = f"Dinner at mine on Saturday {suffix}"
        page_a.get_by_label("What would you like to share?").fill(text)

        # The picker: "only these", then the label; the panel follows each change.
        label_box = page_a.get_by_role("checkbox", name=re.compile(r"^Close friends"))
        expect(label_box).to_be_hidden()  # the choices appear with "only" / "all except"
        page_a.get_by_role("radio", name="Only these labels and friends").check()
        expect(panel).to_contain_text("Choose at least one label or friend")
        label_box.check()
        expect(panel).to_contain_text("People who will see this post: 1")
        expect(panel).to_contain_text("Labels included: Close friends")
        expect(panel).to_contain_text("The labels are fixed")
        page_a.get_by_role("radio", name="Follow the labels").check()
        expect(panel).to_contain_text("The labels are followed")
        page_a.get_by_role("radio", name="Keep the people in the labels now").check()
        expect(panel).to_contain_text("The labels are fixed")
        shots(page_a, "a-composer")

        page_a.get_by_role("button", name="Publish", exact=True).click()
        expect(page_a.get_by_role("status")).to_contain_text("Posted to Moments.")
        mine = _post(page_a, text)
        expect(mine).to_contain_text("Shared with: Only Close friends")
        href = mine.locator(".post-head a.meta").get_attribute("href")
        assert href is not None
        post_url = server_url + href
        assert re.search(r"/moments/posts/[0-9A-Z]{26}$", post_url)
        shots(page_a, "a-feed")

        # Bob sees it and likes it without leaving the feed.
        page_b.goto(server_url + "/moments")
        theirs = _post(page_b, text)
        expect(theirs).to_be_visible()
        expect(theirs).not_to_contain_text("Shared with")
        page_b.evaluate("() => { window.__noReload = true; }")
        theirs.get_by_role("button", name="Like").click()
        liked = _post(page_b, text)
        expect(liked.get_by_role("button", name="Like")).to_have_attribute("aria-pressed", "true")
        expect(liked.locator(".likes")).to_contain_text("Bob")
        assert page_b.evaluate("() => window.__noReload === true"), "the page was reloaded"
        shots(page_b, "b-feed-liked")

        # Carol sees nothing of it, and the post's address is the not-found page.
        page_c.goto(server_url + "/moments")
        expect(page_c.get_by_role("heading", name="Moments", exact=True)).to_be_visible()
        expect(page_c.get_by_text(text)).to_have_count(0)
        shots(page_c, "c-feed")
        response = page_c.goto(post_url)
        assert response is not None
        assert response.status == 404
        expect(page_c.get_by_role("heading", name="No such post.")).to_be_visible()
        expect(page_c.get_by_text(text)).to_have_count(0)
        shots(page_c, "c-not-found")

        # Alice sees Bob's like on her post, and previews her Moments as each of them.
        page_a.goto(post_url)
        expect(_post(page_a, text).locator(".likes")).to_contain_text("Bob")
        shots(page_a, "a-post")
        page_a.goto(server_url + "/moments/settings")
        page_a.get_by_label("Preview my Moments as").select_option(label=f"Carol (@carol_{suffix})")
        page_a.get_by_role("button", name="Preview", exact=True).click()
        expect(page_a.get_by_text("Carol cannot see any of your posts.")).to_be_visible()
        page_a.get_by_label("Preview my Moments as").select_option(label=f"Bob (@bob_{suffix})")
        page_a.get_by_role("button", name="Preview", exact=True).click()
        expect(_post(page_a, text)).to_be_visible()
        expect(_post(page_a, text).get_by_role("button", name="Like")).to_have_count(0)
        shots(page_a, "a-preview-as-bob")

        assert errors == [[], [], []]
    finally:
        for context in contexts:
            context.close()
        for person in (alice, bob, carol):
            person.close()
