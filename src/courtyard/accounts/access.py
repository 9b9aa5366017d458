"""Access checks for account-owned objects and operator roles."""

from __future__ import annotations

from courtyard.accounts.model import Actor, OperatorRole
from courtyard.core.errors import NotFound


def access_operator(actor: Actor, *roles: OperatorRole) -> Actor:
    """The actor, if they hold one of ``roles``; otherwise the same error as a missing page."""
    if not any(role in actor.account.roles for role in roles):
        raise NotFound
    return actor
