"""JSON routes for Moments under /api/v1/moments: thin, each one service call."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Response, UploadFile

from courtyard.accounts.api import ActorDep, ServicesDep
from courtyard.core.errors import PayloadTooLarge
from courtyard.moments.model import (
    AudienceUpdateIn,
    CheckIn,
    CommentIn,
    MomentsSettingsIn,
    PermissionsIn,
    PostEditIn,
    PostIn,
)
from courtyard.moments.service import IMAGE_MAX_BYTES

router = APIRouter(prefix="/api/v1/moments", tags=["moments"])

Json = dict[str, Any]
Cursor = Annotated[str | None, Query(max_length=26)]
Limit = Annotated[int | None, Query(ge=1, le=100)]


@router.get("/feed", summary="Your timeline: the posts you may see, newest first")
async def feed(
    actor: ActorDep, services: ServicesDep, before: Cursor = None, limit: Limit = None
) -> Json:
    return await services.moments.feed(actor, before=before, limit=limit)


@router.post("/posts", status_code=201, summary="Post to Moments")
async def create_post(body: PostIn, actor: ActorDep, services: ServicesDep) -> Json:
    return await services.moments.create_post(actor, body)


@router.post("/check", summary="What the composer shows before posting (never blocks)")
async def check(body: CheckIn, actor: ActorDep, services: ServicesDep) -> Json:
    return await services.moments.check(actor, body)


@router.post("/images", status_code=201, summary="Upload an image for a post")
async def upload_image(
    actor: ActorDep, services: ServicesDep, image: Annotated[UploadFile, File()]
) -> Json:
    data = await image.read(IMAGE_MAX_BYTES + 1)
    if len(data) > IMAGE_MAX_BYTES:
        raise PayloadTooLarge("Images are at most 20 MiB.", details={"field": "image"})
    return await services.moments.upload_image(actor, data)


@router.get("/images/{image_id}", summary="An image you uploaded (for the composer)")
async def own_image(
    image_id: str,
    actor: ActorDep,
    services: ServicesDep,
    thumb: Annotated[bool, Query()] = False,
) -> Response:
    data, content_type = await services.moments.own_image(actor, image_id, thumb=thumb)
    return Response(data, media_type=content_type, headers={"Cache-Control": "private"})


@router.get("/permissions", summary="What you set about each friend")
async def permissions(actor: ActorDep, services: ServicesDep) -> dict[str, dict[str, bool]]:
    return await services.moments.permissions(actor)


@router.get("/posts/{post_id}", summary="One post, as you may see it")
async def get_post(post_id: str, actor: ActorDep, services: ServicesDep) -> Json:
    return await services.moments.post(actor, post_id)


@router.patch("/posts/{post_id}", summary="Edit your post's text (marked as edited)")
async def edit_post(post_id: str, body: PostEditIn, actor: ActorDep, services: ServicesDep) -> Json:
    return await services.moments.edit_post(actor, post_id, body.text)


@router.put("/posts/{post_id}/audience", summary="Change who sees your post, now or later")
async def change_audience(
    post_id: str, body: AudienceUpdateIn, actor: ActorDep, services: ServicesDep
) -> Json:
    return await services.moments.change_audience(actor, post_id, body)


@router.get("/pending", summary="Your posts held or blocked by governance (only you see them)")
async def pending(actor: ActorDep, services: ServicesDep) -> list[Json]:
    return await services.moments.pending(actor)


@router.delete("/posts/{post_id}", status_code=204, summary="Delete your post")
async def delete_post(post_id: str, actor: ActorDep, services: ServicesDep) -> Response:
    await services.moments.delete_post(actor, post_id)
    return Response(status_code=204)


@router.get("/posts/{post_id}/images/{image_id}", summary="An image of a post you may see")
async def post_image(
    post_id: str,
    image_id: str,
    actor: ActorDep,
    services: ServicesDep,
    thumb: Annotated[bool, Query()] = False,
) -> Response:
    data, content_type = await services.moments.image_bytes(actor, post_id, image_id, thumb=thumb)
    return Response(
        data, media_type=content_type, headers={"Cache-Control": "private, max-age=3600"}
    )


@router.put("/posts/{post_id}/like", summary="Like a post")
async def like(post_id: str, actor: ActorDep, services: ServicesDep) -> Json:
    return await services.moments.like(actor, post_id, on=True)


@router.delete("/posts/{post_id}/like", summary="Take back your like")
async def unlike(post_id: str, actor: ActorDep, services: ServicesDep) -> Json:
    return await services.moments.like(actor, post_id, on=False)


@router.post("/posts/{post_id}/comments", status_code=201, summary="Comment or reply")
async def comment(post_id: str, body: CommentIn, actor: ActorDep, services: ServicesDep) -> Json:
    return await services.moments.comment(actor, post_id, body)


@router.delete(
    "/posts/{post_id}/comments/{comment_id}", status_code=204, summary="Delete a comment"
)
async def delete_comment(
    post_id: str, comment_id: str, actor: ActorDep, services: ServicesDep
) -> Response:
    await services.moments.delete_comment(actor, post_id, comment_id)
    return Response(status_code=204)


@router.get("/profiles/{account_id}", summary="One friend's posts, as you may see them")
async def profile(
    account_id: str,
    actor: ActorDep,
    services: ServicesDep,
    before: Cursor = None,
    limit: Limit = None,
) -> Json:
    return await services.moments.profile(actor, account_id, before=before, limit=limit)


@router.get("/preview/{friend_id}", summary="Your posts exactly as this friend sees them")
async def preview(
    friend_id: str, actor: ActorDep, services: ServicesDep, limit: Limit = None
) -> Json:
    return await services.moments.preview_as(actor, friend_id, limit=limit)


@router.get("/search", summary="Search the posts you may see")
async def search(
    actor: ActorDep,
    services: ServicesDep,
    q: Annotated[str, Query(min_length=1, max_length=100)],
    limit: Limit = None,
) -> list[Json]:
    return await services.moments.search(actor, q, limit=limit)


@router.get("/notifications", summary="Likes, comments and reminders you may still see")
async def notifications(
    actor: ActorDep, services: ServicesDep, before: Cursor = None, limit: Limit = None
) -> list[Json]:
    return await services.moments.notifications(actor, before=before, limit=limit)


@router.get("/settings", summary="Your Moments settings")
async def get_settings(actor: ActorDep, services: ServicesDep) -> Json:
    return await services.moments.settings(actor)


@router.patch("/settings", summary="Your history window and sensitive labels")
async def update_settings(body: MomentsSettingsIn, actor: ActorDep, services: ServicesDep) -> Json:
    return await services.moments.update_settings(actor, body)


@router.put("/permissions/{friend_id}", summary="Per-friend Moments permissions")
async def set_permissions(
    friend_id: str, body: PermissionsIn, actor: ActorDep, services: ServicesDep
) -> Json:
    return await services.moments.set_permissions(actor, friend_id, body)
