"""Due process through the API: a blocked or held message is kept with a notice, appealed and
restored; reports aggregate and reach a reviewer who did not file them; measures follow the
ladder with a prior warning; termination needs two reviewers."""

from __future__ import annotations

from typing import Any

import pytest

from courtyard.accounts.model import OperatorRole
from courtyard.client import ApiError, CourtyardClient
from courtyard.container import Services
from courtyard.core.clock import FakeClock
from courtyard.governance.model import Decision, PolicyEvent, RuleHit, Verdict
from courtyard.governance.store import list_audit_for_target
from tests.chats.conftest import befriend, me
from tests.conftest import PASSWORD, ClientFactory, UserFactory


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"session_ttl_days": 3650}  # some tests wait out the six-month appeal window


class _Words:
    """Blocks "forbidden", holds "suspicious"; with evidence like the engine's."""

    async def evaluate(self, event: PolicyEvent) -> Decision:
        text = event.text.get("text", "")
        for word, verdict in (("forbidden", Verdict.BLOCK), ("suspicious", Verdict.HOLD)):
            start = text.find(word)
            if start >= 0:
                signal = {
                    "signal": "words",
                    "type": "keywords",
                    "category": "spam",
                    "confidential": False,
                    "entry": word,
                    "projection": "raw",
                    "start": start,
                    "end": start + len(word),
                }
                hit = RuleHit(
                    "test.words",
                    "community-guidelines#spam",
                    f"The message contains '{word}'.",
                    evidence={"signals": [signal], "condition": "words", "facts": {}},
                    reason_zh="消息包含违规词。",
                    action=verdict,
                )
                return Decision(verdict, hits=(hit,))
        return Decision.allow()


async def reviewer(
    services: Services, make_client: ClientFactory, handle: str = "reviewer"
) -> CourtyardClient:
    await services.accounts.create_operator(handle, PASSWORD, OperatorRole.REVIEWER)
    client = make_client("198.51.100.9")
    login = await client.login(handle, PASSWORD)
    client.account = login["account"]  # type: ignore[attr-defined]
    return client


async def chat(make_user: UserFactory, services: Services) -> tuple[Any, Any, str]:
    alice, bob = await make_user("alice"), await make_user("bob")
    await befriend(alice, bob)
    conversation = await alice.open_direct(me(bob)["id"])
    services.governance.policy = _Words()
    return alice, bob, conversation["id"]


async def decide(client: CourtyardClient, item_id: str, outcome: str, **extra: Any) -> Any:
    body = {"outcome": outcome, "policy_clause": "community-guidelines#spam", "reasons": "Checked."}
    return await client.request(
        "POST", f"/api/v1/admin/review/items/{item_id}/decision", json={**body, **extra}
    )


async def queue(client: CourtyardClient, kind: str | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = await client.request(
        "GET", "/api/v1/admin/review/queue", params={"kind": kind} if kind else None
    )
    return items


async def texts(client: CourtyardClient, conversation_id: str) -> list[str]:
    return [m["text"] for m in (await client.messages(conversation_id))["items"]]


async def test_a_blocked_message_is_kept_for_its_author_with_a_notice_and_restored_on_appeal(
    make_user: UserFactory, make_client: ClientFactory, services: Services
) -> None:
    alice, bob, conversation_id = await chat(make_user, services)
    with pytest.raises(ApiError) as caught:
        await alice.send_message(conversation_id, "a forbidden word", client_id="b1")
    assert caught.value.code == "policy_blocked"
    statement_id = caught.value.details["statement_id"]
    # The retry of the same send is the same notice, not a second one.
    with pytest.raises(ApiError) as again:
        await alice.send_message(conversation_id, "a forbidden word", client_id="b1")
    assert again.value.details["statement_id"] == statement_id

    notices = await alice.request("GET", "/api/v1/notices")
    assert [n["id"] for n in notices] == [statement_id]
    notice = await alice.request("GET", f"/api/v1/notices/{statement_id}")
    assert notice["measure"] == "block"
    assert notice["automated"] is True
    assert notice["automated_detection"] is True
    assert notice["policy_clause"] == "community-guidelines#spam"
    assert notice["excerpt"] == "a forbidden word"
    signal = notice["explanation"][0]["evidence"]["signals"][0]
    assert (signal["entry"], signal["projection"], signal["start"]) == ("forbidden", "raw", 2)
    assert notice["can_appeal"] is True
    assert notice["category"] == "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
    # Only the author sees the withheld message; the recipient sees nothing at all.
    withheld = await alice.request("GET", "/api/v1/withheld")
    assert [w["text"] for w in withheld] == ["a forbidden word"]
    assert await bob.request("GET", "/api/v1/withheld") == []
    assert await bob.request("GET", "/api/v1/notices") == []
    with pytest.raises(ApiError) as hidden:
        await bob.request("GET", f"/api/v1/notices/{statement_id}")
    assert hidden.value.status == 404
    assert await texts(bob, conversation_id) == []

    appeal = await alice.request(
        "POST", f"/api/v1/notices/{statement_id}/appeal", json={"text": "It was a quote."}
    )
    assert appeal["status"] == "open"
    await alice.request(
        "POST", f"/api/v1/appeals/{appeal['id']}/additions", json={"text": "From a novel."}
    )
    with pytest.raises(ApiError) as twice:
        await alice.request("POST", f"/api/v1/notices/{statement_id}/appeal", json={})
    assert twice.value.code == "already_appealed"

    staff = await reviewer(services, make_client)
    [item] = await queue(staff, "appeal")
    detail = await staff.request("GET", f"/api/v1/admin/review/items/{item['id']}")
    assert detail["appeal"]["additions"][0]["text"] == "From a novel."
    assert detail["withheld"]["text"] == "a forbidden word"
    assert detail["statement"]["explanation"][0]["rule_id"] == "test.words"
    assert set(detail["outcomes"]) == {"uphold", "reverse"}
    decided = await decide(staff, item["id"], "reverse", reasons="A quotation, not spam.")
    assert decided["status"] == "decided"

    assert await texts(bob, conversation_id) == ["a forbidden word"]
    notice = await alice.request("GET", f"/api/v1/notices/{statement_id}")
    assert notice["status"] == "reversed"
    assert notice["reversal"]["reasons"] == "A quotation, not spam."
    assert notice["appeal"]["status"] == "reversed"
    assert notice["can_appeal"] is False
    # The send's client id now names the delivered message.
    replay = await alice.send_message(conversation_id, "a forbidden word", client_id="b1")
    assert replay["text"] == "a forbidden word"
    async with services.db.read() as conn:
        tags = [r["tag"] for r in await list_audit_for_target(conn, "statement", statement_id)]
    assert tags == [
        "governance:review:open:appeal",
        "governance:appeal:open",
        "governance:appeal:reversed",
    ]


async def test_a_held_message_waits_for_a_reviewer_then_is_delivered_or_blocked(
    make_user: UserFactory, make_client: ClientFactory, services: Services
) -> None:
    alice, bob, conversation_id = await chat(make_user, services)
    with pytest.raises(ApiError) as first:
        await alice.send_message(conversation_id, "suspicious one", client_id="h1")
    with pytest.raises(ApiError) as second:
        await alice.send_message(conversation_id, "suspicious two", client_id="h2")
    assert first.value.code == second.value.code == "policy_held"
    withheld = await alice.request(
        "GET", "/api/v1/withheld", params={"conversation_id": conversation_id}
    )
    assert {(w["text"], w["status"]) for w in withheld} == {
        ("suspicious one", "held"),
        ("suspicious two", "held"),
    }
    staff = await reviewer(services, make_client)
    items = await queue(staff, "hold")
    assert len(items) == 2
    by_target = {i["target_id"]: i for i in items}
    one = by_target[first.value.details["withheld_id"]]
    two = by_target[second.value.details["withheld_id"]]
    await staff.request("POST", f"/api/v1/admin/review/items/{one['id']}/claim")
    await decide(staff, one["id"], "approve")
    await decide(staff, two["id"], "reject", reasons="Spam link farm.")
    assert await texts(bob, conversation_id) == ["suspicious one"]
    notices = {n["measure"]: n for n in await alice.request("GET", "/api/v1/notices")}
    # The rejected hold became a block decided by a person, which counts as a strike: the
    # ladder's first step is a warning.
    assert notices["block"]["automated"] is False
    assert notices["block"]["reason"] == "Spam link farm."
    assert "warning" in notices
    standing = await alice.request("GET", "/api/v1/standing")
    assert standing["active_strikes"] == 1
    assert standing["state"] == "active"


async def test_reports_aggregate_and_a_removal_is_restored_when_its_appeal_succeeds(
    make_user: UserFactory, make_client: ClientFactory, services: Services, clock: FakeClock
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    cara = await make_user("cara")
    await befriend(alice, bob)
    await befriend(alice, cara)
    group = await alice.create_group("Trio", [me(bob)["id"], me(cara)["id"]])
    sent = await alice.send_message(group["id"], "buy my course", client_id="g1")
    receipt = await bob.request(
        "POST",
        "/api/v1/reports",
        json={
            "target_type": "message",
            "target_id": sent["id"],
            "category": "spam",
            "explanation": "Advert.",
        },
    )
    assert receipt["status"] == "open"
    await cara.request(
        "POST",
        "/api/v1/reports",
        json={"target_type": "message", "target_id": sent["id"], "category": "scam"},
    )
    with pytest.raises(ApiError) as self_report:
        await alice.request(
            "POST",
            "/api/v1/reports",
            json={"target_type": "message", "target_id": sent["id"], "category": "spam"},
        )
    assert self_report.value.code == "report_self"

    staff = await reviewer(services, make_client)
    [item] = await queue(staff, "report")
    assert item["reports"] == 2
    detail = await staff.request("GET", f"/api/v1/admin/review/items/{item['id']}")
    assert [c["text"] for c in detail["context"] if c["reported"]] == ["buy my course"]
    assert {r["category"] for r in detail["reports"]} == {"spam", "scam"}
    await decide(staff, item["id"], "remove", reasons="Unsolicited advertising.")

    assert await texts(bob, conversation_id=group["id"]) == [""]
    [bob_report] = await bob.request("GET", "/api/v1/reports")
    assert (bob_report["status"], bob_report["outcome"]) == ("actioned", "Unsolicited advertising.")
    removal = next(
        n for n in await alice.request("GET", "/api/v1/notices") if n["measure"] == "remove"
    )
    assert removal["automated"] is False
    assert removal["source"] == "notice"

    await alice.request("POST", f"/api/v1/notices/{removal['id']}/appeal", json={"text": "Ok?"})
    [appeal_item] = await queue(staff, "appeal")
    # The reviewer who removed it may not hear the appeal against it.
    with pytest.raises(ApiError) as conflict:
        await decide(staff, appeal_item["id"], "reverse")
    assert conflict.value.code == "reviewer_conflict"
    other = await reviewer(services, make_client, "reviewer2")
    await decide(other, appeal_item["id"], "reverse", reasons="Allowed in this group.")
    assert await texts(bob, group["id"]) == ["buy my course", ""]
    standing = await alice.request("GET", "/api/v1/standing")
    assert standing["active_strikes"] == 0


async def test_nobody_can_report_what_they_cannot_read(
    make_user: UserFactory, services: Services
) -> None:
    alice, _bob, conversation_id = await chat(make_user, services)
    sent = await alice.send_message(conversation_id, "hello", client_id="p1")
    eve = await make_user("eve")
    for target in (sent["id"], "01HZZZZZZZZZZZZZZZZZZZZZZZ"):
        with pytest.raises(ApiError) as caught:
            await eve.request(
                "POST",
                "/api/v1/reports",
                json={"target_type": "message", "target_id": target, "category": "spam"},
            )
        assert (caught.value.status, caught.value.code) == (404, "report_target_not_found")


async def test_suspension_needs_a_prior_warning_and_termination_two_reviewers(
    make_user: UserFactory, make_client: ClientFactory, services: Services, clock: FakeClock
) -> None:
    mallory = await make_user("mallory")
    mallory_id = me(mallory)["id"]
    first = await reviewer(services, make_client)
    second = await reviewer(services, make_client, "reviewer2")
    measure = f"/api/v1/admin/accounts/{mallory_id}/measures"
    body = {"policy_clause": "community-guidelines#fraud", "reasons": "Fraud ring."}
    with pytest.raises(ApiError) as unwarned:
        await first.request("POST", measure, json={**body, "measure": "suspended"})
    assert unwarned.value.code == "warning_required"
    await first.request("POST", measure, json={**body, "measure": "warning"})
    await first.request(
        "POST", measure, json={**body, "measure": "suspended", "duration_hours": 48}
    )
    assert (await mallory.me())["state"] == "suspended"
    # A suspended account still reads its notices and can appeal.
    notices = await mallory.request("GET", "/api/v1/notices")
    assert [n["measure"] for n in notices] == ["suspended", "warning"]
    with pytest.raises(ApiError) as cannot_send:
        await mallory.request("POST", "/api/v1/reports", json={})
    assert cannot_send.value.status in {403, 422}

    proposal = await first.request("POST", measure, json={**body, "measure": "terminated"})
    assert proposal["awaiting_second_reviewer"] is True
    assert (await mallory.me())["state"] == "suspended"
    with pytest.raises(ApiError) as same:
        await decide(first, proposal["id"], "terminated")
    assert same.value.code == "reviewer_conflict"
    await decide(second, proposal["id"], "terminated", reasons="Confirmed fraud ring.")
    # Termination takes effect when the appeal window closes; until then, suspended.
    assert (await mallory.me())["state"] == "suspended"
    notices = await mallory.request("GET", "/api/v1/notices")
    assert notices[0]["measure"] == "terminated"
    assert notices[0]["can_appeal"] is True
    clock.advance(seconds=int(services.due_process.settings.appeal_window.total_seconds()) + 1)
    assert (await mallory.me())["state"] == "terminated"
    # Terminated: notices and the export remain for the export window, then the export goes.
    assert await mallory.export_contacts("csv")
    clock.advance(seconds=int(services.due_process.settings.export_window.total_seconds()))
    with pytest.raises(ApiError) as gone:
        await mallory.export_contacts("csv")
    assert gone.value.code == "capability_denied"
    assert await mallory.request("GET", "/api/v1/notices")


async def test_a_reviewer_never_reviews_their_own_content(
    make_user: UserFactory, make_client: ClientFactory, services: Services
) -> None:
    staff = await reviewer(services, make_client)
    bob = await make_user("bob")
    await befriend(staff, bob)
    conversation = await staff.open_direct(me(bob)["id"])
    sent = await staff.send_message(conversation["id"], "staff says hi", client_id="s1")
    await bob.request(
        "POST",
        "/api/v1/reports",
        json={"target_type": "message", "target_id": sent["id"], "category": "harassment"},
    )
    [item] = await queue(staff, "report")
    with pytest.raises(ApiError) as caught:
        await decide(staff, item["id"], "no_violation")
    assert caught.value.code == "reviewer_conflict"


async def test_manifestly_unfounded_reports_limit_the_reporter_with_a_notice(
    make_user: UserFactory, make_client: ClientFactory, services: Services
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    staff = await reviewer(services, make_client)
    for _n in range(3):
        await bob.request(
            "POST",
            "/api/v1/reports",
            json={"target_type": "account", "target_id": me(alice)["id"], "category": "spam"},
        )
        [item] = await queue(staff, "report")
        await decide(staff, item["id"], "no_violation", manifestly_unfounded=True)
    notices = await bob.request("GET", "/api/v1/notices")
    assert [n["measure"] for n in notices] == ["feature_limit"]
    with pytest.raises(ApiError) as limited:
        await bob.request(
            "POST",
            "/api/v1/reports",
            json={"target_type": "account", "target_id": me(alice)["id"], "category": "spam"},
        )
    assert limited.value.code == "capability_denied"
    assert limited.value.details["capability"] == "report"
    # Reporting is all that is limited.
    await befriend(bob, alice)


async def test_review_routes_are_invisible_to_users(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    with pytest.raises(ApiError) as caught:
        await alice.request("GET", "/api/v1/admin/review/queue")
    assert caught.value.status == 404


async def test_an_account_report_offers_no_removal_and_refuses_one(
    make_user: UserFactory, make_client: ClientFactory, services: Services
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await bob.request(
        "POST",
        "/api/v1/reports",
        json={"target_type": "account", "target_id": me(alice)["id"], "category": "spam"},
    )
    staff = await reviewer(services, make_client)
    [item] = await queue(staff, "report")
    detail = await staff.request("GET", f"/api/v1/admin/review/items/{item['id']}")
    assert "remove" not in detail["outcomes"]
    assert "group_read_only" not in detail["outcomes"]
    with pytest.raises(ApiError) as caught:
        await decide(staff, item["id"], "remove")
    assert caught.value.code == "invalid_input"
