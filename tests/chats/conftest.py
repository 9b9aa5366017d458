"""Shared helpers for chats tests: friends, and the realtime fixtures for sockets."""

from __future__ import annotations

from typing import Any

from courtyard.client import CourtyardClient
from tests.realtime.conftest import open_stream, stream_url

__all__ = ["open_stream", "stream_url"]


def me(client: CourtyardClient) -> dict[str, Any]:
    account: dict[str, Any] = client.account  # type: ignore[attr-defined]
    return account


async def befriend(a: CourtyardClient, b: CourtyardClient) -> None:
    request = await a.send_friend_request(account_id=me(b)["id"])
    await b.accept_request(request["id"])
