"""Due process in real browsers against a real server: a rule pack (from the policy directory)
blocks a word; the sender's message is kept for them only, the notice names the rule and the
matched word, they appeal in two clicks; a reviewer (granted the role with ``courtyard admin
create``) reverses it from the review console; the recipient gets the message and the notice
says "Reversed" with the reviewer's reasons.

Accounts, the friendship and the conversation are set up through the JSON API; everything
about due process goes through the pages.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from courtyard.testing import FAST_HASHING, ServerProcess
from tests.conftest import PASSWORD
from tests.e2e.conftest import SERVER_START_SECONDS, ConsoleErrors, Shots
from tests.e2e.test_chats_browser import TIMEOUT_MS, Person

pytestmark = pytest.mark.e2e

PACK = """\
[pack]
id = "words"

[lists.bad]
category = "spam"
entries = ["zorblax"]

[[rules]]
id = "words.zorblax"
events = ["message"]
when = "lists.bad.hit"
action = "block"
policy = "community-guidelines#spam"
reason = { en = "The word zorblax is not allowed here.", zh = "此处不允许使用 zorblax。" }
examples = { match = ["a zorblax today"] }
"""

SECRET = "scratch-server-secret-key-0123456789abcdef"


class PolicyServer:
    def __init__(self, url: str, env: dict[str, str], data_dir: Path) -> None:
        self.url = url
        self.env = env
        self.data_dir = data_dir

    def grant_reviewer(self, handle: str) -> None:
        """``courtyard admin create HANDLE --role reviewer`` against the server's database."""
        done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
            [
                sys.executable,
                "-m",
                "courtyard.cli",
                "admin",
                "create",
                handle,
                "--role",
                "reviewer",
            ],
            env=self.env,
            cwd=self.data_dir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def policy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolicyServer]:
    data = tmp_path_factory.mktemp("e2e-due-process")
    policy_dir = data / "policy"
    policy_dir.mkdir()
    (policy_dir / "words.toml").write_text(PACK, "utf-8")
    database_url = f"sqlite:///{data / 'courtyard.db'}"
    extra = {"COURTYARD_POLICY_DIR": str(policy_dir)}
    with ServerProcess(database_url=database_url, data_dir=data, env=extra) as server:
        server.wait_ready(SERVER_START_SECONDS)
        env = {k: v for k, v in os.environ.items() if not k.startswith("COURTYARD_")}
        env.update(
            {
                "COURTYARD_ENV": "test",
                "COURTYARD_SECRET_KEY": SECRET,
                "COURTYARD_DATABASE_URL": database_url,
                "COURTYARD_DATA_DIR": str(data),
                "COURTYARD_LOG_LEVEL": "warning",
                "COURTYARD_ADMIN_PASSWORD": PASSWORD,
                **FAST_HASHING,
                **extra,
            }
        )
        yield PolicyServer(server.url, env, data)


def _live(page: Page) -> None:
    expect(page.locator("html")).to_have_attribute("data-chat-live", "on")


def test_a_blocked_message_is_appealed_and_reversed(
    browser: Browser, policy_server: PolicyServer, shots: Shots, console_errors: ConsoleErrors
) -> None:
    url = policy_server.url
    suffix = secrets.token_hex(3)
    alice = Person(url, f"alice_{suffix}", "Alice")
    bob = Person(url, f"bob_{suffix}", "Bob")
    rita_handle = f"rita_{suffix}"
    rita = Person(url, rita_handle, "Rita")
    alice.befriend(bob)
    opened = alice.http.post("/api/v1/conversations/direct", json={"account_id": bob.id})
    assert opened.status_code == 200, opened.text
    conversation_url = f"{url}/chats/{opened.json()['id']}"
    policy_server.grant_reviewer(rita_handle)

    ctx_a, ctx_b, ctx_r = (p.browse(browser, url) for p in (alice, bob, rita))
    try:
        page_a, page_b, page_r = ctx_a.new_page(), ctx_b.new_page(), ctx_r.new_page()
        errors = [console_errors(p) for p in (page_a, page_b, page_r)]

        # Bob has the conversation open; Alice sends a message with the blocked word.
        page_b.goto(conversation_url)
        _live(page_b)
        page_a.goto(conversation_url)
        _live(page_a)
        page_a.get_by_label("Message", exact=True).fill("hi zorblax friend")
        page_a.get_by_role("button", name="Send").click()
        mine = page_a.locator("li.bubble.mine").filter(has_text="hi zorblax friend")
        expect(mine).to_have_class(re.compile(r"\bfailed\b"))
        # Without a reload, the refused bubble links to the notice that says why; the notice
        # event of the same decision shows no second banner.
        why = mine.get_by_role("link", name="See why")
        expect(why).to_have_attribute("href", re.compile(r"^/notices/[0-9A-Z]{26}$"))
        statement_path = why.get_attribute("href")
        expect(page_a.locator("#live-notices .live-notice")).to_have_count(0)
        shots(page_a, "a-refused-live")

        # After a reload the message is kept for her, with a link to the notice.
        page_a.reload()
        withheld = page_a.locator("#withheld li").filter(has_text="hi zorblax friend")
        expect(withheld).to_contain_text("Not delivered")
        shots(page_a, "a-withheld")
        withheld.get_by_role("link", name="See the notice").click()
        expect(page_a.get_by_role("heading", name="Message not delivered")).to_be_visible()
        expect(page_a.locator("#notice")).to_contain_text("words.zorblax")
        expect(page_a.locator("#notice")).to_contain_text("community-guidelines#spam")
        expect(page_a.locator("mark.matched")).to_have_text("zorblax")
        notice_url = page_a.url
        shots(page_a, "a-notice")

        # Two clicks: Appeal, then Submit appeal (with an optional explanation).
        page_a.get_by_role("link", name="Appeal", exact=True).click()
        page_a.get_by_label("Why should this decision change? (optional)").fill(
            "Zorblax is a made-up word from a game we play."
        )
        page_a.get_by_role("button", name="Submit appeal").click()
        expect(page_a.get_by_role("status")).to_contain_text("Your appeal is filed.")
        expect(page_a.locator("#appeal-status")).to_have_text("Open")
        assert notice_url.endswith(str(statement_path))
        shots(page_a, "a-appealed")

        # Alice goes back to the conversation while the appeal is reviewed.
        page_a.goto(conversation_url)
        _live(page_a)

        # Rita opens the review console from the nav, the appeal, and reverses the decision.
        page_r.goto(url + "/notices")
        page_r.get_by_role("navigation", name="Main").get_by_role("link", name="Review").click()
        page_r.get_by_role("link", name="Appeal · statement").click()
        expect(page_r.locator("#appeal-text")).to_contain_text("made-up word from a game")
        expect(page_r.locator("#withheld-text")).to_have_text("hi zorblax friend")
        shots(page_r, "r-item")
        page_r.get_by_label("Outcome").select_option("reverse")
        page_r.get_by_label("Policy clause").fill("community-guidelines#spam")
        page_r.get_by_label("Reasons (the person affected reads them)").fill(
            "A word from a game, not spam. The message is delivered."
        )
        page_r.get_by_role("button", name="Decide").click()
        expect(page_r.get_by_role("status")).to_contain_text("Decision recorded.")
        shots(page_r, "r-decided")

        # Bob's open page receives the released message like any other.
        delivered = page_b.locator("#messages li.bubble").filter(has_text="hi zorblax friend")
        expect(delivered).to_be_visible()
        expect(delivered.locator(".sender")).to_have_text("Alice")
        shots(page_b, "b-delivered")

        # Alice's open page: her message arrives and a banner says the decision was reversed,
        # linking to the notice.
        expect(page_a.locator("#messages li.bubble.mine")).to_contain_text("hi zorblax friend")
        expect(page_a.locator("#withheld")).to_have_count(0)
        banner = page_a.locator("#live-notices .live-notice")
        expect(banner).to_have_count(1)
        expect(banner).to_contain_text("Reversed")
        expect(banner).to_contain_text("Your message was not delivered.")
        shots(page_a, "a-reversed-banner")
        banner.get_by_role("link").click()

        # Alice's notice says it was reversed, with the reasons.
        expect(page_a).to_have_url(notice_url)
        expect(page_a.locator("#notice-status")).to_have_text("Reversed")
        expect(page_a.locator(".reversal-reasons")).to_have_text(
            "A word from a game, not spam. The message is delivered."
        )
        expect(page_a.locator("#appeal-status")).to_have_text("Reversed")
        shots(page_a, "a-reversed")
        page_a.goto(conversation_url)
        expect(page_a.locator("#messages li.bubble.mine")).to_contain_text("hi zorblax friend")
        expect(page_a.locator("#withheld")).to_have_count(0)

        for found in errors:
            assert found == []
    finally:
        for context in (ctx_a, ctx_b, ctx_r):
            context.close()
        for person in (alice, bob, rita):
            person.close()


def test_a_notice_issued_elsewhere_shows_a_banner_in_the_page_language(
    browser: Browser, policy_server: PolicyServer, shots: Shots, console_errors: ConsoleErrors
) -> None:
    """A decision taken while the conversation is open in Chinese (the send came from another
    device) appears as a banner in Chinese, linking to its notice, and can be dismissed."""
    url = policy_server.url
    suffix = secrets.token_hex(3)
    alice = Person(url, f"alice_{suffix}", "Alice")
    bob = Person(url, f"bob_{suffix}", "Bob")
    alice.befriend(bob)
    opened = alice.http.post("/api/v1/conversations/direct", json={"account_id": bob.id})
    assert opened.status_code == 200, opened.text
    conversation_id = opened.json()["id"]
    context = browser.new_context(locale="zh-CN", viewport={"width": 420, "height": 860})
    context.set_default_timeout(TIMEOUT_MS)
    context.add_cookies([{"name": "cy_session", "value": alice.token, "url": url}])
    try:
        page = context.new_page()
        errors = console_errors(page)
        page.goto(f"{url}/chats/{conversation_id}")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        _live(page)

        sent = alice.http.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"client_id": f"other-device-{suffix}", "text": "zorblax from my phone"},
        )
        assert sent.status_code == 422, sent.text
        statement_id = sent.json()["error"]["details"]["statement_id"]

        banner = page.locator(f"#live-notice-{statement_id}")
        expect(banner).to_contain_text("你的消息未被发送。")
        expect(banner.get_by_role("link")).to_have_attribute("href", f"/notices/{statement_id}")
        shots(page, "zh-banner")
        banner.get_by_role("button", name="关闭").click()
        expect(banner).to_have_count(0)
        assert errors == []
    finally:
        context.close()
        alice.close()
        bob.close()
