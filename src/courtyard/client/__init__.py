"""A typed async client for the Courtyard HTTP API, used by tests, benchmarks and the CLI."""

from __future__ import annotations

from courtyard.client._base import ApiError
from courtyard.client.accounts import AccountsClient
from courtyard.client.chats import ChatsClient
from courtyard.client.contacts import ContactsClient
from courtyard.client.governance import GovernanceClient
from courtyard.client.realtime import RealtimeClient, StreamClient, StreamError


class CourtyardClient(
    AccountsClient, ContactsClient, ChatsClient, GovernanceClient, RealtimeClient
):
    """One client with every pillar's calls."""


__all__ = ["ApiError", "CourtyardClient", "StreamClient", "StreamError"]
