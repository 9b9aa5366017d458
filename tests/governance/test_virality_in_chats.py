"""Labelled content that travels far: escalated once past the thresholds, forwarded one chat
at a time from then on, and a correction reaches exactly the people who saw or shared it."""

from __future__ import annotations

import pytest

from courtyard.client import ApiError
from courtyard.container import Services
from courtyard.governance.virality import CORRECTION_EVENT
from tests.chats.conftest import befriend, me
from tests.conftest import ClientFactory, UserFactory
from tests.governance.test_rules_in_force import admin


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"virality_views": 3, "virality_shares": 2}


async def test_labelled_content_is_escalated_and_corrected(
    services: Services, make_user: UserFactory, make_client: ClientFactory
) -> None:
    alice, bob, carol, dave, erin = [
        await make_user(h) for h in ("alice", "bob", "carol", "dave", "erin")
    ]
    for friend in (bob, carol):
        await befriend(alice, friend)
    await befriend(bob, dave)
    await befriend(bob, erin)
    group = await alice.create_group("club", [me(bob)["id"], me(carol)["id"]])
    scam = await alice.send_message(group["id"], "稳赚不赔，兼职日结", client_id="s1")
    assert scam["labels"] == ["possible_scam"]
    with_dave = await bob.open_direct(me(dave)["id"])
    with_erin = await bob.open_direct(me(erin)["id"])
    # Two views so far (bob, carol): no friction yet, so two targets at once are fine.
    await bob.forward_message(group["id"], scam["id"], [with_dave["id"]], client_id="f1")
    # The first share and dave's view cross the thresholds: escalated, friction from now on.
    async with services.db.read() as conn:
        reach = await services.virality.reach(conn, "message", scam["id"])
    assert reach is not None
    assert (reach.views, reach.shares, reach.friction) == (3, 1, True)
    assert reach.escalated_at is not None
    with pytest.raises(ApiError) as caught:
        await bob.forward_message(
            group["id"], scam["id"], [with_dave["id"], with_erin["id"]], client_id="f2"
        )
    assert caught.value.code == "forward_friction"

    root = await admin(services, make_client)
    seen = await root._admin("GET", f"/admin/policy/content/message/{scam['id']}/reach")
    assert seen["escalated_at"] is not None
    assert seen["decision_id"] == reach.decision_id
    sent = await root._admin(
        "POST",
        f"/admin/policy/content/message/{scam['id']}/correction",
        json={"text": "This offer is a known scam."},
    )
    assert sent == {"recipients": 3}  # bob (saw and shared), carol, dave; not alice, not erin
    for person, expected in ((bob, 1), (carol, 1), (dave, 1), (erin, 0), (alice, 0)):
        events = await services.realtime.events_for(me(person)["id"], 0, 1000)
        corrections = [e for e in events if e.kind == CORRECTION_EVENT]
        assert len(corrections) == expected, me(person)["handle"]
    with pytest.raises(ApiError) as untracked:
        await root._admin(
            "POST",
            "/admin/policy/content/message/01ARZ3NDEKTSV4RRFFQ69G5FAV/correction",
            json={"text": "x"},
        )
    assert untracked.value.code == "content_not_tracked"
