"""Imports every pillar's store so that all tables are registered on the shared metadata."""

from courtyard.accounts import store as accounts_store
from courtyard.chats import store as chats_store
from courtyard.contacts import store as contacts_store
from courtyard.core import store as core_store
from courtyard.governance import due_process_store
from courtyard.governance import store as governance_store
from courtyard.moments import store as moments_store
from courtyard.realtime import store as realtime_store

__all__ = [
    "accounts_store",
    "chats_store",
    "contacts_store",
    "core_store",
    "due_process_store",
    "governance_store",
    "moments_store",
    "realtime_store",
]
