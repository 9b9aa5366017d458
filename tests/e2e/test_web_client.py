"""Two people in two real browsers: register, find each other by handle, send a request with a
verification message, accept it, and see each other in their friends lists. And the UI in
Chinese for a zh-CN browser."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import ConsoleErrors, Shots

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 10_000


def _register(page: Page, server_url: str, shots: Shots, who: str, handle: str, name: str) -> None:
    page.goto(server_url + "/")
    shots(page, f"{who}-landing")
    page.get_by_role("link", name="Create an account").click()
    expect(page).to_have_url(re.compile(r"/register$"))
    page.get_by_label("Handle", exact=True).fill(handle)
    page.get_by_label("Display name (optional)").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label(re.compile("I accept the terms of service")).check()
    shots(page, f"{who}-register")
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/contacts\?notice=welcome$"))
    expect(page.get_by_role("status")).to_contain_text("Welcome to Courtyard.")
    shots(page, f"{who}-contacts-empty")


def test_two_people_become_friends(
    browser: Browser, server_url: str, shots: Shots, console_errors: ConsoleErrors
) -> None:
    suffix = secrets.token_hex(3)
    alice_handle, bob_handle = f"alice_{suffix}", f"bob_{suffix}"
    message = "Hi Bob, it's Alice from the book club"
    ctx_a = browser.new_context(locale="en-US", viewport={"width": 420, "height": 860})
    ctx_b = browser.new_context(locale="en-GB", viewport={"width": 1100, "height": 800})
    ctx_a.set_default_timeout(TIMEOUT_MS)
    ctx_b.set_default_timeout(TIMEOUT_MS)
    try:
        alice, bob = ctx_a.new_page(), ctx_b.new_page()
        errors_a, errors_b = console_errors(alice), console_errors(bob)
        _register(alice, server_url, shots, "a", alice_handle, "Alice")
        _register(bob, server_url, shots, "b", bob_handle, "Bob")

        # Alice finds Bob by his exact handle and sends a request with a message.
        alice.get_by_role("navigation", name="Contacts").get_by_role(
            "link", name="Add friend"
        ).click()
        alice.get_by_label("Their handle").fill(bob_handle)
        alice.get_by_role("button", name="Find").click()
        expect(alice.get_by_role("heading", name="Bob")).to_be_visible()
        expect(alice.get_by_text(f"@{bob_handle}")).to_be_visible()
        shots(alice, "a-found-bob")
        alice.get_by_label("Verification message").fill(message)
        alice.get_by_role("button", name="Send friend request").click()
        expect(alice).to_have_url(re.compile(r"/contacts/requests\?notice=request_sent$"))
        expect(alice.get_by_role("status")).to_contain_text("Friend request sent.")
        expect(alice.get_by_text(message)).to_be_visible()
        shots(alice, "a-requests-sent")

        # Bob sees it, with the message, and accepts it with a remark (an htmx partial update).
        bob.get_by_role("navigation", name="Contacts").get_by_role("link", name="Requests").click()
        row = bob.locator("li.request").filter(has_text=f"@{alice_handle}")
        expect(row.get_by_text(message)).to_be_visible()
        shots(bob, "b-requests-received")
        row.get_by_label("Remark (optional)").fill("Alice (book club)")
        url_before = bob.url
        row.get_by_role("button", name="Accept").click()
        expect(bob.get_by_text("Request accepted. You are now friends.")).to_be_visible()
        assert bob.url == url_before  # answered in place: htmx swapped the row, no reload
        shots(bob, "b-request-accepted")

        bob.get_by_role("link", name="See your friends").click()
        expect(bob).to_have_url(re.compile(r"/contacts$"))
        friends_b = bob.locator("#friend-list")
        expect(friends_b).to_contain_text("Alice (book club)")
        expect(friends_b).to_contain_text(f"@{alice_handle}")
        shots(bob, "b-friends")

        alice.get_by_role("navigation", name="Main").get_by_role("link", name="Contacts").click()
        friends_a = alice.locator("#friend-list")
        expect(friends_a).to_contain_text("Bob")
        expect(friends_a).to_contain_text(f"@{bob_handle}")
        shots(alice, "a-friends")

        assert errors_a == []
        assert errors_b == []
    finally:
        ctx_a.close()
        ctx_b.close()


def test_a_zh_cn_browser_gets_the_chinese_ui(
    browser: Browser, server_url: str, shots: Shots, console_errors: ConsoleErrors
) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 420, "height": 860})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        errors = console_errors(page)
        page.goto(server_url + "/")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(page.get_by_role("link", name="注册账号")).to_be_visible()
        shots(page, "zh-landing")
        page.get_by_role("link", name="注册账号").click()
        expect(page.get_by_role("heading", name="注册账号")).to_be_visible()
        page.get_by_label("用户名", exact=True).fill(f"xiaoming_{secrets.token_hex(3)}")
        page.get_by_label("密码", exact=True).fill("short")
        page.get_by_label(re.compile("我同意服务条款")).check()
        page.get_by_role("button", name="注册", exact=True).click()
        expect(page.get_by_role("alert")).to_contain_text("请设置更安全的密码。")
        expect(page.get_by_role("alert")).to_contain_text("weak_password")
        shots(page, "zh-register-error")

        # The switcher changes the language for this browser.
        page.get_by_role("link", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
        shots(page, "zh-switched-to-english")
        assert errors == []
    finally:
        context.close()
