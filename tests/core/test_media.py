"""Media storage and image sanitising (unit level; the avatar API tests cover the HTTP side)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image

from courtyard.core import media
from courtyard.core.errors import InvalidInput, PayloadTooLarge, UnsupportedMedia
from courtyard.core.media import LocalMediaStore, sanitize_square_image


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (60, 40), **save: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 200, 10)).save(out, format=fmt, **save)
    return out.getvalue()


async def test_local_store_round_trip_and_delete(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path / "media")
    key = "ab" + "0" * 62
    assert await store.get(key) is None
    await store.put(key, b"hello")
    assert await store.get(key) == b"hello"
    await store.put(key, b"hello")  # idempotent
    assert await store.get(key) == b"hello"
    await store.delete(key)
    assert await store.get(key) is None
    await store.delete(key)  # deleting twice is fine


@pytest.mark.parametrize("key", ["", "../etc/passwd", "a/b", "a\\b", ".hidden"])
async def test_local_store_refuses_keys_that_could_escape(tmp_path: Path, key: str) -> None:
    store = LocalMediaStore(tmp_path / "media")
    with pytest.raises(ValueError, match="invalid media key"):
        await store.put(key, b"x")
    with pytest.raises(ValueError, match="invalid media key"):
        await store.get(key)


async def test_concurrent_writes_of_one_key_all_succeed_and_leave_no_temporary_files(
    tmp_path: Path,
) -> None:
    store = LocalMediaStore(tmp_path / "media")
    key = "cd" + "1" * 62
    data = b"same content" * 10_000
    await asyncio.gather(*(store.put(key, data) for _ in range(20)))
    assert await store.get(key) == data
    leftovers = [p.name for p in (tmp_path / "media").rglob("*") if p.is_file()]
    assert leftovers == [key]


def test_sanitised_image_is_a_square_png_named_by_its_content() -> None:
    result = sanitize_square_image(image_bytes("JPEG"), size=64, max_bytes=1_000_000)
    assert result.content_type == "image/png"
    assert (result.width, result.height) == (64, 64)
    import hashlib

    assert result.key == hashlib.sha256(result.data).hexdigest()
    with Image.open(io.BytesIO(result.data)) as out:
        assert (out.format, out.size) == ("PNG", (64, 64))


def test_metadata_kinds_are_reported() -> None:
    exif = Image.Exif()
    exif[0x010F] = "Camera"
    exif[0x8825] = {1: "N", 2: (1.0, 2.0, 3.0)}
    data = image_bytes("JPEG", exif=exif)
    result = sanitize_square_image(data, size=32, max_bytes=1_000_000)
    assert "exif" in result.removed_metadata
    assert "gps_location" in result.removed_metadata


def test_exif_orientation_is_applied_before_cropping() -> None:
    image = Image.new("RGB", (200, 100), (220, 0, 0))
    image.paste((0, 0, 220), (0, 0, 100, 100))  # left half blue, right half red
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, quality=95)
    result = sanitize_square_image(out.getvalue(), size=100, max_bytes=1_000_000)
    with Image.open(io.BytesIO(result.data)) as avatar:
        rgb = avatar.convert("RGB")
        top, bottom = rgb.getpixel((50, 10)), rgb.getpixel((50, 90))
    # Displayed upright the image is tall: blue on top, red below.
    assert top[2] > 150 > top[0]
    assert bottom[0] > 150 > bottom[2]


def test_size_limit_is_checked_before_decoding() -> None:
    with pytest.raises(PayloadTooLarge) as err:
        sanitize_square_image(b"x" * 2049, size=32, max_bytes=2048)
    assert err.value.details == {"max_bytes": 2048}


def test_too_many_pixels_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media, "MAX_IMAGE_PIXELS", 10_000)
    with pytest.raises(InvalidInput) as err:
        sanitize_square_image(image_bytes("PNG", (101, 100)), size=32, max_bytes=1_000_000)
    assert err.value.details["max_pixels"] == 10_000
    sanitize_square_image(image_bytes("PNG", (100, 100)), size=32, max_bytes=1_000_000)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GIF89a",
        image_bytes("JPEG")[:200],  # truncated
        image_bytes("PNG")[:60],
        b"\x89PNG\r\n\x1a\n" + b"\xff" * 64,
    ],
)
def test_broken_files_are_invalid_input(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        sanitize_square_image(data, size=32, max_bytes=1_000_000)


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO"])
def test_other_image_formats_are_unsupported(fmt: str) -> None:
    with pytest.raises(UnsupportedMedia):
        sanitize_square_image(image_bytes(fmt, (32, 32)), size=32, max_bytes=1_000_000)
