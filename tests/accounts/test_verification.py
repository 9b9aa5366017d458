"""Optional verification levels through the local development verifier."""

from __future__ import annotations

import pytest

from courtyard.client import ApiError
from courtyard.core.clock import FakeClock
from tests.accounts._helpers import assert_error, raw
from tests.conftest import UserFactory


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_phone_verification_raises_the_level(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    challenge = await alice.start_verification("phone", "+44 20 7946 0000")
    assert challenge["level"] == "phone"
    code = challenge["development_code"]
    assert code is not None
    assert len(code) == 6
    assert code.isdigit()
    account = await alice.complete_verification(challenge["challenge_id"], code)
    assert account["verification_level"] == "phone"
    assert (await alice.me())["verification_level"] == "phone"
    # A completed challenge cannot be used again.
    with pytest.raises(ApiError) as err:
        await alice.complete_verification(challenge["challenge_id"], code)
    assert err.value.status == 404


async def test_a_lower_level_never_lowers_a_higher_one(make_user: UserFactory) -> None:
    bob = await make_user("bob")
    identity = await bob.start_verification("identity", "ID-123456")
    await bob.complete_verification(identity["challenge_id"], identity["development_code"])
    phone = await bob.start_verification("phone", "+1 555 0100")
    account = await bob.complete_verification(phone["challenge_id"], phone["development_code"])
    assert account["verification_level"] == "identity"


async def test_wrong_codes_count_and_are_limited_after_five(make_user: UserFactory) -> None:
    cara = await make_user("cara")
    challenge = await cara.start_verification("phone", "+1 555 0101")
    right = challenge["development_code"]
    path = f"/api/v1/me/verification/{challenge['challenge_id']}"
    for _ in range(5):
        response = await raw(cara, "POST", path, json={"code": other_code(right)})
        assert_error(response, 422, "verification_failed")
    # The sixth attempt is refused even with the right code.
    limited = await raw(cara, "POST", path, json={"code": right})
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) >= 1
    assert (await cara.me())["verification_level"] == "none"


async def test_a_challenge_expires(make_user: UserFactory, clock: FakeClock) -> None:
    dan = await make_user("dan")
    challenge = await dan.start_verification("phone", "+1 555 0102")
    clock.advance(minutes=16)
    with pytest.raises(ApiError) as err:
        await dan.complete_verification(challenge["challenge_id"], challenge["development_code"])
    assert err.value.status == 404
    assert (await dan.me())["verification_level"] == "none"


async def test_a_challenge_belongs_to_its_account(make_user: UserFactory) -> None:
    eve = await make_user("eve")
    mallory = await make_user("mallory")
    challenge = await eve.start_verification("phone", "+1 555 0103")
    with pytest.raises(ApiError) as err:
        await mallory.complete_verification(
            challenge["challenge_id"], challenge["development_code"]
        )
    assert err.value.status == 404
    assert (await mallory.me())["verification_level"] == "none"


async def test_level_none_and_unknown_levels_are_refused(make_user: UserFactory) -> None:
    fay = await make_user("fay")
    with pytest.raises(ApiError) as err:
        await fay.start_verification("none", "x")
    assert err.value.status == 422
    with pytest.raises(ApiError) as err:
        await fay.start_verification("passport", "x")
    assert (err.value.status, err.value.code) == (422, "invalid_input")
    response = await raw(fay, "POST", "/api/v1/me/verification/not-an-id", json={"code": "1"})
    assert_error(response, 404, "not_found")


async def test_parallel_guesses_cannot_exceed_the_attempt_limit(make_user: UserFactory) -> None:
    import asyncio

    gil = await make_user("gil")
    challenge = await gil.start_verification("phone", "+1 555 0104")
    right = challenge["development_code"]
    path = f"/api/v1/me/verification/{challenge['challenge_id']}"
    responses = await asyncio.gather(
        *(raw(gil, "POST", path, json={"code": other_code(right)}) for _ in range(12))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [422] * 5 + [429] * 7
    assert_error(await raw(gil, "POST", path, json={"code": right}), 429, "rate_limited")
