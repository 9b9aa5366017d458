"""Media storage behind an interface (local directory by default) and image sanitising.

Images are decoded and re-encoded, which drops every metadata block (EXIF GPS, camera
serials, XMP, comments) by construction rather than by a list of tags to remove.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PIL import Image, ImageOps, UnidentifiedImageError

from courtyard.core.errors import InvalidInput, PayloadTooLarge, UnsupportedMedia

ACCEPTED_IMAGE_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
MAX_IMAGE_PIXELS = 40_000_000


class MediaStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...
    async def get(self, key: str) -> bytes | None: ...
    async def delete(self, key: str) -> None: ...


class LocalMediaStore:
    """Files under one directory; keys are content hashes so writes are idempotent."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not key or "/" in key or "\\" in key or key.startswith("."):
            raise ValueError("invalid media key")
        return self.root / key[:2] / key

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put_sync, key, data)

    def _put_sync(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        if not path.exists():
            return None
        return await asyncio.to_thread(path.read_bytes)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        if path.exists():
            await asyncio.to_thread(path.unlink)


@dataclass(frozen=True, slots=True)
class SanitizedImage:
    key: str
    data: bytes
    content_type: str
    width: int
    height: int
    removed_metadata: tuple[str, ...]


def sanitize_square_image(data: bytes, *, size: int, max_bytes: int) -> SanitizedImage:
    """Decode, crop to a centred square, resize, re-encode as PNG without any metadata."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"The image is larger than {max_bytes // 1024} KiB.",
            details={"max_bytes": max_bytes},
        )
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ACCEPTED_IMAGE_FORMATS:
                raise UnsupportedMedia(
                    "Use a JPEG, PNG, WebP or GIF image.",
                    details={"accepted": sorted(ACCEPTED_IMAGE_FORMATS)},
                )
            removed = _metadata_kinds(image)
            image.seek(0)
            oriented = ImageOps.exif_transpose(image)
            rgba = oriented.convert("RGBA")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as exc:
        raise InvalidInput(
            "The file is not an image we can read.", details={"field": "image"}
        ) from exc
    square = ImageOps.fit(rgba, (size, size), method=Image.Resampling.LANCZOS)
    out = io.BytesIO()
    square.save(out, format="PNG", optimize=True)
    encoded = out.getvalue()
    return SanitizedImage(
        key=hashlib.sha256(encoded).hexdigest(),
        data=encoded,
        content_type="image/png",
        width=size,
        height=size,
        removed_metadata=removed,
    )


def _metadata_kinds(image: Image.Image) -> tuple[str, ...]:
    kinds: list[str] = []
    exif = image.getexif()
    if exif:
        kinds.append("exif")
        if exif.get_ifd(0x8825):
            kinds.append("gps_location")
    for key in ("xmp", "XML:com.adobe.xmp", "icc_profile", "comment", "photoshop"):
        if key in image.info:
            kinds.append("xmp" if "xmp" in key.lower() else key)
    return tuple(dict.fromkeys(kinds))
