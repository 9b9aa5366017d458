"""Due process pages through their forms: a blocked message's notice with the rule and the
matched word, the appeal (two clicks) and its additions, standing for a suspended account,
the report flow from a conversation, withheld messages shown to their author only, and the
review console (404 for everyone else, claim and decide, conflicts shown inline) with the
read-only policy console."""

from __future__ import annotations

import html
import re

from courtyard.accounts import store as accounts_store
from courtyard.accounts.model import Actor, OperatorRole
from courtyard.container import Services
from courtyard.governance.ladder import Measure
from tests.conftest import PASSWORD
from tests.governance.test_due_process_targets import _Payments, _suspect
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
