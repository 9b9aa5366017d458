"""JSON routes for chats: conversations, messages, groups, invitations and invite links.

Sending is also possible over the WebSocket (``send`` frames, docs/events.md); both roads end
in the same service call and the same group commit.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Query, Response, UploadFile

from courtyard.accounts.api import ActorDep, ServicesDep
from courtyard.chats.model import (
    AttachmentOut,
    ConversationDetailOut,
    ConversationOut,
    DirectIn,
    ForwardIn,
    GroupIn,
    GroupReportOut,
    GroupUpdateIn,
    InvitationOut,
    InviteIn,
    InviteLinkOut,
    MessageOut,
    MuteIn,
    NicknameIn,
    PreferencesIn,
    PreferencesOut,
    ReadIn,
    ReadOut,
    RoleIn,
    SendIn,
    SettingsIn,
    TransferIn,
)
from courtyard.core.pagination import MAX_LIMIT, Page

router = APIRouter(prefix="/api/v1", tags=["chats"])

LimitQuery = Annotated[int | None, Query(ge=1, le=MAX_LIMIT)]


# ---- conversations -------------------------------------------------------------------------


@router.get("/conversations", response_model=Page[ConversationOut], summary="My conversations")
async def list_conversations(
    actor: ActorDep,
    services: ServicesDep,
    box: Literal["inbox", "requests"] = "inbox",
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: LimitQuery = None,
) -> Page[ConversationOut]:
    return await services.chats.list_conversations(actor, box=box, cursor=cursor, limit=limit)


@router.post(
    "/conversations/direct",
    response_model=ConversationOut,
    summary="Open (or create) the direct conversation with an account",
)
async def open_direct(body: DirectIn, actor: ActorDep, services: ServicesDep) -> ConversationOut:
    return await services.chats.open_direct(actor, body.account_id)


@router.post(
    "/conversations/groups",
    response_model=ConversationOut,
    status_code=201,
    summary="Create a group with some of my friends",
)
async def create_group(body: GroupIn, actor: ActorDep, services: ServicesDep) -> ConversationOut:
    return await services.chats.create_group(actor, body.name, body.member_ids)


@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationDetailOut,
    summary="One conversation with its members",
)
async def get_conversation(
    conversation_id: str, actor: ActorDep, services: ServicesDep
) -> ConversationDetailOut:
    return await services.chats.get_conversation(actor, conversation_id)


@router.patch(
    "/conversations/{conversation_id}",
    response_model=ConversationOut,
    summary="Rename a group, publish its announcement, set its rules, or require approval of "
    "invitations",
)
async def update_group(
    conversation_id: str, body: GroupUpdateIn, actor: ActorDep, services: ServicesDep
) -> ConversationOut:
    return await services.chats.update_group(
        actor,
        conversation_id,
        name=body.name,
        announcement=body.announcement,
        rules=body.rules,
        owner_approval=body.owner_approval,
    )


@router.patch(
    "/conversations/{conversation_id}/settings",
    response_model=ConversationOut,
    summary="My own settings: mute notifications, pin, archive",
)
async def update_settings(
    conversation_id: str, body: SettingsIn, actor: ActorDep, services: ServicesDep
) -> ConversationOut:
    return await services.chats.update_settings(
        actor,
        conversation_id,
        notifications_muted=body.notifications_muted,
        pinned=body.pinned,
        archived=body.archived,
    )


@router.post(
    "/conversations/{conversation_id}/accept",
    response_model=ConversationOut,
    summary="Move a message request into my inbox",
)
async def accept_request(
    conversation_id: str, actor: ActorDep, services: ServicesDep
) -> ConversationOut:
    return await services.chats.accept_request(actor, conversation_id)


@router.post(
    "/conversations/{conversation_id}/read",
    response_model=ReadOut,
    summary="Move my read marker forward",
)
async def mark_read(
    conversation_id: str, body: ReadIn, actor: ActorDep, services: ServicesDep
) -> ReadOut:
    seq = await services.chats.mark_read(actor, conversation_id, body.seq)
    return ReadOut(conversation_id=conversation_id, seq=seq)


# ---- messages ------------------------------------------------------------------------------


@router.get(
    "/conversations/{conversation_id}/messages",
    response_model=Page[MessageOut],
    summary="History: newest first, or oldest first from `after`",
)
async def history(
    conversation_id: str,
    actor: ActorDep,
    services: ServicesDep,
    before: Annotated[int | None, Query(ge=0)] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
    limit: LimitQuery = None,
) -> Page[MessageOut]:
    return await services.chats.history(
        actor, conversation_id, before_seq=before, after_seq=after, limit=limit
    )


@router.post(
    "/conversations/{conversation_id}/messages",
    response_model=MessageOut,
    summary="Send a message (idempotent by client_id)",
    description="Answered only after the message is durably committed.",
)
async def send(
    conversation_id: str, body: SendIn, actor: ActorDep, services: ServicesDep
) -> MessageOut:
    return await services.chats.send(
        actor,
        conversation_id,
        client_id=body.client_id,
        text=body.text,
        reply_to_id=body.reply_to_id,
        attachment_ids=body.attachments,
    )


@router.post(
    "/conversations/{conversation_id}/messages/{message_id}/recall",
    response_model=MessageOut,
    summary="Recall my message (within the recall window)",
)
async def recall(
    conversation_id: str, message_id: str, actor: ActorDep, services: ServicesDep
) -> MessageOut:
    return await services.chats.recall(actor, conversation_id, message_id)


@router.post(
    "/conversations/{conversation_id}/messages/{message_id}/remove",
    response_model=MessageOut,
    summary="Remove a member's message for everyone (owner, admins)",
    description="Group moderation, not a recall: no time window; an admin removes plain "
    "members' messages, the owner anyone else's. The author is told who removed it. Refused "
    "with `group_read_only` (403) while the platform has made the group read-only.",
)
async def remove_message(
    conversation_id: str, message_id: str, actor: ActorDep, services: ServicesDep
) -> MessageOut:
    return await services.chats.remove_message(actor, conversation_id, message_id)


@router.delete(
    "/conversations/{conversation_id}/messages/{message_id}",
    summary="Delete a message for me only",
    status_code=204,
    response_class=Response,
)
async def hide(
    conversation_id: str, message_id: str, actor: ActorDep, services: ServicesDep
) -> Response:
    await services.chats.hide(actor, conversation_id, message_id)
    return Response(status_code=204)


@router.post(
    "/conversations/{conversation_id}/messages/{message_id}/forward",
    response_model=list[MessageOut],
    summary="Forward a message to other conversations",
)
async def forward(
    conversation_id: str, message_id: str, body: ForwardIn, actor: ActorDep, services: ServicesDep
) -> list[MessageOut]:
    return await services.chats.forward(
        actor, conversation_id, message_id, to_conversation_ids=body.to, client_id=body.client_id
    )


@router.post(
    "/conversations/{conversation_id}/attachments",
    response_model=AttachmentOut,
    status_code=201,
    summary="Upload an image or file to send in a message",
    description="Images are re-encoded without metadata; other files need an allowed type.",
)
async def upload_attachment(
    conversation_id: str,
    actor: ActorDep,
    services: ServicesDep,
    file: Annotated[UploadFile, File()],
) -> AttachmentOut:
    data = await file.read(services.settings.attachment_max_bytes + 1)
    return await services.chats.upload_attachment(
        actor,
        conversation_id,
        filename=file.filename or "file",
        content_type=file.content_type,
        data=data,
    )


@router.get(
    "/conversations/{conversation_id}/attachments/{attachment_id}",
    response_class=Response,
    summary="Download an attachment (members only)",
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download_attachment(
    conversation_id: str, attachment_id: str, actor: ActorDep, services: ServicesDep
) -> Response:
    row, data = await services.chats.attachment_content(actor, conversation_id, attachment_id)
    disposition = "inline" if row["kind"] == "image" else "attachment"
    return Response(
        content=data,
        media_type=row["content_type"],
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(row['filename'])}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=86400",
        },
    )


# ---- group management ----------------------------------------------------------------------


@router.post(
    "/conversations/{conversation_id}/members",
    response_model=list[InvitationOut],
    summary="Invite friends (they join, or wait for approval or acceptance)",
)
async def invite(
    conversation_id: str, body: InviteIn, actor: ActorDep, services: ServicesDep
) -> list[InvitationOut]:
    return await services.chats.invite(actor, conversation_id, body.account_ids)


@router.delete(
    "/conversations/{conversation_id}/members/{account_id}",
    summary="Remove a member (owner, admins)",
    status_code=204,
    response_class=Response,
)
async def remove_member(
    conversation_id: str, account_id: str, actor: ActorDep, services: ServicesDep
) -> Response:
    await services.chats.remove_member(actor, conversation_id, account_id)
    return Response(status_code=204)


@router.post(
    "/conversations/{conversation_id}/members/{account_id}/mute",
    summary="Mute a member for a while (owner, admins)",
    status_code=204,
    response_class=Response,
)
async def mute_member(
    conversation_id: str, account_id: str, body: MuteIn, actor: ActorDep, services: ServicesDep
) -> Response:
    await services.chats.mute_member(actor, conversation_id, account_id, body.minutes)
    return Response(status_code=204)


@router.delete(
    "/conversations/{conversation_id}/members/{account_id}/mute",
    summary="Unmute a member",
    status_code=204,
    response_class=Response,
)
async def unmute_member(
    conversation_id: str, account_id: str, actor: ActorDep, services: ServicesDep
) -> Response:
    await services.chats.mute_member(actor, conversation_id, account_id, None)
    return Response(status_code=204)


@router.put(
    "/conversations/{conversation_id}/members/{account_id}/role",
    summary="Make a member an admin, or an admin a member (owner)",
    status_code=204,
    response_class=Response,
)
async def set_role(
    conversation_id: str, account_id: str, body: RoleIn, actor: ActorDep, services: ServicesDep
) -> Response:
    await services.chats.set_role(actor, conversation_id, account_id, body.role)
    return Response(status_code=204)


@router.put(
    "/conversations/{conversation_id}/nickname",
    summary="My nickname in this group",
    status_code=204,
    response_class=Response,
)
async def set_nickname(
    conversation_id: str, body: NicknameIn, actor: ActorDep, services: ServicesDep
) -> Response:
    await services.chats.set_nickname(actor, conversation_id, body.nickname)
    return Response(status_code=204)


@router.post(
    "/conversations/{conversation_id}/leave",
    summary="Leave a group",
    status_code=204,
    response_class=Response,
)
async def leave(conversation_id: str, actor: ActorDep, services: ServicesDep) -> Response:
    await services.chats.leave(actor, conversation_id)
    return Response(status_code=204)


@router.post(
    "/conversations/{conversation_id}/dissolve",
    summary="Dissolve a group (owner)",
    status_code=204,
    response_class=Response,
)
async def dissolve(conversation_id: str, actor: ActorDep, services: ServicesDep) -> Response:
    await services.chats.dissolve(actor, conversation_id)
    return Response(status_code=204)


@router.post(
    "/conversations/{conversation_id}/transfer",
    summary="Propose a new owner (owner); they must accept",
    status_code=204,
    response_class=Response,
)
async def propose_transfer(
    conversation_id: str, body: TransferIn, actor: ActorDep, services: ServicesDep
) -> Response:
    await services.chats.transfer(actor, conversation_id, "propose", body.account_id)
    return Response(status_code=204)


@router.post(
    "/conversations/{conversation_id}/transfer/{action}",
    summary="Accept or decline a proposed ownership transfer",
    status_code=204,
    response_class=Response,
)
async def answer_transfer(
    conversation_id: str,
    action: Literal["accept", "decline"],
    actor: ActorDep,
    services: ServicesDep,
) -> Response:
    await services.chats.transfer(actor, conversation_id, action)
    return Response(status_code=204)


@router.get(
    "/conversations/{conversation_id}/reports",
    response_model=list[GroupReportOut],
    summary="Reports about this group and its messages (owner, admins); never who reported",
)
async def group_reports(
    conversation_id: str, actor: ActorDep, services: ServicesDep
) -> list[GroupReportOut]:
    return await services.chats.group_reports(actor, conversation_id)


# ---- invitations and links -----------------------------------------------------------------


@router.get(
    "/invitations",
    response_model=list[InvitationOut],
    summary="Group invitation cards waiting for my answer",
)
async def my_invitations(actor: ActorDep, services: ServicesDep) -> list[InvitationOut]:
    return await services.chats.my_invitations(actor)


@router.post(
    "/invitations/{invitation_id}/{action}",
    summary="approve / reject (owner, admins), accept / decline (invitee), cancel",
    status_code=204,
    response_class=Response,
)
async def invitation_action(
    invitation_id: str,
    action: Literal["approve", "reject", "accept", "decline", "cancel"],
    actor: ActorDep,
    services: ServicesDep,
) -> Response:
    await services.chats.invitation_action(actor, invitation_id, action)
    return Response(status_code=204)


@router.post(
    "/conversations/{conversation_id}/links",
    response_model=InviteLinkOut,
    status_code=201,
    summary="Create an invite link / QR code (valid 7 days)",
)
async def create_link(
    conversation_id: str, actor: ActorDep, services: ServicesDep
) -> InviteLinkOut:
    return await services.chats.create_invite_link(actor, conversation_id)


@router.delete(
    "/conversations/{conversation_id}/links/{link_id}",
    summary="Revoke an invite link",
    status_code=204,
    response_class=Response,
)
async def revoke_link(
    conversation_id: str, link_id: str, actor: ActorDep, services: ServicesDep
) -> Response:
    await services.chats.revoke_invite_link(actor, conversation_id, link_id)
    return Response(status_code=204)


@router.post(
    "/links/{link_id}/join", response_model=ConversationOut, summary="Join a group by invite link"
)
async def join_by_link(link_id: str, actor: ActorDep, services: ServicesDep) -> ConversationOut:
    return await services.chats.join_by_link(actor, link_id)


# ---- preferences ---------------------------------------------------------------------------


@router.get("/chat-preferences", response_model=PreferencesOut, summary="My chat preferences")
async def get_preferences(actor: ActorDep, services: ServicesDep) -> PreferencesOut:
    return PreferencesOut(allow_strangers=await services.chats.allow_strangers(actor))


@router.put("/chat-preferences", response_model=PreferencesOut, summary="Set my chat preferences")
async def set_preferences(
    body: PreferencesIn, actor: ActorDep, services: ServicesDep
) -> PreferencesOut:
    allowed = await services.chats.set_allow_strangers(actor, body.allow_strangers)
    return PreferencesOut(allow_strangers=allowed)
