"""Moments: posts to friends with an audience the author chooses, and the one rule that decides
who sees what.

Pure. ``can_see`` is the whole audience rule: every route (feed, profile, post detail, comments,
likes, notifications, search, the WebSocket stream, export) asks it, or asks SQL that the
property tests hold to it. Comments and likes have their own rule on top (``sees_interaction``):
WeChat's — you see a like or a comment only if you are friends with the person who left it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from courtyard.core.errors import Conflict, InvalidInput, NotFound
from courtyard.core.text import MultiLineText, SingleLineText

MAX_IMAGES = 9
MAX_REMINDS = 10
MAX_TEXT = 2_000
MAX_COMMENT = 500


class AudienceKind(StrEnum):
    FRIENDS = "friends"  # all friends
    PRIVATE = "private"  # only me
    ONLY = "only"  # only these labels or friends
    EXCEPT = "except"  # all friends except these labels or friends


class LabelMode(StrEnum):
    """Whether a label audience is the label's members when the post was made (WeChat's rule)
    or whoever is in the label now."""

    FROZEN = "frozen"
    FOLLOW = "follow"


class Window(StrEnum):
    """How far back friends may see an author's posts (the author always sees everything)."""

    ALL = "all"
    SIX_MONTHS = "6m"
    MONTH = "1m"
    THREE_DAYS = "3d"

    @property
    def span(self) -> timedelta | None:
        return _WINDOWS[self]


_WINDOWS = {
    Window.ALL: None,
    Window.SIX_MONTHS: timedelta(days=182),
    Window.MONTH: timedelta(days=30),
    Window.THREE_DAYS: timedelta(days=3),
}


@dataclass(frozen=True, slots=True)
class Audience:
    kind: AudienceKind
    labels: frozenset[str] = frozenset()
    accounts: frozenset[str] = frozenset()
    mode: LabelMode = LabelMode.FROZEN
    # For a frozen label audience: the labels' members at the moment it took effect.
    frozen_members: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "labels": sorted(self.labels),
            "accounts": sorted(self.accounts),
            "mode": self.mode.value,
            "frozen_members": sorted(self.frozen_members),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Audience:
        return cls(
            kind=AudienceKind(data["kind"]),
            labels=frozenset(data.get("labels", ())),
            accounts=frozenset(data.get("accounts", ())),
            mode=LabelMode(data.get("mode", LabelMode.FROZEN.value)),
            frozen_members=frozenset(data.get("frozen_members", ())),
        )

    def named(self, viewer_id: str, label_members: Mapping[str, frozenset[str]]) -> bool:
        """Whether the viewer is one of the friends or label members the audience names."""
        if viewer_id in self.accounts:
            return True
        if not self.labels:
            return False
        if self.mode is LabelMode.FROZEN:
            return viewer_id in self.frozen_members
        return any(viewer_id in label_members.get(label, frozenset()) for label in self.labels)


@dataclass(frozen=True, slots=True)
class AudienceChange:
    """A scheduled change: from ``at`` on, the post's audience is ``audience``."""

    at: datetime
    audience: Audience


@dataclass(frozen=True, slots=True)
class Post:
    id: str
    author_id: str
    created_at: datetime
    text: str
    audience: Audience
    schedule: tuple[AudienceChange, ...] = ()
    deleted: bool = False
    held: bool = False  # held for review by governance: only its author sees it
    comments_close_at: datetime | None = None

    def audience_at(self, now: datetime) -> Audience:
        current = self.audience
        for change in sorted(self.schedule, key=lambda c: c.at):
            if change.at <= now:
                current = change.audience
        return current


@dataclass(frozen=True, slots=True)
class Relation:
    """How an author and a viewer stand, as far as Moments care (the viewer's side too)."""

    friends: bool
    # The author's settings about the viewer.
    author_hides_from_viewer: bool = False  # "don't let them see my Moments"
    author_chat_only: bool = False  # "chat only": no Moments either way
    # The viewer's settings about the author.
    viewer_hides_author: bool = False  # "hide their Moments from me" (feed only)
    viewer_chat_only: bool = False


@dataclass(frozen=True, slots=True)
class ViewerContext:
    """Everything ``can_see`` needs beyond the post: the relation between author and viewer,
    the author's history window and the author's labels as they are now."""

    relation: Relation
    window: Window = Window.ALL
    label_members: Mapping[str, frozenset[str]] = field(default_factory=dict)


def can_see(  # noqa: PLR0911 - one return per rule, in the order they apply
    post: Post, viewer_id: str, context: ViewerContext, now: datetime
) -> bool:
    """Whether ``viewer_id`` may see ``post`` at ``now``, by any route (its detail, its author's
    profile, a notification, a search result)."""
    if post.deleted:
        return False
    if viewer_id == post.author_id:
        return True
    relation = context.relation
    if post.held or not relation.friends:
        return False
    if relation.author_hides_from_viewer or relation.author_chat_only or relation.viewer_chat_only:
        return False
    span = context.window.span
    if span is not None and post.created_at < now - span:
        return False
    audience = post.audience_at(now)
    if audience.kind is AudienceKind.PRIVATE:
        return False
    if audience.kind is AudienceKind.FRIENDS:
        return True
    named = audience.named(viewer_id, context.label_members)
    return named if audience.kind is AudienceKind.ONLY else not named


def in_feed(post: Post, viewer_id: str, context: ViewerContext, now: datetime) -> bool:
    """The feed also leaves out authors the viewer chose to hide."""
    if viewer_id != post.author_id and context.relation.viewer_hides_author:
        return False
    return can_see(post, viewer_id, context, now)


def sees_interaction(
    *,
    viewer_id: str,
    post_author_id: str,
    actor_id: str,
    viewer_friends: frozenset[str],
) -> bool:
    """A like or comment by ``actor_id`` is shown to a viewer of the post who is its author,
    the actor, or a friend of the actor (WeChat's rule). Call only for viewers who can see the
    post."""
    return viewer_id in (post_author_id, actor_id) or actor_id in viewer_friends


def resolve_audience(
    kind: AudienceKind,
    labels: Iterable[str],
    accounts: Iterable[str],
    mode: LabelMode,
    label_members: Mapping[str, frozenset[str]],
) -> Audience:
    """The audience as stored: a frozen label audience gets its members now."""
    labels = frozenset(labels)
    accounts = frozenset(accounts)
    if kind in (AudienceKind.FRIENDS, AudienceKind.PRIVATE):
        return Audience(kind)
    if not labels and not accounts:
        raise InvalidInput(
            "Choose at least one label or friend for this audience.",
            details={"field": "audience"},
        )
    frozen: frozenset[str] = frozenset()
    if mode is LabelMode.FROZEN:
        frozen = frozenset().union(*(label_members.get(label, frozenset()) for label in labels))
    return Audience(kind, labels, accounts, mode, frozen)


def audience_size(
    audience: Audience, friends: frozenset[str], label_members: Mapping[str, frozenset[str]]
) -> frozenset[str]:
    """The friends an audience reaches now, before per-friend settings and windows."""
    if audience.kind is AudienceKind.PRIVATE:
        return frozenset()
    if audience.kind is AudienceKind.FRIENDS:
        return friends
    named = frozenset(f for f in friends if audience.named(f, label_members))
    return named if audience.kind is AudienceKind.ONLY else friends - named


def comments_open(post: Post, now: datetime) -> bool:
    return post.comments_close_at is None or now < post.comments_close_at


# -- errors ---------------------------------------------------------------------------------------


def post_not_found() -> NotFound:
    return NotFound("No such post.", code="post_not_found")


def comment_not_found() -> NotFound:
    return NotFound("No such comment.", code="comment_not_found")


class CommentsClosed(Conflict):
    code = "comments_closed"
    default_message = "Comments on this post are closed."


# -- I/O schemas ----------------------------------------------------------------------------------

_STRICT = ConfigDict(extra="forbid")
Ids = Annotated[list[Annotated[str, Field(min_length=1, max_length=26)]], Field(max_length=500)]


class AudienceIn(BaseModel):
    model_config = _STRICT
    kind: AudienceKind = AudienceKind.FRIENDS
    labels: Ids = []
    accounts: Ids = []
    mode: LabelMode = LabelMode.FROZEN


class AudienceChangeIn(BaseModel):
    model_config = _STRICT
    after_hours: int = Field(ge=1, le=24 * 365)
    audience: AudienceIn


class LocationIn(BaseModel):
    model_config = _STRICT
    name: SingleLineText = Field(min_length=1, max_length=100)


class PostIn(BaseModel):
    model_config = _STRICT
    text: MultiLineText = Field(default="", max_length=MAX_TEXT)
    image_ids: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=26)]], Field(max_length=MAX_IMAGES)
    ] = []
    audience: AudienceIn = AudienceIn()
    schedule: Annotated[list[AudienceChangeIn], Field(max_length=5)] = []
    remind: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=26)]], Field(max_length=MAX_REMINDS)
    ] = []
    location: LocationIn | None = None
    close_comments_after_days: int | None = Field(default=None, ge=1, le=3650)
    client_id: str | None = Field(default=None, min_length=1, max_length=64)


class AudienceUpdateIn(BaseModel):
    model_config = _STRICT
    audience: AudienceIn
    schedule: Annotated[list[AudienceChangeIn], Field(max_length=5)] = []


class PostEditIn(BaseModel):
    model_config = _STRICT
    text: MultiLineText = Field(max_length=MAX_TEXT)


class CommentIn(BaseModel):
    model_config = _STRICT
    text: MultiLineText = Field(min_length=1, max_length=MAX_COMMENT)
    reply_to_id: str | None = Field(default=None, min_length=1, max_length=26)


class MomentsSettingsIn(BaseModel):
    model_config = _STRICT
    window: Window | None = None
    sensitive_labels: Ids | None = None


class PermissionsIn(BaseModel):
    model_config = _STRICT
    hide_my_moments: bool | None = None
    hide_their_moments: bool | None = None
    chat_only: bool | None = None


class CheckIn(BaseModel):
    model_config = _STRICT
    text: MultiLineText = Field(default="", max_length=MAX_TEXT)
    image_ids: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=26)]], Field(max_length=MAX_IMAGES)
    ] = []
    audience: AudienceIn = AudienceIn()
