"""Registration: handle rules, uniqueness, password rules, terms, and how passwords are kept."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from courtyard.accounts import store
from courtyard.client import ApiError
from courtyard.container import Services
from courtyard.governance.store import audit_log
from tests.accounts._helpers import password_hash, raw
from tests.conftest import PASSWORD, ClientFactory, UserFactory


@pytest.mark.parametrize(
    "handle",
    [
        "ab",  # too short
        "a" * 33,  # too long
        "1alice",  # must start with a letter
        "_alice",
        "al ice",
        "alice!",
        "alice-b",
        "ålice",  # letters outside a-z
        "алиса",
        "alice.b",
        "",
    ],
)
async def test_invalid_handles_are_refused(make_client: ClientFactory, handle: str) -> None:
    with pytest.raises(ApiError) as err:
        await make_client().register(handle, PASSWORD)
    assert err.value.status == 422
    if handle:
        assert err.value.code == "invalid_handle"
        assert err.value.details["field"] == "handle"
    else:  # the schema refuses an empty string before the rules run
        assert err.value.code == "invalid_input"


@pytest.mark.parametrize("handle", ["admin", "Root", "SUPPORT", "courtyard", "moderator"])
async def test_reserved_handles_are_refused(make_client: ClientFactory, handle: str) -> None:
    with pytest.raises(ApiError) as err:
        await make_client().register(handle, PASSWORD)
    assert (err.value.status, err.value.code) == (422, "invalid_handle")
    assert "reserved" in err.value.message


async def test_handles_are_stored_lowercase_and_trimmed(make_client: ClientFactory) -> None:
    result = await make_client().register("  Erin_2  ", PASSWORD)
    assert result["account"]["handle"] == "erin_2"
    assert result["account"]["display_name"] == "erin_2"  # defaults to the handle


@pytest.mark.parametrize("variant", ["FRANK", "Frank", "ｆｒａｎｋ", " frank "])
async def test_handle_uniqueness_ignores_case_and_width(
    make_user: UserFactory, make_client: ClientFactory, variant: str
) -> None:
    await make_user("frank")
    with pytest.raises(ApiError) as err:
        await make_client().register(variant, PASSWORD)
    assert (err.value.status, err.value.code) == (409, "handle_taken")


async def test_login_ignores_handle_case(
    make_user: UserFactory, make_client: ClientFactory
) -> None:
    await make_user("grace")
    result = await make_client().login("GRACE", PASSWORD)
    assert result["account"]["handle"] == "grace"


async def test_concurrent_registrations_of_one_handle_have_exactly_one_winner(
    make_client: ClientFactory, services: Services
) -> None:
    clients = [make_client(ip=f"198.51.100.{i}") for i in range(5)]
    handles = ["racer", "RACER", "Racer", "racer", "rAcer"]
    results = await asyncio.gather(
        *(c.register(h, PASSWORD) for c, h in zip(clients, handles, strict=True)),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, dict)]
    losers = [r for r in results if isinstance(r, ApiError)]
    assert len(winners) == 1, results
    assert len(losers) == 4, results
    assert {(e.status, e.code) for e in losers} == {(409, "handle_taken")}
    async with services.db.read() as conn:
        rows = (await conn.execute(select(store.accounts.c.id))).all()
    assert [r.id for r in rows] == [winners[0]["account"]["id"]]


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short", "at least"),
        ("x" * 9, "at least"),
        ("password123", "common"),
        ("qwertyuiop", "common"),
        ("iloveyou2", "at least"),
        ("1234567890", "common"),
        ("helen_helen", "handle"),
        ("aaaaaaaaaaaaaaa", ""),
        ("x" * 1025, "at most"),
    ],
)
async def test_weak_passwords_are_refused_with_a_reason(
    make_client: ClientFactory, password: str, why: str
) -> None:
    with pytest.raises(ApiError) as err:
        await make_client().register("helen", password)
    assert (err.value.status, err.value.code) == (422, "weak_password")
    reason = err.value.details["reason"]
    assert isinstance(reason, str)
    assert reason
    assert why in reason
    assert err.value.details["field"] == "password"


async def test_password_built_from_display_name_is_refused(make_client: ClientFactory) -> None:
    with pytest.raises(ApiError) as err:
        await make_client().register("ivan", "Wolfgang Amadeus", display_name="Wolfgang Amadeus")
    assert err.value.code == "weak_password"


async def test_long_random_passphrase_is_accepted(make_client: ClientFactory) -> None:
    result = await make_client().register("judy", "tangerine submarine octopus 47")
    assert result["account"]["handle"] == "judy"


@pytest.mark.parametrize("length", [72, 73, 200, 1024])
async def test_long_passphrases_up_to_the_limit_are_accepted(
    make_client: ClientFactory, length: int
) -> None:
    words = "gentle orbit quarry velvet mango kettle zephyr harbor lantern 19 "
    password = (words * 20)[:length]
    client = make_client()
    await client.register("judy", password)
    await make_client().login("judy", password)
    await client.change_password(password, password[::-1])


async def test_registration_needs_accepted_terms(
    make_client: ClientFactory, services: Services
) -> None:
    client = make_client()
    with pytest.raises(ApiError) as err:
        await client.register("kate", PASSWORD, accept_terms=False)
    assert (err.value.status, err.value.code) == (422, "terms_not_accepted")
    assert err.value.details["terms_version"] == services.settings.current_terms_version
    # Nothing was created: the handle is still free.
    result = await client.register("kate", PASSWORD)
    assert result["account"]["handle"] == "kate"


async def test_missing_accept_terms_is_invalid_input(make_client: ClientFactory) -> None:
    response = await raw(
        make_client(), "POST", "/api/v1/accounts", json={"handle": "kate", "password": PASSWORD}
    )
    assert response.status_code == 422
    problems = response.json()["error"]["details"]["problems"]
    assert any(p["field"] == "accept_terms" for p in problems)


async def test_terms_acceptance_is_recorded_with_version_and_time(
    make_user: UserFactory, services: Services
) -> None:
    leo = await make_user("leo")
    terms = await leo.terms()
    assert len(terms) == 1
    assert terms[0]["version"] == services.settings.current_terms_version
    assert terms[0]["accepted_at"].startswith(services.clock.now().isoformat()[:19])


async def test_accepting_a_new_terms_version_adds_a_record(
    make_user: UserFactory, services: Services
) -> None:
    mia = await make_user("mia")
    first = services.settings.current_terms_version
    services.clock.advance(days=10)  # type: ignore[attr-defined]
    services.settings.current_terms_version = "2027-05"
    terms = await mia.accept_terms("2027-05")
    assert [t["version"] for t in terms] == [first, "2027-05"]
    assert terms[1]["accepted_at"] > terms[0]["accepted_at"]
    # Accepting again keeps one record per version.
    assert len(await mia.accept_terms("2027-05")) == 2


async def test_only_the_current_terms_can_be_accepted(make_user: UserFactory) -> None:
    nina = await make_user("nina")
    with pytest.raises(ApiError) as err:
        await nina.accept_terms("1999-01")
    assert (err.value.status, err.value.code) == (422, "terms_version_unknown")
    assert len(await nina.terms()) == 1


async def test_passwords_are_stored_as_argon2id_never_plaintext(
    make_user: UserFactory, services: Services
) -> None:
    olga = await make_user("olga")
    account_id = olga.account["id"]  # type: ignore[attr-defined]
    stored = await password_hash(services, account_id)
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    # The password appears nowhere else either: not in the account row, not in the audit log.
    async with services.db.read() as conn:
        account_row = (
            await conn.execute(select(store.accounts).where(store.accounts.c.id == account_id))
        ).one()
        audit_rows = (await conn.execute(select(audit_log))).all()
    everything = repr(tuple(account_row)) + repr([tuple(r) for r in audit_rows])
    assert PASSWORD not in everything


async def test_two_accounts_with_one_password_get_different_hashes(
    make_user: UserFactory, services: Services
) -> None:
    a = await make_user("pat")
    b = await make_user("quinn")
    hash_a = await password_hash(services, a.account["id"])  # type: ignore[attr-defined]
    hash_b = await password_hash(services, b.account["id"])  # type: ignore[attr-defined]
    assert hash_a != hash_b  # salted


async def test_registration_returns_a_working_session(make_client: ClientFactory) -> None:
    client = make_client()
    result = await client.register("rosa", PASSWORD, display_name="  Rosa R.  ", locale="de")
    assert result["session"]["token"]
    assert result["session"]["csrf_token"]
    me = await client.me()
    assert me["display_name"] == "Rosa R."
    assert me["locale"] == "de"
    assert me["verification_level"] == "none"
    assert me["two_factor_enabled"] is False
    assert me["roles"] == []


async def test_accepting_terms_twice_at_once_keeps_one_record(
    make_user: UserFactory, services: Services
) -> None:
    sam = await make_user("sam")
    services.settings.current_terms_version = "2027-09"
    results = await asyncio.gather(*(sam.accept_terms("2027-09") for _ in range(4)))
    assert all(len(r) == 2 for r in results)
    assert [t["version"] for t in await sam.terms()][1:] == ["2027-09"]
