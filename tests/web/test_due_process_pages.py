"""Due process pages through their forms: a blocked message's notice with the rule and the
matched word, the appeal (two clicks) and its additions, standing for a suspended account,
the report flow from a conversation, withheld messages shown to their author only, and the
review console (404 for everyone else, claim and decide, conflicts shown inline) with the
read-only policy console."""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, datetime, timedelta

from PIL import Image

from courtyard.accounts import store as accounts_store
from courtyard.accounts.model import Actor, OperatorRole
from courtyard.container import Services
from courtyard.governance.ladder import Measure
from courtyard.governance.transparency_report import charts
from tests.conftest import PASSWORD
from tests.governance.test_due_process_targets import _Payments, _suspect
from tests.governance.test_transparency import FROM as TRANSPARENCY_FROM
from tests.governance.test_transparency import TO as TRANSPARENCY_TO
from tests.governance.test_transparency import report_of as transparency_report_of
from tests.governance.test_transparency import seed as seed_transparency
from tests.web.conftest import Browser, BrowserFactory, csrf_of
from tests.web.test_chats_pages import _befriend, _direct, _people

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

_NOTICE = re.compile(r'href="/notices/([0-9A-Z]{26})"')
_ITEM = re.compile(r'href="/review/items/([0-9A-Z]{26})"')


async def _blocked(browser: BrowserFactory, services: Services) -> tuple[Browser, Browser, str]:
    """Alice and Bob are friends in a direct chat; Alice's message with the word is blocked."""
    await services.governance.put_pack(None, PACK, note="test")
    alice, bob = await _people(browser, "alice", "bob")
    await _befriend(alice, bob, "bob")
    cid = await _direct(alice, "bob")
    page = f"/chats/{cid}"
    sent = await alice.submit(page, f"{page}/messages", {"text": "hi zorblax friend"})
    assert sent.status_code == 422, sent.text[:2000]
    assert "Read the notice" in sent.text
    return alice, bob, cid


async def _account_id(services: Services, handle: str) -> str:
    async with services.db.read() as conn:
        account = await accounts_store.get_account_by_handle(conn, handle)
    assert account is not None
    return account.id


async def _hold_payment(
    services: Services, account_id: str, payment_id: str, *, facts_zh: str = "该付款符合洗钱模式。"
) -> dict[str, object]:
    """One payment held for review through the service (the wallet is a stand-in)."""
    if "payment" not in services.due_process.restrictors:
        services.due_process.restrictors["payment"] = _Payments()
    async with services.db.write() as tx:
        return await services.due_process.hold_target_in(
            tx,
            measure=Measure.PAYMENT_HOLD,
            target_type="payment",
            target_id=payment_id,
            account_id=account_id,
            decision=_suspect(),
            facts="The payment matched a money-mule pattern.",
            facts_zh=facts_zh,
        )


async def _reviewer(browser: BrowserFactory, services: Services, handle: str = "rita") -> Browser:
    await services.accounts.create_operator(handle, PASSWORD, OperatorRole.REVIEWER)
    person = browser(ip="203.0.113.99")
    login = await person.submit("/login", "/login", {"handle": handle, "password": PASSWORD})
    assert login.status_code == 303, login.text[:2000]
    return person


async def test_a_blocked_message_has_a_notice_with_the_rule_and_the_matched_word(
    browser: BrowserFactory, services: Services
) -> None:
    alice, bob, cid = await _blocked(browser, services)
    view = await alice.page(f"/chats/{cid}")
    assert "hi zorblax friend" in view  # only its author sees it
    assert "Not delivered" in view
    [statement_id] = set(_NOTICE.findall(view))
    assert "zorblax" not in await bob.page(f"/chats/{cid}")

    listing = await alice.page("/notices")
    assert '<a href="/notices" aria-current="page">Notices</a>' in listing
    assert "Message not delivered" in listing
    assert "Your account is in good standing." in listing
    detail = await alice.page(f"/notices/{statement_id}")
    assert "words.zorblax" in detail
    assert "community-guidelines#spam" in detail
    assert '<mark class="matched">zorblax</mark>' in detail
    assert "An automated rule decided; no person was involved." in detail
    assert "indefinite" in detail
    assert "hi zorblax friend" in detail
    assert f'href="/notices/{statement_id}/appeal#appeal"' in detail
    # Not someone else's notice: the same 404 as a notice that does not exist.
    assert (await bob.get(f"/notices/{statement_id}")).status_code == 404

    zh = await alice.get(f"/notices/{statement_id}", headers={"accept-language": "zh-CN"})
    assert "此处不允许使用 zorblax。" in zh.text


async def test_appeal_in_two_clicks_then_add_information(
    browser: BrowserFactory, services: Services
) -> None:
    alice, _bob, cid = await _blocked(browser, services)
    [statement_id] = set(_NOTICE.findall(await alice.page(f"/chats/{cid}")))
    form = await alice.page(f"/notices/{statement_id}/appeal")
    assert 'id="appeal-form"' in form
    appealed = await alice.submit(
        f"/notices/{statement_id}/appeal",
        f"/notices/{statement_id}/appeal",
        {"text": "It is a made-up word."},
    )
    assert appealed.status_code == 303
    page = await alice.page(appealed.headers["location"])
    assert "Your appeal is filed." in page
    assert 'data-status="open"' in page
    assert "It is a made-up word." in page
    actor = await services.accounts.authenticate(alice.http.cookies["cy_session"])
    assert actor is not None
    [notice] = await services.due_process.notices(actor)
    assert notice["appeal"] is not None
    assert notice["appeal"]["status"] == "open"

    added = await alice.submit(
        f"/notices/{statement_id}",
        f"/notices/{statement_id}/additions",
        {"text": "It means hello in my family."},
    )
    assert added.status_code == 303
    assert "It means hello in my family." in await alice.page(f"/notices/{statement_id}")
    # A second appeal is refused inline.
    again = await alice.submit(
        f"/notices/{statement_id}", f"/notices/{statement_id}/appeal", {"text": ""}
    )
    assert again.status_code == 409
    assert "already_appealed" in again.text


async def test_csrf_is_enforced_on_the_forms(browser: BrowserFactory, services: Services) -> None:
    alice, _bob, cid = await _blocked(browser, services)
    [statement_id] = set(_NOTICE.findall(await alice.page(f"/chats/{cid}")))
    forged = await alice.http.post(f"/notices/{statement_id}/appeal", data={"text": "x"})
    assert forged.status_code == 403
    wrong = await alice.http.post(
        f"/notices/{statement_id}/appeal", data={"text": "x", "csrf_token": "nope"}
    )
    assert wrong.status_code == 403
    reported = await alice.http.post(
        "/report", data={"target_type": "account", "target_id": "x", "category": "spam"}
    )
    assert reported.status_code == 403
    assert (await alice.page(f"/notices/{statement_id}")).count("Appeal") >= 1
    [notice] = (await alice.page("/notices")).split('id="notice-')[1:]
    assert 'data-status="active"' in notice


async def test_review_console_is_a_404_for_everyone_else(
    browser: BrowserFactory, services: Services
) -> None:
    (carol,) = await _people(browser, "carol")
    missing = await carol.get("/no-such-page")
    for path in ("/review", "/review/policy", "/review/items/01HZZZZZZZZZZZZZZZZZZZZZZZ"):
        response = await carol.get(path)
        assert response.status_code == 404, path
        assert response.text == missing.text.replace("/no-such-page", path)
    token = csrf_of(await carol.page("/notices"))
    posted = await carol.http.post(
        "/review/items/01HZZZZZZZZZZZZZZZZZZZZZZZ/claim", data={"csrf_token": token}
    )
    assert posted.status_code == 404
    assert 'href="/review"' not in await carol.page("/notices")


async def test_a_reviewer_reverses_an_appeal_and_the_message_is_delivered(
    browser: BrowserFactory, services: Services
) -> None:
    alice, bob, cid = await _blocked(browser, services)
    [statement_id] = set(_NOTICE.findall(await alice.page(f"/chats/{cid}")))
    await alice.submit(
        f"/notices/{statement_id}/appeal", f"/notices/{statement_id}/appeal", {"text": "Please"}
    )
    rita = await _reviewer(browser, services)
    queue = await rita.page("/review")
    assert 'href="/review" aria-current="page">Review</a>' in queue
    [item_id] = _ITEM.findall(await rita.page("/review?kind=appeal"))
    item = await rita.page(f"/review/items/{item_id}")
    assert "Please" in item
    assert '<mark id="withheld-text">hi zorblax friend</mark>' in item
    assert '<option value="reverse"' in item
    claimed = await rita.submit(f"/review/items/{item_id}", f"/review/items/{item_id}/claim")
    assert claimed.status_code == 303
    missing = await rita.submit(
        f"/review/items/{item_id}",
        f"/review/items/{item_id}/decision",
        {"outcome": "reverse", "policy_clause": "community-guidelines#spam", "reasons": ""},
    )
    assert missing.status_code == 422  # reasons are required; shown inline, not a 500
    decided = await rita.submit(
        f"/review/items/{item_id}",
        f"/review/items/{item_id}/decision",
        {
            "outcome": "reverse",
            "policy_clause": "community-guidelines#spam",
            "reasons": "A made-up word, not spam.",
        },
    )
    assert decided.status_code == 303, decided.text[:2000]
    assert decided.headers["location"] == "/review?done=decided"

    assert "hi zorblax friend" in await bob.page(f"/chats/{cid}")
    notice = await alice.page(f"/notices/{statement_id}")
    assert 'id="notice-status" class="status status-reversed">Reversed' in notice
    assert "A made-up word, not spam." in notice
    view = await alice.page(f"/chats/{cid}")
    assert "Not delivered" not in view

    # The policy console: packs in force, a pack's rules and history, a rule's activity.
    policy = await rita.page("/review/policy")
    assert 'href="/review/policy/packs/words"' in policy
    pack = await rita.page("/review/policy/packs/words")
    assert 'href="/review/policy/rules/words.zorblax"' in pack
    rule = await rita.page("/review/policy/rules/words.zorblax")
    assert "block · enforce: <strong>1</strong>" in rule


async def test_a_reviewer_in_the_matter_gets_a_flash_not_a_500(
    browser: BrowserFactory, services: Services
) -> None:
    (dave,) = await _people(browser, "dave")
    rita = await _reviewer(browser, services)
    await _befriend(rita, dave, "dave")
    cid = await _direct(dave, "rita")
    page = f"/chats/{cid}"
    sent = await dave.submit(page, f"{page}/messages", {"text": "hello rita"})
    assert sent.status_code == 303
    view = await rita.page(page)
    [message_id] = re.findall(r"target_id=([0-9A-Z]{26})", view)
    filed = await rita.submit(
        f"/report?target_type=message&target_id={message_id}&back=/chats/{cid}",
        "/report",
        {
            "target_type": "message",
            "target_id": message_id,
            "category": "spam",
            "explanation": "test",
            "back": f"/chats/{cid}",
        },
    )
    assert filed.status_code == 303
    [item_id] = _ITEM.findall(await rita.page("/review?kind=report"))
    conflict = await rita.submit(f"/review/items/{item_id}", f"/review/items/{item_id}/claim")
    assert conflict.status_code == 403
    assert "reviewer_conflict" in conflict.text
    assert "another reviewer has to decide it" in conflict.text


async def test_report_a_message_and_see_the_outcome(
    browser: BrowserFactory, services: Services
) -> None:
    alice, bob = await _people(browser, "alice", "bob")
    await _befriend(alice, bob, "bob")
    cid = await _direct(alice, "bob")
    page = f"/chats/{cid}"
    sent = await alice.submit(page, f"{page}/messages", {"text": "buy my stuff"})
    assert sent.status_code == 303
    assert "report-link" not in await alice.page(page)  # not on your own messages
    view = await bob.page(page)
    [message_id] = re.findall(r"target_id=([0-9A-Z]{26})", view)
    form_url = f"/report?target_type=message&target_id={message_id}&back=%2Fchats%2F{cid}"
    form = await bob.page(form_url)
    assert '<option value="spam">Spam</option>' in form
    refused = await bob.submit(form_url, "/report", {"target_type": "message"})
    assert refused.status_code == 422
    filed = await bob.submit(
        form_url,
        "/report",
        {
            "target_type": "message",
            "target_id": message_id,
            "category": "spam",
            "explanation": "Selling things.",
            "back": f"/chats/{cid}",
        },
    )
    assert filed.status_code == 303
    assert filed.headers["location"] == f"/chats/{cid}?done=reported"
    assert "Your report was received" in await bob.page(filed.headers["location"])
    mine = await bob.page("/reports")
    assert "Selling things." in mine
    assert "Open" in mine

    rita = await _reviewer(browser, services)
    [item_id] = _ITEM.findall(await rita.page("/review?kind=report"))
    item = await rita.page(f"/review/items/{item_id}")
    assert "<mark>buy my stuff</mark>" in item
    assert 'name="manifestly_unfounded"' in item
    decided = await rita.submit(
        f"/review/items/{item_id}",
        f"/review/items/{item_id}/decision",
        {
            "outcome": "no_violation",
            "policy_clause": "community-guidelines#spam",
            "reasons": "One message about selling is allowed.",
        },
    )
    assert decided.status_code == 303, decided.text[:2000]
    mine = await bob.page("/reports")
    assert "No violation found" in mine
    assert "One message about selling is allowed." in mine


async def test_a_suspended_account_can_read_its_notices_and_standing(
    browser: BrowserFactory, services: Services
) -> None:
    (erin,) = await _people(browser, "erin")
    root = await services.accounts.create_operator("ops_lead", PASSWORD, OperatorRole.ADMIN)
    async with services.db.read() as conn:
        erin_account = await accounts_store.get_account_by_handle(conn, "erin")
    assert erin_account is not None
    staff = Actor(account=root, session_id="cli", csrf_token="cli")
    await services.due_process.impose(
        staff,
        erin_account.id,
        measure="warning",
        policy_clause="community-guidelines#harassment",
        reasons="Stop sending insults.",
    )
    await services.due_process.impose(
        staff,
        erin_account.id,
        measure="suspended",
        policy_clause="community-guidelines#harassment",
        reasons="Repeated harassment.",
        duration_hours=48,
    )
    listing = await erin.page("/notices")
    assert "Your account is suspended." in listing
    assert "Account suspended" in listing
    assert "send messages" in listing
    assert "until" in listing
    statement_id = _NOTICE.findall(listing)[0]  # the newest first: the suspension
    detail = await erin.page(f"/notices/{statement_id}")
    assert "Repeated harassment." in detail
    assert "A reviewer decided." in detail


async def test_notices_show_the_chinese_text_on_chinese_pages(
    browser: BrowserFactory, services: Services
) -> None:
    alice, _bob, cid = await _blocked(browser, services)
    [statement_id] = set(_NOTICE.findall(await alice.page(f"/chats/{cid}")))
    actor = await services.accounts.authenticate(alice.http.cookies["cy_session"])
    assert actor is not None
    [notice] = await services.due_process.notices(actor)
    assert notice["facts_zh"]
    assert notice["facts_zh"] != notice["facts"]
    zh_headers = {"accept-language": "zh-CN"}

    zh = (await alice.get(f"/notices/{statement_id}", headers=zh_headers)).text
    assert html.escape(notice["facts_zh"]) in zh
    assert html.escape(notice["facts"]) not in zh
    assert "你的消息未被发送。" in zh
    assert "此处不允许使用 zorblax。" in zh
    en = await alice.page(f"/notices/{statement_id}")
    assert html.escape(notice["facts"]) in en
    assert html.escape(notice["facts_zh"]) not in en
    assert "Your message was not delivered." in en
    listing = (await alice.get("/notices", headers=zh_headers)).text
    assert "你的消息未被发送。" in listing
    assert "Your message was not delivered." not in listing

    # A statement without Chinese facts falls back to the English ones.
    held = await _hold_payment(services, actor.id, "pay-1", facts_zh="")
    zh = (await alice.get(f"/notices/{held['id']}", headers=zh_headers)).text
    assert "The payment matched a money-mule pattern." in zh
    assert "一笔付款正在审核中被暂扣" in zh
    assert "一小时内新增收款人过多。" in zh


async def _admin(browser: BrowserFactory, services: Services, handle: str = "boss") -> Browser:
    await services.accounts.create_operator(handle, PASSWORD, OperatorRole.ADMIN)
    person = browser(ip="203.0.113.98")
    login = await person.submit("/login", "/login", {"handle": handle, "password": PASSWORD})
    assert login.status_code == 303, login.text[:2000]
    return person


async def _reported_message(browser: BrowserFactory, services: Services) -> tuple[str, str]:
    """Bob reports Alice's message; returns (the review item, Alice's id)."""
    alice, bob = await _people(browser, "alice", "bob")
    await _befriend(alice, bob, "bob")
    cid = await _direct(alice, "bob")
    sent = await alice.submit(f"/chats/{cid}", f"/chats/{cid}/messages", {"text": "buy now"})
    assert sent.status_code == 303
    [message_id] = re.findall(r"target_id=([0-9A-Z]{26})", await bob.page(f"/chats/{cid}"))
    filed = await bob.submit(
        "/report",
        "/report",
        {"target_type": "message", "target_id": message_id, "category": "spam"},
    )
    assert filed.status_code == 303
    staff = await services.accounts.create_operator("ops_bot", PASSWORD, OperatorRole.REVIEWER)
    actor = Actor(account=staff, session_id="cli", csrf_token="cli")
    [item] = await services.due_process.queue(actor, "report")
    return item["id"], await _account_id(services, "alice")


async def test_an_admin_assigns_an_item_to_a_reviewer(
    browser: BrowserFactory, services: Services
) -> None:
    item_id, alice_id = await _reported_message(browser, services)
    rita = await _reviewer(browser, services)
    rita_id = await _account_id(services, "rita")
    boss = await _admin(browser, services)
    page = f"/review/items/{item_id}"

    item = await boss.page(page)
    assert 'id="assign-form"' in item
    assert f'<option value="{rita_id}">rita (@rita)</option>' in item
    assert f'<option value="{alice_id}"' not in item  # the account concerned is never offered
    assert "Alice (@alice)" in item  # the account concerned, by name
    # A reviewer who is not an admin sees no assignment and cannot post one.
    assert 'id="assign-form"' not in await rita.page(page)
    token = csrf_of(await rita.page(page))
    refused = await rita.http.post(
        f"{page}/assign", data={"csrf_token": token, "reviewer_id": rita_id}
    )
    assert refused.status_code == 404

    assigned = await boss.submit(page, f"{page}/assign", {"reviewer_id": rita_id})
    assert assigned.status_code == 303, assigned.text[:2000]
    assert assigned.headers["location"] == f"{page}?done=assigned"
    shown = await boss.page(assigned.headers["location"])
    assert "The item is assigned." in shown
    assert '<dd id="item-assigned">rita (@rita)</dd>' in shown
    assert f'<option value="{rita_id}" selected>' in shown
    assert '<dd id="item-assigned">You</dd>' in await rita.page(page)

    # Errors come back as a flash on the item page, never a 500.
    not_reviewer = await boss.submit(page, f"{page}/assign", {"reviewer_id": alice_id})
    assert not_reviewer.status_code == 422
    assert "invalid_input" in not_reviewer.text
    assert "Not a reviewer." in not_reviewer.text
    assert 'id="assign-form"' in not_reviewer.text
    empty = await boss.submit(page, f"{page}/assign", {"reviewer_id": ""})
    assert empty.status_code == 422
    assert "Choose a reviewer." in empty.text
    # Bob filed the report: made a reviewer, he still cannot be given it.
    await services.accounts.create_operator("bob", PASSWORD, OperatorRole.REVIEWER)
    bob_id = await _account_id(services, "bob")
    conflict = await boss.submit(page, f"{page}/assign", {"reviewer_id": bob_id})
    assert conflict.status_code == 403
    assert "reviewer_conflict" in conflict.text
    assert "That reviewer took part in this matter" in conflict.text
    zh = await boss.http.post(
        f"{page}/assign",
        data={"csrf_token": csrf_of(await boss.page(page)), "reviewer_id": alice_id},
        headers={"accept-language": "zh-CN"},
    )
    assert zh.status_code == 422
    assert "Not a reviewer." not in zh.text
    missing = await boss.submit(
        page, "/review/items/01HZZZZZZZZZZZZZZZZZZZZZZZ/assign", {"reviewer_id": rita_id}
    )
    assert missing.status_code == 404
    assert "No such review item." in missing.text


_SENT_AT = datetime(2026, 1, 1, tzinfo=UTC)


class _Groups:
    """A stand-in for the chats pillar's group handling: a reporter finds the group, a
    reviewer reads its last messages, and read-only mode is recorded."""

    def __init__(self, group_id: str, owner_id: str, sender_id: str) -> None:
        self.group_id, self.owner_id, self.sender_id = group_id, owner_id, sender_id
        self.calls: list[tuple[str, str, object]] = []

    async def find(self, conn: object, viewer_id: str, content_id: str) -> object:
        from courtyard.governance.due_process import ContentRef

        if content_id != self.group_id:
            return None
        return ContentRef("group", content_id, self.owner_id, content_id, "Bargains")

    async def context(
        self, conn: object, viewer_id: str, content_id: str, around: int
    ) -> list[dict[str, object]]:
        return [
            {
                "id": "m1",
                "seq": 1,
                "sender_id": self.sender_id,
                "text": "cheap watches here",
                "sent_at": _SENT_AT,
                "reported": False,
            }
        ]

    async def remove(self, tx: object, content_id: str) -> None:
        return None

    async def deliver(self, withheld: dict[str, object]) -> None:
        return None

    async def restrict(self, tx: object, target_id: str, statement: dict[str, object]) -> None:
        self.calls.append(("restrict", target_id, statement["ends_at"]))

    async def lift(self, tx: object, target_id: str) -> None:
        self.calls.append(("lift", target_id, None))


async def test_a_held_payment_renders_and_is_refused_from_the_item_page(
    browser: BrowserFactory, services: Services
) -> None:
    (alice,) = await _people(browser, "alice")
    alice_id = await _account_id(services, "alice")
    payments = _Payments()
    services.due_process.restrictors["payment"] = payments
    held = await _hold_payment(services, alice_id, "pay-7")
    rita = await _reviewer(browser, services)
    [item_id] = _ITEM.findall(await rita.page("/review?kind=hold"))
    page = f"/review/items/{item_id}"

    item = await rita.page(page)
    assert '<code class="code">pay-7</code>' in item
    assert "Payment held for review" in item
    assert "Many new payees in an hour." in item
    assert "Alice (@alice)" in item
    assert 'id="context-heading"' not in item  # no message, no context: nothing to show
    assert '<option value="approve">Approve: release it</option>' in item
    assert '<option value="reject">' in item

    decided = await rita.submit(
        page,
        f"{page}/decision",
        {"outcome": "reject", "policy_clause": "c#fraud", "reasons": "A money mule."},
    )
    assert decided.status_code == 303, decided.text[:2000]
    assert payments.calls == [("restrict", "pay-7"), ("refuse", "pay-7")]
    after = await rita.page(page)
    assert 'data-outcome="reject"' in after
    assert "A money mule." in after
    notice = await alice.page(f"/notices/{held['id']}")
    assert 'data-status="ended"' in notice


async def test_a_reported_group_is_made_read_only_from_the_item_page(
    browser: BrowserFactory, services: Services
) -> None:
    alice, bob = await _people(browser, "alice", "bob")
    alice_id, bob_id = await _account_id(services, "alice"), await _account_id(services, "bob")
    group_id = "01HZZZZZZZZZZZZZZZZZZZZGRP"
    groups = _Groups(group_id, alice_id, alice_id)
    services.due_process.content["group"] = groups
    services.due_process.restrictors["group"] = groups
    filed = await bob.submit(
        "/report",
        "/report",
        {"target_type": "group", "target_id": group_id, "category": "scam", "back": "/reports"},
    )
    assert filed.status_code == 303, filed.text[:2000]
    rita = await _reviewer(browser, services)
    [item_id] = _ITEM.findall(await rita.page("/review?kind=report"))
    page = f"/review/items/{item_id}"

    item = await rita.page(page)
    assert f'<code class="code">{group_id}</code>' in item
    assert "cheap watches here" in item
    assert '<p class="sender">Alice (@alice)</p>' in item
    assert '<option value="group_read_only">Make the group read-only</option>' in item
    assert '<option value="remove"' not in item  # a group is not taken down like content
    assert bob_id not in item  # the reporter stays anonymous in the page

    missing_hours = await rita.submit(
        page,
        f"{page}/decision",
        {
            "outcome": "group_read_only",
            "policy_clause": "community-guidelines#scam",
            "reasons": "Scam offers.",
            "duration_hours": "two days",
        },
    )
    assert missing_hours.status_code == 422
    assert 'id="decision-duration_hours-error"' in missing_hours.text
    decided = await rita.submit(
        page,
        f"{page}/decision",
        {
            "outcome": "group_read_only",
            "policy_clause": "community-guidelines#scam",
            "reasons": "Scam offers.",
            "duration_hours": "48",
        },
    )
    assert decided.status_code == 303, decided.text[:2000]
    [(call, target, ends_at)] = groups.calls
    assert (call, target) == ("restrict", group_id)
    assert isinstance(ends_at, datetime)
    after = await rita.page(page)
    assert "Make the group read-only" in after
    assert 'data-outcome="group_read_only"' in after
    # The owner reads the statement; the reporter sees the outcome.
    owner_notices = await alice.page("/notices")
    assert "Group made read-only" in owner_notices
    assert "The group is read-only" in owner_notices
    assert "Action taken" in await bob.page("/reports")


async def test_the_transparency_report_in_the_review_console(
    browser: BrowserFactory, services: Services
) -> None:
    await seed_transparency(services)
    expected = await transparency_report_of(services)
    rita = await _reviewer(browser, services)
    query = f"from={TRANSPARENCY_FROM}&to={TRANSPARENCY_TO}"
    page = await rita.page(f"/review/transparency?{query}")
    assert '<a href="/review/transparency" aria-current="page">Transparency</a>' in page
    assert 'href="/review/transparency"' in await rita.page("/review")  # linked from the nav

    # The figures, as the API's builder computes them.
    actions = expected["actions"]
    assert actions["total"] == 9
    assert f'<dd id="actions-total">{actions["total"]}</dd>' in page
    for key, counts in actions.items():
        if key == "total":
            continue
        table = page.split(f'id="actions-{key}"')[1].split("</table>")[0]
        rows = re.findall(r'<tr data-key="([^"]+)">.*?<td class="num">(\d+)</td></tr>', table)
        assert {k: int(v) for k, v in rows} == counts, key
    assert '<tr data-key="block"><th scope="row">Message not delivered</th>' in page
    assert '<dd id="reports-received">5</dd>' in page
    assert '<dd id="reports-actioned">4</dd>' in page
    assert '<dd id="reports-median">3 h</dd>' in page
    assert '<tr data-key="harassment"><th scope="row">Harassment or bullying</th>' in page
    assert '<dd id="appeals-decided">4</dd>' in page
    assert '<dd id="appeals-rate">50.0 %</dd>' in page
    assert '<dd id="appeals-median">18 h</dd>' in page
    assert '<dd id="restored-total">2</dd>' in page
    rules = page.split('id="rules-overturned"')[1].split("</table>")[0]
    assert 'href="/review/policy/rules/spam.otp">spam.otp</a>' in rules
    assert '<td class="num">33.3 %</td>' in rules
    flagged = page.split('id="rules-flagged"')[1].split("</table>")[0]
    assert re.findall(r'<tr data-key="([^"]+)">', flagged) == ["spam.links", "spam.otp"]

    # Each chart is a PNG drawn by the report's chart function, private to the reader.
    sources = re.findall(r'<img class="chart" src="([^"]+)"', page)
    assert len(sources) == 10
    drawn = charts(expected)
    for source in sources:
        src = html.unescape(source)
        response = await rita.get(src)
        assert response.status_code == 200, src
        assert response.headers["content-type"] == "image/png"
        assert response.headers["cache-control"] == "private"
        name = src.split("/chart/")[1].split("?")[0]
        assert response.content == drawn[name], name
        with Image.open(io.BytesIO(response.content)) as image:
            image.verify()

    # The downloads: the API's JSON report and the DSA export the CLI writes.
    assert f'href="/api/v1/admin/transparency/report?{query.replace("&", "&amp;")}"' in page
    report_json = await rita.get(f"/api/v1/admin/transparency/report?{query}")
    assert report_json.status_code == 200
    assert report_json.json()["actions"] == actions
    export = await rita.get(f"/review/transparency/statements.json?{query}")
    assert export.status_code == 200
    assert export.headers["content-disposition"] == (
        f'attachment; filename="dsa-statements-{TRANSPARENCY_FROM}-{TRANSPARENCY_TO}.json"'
    )
    document = export.json()
    assert document["count"] == 9
    assert document["period"] == {"from": TRANSPARENCY_FROM, "to": TRANSPARENCY_TO}
    assert sum(len(b["statements"]) for b in document["batches"]) == 9

    # In Chinese too.
    zh = await rita.get(f"/review/transparency?{query}", headers={"accept-language": "zh-CN"})
    assert zh.status_code == 200
    assert "透明度报告" in zh.text


async def test_the_transparency_page_defaults_refuses_bad_dates_and_hides_from_users(
    browser: BrowserFactory, services: Services
) -> None:
    boss = await _admin(browser, services)
    today = services.clock.now().date()
    default = await boss.page("/review/transparency")
    assert f'value="{(today - timedelta(days=29)).isoformat()}"' in default
    assert f'value="{today.isoformat()}"' in default
    assert '<dd id="actions-total">0</dd>' in default
    assert "No rule was flagged in the period." in default

    for query, text in (
        ("from=2025-02-30&to=2025-03-31", "from is not a day: use YYYY-MM-DD."),
        ("from=yesterday", "from is not a day: use YYYY-MM-DD."),
        ("from=2025-03-31&to=2025-01-01", "The period ends before it starts."),
        ("from=2025-01-01&to=9999-12-31", "The period must end before 9999-12-30."),
    ):
        refused = await boss.get(f"/review/transparency?{query}")
        assert refused.status_code == 422, query
        assert "invalid_input" in refused.text
        assert text in refused.text, query
        assert 'id="period-form"' in refused.text
        chart = await boss.get(f"/review/transparency/chart/actions_by_measure.png?{query}")
        assert chart.status_code == 422, query
        export = await boss.get(f"/review/transparency/statements.json?{query}")
        assert export.status_code == 422, query
    zh = await boss.get(
        "/review/transparency?from=2025-03-31&to=2025-01-01", headers={"accept-language": "zh-CN"}
    )
    assert zh.status_code == 422
    assert "The period ends before it starts." not in zh.text
    assert (await boss.get("/review/transparency/chart/nothing.png")).status_code == 404

    (carol,) = await _people(browser, "carol")
    missing = await carol.get("/no-such-page")
    for path in (
        "/review/transparency",
        "/review/transparency/chart/actions_by_measure.png",
        "/review/transparency/statements.json",
    ):
        response = await carol.get(path)
        assert response.status_code == 404, path
        assert response.text == missing.text.replace("/no-such-page", path)
    assert 'href="/review/transparency"' not in await carol.page("/notices")
