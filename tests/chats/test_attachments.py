"""Attachments: images lose their metadata, files need an allowed type, only members fetch
them, and a forward carries copies into the target conversation."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from courtyard.client import ApiError
from tests.chats.conftest import befriend, me
from tests.conftest import UserFactory


def _jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # camera make
    exif.get_ifd(0x8825)[2] = (52.0, 31.0, 0.0)  # a GPS latitude
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


async def _upload(client, conversation_id: str, name: str, data: bytes, kind: str) -> dict:
    return await client.request(
        "POST",
        f"/api/v1/conversations/{conversation_id}/attachments",
        files={"file": (name, data, kind)},
    )


async def test_image_is_reencoded_without_metadata_and_sent(make_user: UserFactory) -> None:
    alice, bob, eve = await make_user("alice"), await make_user("bob"), await make_user("eve")
    await befriend(alice, bob)
    conversation = await alice.open_direct(me(bob)["id"])
    original = _jpeg_with_gps()
    assert b"SecretCam" in original
    uploaded = await _upload(alice, conversation["id"], "../../holiday.jpg", original, "image/jpeg")
    assert uploaded["kind"] == "image"
    assert uploaded["filename"] == "holiday.jpg"
    assert (uploaded["width"], uploaded["height"]) == (64, 48)
    sent = await alice.send_message(
        conversation["id"], "", client_id="pic-1", attachments=[uploaded["id"]]
    )
    assert [a["id"] for a in sent["attachments"]] == [uploaded["id"]]
    history = await bob.messages(conversation["id"])
    assert history["items"][0]["attachments"][0]["kind"] == "image"
    data = await bob.request(
        "GET", f"/api/v1/conversations/{conversation['id']}/attachments/{uploaded['id']}"
    )
    assert b"SecretCam" not in data
    with Image.open(io.BytesIO(data)) as stored:
        assert not stored.getexif()
    # Someone outside the conversation cannot fetch it, even with its id.
    with pytest.raises(ApiError) as caught:
        await eve.request(
            "GET", f"/api/v1/conversations/{conversation['id']}/attachments/{uploaded['id']}"
        )
    assert caught.value.status == 404


async def test_files_need_an_allowed_type_and_ids_must_be_the_senders(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await befriend(alice, bob)
    conversation = await alice.open_direct(me(bob)["id"])
    with pytest.raises(ApiError) as caught:
        await _upload(alice, conversation["id"], "run.exe", b"MZ...", "application/x-msdownload")
    assert caught.value.status == 415
    pdf = await _upload(alice, conversation["id"], "notes.pdf", b"%PDF-1.4 ...", "application/pdf")
    assert pdf["kind"] == "file"
    assert pdf["content_type"] == "application/octet-stream"
    # Bob cannot send Alice's upload as his own.
    with pytest.raises(ApiError) as caught:
        await bob.send_message(conversation["id"], "", client_id="b1", attachments=[pdf["id"]])
    assert caught.value.code == "attachment_not_found"


async def test_forward_copies_attachments_into_the_target(make_user: UserFactory) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await befriend(alice, bob)
    await befriend(bob, carol)
    first = await alice.open_direct(me(bob)["id"])
    second = await bob.open_direct(me(carol)["id"])
    pdf = await _upload(alice, first["id"], "plan.txt", b"the plan", "text/plain")
    sent = await alice.send_message(first["id"], "see", client_id="a1", attachments=[pdf["id"]])
    forwarded = await bob.forward_message(first["id"], sent["id"], [second["id"]], client_id="f1")
    copy = forwarded[0]["attachments"][0]
    assert copy["id"] != pdf["id"]
    assert forwarded[0]["hops"] == 1
    data = await carol.request(
        "GET", f"/api/v1/conversations/{second['id']}/attachments/{copy['id']}"
    )
    assert data == b"the plan"
    # Carol is not in the first conversation: the original stays out of her reach.
    with pytest.raises(ApiError) as caught:
        await carol.request("GET", f"/api/v1/conversations/{first['id']}/attachments/{pdf['id']}")
    assert caught.value.status == 404
