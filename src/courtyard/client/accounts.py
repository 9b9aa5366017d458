"""Client calls for accounts, sessions, two-factor and profile."""

from __future__ import annotations

from typing import Any

from courtyard.client._base import BaseClient


class AccountsClient(BaseClient):
    async def register(
        self,
        handle: str,
        password: str,
        *,
        display_name: str | None = None,
        accept_terms: bool = True,
        locale: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "handle": handle,
            "password": password,
            "accept_terms": accept_terms,
        }
        if display_name is not None:
            body["display_name"] = display_name
        if locale is not None:
            body["locale"] = locale
        result: dict[str, Any] = await self.request("POST", "/api/v1/accounts", json=body)
        self._adopt(result)
        return result

    async def login(self, handle: str, password: str) -> dict[str, Any]:
        """Log in; if a second factor is needed, the result has ``two_factor_ticket``."""
        body: dict[str, Any] = {"handle": handle, "password": password}
        if self.device_token:
            body["device_token"] = self.device_token
        result: dict[str, Any] = await self.request("POST", "/api/v1/sessions", json=body)
        self._adopt(result)
        return result

    async def login_two_factor(self, ticket: str, code: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "POST", "/api/v1/sessions/two-factor", json={"ticket": ticket, "code": code}
        )
        self._adopt(result)
        return result

    def _adopt(self, result: dict[str, Any]) -> None:
        if result.get("session"):
            self.token = result["session"]["token"]
        if result.get("device_token"):
            self.device_token = result["device_token"]

    async def logout(self) -> None:
        await self.request("DELETE", "/api/v1/sessions/current")
        self.token = None

    async def sessions(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("GET", "/api/v1/sessions")
        return result

    async def revoke_session(self, session_id: str) -> None:
        await self.request("DELETE", f"/api/v1/sessions/{session_id}")

    async def me(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", "/api/v1/me")
        return result

    async def update_profile(self, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("PATCH", "/api/v1/me", json=fields)
        return result

    async def set_avatar(
        self, data: bytes, filename: str = "avatar.png", content_type: str = "image/png"
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "PUT", "/api/v1/me/avatar", files={"image": (filename, data, content_type)}
        )
        return result

    async def avatar(self, account_id: str) -> bytes:
        result: bytes = await self.request("GET", f"/api/v1/accounts/{account_id}/avatar")
        return result

    async def change_password(self, current_password: str, new_password: str) -> None:
        await self.request(
            "POST",
            "/api/v1/me/password",
            json={"current_password": current_password, "new_password": new_password},
        )

    async def two_factor_setup(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("POST", "/api/v1/me/two-factor/setup")
        return result

    async def two_factor_enable(self, code: str) -> list[str]:
        result = await self.request("POST", "/api/v1/me/two-factor/enable", json={"code": code})
        return list(result["recovery_codes"])

    async def two_factor_disable(self, password: str, code: str) -> None:
        await self.request(
            "POST", "/api/v1/me/two-factor/disable", json={"password": password, "code": code}
        )

    async def regenerate_recovery_codes(self, code: str) -> list[str]:
        result = await self.request(
            "POST", "/api/v1/me/two-factor/recovery-codes", json={"code": code}
        )
        return list(result["recovery_codes"])

    async def terms(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("GET", "/api/v1/me/terms")
        return result

    async def accept_terms(self, version: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request(
            "POST", "/api/v1/me/terms", json={"version": version}
        )
        return result

    async def start_verification(self, level: str, claim: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "POST", "/api/v1/me/verification", json={"level": level, "claim": claim}
        )
        return result

    async def complete_verification(self, challenge_id: str, code: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "POST", f"/api/v1/me/verification/{challenge_id}", json={"code": code}
        )
        return result

    async def health(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", "/healthz")
        return result

    async def ready(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", "/readyz")
        return result
