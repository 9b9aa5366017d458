"""A typed async client for the Courtyard HTTP API, used by tests, benchmarks and the CLI."""

from __future__ import annotations

from courtyard.client._base import ApiError
from courtyard.client.accounts import AccountsClient
from courtyard.client.contacts import ContactsClient


class CourtyardClient(AccountsClient, ContactsClient):
    """One client with every pillar's calls."""


__all__ = ["ApiError", "CourtyardClient"]
