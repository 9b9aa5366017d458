"""Due process beyond chat messages: one held payment instead of a frozen wallet, admins
assigning review items, rules flagged when appeals keep reversing them, and what a notice may
show of a confidential list."""

from __future__ import annotations

from typing import Any

import pytest

from courtyard.client import ApiError
from courtyard.container import Services
from courtyard.core.db import Tx
from courtyard.governance.ladder import Measure
from courtyard.governance.model import Capability, Decision, RuleHit, Verdict
from courtyard.governance.reasons import visible_explanation
from tests.chats.conftest import befriend, me
from tests.conftest import PASSWORD, ClientFactory, UserFactory
from tests.governance.test_due_process import _Words, decide, queue, reviewer


class _Payments:
    """A stand-in for the wallet: remembers what due process asked of each payment."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def restrict(self, tx: Tx, target_id: str, statement: dict[str, Any]) -> None:
        assert statement["measure"] == "payment_hold"
        self.calls.append(("restrict", target_id))

    async def lift(self, tx: Tx, target_id: str) -> None:
        self.calls.append(("lift", target_id))

    async def refuse(self, tx: Tx, target_id: str) -> None:
        self.calls.append(("refuse", target_id))


def _suspect() -> Decision:
    hit = RuleHit(
        "test.payments.mule",
        "community-guidelines#fraud",
        "Many new payees in an hour.",
        reason_zh="一小时内新增收款人过多。",
        action=Verdict.HOLD,
    )
    return Decision(Verdict.HOLD, hits=(hit,), decision_id=None)


async def hold_payment(services: Services, account_id: str, payment_id: str) -> dict[str, Any]:
    async with services.db.write() as tx:
        return await services.due_process.hold_target_in(
            tx,
            measure=Measure.PAYMENT_HOLD,
            target_type="payment",
            target_id=payment_id,
            account_id=account_id,
            decision=_suspect(),
            facts="The payment matched a money-mule pattern.",
            facts_zh="该付款符合洗钱模式。",
        )


async def test_one_payment_is_held_without_freezing_the_wallet_and_released_or_refused(
    make_user: UserFactory, make_client: ClientFactory, services: Services
) -> None:
    payments = _Payments()
    services.due_process.restrictors["payment"] = payments
    alice = await make_user("alice")
    alice_id = me(alice)["id"]
    first = await hold_payment(services, alice_id, "pay-1")
    second = await hold_payment(services, alice_id, "pay-2")
    assert payments.calls == [("restrict", "pay-1"), ("restrict", "pay-2")]
    # Only the payments are held: the account keeps paying and receiving.
    granted = await services.due_process.capabilities_of(alice_id)
    assert {Capability.PAY, Capability.RECEIVE, Capability.WITHDRAW} <= granted
    notice = await alice.request("GET", f"/api/v1/notices/{first['id']}")
    assert notice["measure"] == "payment_hold"
    assert notice["facts_zh"] == "该付款符合洗钱模式。"
    assert notice["reason"] == "Many new payees in an hour."

    staff = await reviewer(services, make_client)
    items = {i["target_id"]: i for i in await queue(staff, "hold")}
    await decide(staff, items["pay-1"]["id"], "approve", policy_clause="c#fraud")
    await decide(staff, items["pay-2"]["id"], "reject", policy_clause="c#fraud")
    assert payments.calls[2:] == [("lift", "pay-1"), ("refuse", "pay-2")]
    assert (await alice.request("GET", f"/api/v1/notices/{first['id']}"))["status"] == "reversed"
    assert (await alice.request("GET", f"/api/v1/notices/{second['id']}"))["status"] == "ended"


async def test_admins_assign_items_but_never_to_someone_involved(
    make_user: UserFactory, make_client: ClientFactory, services: Services
) -> None:
    from courtyard.accounts.model import OperatorRole

    await services.accounts.create_operator("boss", PASSWORD, OperatorRole.ADMIN)
    admin = make_client("198.51.100.30")
    await admin.login("boss", PASSWORD)
    staff = await reviewer(services, make_client)
    alice, bob = await make_user("alice"), await make_user("bob")
    await bob.request(
        "POST",
        "/api/v1/reports",
        json={"target_type": "account", "target_id": me(alice)["id"], "category": "spam"},
    )
    [item] = await queue(staff, "report")
    staff_id = staff.account["id"]  # type: ignore[attr-defined]
    assigned = await admin.request(
        "POST", f"/api/v1/admin/review/items/{item['id']}/assign", json={"reviewer_id": staff_id}
    )
    assert assigned["assigned_to"] == staff_id
    # A reviewer cannot assign, and nobody can be assigned a report they filed.
    with pytest.raises(ApiError) as not_admin:
        await staff.request(
            "POST",
            f"/api/v1/admin/review/items/{item['id']}/assign",
            json={"reviewer_id": staff_id},
        )
    assert not_admin.value.status == 404
    with pytest.raises(ApiError) as not_reviewer:
        await admin.request(
            "POST",
            f"/api/v1/admin/review/items/{item['id']}/assign",
            json={"reviewer_id": me(bob)["id"]},
        )
    assert not_reviewer.value.code == "invalid_input"


async def test_a_rule_reversed_on_appeal_too_often_is_flagged_to_admins(
    make_user: UserFactory, make_client: ClientFactory, services: Services
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await befriend(alice, bob)
    conversation = await alice.open_direct(me(bob)["id"])
    services.governance.policy = _Words()
    staff = await reviewer(services, make_client)
    minimum = services.due_process.settings.overturn_flag_min_appeals
    for n in range(minimum):
        with pytest.raises(ApiError) as caught:
            await alice.send_message(conversation["id"], f"forbidden {n}", client_id=f"f{n}")
        statement_id = caught.value.details["statement_id"]
        await alice.request("POST", f"/api/v1/notices/{statement_id}/appeal", json={})
        [item] = await queue(staff, "appeal")
        if n == minimum - 2:
            await decide(staff, item["id"], "uphold")  # one upheld: still ≥ 30 % reversed
        else:
            await decide(staff, item["id"], "reverse")
        flagged = await staff.request("GET", "/api/v1/admin/review/flagged-rules")
        if n < minimum - 1:
            assert flagged == []
    [flag] = flagged
    assert flag["rule_id"] == "test.words"
    assert (flag["appeals"], flag["reversals"]) == (minimum, minimum - 1)


def test_a_notice_shows_the_category_of_a_confidential_list_never_its_entries() -> None:
    hits = [
        {
            "rule_id": "ops.secret",
            "mode": "enforce",
            "evidence": {
                "condition": "signals.secret",
                "signals": [
                    {
                        "signal": "secret",
                        "type": "keywords",
                        "category": "scam",
                        "confidential": True,
                        "entry": "the hidden phrase",
                        "matched": "the hidden phrase",
                        "start": 3,
                        "end": 20,
                        "projection": "compact",
                    },
                    {"signal": "open", "type": "keywords", "entry": "visible", "start": 0},
                ],
            },
        },
        {"rule_id": "ops.shadowed", "mode": "shadow", "evidence": {"signals": []}},
    ]
    [shown] = visible_explanation(hits)
    hidden, visible = shown["evidence"]["signals"]
    assert hidden == {
        "signal": "secret",
        "type": "keywords",
        "category": "scam",
        "confidential": True,
    }
    assert visible["entry"] == "visible"
    assert "condition" not in shown["evidence"]
