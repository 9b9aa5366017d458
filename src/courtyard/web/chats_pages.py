"""Chats pages: the conversation list, one conversation, a group's settings, and the reports
about a group for its owner and admins.

Every action is a plain form POST that redirects back, so reading and sending work without
JavaScript. With JavaScript, ``static/chat.js`` opens the event stream (the session cookie
authenticates it), appends new messages to the open conversation, keeps the list's unread
badges current and sends over the socket with a client id, falling back to the form when the
socket is down. Pages call the same ``ChatsService`` functions as the JSON API.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from courtyard.chats.model import ConversationDetailOut, ConversationKind, MessageOut, Role
from courtyard.core.errors import CourtyardError, InvalidInput, NotFound
from courtyard.core.ids import is_valid_id
from courtyard.web.common import PageError, WebContext, member_form, member_page
from courtyard.web.due_process_pages import CATEGORY_NAMES
from courtyard.web.i18n import N_

router = APIRouter(include_in_schema=False)

Member = Annotated[WebContext, Depends(member_page)]
MemberForm = Annotated[WebContext, Depends(member_form)]

HISTORY_PAGE = 50
FRIENDS_SHOWN = 200
MUTE_CHOICES = (10, 60, 60 * 24)  # minutes offered in the mute menu

# Headlines for the chats pillar's error codes (the service's message is shown under them).
CHAT_ERROR_TITLES: dict[str, str] = {
    "conversation_not_found": N_("No such conversation."),
    "message_not_found": N_("No such message."),
    "invitation_not_found": N_("No such invitation."),
    "account_not_found": N_("No such account."),
    "recipient_unavailable": N_("This person is not accepting your messages."),
    "conversation_dissolved": N_("This group was dissolved; it can be read but not written to."),
    "conversation_full": N_("This group is full."),
    "not_a_member": N_("They are not a member of this group."),
    "not_allowed": N_("Your role in this group does not allow this."),
    "admin_cap_reached": N_("This group has as many admins as it can have."),
    "invite_needs_approval": N_("The owner approves every new member of this group."),
    "owner_cannot_leave": N_("Transfer ownership to another member before leaving the group."),
    "already_member": N_("Already a member of this group."),
    "already_invited": N_("Already invited."),
    "member_muted": N_("You are muted in this group."),
    "not_a_friend": N_("You can only add your friends."),
    "invitation_not_open": N_("This invitation has already been answered."),
    "empty_message": N_("A message needs some text."),
    "message_too_long": N_("This message is too long."),
    "mention_all_not_allowed": N_("Only the group owner and admins can mention everyone."),
    "recall_window_passed": N_("The time to recall this message has passed."),
    "message_recalled": N_("This message has been recalled."),
    "client_id_reused": N_("This message was already sent."),
    "group_read_only": N_(
        "The platform has made this group read-only: it can be read and left, not written to."
    ),
}

# Confirmations after a redirect (``?done=<key>``); only these keys are shown.
CHAT_NOTICES: dict[str, str] = {
    "group_created": N_("Group created."),
    "message_sent": N_("Message sent."),
    "message_recalled": N_("Message recalled."),
    "message_removed": N_("Message removed for everyone. Its author has been told."),
    "request_accepted": N_("Accepted. This conversation is now in your chats."),
    "invitation_accepted": N_("You joined the group."),
    "invitation_declined": N_("Invitation declined."),
    "invitation_approved": N_("Invitation approved."),
    "invitation_rejected": N_("Invitation rejected."),
    "group_saved": N_("Group settings saved."),
    "settings_saved": N_("Saved."),
    "nickname_saved": N_("Your nickname in this group is saved."),
    "member_removed": N_("Member removed."),
    "member_muted": N_("Member muted."),
    "member_unmuted": N_("Member unmuted."),
    "role_changed": N_("Role changed."),
    "invited": N_("Invitations sent."),
    "left": N_("You left the group."),
    "dissolved": N_("The group is dissolved."),
    "reported": N_("Thank you. Your report was received; its outcome will be in My reports."),
}

# What a governance label on a message says to the people who read it (docs/policies.md); a
# label an operator's own pack adds shows the generic text.
LABEL_TEXTS: dict[str, str] = {
    "possible_scam": N_("Take care: this message reads like a money or investment scam."),
    "offplatform_contact": N_(
        "A new account asks to continue on another app, a common first step of scams."
    ),
    "not_official": N_("This reads like an official notice but does not come from one."),
    "forwarded_many_times": N_("Forwarded many times."),
    "threat": N_("This message contains a threat."),
    "personal_data": N_("This contains personal data."),
}
LABEL_FALLBACK = N_("Labelled under this server's rules.")
FRICTION_TEXT = N_("This message can be forwarded to one chat at a time.")

# Text chat.js shows; translated on the server and handed over in the page's data block.
SCRIPT_STRINGS: dict[str, str] = {
    "sending": N_("Sending…"),
    "sent": N_("Sent"),
    "failed": N_("Not sent"),
    "recalled": N_("This message was recalled."),
    "recall": N_("Recall"),
    "you": N_("You"),
    "member": N_("Member"),
    "unread": N_("%(n)s unread"),
    "typing": N_("%(name)s is typing…"),
    "removed": N_("You were removed from this group. You can no longer send messages here."),
    "left": N_("You left this group."),
    "dissolved": N_("This group was dissolved. You can no longer send messages here."),
    "new_messages": N_("New messages: reload to see them."),
    "offline": N_("Live updates are paused; messages are sent with the form."),
}


def _id(value: str) -> str:
    """Path and form ids are ULIDs; anything else names nothing (and never reaches SQL)."""
    if not is_valid_id(value):
        raise NotFound("No such conversation.", code="conversation_not_found")
    return value


def _error(ctx: WebContext, exc: CourtyardError) -> PageError:
    """``ctx.page_error`` with a translated headline for the chats pillar's codes."""
    error = ctx.page_error(exc)
    title = CHAT_ERROR_TITLES.get(exc.code)
    if title is None:
        return error
    headline = ctx.translate(title)
    detail: str | None = ctx.translate(exc.message)
    if detail == headline or (detail == exc.message and ctx.locale != "en"):
        detail = None  # the same words, or English under a translated headline
    return replace(error, title=headline, message=detail)


def _done(ctx: WebContext, url: str, key: str) -> Response:
    sep = "&" if "?" in url else "?"
    return ctx.redirect(f"{url}{sep}done={key}")


def _done_text(ctx: WebContext) -> str | None:
    key = ctx.request.query_params.get("done", "")
    return ctx.translate(CHAT_NOTICES[key]) if key in CHAT_NOTICES else None


def _not_found_page(ctx: WebContext, exc: CourtyardError) -> Response:
    error = _error(ctx, exc)
    return ctx.render("error.html", status=error.status, error=error)


def _title(ctx: WebContext, conversation: Any) -> str:
    if conversation.kind is ConversationKind.DIRECT:
        return str(conversation.peer_display_name or conversation.peer_handle or "")
    return str(conversation.name or ctx._("Group chat"))


# ---- the list -----------------------------------------------------------------------------


async def _list_page(ctx: WebContext, status: int = 200, **values: Any) -> Response:
    chats = ctx.services.chats
    box = "requests" if ctx.request.query_params.get("box") == "requests" else "inbox"
    cursor = ctx.request.query_params.get("cursor", "")[:512] or None
    if cursor is not None and "\x00" in cursor:
        cursor = None
    try:
        conversations = await chats.list_conversations(ctx.me, box=box, cursor=cursor)
    except CourtyardError as exc:  # a stale cursor: the first page, and say so
        values.setdefault("error", _error(ctx, exc))
        conversations = await chats.list_conversations(ctx.me, box=box)
    items = sorted(conversations.items, key=lambda c: not c.pinned)  # pinned first, stable
    invitations = await chats.my_invitations(ctx.me) if box == "inbox" else []
    friends = await ctx.services.contacts.list_friends(ctx.me, limit=FRIENDS_SHOWN)
    return ctx.render(
        "chats/list.html",
        status=status,
        box=box,
        conversations=[(c, _title(ctx, c)) for c in items if box == "requests" or not c.archived],
        archived=[(c, _title(ctx, c)) for c in items if box == "inbox" and c.archived],
        next_cursor=conversations.next_cursor,
        invitations=invitations,
        friends=friends.items,
        done=_done_text(ctx),
        script=_script_data(ctx, None, {}),
        **values,
    )


@router.get("/chats")
async def chat_list(ctx: Member) -> Response:
    return await _list_page(ctx)


@router.post("/chats/direct")
async def open_direct(ctx: MemberForm) -> Response:
    try:
        account_id = ctx.text("account_id", strip=True)
        if not is_valid_id(account_id):
            raise InvalidInput(ctx._("Choose a friend."), details={"field": "account_id"})
        conversation = await ctx.services.chats.open_direct(ctx.me, account_id)
    except CourtyardError as exc:
        error = _error(ctx, exc)
        return await _list_page(ctx, error.status, error=error)
    return ctx.redirect(f"/chats/{conversation.id}")


@router.post("/chats/groups")
async def create_group(ctx: MemberForm) -> Response:
    name = ctx.text("name", strip=True)
    try:
        member_ids = [v for v in ctx.texts("member_ids") if v]
        if not member_ids:
            raise InvalidInput(
                ctx._("Choose at least one friend."), details={"field": "member_ids"}
            )
        if len(member_ids) > 499 or not all(is_valid_id(v) for v in member_ids):
            raise InvalidInput(ctx._("Choose friends from the list."))
        if not name:
            raise InvalidInput(ctx._("Give the group a name."), details={"field": "name"})
        conversation = await ctx.services.chats.create_group(ctx.me, name[:256], member_ids)
    except CourtyardError as exc:
        error = _error(ctx, exc)
        return await _list_page(ctx, error.status, group_error=error, group_name=name)
    return _done(ctx, f"/chats/{conversation.id}", "group_created")


@router.post("/chats/invitations/{invitation_id}/{action}")
async def answer_invitation(invitation_id: str, action: str, ctx: MemberForm) -> Response:
    keys = {
        "accept": "invitation_accepted",
        "decline": "invitation_declined",
        "approve": "invitation_approved",
        "reject": "invitation_rejected",
    }
    back = ctx.text("back")
    back = back if back.startswith("/chats/") and "//" not in back and len(back) < 100 else ""
    try:
        if action not in keys:
            raise NotFound()
        if not is_valid_id(invitation_id):
            raise NotFound("No such invitation.", code="invitation_not_found")
        await ctx.services.chats.invitation_action(ctx.me, invitation_id, action)
    except CourtyardError as exc:
        error = _error(ctx, exc)
        return await _list_page(ctx, error.status, error=error)
    return _done(ctx, back or "/chats", keys[action])


# ---- one conversation ---------------------------------------------------------------------


def _names(ctx: WebContext, detail: ConversationDetailOut) -> dict[str, str]:
    names = {m.account_id: m.nickname or m.display_name for m in detail.members}
    if detail.kind is ConversationKind.DIRECT and detail.peer_id:
        names[detail.peer_id] = detail.peer_display_name or detail.peer_handle or ""
    names[ctx.me.id] = ctx._("You")
    return names


def _script_data(
    ctx: WebContext, detail: ConversationDetailOut | None, names: dict[str, str]
) -> dict[str, Any]:
    return {
        "me": ctx.me.id,
        "conversation_id": detail.id if detail else None,
        "names": names,
        "csrf": ctx.csrf_token,
        "recall_seconds": ctx.services.settings.message_recall_seconds,
        "strings": {key: ctx.translate(text) for key, text in SCRIPT_STRINGS.items()},
        "labels": _label_texts(ctx),
    }


def _label_texts(ctx: WebContext) -> dict[str, str]:
    texts = {code: ctx.translate(text) for code, text in LABEL_TEXTS.items()}
    texts["*"] = ctx.translate(LABEL_FALLBACK)
    texts["friction"] = ctx.translate(FRICTION_TEXT)
    return texts


_RANK = {Role.OWNER: 2, Role.ADMIN: 1, Role.MEMBER: 0}


def _removable(
    ctx: WebContext, detail: ConversationDetailOut, message: MessageOut, roles: dict[str, Role]
) -> bool:
    """Whether to offer "Remove" on a message: an owner or admin, on the message of someone
    ranked below them (someone who left counts as a member); the service decides again."""
    if detail.kind is not ConversationKind.GROUP or message.recalled or detail.read_only:
        return False
    if message.sender_id == ctx.me.id or detail.role is Role.MEMBER or detail.dissolved:
        return False
    return _RANK[detail.role] > _RANK[roles.get(message.sender_id, Role.MEMBER)]


def _recallable(ctx: WebContext, message: MessageOut, now: datetime) -> bool:
    window = timedelta(seconds=ctx.services.settings.message_recall_seconds)
    return (
        message.sender_id == ctx.me.id and not message.recalled and now - message.sent_at <= window
    )


async def _conversation_page(
    ctx: WebContext, conversation_id: str, status: int = 200, **values: Any
) -> Response:
    chats = ctx.services.chats
    before = ctx.request.query_params.get("before", "")
    before_seq = int(before) if before.isdigit() and len(before) < 18 else None
    try:
        detail = await chats.get_conversation(ctx.me, _id(conversation_id))
        history = await chats.history(ctx.me, detail.id, before_seq=before_seq, limit=HISTORY_PAGE)
    except CourtyardError as exc:
        return _not_found_page(ctx, exc)
    messages = list(reversed(history.items))
    if before_seq is None and messages and detail.read_seq < messages[-1].seq:
        # Opening the newest page reads it.
        with contextlib.suppress(CourtyardError):  # a read marker is never worth an error
            await chats.mark_read(ctx.me, detail.id, messages[-1].seq)
    now = ctx.services.clock.now()
    names = _names(ctx, detail)
    me = next((m for m in detail.members if m.account_id == ctx.me.id), None)
    muted_until = me.muted_until if me and me.muted_until and me.muted_until > now else None
    withheld: list[dict[str, Any]] = []
    with contextlib.suppress(CourtyardError):  # the author's own held or blocked messages
        withheld = await ctx.services.due_process.withheld(ctx.me, detail.id)
    values.setdefault("policy_notice", None)
    roles = {m.account_id: m.role for m in detail.members}
    # The group rules are open for someone who joined in the last day, folded for the others.
    newcomer = me is not None and now - me.joined_at < timedelta(days=1)
    return ctx.render(
        "chats/view.html",
        status=status,
        conversation=detail,
        title=_title(ctx, detail),
        messages=[
            (
                m,
                names.get(m.sender_id),
                _recallable(ctx, m, now),
                _removable(ctx, detail, m, roles),
                names.get(m.removed_by or ""),
            )
            for m in messages
        ],
        rules_open=newcomer,
        older=history.next_cursor,
        browsing_older=before_seq is not None,
        muted_until=muted_until,
        client_id=secrets.token_urlsafe(16),
        done=_done_text(ctx),
        script=_script_data(ctx, detail, names),
        label_texts=_label_texts(ctx),
        withheld=withheld,
        **values,
    )


@router.get("/chats/{conversation_id}")
async def conversation(conversation_id: str, ctx: Member) -> Response:
    return await _conversation_page(ctx, conversation_id)


@router.post("/chats/{conversation_id}/messages")
async def send_message(conversation_id: str, ctx: MemberForm) -> Response:
    text = ctx.text("text")
    try:
        client_id = ctx.text("client_id", strip=True)[:64] or secrets.token_urlsafe(16)
        await ctx.services.chats.send(ctx.me, _id(conversation_id), client_id=client_id, text=text)
    except CourtyardError as exc:
        if isinstance(exc, NotFound):
            return _not_found_page(ctx, exc)
        error = _error(ctx, exc)
        statement_id = exc.details.get("statement_id")
        if exc.code in {"policy_blocked", "policy_held"} and isinstance(statement_id, str):
            # The message is kept (only its author sees it) and the notice says why.
            return await _conversation_page(
                ctx, conversation_id, error.status, error=error, policy_notice=statement_id
            )
        return await _conversation_page(ctx, conversation_id, error.status, error=error, draft=text)
    return ctx.redirect(f"/chats/{conversation_id}#composer")


@router.post("/chats/{conversation_id}/messages/{message_id}/recall")
async def recall_message(conversation_id: str, message_id: str, ctx: MemberForm) -> Response:
    try:
        if not is_valid_id(message_id):
            raise NotFound("No such message.", code="message_not_found")
        await ctx.services.chats.recall(ctx.me, _id(conversation_id), message_id)
    except CourtyardError as exc:
        error = _error(ctx, exc)
        return await _conversation_page(ctx, conversation_id, error.status, error=error)
    return _done(ctx, f"/chats/{conversation_id}", "message_recalled")


@router.post("/chats/{conversation_id}/messages/{message_id}/remove")
async def remove_message(conversation_id: str, message_id: str, ctx: MemberForm) -> Response:
    try:
        if not is_valid_id(message_id):
            raise NotFound("No such message.", code="message_not_found")
        await ctx.services.chats.remove_message(ctx.me, _id(conversation_id), message_id)
    except CourtyardError as exc:
        if isinstance(exc, NotFound) and exc.code in {"not_found", "conversation_not_found"}:
            return _not_found_page(ctx, exc)
        error = _error(ctx, exc)
        return await _conversation_page(ctx, conversation_id, error.status, error=error)
    return _done(ctx, f"/chats/{conversation_id}", "message_removed")


@router.post("/chats/{conversation_id}/accept")
async def accept_request(conversation_id: str, ctx: MemberForm) -> Response:
    try:
        await ctx.services.chats.accept_request(ctx.me, _id(conversation_id))
    except CourtyardError as exc:
        return _not_found_page(ctx, exc)
    return _done(ctx, f"/chats/{conversation_id}", "request_accepted")


# ---- settings -----------------------------------------------------------------------------


async def _settings_page(
    ctx: WebContext, conversation_id: str, status: int = 200, **values: Any
) -> Response:
    try:
        detail = await ctx.services.chats.get_conversation(ctx.me, _id(conversation_id))
    except CourtyardError as exc:
        return _not_found_page(ctx, exc)
    now = ctx.services.clock.now()
    rank = {Role.OWNER: 2, Role.ADMIN: 1, Role.MEMBER: 0}
    my_rank = rank[detail.role]
    members = sorted(detail.members, key=lambda m: (-rank[m.role], m.display_name.lower()))
    friends: list[Any] = []
    if detail.kind is ConversationKind.GROUP and not detail.dissolved:
        page = await ctx.services.contacts.list_friends(ctx.me, limit=FRIENDS_SHOWN)
        inside = {m.account_id for m in detail.members}
        friends = [f for f in page.items if f.profile.id not in inside]
    me = next((m for m in detail.members if m.account_id == ctx.me.id), None)
    return ctx.render(
        "chats/settings.html",
        status=status,
        conversation=detail,
        title=_title(ctx, detail),
        members=[
            (
                m,
                my_rank > rank[m.role] and m.account_id != ctx.me.id,
                m.muted_until is not None and m.muted_until > now,
            )
            for m in members
        ],
        manager=detail.role in {Role.OWNER, Role.ADMIN},
        owner=detail.role is Role.OWNER,
        my_nickname=me.nickname if me else None,
        friends=friends,
        mute_choices=MUTE_CHOICES,
        done=_done_text(ctx),
        **values,
    )


@router.get("/chats/{conversation_id}/settings")
async def settings(conversation_id: str, ctx: Member) -> Response:
    return await _settings_page(ctx, conversation_id)


async def _settings_action(
    ctx: WebContext, conversation_id: str, key: str, action: Any
) -> Response:
    """Run one settings action; a refusal is shown on the settings page (or a 404)."""
    try:
        _id(conversation_id)
        await action()
    except CourtyardError as exc:
        if isinstance(exc, NotFound) and exc.code in {"not_found", "conversation_not_found"}:
            return _not_found_page(ctx, exc)
        error = _error(ctx, exc)
        return await _settings_page(ctx, conversation_id, error.status, error=error)
    if key == "left":
        return _done(ctx, "/chats", key)
    return _done(ctx, f"/chats/{conversation_id}/settings", key)


def _account(ctx: WebContext, account_id: str) -> str:
    if not is_valid_id(account_id):
        raise InvalidInput(ctx._("No such member."), details={"field": "account_id"})
    return account_id


@router.post("/chats/{conversation_id}/settings/group")
async def update_group(conversation_id: str, ctx: MemberForm) -> Response:
    chats = ctx.services.chats

    async def action() -> None:
        detail = await chats.get_conversation(ctx.me, conversation_id)
        name = ctx.text("name", strip=True)[:256]
        announcement = ctx.text("announcement").strip()[:10_000]
        rules = ctx.text("rules").replace("\r\n", "\n").strip()[:10_000]
        approval = ctx.checked("owner_approval")
        await chats.update_group(
            ctx.me,
            conversation_id,
            name=name if name != (detail.name or "") else None,
            announcement=announcement if announcement != (detail.announcement or "") else None,
            rules=rules if rules != (detail.rules or "") else None,
            owner_approval=approval if approval != detail.owner_approval else None,
        )

    return await _settings_action(ctx, conversation_id, "group_saved", action)


@router.post("/chats/{conversation_id}/settings/mine")
async def update_my_settings(conversation_id: str, ctx: MemberForm) -> Response:
    async def action() -> None:
        await ctx.services.chats.update_settings(
            ctx.me,
            conversation_id,
            notifications_muted=ctx.checked("notifications_muted"),
            pinned=ctx.checked("pinned"),
            archived=ctx.checked("archived"),
        )

    return await _settings_action(ctx, conversation_id, "settings_saved", action)


@router.post("/chats/{conversation_id}/settings/nickname")
async def set_nickname(conversation_id: str, ctx: MemberForm) -> Response:
    async def action() -> None:
        nickname = ctx.text("nickname", strip=True)[:256]
        await ctx.services.chats.set_nickname(ctx.me, conversation_id, nickname or None)

    return await _settings_action(ctx, conversation_id, "nickname_saved", action)


@router.post("/chats/{conversation_id}/members/{account_id}/remove")
async def remove_member(conversation_id: str, account_id: str, ctx: MemberForm) -> Response:
    async def action() -> None:
        await ctx.services.chats.remove_member(ctx.me, conversation_id, _account(ctx, account_id))

    return await _settings_action(ctx, conversation_id, "member_removed", action)


@router.post("/chats/{conversation_id}/members/{account_id}/mute")
async def mute_member(conversation_id: str, account_id: str, ctx: MemberForm) -> Response:
    raw = ctx.text("minutes", strip=True)
    minutes = int(raw) if raw.isdigit() and len(raw) < 8 else None

    async def action() -> None:
        if raw and minutes is None:
            raise InvalidInput(ctx._("Choose how long."), details={"field": "minutes"})
        await ctx.services.chats.mute_member(
            ctx.me, conversation_id, _account(ctx, account_id), minutes
        )

    key = "member_muted" if minutes else "member_unmuted"
    return await _settings_action(ctx, conversation_id, key, action)


@router.post("/chats/{conversation_id}/members/{account_id}/role")
async def set_role(conversation_id: str, account_id: str, ctx: MemberForm) -> Response:
    async def action() -> None:
        await ctx.services.chats.set_role(
            ctx.me, conversation_id, _account(ctx, account_id), ctx.text("role", strip=True)[:16]
        )

    return await _settings_action(ctx, conversation_id, "role_changed", action)


@router.post("/chats/{conversation_id}/invite")
async def invite(conversation_id: str, ctx: MemberForm) -> Response:
    async def action() -> None:
        ids = [v for v in ctx.texts("account_ids") if v]
        if not ids:
            raise InvalidInput(
                ctx._("Choose at least one friend."), details={"field": "account_ids"}
            )
        await ctx.services.chats.invite(ctx.me, conversation_id, ids[:100])

    return await _settings_action(ctx, conversation_id, "invited", action)


@router.post("/chats/{conversation_id}/leave")
async def leave(conversation_id: str, ctx: MemberForm) -> Response:
    async def action() -> None:
        await ctx.services.chats.leave(ctx.me, conversation_id)

    return await _settings_action(ctx, conversation_id, "left", action)


@router.post("/chats/{conversation_id}/dissolve")
async def dissolve(conversation_id: str, ctx: MemberForm) -> Response:
    async def action() -> None:
        if not ctx.checked("confirm"):
            raise InvalidInput(
                ctx._("Tick the box to confirm that the group ends for everyone."),
                details={"field": "confirm"},
            )
        await ctx.services.chats.dissolve(ctx.me, conversation_id)

    return await _settings_action(ctx, conversation_id, "dissolved", action)


# ---- reports about a group ----------------------------------------------------------------


@router.get("/chats/{conversation_id}/reports")
async def group_reports(conversation_id: str, ctx: Member) -> Response:
    """What members reported about the group and its messages, for its owner and admins:
    never who reported (everyone else gets the conversation's 404)."""
    chats = ctx.services.chats
    try:
        detail = await chats.get_conversation(ctx.me, _id(conversation_id))
        reports = await chats.group_reports(ctx.me, detail.id)
    except CourtyardError as exc:
        return _not_found_page(ctx, exc)
    names = _names(ctx, detail)
    return ctx.render(
        "chats/reports.html",
        conversation=detail,
        title=_title(ctx, detail),
        reports=[
            (
                r,
                ctx.translate(CATEGORY_NAMES.get(r.category, CATEGORY_NAMES["other"])),
                names.get(r.message.sender_id) if r.message else None,
            )
            for r in reports
        ],
        statuses={key: ctx.translate(text) for key, text in REPORT_STATUSES.items()},
    )


REPORT_STATUSES: dict[str, str] = {
    "open": N_("Waiting for a reviewer"),
    "actioned": N_("Action taken"),
    "dismissed": N_("No violation found"),
}
