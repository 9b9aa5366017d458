"""The contacts export: a person's friends as a vCard 4.0 (RFC 6350) or a CSV file.

Pure rendering from plain values, no I/O: ``ContactsService.export_contacts`` reads the
friends in one read transaction and hands them here. The export is allowed in every account
state but deleted (``Capability.EXPORT``), so a restricted person can always take their
contacts with them.

What each contact carries, in both formats: the friend's handle, display name and bio, the
owner's private remark and labels for them, when they became friends, the account id, and
a link to the account on this server.

vCard: ``FN`` is the name the owner knows the friend by (their remark, else the friend's
display name), ``NICKNAME`` the friend's display name when it differs from ``FN``, ``NOTE``
their bio, ``CATEGORIES`` the owner's labels, ``IMPP`` an ``x-courtyard:handle@host`` address,
``URL`` the account on this server, ``UID`` a UUID derived from that URL (stable across
exports), and ``X-COURTYARD-*`` properties for what a Courtyard import needs verbatim. Text is
escaped (``\\ , ;`` and newlines), lines end in CRLF and are folded at 75 octets without
splitting a UTF-8 sequence.

CSV: one header row, then one row per friend; labels joined with ``;`` (a ``;`` or ``\\`` in a
label name is escaped with ``\\``); a cell that a spreadsheet would read as a formula (it
starts with ``= + - @``, a tab or a carriage return) is prefixed with a single quote. The file
starts with a UTF-8 byte-order mark so spreadsheet programs read CJK text correctly.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from urllib.parse import urlsplit

VCARD_MEDIA_TYPE = "text/vcard; charset=utf-8"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
PRODID = "-//Courtyard//Contacts export//EN"
FOLD_OCTETS = 75  # RFC 6350 §3.2: a line SHOULD NOT be longer than 75 octets (without CRLF)
CSV_COLUMNS = (
    "handle",
    "display_name",
    "remark",
    "labels",
    "friends_since",
    "account_id",
    "account_url",
    "bio",
)
# Cells a spreadsheet would evaluate (OWASP "CSV injection"): = + - @, and tab / CR, which
# some programs strip before looking at the first character.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ExportFormat(StrEnum):
    VCARD = "vcard"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class ExportedContact:
    """One friend as the owner of the export sees them."""

    account_id: str
    handle: str
    display_name: str
    bio: str
    remark: str | None
    labels: tuple[str, ...]  # the owner's label names on this friend, in the owner's order
    friends_since: datetime


@dataclass(frozen=True, slots=True)
class ExportFile:
    content: str
    media_type: str
    filename: str


# ---- links ---------------------------------------------------------------------------------


def account_url(server_url: str, account_id: str) -> str:
    """The account on this server (its public profile in the API)."""
    return f"{server_url.rstrip('/')}/api/v1/accounts/{account_id}"


def account_address(server_url: str, handle: str) -> str:
    """An ``x-courtyard:`` address for instant messaging (vCard ``IMPP``)."""
    host = urlsplit(server_url).netloc or "localhost"
    return f"x-courtyard:{handle}@{host}"


def contact_uid(server_url: str, account_id: str) -> str:
    """A UID that is the same in every export of this account from this server."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, account_url(server_url, account_id))}"


def timestamp(value: datetime) -> str:
    """ISO 8601 in UTC, to the second: ``2026-11-27T04:07:00Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- vCard ---------------------------------------------------------------------------------


def escape_text(value: str) -> str:
    """An RFC 6350 text value: backslash, comma, semicolon and newlines escaped."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\n", "\\n")


def fold(line: str) -> str:
    """Fold a content line into physical lines of at most 75 octets joined by CRLF + space,
    breaking only between characters (never inside a UTF-8 sequence)."""
    data = line.encode()
    if len(data) <= FOLD_OCTETS:
        return line
    parts: list[bytes] = []
    start, room = 0, FOLD_OCTETS
    while len(data) - start > room:
        cut = start + room
        while data[cut] & 0xC0 == 0x80:  # a continuation byte: cut before its lead byte
            cut -= 1
        parts.append(data[start:cut])
        start, room = cut, FOLD_OCTETS - 1  # a continuation line's leading space counts
    parts.append(data[start:])
    return b"\r\n ".join(parts).decode()


def _vcard(contact: ExportedContact, server_url: str) -> list[str]:
    name = contact.remark or contact.display_name or contact.handle
    lines = [
        "BEGIN:VCARD",
        "VERSION:4.0",
        f"PRODID:{PRODID}",
        f"UID:{contact_uid(server_url, contact.account_id)}",
        f"FN:{escape_text(name)}",
    ]
    if contact.display_name and contact.display_name != name:
        lines.append(f"NICKNAME:{escape_text(contact.display_name)}")
    if contact.bio:
        lines.append(f"NOTE:{escape_text(contact.bio)}")
    if contact.labels:
        lines.append("CATEGORIES:" + ",".join(escape_text(label) for label in contact.labels))
    lines += [
        f"IMPP:{account_address(server_url, contact.handle)}",
        f"URL:{account_url(server_url, contact.account_id)}",
        f"X-COURTYARD-HANDLE:{contact.handle}",
        f"X-COURTYARD-ACCOUNT-ID:{contact.account_id}",
    ]
    if contact.remark:
        lines.append(f"X-COURTYARD-REMARK:{escape_text(contact.remark)}")
    lines += [f"X-COURTYARD-FRIENDS-SINCE:{timestamp(contact.friends_since)}", "END:VCARD"]
    return lines


def render_vcard(contacts: Iterable[ExportedContact], server_url: str) -> str:
    """Every contact as one vCard 4.0 each, in one ``text/vcard`` stream (CRLF line ends)."""
    lines: list[str] = []
    for contact in contacts:
        lines += [fold(line) for line in _vcard(contact, server_url)]
    return "".join(line + "\r\n" for line in lines)


# ---- CSV -----------------------------------------------------------------------------------


def csv_cell(value: str) -> str:
    """A cell no spreadsheet evaluates: a leading = + - @ (or tab, CR) gets a single quote."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def join_labels(labels: Sequence[str]) -> str:
    """Label names joined with ``;``; a ``\\`` or ``;`` inside a name is escaped with ``\\``."""
    return ";".join(label.replace("\\", "\\\\").replace(";", "\\;") for label in labels)


def render_csv(contacts: Iterable[ExportedContact], server_url: str) -> str:
    """A header row and one row per contact, with a BOM and CRLF row ends (RFC 4180)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for contact in contacts:
        row = (
            contact.handle,
            contact.display_name,
            contact.remark or "",
            join_labels(contact.labels),
            timestamp(contact.friends_since),
            contact.account_id,
            account_url(server_url, contact.account_id),
            contact.bio,
        )
        writer.writerow([csv_cell(value) for value in row])
    return out.getvalue()


# ---- the file ------------------------------------------------------------------------------


def render(
    fmt: ExportFormat,
    contacts: Sequence[ExportedContact],
    *,
    server_url: str,
    owner_handle: str,
    now: datetime,
) -> ExportFile:
    """The export as a file to download, named after its owner and the day it was made."""
    stem = f"courtyard-contacts-{owner_handle}-{now.astimezone(UTC):%Y%m%d}"
    if fmt is ExportFormat.VCARD:
        return ExportFile(render_vcard(contacts, server_url), VCARD_MEDIA_TYPE, f"{stem}.vcf")
    return ExportFile(render_csv(contacts, server_url), CSV_MEDIA_TYPE, f"{stem}.csv")
