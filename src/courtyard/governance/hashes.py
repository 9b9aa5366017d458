"""Image hash lists imported by the operator (none are shipped) and matching against them.

Two hashes per image:

- ``sha256`` of the uploaded bytes: exact copies only;
- ``dhash``, a 64-bit difference hash that survives re-encoding, resizing and mild recolouring:
  the image (EXIF orientation applied, transparency flattened onto white, first frame only) is
  converted to 8-bit grayscale and resized to 9x8 with Pillow's LANCZOS filter; bit
  ``63 - (row * 8 + col)`` is 1 when pixel ``(col, row)`` is brighter than pixel ``(col+1, row)``
  (row-major, most significant bit first, so the hex form reads left to right). Two images
  are "the same" when the Hamming distance of their dhashes is at most the list's
  ``max_distance`` (6 by default, out of 64).

List files are text: one ``sha256:<64 hex>`` or ``dhash:<16 hex>`` per line, ``#`` starts a
comment, blank lines are ignored.

Matching dhashes uses a pigeonhole index: with distance at most ``d``, two 64-bit hashes agree
exactly on at least one of ``d + 1`` disjoint bit ranges, so only entries sharing a range value
are compared. That keeps lookups fast for lists of hundreds of thousands of hashes.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image, ImageOps, UnidentifiedImageError


@dataclass(frozen=True, slots=True)
class ImageHashes:
    sha256: str
    dhash: int


def _dhash(img: Image.Image) -> int:
    gray = img.convert("L").resize((9, 8), Image.Resampling.LANCZOS)
    px = gray.tobytes()  # mode "L": one byte per pixel, row-major
    bits = 0
    for row in range(8):
        base = row * 9
        for col in range(8):
            bits = (bits << 1) | (px[base + col] > px[base + col + 1])
    return bits


def hash_image(data: bytes) -> ImageHashes:
    """Both hashes of an encoded image; ValueError when Pillow cannot decode it."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                opened.draft("L", (64, 64))  # JPEG: decode at a reduced size, much faster
                img: Image.Image = ImageOps.exif_transpose(opened)
                img.load()
                if img.mode in ("RGBA", "LA", "PA") or (
                    img.mode == "P" and "transparency" in img.info
                ):
                    rgba = img.convert("RGBA")
                    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                    img = Image.alpha_composite(background, rgba)
                return ImageHashes(digest, _dhash(img))
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
    ) as e:
        raise ValueError(f"not a decodable image: {e}") from None


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


@dataclass(frozen=True, slots=True)
class HashList:
    name: str
    sha256: frozenset[str] = frozenset()
    dhash: tuple[int, ...] = ()
    max_distance: int = 6
    category: str = ""
    confidential: bool = True


_SHA_RE = re.compile(r"[0-9a-f]{64}")
_DHASH_RE = re.compile(r"[0-9a-f]{16}")


def load_hash_list(name: str, text: str, **kw: Any) -> HashList:
    """Parse an operator's list file; ValueError names the first bad line by number."""
    shas: set[str] = set()
    dhashes: list[int] = []
    for n, line in enumerate(text.splitlines(), start=1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        kind, _, value = body.partition(":")
        kind, value = kind.strip().lower(), value.strip().lower()
        if kind == "sha256" and _SHA_RE.fullmatch(value):
            shas.add(value)
        elif kind == "dhash" and _DHASH_RE.fullmatch(value):
            dhashes.append(int(value, 16))
        else:
            raise ValueError(
                f"hash list {name!r}, line {n}: expected 'sha256:<64 hex digits>' or "
                f"'dhash:<16 hex digits>', got {body[:80]!r}"
            )
    hl = HashList(name, frozenset(shas), tuple(dict.fromkeys(dhashes)), **kw)
    if not 0 <= hl.max_distance <= 32:
        raise ValueError(f"hash list {name!r}: max_distance must be 0..32")
    return hl


@dataclass(frozen=True, slots=True)
class HashHit:
    list_name: str
    kind: Literal["sha256", "dhash"]
    distance: int


class _DhashIndex:
    """Pigeonhole index over 64-bit hashes for Hamming-distance queries up to ``d``."""

    __slots__ = ("buckets", "d", "ranges")

    def __init__(self, hashes: Sequence[int], d: int) -> None:
        self.d = d
        parts = d + 1
        bounds = [round(i * 64 / parts) for i in range(parts + 1)]
        self.ranges = [(bounds[i], (1 << (bounds[i + 1] - bounds[i])) - 1) for i in range(parts)]
        self.buckets: list[dict[int, list[int]]] = [{} for _ in range(parts)]
        for h in hashes:
            for (shift, mask), bucket in zip(self.ranges, self.buckets, strict=True):
                bucket.setdefault((h >> shift) & mask, []).append(h)

    def nearest(self, h: int) -> int | None:
        best: int | None = None
        for (shift, mask), bucket in zip(self.ranges, self.buckets, strict=True):
            for cand in bucket.get((h >> shift) & mask, ()):
                dist = (cand ^ h).bit_count()
                if dist <= self.d and (best is None or dist < best):
                    best = dist
                    if dist == 0:
                        return 0
        return best


class HashMatcher:
    """Operator hash lists; `match` reports per image and list the best hit (exact first)."""

    def __init__(self, lists: Sequence[HashList]) -> None:
        names = [hl.name for hl in lists]
        if len(set(names)) != len(names):
            raise ValueError("hash lists: duplicate list names")
        self._lists = list(lists)
        self._index = [_DhashIndex(hl.dhash, hl.max_distance) for hl in lists]

    def match(
        self, hashes: Sequence[ImageHashes], *, lists: Collection[str] | None = None
    ) -> list[HashHit]:
        """Hits for each image in ``hashes``, in image order then list order."""
        if lists is not None:
            unknown = set(lists) - {hl.name for hl in self._lists}
            if unknown:
                raise ValueError(f"unknown hash lists: {sorted(unknown)}")
        hits: list[HashHit] = []
        for ih in hashes:
            sha = ih.sha256.lower()
            for hl, index in zip(self._lists, self._index, strict=True):
                if lists is not None and hl.name not in lists:
                    continue
                if sha in hl.sha256:
                    hits.append(HashHit(hl.name, "sha256", 0))
                    continue
                dist = index.nearest(ih.dhash)
                if dist is not None:
                    hits.append(HashHit(hl.name, "dhash", dist))
        return hits
