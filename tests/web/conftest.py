"""A small form-submitting browser over ASGI for the page tests (cookies kept, CSRF read from
the page as a browser would)."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: str) -> str:
    match = _CSRF.search(page)
    assert match, "the page has no CSRF field"
    return html.unescape(match.group(1))


class Browser:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = client

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.get(path, **kwargs)

    async def page(self, path: str) -> str:
        response = await self.http.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        return response.text

    async def submit(
        self,
        form_page: str,
        action: str,
        data: dict[str, Any] | None = None,
        *,
        files: dict[str, Any] | None = None,
        htmx: bool = False,
    ) -> httpx.Response:
        """Open ``form_page``, take its CSRF token, and post ``data`` to ``action``."""
        token = csrf_of(await self.page(form_page))
        headers = {"HX-Request": "true"} if htmx else {}
        return await self.http.post(
            action, data={"csrf_token": token, **(data or {})}, files=files, headers=headers
        )

    async def register(self, handle: str, display_name: str | None = None) -> httpx.Response:
        response = await self.submit(
            "/register",
            "/register",
            {
                "handle": handle,
                "display_name": display_name or handle.title(),
                "password": PASSWORD,
                "accept_terms": "on",
            },
        )
        assert response.status_code == 303, response.text[:2000]
        return response


BrowserFactory = Callable[..., Browser]


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[BrowserFactory]:
    clients: list[httpx.AsyncClient] = []

    def factory(ip: str = "203.0.113.50", accept_language: str | None = None) -> Browser:
        headers = {"accept": "text/html,application/xhtml+xml"}
        if accept_language:
            headers["accept-language"] = accept_language
        client = httpx.AsyncClient(
            base_url="http://testserver",
            transport=httpx.ASGITransport(app=app, client=(ip, 50000)),
            headers=headers,
        )
        clients.append(client)
        return Browser(client)

    yield factory
    for client in clients:
        await client.aclose()
