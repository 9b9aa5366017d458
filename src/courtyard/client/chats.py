"""Client calls for chats: conversations, messages, groups, invitations and links."""

from __future__ import annotations

from typing import Any

from courtyard.client._base import BaseClient, query_params

_V1 = "/api/v1"


class ChatsClient(BaseClient):
    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return await self.request(method, _V1 + path, **kwargs)

    # -- conversations ------------------------------------------------------------------------

    async def conversations(
        self, *, box: str = "inbox", cursor: str | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        params = query_params(box=box, cursor=cursor, limit=limit)
        result: dict[str, Any] = await self._call("GET", "/conversations", params=params)
        return result

    async def open_direct(self, account_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", "/conversations/direct", json={"account_id": account_id}
        )
        return result

    async def create_group(self, name: str, member_ids: list[str]) -> dict[str, Any]:
        body = {"name": name, "member_ids": member_ids}
        result: dict[str, Any] = await self._call("POST", "/conversations/groups", json=body)
        return result

    async def conversation(self, conversation_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/conversations/{conversation_id}")
        return result

    async def update_group(self, conversation_id: str, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "PATCH", f"/conversations/{conversation_id}", json=changes
        )
        return result

    async def conversation_settings(self, conversation_id: str, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "PATCH", f"/conversations/{conversation_id}/settings", json=changes
        )
        return result

    async def accept_message_request(self, conversation_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", f"/conversations/{conversation_id}/accept"
        )
        return result

    async def mark_read(self, conversation_id: str, seq: int) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", f"/conversations/{conversation_id}/read", json={"seq": seq}
        )
        return result

    async def chat_preferences(self, **changes: Any) -> dict[str, Any]:
        if changes:
            result: dict[str, Any] = await self._call("PUT", "/chat-preferences", json=changes)
        else:
            result = await self._call("GET", "/chat-preferences")
        return result

    # -- messages -----------------------------------------------------------------------------

    async def send_message(
        self,
        conversation_id: str,
        text: str,
        *,
        client_id: str,
        reply_to_id: str | None = None,
        attachments: list[str] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"client_id": client_id, "text": text}
        if reply_to_id is not None:
            body["reply_to_id"] = reply_to_id
        if attachments:
            body["attachments"] = attachments
        result: dict[str, Any] = await self._call(
            "POST", f"/conversations/{conversation_id}/messages", json=body
        )
        return result

    async def messages(
        self,
        conversation_id: str,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        params = query_params(before=before, after=after, limit=limit)
        result: dict[str, Any] = await self._call(
            "GET", f"/conversations/{conversation_id}/messages", params=params
        )
        return result

    async def recall_message(self, conversation_id: str, message_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", f"/conversations/{conversation_id}/messages/{message_id}/recall"
        )
        return result

    async def hide_message(self, conversation_id: str, message_id: str) -> None:
        await self._call("DELETE", f"/conversations/{conversation_id}/messages/{message_id}")

    async def forward_message(
        self, conversation_id: str, message_id: str, to: list[str], *, client_id: str
    ) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call(
            "POST",
            f"/conversations/{conversation_id}/messages/{message_id}/forward",
            json={"to": to, "client_id": client_id},
        )
        return result

    # -- group management ---------------------------------------------------------------------

    async def invite_members(
        self, conversation_id: str, account_ids: list[str]
    ) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call(
            "POST", f"/conversations/{conversation_id}/members", json={"account_ids": account_ids}
        )
        return result

    async def remove_member(self, conversation_id: str, account_id: str) -> None:
        await self._call("DELETE", f"/conversations/{conversation_id}/members/{account_id}")

    async def mute_member(self, conversation_id: str, account_id: str, minutes: int) -> None:
        await self._call(
            "POST",
            f"/conversations/{conversation_id}/members/{account_id}/mute",
            json={"minutes": minutes},
        )

    async def unmute_member(self, conversation_id: str, account_id: str) -> None:
        await self._call("DELETE", f"/conversations/{conversation_id}/members/{account_id}/mute")

    async def set_member_role(self, conversation_id: str, account_id: str, role: str) -> None:
        await self._call(
            "PUT",
            f"/conversations/{conversation_id}/members/{account_id}/role",
            json={"role": role},
        )

    async def set_group_nickname(self, conversation_id: str, nickname: str | None) -> None:
        await self._call(
            "PUT", f"/conversations/{conversation_id}/nickname", json={"nickname": nickname}
        )

    async def leave_group(self, conversation_id: str) -> None:
        await self._call("POST", f"/conversations/{conversation_id}/leave")

    async def dissolve_group(self, conversation_id: str) -> None:
        await self._call("POST", f"/conversations/{conversation_id}/dissolve")

    async def propose_transfer(self, conversation_id: str, account_id: str) -> None:
        await self._call(
            "POST", f"/conversations/{conversation_id}/transfer", json={"account_id": account_id}
        )

    async def answer_transfer(self, conversation_id: str, action: str) -> None:
        await self._call("POST", f"/conversations/{conversation_id}/transfer/{action}")

    # -- invitations and links ----------------------------------------------------------------

    async def invitations(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("GET", "/invitations")
        return result

    async def answer_invitation(self, invitation_id: str, action: str) -> None:
        await self._call("POST", f"/invitations/{invitation_id}/{action}")

    async def create_invite_link(self, conversation_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", f"/conversations/{conversation_id}/links")
        return result

    async def revoke_invite_link(self, conversation_id: str, link_id: str) -> None:
        await self._call("DELETE", f"/conversations/{conversation_id}/links/{link_id}")

    async def join_by_link(self, link_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", f"/links/{link_id}/join")
        return result
