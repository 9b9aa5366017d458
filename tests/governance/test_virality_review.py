"""Labelled content that passes the virality thresholds lands in the review queue, where a
reviewer keeps it, reduces its reach or removes it, with a notice to its author."""

from __future__ import annotations

import pytest

from courtyard.container import Services
from tests.chats.conftest import befriend, me
from tests.conftest import ClientFactory, UserFactory
from tests.governance.test_due_process import decide, queue, reviewer


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"virality_views": 2, "virality_shares": 50}


async def test_an_escalation_is_reviewed_and_its_author_told(
    services: Services, make_user: UserFactory, make_client: ClientFactory
) -> None:
    alice, bob, carol = [await make_user(h) for h in ("alice", "bob", "carol")]
    await befriend(alice, bob)
    await befriend(alice, carol)
    group = await alice.create_group("club", [me(bob)["id"], me(carol)["id"]])
    scam = await alice.send_message(group["id"], "稳赚不赔，兼职日结", client_id="s1")
    assert scam["labels"] == ["possible_scam"]
    await bob.messages(group["id"])
    await carol.messages(group["id"])
    staff = await reviewer(services, make_client)
    [item] = await queue(staff, "virality")
    assert (item["target_type"], item["target_id"]) == ("message", scam["id"])
    assert item["subject_account_id"] == me(alice)["id"]
    detail = await staff.request("GET", f"/api/v1/admin/review/items/{item['id']}")
    assert set(detail["outcomes"]) == {"keep", "reduce_reach", "remove"}
    await decide(staff, item["id"], "reduce_reach", policy_clause="community-guidelines#fraud")
    [notice] = await alice.request("GET", "/api/v1/notices")
    assert notice["measure"] == "reduce_reach"
    assert notice["content_id"] == scam["id"]
    assert notice["automated_detection"] is True
    assert notice["automated"] is False
