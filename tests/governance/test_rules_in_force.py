"""Rule packs in a running server: defaults in force, admin edits with history, shadow results,
counters, labels and friction on messages, and every decision explained and recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from courtyard.accounts.model import OperatorRole
from courtyard.client import ApiError, CourtyardClient
from courtyard.container import Services
from courtyard.core.bus import InProcessBus
from courtyard.governance.service import GovernanceService
from courtyard.governance.store import policy_decision_rules, policy_decisions
from tests.chats.conftest import befriend, me
from tests.conftest import PASSWORD, ClientFactory, UserFactory

SHADOW_PACK = """\
[pack]
id = "ops"

[lists.giveaway]
category = "spam"
entries = ["giveaway"]

[[rules]]
id = "ops.giveaway"
events = ["message"]
when = "lists.giveaway.hit"
action = "block"
mode = "shadow"
policy = "guidelines#spam"
reason = { en = "Giveaway spam.", zh = "抽奖垃圾信息。" }
examples = { match = ["big giveaway today"] }

[[rules]]
id = "ops.rate"
events = ["message"]
when = "author.messages_per_minute > 3"
action = "block"
policy = "guidelines#spam"
reason = { en = "Slow down.", zh = "请慢一点。" }
examples = { match = [{ text = "x", author = { messages_per_minute = 4 } }] }
"""


def rate_pack(limit: int) -> str:
    """The ops pack with another rate limit (and an example that still fits it)."""
    return SHADOW_PACK.replace("> 3", f"> {limit}").replace(
        "messages_per_minute = 4", f"messages_per_minute = {limit + 1}"
    )


async def admin(services: Services, make_client: ClientFactory) -> CourtyardClient:
    await services.accounts.create_operator("admin", PASSWORD, OperatorRole.ADMIN)
    client = make_client("198.51.100.7")
    await client.login("admin", PASSWORD)
    return client


async def pair(make_user: UserFactory) -> tuple[CourtyardClient, CourtyardClient, str]:
    alice, bob = await make_user("alice"), await make_user("bob")
    await befriend(alice, bob)
    conversation = await alice.open_direct(me(bob)["id"])
    return alice, bob, conversation["id"]


async def decision_rows(services: Services) -> list[dict[str, Any]]:
    async with services.db.read() as conn:
        rows = await conn.execute(select(policy_decisions).order_by(policy_decisions.c.id))
        return [dict(row._mapping) for row in rows]


async def test_the_default_packs_are_recorded_and_in_force(
    services: Services, make_client: ClientFactory
) -> None:
    root = await admin(services, make_client)
    packs = {pack["pack_id"]: pack for pack in await root.policy_packs()}
    assert set(packs) == {"spam_scams", "forwarding", "personal_data", "abuse"}
    spam = packs["spam_scams"]
    assert (spam["version"], spam["origin"], spam["in_force"], spam["enabled"]) == (
        1,
        "file",
        True,
        True,
    )
    assert spam["rules"] >= 7
    source = (await root.policy_pack("spam_scams"))["source"]
    assert "[lists.offplatform_contact]" in source


async def test_scam_wording_labels_the_message_for_the_recipient(
    services: Services, make_user: UserFactory
) -> None:
    alice, bob, conversation_id = await pair(make_user)
    sent = await alice.send_message(conversation_id, "兼職日結，穩賺不賠！", client_id="m1")
    assert sent["labels"] == ["possible_scam"]
    assert sent["friction"] is False
    [seen] = (await bob.messages(conversation_id))["items"]
    assert seen["labels"] == ["possible_scam"]
    [row] = await decision_rows(services)
    assert (row["verdict"], row["mode"], row["content_type"], row["content_id"]) == (
        "label",
        "enforce",
        "message",
        sent["id"],
    )
    [hit] = row["hits"]
    assert hit["rule_id"] == "spam_scams.money_request"
    signals = hit["evidence"]["signals"]
    assert {(s["entry"], s["projection"]) for s in signals} == {
        ("兼职日结", "simplified"),
        ("稳赚不赔", "simplified"),
    }
    assert row["automated_detection"] is True
    assert row["automated_decision"] is True


async def test_a_blocked_message_tells_the_sender_which_rule_and_which_words(
    services: Services, make_user: UserFactory
) -> None:
    alice, bob, conversation_id = await pair(make_user)
    with pytest.raises(ApiError) as caught:
        await alice.send_message(conversation_id, "你收到的验 证 码发给我一下", client_id="m1")
    assert caught.value.code == "policy_blocked"
    [rule] = caught.value.details["rules"]
    assert rule["rule_id"] == "spam_scams.code_phishing"
    assert rule["reason_zh"].startswith("向他人索要验证码")
    assert rule["policy_clause"] == "community-guidelines#fraud"
    [signal] = rule["evidence"]["signals"]
    assert signal["entry"] == "验证码 + 发给我"
    assert (await bob.messages(conversation_id))["items"] == []
    async with services.db.read() as conn:
        rows = (await conn.execute(select(policy_decision_rules))).all()
    assert [(r.rule_id, r.pack_id, r.pack_version, r.action, r.mode) for r in rows] == [
        ("spam_scams.code_phishing", "spam_scams", 1, "block", "enforce")
    ]


async def test_a_message_with_friction_is_forwarded_one_conversation_at_a_time(
    services: Services, make_user: UserFactory
) -> None:
    alice, bob, conversation_id = await pair(make_user)
    carol = await make_user("carol")
    await befriend(bob, carol)
    with_carol = await bob.open_direct(me(carol)["id"])
    group = await bob.create_group("club", [me(carol)["id"], me(alice)["id"]])
    sent = await alice.send_message(
        conversation_id,
        "guaranteed returns! send to 0x52908400098527886E0F7030069857D2E4169EE7",
        client_id="m1",
    )
    assert sent["friction"] is True
    with pytest.raises(ApiError) as caught:
        await bob.forward_message(
            conversation_id, sent["id"], [with_carol["id"], group["id"]], client_id="f1"
        )
    assert caught.value.code == "forward_friction"
    [copy] = await bob.forward_message(
        conversation_id, sent["id"], [with_carol["id"]], client_id="f2"
    )
    assert copy["hops"] == 1
    async with services.db.read() as conn:
        reach = await services.virality.reach(conn, "message", sent["id"])
    assert reach is not None
    assert (reach.shares, reach.views) == (1, 2)  # bob saw the original; carol the copy


async def test_admin_edits_have_history_and_a_refused_pack_changes_nothing(
    services: Services, make_client: ClientFactory
) -> None:
    root = await admin(services, make_client)
    stored = await root.put_policy_pack("ops", SHADOW_PACK, note="first")
    assert (stored["version"], stored["origin"], stored["in_force"]) == (1, "admin", True)

    broken = SHADOW_PACK.replace("author.messages_per_minute > 3", "author.messages > 3")
    with pytest.raises(ApiError) as caught:
        await root.put_policy_pack("ops", broken)
    assert caught.value.code == "pack_refused"
    assert caught.value.details["problems"] == [
        {
            "line": 21,
            "message": "ops.rate: when: unknown field author.messages (known: "
            + ", ".join(
                sorted(
                    [
                        "account_age_days",
                        "comments_per_hour",
                        "contact_requests_per_day",
                        "groups_created_per_day",
                        "id",
                        "messages_per_hour",
                        "messages_per_minute",
                        "official",
                        "payment_amount_per_day",
                        "payments_per_hour",
                        "posts_per_day",
                        "recipients_per_hour",
                        "state",
                        "verified",
                    ]
                )
            )
            + ")",
        }
    ]
    assert [v["version"] for v in await root.policy_pack_history("ops")] == [1]

    second = await root.put_policy_pack("ops", rate_pack(5), note="laxer")
    assert second["version"] == 2
    off = await root.set_policy_pack_enabled("ops", False)
    assert (off["version"], off["enabled"]) == (3, False)
    assert "ops" not in services.governance.loaded
    back = await root.revert_policy_pack("ops", 1)
    assert (back["version"], back["source"]) == (4, SHADOW_PACK)
    assert services.governance.loaded["ops"].row.version == 4
    history = await root.policy_pack_history("ops")
    assert [(v["version"], v["note"]) for v in history] == [
        (4, "revert to version 1"),
        (3, None),
        (2, "laxer"),
        (1, "first"),
    ]
    with pytest.raises(ApiError) as unchanged:
        await root.put_policy_pack("ops", SHADOW_PACK)
    assert unchanged.value.code == "pack_unchanged"


async def test_shadow_results_show_what_a_rule_would_have_done(
    services: Services, make_client: ClientFactory, make_user: UserFactory
) -> None:
    root = await admin(services, make_client)
    await root.put_policy_pack("ops", SHADOW_PACK)
    alice, bob, conversation_id = await pair(make_user)
    sent = await alice.send_message(conversation_id, "Big GIVEAWAY today!", client_id="m1")
    assert sent["labels"] == []  # shadow: nothing happens to the user
    assert len((await bob.messages(conversation_id))["items"]) == 1
    activity = await root.rule_activity("ops.giveaway")
    assert activity["counts"] == [{"action": "block", "mode": "shadow", "count": 1}]
    [recent] = activity["recent"]
    assert (recent["verdict"], recent["mode"], recent["content_id"]) == (
        "allow",
        "shadow",
        sent["id"],
    )
    assert recent["hits"][0]["evidence"]["signals"][0]["matched"] == "GIVEAWAY"
    detail = await root.policy_decision(recent["id"])
    assert detail["hits"] == recent["hits"]


async def test_rate_rules_count_messages_per_author(
    services: Services, make_client: ClientFactory, make_user: UserFactory
) -> None:
    root = await admin(services, make_client)
    await root.put_policy_pack("ops", SHADOW_PACK)
    alice, bob, conversation_id = await pair(make_user)
    for index in range(3):
        await alice.send_message(conversation_id, f"hi {index}", client_id=f"m{index}")
    with pytest.raises(ApiError) as caught:
        await alice.send_message(conversation_id, "hi again", client_id="m3")
    assert caught.value.details["rules"][0]["rule_id"] == "ops.rate"
    assert caught.value.details["rules"][0]["evidence"]["facts"] == {
        "author.messages_per_minute": 4
    }
    # Another author has a counter of their own.
    await bob.send_message(conversation_id, "hello", client_id="b1")
    services.clock.advance(seconds=120)  # type: ignore[attr-defined]
    try:
        await alice.send_message(conversation_id, "a minute later", client_id="m4")
    except ApiError as e:
        raise AssertionError(e.details) from e


async def test_only_operators_see_the_policy_console(
    services: Services, make_user: UserFactory, make_client: ClientFactory
) -> None:
    alice = await make_user("alice")
    with pytest.raises(ApiError) as caught:
        await alice.policy_packs()
    assert caught.value.status == 404
    await services.accounts.create_operator("reviewer", PASSWORD, OperatorRole.REVIEWER)
    reviewer = make_client("198.51.100.8")
    await reviewer.login("reviewer", PASSWORD)
    assert await reviewer.policy_packs()
    with pytest.raises(ApiError) as denied:
        await reviewer.put_policy_pack("ops", SHADOW_PACK)
    assert denied.value.status == 404


async def test_check_and_try_a_pack_without_storing_it(
    services: Services, make_client: ClientFactory
) -> None:
    root = await admin(services, make_client)
    checked = await root.check_policy_pack(SHADOW_PACK.replace("> 3", "> 'three'"))
    assert checked["valid"] is False
    assert checked["problems"][0]["line"] == 21
    assert "type error" in checked["problems"][0]["message"]
    report = await root.test_policy_pack(
        SHADOW_PACK,
        [
            {"text": "giveaway!"},
            {"text": "hello", "author": {"messages_per_minute": 9}},
            {"text": "hello"},
        ],
    )
    assert report["events"] == 3
    fired = {rule["rule_id"]: rule["fired"] for rule in report["rules"]}
    assert fired == {"ops.giveaway": 1, "ops.rate": 1}
    assert await root.policy_packs()  # still only the defaults: nothing was stored
    assert "ops" not in {pack["pack_id"] for pack in await root.policy_packs()}


async def test_a_pack_changed_on_one_node_is_in_force_on_the_other(services: Services) -> None:
    bus = InProcessBus()
    first = GovernanceService(services.db, services.clock)
    second = GovernanceService(services.db, services.clock)
    await first.start(bus)
    await second.start(bus)
    try:
        await first.put_pack(None, SHADOW_PACK, note=None)
        for _ in range(100):
            if "ops" in second.loaded:
                break
            import asyncio

            await asyncio.sleep(0.01)
        assert second.loaded["ops"].row.version == 1
    finally:
        await first.stop()
        await second.stop()
        await bus.close()


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "policy"
    directory.mkdir()
    (directory / "ops.toml").write_text(SHADOW_PACK, "utf-8")
    return directory


async def test_the_policy_directory_is_loaded_and_admin_edits_are_written_back(
    services: Services, policy_dir: Path
) -> None:
    governance = GovernanceService(services.db, services.clock, policy_dir=policy_dir)
    assert await governance.load_policy() == []
    assert governance.loaded["ops"].row.origin == "file"
    # Restarting with the same file records nothing new.
    await governance.load_policy()
    assert [row.version for row in await governance.pack_history("ops")] == [1]
    edited = rate_pack(10)
    await governance.put_pack(None, edited, note="via the console")
    assert (policy_dir / "ops.toml").read_text("utf-8") == edited
    # A file edited by hand becomes a new version at the next start.
    (policy_dir / "ops.toml").write_text(rate_pack(20), "utf-8")
    await governance.load_policy()
    history = await governance.pack_history("ops")
    assert [(row.version, row.origin) for row in history] == [
        (3, "file"),
        (2, "admin"),
        (1, "file"),
    ]
    # A broken file is refused with its line; the version in force stays.
    (policy_dir / "ops.toml").write_text(SHADOW_PACK.replace("author.", "writer."), "utf-8")
    [error] = await governance.load_policy()
    assert error.problems[0].line == 21
    assert governance.loaded["ops"].row.version == 3


async def test_console_errors_are_typed_and_versions_are_readable(
    services: Services, make_client: ClientFactory
) -> None:
    root = await admin(services, make_client)
    await root.put_policy_pack("ops", SHADOW_PACK, note="first")
    first = await root.policy_pack("ops", version=1)
    assert (first["version"], first["source"], first["note"]) == (1, SHADOW_PACK, "first")
    valid = await root.check_policy_pack(SHADOW_PACK)
    assert (valid["valid"], valid["pack_id"], valid["rules"], valid["lists"]) == (
        True,
        "ops",
        2,
        1,
    )
    for call, code in [
        (root.policy_pack_history("nope"), "pack_not_found"),
        (root.policy_pack("ops", version=9), "pack_not_found"),
        (root.set_policy_pack_enabled("nope", False), "pack_not_found"),
        (root.policy_decision("01ARZ3NDEKTSV4RRFFQ69G5FAV"), "decision_not_found"),
        (root.put_policy_pack("other", SHADOW_PACK), "pack_refused"),
        (
            root._admin("GET", "/admin/policy/content/message/01ARZ3NDEKTSV4RRFFQ69G5FAV/reach"),
            "content_not_tracked",
        ),
        (
            root._admin(
                "POST", "/admin/policy/content/wallet/x/correction", json={"text": "correction"}
            ),
            "content_not_tracked",
        ),
    ]:
        with pytest.raises(ApiError) as caught:
            await call
        assert caught.value.code == code
