"""Every do_* use case writes its audit row in the same transaction."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest

from courtyard.client import ApiError
from courtyard.container import Services
from courtyard.core.clock import FakeClock
from courtyard.governance.store import list_audit_for_target
from tests.conftest import PASSWORD, ClientFactory, UserFactory


async def audit(services: Services, target_type: str, target_id: str) -> list[dict[str, Any]]:
    async with services.db.read() as conn:
        return await list_audit_for_target(conn, target_type, target_id)


async def test_register_login_profile_and_two_factor_are_audited(
    make_client: ClientFactory, services: Services, clock: FakeClock
) -> None:
    alice = make_client(ip="192.0.2.44")
    registered = await alice.register("alice", PASSWORD, display_name="Alice")
    account_id = registered["account"]["id"]

    laptop = make_client(ip="192.0.2.45")
    login = await laptop.login("alice", PASSWORD)
    session_id = login["session"]["id"]

    clock.advance(seconds=5)
    await alice.update_profile(display_name="Alice B.")

    setup = await alice.two_factor_setup()
    await alice.two_factor_enable(pyotp.TOTP(setup["secret"]).at(clock.now()))

    rows = await audit(services, "account", account_id)
    tags = [r["tag"] for r in rows]
    assert tags == [
        "accounts:account:register",
        "accounts:profile:update",
        "accounts:two_factor:enable",
    ]
    register, profile, two_factor = rows
    assert register["actor_id"] == account_id
    assert register["after"]["handle"] == "alice"
    assert profile["before"] == {"display_name": "Alice"}
    assert profile["after"] == {"display_name": "Alice B."}
    assert profile["at"] == clock.now()
    assert two_factor["actor_id"] == account_id
    # No secrets in the log.
    assert setup["secret"] not in repr(rows)

    session_rows = await audit(services, "session", session_id)
    assert [r["tag"] for r in session_rows] == ["accounts:session:create"]
    assert session_rows[0]["actor_id"] == account_id
    assert session_rows[0]["after"]["ip_address"] == "192.0.2.45"


async def test_security_changes_are_audited(
    make_user: UserFactory, make_client: ClientFactory, services: Services
) -> None:
    bob = await make_user("bob")
    laptop = make_client()
    await laptop.login("bob", PASSWORD)
    laptop_session = next(s["id"] for s in await laptop.sessions() if s["current"])
    await bob.revoke_session(laptop_session)
    await bob.change_password(PASSWORD, "a new and quite long passphrase")
    await bob.accept_terms(services.settings.current_terms_version)

    account_tags = [r["tag"] for r in await audit(services, "account", bob.account["id"])]  # type: ignore[attr-defined]
    assert "accounts:password:change" in account_tags
    assert "accounts:terms:accept" in account_tags
    session_tags = [r["tag"] for r in await audit(services, "session", laptop_session)]
    assert session_tags == ["accounts:session:create", "accounts:session:revoke"]


async def test_failed_attempts_write_no_audit_rows(
    make_user: UserFactory, make_client: ClientFactory, services: Services
) -> None:
    carl = await make_user("carl")
    before = await audit(services, "account", carl.account["id"])  # type: ignore[attr-defined]
    with pytest.raises(ApiError):
        await carl.change_password("wrong password here", "a new and quite long passphrase")
    with pytest.raises(ApiError):
        await carl.update_profile(display_name="   ")
    assert await audit(services, "account", carl.account["id"]) == before  # type: ignore[attr-defined]
