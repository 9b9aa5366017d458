"""Image hash lists: re-encoded or resized copies stay close, unrelated images do not."""

from __future__ import annotations

import io
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from courtyard.governance.hashes import (
    HashList,
    HashMatcher,
    ImageHashes,
    hamming,
    hash_image,
    load_hash_list,
)


def picture(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A deterministic picture with structure (shapes on a gradient), like a real photo."""
    rng = random.Random(seed)
    img = Image.new("RGB", size)
    draw = ImageDraw.Draw(img)
    w, h = size
    for x in range(w):
        shade = int(255 * x / w)
        draw.line([(x, 0), (x, h)], fill=(shade, rng.randrange(256) // 4, 255 - shade))
    for _ in range(12):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(20, w // 2), y0 + rng.randrange(20, h // 2)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse([x0, y0, x1, y1], fill=colour)
    return img


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_reencoded_and_resized_copies_are_within_distance() -> None:
    original = picture(1)
    base = hash_image(encode(original, "PNG"))
    copies = [
        encode(original, "JPEG", quality=60),
        encode(original.resize((300, 225)), "PNG"),
        encode(original.resize((640, 480)), "JPEG", quality=85),
        encode(original.convert("RGBA"), "WEBP", quality=70),
    ]
    matcher = HashMatcher([HashList("known", dhash=(base.dhash,))])
    for data in copies:
        h = hash_image(data)
        assert h.sha256 != base.sha256
        assert hamming(h.dhash, base.dhash) <= 6
        assert [x.kind for x in matcher.match([h])] == ["dhash"]


def test_unrelated_images_are_not_matched() -> None:
    base = hash_image(encode(picture(1), "PNG"))
    matcher = HashMatcher([HashList("known", dhash=(base.dhash,))])
    for seed in range(2, 12):
        other = hash_image(encode(picture(seed), "PNG"))
        assert hamming(other.dhash, base.dhash) > 6
        assert matcher.match([other]) == []


def test_exact_copy_matches_by_sha256_first() -> None:
    data = encode(picture(3), "PNG")
    h = hash_image(data)
    assert h.sha256 == __import__("hashlib").sha256(data).hexdigest()
    matcher = HashMatcher(
        [HashList("a", sha256=frozenset({h.sha256}), dhash=(h.dhash,)), HashList("b")]
    )
    assert [(x.list_name, x.kind, x.distance) for x in matcher.match([h])] == [("a", "sha256", 0)]
    assert matcher.match([h], lists=["b"]) == []
    with pytest.raises(ValueError, match="unknown hash lists"):
        matcher.match([h], lists=["c"])


def test_undecodable_images_raise_value_error() -> None:
    for data in (b"", b"not an image", encode(picture(1), "PNG")[:60]):
        with pytest.raises(ValueError, match="not a decodable image"):
            hash_image(data)


def test_load_hash_list() -> None:
    sha = "AB" * 32
    text = f"# exported 2026-11\n\nsha256:{sha}\ndhash:00ff00ff00ff00ff  # cat picture\n"
    hl = load_hash_list("csam-ncmec", text, max_distance=4, category="csam")
    assert hl.sha256 == frozenset({sha.lower()})
    assert hl.dhash == (0x00FF00FF00FF00FF,)
    assert (hl.max_distance, hl.category, hl.confidential) == (4, "csam", True)
    for bad, line in [("sha256:abc", 1), ("\nmd5:" + "a" * 32, 2), ("dhash:xyz", 1)]:
        with pytest.raises(ValueError, match=f"line {line}"):
            load_hash_list("l", bad)
    with pytest.raises(ValueError, match="max_distance"):
        load_hash_list("l", "", max_distance=40)


@given(
    st.integers(0, 2**64 - 1),
    st.lists(st.integers(0, 63), max_size=10, unique=True),
    st.integers(0, 8),
    st.lists(st.integers(0, 2**64 - 1), max_size=20),
)
def test_index_agrees_with_brute_force(
    target: int, flips: list[int], max_distance: int, noise: list[int]
) -> None:
    near = target
    for bit in flips:
        near ^= 1 << bit
    entries = (*noise, near)
    matcher = HashMatcher([HashList("l", dhash=entries, max_distance=max_distance)])
    best = min(hamming(target, e) for e in entries)
    hits = matcher.match([ImageHashes("0" * 64, target)])
    if best <= max_distance:
        assert [(h.kind, h.distance) for h in hits] == [("dhash", best)]
    else:
        assert hits == []
