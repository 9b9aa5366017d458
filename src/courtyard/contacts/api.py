"""JSON routes for contacts: lookup, friend requests, friends, blocks and labels, the public
profile and avatar of an account (their visibility depends on blocks), and the contacts export
(a vCard or CSV download)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from courtyard.accounts.api import ActorDep, ServicesDep
from courtyard.accounts.model import PublicProfileOut
from courtyard.contacts.export import ExportFormat
from courtyard.contacts.model import (
    AcceptIn,
    BlockIn,
    BlockOut,
    Direction,
    FriendOut,
    FriendRequestIn,
    FriendRequestOut,
    FriendUpdateIn,
    LabelIn,
    LabelOut,
    LookupOut,
)
from courtyard.core.http import idempotency_key
from courtyard.core.pagination import MAX_LIMIT, Page

router = APIRouter(prefix="/api/v1", tags=["contacts"])

CursorQuery = Annotated[str | None, Query(max_length=512, description="From the previous page")]
LimitQuery = Annotated[int | None, Query(ge=1, le=MAX_LIMIT)]


# ---- accounts as others see them -----------------------------------------------------------


@router.get(
    "/accounts/{account_id}",
    response_model=PublicProfileOut,
    summary="An account's public profile",
    description="404 when the account does not exist, was deleted, or is not visible to you.",
)
async def public_profile(
    account_id: str, actor: ActorDep, services: ServicesDep
) -> PublicProfileOut:
    return await services.contacts.public_profile(actor, account_id)


@router.get(
    "/accounts/{account_id}/avatar",
    response_class=Response,
    summary="An account's avatar (PNG)",
    responses={200: {"content": {"image/png": {}}}},
)
async def avatar(account_id: str, actor: ActorDep, services: ServicesDep) -> Response:
    data = await services.contacts.avatar(actor, account_id)
    return Response(
        content=data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"}
    )


@router.get(
    "/contacts/lookup",
    response_model=LookupOut,
    summary="Find an account by its exact handle",
    description="No search and no prefix matching: only an exact handle finds an account.",
)
async def lookup(
    handle: Annotated[str, Query(min_length=1, max_length=64)],
    actor: ActorDep,
    services: ServicesDep,
) -> LookupOut:
    return await services.contacts.lookup(actor, handle)


# ---- friend requests -----------------------------------------------------------------------


@router.post(
    "/contacts/requests",
    status_code=201,
    response_model=FriendRequestOut,
    summary="Send a friend request",
    description=(
        "Idempotent: a second request to the same account while one is open returns the open "
        "one, and an Idempotency-Key replays the first result. If they have already asked "
        "you, you become friends at once and the request comes back with status accepted."
    ),
)
async def send_request(
    body: FriendRequestIn, request: Request, actor: ActorDep, services: ServicesDep
) -> FriendRequestOut:
    return await services.contacts.check_send_request(
        actor,
        handle=body.handle,
        account_id=body.account_id,
        message=body.message,
        idempotency_key=idempotency_key(request),
    )


@router.get(
    "/contacts/requests",
    response_model=Page[FriendRequestOut],
    summary="Incoming or outgoing friend requests, newest first",
)
async def list_requests(
    actor: ActorDep,
    services: ServicesDep,
    direction: Direction = Direction.INCOMING,
    cursor: CursorQuery = None,
    limit: LimitQuery = None,
) -> Page[FriendRequestOut]:
    return await services.contacts.list_requests(actor, direction, cursor, limit)


@router.post(
    "/contacts/requests/{request_id}/accept",
    response_model=FriendOut,
    summary="Accept a friend request, optionally with a remark and labels",
)
async def accept_request(
    request_id: str, actor: ActorDep, services: ServicesDep, body: AcceptIn | None = None
) -> FriendOut:
    body = body or AcceptIn()
    return await services.contacts.check_accept_request(
        actor, request_id, remark=body.remark, label_ids=body.label_ids
    )


@router.post(
    "/contacts/requests/{request_id}/decline",
    status_code=204,
    summary="Decline a friend request (the sender may ask again)",
)
async def decline_request(request_id: str, actor: ActorDep, services: ServicesDep) -> Response:
    await services.contacts.check_decline_request(actor, request_id)
    return Response(status_code=204)


@router.post(
    "/contacts/requests/{request_id}/ignore",
    status_code=204,
    summary="Ignore a friend request (the sender is not told)",
)
async def ignore_request(request_id: str, actor: ActorDep, services: ServicesDep) -> Response:
    await services.contacts.check_ignore_request(actor, request_id)
    return Response(status_code=204)


@router.delete(
    "/contacts/requests/{request_id}",
    status_code=204,
    summary="Withdraw a friend request you sent",
)
async def cancel_request(request_id: str, actor: ActorDep, services: ServicesDep) -> Response:
    await services.contacts.check_cancel_request(actor, request_id)
    return Response(status_code=204)


# ---- friends -------------------------------------------------------------------------------


@router.get(
    "/contacts/friends",
    response_model=Page[FriendOut],
    summary="Your friends by handle, optionally only those with a label",
)
async def list_friends(
    actor: ActorDep,
    services: ServicesDep,
    label_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = None,
) -> Page[FriendOut]:
    return await services.contacts.list_friends(actor, label_id, cursor, limit)


@router.patch(
    "/contacts/friends/{account_id}",
    response_model=FriendOut,
    summary="Set a friend's remark and/or labels",
)
async def update_friend(
    account_id: str, body: FriendUpdateIn, actor: ActorDep, services: ServicesDep
) -> FriendOut:
    return await services.contacts.check_update_friend(
        actor, account_id, remark=body.remark, label_ids=body.label_ids
    )


@router.delete(
    "/contacts/friends/{account_id}",
    status_code=204,
    summary="Remove a friend (on both sides)",
)
async def remove_friend(account_id: str, actor: ActorDep, services: ServicesDep) -> Response:
    await services.contacts.check_remove_friend(actor, account_id)
    return Response(status_code=204)


@router.get(
    "/contacts/export",
    response_class=Response,
    summary="Download your contacts as a vCard 4.0 or CSV file",
    description=(
        "Every friend with your remark and labels for them, as `text/vcard` (format=vcard, "
        "the default) or `text/csv` (format=csv), sent as an attachment. Allowed in every "
        "account state except deleted, so a restricted account can always take its contacts."
    ),
    responses={200: {"content": {"text/vcard": {}, "text/csv": {}}}},
)
async def export_contacts(
    request: Request,
    actor: ActorDep,
    services: ServicesDep,
    fmt: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.VCARD,
) -> Response:
    server_url = services.settings.public_url or str(request.base_url)
    exported = await services.contacts.export_contacts(actor, fmt, server_url=server_url)
    return Response(
        content=exported.content,
        media_type=exported.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{exported.filename}"',
            "Cache-Control": "private, no-store",
        },
    )


# ---- blocks --------------------------------------------------------------------------------


@router.get("/contacts/blocks", response_model=list[BlockOut], summary="Accounts you have blocked")
async def list_blocks(actor: ActorDep, services: ServicesDep) -> list[BlockOut]:
    return await services.contacts.list_blocks(actor)


@router.post(
    "/contacts/blocks",
    status_code=201,
    response_model=BlockOut,
    summary="Block an account",
    description=(
        "Ends the friendship and every open request between you. The blocked account is not "
        "told: to them you look like a handle that does not exist."
    ),
)
async def block(body: BlockIn, actor: ActorDep, services: ServicesDep) -> BlockOut:
    return await services.contacts.check_block(actor, body.account_id)


@router.delete(
    "/contacts/blocks/{account_id}",
    status_code=204,
    summary="Unblock an account (a friendship is not restored)",
)
async def unblock(account_id: str, actor: ActorDep, services: ServicesDep) -> Response:
    await services.contacts.check_unblock(actor, account_id)
    return Response(status_code=204)


# ---- labels --------------------------------------------------------------------------------


@router.get("/contacts/labels", response_model=list[LabelOut], summary="Your labels")
async def list_labels(actor: ActorDep, services: ServicesDep) -> list[LabelOut]:
    return await services.contacts.list_labels(actor)


@router.post("/contacts/labels", status_code=201, response_model=LabelOut, summary="Create a label")
async def create_label(
    body: LabelIn, request: Request, actor: ActorDep, services: ServicesDep
) -> LabelOut:
    return await services.contacts.check_create_label(
        actor, body.name, idempotency_key=idempotency_key(request)
    )


@router.patch("/contacts/labels/{label_id}", response_model=LabelOut, summary="Rename a label")
async def rename_label(
    label_id: str, body: LabelIn, actor: ActorDep, services: ServicesDep
) -> LabelOut:
    return await services.contacts.check_rename_label(actor, label_id, body.name)


@router.delete(
    "/contacts/labels/{label_id}",
    status_code=204,
    summary="Delete a label (friends who carried it stay friends)",
)
async def delete_label(label_id: str, actor: ActorDep, services: ServicesDep) -> Response:
    await services.contacts.check_delete_label(actor, label_id)
    return Response(status_code=204)
