"""Every chats write passes governance: a blocked message is refused with its explanation
and recorded, never dropped silently; the small writes are asked about too."""

from __future__ import annotations

import pytest

from courtyard.client import ApiError
from courtyard.container import Services
from courtyard.governance.model import Decision, EventKind, PolicyEvent, RuleHit, Verdict
from tests.chats.conftest import befriend, me
from tests.conftest import UserFactory


class _Policy:
    """Blocks message text containing "forbidden"; remembers every event."""

    def __init__(self) -> None:
        self.events: list[PolicyEvent] = []

    async def evaluate(self, event: PolicyEvent) -> Decision:
        self.events.append(event)
        if "forbidden" in event.text.get("text", ""):
            hit = RuleHit("test.chat.words", "§1 test words", "The message has a blocked word.")
            return Decision(Verdict.BLOCK, hits=(hit,))
        return Decision.allow()


async def test_a_blocked_message_is_refused_explained_and_not_stored(
    make_user: UserFactory, services: Services
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await befriend(alice, bob)
    conversation = await alice.open_direct(me(bob)["id"])
    services.governance.policy = _Policy()
    with pytest.raises(ApiError) as caught:
        await alice.send_message(conversation["id"], "a forbidden word", client_id="x1")
    assert caught.value.code == "policy_blocked"
    assert caught.value.details["decision_id"]
    assert caught.value.details["rules"][0]["rule_id"] == "test.chat.words"
    ok = await alice.send_message(conversation["id"], "a fine word", client_id="x2")
    history = await bob.messages(conversation["id"])
    assert [m["id"] for m in history["items"]] == [ok["id"]]


async def test_small_chat_writes_are_asked_about(
    make_user: UserFactory, services: Services
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await befriend(alice, bob)
    conversation = await alice.open_direct(me(bob)["id"])
    sent = await alice.send_message(conversation["id"], "hello", client_id="h1")
    policy = _Policy()
    services.governance.policy = policy
    await bob.mark_read(conversation["id"], sent["seq"])
    await bob.conversation_settings(conversation["id"], pinned=True)
    await bob.hide_message(conversation["id"], sent["id"])
    await alice.recall_message(conversation["id"], sent["id"])
    await bob.chat_preferences(allow_strangers=True)
    actions = [e.context.get("action") for e in policy.events if e.kind is EventKind.CONVERSATION]
    assert actions == ["mark_read", "update_settings", "hide", "recall", "allow_strangers"]


async def test_a_batch_reads_its_authors_facts_in_one_go(
    make_user: UserFactory, services: Services
) -> None:
    """A default rule reads the author's account age: a batch of sends from many authors
    fetches the facts of those not cached in one bulk read (not a query per author inside
    the write transaction), and a second batch finds them cached."""
    users = [await make_user(f"facts{i}") for i in range(6)]
    governance = services.governance
    real_one, real_many = governance.author_facts, governance.author_facts_many
    assert real_one is not None
    assert real_many is not None
    one_calls: list[str] = []
    many_calls: list[list[str]] = []

    async def one(account_id: str) -> dict[str, object]:
        one_calls.append(account_id)
        return await real_one(account_id)

    async def many(account_ids: list[str]) -> dict[str, dict[str, object]]:
        many_calls.append(list(account_ids))
        return await real_many(account_ids)

    governance.author_facts, governance.author_facts_many = one, many
    events = [
        PolicyEvent(
            EventKind.MESSAGE,
            actor_id=me(user)["id"],
            subject_type="conversation",
            subject_id=f"c{index}",
            text={"text": "see you tomorrow"},
            context={"conversation_kind": "direct", "hops": 0, "content_type": "message"},
        )
        for index, user in enumerate(users)
    ]
    for _ in range(2):
        async with services.db.write() as tx:
            decisions = await governance.decide_many_in(tx, events)
        assert [d.verdict for d in decisions] == [Verdict.ALLOW] * len(events)
    assert many_calls == [sorted(me(user)["id"] for user in users)]
    assert one_calls == []
