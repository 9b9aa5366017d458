"""Admin calls for rule packs (``/api/v1/admin/policy``)."""

from __future__ import annotations

from typing import Any

from courtyard.client._base import BaseClient


class GovernanceClient(BaseClient):
    async def _admin(self, method: str, path: str, **kwargs: Any) -> Any:
        return await self.request(method, "/api/v1" + path, **kwargs)

    async def policy_packs(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._admin("GET", "/admin/policy/packs")
        return result

    async def policy_pack(self, pack_id: str, version: int | None = None) -> dict[str, Any]:
        path = f"/admin/policy/packs/{pack_id}"
        if version is not None:
            path += f"/versions/{version}"
        result: dict[str, Any] = await self._admin("GET", path)
        return result

    async def policy_pack_history(self, pack_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._admin(
            "GET", f"/admin/policy/packs/{pack_id}/versions"
        )
        return result

    async def put_policy_pack(
        self, pack_id: str, source: str, *, note: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"source": source}
        if note is not None:
            body["note"] = note
        result: dict[str, Any] = await self._admin(
            "PUT", f"/admin/policy/packs/{pack_id}", json=body
        )
        return result

    async def set_policy_pack_enabled(self, pack_id: str, enabled: bool) -> dict[str, Any]:
        result: dict[str, Any] = await self._admin(
            "POST", f"/admin/policy/packs/{pack_id}/enabled", json={"enabled": enabled}
        )
        return result

    async def revert_policy_pack(self, pack_id: str, version: int) -> dict[str, Any]:
        result: dict[str, Any] = await self._admin(
            "POST", f"/admin/policy/packs/{pack_id}/revert", json={"version": version}
        )
        return result

    async def check_policy_pack(self, source: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._admin(
            "POST", "/admin/policy/check", json={"source": source}
        )
        return result

    async def test_policy_pack(self, source: str, events: list[dict[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = await self._admin(
            "POST", "/admin/policy/test", json={"source": source, "events": events}
        )
        return result

    async def rule_activity(self, rule_id: str, *, days: int = 7) -> dict[str, Any]:
        result: dict[str, Any] = await self._admin(
            "GET", f"/admin/policy/rules/{rule_id}/activity", params={"days": days}
        )
        return result

    async def policy_decision(self, decision_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._admin("GET", f"/admin/policy/decisions/{decision_id}")
        return result
