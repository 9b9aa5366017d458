"""Moments pages through their forms: the feed shows only what each friend may see, the composer
posts with an audience (labels frozen or followed, a scheduled change, reminders), the check
panel (count, labels, sensitive labels, personal data, image metadata) informs and never blocks,
likes and comments (the post's author removes any comment), "edited", governance labels and
holds, per-friend permissions, the history window, "preview as", notifications, a limited
account that reads but cannot post, CSRF, and the same 404 for a post one may not see."""

from __future__ import annotations

import io
import re
from typing import Any

from PIL import Image

from courtyard.container import Services
from courtyard.core.clock import FakeClock
from courtyard.governance.model import AccountState
from tests.accounts._helpers import set_state
from tests.web.conftest import Browser, BrowserFactory, csrf_of
from tests.web.test_chats_pages import _befriend, _people

_POSTED = re.compile(r"^/moments\?done=posted#post-([0-9A-Z]{26})$")


def _friend_id(page: str, name: str) -> str:
    match = re.search(r'name="accounts" value="([0-9A-Z]{26})"> ' + name + "<", page)
    assert match, f"{name} is not among the composer's friends"
    return match.group(1)


def _label_id(page: str, name: str) -> str:
    match = re.search(r'name="labels" value="([0-9A-Z]{26})"> ' + name + " ", page)
    assert match, f"no label {name} in the composer"
    return match.group(1)


async def _label(owner: Browser, name: str, *members: str) -> str:
    """Create a label on the contacts page and put the named friends in it."""
    created = await owner.submit("/contacts", "/contacts/labels", {"name": name})
    assert created.status_code == 303, created.text[:2000]
    composer = await owner.page("/moments/new")
    label_id = _label_id(composer, name)
    for member in members:
        friend_id = _friend_id(composer, member)
        saved = await owner.submit(
            "/contacts", f"/contacts/friends/{friend_id}", {"remark": "", "label_ids": [label_id]}
        )
        assert saved.status_code == 303, saved.text[:2000]
    return label_id


async def _post(author: Browser, text: str, **fields: Any) -> str:
    posted = await author.submit("/moments/new", "/moments/posts", {"text": text, **fields})
    assert posted.status_code == 303, posted.text[:3000]
    match = _POSTED.match(posted.headers["location"])
    assert match, posted.headers["location"]
    return match.group(1)


def _texts(page: str) -> list[str]:
    return re.findall(r'<p class="post-text">([^<]*)</p>', page)


async def _circle(browser: BrowserFactory) -> tuple[Browser, Browser, Browser]:
    """Alice is friends with Bob and Carol (who are not friends with each other)."""
    alice, bob, carol = await _people(browser, "alice", "bob", "carol")
    await _befriend(alice, bob, "bob")
    await _befriend(alice, carol, "carol")
    return alice, bob, carol


async def test_feed_and_composer_with_a_label_audience(browser: BrowserFactory) -> None:
    alice, bob, carol = await _circle(browser)
    work = await _label(alice, "Work", "Bob")

    composer = await alice.page("/moments/new")
    assert '<a href="/moments" aria-current="page">Moments</a>' in composer  # the main nav
    assert "People who will see this post: 2" in composer  # all friends, before any choice
    assert "Keep the people in the labels now" in composer
    assert "Follow the labels" in composer
    assert 'hx-post="/moments/check"' in composer

    # The check panel as htmx asks for it when the picker changes.
    token = csrf_of(composer)
    panel = await alice.http.post(
        "/moments/check",
        data={"csrf_token": token, "kind": "only", "labels": work, "text": "Offsite"},
        headers={"HX-Request": "true"},
    )
    assert panel.status_code == 200
    assert panel.text.lstrip().startswith('<section id="check-panel"')
    assert "People who will see this post: 1" in panel.text
    assert "Labels included: Work" in panel.text
    assert "The labels are fixed" in panel.text
    follow = await alice.http.post(
        "/moments/check",
        data={"csrf_token": token, "kind": "except", "labels": work, "mode": "follow"},
        headers={"HX-Request": "true"},
    )
    assert "People who will see this post: 1" in follow.text  # Carol
    assert "Labels included" not in follow.text  # nobody in Work sees it
    assert "The labels are followed" in follow.text
    nothing = await alice.http.post(
        "/moments/check", data={"csrf_token": token, "kind": "only"}, headers={"HX-Request": "true"}
    )
    assert "Choose at least one label or friend for this audience." in nothing.text

    await _post(alice, "Hello everyone <3")
    post_id = await _post(alice, "Offsite on Friday", kind="only", labels=work)
    private_id = await _post(alice, "Note to self", kind="private")

    bob_feed = await bob.page("/moments")
    assert _texts(bob_feed) == ["Offsite on Friday", "Hello everyone &lt;3"]
    assert "Shared with" not in bob_feed  # only the author learns the audience
    carol_feed = await carol.page("/moments")
    assert _texts(carol_feed) == ["Hello everyone &lt;3"]
    mine = await alice.page("/moments")
    assert _texts(mine) == ["Note to self", "Offsite on Friday", "Hello everyone &lt;3"]
    assert "Shared with: Only Work (labels as they were when posted)" in mine
    assert "Shared with: Only me" in mine

    for person, hidden in ((carol, post_id), (bob, private_id)):
        response = await person.get(f"/moments/posts/{hidden}")
        assert response.status_code == 404
        assert "No such post." in response.text
        assert "post_not_found" in response.text
        assert "Offsite" not in response.text
        assert "Note to self" not in response.text
    assert (await carol.get("/moments/posts/01ARZ3NDEKTSV4RRFFQ69G5FAV")).status_code == 404
    assert (await carol.get("/moments/posts/not-an-id")).status_code == 404
    detail = await bob.page(f"/moments/posts/{post_id}")
    assert "Offsite on Friday" in detail
    assert "Post by Alice" in detail


async def test_older_posts_page_back(browser: BrowserFactory, clock: FakeClock) -> None:
    alice, bob, _carol = await _circle(browser)
    for n in range(22):
        await _post(alice, f"post {n:02d}")
        clock.advance(seconds=1)
    newest = await bob.page("/moments")
    assert _texts(newest)[0] == "post 21"
    assert "post 01" not in newest
    older = re.search(r'href="/moments\?before=([0-9A-Z]{26})"', newest)
    assert older
    page = await bob.page(f"/moments?before={older.group(1)}")
    assert _texts(page) == ["post 01", "post 00"]
    assert "Back to the newest posts" in page


async def test_the_check_warns_and_never_blocks(browser: BrowserFactory) -> None:
    alice, bob, _carol = await _circle(browser)
    family = await _label(alice, "Family", "Bob")
    saved = await alice.submit(
        "/moments/settings", "/moments/settings", {"window": "all", "sensitive_labels": family}
    )
    assert saved.headers["location"] == "/moments/settings?done=settings_saved"
    settings = await alice.page("/moments/settings?done=settings_saved")
    assert "Moments settings saved." in settings
    assert f'value="{family}" checked' in settings

    # The "Check" button without JavaScript: the whole composer comes back with the panel.
    text = "Call me on 13812345678 about the party"
    checked = await alice.submit("/moments/new", "/moments/check", {"text": text})
    assert checked.status_code == 200
    page = checked.text
    assert "People who will see this post: 2" in page
    assert "Labels included: Family" in page
    assert "People in “Family” will see this post. You marked this label as sensitive." in page
    assert "The text contains a phone number (" in page
    assert 'data-kind="personal_data"' in page
    assert "13812345678" in page  # still in the draft, nothing was lost
    assert "it never stops you from posting" in page

    post_id = await _post(alice, text)  # posting is not blocked
    seen = await bob.page(f"/moments/posts/{post_id}")
    assert 'data-label="personal_data"' in seen
    assert "This post contains personal data." in seen


def _jpeg_with_location() -> bytes:
    image = Image.new("RGB", (800, 600), "teal")
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    exif[0x8825] = {1: "N", 2: (1.0, 2.0, 3.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


async def test_photos_upload_keep_the_draft_and_show_to_the_audience_only(
    browser: BrowserFactory,
) -> None:
    alice, bob, carol = await _circle(browser)
    composer = await alice.page("/moments/new")
    bob_id = _friend_id(composer, "Bob")
    uploaded = await alice.http.post(
        "/moments/new/images",
        data={
            "csrf_token": csrf_of(composer),
            "text": "Beach day",
            "kind": "only",
            "accounts": bob_id,
        },
        files={"image": ("beach.jpg", _jpeg_with_location(), "image/jpeg")},
    )
    assert uploaded.status_code == 200, uploaded.text[:2000]
    page = uploaded.text
    assert "Photo 1" in page
    assert "Beach day" in page  # the draft survived the upload
    assert f'name="accounts" value="{bob_id}" checked' in page
    assert (
        "Removed from photo 1: camera details (EXIF), the location where it was taken (GPS)."
        in page
    )
    assert "People who will see this post: 1" in page
    (image_id,) = re.findall(r'name="image_ids" value="([0-9A-Z]{26})"', page)

    nothing = await alice.http.post(
        "/moments/new/images", data={"csrf_token": csrf_of(page), "image_ids": image_id}
    )
    assert nothing.status_code == 422
    assert "Choose an image file." in nothing.text
    not_an_image = await alice.http.post(
        "/moments/new/images",
        data={"csrf_token": csrf_of(page)},
        files={"image": ("notes.jpg", b"not an image", "image/jpeg")},
    )
    assert not_an_image.status_code == 422
    assert "The file is not an image we can read." in not_an_image.text
    removed = await alice.http.post(
        "/moments/new/images",
        data={"csrf_token": csrf_of(page), "image_ids": image_id, "remove_image": image_id},
    )
    assert 'name="image_ids"' not in removed.text

    post_id = await _post(
        alice, "Beach day", kind="only", accounts=bob_id, image_ids=image_id, location="Sanya"
    )
    feed = await bob.page("/moments")
    thumb = f"/api/v1/moments/posts/{post_id}/images/{image_id}?thumb=true"
    assert f'src="{thumb}"' in feed
    assert "Location: Sanya" in feed
    image = await bob.get(thumb)
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    assert not Image.open(io.BytesIO(image.content)).getexif()
    assert (await carol.get(thumb)).status_code == 404


async def test_likes_comments_replies_and_the_author_removes_a_comment(
    browser: BrowserFactory,
) -> None:
    alice, bob, carol = await _circle(browser)
    post_id = await _post(alice, "Dumplings tonight")
    detail = f"/moments/posts/{post_id}"

    liked = await bob.submit("/moments", f"{detail}/like", {"on": "1", "back": "/moments"})
    assert liked.headers["location"] == f"/moments?done=liked#post-{post_id}"
    commented = await bob.submit("/moments", f"{detail}/comments", {"text": "Count me in!"})
    assert commented.headers["location"] == f"{detail}?done=commented#post-{post_id}"
    # Carol likes through htmx: only the post comes back.
    fragment = await carol.submit("/moments", f"{detail}/like", {"on": "1"}, htmx=True)
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith(f'<article class="card post" id="post-{post_id}"')
    assert "Liked." in fragment.text
    assert 'aria-pressed="true"' in fragment.text

    # Alice sees both; Carol is not Bob's friend, so she sees neither Bob's like nor comment.
    mine = await alice.page(detail)
    assert re.search(r"♥ </span>(Bob, Carol|Carol, Bob)</p>", mine)
    assert "Count me in!" in mine
    theirs = await carol.page(detail)
    assert "♥ </span>Carol</p>" in theirs
    assert "Count me in!" not in theirs

    comment_id = re.search(r'id="comment-([0-9A-Z]{26})"', mine)
    assert comment_id
    reply = await alice.submit(
        detail, f"{detail}/comments", {"text": "Bring a friend", "reply_to_id": comment_id.group(1)}
    )
    assert reply.status_code == 303
    assert "replying to Bob" in await bob.page(detail)

    notes = await alice.page("/moments/notifications")
    assert "Bob liked your post." in notes
    assert "Bob commented on your post." in notes
    assert "Bob replied" not in notes
    assert "Alice replied to your comment." in await bob.page("/moments/notifications")

    # Alice removes Bob's comment from her post; Bob is told. Carol may delete nothing here.
    delete = f"{detail}/comments/{comment_id.group(1)}/delete"
    assert delete in mine
    assert delete not in theirs
    forged = await carol.submit(detail, delete)
    assert forged.status_code == 404
    assert "comment_not_found" in forged.text
    removed = await alice.submit(detail, delete)
    assert removed.headers["location"] == f"{detail}?done=comment_deleted#post-{post_id}"
    assert "Count me in!" not in await alice.page(detail)
    assert "Alice removed your comment from their post." in await bob.page("/moments/notifications")

    unliked = await bob.submit(detail, f"{detail}/like", {"on": "0"})
    assert unliked.status_code == 303
    assert "♥ </span>Carol</p>" in await alice.page(detail)


async def test_edited_marker_labels_and_holds_show_on_the_post(
    browser: BrowserFactory, services: Services
) -> None:
    alice, bob, _carol = await _circle(browser)
    post_id = await _post(alice, "Meet at 7")
    detail = f"/moments/posts/{post_id}"
    assert "Edit the text" not in await bob.page(detail)
    edited = await alice.submit(detail, f"{detail}/edit", {"text": "Meet at 8"})
    assert edited.headers["location"] == f"{detail}?done=post_edited"
    seen = await bob.page("/moments")
    assert "Meet at 8" in seen
    assert '<span class="tag edited"' in seen
    assert (await bob.submit(detail, f"{detail}/edit", {"text": "hijack"})).status_code == 404

    await _post(alice, "兼职日结，稳赚不赔，私聊我")
    labelled = await bob.page("/moments")
    assert "Take care: this post reads like a money or investment scam." in labelled
    bob.http.headers["accept-language"] = "zh-CN"
    assert "请注意：此动态看起来像资金或投资诈骗。" in await bob.page("/moments")

    await services.governance.put_pack(None, HOLD_PACK, note="test")
    held = await alice.submit("/moments/new", "/moments/posts", {"text": "a zorblax sale"})
    assert held.status_code == 422
    assert "policy_held" in held.text
    assert "Read the notice" in held.text
    notice = re.search(r'href="/notices/([0-9A-Z]{26})"', held.text)
    assert notice
    feed = await alice.page("/moments")
    assert "Your posts that were not published" in feed
    assert "Pending review" in feed
    assert f'href="/notices/{notice.group(1)}"' in feed
    assert "zorblax" not in await bob.page("/moments")


HOLD_PACK = """\
[pack]
id = "words"

[lists.bad]
category = "spam"
entries = ["zorblax"]

[[rules]]
id = "words.zorblax"
events = ["post"]
when = "lists.bad.hit"
action = "hold"
policy = "community-guidelines#spam"
reason = { en = "Posts about zorblax are reviewed first.", zh = "有关 zorblax 的动态需先审核。" }
examples = { match = ["a zorblax today"] }
"""


async def test_permissions_window_and_schedule_change_what_friends_see(
    browser: BrowserFactory, clock: FakeClock
) -> None:
    alice, bob, carol = await _circle(browser)
    await _post(alice, "Morning run")
    composer = await alice.page("/moments/new")
    bob_id = _friend_id(composer, "Bob")
    carol_id = _friend_id(composer, "Carol")

    listing = await alice.page("/moments/settings/friends")
    assert f'id="friend-{bob_id}"' in listing
    hide = await alice.submit(
        "/moments/settings/friends",
        f"/moments/settings/friends/{bob_id}",
        {"hide_my_moments": "on"},
    )
    assert hide.headers["location"] == (
        f"/moments/settings/friends?done=permissions_saved#friend-{bob_id}"
    )
    assert re.search(
        rf'action="/moments/settings/friends/{bob_id}".*?name="hide_my_moments" checked',
        await alice.page("/moments/settings/friends"),
        re.S,
    )
    assert _texts(await bob.page("/moments")) == []
    assert _texts(await carol.page("/moments")) == ["Morning run"]
    await alice.submit("/moments/settings/friends", f"/moments/settings/friends/{bob_id}", {})
    assert _texts(await bob.page("/moments")) == ["Morning run"]

    # Carol hides Alice's posts from her own feed; the post itself stays readable to her.
    composer_c = await carol.page("/moments/new")
    alice_id = _friend_id(composer_c, "Alice")
    await carol.submit(
        "/moments/settings/friends",
        f"/moments/settings/friends/{alice_id}",
        {"hide_their_moments": "on"},
    )
    assert _texts(await carol.page("/moments")) == []
    refused = await carol.submit(
        "/moments/settings/friends", f"/moments/settings/friends/{bob_id}", {"chat_only": "on"}
    )
    assert refused.status_code == 404
    assert "No such friend." in refused.text

    # A scheduled change: all friends now, only me after a day.
    changing = await _post(alice, "Party pics", schedule_kind="private", schedule_hours="24")
    assert "Party pics" in await bob.page("/moments")
    mine = await alice.page(f"/moments/posts/{changing}")
    assert re.search(r"From [^<]*: Only me", mine)
    clock.advance(hours=25)
    assert "Party pics" not in await bob.page("/moments")
    assert (await bob.get(f"/moments/posts/{changing}")).status_code == 404

    # The history window: friends see three days back.
    await alice.submit("/moments/settings", "/moments/settings", {"window": "3d"})
    clock.advance(days=3)
    assert _texts(await bob.page("/moments")) == []
    assert "Morning run" in await alice.page("/moments")
    assert carol_id


async def test_preview_as_and_a_friends_page(browser: BrowserFactory) -> None:
    alice, bob, carol = await _circle(browser)
    await _post(alice, "For everyone")
    composer = await alice.page("/moments/new")
    bob_id, carol_id = _friend_id(composer, "Bob"), _friend_id(composer, "Carol")
    await _post(alice, "Just Carol", kind="only", accounts=carol_id)

    chooser = await alice.get(f"/moments/preview?friend={bob_id}")
    assert chooser.headers["location"] == f"/moments/preview/{bob_id}"
    as_bob = await alice.page(f"/moments/preview/{bob_id}")
    assert "Preview as Bob" in as_bob
    assert _texts(as_bob) == ["For everyone"]
    assert "/like" not in as_bob  # a preview has no buttons
    as_carol = await alice.page(f"/moments/preview/{carol_id}")
    assert _texts(as_carol) == ["Just Carol", "For everyone"]
    assert 'name="friend"' in await alice.page("/moments/settings")
    stranger = await bob.get(f"/moments/preview/{carol_id}")  # not Bob's friend
    assert stranger.status_code == 404
    assert "friend_not_found" in stranger.text

    profile = await carol.page(
        f"/moments/people/{_friend_id(await carol.page('/moments/new'), 'Alice')}"
    )
    assert "Moments of Alice" in profile
    assert _texts(profile) == ["Just Carol", "For everyone"]
    assert (await carol.get("/moments/people/not-an-id")).status_code == 404


async def test_a_limited_account_reads_but_cannot_post(
    browser: BrowserFactory, services: Services
) -> None:
    alice, bob, _carol = await _circle(browser)
    post_id = await _post(alice, "Still readable")
    composer = await alice.page("/moments/new")
    bob_id = _friend_id(composer, "Bob")
    await set_state(services, bob_id, AccountState.LIMITED)

    feed = await bob.page("/moments")
    assert "Still readable" in feed
    assert 'id="cannot-post"' in feed
    assert f"/moments/posts/{post_id}/like" not in feed
    assert 'id="composer"' not in await bob.page("/moments/new")
    token = csrf_of(feed)
    refused = await bob.http.post("/moments/posts", data={"csrf_token": token, "text": "hi"})
    assert refused.status_code == 403
    assert "capability_denied" in refused.text
    assert "Your account cannot do this right now." in refused.text
    like = await bob.http.post(
        f"/moments/posts/{post_id}/like", data={"csrf_token": token, "on": "1"}
    )
    assert like.status_code == 403
    assert "capability_denied" in like.text
    assert "hi" not in _texts(await alice.page("/moments"))


async def test_forms_need_their_csrf_token_and_a_session(browser: BrowserFactory) -> None:
    alice, _bob, _carol = await _circle(browser)
    forged = await alice.http.post("/moments/posts", data={"text": "forged"})
    assert forged.status_code == 403
    assert "csrf_failed" in forged.text
    post_id = await _post(alice, "real")
    for path in (f"/moments/posts/{post_id}/like", "/moments/check", "/moments/settings"):
        assert (await alice.http.post(path, data={"on": "1"})).status_code == 403, path
    assert _texts(await alice.page("/moments")) == ["real"]
    anonymous = browser(ip="203.0.113.99")
    assert (await anonymous.get("/moments")).headers["location"] == "/login?next=/moments"


async def test_comments_close_and_bad_input_is_shown(
    browser: BrowserFactory, clock: FakeClock
) -> None:
    alice, bob, _carol = await _circle(browser)
    empty = await alice.submit("/moments/new", "/moments/posts", {"text": "  "})
    assert empty.status_code == 422
    assert "A post needs text or an image." in empty.text
    days = await alice.submit(
        "/moments/new", "/moments/posts", {"text": "x", "close_comments_after_days": "soon"}
    )
    assert days.status_code == 422
    assert "Enter a number of days." in days.text
    assert 'aria-invalid="true"' in days.text

    post_id = await _post(alice, "Quick poll", close_comments_after_days="1")
    clock.advance(days=2)
    page = await bob.page(f"/moments/posts/{post_id}")
    assert "Comments on this post are closed." in page
    late = await bob.submit("/moments", f"/moments/posts/{post_id}/comments", {"text": "late"})
    assert late.status_code == 409
    assert "comments_closed" in late.text


async def test_moments_pages_in_chinese(browser: BrowserFactory) -> None:
    alice, bob, _carol = await _circle(browser)
    await _post(alice, "你好")
    bob.http.headers["accept-language"] = "zh-CN"
    feed = await bob.page("/moments")
    assert "朋友圈" in feed
    assert "Moments" not in feed
    composer = await bob.page("/moments/new")
    assert "能看到这条动态的人数：1" in composer
    refused = await bob.get("/moments/posts/01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert "没有这条动态。" in refused.text


async def test_the_author_changes_the_audience_and_reminds_friends(
    browser: BrowserFactory,
) -> None:
    alice, bob, carol = await _circle(browser)
    composer = await alice.page("/moments/new")
    bob_id, carol_id = _friend_id(composer, "Bob"), _friend_id(composer, "Carol")
    refused = await alice.submit(
        "/moments/new",
        "/moments/posts",
        {"text": "Secret plan", "kind": "only", "accounts": bob_id, "remind": carol_id},
    )
    assert refused.status_code == 422
    assert "You can remind only friends who will see the post." in refused.text
    assert f'name="remind" value="{carol_id}" checked' in refused.text  # the draft is kept

    post_id = await _post(alice, "Secret plan", kind="only", accounts=bob_id, remind=bob_id)
    assert "Alice reminded you to see a post." in await bob.page("/moments/notifications")
    detail = f"/moments/posts/{post_id}"
    page = await alice.page(detail)
    assert "Reminded: Bob" in page
    assert f'name="accounts" value="{bob_id}" checked' in page  # the picker shows the audience
    assert "Change who can see it" not in await bob.page(detail)

    changed = await alice.submit(detail, f"{detail}/audience", {"kind": "friends"})
    assert changed.headers["location"] == f"{detail}?done=audience_changed"
    assert "Secret plan" in await carol.page("/moments")
    assert "Shared with: All friends" in await alice.page(detail)
    empty = await alice.submit(detail, f"{detail}/audience", {"kind": "except"})
    assert empty.status_code == 422
    assert "Choose at least one label or friend for this audience." in empty.text
    hijack = await bob.submit(detail, f"{detail}/audience", {"kind": "private"})
    assert hijack.status_code == 404
    await alice.submit(detail, f"{detail}/audience", {"kind": "private"})
    assert "Secret plan" not in await bob.page("/moments")

    deleted = await alice.submit(detail, f"{detail}/delete")
    assert deleted.headers["location"] == "/moments?done=post_deleted"
    assert (await alice.get(detail)).status_code == 404
