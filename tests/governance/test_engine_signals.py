"""The less common signals and variables: image hashes, fields, content facts, counters on
other event kinds, a held decision, and facts that are not what a rule expects."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from courtyard.client import ApiError
from courtyard.container import Services
from courtyard.governance.engine import ClassifierResult, CompiledPolicy
from courtyard.governance.hashes import hash_image
from courtyard.governance.model import EventKind, PolicyEvent, Verdict
from courtyard.governance.packs import parse_pack
from courtyard.governance.service import GovernanceService, _counter_ops
from tests.chats.conftest import befriend, me
from tests.conftest import UserFactory

IMAGE = Image.new("RGB", (64, 48), (200, 30, 30))
for x in range(0, 64, 8):
    for y in range(48):
        IMAGE.putpixel((x, y), (0, 0, 0))


def png() -> bytes:
    buffer = io.BytesIO()
    IMAGE.save(buffer, format="PNG")
    return buffer.getvalue()


def pack_with_hashes() -> str:
    known = hash_image(png())
    return f"""\
[pack]
id = "img"

[lists.known]
type = "hashes"
category = "known_image"
entries = ["sha256:{known.sha256}", "dhash:{known.dhash:016x}"]

[[rules]]
id = "img.known"
events = ["message", "attachment"]
when = "hashes.known.hit"
action = "block"
policy = "p#img"
reason = {{ en = "Known image.", zh = "已知图片。" }}

[rules.examples]
match = [{{ text = "", event = {{ image_hashes = [{{ sha256 = "{known.sha256}" }}] }} }}]
no_match = [{{ text = "", event = {{ image_hashes = [{{ sha256 = "00", dhash = "0" }}] }} }}]
"""


def test_an_image_on_a_hash_list_is_found_by_its_hashes() -> None:
    policy = CompiledPolicy([parse_pack(pack_with_hashes())])
    assert policy.reads_images(EventKind.ATTACHMENT)
    assert not policy.reads_images(EventKind.POST)
    event = PolicyEvent(
        EventKind.ATTACHMENT,
        actor_id="a",
        subject_type="attachment",
        context={"image_hashes": [hash_image(png())]},
    )
    decision = policy.evaluate(event)
    assert decision.verdict is Verdict.BLOCK
    [signal] = decision.hits[0].evidence["signals"]
    assert (signal["signal"], signal["kind"], signal["distance"]) == ("hashes.known", "sha256", 0)
    assert signal["confidential"] is True  # hash lists are confidential unless said otherwise


async def test_an_uploaded_image_on_the_list_is_refused(
    make_user: UserFactory, services: Services
) -> None:
    await services.governance.put_pack(None, pack_with_hashes(), note=None)
    alice, bob = await make_user("alice"), await make_user("bob")
    await befriend(alice, bob)
    conversation = await alice.open_direct(me(bob)["id"])
    with pytest.raises(ApiError) as caught:
        await alice.request(
            "POST",
            f"/api/v1/conversations/{conversation['id']}/attachments",
            files={"file": ("red.png", png(), "image/png")},
        )
    assert caught.value.code == "policy_blocked"
    assert caught.value.details["rules"][0]["rule_id"] == "img.known"


VARIED = """\
[pack]
id = "v"

[[rules]]
id = "v.fields"
events = ["account.profile"]
when = "fields.exists(k, k == 'bio') && fields.bio.contains('forbidden')"
action = "hold"
policy = "p#1"
reason = { en = "Held.", zh = "待审。" }
examples = { match = [{ text = "", fields = { bio = "a forbidden bio" } }] }

[[rules]]
id = "v.viral"
events = ["message"]
when = "content.shares > 3 && size(content.labels) > 0"
action = "friction"
policy = "p#2"
reason = { en = "Viral.", zh = "传播广。" }
examples = { match = [{ text = "x", content = { shares = 4, labels = ["possible_scam"] } }] }

[[rules]]
id = "v.requests"
events = ["contact.request"]
when = "author.contact_requests_per_day > 2"
action = "block"
policy = "p#3"
reason = { en = "Too many requests today.", zh = "今天的好友申请太多。" }
examples = { match = [{ text = "", author = { contact_requests_per_day = 3 } }] }
"""


def test_fields_and_content_facts_are_readable() -> None:
    policy = CompiledPolicy([parse_pack(VARIED)])
    profile = PolicyEvent(
        EventKind.ACCOUNT_PROFILE, actor_id="a", subject_type="account", text={"bio": "forbidden"}
    )
    assert policy.evaluate(profile).verdict is Verdict.HOLD
    viral = PolicyEvent(
        EventKind.MESSAGE,
        actor_id="a",
        subject_type="conversation",
        text={"text": "x"},
        facts={"content": {"shares": 9, "labels": ["possible_scam"]}},
    )
    assert policy.evaluate(viral).verdict is Verdict.FRICTION
    # A fact of the wrong type: the gate leaves it to the program, whose error means "no".
    odd = PolicyEvent(
        EventKind.MESSAGE,
        actor_id="a",
        subject_type="conversation",
        text={"text": "x"},
        facts={"content": {"shares": "many", "labels": ["x"]}},
    )
    assert policy.evaluate(odd).verdict is Verdict.ALLOW


async def test_a_held_profile_update_says_so_and_changes_nothing(
    make_user: UserFactory, services: Services
) -> None:
    await services.governance.put_pack(None, VARIED, note=None)
    alice = await make_user("alice")
    with pytest.raises(ApiError) as caught:
        await alice.update_profile(bio="this is forbidden")
    assert caught.value.code == "policy_held"
    assert caught.value.details["rules"][0]["action"] == "hold"
    assert (await alice.me())["bio"] != "this is forbidden"


async def test_counters_count_other_kinds_of_events(
    make_user: UserFactory, services: Services
) -> None:
    await services.governance.put_pack(None, VARIED, note=None)
    alice = await make_user("alice")
    for handle in ("bob", "carol", "dave"):
        await make_user(handle)
    await alice.send_friend_request(handle="bob")
    await alice.send_friend_request(handle="carol")
    with pytest.raises(ApiError) as caught:
        await alice.send_friend_request(handle="dave")
    assert caught.value.details["rules"][0]["evidence"]["facts"] == {
        "author.contact_requests_per_day": 3
    }


def test_payment_amounts_are_counted_by_amount() -> None:
    event = PolicyEvent(
        EventKind.PAYMENT, actor_id="a", subject_type="transfer", context={"amount": 1250}
    )
    ops = _counter_ops(event, frozenset({"payment_amount_per_day", "payments_per_hour"}))
    assert [(op.key, op.amount) for op in ops] == [
        ("author:a:payment_amount_per_day", 1250),
        ("author:a:payments_per_hour", 1),
    ]
    free = PolicyEvent(EventKind.PAYMENT, actor_id="a", subject_type="transfer")
    assert [op.key for op in _counter_ops(free, frozenset({"payment_amount_per_day"}))] == []


class Shouting:
    name = "Shouting!"

    def classify(self, text: str) -> ClassifierResult:
        return ClassifierResult(0.5, "x")


def test_the_service_refuses_a_classifier_that_does_not_conform(services: Services) -> None:
    with pytest.raises(ValueError, match="name must match"):
        GovernanceService(services.db, services.clock, classifiers=[Shouting()])
