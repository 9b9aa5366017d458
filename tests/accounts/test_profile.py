"""Profile editing and avatars (decoded, cropped, re-encoded: no metadata survives)."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from courtyard.client import ApiError
from courtyard.container import Services
from tests.accounts._helpers import assert_error, raw
from tests.conftest import UserFactory


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"avatar_max_bytes": 300_000, "avatar_size_px": 128}


async def test_update_display_name_bio_and_locale(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    updated = await alice.update_profile(display_name="  Alice A.  ", bio=" Hi! ", locale="zh-CN")
    assert updated["display_name"] == "Alice A."
    assert updated["bio"] == "Hi!"
    assert updated["locale"] == "zh-CN"
    me = await alice.me()
    assert (me["display_name"], me["bio"], me["locale"]) == ("Alice A.", "Hi!", "zh-CN")


async def test_fields_left_out_are_unchanged_and_empty_locale_clears_it(
    make_user: UserFactory,
) -> None:
    bob = await make_user("bob", display_name="Bob")
    await bob.update_profile(bio="first", locale="fr")
    updated = await bob.update_profile(bio="second")
    assert (updated["display_name"], updated["bio"], updated["locale"]) == ("Bob", "second", "fr")
    assert (await bob.update_profile(locale=""))["locale"] is None
    assert (await bob.update_profile(bio=""))["bio"] == ""


async def test_bio_keeps_line_breaks_and_any_script(make_user: UserFactory) -> None:
    ana = await make_user("ana")
    bio = "第一行\r\nسطر ثانٍ\n👩‍👩‍👧 family\ttabbed"
    updated = await ana.update_profile(display_name="安娜 ‍👩‍💻", bio=bio)
    assert updated["bio"] == "第一行\nسطر ثانٍ\n👩‍👩‍👧 family\ttabbed"
    assert updated["display_name"] == "安娜 ‍👩‍💻"


@pytest.mark.parametrize(
    ("given", "stored"),
    [("en", "en"), ("zh_CN", "zh-CN"), ("zh-Hant-TW", "zh-Hant-TW"), ("es-419", "es-419")],
)
async def test_locales_are_language_tags(make_user: UserFactory, given: str, stored: str) -> None:
    ben = await make_user("ben")
    assert (await ben.update_profile(locale=given))["locale"] == stored


@pytest.mark.parametrize("locale", ["english please", "e", "en-", "12", "en-US-!", "../../etc"])
async def test_a_locale_that_is_not_a_language_tag_is_refused(
    make_user: UserFactory, locale: str
) -> None:
    ben = await make_user("ben")
    response = await raw(ben, "PATCH", "/api/v1/me", json={"locale": locale})
    assert_error(response, 422, "invalid_input")
    assert (await ben.me())["locale"] is None


@pytest.mark.parametrize("name", ["bell\x07", "line\nbreak", "nul\x00", "esc\x1b[2J"])
async def test_control_characters_in_a_display_name_are_refused(
    make_user: UserFactory, name: str
) -> None:
    cy = await make_user("cyd", display_name="Cyd")
    response = await raw(cy, "PATCH", "/api/v1/me", json={"display_name": name})
    error = assert_error(response, 422, "invalid_input")
    assert error["details"]["problems"][0]["field"] == "display_name"
    assert (await cy.me())["display_name"] == "Cyd"


@pytest.mark.parametrize("name", ["", "   ", "\u3000\u3000"])
async def test_empty_display_name_is_refused(make_user: UserFactory, name: str) -> None:
    cara = await make_user("cara", display_name="Cara")
    with pytest.raises(ApiError) as err:
        await cara.update_profile(display_name=name)
    assert (err.value.status, err.value.code) == (422, "invalid_input")
    assert err.value.details["field"] == "display_name"
    assert (await cara.me())["display_name"] == "Cara"


@pytest.mark.parametrize(
    "body",
    [
        {"display_name": "x" * 65},
        {"bio": "x" * 281},
        {"locale": "x" * 17},
        {"display_name": 5},
        {"handle": "newhandle"},  # the handle is not editable here
        {"state": "active"},
    ],
)
async def test_invalid_profile_fields_are_refused(make_user: UserFactory, body: object) -> None:
    dan = await make_user("dan")
    response = await raw(dan, "PATCH", "/api/v1/me", json=body)
    error = assert_error(response, 422, "invalid_input")
    assert error["details"]["problems"]
    assert (await dan.me())["handle"] == "dan"


async def test_profile_update_is_audited(make_user: UserFactory, services: Services) -> None:
    from courtyard.governance.store import list_audit_for_target

    eve = await make_user("eve", display_name="Eve")
    await eve.update_profile(display_name="Eve E.")
    async with services.db.read() as conn:
        rows = await list_audit_for_target(conn, "account", eve.account["id"])  # type: ignore[attr-defined]
    updates = [r for r in rows if r["tag"] == "accounts:profile:update"]
    assert len(updates) == 1
    assert updates[0]["before"] == {"display_name": "Eve"}
    assert updates[0]["after"] == {"display_name": "Eve E."}


# ---- avatars ---------------------------------------------------------------------------------


def jpeg_with_location(width: int = 300, height: int = 200) -> bytes:
    image = Image.new("RGB", (width, height), (200, 30, 30))
    for x in range(width // 2):
        for y in range(height):
            image.putpixel((x, y), (20, 20, 220))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam Inc."  # Make
    exif[0x0110] = "Model 42 serial 0099"  # Model
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}  # GPSInfo
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, quality=90)
    data = out.getvalue()
    # The fixture really carries what we expect to be removed.
    with Image.open(io.BytesIO(data)) as check:
        assert check.getexif().get_ifd(0x8825)
        assert check.getexif()[0x010F] == "SecretCam Inc."
    return data


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that claims huge dimensions (a decompression bomb's shape)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


async def stored_avatar(services: Services, account: dict[str, object]) -> bytes:
    key = account["avatar_url"]
    assert isinstance(key, str)
    me = await services.accounts.get_account(str(account["id"]))
    assert me is not None
    data = await services.accounts.avatar_bytes(me)
    assert data is not None
    return data


async def test_avatar_is_square_png_without_any_metadata(
    make_user: UserFactory, services: Services
) -> None:
    fay = await make_user("fay")
    original = jpeg_with_location()
    account = await fay.set_avatar(original, "holiday.jpg", "image/jpeg")
    assert account["avatar_url"].startswith(f"/api/v1/accounts/{account['id']}/avatar")

    data = await stored_avatar(services, account)
    assert b"SecretCam" not in data
    assert b"Model 42" not in data
    assert b"Exif" not in data
    with Image.open(io.BytesIO(data)) as avatar:
        assert avatar.format == "PNG"
        assert avatar.size == (128, 128)
        assert not avatar.getexif()
        assert "exif" not in avatar.info
        assert "icc_profile" not in avatar.info
        # Centre-cropped: the left half was blue, the right half red; both remain.
        rgb = avatar.convert("RGB")
        assert rgb.getpixel((10, 64))[2] > 150
        assert rgb.getpixel((118, 64))[0] > 150


async def test_avatar_drops_an_icc_profile_and_png_text(
    make_user: UserFactory, services: Services
) -> None:
    from PIL import ImageCms, PngImagePlugin

    gus = await make_user("gus")
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "taken at 12 Secret Street")
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(out, format="PNG", icc_profile=profile, pnginfo=info)
    account = await gus.set_avatar(out.getvalue())
    data = await stored_avatar(services, account)
    assert b"Secret Street" not in data
    with Image.open(io.BytesIO(data)) as avatar:
        assert "icc_profile" not in avatar.info
        assert "Comment" not in avatar.info


async def test_avatar_over_the_size_limit_is_413(make_user: UserFactory) -> None:
    hal = await make_user("hal")
    response = await raw(
        hal,
        "PUT",
        "/api/v1/me/avatar",
        files={"image": ("big.jpg", b"\xff\xd8" + b"\x00" * 300_001, "image/jpeg")},
    )
    error = assert_error(response, 413, "payload_too_large")
    assert error["details"]["max_bytes"] == 300_000
    assert (await hal.me())["avatar_url"] is None


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, this is text", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, b"\xff\xd8\xff\xe0garbage"],
)
async def test_a_file_that_is_not_an_image_is_422(make_user: UserFactory, data: bytes) -> None:
    ivy = await make_user("ivy")
    response = await raw(
        ivy, "PUT", "/api/v1/me/avatar", files={"image": ("x.png", data, "image/png")}
    )
    assert_error(response, 422, "invalid_input")
    assert (await ivy.me())["avatar_url"] is None


async def test_an_image_format_we_do_not_take_is_415(make_user: UserFactory) -> None:
    jay = await make_user("jay")
    out = io.BytesIO()
    Image.new("RGB", (40, 40)).save(out, format="BMP")
    response = await raw(
        jay, "PUT", "/api/v1/me/avatar", files={"image": ("x.bmp", out.getvalue(), "image/bmp")}
    )
    error = assert_error(response, 415, "unsupported_media")
    assert "PNG" in error["details"]["accepted"]


@pytest.mark.parametrize(
    ("width", "height"),
    [(100_000, 100_000), (9_000, 9_000), (1, 60_000_000)],
)
async def test_a_decompression_bomb_is_refused_not_a_crash(
    make_user: UserFactory, width: int, height: int
) -> None:
    kim = await make_user("kim")
    bomb = png_header_only(width, height)
    assert len(bomb) < 2_000
    response = await raw(
        kim, "PUT", "/api/v1/me/avatar", files={"image": ("bomb.png", bomb, "image/png")}
    )
    assert 400 <= response.status_code < 500, response.text
    assert_error(response, response.status_code, response.json()["error"]["code"])
    assert (await kim.me())["avatar_url"] is None


async def test_a_missing_image_field_is_422(make_user: UserFactory) -> None:
    lou = await make_user("lou")
    response = await raw(
        lou, "PUT", "/api/v1/me/avatar", files={"other": ("x", b"x", "text/plain")}
    )
    assert_error(response, 422, "invalid_input")


async def test_gif_and_webp_are_accepted(make_user: UserFactory, services: Services) -> None:
    mia = await make_user("mia")
    for fmt in ("GIF", "WEBP", "PNG"):
        out = io.BytesIO()
        Image.new("RGB", (50, 80), (0, 128, 0)).save(out, format=fmt)
        account = await mia.set_avatar(out.getvalue(), f"a.{fmt.lower()}", f"image/{fmt.lower()}")
        with Image.open(io.BytesIO(await stored_avatar(services, account))) as avatar:
            assert (avatar.format, avatar.size) == ("PNG", (128, 128))


async def test_avatar_fetched_over_http_has_no_metadata(make_user: UserFactory) -> None:
    nora = await make_user("nora")
    account = await nora.set_avatar(jpeg_with_location(), "me.jpg", "image/jpeg")
    response = await raw(nora, "GET", account["avatar_url"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert b"SecretCam" not in response.content
    assert b"Exif" not in response.content
    with Image.open(io.BytesIO(response.content)) as avatar:
        assert avatar.size == (128, 128)
        assert not avatar.getexif()
    assert await nora.avatar(account["id"]) == response.content
