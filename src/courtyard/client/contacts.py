"""Client calls for contacts: lookup, friend requests, friends, blocks and labels."""

from __future__ import annotations

from typing import Any

from courtyard.client._base import BaseClient, query_params


class ContactsClient(BaseClient):
    async def lookup(self, handle: str) -> dict[str, Any]:
        """An account by exact handle: ``{"profile", "relationship", "request_id"}``."""
        result: dict[str, Any] = await self.request(
            "GET", "/api/v1/contacts/lookup", params={"handle": handle}
        )
        return result

    async def public_profile(self, account_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", f"/api/v1/accounts/{account_id}")
        return result

    async def send_friend_request(
        self,
        *,
        handle: str | None = None,
        account_id: str | None = None,
        message: str = "",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"message": message}
        if handle is not None:
            body["handle"] = handle
        if account_id is not None:
            body["account_id"] = account_id
        result: dict[str, Any] = await self.request(
            "POST", "/api/v1/contacts/requests", json=body, idempotency_key=idempotency_key
        )
        return result

    async def friend_requests(
        self, direction: str = "incoming", *, cursor: str | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        """One page: ``{"items": [...], "next_cursor": ...}``."""
        result: dict[str, Any] = await self.request(
            "GET",
            "/api/v1/contacts/requests",
            params=query_params(direction=direction, cursor=cursor, limit=limit),
        )
        return result

    async def accept_request(
        self, request_id: str, *, remark: str | None = None, label_ids: list[str] | None = None
    ) -> dict[str, Any]:
        """Accept; returns the new friend as it appears in your list."""
        body = query_params(remark=remark, label_ids=label_ids)
        result: dict[str, Any] = await self.request(
            "POST", f"/api/v1/contacts/requests/{request_id}/accept", json=body
        )
        return result

    async def decline_request(self, request_id: str) -> None:
        await self.request("POST", f"/api/v1/contacts/requests/{request_id}/decline")

    async def ignore_request(self, request_id: str) -> None:
        await self.request("POST", f"/api/v1/contacts/requests/{request_id}/ignore")

    async def cancel_request(self, request_id: str) -> None:
        await self.request("DELETE", f"/api/v1/contacts/requests/{request_id}")

    async def friends(
        self,
        *,
        label_id: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """One page of friends: ``{"items": [...], "next_cursor": ...}``."""
        result: dict[str, Any] = await self.request(
            "GET",
            "/api/v1/contacts/friends",
            params=query_params(label_id=label_id, cursor=cursor, limit=limit),
        )
        return result

    async def update_friend(
        self, account_id: str, *, remark: str | None = None, label_ids: list[str] | None = None
    ) -> dict[str, Any]:
        body = query_params(remark=remark, label_ids=label_ids)
        result: dict[str, Any] = await self.request(
            "PATCH", f"/api/v1/contacts/friends/{account_id}", json=body
        )
        return result

    async def remove_friend(self, account_id: str) -> None:
        await self.request("DELETE", f"/api/v1/contacts/friends/{account_id}")

    async def block(self, account_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "POST", "/api/v1/contacts/blocks", json={"account_id": account_id}
        )
        return result

    async def unblock(self, account_id: str) -> None:
        await self.request("DELETE", f"/api/v1/contacts/blocks/{account_id}")

    async def blocks(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("GET", "/api/v1/contacts/blocks")
        return result

    async def create_label(
        self, name: str, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "POST", "/api/v1/contacts/labels", json={"name": name}, idempotency_key=idempotency_key
        )
        return result

    async def rename_label(self, label_id: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "PATCH", f"/api/v1/contacts/labels/{label_id}", json={"name": name}
        )
        return result

    async def delete_label(self, label_id: str) -> None:
        await self.request("DELETE", f"/api/v1/contacts/labels/{label_id}")

    async def labels(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("GET", "/api/v1/contacts/labels")
        return result

    async def export_contacts(self, fmt: str = "vcard") -> str:
        """Your contacts as a file's text: ``fmt`` is ``vcard`` (vCard 4.0) or ``csv``. The
        CSV's byte-order mark (there for spreadsheet programs) is not part of the text."""
        data: bytes | None = await self.request(
            "GET", "/api/v1/contacts/export", params={"format": fmt}
        )
        return (data or b"").decode("utf-8-sig")
