"""Bad input gets a clear, typed error in one shape, never a 500 or a half-written record."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from courtyard.client import CourtyardClient
from tests.accounts._helpers import assert_error, raw
from tests.conftest import PASSWORD, ClientFactory, UserFactory

MAX_BODY = 4096


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"max_body_bytes": MAX_BODY}


async def post_bytes(client: CourtyardClient, path: str, body: bytes, **headers: str) -> object:
    return await raw(
        client, "POST", path, content=body, headers={"content-type": "application/json", **headers}
    )


@pytest.mark.parametrize(
    "body",
    [b"{", b'{"handle": "x",}', b"not json", b'{"handle": "a"', b"\xff\xfe\x00", b"[1, 2"],
)
async def test_malformed_json_is_400(make_client: ClientFactory, body: bytes) -> None:
    response = await post_bytes(make_client(), "/api/v1/accounts", body)
    assert_error(response, 400, "malformed_json")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"handle": 123, "password": PASSWORD, "accept_terms": True}, "handle"),
        ({"handle": "ann", "password": ["x"], "accept_terms": True}, "password"),
        ({"handle": "ann", "password": PASSWORD, "accept_terms": "perhaps"}, "accept_terms"),
        ({"handle": "ann", "password": PASSWORD}, "accept_terms"),
        ({"handle": None, "password": PASSWORD, "accept_terms": True}, "handle"),
        ({"handle": "ann", "password": PASSWORD, "accept_terms": True, "admin": True}, "admin"),
    ],
)
async def test_wrong_types_missing_and_unknown_fields_are_422_with_problems(
    make_client: ClientFactory, body: dict[str, object], field: str
) -> None:
    client = make_client()
    response = await raw(client, "POST", "/api/v1/accounts", json=body)
    error = assert_error(response, 422, "invalid_input")
    problems = error["details"]["problems"]
    assert problems
    assert all(set(p) == {"field", "problem"} for p in problems)
    assert field in [p["field"] for p in problems]
    # Nothing was created.
    again = await raw(
        client,
        "POST",
        "/api/v1/accounts",
        json={"handle": "ann", "password": PASSWORD, "accept_terms": True},
    )
    assert again.status_code == 201


@pytest.mark.parametrize("body", [[], "text", 5, None])
async def test_a_json_body_that_is_not_an_object_is_422(
    make_client: ClientFactory, body: object
) -> None:
    response = await raw(make_client(), "POST", "/api/v1/sessions", json=body)
    assert_error(response, 422, "invalid_input")


async def test_oversized_body_with_content_length_is_413(make_client: ClientFactory) -> None:
    big = b'{"handle": "' + b"a" * MAX_BODY + b'"}'
    response = await post_bytes(make_client(), "/api/v1/accounts", big)
    error = assert_error(response, 413, "payload_too_large")  # type: ignore[arg-type]
    assert error["details"]["max_bytes"] == MAX_BODY


async def test_oversized_chunked_body_is_413(make_client: ClientFactory) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"handle": "'
        for _ in range(10):
            yield b"a" * 1000
        yield b'"}'

    client = make_client()
    response = await client.http.post(
        "/api/v1/accounts", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_error(response, 413, "payload_too_large")


async def test_oversized_multipart_upload_is_413(make_user: UserFactory) -> None:
    ann = await make_user("ann")
    response = await raw(
        ann,
        "PUT",
        "/api/v1/me/avatar",
        files={"image": ("a.png", b"x" * (MAX_BODY * 2), "image/png")},
    )
    assert_error(response, 413, "payload_too_large")


async def test_a_body_just_under_the_limit_is_read(make_client: ClientFactory) -> None:
    body = b'{"handle": "ann", "password": "' + b"p" * 100 + b'", "accept_terms": true}'
    padded = body + b" " * (MAX_BODY - len(body))
    assert len(padded) == MAX_BODY
    response = await post_bytes(make_client(), "/api/v1/accounts", padded)
    assert response.status_code != 413  # type: ignore[attr-defined]


async def test_unknown_routes_are_404_in_the_error_shape(make_client: ClientFactory) -> None:
    client = make_client()
    for path in ("/api/v1/nothing-here", "/api/v2/me", "/api/v1/me/extra/segments"):
        assert_error(await raw(client, "GET", path), 404, "not_found")


async def test_wrong_method_is_405_in_the_error_shape(make_client: ClientFactory) -> None:
    client = make_client()
    response = await raw(client, "PUT", "/api/v1/sessions")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"]
    assert_error(await raw(client, "DELETE", "/api/v1/accounts"), 405, "method_not_allowed")
    assert_error(await raw(client, "POST", "/healthz"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    "text",
    [
        "nul\x00byte",
        "\x00",
        "bell\x07",
        "escape\x1b[31mred",
        "zero\u200bwidth ok?",
        "rtl\u202eevil",
    ],
)
async def test_control_characters_in_profile_text_never_500(
    make_user: UserFactory, text: str
) -> None:
    bea = await make_user("bea", display_name="Bea")
    for field in ("display_name", "bio", "locale"):
        response = await raw(bea, "PATCH", "/api/v1/me", json={field: text[:16]})
        assert response.status_code in {200, 422}, response.text
        if response.status_code == 422:
            assert_error(response, 422, response.json()["error"]["code"])
    me = await bea.me()
    for value in (me["display_name"], me["bio"], me["locale"] or ""):
        assert "\x00" not in value
        assert "\x1b" not in value


@pytest.mark.parametrize("field", ["handle", "password", "display_name", "locale"])
async def test_nul_bytes_at_registration_never_500(make_client: ClientFactory, field: str) -> None:
    body: dict[str, object] = {"handle": "cyd", "password": PASSWORD, "accept_terms": True}
    body[field] = f"{body.get(field, 'x')}\x00"
    response = await raw(make_client(), "POST", "/api/v1/accounts", json=body)
    assert response.status_code in {201, 422}, response.text


async def test_nul_bytes_in_login_and_codes_never_500(make_user: UserFactory) -> None:
    dee = await make_user("dee")
    for path, body in (
        ("/api/v1/sessions", {"handle": "dee\x00", "password": "x\x00"}),
        ("/api/v1/sessions", {"handle": "dee", "password": PASSWORD, "device_token": "\x00"}),
        ("/api/v1/sessions/two-factor", {"ticket": "a\x00.b", "code": "\x00"}),
        ("/api/v1/me/terms", {"version": "\x00"}),
        ("/api/v1/me/verification", {"level": "phone", "claim": "\x00"}),
        ("/api/v1/me/two-factor/enable", {"code": "\x00"}),
    ):
        response = await raw(dee, "POST", path, json=body)
        assert response.status_code < 500, (path, response.text)


async def test_every_error_has_the_one_shape(make_user: UserFactory) -> None:
    eli = await make_user("eli")
    eli_token = eli.token
    cases = [
        ("GET", "/api/v1/me", None, None),  # unauthenticated
        ("DELETE", "/api/v1/sessions/00000000000000000000000000", None, eli_token),
        ("POST", "/api/v1/me/password", {"current_password": "x", "new_password": "y"}, eli_token),
        ("POST", "/api/v1/me/two-factor/enable", {"code": "123456"}, eli_token),
    ]
    for method, path, body, token in cases:
        eli.token = token
        response = await raw(eli, method, path, json=body)
        assert response.status_code >= 400
        assert_error(response, response.status_code, response.json()["error"]["code"])


async def test_a_body_that_is_not_utf8_is_malformed_not_a_generic_400(
    make_client: ClientFactory,
) -> None:
    response = await post_bytes(
        make_client(), "/api/v1/sessions", '{"handle": "é"}'.encode("latin-1")
    )
    assert_error(response, 400, "malformed_json")  # type: ignore[arg-type]


async def test_an_unstorable_character_reaching_the_database_is_422_not_500() -> None:
    """The safety net behind the schemas: PostgreSQL refusing a NUL is the input's fault."""
    import httpx
    from fastapi import FastAPI
    from sqlalchemy.exc import DBAPIError

    from courtyard.core.http import install_error_handlers

    class Refused(Exception):
        sqlstate = "22021"

    class Broken(Exception):
        sqlstate = "XX000"

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/nul")
    async def nul() -> None:
        raise DBAPIError("INSERT ...", {}, Refused("invalid byte sequence: 0x00"))

    @app.get("/broken")
    async def broken() -> None:
        raise DBAPIError("SELECT ...", {}, Broken("internal"))

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert_error(await client.get("/nul"), 422, "invalid_input")
        assert_error(await client.get("/broken"), 500, "internal_error")
