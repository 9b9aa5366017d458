"""HTTP plumbing shared by every pillar's routes: error mapping, body limits, client info.

Routes own nothing: they parse, authenticate, call one service function and let the handlers
here turn domain errors into ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from courtyard.core.errors import CourtyardError, RateLimited

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media",
    422: "invalid_input",
    429: "rate_limited",
}


_FASTAPI_BODY_ERROR = "There was an error parsing the body"
_PG_CHARACTER_NOT_IN_REPERTOIRE = "22021"  # e.g. a NUL character in text


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details or {}}},
        status_code=status,
    )


def courtyard_error_response(exc: CourtyardError) -> JSONResponse:
    response = JSONResponse(exc.to_dict(), status_code=exc.http_status)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
    return response


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def install_error_handlers(app: FastAPI) -> None:
    async def on_courtyard_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CourtyardError)
        return courtyard_error_response(exc)

    async def on_validation_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = []
        malformed = False
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            if err.get("type") == "json_invalid":
                malformed = True
            problems.append(
                {"field": ".".join(loc[1:]) or loc[0] if loc else "", "problem": err.get("msg", "")}
            )
        if malformed:
            return error_response(400, "malformed_json", "The request body is not valid JSON.")
        return error_response(
            422,
            "invalid_input",
            "Some of the input is not valid.",
            {"problems": _json_safe(problems)},
        )

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400 and exc.detail == _FASTAPI_BODY_ERROR:
            # FastAPI could not read the body at all (not UTF-8, a broken multipart stream).
            if "json" in request.headers.get("content-type", ""):
                return error_response(400, "malformed_json", "The request body is not valid JSON.")
            return error_response(400, "malformed_body", "The request body could not be read.")
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        response = error_response(exc.status_code, code, message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def on_database_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DBAPIError)
        if getattr(exc.orig, "sqlstate", None) == _PG_CHARACTER_NOT_IN_REPERTOIRE:
            # Text with a NUL character reached PostgreSQL, which cannot store it. The input is
            # at fault (and the transaction rolled back); the schema should have refused it.
            log.warning("unstorable character in input to %s %s", request.method, request.url.path)
            return error_response(
                422,
                "invalid_input",
                "The input contains characters that cannot be stored.",
                {"problems": [{"field": "", "problem": "Text may not contain NUL characters."}]},
            )
        return await on_unexpected(request, exc)

    async def on_unexpected(_request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "Something went wrong on our side.")

    app.add_exception_handler(CourtyardError, on_courtyard_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(Exception, on_unexpected)


class BodySizeLimit:
    """Refuse bodies over a limit before they are read into memory (413, never a 500)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._refuse(scope, receive, send)
                    return
        received = 0
        exceeded = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # Whatever the framework makes of the interrupted body, the client gets a 413.
            nonlocal refused
            if exceeded:
                if not refused:
                    refused = True
                    await self._refuse(scope, receive, send)
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not refused:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "payload_too_large",
            f"The request body is larger than {self.max_bytes} bytes.",
            {"max_bytes": self.max_bytes},
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


IDEMPOTENCY_HEADER = "Idempotency-Key"


def idempotency_key(request: Request) -> str | None:
    """The client's idempotency key for a create, validated (1-128 visible ASCII characters)."""
    from courtyard.core.errors import InvalidInput

    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not (1 <= len(key) <= 128) or not all(33 <= ord(c) <= 126 for c in key):
        raise InvalidInput(
            "Idempotency-Key must be 1 to 128 visible ASCII characters.",
            details={"field": "Idempotency-Key"},
        )
    return key
