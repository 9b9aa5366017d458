"""Moments pages: the feed, the composer with its audience picker and the check before posting,
a post, a friend's posts, "preview as", notifications, settings and per-friend permissions.

Every action is a plain form POST that redirects back, so everything works without JavaScript.
With htmx, the check panel refreshes as the composer changes, and liking or commenting swaps
just the post. The composer is one multipart form: "Upload" and "Check" submit it to their own
routes, which render it again with everything typed so far (uploaded images are kept as ids in
hidden fields), and the check never stops anyone from posting. Pages call the same
``MomentsService`` functions as the JSON API.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import ValidationError

from courtyard.contacts.model import FriendOut, LabelOut
from courtyard.core.errors import CourtyardError, InvalidInput, NotFound, PayloadTooLarge
from courtyard.core.ids import is_valid_id
from courtyard.governance.model import Capability
from courtyard.moments.model import (
    MAX_IMAGES,
    AudienceChangeIn,
    AudienceIn,
    AudienceKind,
    AudienceUpdateIn,
    CheckIn,
    CommentIn,
    LabelMode,
    LocationIn,
    MomentsSettingsIn,
    PermissionsIn,
    PostEditIn,
    PostIn,
    Window,
)
from courtyard.moments.service import IMAGE_MAX_BYTES, THUMB_SIDE
from courtyard.web.common import (
    PageError,
    WebContext,
    htmx_error,
    is_htmx,
    member_form,
    member_page,
)
from courtyard.web.i18n import N_

router = APIRouter(include_in_schema=False)

Member = Annotated[WebContext, Depends(member_page)]
MemberForm = Annotated[WebContext, Depends(member_form)]

FEED_PAGE = 20
FRIENDS_SHOWN = 200
SCHEDULE_HOURS = (1, 24, 72, 24 * 7, 24 * 30)  # offered in the "change the audience" menu

# Headlines for the moments pillar's error codes (the service's message is shown under them).
MOMENTS_ERROR_TITLES: dict[str, str] = {
    "post_not_found": N_("No such post."),
    "comment_not_found": N_("No such comment."),
    "comments_closed": N_("Comments on this post are closed."),
    "image_not_found": N_("No such image."),
    "friend_not_found": N_("No such friend."),
    "account_not_found": N_("No such account."),
    "policy_held": N_("This is held for review: only you can see it until a reviewer decides."),
}

# Messages the moments service raises that the catalogs translate.
MOMENTS_SERVICE_MESSAGES = (
    N_("A post needs text or an image."),
    N_("A comment needs text."),
    N_("Choose at least one label or friend for this audience."),
    N_("Unknown label in the audience."),
    N_("An audience names friends only."),
    N_("You can remind only friends."),
    N_("You can remind only friends who will see the post."),
    N_("An image appears twice."),
    N_("Unknown image."),
    N_("Unknown label."),
    N_("Not a valid cursor."),
)

# Confirmations after a redirect (``?done=<key>``); only these keys are shown.
MOMENTS_NOTICES: dict[str, str] = {
    "posted": N_("Posted to Moments."),
    "post_deleted": N_("Post deleted."),
    "post_edited": N_("Post updated. It is marked as edited."),
    "audience_changed": N_("Saved. The post's audience has changed."),
    "liked": N_("Liked."),
    "unliked": N_("Like taken back."),
    "commented": N_("Comment sent."),
    "comment_deleted": N_("Comment deleted."),
    "settings_saved": N_("Moments settings saved."),
    "permissions_saved": N_("Saved."),
}

# What a governance label on a post says to the people who read it (docs/policies.md); a label
# an operator's own pack adds shows the generic text.
POST_LABEL_TEXTS: dict[str, str] = {
    "possible_scam": N_("Take care: this post reads like a money or investment scam."),
    "offplatform_contact": N_(
        "A new account asks to continue on another app, a common first step of scams."
    ),
    "not_official": N_("This reads like an official notice but does not come from one."),
    "threat": N_("This post contains a threat."),
    "personal_data": N_("This post contains personal data."),
}
POST_LABEL_FALLBACK = N_("Labelled under this server's rules.")

WINDOW_NAMES: dict[Window, str] = {
    Window.ALL: N_("All my posts"),
    Window.SIX_MONTHS: N_("The last six months"),
    Window.MONTH: N_("The last month"),
    Window.THREE_DAYS: N_("The last three days"),
}

PII_NAMES: dict[str, str] = {
    "cn_resident_id": N_("an ID card number"),
    "phone": N_("a phone number"),
    "bank_card": N_("a bank card number"),
    "email": N_("an email address"),
    "address": N_("a street address"),
}

METADATA_NAMES: dict[str, str] = {
    "exif": N_("camera details (EXIF)"),
    "gps_location": N_("the location where it was taken (GPS)"),
    "xmp": N_("editing metadata (XMP)"),
    "icc_profile": N_("the colour profile"),
    "comment": N_("an embedded comment"),
    "photoshop": N_("Photoshop data"),
}


def _id(value: str, code: str = "post_not_found") -> str:
    """Path and form ids are ULIDs; anything else names nothing (and never reaches SQL)."""
    if not is_valid_id(value):
        raise NotFound(MOMENTS_ERROR_TITLES.get(code, "Not found."), code=code)
    return value


def _error(ctx: WebContext, exc: CourtyardError | ValidationError) -> PageError:
    """``ctx.page_error`` with a translated headline for the moments pillar's codes."""
    error = ctx.page_error(exc)
    if isinstance(exc, ValidationError):
        return error
    title = MOMENTS_ERROR_TITLES.get(exc.code)
    headline = ctx.translate(title) if title else error.title
    detail = error.message
    english_only = ctx.locale != "en" and detail == exc.message
    if detail == headline or (english_only and (title or exc.code == "capability_denied")):
        detail = None  # the same words, or a service's English under a translated headline
    return replace(error, title=headline, message=detail)


def _statement(exc: CourtyardError) -> str | None:
    statement_id = exc.details.get("statement_id")
    if exc.code in {"policy_blocked", "policy_held"} and isinstance(statement_id, str):
        return statement_id
    return None


def _done(ctx: WebContext, url: str, key: str) -> Response:
    path, _, anchor = url.partition("#")
    sep = "&" if "?" in path else "?"
    return ctx.redirect(f"{path}{sep}done={key}" + (f"#{anchor}" if anchor else ""))


def _done_text(ctx: WebContext) -> str | None:
    key = ctx.request.query_params.get("done", "")
    return ctx.translate(MOMENTS_NOTICES[key]) if key in MOMENTS_NOTICES else None


def _not_found_page(ctx: WebContext, exc: CourtyardError) -> Response:
    error = _error(ctx, exc)
    if is_htmx(ctx.request):
        return htmx_error(ctx, error)
    return ctx.render("error.html", status=error.status, error=error)


def _cursor(ctx: WebContext) -> str | None:
    value = ctx.request.query_params.get("before", "")
    return value if is_valid_id(value) else None


def _back(ctx: WebContext, post_id: str) -> str:
    """Where a post's form returns to: the page it was on (a Moments page), at the post."""
    back = ctx.text("back", strip=True)
    ok = back.startswith("/moments") and "//" not in back and "\\" not in back and len(back) < 200
    if not ok or any(ch in back for ch in "\r\n\t#"):
        back = f"/moments/posts/{post_id}"
    return f"{back}#post-{post_id}"


def _can(ctx: WebContext, capability: Capability) -> bool:
    return ctx.services.governance.capabilities(ctx.me.account.standing).has(capability)


# ---- people's names -------------------------------------------------------------------------


async def _friends(ctx: WebContext) -> list[FriendOut]:
    page = await ctx.services.contacts.list_friends(ctx.me, limit=FRIENDS_SHOWN)
    return page.items


def _friend_name(friend: FriendOut) -> str:
    return friend.remark or friend.profile.display_name


async def _names(
    ctx: WebContext, ids: set[str], friends: list[FriendOut] | None = None
) -> dict[str, str]:
    """Names for the people on a page: the viewer's remark for a friend, else their name."""
    if friends is None:
        friends = await _friends(ctx)
    names = {f.profile.id: _friend_name(f) for f in friends}
    names[ctx.me.id] = ctx.me.account.display_name
    missing = [i for i in ids if i not in names]
    if missing:
        accounts = await ctx.services.accounts.get_accounts(missing)
        names.update({i: a.display_name for i, a in accounts.items()})
    return names


def _people_in(items: list[dict[str, Any]]) -> set[str]:
    ids: set[str] = set()
    for item in items:
        ids.add(item["author_id"])
        ids.update(item["likes"])
        ids.update(c["author_id"] for c in item["comments"])
        ids.update(item.get("remind") or ())
        audience = item.get("audience") or {}
        ids.update(audience.get("accounts", ()))
        for change in item.get("schedule") or ():
            ids.update(change["audience"].get("accounts", ()))
    return ids


# ---- posts as pages show them ----------------------------------------------------------------


@dataclass
class PostView:
    """One post with everything its template shows, already named and translated."""

    item: dict[str, Any]
    author: str
    mine: bool
    likes: str
    comments: list[dict[str, Any]]
    labels: list[tuple[str, str]]
    images: list[dict[str, Any]]
    audience: str | None = None
    schedule: list[tuple[datetime, str]] = field(default_factory=list)
    reminded: str | None = None


def _join(ctx: WebContext, names: list[str]) -> str:
    return ctx._(", ").join(names)


def _audience_text(
    ctx: WebContext, audience: dict[str, Any], names: dict[str, str], labels: dict[str, str]
) -> str:
    kind = audience.get("kind", "friends")
    if kind == AudienceKind.FRIENDS:
        return ctx._("All friends")
    if kind == AudienceKind.PRIVATE:
        return ctx._("Only me")
    who = [labels.get(lb, ctx._("a deleted label")) for lb in audience.get("labels", ())]
    who += [names.get(a, ctx._("a former friend")) for a in audience.get("accounts", ())]
    text = (
        ctx._("Only %(who)s", who=_join(ctx, who))
        if kind == AudienceKind.ONLY
        else ctx._("All friends except %(who)s", who=_join(ctx, who))
    )
    if audience.get("labels"):
        mode = (
            ctx._("labels as they were when posted")
            if audience.get("mode", LabelMode.FROZEN) == LabelMode.FROZEN
            else ctx._("labels as they are now")
        )
        text = f"{text} ({mode})"
    return text


def _thumb(image: dict[str, Any]) -> dict[str, Any]:
    width, height = max(1, int(image["width"])), max(1, int(image["height"]))
    scale = min(1.0, THUMB_SIDE / max(width, height))
    return {
        "id": image["id"],
        "width": max(1, round(width * scale)),
        "height": max(1, round(height * scale)),
    }


def _view(
    ctx: WebContext, item: dict[str, Any], names: dict[str, str], labels: dict[str, str]
) -> PostView:
    me = ctx.me.id
    mine = item["author_id"] == me
    visible = {c["id"] for c in item["comments"]}
    comments = []
    by_id = {c["id"]: c for c in item["comments"]}
    for comment in item["comments"]:
        replied = by_id.get(comment["reply_to_id"] or "")
        comments.append(
            {
                "c": comment,
                "author": names.get(comment["author_id"], ctx._("Someone")),
                "reply_to": (
                    names.get(replied["author_id"], ctx._("Someone"))
                    if replied and replied["id"] in visible
                    else None
                ),
                "deletable": me in (comment["author_id"], item["author_id"]),
            }
        )
    liked_by = [names.get(i, ctx._("Someone")) for i in item["likes"]]
    view = PostView(
        item=item,
        author=names.get(item["author_id"], ctx._("Someone")),
        mine=mine,
        likes=_join(ctx, liked_by),
        comments=comments,
        labels=[
            (
                code,
                ctx.translate(POST_LABEL_TEXTS[code])
                if code in POST_LABEL_TEXTS
                else ctx.translate(POST_LABEL_FALLBACK),
            )
            for code in item.get("labels") or ()
        ],
        images=[_thumb(i) for i in item["images"]],
    )
    if mine and "audience" in item:
        view.audience = _audience_text(ctx, item["audience"], names, labels)
        for change in item.get("schedule") or ():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                at = datetime.fromisoformat(change["at"])
                view.schedule.append((at, _audience_text(ctx, change["audience"], names, labels)))
        reminded = [names.get(i, ctx._("Someone")) for i in item.get("remind") or ()]
        view.reminded = _join(ctx, reminded) if reminded else None
    return view


async def _views(
    ctx: WebContext, items: list[dict[str, Any]], friends: list[FriendOut] | None = None
) -> list[PostView]:
    names = await _names(ctx, _people_in(items), friends)
    labels: dict[str, str] = {}
    if any(item["author_id"] == ctx.me.id for item in items):
        labels = {lb.id: lb.name for lb in await ctx.services.contacts.list_labels(ctx.me)}
    return [_view(ctx, item, names, labels) for item in items]


def _post_values(ctx: WebContext) -> dict[str, Any]:
    """What every page listing posts passes to ``moments/_post.html``."""
    return {
        "can_comment": _can(ctx, Capability.COMMENT),
        "done": _done_text(ctx),
        "preview": False,
    }


# ---- the feed --------------------------------------------------------------------------------


async def _feed_page(ctx: WebContext, status: int = 200, **values: Any) -> Response:
    moments = ctx.services.moments
    try:
        page = await moments.feed(ctx.me, before=_cursor(ctx), limit=FEED_PAGE)
    except CourtyardError as exc:
        values.setdefault("error", _error(ctx, exc))
        page = {"items": [], "next_cursor": None}
    withheld: list[dict[str, Any]] = []
    with contextlib.suppress(CourtyardError):  # the author's own held or blocked posts
        withheld = await moments.pending(ctx.me)
    values = {**_post_values(ctx), **values}
    return ctx.render(
        "moments/feed.html",
        status=status,
        section="feed",
        posts=await _views(ctx, page["items"]),
        older=page["next_cursor"],
        browsing_older=_cursor(ctx) is not None,
        withheld=withheld,
        can_post=_can(ctx, Capability.POST),
        back="/moments",
        **values,
    )


@router.get("/moments")
async def feed(ctx: Member) -> Response:
    return await _feed_page(ctx)


# ---- the composer ----------------------------------------------------------------------------


@dataclass
class Draft:
    """The composer's fields as submitted (ids that are not ULIDs are dropped)."""

    text: str = ""
    image_ids: list[str] = field(default_factory=list)
    kind: str = AudienceKind.FRIENDS.value
    labels: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    mode: str = LabelMode.FROZEN.value
    schedule_hours: str = ""
    schedule_kind: str = ""
    remind: list[str] = field(default_factory=list)
    location: str = ""
    close_days: str = ""
    client_id: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    @classmethod
    def of(cls, ctx: WebContext) -> Draft:
        def ids(name: str) -> list[str]:
            return list(dict.fromkeys(v for v in ctx.texts(name) if is_valid_id(v)))

        kinds = {k.value for k in AudienceKind}
        kind = ctx.text("kind", strip=True)
        schedule_kind = ctx.text("schedule_kind", strip=True)
        return cls(
            text=ctx.text("text").replace("\r\n", "\n"),
            image_ids=ids("image_ids")[: MAX_IMAGES + 1],
            kind=kind if kind in kinds else AudienceKind.FRIENDS.value,
            labels=ids("labels"),
            accounts=ids("accounts"),
            mode=LabelMode.FOLLOW.value
            if ctx.text("mode") == LabelMode.FOLLOW.value
            else LabelMode.FROZEN.value,
            schedule_hours=ctx.text("schedule_hours", strip=True)[:8],
            schedule_kind=schedule_kind if schedule_kind in kinds else "",
            remind=ids("remind"),
            location=ctx.text("location", strip=True),
            close_days=ctx.text("close_comments_after_days", strip=True)[:8],
            client_id=ctx.text("client_id", strip=True)[:64] or secrets.token_urlsafe(16),
        )

    def audience(self, kind: str | None = None) -> AudienceIn:
        kind = kind or self.kind
        if kind in {AudienceKind.FRIENDS, AudienceKind.PRIVATE}:
            return AudienceIn(kind=AudienceKind(kind))
        return AudienceIn(
            kind=AudienceKind(kind),
            labels=self.labels,
            accounts=self.accounts,
            mode=LabelMode(self.mode),
        )

    def check_in(self) -> CheckIn:
        return CheckIn(text=self.text, image_ids=self.image_ids, audience=self.audience())

    @classmethod
    def of_post(cls, item: dict[str, Any]) -> Draft:
        """A post's audience in the picker (for its author)."""
        audience = item.get("audience") or {}
        return cls(
            kind=audience.get("kind", AudienceKind.FRIENDS.value),
            labels=list(audience.get("labels", ())),
            accounts=list(audience.get("accounts", ())),
            mode=audience.get("mode", LabelMode.FROZEN.value),
        )

    def schedule_in(self, ctx: WebContext) -> list[AudienceChangeIn]:
        if not self.schedule_kind:
            return []
        if not self.schedule_hours.isdigit():
            raise InvalidInput(
                ctx._("Choose when the audience changes."), details={"field": "schedule_hours"}
            )
        return [
            AudienceChangeIn(
                after_hours=int(self.schedule_hours), audience=self.audience(self.schedule_kind)
            )
        ]

    def post_in(self, ctx: WebContext) -> PostIn:
        schedule = self.schedule_in(ctx)
        close: int | None = None
        if self.close_days:
            if not self.close_days.isdigit():
                raise InvalidInput(
                    ctx._("Enter a number of days."),
                    details={"field": "close_comments_after_days"},
                )
            close = int(self.close_days)
        return PostIn(
            text=self.text,
            image_ids=self.image_ids,
            audience=self.audience(),
            schedule=schedule,
            remind=self.remind,
            location=LocationIn(name=self.location) if self.location else None,
            close_comments_after_days=close,
            client_id=self.client_id,
        )


async def _check_values(ctx: WebContext, draft: Draft) -> dict[str, Any]:
    """The check panel's content: the service's answer, or why it cannot answer yet."""
    try:
        result = await ctx.services.moments.check(ctx.me, draft.check_in())
    except (CourtyardError, ValidationError) as exc:
        return {"check": None, "check_error": _error(ctx, exc), "warnings": []}
    photo_numbers = {image_id: n for n, image_id in enumerate(draft.image_ids, start=1)}
    warnings = []
    for warning in result["warnings"]:
        kind = warning["kind"]
        if kind == "sensitive_label":
            text = ctx._(
                "People in “%(label)s” will see this post. You marked this label as sensitive.",
                label=warning.get("label", ""),
            )
        elif kind == "personal_data":
            what = PII_NAMES.get(warning.get("pii", ""))
            text = ctx._(
                "The text contains %(what)s (%(masked)s). Anyone who sees the post can copy it.",
                what=ctx.translate(what) if what else ctx._("personal data"),
                masked=warning.get("masked", ""),
            )
        elif kind == "image_metadata_removed":
            removed = [
                ctx.translate(METADATA_NAMES[k]) if k in METADATA_NAMES else k
                for k in warning.get("removed", ())
            ]
            text = ctx._(
                "Removed from photo %(n)s: %(what)s.",
                n=photo_numbers.get(warning.get("image_id", ""), "?"),
                what=_join(ctx, removed),
            )
        else:
            text = ctx.translate(str(warning.get("message", "")))
        warnings.append({"kind": kind, "text": text})
    return {"check": result, "check_error": None, "warnings": warnings}


async def _composer(
    ctx: WebContext, draft: Draft | None = None, status: int = 200, **values: Any
) -> Response:
    draft = draft or Draft()
    friends = await _friends(ctx)
    labels: list[LabelOut] = await ctx.services.contacts.list_labels(ctx.me)
    values.setdefault("policy_notice", None)
    return ctx.render(
        "moments/new.html",
        status=status,
        section="new",
        draft=draft,
        friends=friends,
        friend_names={f.profile.id: _friend_name(f) for f in friends},
        labels=labels,
        can_post=_can(ctx, Capability.POST),
        schedule_hours=SCHEDULE_HOURS,
        max_images=MAX_IMAGES,
        **(await _check_values(ctx, draft)),
        **values,
    )


@router.get("/moments/new")
async def composer(ctx: Member) -> Response:
    return await _composer(ctx)


@router.post("/moments/check")
async def check(ctx: MemberForm) -> Response:
    """The check panel (htmx), or the whole composer with it (the "Check" button)."""
    draft = Draft.of(ctx)
    if is_htmx(ctx.request):
        return ctx.render("moments/_check.html", draft=draft, **(await _check_values(ctx, draft)))
    return await _composer(ctx, draft)


async def _upload(ctx: WebContext, draft: Draft) -> None:
    upload = ctx.upload("image")
    if upload is None:
        return
    if len(draft.image_ids) >= MAX_IMAGES:
        raise InvalidInput(
            ctx._("A post has at most %(n)s images.", n=MAX_IMAGES), details={"field": "image"}
        )
    data = await upload.read(IMAGE_MAX_BYTES + 1)
    if len(data) > IMAGE_MAX_BYTES:
        raise PayloadTooLarge(ctx._("Images are at most 20 MiB."), details={"field": "image"})
    uploaded = await ctx.services.moments.upload_image(ctx.me, data)
    draft.image_ids.append(uploaded["id"])


@router.post("/moments/new/images")
async def composer_images(ctx: MemberForm) -> Response:
    """Upload the chosen image, or take one out; the composer comes back as it was."""
    draft = Draft.of(ctx)
    removed = ctx.text("remove_image", strip=True)
    if removed:
        draft.image_ids = [i for i in draft.image_ids if i != removed]
        return await _composer(ctx, draft)
    try:
        if ctx.upload("image") is None:
            raise InvalidInput(ctx._("Choose an image file."), details={"field": "image"})
        await _upload(ctx, draft)
    except CourtyardError as exc:
        error = _error(ctx, exc)
        return await _composer(ctx, draft, error.status, error=error)
    return await _composer(ctx, draft)


@router.post("/moments/posts")
async def create_post(ctx: MemberForm) -> Response:
    draft = Draft.of(ctx)
    try:
        await _upload(ctx, draft)  # an image chosen but not uploaded yet goes with the post
        post = await ctx.services.moments.create_post(ctx.me, draft.post_in(ctx))
    except (CourtyardError, ValidationError) as exc:
        error = _error(ctx, exc)
        notice = _statement(exc) if isinstance(exc, CourtyardError) else None
        if notice is not None:  # kept for its author with a notice: a new draft from here
            draft = Draft()
        return await _composer(ctx, draft, error.status, error=error, policy_notice=notice)
    return _done(ctx, f"/moments#post-{post['id']}", "posted")


# ---- one post and its actions ----------------------------------------------------------------


async def _post_page(ctx: WebContext, post_id: str, status: int = 200, **values: Any) -> Response:
    try:
        item = await ctx.services.moments.post(ctx.me, _id(post_id))
    except CourtyardError as exc:
        return _not_found_page(ctx, exc)
    values = {**_post_values(ctx), **values}
    friends = await _friends(ctx)
    if item["author_id"] == ctx.me.id:  # the audience picker, to change who sees it
        values.setdefault("draft", Draft.of_post(item))
        values["labels"] = await ctx.services.contacts.list_labels(ctx.me)
        values["friend_names"] = {f.profile.id: _friend_name(f) for f in friends}
        values["schedule_hours"] = SCHEDULE_HOURS
    return ctx.render(
        "moments/post.html",
        status=status,
        section="post",
        post=(await _views(ctx, [item], friends))[0],
        friends=friends,
        back=f"/moments/posts/{item['id']}",
        **values,
    )


@router.get("/moments/posts/{post_id}")
async def post_detail(post_id: str, ctx: Member) -> Response:
    return await _post_page(ctx, post_id)


async def _post_action(ctx: WebContext, post_id: str, key: str, action: Any) -> Response:
    """Run one action on a post: htmx gets the post back, a form goes back where it was."""
    try:
        _id(post_id)
        item = await action()
    except (CourtyardError, ValidationError) as exc:
        if isinstance(exc, NotFound) and exc.code in {"not_found", "post_not_found"}:
            return _not_found_page(ctx, exc)
        error = _error(ctx, exc)
        if is_htmx(ctx.request):
            return htmx_error(ctx, error)
        return await _post_page(ctx, post_id, error.status, error=error)
    if is_htmx(ctx.request):
        if item is None:
            item = await ctx.services.moments.post(ctx.me, post_id)
        back = _back(ctx, post_id).partition("#")[0]
        return ctx.render(
            "moments/_post.html",
            post=(await _views(ctx, [item]))[0],
            back=back,
            row_notice=ctx.translate(MOMENTS_NOTICES[key]),
            **_post_values(ctx),
        )
    return _done(ctx, _back(ctx, post_id), key)


@router.post("/moments/posts/{post_id}/like")
async def like(post_id: str, ctx: MemberForm) -> Response:
    on = ctx.text("on") != "0"

    async def action() -> dict[str, Any]:
        return await ctx.services.moments.like(ctx.me, post_id, on=on)

    return await _post_action(ctx, post_id, "liked" if on else "unliked", action)


@router.post("/moments/posts/{post_id}/comments")
async def comment(post_id: str, ctx: MemberForm) -> Response:
    async def action() -> dict[str, Any]:
        reply_to = ctx.text("reply_to_id", strip=True)
        data = CommentIn(
            text=ctx.text("text"),
            reply_to_id=_id(reply_to, "comment_not_found") if reply_to else None,
        )
        return await ctx.services.moments.comment(ctx.me, post_id, data)

    return await _post_action(ctx, post_id, "commented", action)


@router.post("/moments/posts/{post_id}/comments/{comment_id}/delete")
async def delete_comment(post_id: str, comment_id: str, ctx: MemberForm) -> Response:
    async def action() -> None:
        await ctx.services.moments.delete_comment(
            ctx.me, post_id, _id(comment_id, "comment_not_found")
        )

    return await _post_action(ctx, post_id, "comment_deleted", action)


@router.post("/moments/posts/{post_id}/edit")
async def edit_post(post_id: str, ctx: MemberForm) -> Response:
    try:
        data = PostEditIn(text=ctx.text("text").replace("\r\n", "\n"))
        await ctx.services.moments.edit_post(ctx.me, _id(post_id), data.text)
    except (CourtyardError, ValidationError) as exc:
        if isinstance(exc, NotFound):
            return _not_found_page(ctx, exc)
        error = _error(ctx, exc)
        notice = _statement(exc) if isinstance(exc, CourtyardError) else None
        return await _post_page(ctx, post_id, error.status, error=error, policy_notice=notice)
    return _done(ctx, f"/moments/posts/{post_id}", "post_edited")


@router.post("/moments/posts/{post_id}/audience")
async def change_audience(post_id: str, ctx: MemberForm) -> Response:
    draft = Draft.of(ctx)
    try:
        data = AudienceUpdateIn(audience=draft.audience(), schedule=draft.schedule_in(ctx))
        await ctx.services.moments.change_audience(ctx.me, _id(post_id), data)
    except (CourtyardError, ValidationError) as exc:
        if isinstance(exc, NotFound):
            return _not_found_page(ctx, exc)
        error = _error(ctx, exc)
        return await _post_page(ctx, post_id, error.status, audience_error=error, draft=draft)
    return _done(ctx, f"/moments/posts/{post_id}", "audience_changed")


@router.post("/moments/posts/{post_id}/delete")
async def delete_post(post_id: str, ctx: MemberForm) -> Response:
    try:
        await ctx.services.moments.delete_post(ctx.me, _id(post_id))
    except CourtyardError as exc:
        return _not_found_page(ctx, exc)
    return _done(ctx, "/moments", "post_deleted")


# ---- a friend's posts, "preview as" ----------------------------------------------------------


@router.get("/moments/people/{account_id}")
async def person(account_id: str, ctx: Member) -> Response:
    moments = ctx.services.moments
    try:
        _id(account_id, "account_not_found")
        if account_id == ctx.me.id:
            name = ctx.me.account.display_name
        else:
            profile = await ctx.services.contacts.public_profile(ctx.me, account_id)
            name = profile.display_name
        page = await moments.profile(ctx.me, account_id, before=_cursor(ctx), limit=FEED_PAGE)
    except CourtyardError as exc:
        return _not_found_page(ctx, exc)
    friends = await _friends(ctx)
    friend = next((f for f in friends if f.profile.id == account_id), None)
    return ctx.render(
        "moments/person.html",
        section="person",
        person_id=account_id,
        name=_friend_name(friend) if friend else name,
        is_friend=friend is not None,
        posts=await _views(ctx, page["items"], friends),
        older=page["next_cursor"],
        back=f"/moments/people/{account_id}",
        **_post_values(ctx),
    )


@router.get("/moments/preview")
async def preview_choice(ctx: Member) -> Response:
    """The "preview as" selector (a GET form) lands here."""
    friend_id = ctx.request.query_params.get("friend", "")
    if not is_valid_id(friend_id):
        return ctx.redirect("/moments/settings")
    return ctx.redirect(f"/moments/preview/{friend_id}")


@router.get("/moments/preview/{friend_id}")
async def preview(friend_id: str, ctx: Member) -> Response:
    try:
        result = await ctx.services.moments.preview_as(
            ctx.me, _id(friend_id, "friend_not_found"), limit=FEED_PAGE
        )
    except CourtyardError as exc:
        return _not_found_page(ctx, exc)
    friends = await _friends(ctx)
    friend = next((f for f in friends if f.profile.id == friend_id), None)
    names = await _names(ctx, {friend_id}, friends)
    return ctx.render(
        "moments/preview.html",
        section="settings",
        friend_id=friend_id,
        friend_name=_friend_name(friend) if friend else names.get(friend_id, ""),
        friends=friends,
        posts=await _views(ctx, result["items"], friends),
        back="/moments",
        can_comment=False,
        done=None,
        preview=True,
    )


# ---- notifications -----------------------------------------------------------------------------

NOTIFICATION_TEXTS: dict[str, str] = {
    "like": N_("%(name)s liked your post."),
    "comment": N_("%(name)s commented on your post."),
    "reply": N_("%(name)s replied to your comment."),
    "remind": N_("%(name)s reminded you to see a post."),
    "comment_removed": N_("%(name)s removed your comment from their post."),
}
NOTIFICATION_FALLBACK = N_("%(name)s did something on a post.")


@router.get("/moments/notifications")
async def notifications(ctx: Member) -> Response:
    try:
        items = await ctx.services.moments.notifications(
            ctx.me, before=_cursor(ctx), limit=FEED_PAGE
        )
    except CourtyardError as exc:
        return _not_found_page(ctx, exc)
    names = await _names(ctx, {n["actor_id"] for n in items})
    rows = [
        (
            n,
            ctx._(
                NOTIFICATION_TEXTS.get(n["kind"], NOTIFICATION_FALLBACK),
                name=names.get(n["actor_id"], ctx._("Someone")),
            ),
        )
        for n in items
    ]
    return ctx.render(
        "moments/notifications.html",
        section="notifications",
        rows=rows,
        older=items[-1]["id"] if len(items) == FEED_PAGE else None,
    )


# ---- settings and per-friend permissions -------------------------------------------------------


async def _settings_page(ctx: WebContext, status: int = 200, **values: Any) -> Response:
    current = await ctx.services.moments.settings(ctx.me)
    return ctx.render(
        "moments/settings.html",
        status=status,
        section="settings",
        current=current,
        windows=[(w.value, ctx.translate(text)) for w, text in WINDOW_NAMES.items()],
        labels=await ctx.services.contacts.list_labels(ctx.me),
        friends=await _friends(ctx),
        done=_done_text(ctx),
        **values,
    )


@router.get("/moments/settings")
async def settings(ctx: Member) -> Response:
    return await _settings_page(ctx)


@router.post("/moments/settings")
async def save_settings(ctx: MemberForm) -> Response:
    try:
        data = MomentsSettingsIn(
            window=ctx.text("window", strip=True) or None,
            sensitive_labels=[v for v in ctx.texts("sensitive_labels") if is_valid_id(v)],
        )
        await ctx.services.moments.update_settings(ctx.me, data)
    except (CourtyardError, ValidationError) as exc:
        error = _error(ctx, exc)
        return await _settings_page(ctx, error.status, error=error)
    return _done(ctx, "/moments/settings", "settings_saved")


async def _current_permissions(
    ctx: WebContext, friend_ids: list[str]
) -> dict[str, dict[str, bool]]:
    """What the viewer set about each friend."""
    return await ctx.services.moments.permissions(ctx.me, friend_ids)


async def _permissions_page(ctx: WebContext, status: int = 200, **values: Any) -> Response:
    friends = await _friends(ctx)
    current = await _current_permissions(ctx, [f.profile.id for f in friends])
    return ctx.render(
        "moments/friends.html",
        status=status,
        section="settings",
        friends=[(f, _friend_name(f), current[f.profile.id]) for f in friends],
        done=_done_text(ctx),
        **values,
    )


@router.get("/moments/settings/friends")
async def permissions(ctx: Member) -> Response:
    return await _permissions_page(ctx)


@router.post("/moments/settings/friends/{friend_id}")
async def save_permissions(friend_id: str, ctx: MemberForm) -> Response:
    try:
        data = PermissionsIn(
            hide_my_moments=ctx.checked("hide_my_moments"),
            hide_their_moments=ctx.checked("hide_their_moments"),
            chat_only=ctx.checked("chat_only"),
        )
        await ctx.services.moments.set_permissions(ctx.me, _id(friend_id, "friend_not_found"), data)
    except CourtyardError as exc:
        error = _error(ctx, exc)
        return await _permissions_page(ctx, error.status, error=error)
    return _done(ctx, f"/moments/settings/friends#friend-{friend_id}", "permissions_saved")
