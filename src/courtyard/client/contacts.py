"""Client calls for contacts (filled in with the contacts pillar)."""

from __future__ import annotations

from courtyard.client._base import BaseClient


class ContactsClient(BaseClient):
    pass
