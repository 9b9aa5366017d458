"""Cursor pagination: opaque cursors that encode the last sort key seen, never an offset."""

from __future__ import annotations

import base64
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from courtyard.core import json
from courtyard.core.errors import InvalidInput
from courtyard.core.text import text_problem

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key))).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> list[Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except ValueError as exc:
        raise InvalidInput("The cursor is not valid.", details={"field": "cursor"}) from exc
    if not isinstance(value, list) or any(
        isinstance(item, str) and text_problem(item) for item in value
    ):
        raise InvalidInput("The cursor is not valid.", details={"field": "cursor"})
    return value


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    return max(1, min(int(limit), MAX_LIMIT))
