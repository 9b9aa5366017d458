"""Placeholder replaced by the contacts implementation."""

from __future__ import annotations

from typing import Any


class ContactsService:
    def __init__(self, **kwargs: Any) -> None:
        self._deps = kwargs
