"""Time-ordered identifiers (ULID layout: 48-bit milliseconds + 80 random bits, Crockford base32).

They sort by creation time, need no coordination between nodes, and do not reveal counts.
Within one process, ids made in the same millisecond still sort in creation order: the random
part of each later id is the previous one plus a random step (the monotonic ULID variant), so
two messages sent in one millisecond never swap places when sorted by id.
"""

from __future__ import annotations

import secrets
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_INDEX = {char: i for i, char in enumerate(_ALPHABET)}
ID_LENGTH = 26
_TIME_MASK = (1 << 48) - 1
_RANDOM_LIMIT = 1 << 80


def _encode(value: int, length: int) -> str:
    """``value`` in ``length`` base32 digits, most significant first (the reference)."""
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


# Two digits per lookup: an id is 13 lookups instead of 26 shifts (every message makes one).
_PAIRS = [high + low for high in _ALPHABET for low in _ALPHABET]
_PAIR_SHIFTS = tuple(range(120, -1, -10))


def _encode_id(millis: int, random: int) -> str:
    """``_encode(millis, 10) + _encode(random, 16)``: the 128 bits as 26 digits."""
    value = (millis << 80) | random
    pairs = _PAIRS
    return "".join([pairs[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


class _Monotonic:
    """The last (millisecond, random part) handed out, so the next id sorts after it."""

    def __init__(self, follow_clock: bool) -> None:
        self._lock = threading.Lock()
        self._follow_clock = follow_clock
        self._last_ms = -1
        self._last_random = 0

    def next(self, millis: int) -> tuple[int, int]:
        with self._lock:
            if self._follow_clock and millis < self._last_ms:
                millis = self._last_ms  # the wall clock stepped back: keep the order given out
            if millis == self._last_ms:
                random = self._last_random + 1 + secrets.randbits(32)
                if random >= _RANDOM_LIMIT:  # 2**-47 odds
                    if self._follow_clock:
                        millis = (millis + 1) & _TIME_MASK
                    random = secrets.randbits(79)
            else:
                random = secrets.randbits(79)  # leaves room to count up within the millisecond
            self._last_ms, self._last_random = millis, random
            return millis, random


_from_clock = _Monotonic(follow_clock=True)
_given_time = _Monotonic(follow_clock=False)  # explicit times never disturb the clock's order


def new_id(ms: int | None = None) -> str:
    if ms is None:
        millis, random = _from_clock.next(int(time.time() * 1000) & _TIME_MASK)
    else:
        millis, random = _given_time.next(ms & _TIME_MASK)
    return _encode_id(millis, random)


def id_time_ms(identifier: str) -> int:
    value = 0
    for char in identifier[:10]:
        value = (value << 5) | _INDEX[char]
    return value


def is_valid_id(identifier: str) -> bool:
    # A set difference runs in C: this is on every message's path.
    return (
        isinstance(identifier, str)
        and len(identifier) == ID_LENGTH
        and not set(identifier).difference(_INDEX)
    )
