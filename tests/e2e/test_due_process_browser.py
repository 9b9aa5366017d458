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
from tests.e2e.test_chats_browser import Person

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
        shots(page_a, "a-appealed")

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

        # Alice's notice says it was reversed, with the reasons.
        page_a.goto(notice_url)
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
