"""Media storage behind an interface (local directory by default) and image sanitising.

Images are decoded and re-encoded, which drops every metadata block (EXIF GPS, camera
serials, XMP, comments) by construction rather than by a list of tags to remove.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

from PIL import Image, ImageCms, ImageOps

from courtyard.core.errors import CourtyardError, InvalidInput, PayloadTooLarge, UnsupportedMedia

ACCEPTED_IMAGE_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
MAX_IMAGE_PIXELS = 40_000_000
# Pillow's own guard: it warns above this and refuses above twice this, when the file is opened;
# our explicit check above refuses anything over MAX_IMAGE_PIXELS either way.
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
_SRGB = ImageCms.createProfile("sRGB")


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
        # A temporary name of its own: two uploads of the same content at once must not write
        # into (or rename away) each other's temporary file.
        tmp = path.parent / f".{key}.{secrets.token_hex(8)}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)

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
    rgba, removed = _read_image(data, max_bytes, f"{max_bytes // 1024} KiB", "image")
    square = ImageOps.fit(rgba, (size, size), method=Image.Resampling.LANCZOS)
    square.info.clear()  # nothing of the original (ICC profile, text chunks) is carried over
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


def sanitize_image(data: bytes, *, max_side: int, max_bytes: int) -> SanitizedImage:
    """Decode, orient, shrink to ``max_side`` and re-encode (JPEG, or PNG with transparency):
    what was sent is never what is stored, so no metadata (location, camera) survives."""
    rgba, removed = _read_image(data, max_bytes, f"{max_bytes // (1024 * 1024)} MiB", "file")
    rgba.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    lowest_alpha = cast(tuple[int, int], rgba.getchannel("A").getextrema())[0]
    if lowest_alpha < 255:  # some transparency: keep it
        clean = rgba
        clean.info.clear()
        clean.save(out, format="PNG", optimize=True)
        content_type = "image/png"
    else:
        clean = rgba.convert("RGB")
        clean.info.clear()
        clean.save(out, format="JPEG", quality=88, optimize=True)
        content_type = "image/jpeg"
    encoded = out.getvalue()
    return SanitizedImage(
        key=hashlib.sha256(encoded).hexdigest(),
        data=encoded,
        content_type=content_type,
        width=clean.width,
        height=clean.height,
        removed_metadata=removed,
    )


def _read_image(
    data: bytes, max_bytes: int, limit: str, field: str
) -> tuple[Image.Image, tuple[str, ...]]:
    """``_decode`` behind the size limit, with Pillow's many errors as one typed error."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"The image is larger than {limit}.", details={"max_bytes": max_bytes}
        )
    try:
        return _decode(data)
    except CourtyardError:
        raise
    except Exception as exc:  # Pillow raises many kinds of error on hostile or broken files
        raise InvalidInput(
            "The file is not an image we can read.", details={"field": field}
        ) from exc


def _decode(data: bytes) -> tuple[Image.Image, tuple[str, ...]]:
    """The first frame as sRGB RGBA pixels, and the kinds of metadata the file carried."""
    with Image.open(io.BytesIO(data)) as image:
        if image.format not in ACCEPTED_IMAGE_FORMATS:
            raise UnsupportedMedia(
                "Use a JPEG, PNG, WebP or GIF image.",
                details={"accepted": sorted(ACCEPTED_IMAGE_FORMATS)},
            )
        # Checked before any pixel is decoded: a small file can claim enormous dimensions.
        if image.width * image.height > MAX_IMAGE_PIXELS:
            raise InvalidInput(
                f"The image has more than {MAX_IMAGE_PIXELS:,} pixels.",
                details={"field": "image", "max_pixels": MAX_IMAGE_PIXELS},
            )
        removed = _metadata_kinds(image)
        image.seek(0)
        oriented = ImageOps.exif_transpose(image)
        icc = image.info.get("icc_profile")
        if icc:
            oriented = _to_srgb(oriented, icc)
        return oriented.convert("RGBA"), removed


def _to_srgb(image: Image.Image, icc: bytes) -> Image.Image:
    """Apply an embedded colour profile, so dropping it does not change how the image looks."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        mode = "RGBA" if "A" in image.getbands() else "RGB"
        converted = ImageCms.profileToProfile(image.convert(mode), source, _SRGB, outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # an unusable profile is simply dropped
    return converted if converted is not None else image


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
