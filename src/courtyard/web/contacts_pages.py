"""Contacts pages: friends and labels, friend requests, adding a friend, the block list.

Every action is a plain form POST that redirects back (so it works without JavaScript); where a
partial update is natural (answering a request, editing a friend or the labels) the form also
carries htmx attributes, and an htmx request gets just the changed fragment back.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from courtyard.contacts.model import account_not_found
from courtyard.core.errors import CourtyardError, InvalidInput, NotFound
from courtyard.core.ids import is_valid_id
from courtyard.core.pagination import decode_cursor
from courtyard.web.common import (
    NOTICES,
    PageError,
    WebContext,
    htmx_error,
    is_htmx,
    member_form,
    member_page,
    safe_next,
)

router = APIRouter(include_in_schema=False)

Member = Annotated[WebContext, Depends(member_page)]
MemberForm = Annotated[WebContext, Depends(member_form)]

PAGE_SIZE = 50


def _id(value: str) -> str:
    """Path and form ids are ULIDs; anything else names nothing (and never reaches SQL)."""
    if not is_valid_id(value):
        raise NotFound()
    return value


def _cursor(ctx: WebContext, name: str = "cursor") -> str | None:
    """The page cursor from the query string; one that hides a NUL (which no database stores
    and PostgreSQL rejects with an error) is dropped, so the list starts from the top."""
    value = ctx.request.query_params.get(name, "")[:512]
    if not value:
        return None
    try:
        decoded = decode_cursor(value)
    except CourtyardError:
        return value  # malformed: the service says so, and the page shows it
    if decoded is not None and any("\x00" in str(part) for part in decoded):
        return None
    return value


def _query_handle(ctx: WebContext) -> str:
    return ctx.request.query_params.get("handle", "").strip()[:64]


# ---- friends and labels ---------------------------------------------------------------------


async def _friends_values(ctx: WebContext, **values: Any) -> dict[str, Any]:
    contacts = ctx.services.contacts
    labels = await contacts.list_labels(ctx.me)
    label_param = ctx.request.query_params.get("label", "")
    active = next((label for label in labels if label.id == label_param), None)
    try:
        friends = await contacts.list_friends(
            ctx.me,
            label_id=active.id if active else None,
            cursor=_cursor(ctx),
            limit=PAGE_SIZE,
        )
    except CourtyardError as exc:  # a stale cursor: show the first page and say so
        values.setdefault("error", ctx.page_error(exc))
        friends = await contacts.list_friends(
            ctx.me, label_id=active.id if active else None, limit=PAGE_SIZE
        )
    values.setdefault("label_error", None)
    return {
        "section": "friends",
        "labels": labels,
        "active_label": active,
        "friends": friends.items,
        "next_cursor": friends.next_cursor,
        "label_key": secrets.token_urlsafe(12),
        **values,
    }


async def _friends_page(ctx: WebContext, status: int = 200, **values: Any) -> Response:
    context = await _friends_values(ctx, **values)
    if is_htmx(ctx.request) and ctx.request.method == "POST":
        return ctx.render("contacts/_friends_body.html", status=status, **context)
    return ctx.render("contacts/friends.html", status=status, **context)


@router.get("/contacts")
async def friends(ctx: Member) -> Response:
    return await _friends_page(ctx)


@router.post("/contacts/labels")
async def create_label(ctx: MemberForm) -> Response:
    try:
        await ctx.services.contacts.check_create_label(
            ctx.me, ctx.text("name"), idempotency_key=ctx.text("idempotency_key")[:128] or None
        )
    except CourtyardError as exc:
        error = ctx.page_error(exc)
        return await _friends_page(ctx, error.status, label_error=error)
    return await _label_done(ctx, "label_created")


@router.post("/contacts/labels/{label_id}/rename")
async def rename_label(label_id: str, ctx: MemberForm) -> Response:
    try:
        await ctx.services.contacts.check_rename_label(ctx.me, _id(label_id), ctx.text("name"))
    except CourtyardError as exc:
        error = ctx.page_error(exc)
        return await _friends_page(ctx, error.status, label_error=error)
    return await _label_done(ctx, "label_renamed")


@router.post("/contacts/labels/{label_id}/delete")
async def delete_label(label_id: str, ctx: MemberForm) -> Response:
    try:
        await ctx.services.contacts.check_delete_label(ctx.me, _id(label_id))
    except CourtyardError as exc:
        error = ctx.page_error(exc)
        return await _friends_page(ctx, error.status, label_error=error)
    return await _label_done(ctx, "label_deleted")


async def _label_done(ctx: WebContext, notice: str) -> Response:
    if is_htmx(ctx.request):
        return await _friends_page(ctx, label_notice=ctx.translate(NOTICES[notice]))
    return ctx.redirect("/contacts", notice=notice)


@router.post("/contacts/friends/{account_id}")
async def update_friend(account_id: str, ctx: MemberForm) -> Response:
    contacts = ctx.services.contacts
    try:
        label_ids = [_id(v) for v in ctx.texts("label_ids")]
        friend = await contacts.check_update_friend(
            ctx.me, _id(account_id), remark=ctx.text("remark"), label_ids=label_ids
        )
    except CourtyardError as exc:
        error = ctx.page_error(exc)
        if is_htmx(ctx.request):
            return htmx_error(ctx, error)
        return await _friends_page(ctx, error.status, error=error)
    if is_htmx(ctx.request):
        labels = await contacts.list_labels(ctx.me)
        return ctx.render(
            "contacts/_friend.html",
            friend=friend,
            labels=labels,
            row_notice=ctx.translate(NOTICES["friend_updated"]),
        )
    return ctx.redirect("/contacts", notice="friend_updated")


@router.post("/contacts/friends/{account_id}/remove")
async def remove_friend(account_id: str, ctx: MemberForm) -> Response:
    try:
        await ctx.services.contacts.check_remove_friend(ctx.me, _id(account_id))
    except CourtyardError as exc:
        error = ctx.page_error(exc)
        return await _friends_page(ctx, error.status, error=error)
    return ctx.redirect("/contacts", notice="friend_removed")


# ---- blocks ---------------------------------------------------------------------------------


async def _blocked_page(ctx: WebContext, status: int = 200, **values: Any) -> Response:
    blocks = await ctx.services.contacts.list_blocks(ctx.me)
    items = getattr(blocks, "items", blocks)
    return ctx.render(
        "contacts/blocked.html", status=status, section="blocked", blocks=items, **values
    )


@router.get("/contacts/blocked")
async def blocked(ctx: Member) -> Response:
    return await _blocked_page(ctx)


@router.post("/contacts/blocked")
async def block(ctx: MemberForm) -> Response:
    try:
        await ctx.services.contacts.check_block(ctx.me, _id(ctx.text("account_id", strip=True)))
    except CourtyardError as exc:
        error = ctx.page_error(exc)
        return await _blocked_page(ctx, error.status, error=error)
    return ctx.redirect("/contacts/blocked", notice="blocked")


@router.post("/contacts/blocked/{account_id}/unblock")
async def unblock(account_id: str, ctx: MemberForm) -> Response:
    try:
        await ctx.services.contacts.check_unblock(ctx.me, _id(account_id))
    except CourtyardError as exc:
        error = ctx.page_error(exc)
        return await _blocked_page(ctx, error.status, error=error)
    return ctx.redirect(safe_next(ctx.text("next"), "/contacts/blocked"), notice="unblocked")


# ---- friend requests ------------------------------------------------------------------------


async def _requests_page(ctx: WebContext, status: int = 200, **values: Any) -> Response:
    contacts = ctx.services.contacts
    incoming = await contacts.list_requests(
        ctx.me, "incoming", cursor=_cursor(ctx, "in"), limit=PAGE_SIZE
    )
    outgoing = await contacts.list_requests(
        ctx.me, "outgoing", cursor=_cursor(ctx, "out"), limit=PAGE_SIZE
    )
    labels = await contacts.list_labels(ctx.me)
    return ctx.render(
        "contacts/requests.html",
        status=status,
        section="requests",
        incoming=incoming.items,
        incoming_next=incoming.next_cursor,
        outgoing=outgoing.items,
        outgoing_next=outgoing.next_cursor,
        labels=labels,
        **values,
    )


@router.get("/contacts/requests")
async def requests(ctx: Member) -> Response:
    return await _requests_page(ctx)


async def _answer(ctx: WebContext, request_id: str, action: str) -> Response:
    """Accept, decline, ignore (incoming) or cancel (outgoing) one request."""
    contacts = ctx.services.contacts
    try:
        request_id = _id(request_id)
        if action == "accept":
            label_ids = [_id(v) for v in ctx.texts("label_ids")]
            await contacts.check_accept_request(
                ctx.me,
                request_id,
                remark=ctx.text("remark") or None,
                label_ids=label_ids or None,
            )
        elif action == "decline":
            await contacts.check_decline_request(ctx.me, request_id)
        elif action == "ignore":
            await contacts.check_ignore_request(ctx.me, request_id)
        else:
            await contacts.check_cancel_request(ctx.me, request_id)
    except CourtyardError as exc:
        error = ctx.page_error(exc)
        if is_htmx(ctx.request):
            return htmx_error(ctx, error)
        return await _requests_page(ctx, error.status, error=error)
    notice = {
        "accept": "request_accepted",
        "decline": "request_declined",
        "ignore": "request_ignored",
        "cancel": "request_cancelled",
    }[action]
    if is_htmx(ctx.request):
        return ctx.render("contacts/_request_done.html", action=action, request_id=request_id)
    return ctx.redirect("/contacts/requests", notice=notice)


@router.post("/contacts/requests/{request_id}/accept")
async def accept_request(request_id: str, ctx: MemberForm) -> Response:
    return await _answer(ctx, request_id, "accept")


@router.post("/contacts/requests/{request_id}/decline")
async def decline_request(request_id: str, ctx: MemberForm) -> Response:
    return await _answer(ctx, request_id, "decline")


@router.post("/contacts/requests/{request_id}/ignore")
async def ignore_request(request_id: str, ctx: MemberForm) -> Response:
    return await _answer(ctx, request_id, "ignore")


@router.post("/contacts/requests/{request_id}/cancel")
async def cancel_request(request_id: str, ctx: MemberForm) -> Response:
    return await _answer(ctx, request_id, "cancel")


# ---- adding a friend ------------------------------------------------------------------------


async def _add_page(
    ctx: WebContext, status: int = 200, *, handle: str = "", **values: Any
) -> Response:
    found = None
    error: PageError | None = values.pop("error", None)
    if handle:
        try:
            found = await ctx.services.contacts.lookup(ctx.me, handle)
        except CourtyardError as exc:
            if error is None:  # an error from sending the request says more
                error = ctx.page_error(exc)
                if error.field is None:
                    error = replace(error, field="handle")
                status = error.status
    values.setdefault("message", ctx._("Hi, I am %(name)s.", name=ctx.me.account.display_name))
    return ctx.render(
        "contacts/add.html",
        status=status,
        section="add",
        handle=handle,
        found=found,
        error=error,
        message_max=ctx.services.settings.friend_request_message_max,
        idempotency_key=secrets.token_urlsafe(16),
        **values,
    )


@router.get("/contacts/add")
async def add_form(ctx: Member) -> Response:
    handle = _query_handle(ctx)
    if "\x00" in handle:  # no handle contains one, and PostgreSQL refuses to compare with it
        error = replace(ctx.page_error(account_not_found()), field="handle")
        return await _add_page(ctx, error.status, error=error)
    return await _add_page(ctx, handle=handle)


@router.post("/contacts/add")
async def send_request(ctx: MemberForm) -> Response:
    handle = ctx.text("handle", strip=True)[:64]
    message = ctx.text("message")
    try:
        if not handle:
            raise InvalidInput(ctx._("Enter a handle."), details={"field": "handle"})
        sent = await ctx.services.contacts.check_send_request(
            ctx.me,
            handle=handle,
            message=message,
            idempotency_key=ctx.text("idempotency_key")[:128] or None,
        )
    except CourtyardError as exc:
        error = ctx.page_error(exc)
        return await _add_page(ctx, error.status, handle=handle, error=error, message=message)
    if sent.status == "accepted":  # they had asked first: the two are friends at once
        return ctx.redirect("/contacts", notice="now_friends")
    return ctx.redirect("/contacts/requests", notice="request_sent")
