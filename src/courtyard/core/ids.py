"""Time-ordered identifiers (ULID layout: 48-bit milliseconds + 80 random bits, Crockford base32).

They sort by creation time, need no coordination between nodes, and do not reveal counts.
"""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_LENGTH = 26


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(ms: int | None = None) -> str:
    millis = int(time.time() * 1000) if ms is None else ms
    return _encode(millis & ((1 << 48) - 1), 10) + _encode(secrets.randbits(80), 16)


def id_time_ms(identifier: str) -> int:
    value = 0
    for char in identifier[:10]:
        value = (value << 5) | _ALPHABET.index(char)
    return value


def is_valid_id(identifier: str) -> bool:
    return len(identifier) == ID_LENGTH and all(c in _ALPHABET for c in identifier)
