"""The contacts export: vCard 4.0 and CSV files that survive any name, and a download that works
in every account state but deleted, with nothing in it that the owner may not see."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from courtyard.client import ApiError, CourtyardClient
from courtyard.contacts import service as contacts_service
from courtyard.contacts.export import (
    CSV_COLUMNS,
    ExportedContact,
    ExportFormat,
    account_url,
    contact_uid,
    fold,
    render,
    render_csv,
    render_vcard,
)
from courtyard.container import Services
from courtyard.governance.model import AccountState
from tests.accounts._helpers import assert_error, raw, set_state
from tests.conftest import ClientFactory, UserFactory

SERVER = "https://chat.example.org/"
SINCE = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


# ---- a small vCard reader (RFC 6350: unfold, split, unescape) ------------------------------


def physical_lines(text: str) -> list[str]:
    """The file's lines, checking that every one ends in CRLF and fits in 75 octets."""
    if not text:
        return []
    assert text.endswith("\r\n")
    lines = text.split("\r\n")[:-1]
    for line in lines:
        assert "\n" not in line
        assert "\r" not in line
        assert len(line.encode()) <= 75, line
    return lines


def unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def split_list(value: str) -> list[str]:
    """A text-list value (CATEGORIES, NICKNAME): split on unescaped commas."""
    return [unescape(part) for part in re.findall(r"(?:\\.|[^,\\])+", value)]


def parse_vcards(text: str) -> list[dict[str, list[str]]]:
    """Each card as property name -> raw values (still escaped)."""
    logical: list[str] = []
    for line in physical_lines(text):
        if line.startswith((" ", "\t")):
            logical[-1] += line[1:]
        else:
            logical.append(line)
    cards: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] | None = None
    for line in logical:
        head, sep, value = line.partition(":")
        assert sep, line
        name = head.split(";")[0].upper()
        if name == "BEGIN":
            assert (value, current) == ("VCARD", None)
            current = {}
        elif name == "END":
            assert value == "VCARD"
            assert current is not None
            cards.append(current)
            current = None
        else:
            assert current is not None, line
            current.setdefault(name, []).append(value)
    assert current is None
    return cards


def text_of(card: dict[str, list[str]], name: str) -> str | None:
    values = card.get(name)
    if values is None:
        return None
    (value,) = values
    return unescape(value)


def parse_csv(text: str) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    return [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]]


def split_labels(cell: str) -> list[str]:
    if not cell:
        return []
    return [re.sub(r"\\(.)", r"\1", part) for part in re.findall(r"(?:\\.|[^;\\])+", cell)]


def guarded(value: str) -> str:
    return "'" + value if value[:1] in {"=", "+", "-", "@", "\t", "\r"} else value


# ---- the renderer --------------------------------------------------------------------------

TRICKY = ExportedContact(
    account_id="01JAAAAAAAAAAAAAAAAAAAAAAA",
    handle="wang_xiaoming",
    display_name='王小明, Jr.; \\the "one"',
    bio="第一行：你好，世界；\n" + "很长的一行" * 30 + "\nline, three; with \\ and 🙂🙂🙂",
    remark="小明 (college; class of 2020, Beijing)",
    labels=("同学, 大学", "Work;Beijing", "back\\slash"),
    friends_since=SINCE,
)


def test_vcard_round_trips_commas_semicolons_newlines_and_cjk() -> None:
    text = render_vcard([TRICKY], SERVER)
    (card,) = parse_vcards(text)
    assert card["VERSION"] == ["4.0"]
    assert text_of(card, "FN") == TRICKY.remark
    assert split_list(card["NICKNAME"][0]) == [TRICKY.display_name]
    assert text_of(card, "NOTE") == TRICKY.bio
    assert split_list(card["CATEGORIES"][0]) == list(TRICKY.labels)
    assert text_of(card, "X-COURTYARD-HANDLE") == "wang_xiaoming"
    assert text_of(card, "X-COURTYARD-ACCOUNT-ID") == TRICKY.account_id
    assert text_of(card, "X-COURTYARD-REMARK") == TRICKY.remark
    assert text_of(card, "X-COURTYARD-FRIENDS-SINCE") == "2026-03-04T05:06:07Z"
    assert card["IMPP"] == ["x-courtyard:wang_xiaoming@chat.example.org"]
    assert card["URL"] == [f"https://chat.example.org/api/v1/accounts/{TRICKY.account_id}"]
    assert card["UID"] == [contact_uid(SERVER, TRICKY.account_id)]
    assert card["UID"][0].startswith("urn:uuid:")


def test_long_lines_are_folded_without_splitting_utf8() -> None:
    text = render_vcard([TRICKY], SERVER)
    lines = physical_lines(text)
    assert any(line.startswith(" ") for line in lines), "the long NOTE was not folded"
    # Every physical line is valid UTF-8 by itself: no sequence was cut in two.
    for chunk in text.encode().split(b"\r\n"):
        chunk.decode("utf-8")
    # Folding fills lines: a folded line is close to the limit (a CJK char is 3 octets).
    note_start = next(i for i, line in enumerate(lines) if line.startswith("NOTE:"))
    assert len(lines[note_start].encode()) >= 73


@pytest.mark.parametrize(
    "line",
    ["a" * 75, "a" * 76, "é" * 100, "中" * 80, "🙂" * 40, "a" + "中" * 30 + "🙂" * 20],
)
def test_fold_keeps_characters_whole(line: str) -> None:
    folded = fold(line)
    parts = folded.split("\r\n")
    assert all(len(part.encode()) <= 75 for part in parts)
    assert all(part.startswith(" ") for part in parts[1:])
    assert parts[0] + "".join(part[1:] for part in parts[1:]) == line
    assert (len(parts) == 1) == (len(line.encode()) <= 75)


def test_a_friend_without_a_remark_is_named_by_their_display_name() -> None:
    plain = ExportedContact("01JBBBBBBBBBBBBBBBBBBBBBBB", "bob", "Bob", "", None, (), SINCE)
    (card,) = parse_vcards(render_vcard([plain], SERVER))
    assert text_of(card, "FN") == "Bob"
    for absent in ("NICKNAME", "NOTE", "CATEGORIES", "X-COURTYARD-REMARK"):
        assert absent not in card


def test_csv_round_trips_and_escapes_labels() -> None:
    text = render_csv([TRICKY], SERVER)
    assert text.startswith("\ufeffhandle,")
    assert "\r\n" in text
    (row,) = parse_csv(text)
    assert row["handle"] == "wang_xiaoming"
    assert row["display_name"] == TRICKY.display_name
    assert row["remark"] == TRICKY.remark
    assert row["bio"] == TRICKY.bio
    assert split_labels(row["labels"]) == list(TRICKY.labels)
    assert row["friends_since"] == "2026-03-04T05:06:07Z"
    assert row["account_id"] == TRICKY.account_id
    assert row["account_url"] == account_url(SERVER, TRICKY.account_id)


def test_csv_cells_never_start_a_formula() -> None:
    evil = ExportedContact(
        account_id="01JCCCCCCCCCCCCCCCCCCCCCCC",
        handle="mallory",
        display_name="=HYPERLINK(A1)",
        bio="@SUM(1,2)",
        remark="+1+1",
        labels=("-2", "ok"),
        friends_since=SINCE,
    )
    (row,) = parse_csv(render_csv([evil], SERVER))
    assert row["display_name"] == "'=HYPERLINK(A1)"
    assert row["bio"] == "'@SUM(1,2)"
    assert row["remark"] == "'+1+1"
    assert row["labels"] == "'-2;ok"
    assert row["handle"] == "mallory"
    # The vCard carries them unchanged: nothing evaluates a vCard.
    (card,) = parse_vcards(render_vcard([evil], SERVER))
    assert text_of(card, "NICKNAME") == "=HYPERLINK(A1)"


def test_rendered_file_names_and_types() -> None:
    now = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    vcard = render(ExportFormat.VCARD, [TRICKY], server_url=SERVER, owner_handle="me", now=now)
    assert (vcard.filename, vcard.media_type) == (
        "courtyard-contacts-me-20261127.vcf",
        "text/vcard; charset=utf-8",
    )
    table = render(ExportFormat.CSV, [], server_url=SERVER, owner_handle="me", now=now)
    assert (table.filename, table.media_type) == (
        "courtyard-contacts-me-20261127.csv",
        "text/csv; charset=utf-8",
    )
    assert parse_csv(table.content) == []
    assert render_vcard([], SERVER) == ""


# Stored text: no control characters but newline and tab (core.text), no surrogates.
_stored_text = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"), whitelist_characters="\n\t,;\\:\"'=+-@ 中🙂"
    ),
    max_size=120,
)
_single_line = _stored_text.map(lambda s: s.replace("\n", " "))


@settings(max_examples=200, deadline=None)
@given(
    display_name=_single_line.filter(bool),
    bio=_stored_text,
    remark=st.none() | _single_line.filter(bool),
    labels=st.lists(_single_line.filter(bool), max_size=4),
)
def test_any_stored_text_round_trips(
    display_name: str, bio: str, remark: str | None, labels: list[str]
) -> None:
    contact = ExportedContact(
        "01JDDDDDDDDDDDDDDDDDDDDDDD", "someone", display_name, bio, remark, tuple(labels), SINCE
    )
    (card,) = parse_vcards(render_vcard([contact], SERVER))
    assert text_of(card, "FN") == (remark or display_name)
    nickname = text_of(card, "NICKNAME")
    assert (nickname or text_of(card, "FN")) == display_name
    assert (text_of(card, "NOTE") or "") == bio
    assert text_of(card, "X-COURTYARD-REMARK") == remark
    assert (split_list(card["CATEGORIES"][0]) if labels else []) == labels

    (row,) = parse_csv(render_csv([contact], SERVER))
    assert row["display_name"] == guarded(display_name)
    assert row["bio"] == guarded(bio)
    assert row["remark"] == guarded(remark or "")
    cell = row["labels"]
    if labels and guarded(labels[0]) != labels[0]:  # the joined cell starts a formula
        assert cell.startswith("'")
        cell = cell[1:]
    assert split_labels(cell) == labels


# ---- the download --------------------------------------------------------------------------


def me(client: CourtyardClient) -> dict[str, str]:
    account: dict[str, str] = client.account  # type: ignore[attr-defined]
    return account


async def befriend(a: CourtyardClient, b: CourtyardClient) -> None:
    request = await a.send_friend_request(account_id=me(b)["id"])
    await b.accept_request(request["id"])


def handles_in_vcard(text: str) -> list[str]:
    return [text_of(card, "X-COURTYARD-HANDLE") or "" for card in parse_vcards(text)]


async def test_export_holds_friends_with_remarks_and_labels(make_user: UserFactory) -> None:
    alice = await make_user("alice", display_name="Alice")
    bob = await make_user("bob", display_name="Bob, the builder; 建筑师")
    carol = await make_user("carol", display_name="Carol")
    await bob.update_profile(bio="Builds things.\nFixes them too, mostly; 你好")
    await befriend(bob, alice)
    await befriend(alice, carol)
    work = await alice.create_label("Work, Beijing")
    climbing = await alice.create_label("攀岩")
    await alice.update_friend(
        me(bob)["id"], remark="Bob (site; B2)", label_ids=[work["id"], climbing["id"]]
    )
    # Bob's own remark and label for Alice are his, and never in Alice's file.
    secret = await bob.create_label("Secret label")
    await bob.update_friend(me(alice)["id"], remark="Bob's private note", label_ids=[secret["id"]])

    text = await alice.export_contacts("vcard")
    cards = {text_of(card, "X-COURTYARD-HANDLE"): card for card in parse_vcards(text)}
    assert list(cards) == ["bob", "carol"]  # by handle
    bob_card = cards["bob"]
    assert text_of(bob_card, "FN") == "Bob (site; B2)"
    assert text_of(bob_card, "NICKNAME") == "Bob, the builder; 建筑师"
    assert text_of(bob_card, "NOTE") == "Builds things.\nFixes them too, mostly; 你好"
    assert split_list(bob_card["CATEGORIES"][0]) == ["Work, Beijing", "攀岩"]
    assert bob_card["URL"] == [f"http://testserver/api/v1/accounts/{me(bob)['id']}"]
    assert bob_card["IMPP"] == ["x-courtyard:bob@testserver"]
    assert text_of(cards["carol"], "FN") == "Carol"
    assert "CATEGORIES" not in cards["carol"]

    rows = parse_csv(await alice.export_contacts("csv"))
    assert [row["handle"] for row in rows] == ["bob", "carol"]
    assert rows[0]["remark"] == "Bob (site; B2)"
    assert split_labels(rows[0]["labels"]) == ["Work, Beijing", "攀岩"]
    assert rows[0]["bio"] == "Builds things.\nFixes them too, mostly; 你好"
    # The link in the file leads to the friend's account.
    profile = await alice.request("GET", rows[0]["account_url"].removeprefix("http://testserver"))
    assert profile["handle"] == "bob"

    for exported in (text, await alice.export_contacts("csv")):
        assert "Secret label" not in exported
        assert "private note" not in exported


async def test_download_headers(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    await befriend(alice, bob)
    vcard = await raw(alice, "GET", "/api/v1/contacts/export", params={"format": "vcard"})
    assert vcard.status_code == 200
    assert vcard.headers["content-type"] == "text/vcard; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="courtyard-contacts-alice-\d{8}\.vcf"',
        vcard.headers["content-disposition"],
    )
    assert "no-store" in vcard.headers["cache-control"]
    assert vcard.content.startswith(b"BEGIN:VCARD\r\nVERSION:4.0\r\n")
    table = await raw(alice, "GET", "/api/v1/contacts/export", params={"format": "csv"})
    assert table.headers["content-type"] == "text/csv; charset=utf-8"
    assert table.headers["content-disposition"].endswith('.csv"')
    assert table.content.startswith(b"\xef\xbb\xbfhandle,display_name,")
    # vCard is the default format.
    default = await raw(alice, "GET", "/api/v1/contacts/export")
    assert default.content == vcard.content


async def test_bad_format_and_no_session(
    make_user: UserFactory, make_client: ClientFactory
) -> None:
    alice = await make_user("alice")
    for bad in ("pdf", "VCARD", ""):
        response = await raw(alice, "GET", "/api/v1/contacts/export", params={"format": bad})
        assert_error(response, 422, "invalid_input")
    anonymous = make_client()
    for fmt in ("vcard", "csv"):
        response = await raw(anonymous, "GET", "/api/v1/contacts/export", params={"format": fmt})
        assert_error(response, 401, "unauthenticated")
    with pytest.raises(ApiError) as err:
        await anonymous.export_contacts()
    assert err.value.status == 401


@pytest.mark.parametrize(
    "state", [AccountState.LIMITED, AccountState.SUSPENDED, AccountState.TERMINATED]
)
async def test_a_restricted_account_can_still_export(
    make_user: UserFactory, services: Services, state: AccountState
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    await befriend(alice, bob)
    await alice.update_friend(me(bob)["id"], remark="Bobby")
    await set_state(services, me(alice)["id"], state)
    if state is not AccountState.LIMITED:  # the restriction is in force...
        with pytest.raises(ApiError) as err:
            await alice.create_label("Anything")
        assert err.value.code == "capability_denied"
    # ...and the contacts still leave with their owner, in both formats.
    (card,) = parse_vcards(await alice.export_contacts("vcard"))
    assert text_of(card, "FN") == "Bobby"
    (row,) = parse_csv(await alice.export_contacts("csv"))
    assert (row["handle"], row["remark"]) == ("bob", "Bobby")


async def test_a_restricted_friend_is_still_a_contact(
    make_user: UserFactory, services: Services
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    await befriend(alice, bob)
    await set_state(services, me(bob)["id"], AccountState.TERMINATED)
    assert handles_in_vcard(await alice.export_contacts()) == ["bob"]


async def test_deleted_blocked_and_strangers_are_not_exported(
    make_user: UserFactory, services: Services
) -> None:
    alice = await make_user("alice")
    bob, carol, dave, erin, frank = [
        await make_user(handle) for handle in ("bob", "carol", "dave", "erin", "frank")
    ]
    for friend in (bob, carol, dave, erin):
        await befriend(alice, friend)
    await set_state(services, me(carol)["id"], AccountState.DELETED)  # a deleted friend
    await alice.block(me(dave)["id"])  # alice blocked a friend: the friendship ended
    await erin.block(me(alice)["id"])  # a friend blocked alice: the same
    await frank.send_friend_request(account_id=me(alice)["id"])  # only a request

    vcard = await alice.export_contacts("vcard")
    table = await alice.export_contacts("csv")
    assert handles_in_vcard(vcard) == ["bob"]
    assert [row["handle"] for row in parse_csv(table)] == ["bob"]
    for gone in (carol, dave, erin, frank):
        for exported in (vcard, table):
            assert me(gone)["id"] not in exported
            assert me(gone)["handle"] not in exported

    # A deleted account cannot export at all: its sessions no longer authenticate.
    await set_state(services, me(bob)["id"], AccountState.DELETED)
    response = await raw(bob, "GET", "/api/v1/contacts/export")
    assert response.status_code == 401


async def test_export_reads_every_batch(
    make_user: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contacts_service, "EXPORT_BATCH", 2)
    alice = await make_user("alice")
    friends = [await make_user(f"friend_{n}") for n in range(5)]
    label = await alice.create_label("All")
    for friend in friends:
        await befriend(friend, alice)
        await alice.update_friend(me(friend)["id"], label_ids=[label["id"]])
    expected = [f"friend_{n}" for n in range(5)]
    assert handles_in_vcard(await alice.export_contacts()) == expected
    rows = parse_csv(await alice.export_contacts("csv"))
    assert [row["handle"] for row in rows] == expected
    assert {row["labels"] for row in rows} == {"All"}
    assert parse_vcards(await (await make_user("loner")).export_contacts()) == []
