"""Small helpers shared by the accounts, governance and core tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from courtyard.accounts import store
from courtyard.client import CourtyardClient
from courtyard.container import Services
from courtyard.governance.model import AccountState


async def raw(client: CourtyardClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """A request through the client's transport and credentials, without raising on errors."""
    headers = client._headers(kwargs.pop("headers", None))
    return await client.http.request(method, path, headers=headers, **kwargs)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is an error with this status and code, in the one error shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["details"], dict)
    return error


async def set_state(
    services: Services, account_id: str, state: AccountState, until: datetime | None = None
) -> None:
    """Put an account in a state directly, as the enforcement ladder would."""
    async with services.db.write() as tx:
        await store.update_account(
            tx.conn, account_id, services.clock.now(), state=state.value, state_until=until
        )


async def password_hash(services: Services, account_id: str) -> str | None:
    async with services.db.read() as conn:
        return await store.get_password_hash(conn, account_id)
