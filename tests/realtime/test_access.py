"""Losing the right to read closes a socket at once, not at its next periodic check.

The periodic check is set to an hour here, so a socket that closes within seconds was closed by
the access announcement (``GovernanceService.access_changed``), on either backend.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from courtyard.accounts.model import OperatorRole
from courtyard.client import CourtyardClient, StreamClient, StreamError
from courtyard.container import Services
from courtyard.realtime.model import EventDraft
from tests.conftest import PASSWORD, ClientFactory, UserFactory

Opener = Any
PROMPTLY = 3.0  # seconds: far below the periodic check


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"ws_reauth_seconds": 3600.0, "ws_idle_timeout_seconds": 3600.0}


def me(client: CourtyardClient) -> dict[str, str]:
    account: dict[str, str] = client.account  # type: ignore[attr-defined]
    return account


async def closed_with(stream: StreamClient, within: float = PROMPTLY) -> tuple[int | None, str]:
    """Read until the server closes; its close code and error code."""
    code = ""
    async with asyncio.timeout(within):
        while True:
            try:
                frame = await stream.receive()
            except StreamError as exc:
                if exc.close_code is not None or exc.code == "closed":
                    await stream.ws.wait_closed()
                    return stream.ws.close_code, code
                code = exc.code
            else:
                if frame == {"type": "ping"}:
                    await stream.send({"type": "pong"})


async def still_open(stream: StreamClient, services: Services, account_id: str) -> None:
    """The socket still receives its account's events."""
    async with services.db.write() as tx:
        [stream_id] = await services.realtime.append(
            tx, [EventDraft(kind="test.alive", payload={}, account_id=account_id)]
        )
    async with asyncio.timeout(5):
        while (got := await stream.next_event())["id"] < stream_id:
            pass  # the account's other events (a notice)
    assert got["id"] == stream_id


async def second_session(make_client: ClientFactory, handle: str) -> CourtyardClient:
    client = make_client("198.51.100.20")
    login = await client.login(handle, PASSWORD)
    client.account = login["account"]  # type: ignore[attr-defined]
    return client


async def test_logging_out_closes_the_socket_at_once(
    make_user: UserFactory, open_stream: Opener
) -> None:
    alice = await make_user("alice")
    stream = await open_stream(alice)
    await stream.register(None)
    await alice.logout()
    assert await closed_with(stream) == (4401, "unauthenticated")


async def test_revoking_a_session_closes_its_sockets_and_no_others(
    make_user: UserFactory, make_client: ClientFactory, services: Services, open_stream: Opener
) -> None:
    alice = await make_user("alice")
    phone = await second_session(make_client, "alice")
    bob = await make_user("bob")
    laptop_stream = await open_stream(alice)
    await laptop_stream.register(None)
    phone_streams = [await open_stream(phone) for _ in range(2)]
    for stream in phone_streams:
        await stream.register(None)
    bob_stream = await open_stream(bob)
    await bob_stream.register(None)

    [phone_session] = [s for s in await alice.sessions() if not s["current"]]
    await alice.revoke_session(phone_session["id"])
    for stream in phone_streams:
        assert await closed_with(stream) == (4401, "unauthenticated")
    await still_open(laptop_stream, services, me(alice)["id"])
    await still_open(bob_stream, services, me(bob)["id"])


async def test_a_password_change_closes_the_other_sessions_sockets(
    make_user: UserFactory, make_client: ClientFactory, services: Services, open_stream: Opener
) -> None:
    alice = await make_user("alice")
    phone = await second_session(make_client, "alice")
    laptop_stream = await open_stream(alice)
    await laptop_stream.register(None)
    phone_stream = await open_stream(phone)
    await phone_stream.register(None)
    await alice.change_password(PASSWORD, "a much longer and newer passphrase 42")
    assert await closed_with(phone_stream) == (4401, "unauthenticated")
    await still_open(laptop_stream, services, me(alice)["id"])


async def test_a_suspension_by_a_reviewer_closes_the_socket_at_once(
    make_user: UserFactory, make_client: ClientFactory, services: Services, open_stream: Opener
) -> None:
    mallory = await make_user("mallory")
    bob = await make_user("bob")
    await services.accounts.create_operator("reviewer", PASSWORD, OperatorRole.REVIEWER)
    staff = make_client("198.51.100.9")
    await staff.login("reviewer", PASSWORD)
    stream = await open_stream(mallory)
    await stream.register(None)
    bob_stream = await open_stream(bob)
    await bob_stream.register(None)
    measure = f"/api/v1/admin/accounts/{me(mallory)['id']}/measures"
    body = {"policy_clause": "community-guidelines#fraud", "reasons": "Fraud ring."}
    await staff.request("POST", measure, json={**body, "measure": "warning"})
    # A warning removes no capability: the socket is checked again and stays.
    await still_open(stream, services, me(mallory)["id"])
    suspension = {**body, "measure": "suspended", "duration_hours": 48}
    await staff.request("POST", measure, json=suspension)
    assert await closed_with(stream) == (4403, "capability_denied")
    await still_open(bob_stream, services, me(bob)["id"])
