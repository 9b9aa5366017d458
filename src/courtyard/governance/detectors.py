"""Personal-data detectors: Chinese resident IDs, phones, bank cards, emails and street addresses.

These feed warnings and labels ("you are about to post a phone number publicly"), never a block
on their own, so they favour precision: every numeric hit is validated (ID check digit, Luhn,
calendar date, province code) and addresses need a street token *and* a house number.

They run on every event on public surfaces, so `detect_pii` returns at once unless the text
has a digit, an ``@``/``＠``, a bracketed "at" or a spelled "dot"; with digits, one compiled gate
(eight digits, a house number before a capitalised word, or a road token before a number)
decides whether the numeric and address detectors run at all.

What is recognised, deliberately:

- Resident ID (GB 11643-1999): 18 characters, a valid province code, a calendar date in
  1900..2099, the ISO 7064 MOD 11-2 check digit (``X`` in either case); groups 6-8-4 may be
  separated by single spaces. Never part of a longer digit run.
- Phones: Chinese mobiles ``1[3-9]x xxxx xxxx`` with an optional ``+86``/``0086``/``86`` prefix
  and space/``-``/``.`` separators in 3-4-4 groups; international numbers that start with ``+``
  and have 8-15 digits (space, ``-``, ``.`` and one parenthesised group allowed).
- Bank cards: 13-19 digits, contiguous or in groups of 3-6 split by one kind of separator
  (space or ``-``), Luhn valid, issuer plausible (first digit 3-6, or the old ICBC ``9558``).
- Email: ASCII local part and ASCII/punycode domain with a letter TLD. Obfuscations: a
  full-width ``＠``; a bracketed at ``(at)``/``[at]``/``{at}``/``<at>``; a bracketed dot
  ``(dot)``/``[dot]``/``(.)``/``[.]``; a spelled `` at `` only together with a spelled
  `` dot `` (``name at example dot com``), so "look at example.com" is not an address.
- Addresses: Chinese — a road token (路/街/大街/大道/巷/弄/胡同/里), Arabic digits and 号
  (or n 弄 n 号), optional building/unit/floor/room parts; the place name before the road
  token (at least 2, at most 24 ideographs, administrative units included) is taken by walking
  left until a function word such as 在/到/我/的 or a non-ideograph. English — house number,
  1-4 Capitalised words, a street suffix (Street/St/Avenue/Ave/Road/Rd/...), an optional
  compass direction and an optional ``Apt``/``Suite``/``Unit``/``#`` part. Lower-case English
  addresses and Chinese numerals (八十八号) are not recognised.

Digits are matched with ``\\d`` so full-width digits (１３８…) are caught too; spans always index
the original text.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class PiiKind(StrEnum):
    CN_RESIDENT_ID = "cn_resident_id"
    PHONE = "phone"
    BANK_CARD = "bank_card"
    EMAIL = "email"
    ADDRESS = "address"


@dataclass(frozen=True, slots=True)
class PiiHit:
    """One finding; ``masked`` is safe to show in a decision record or a notice."""

    kind: PiiKind
    start: int
    end: int
    masked: str


# --- prefilter -------------------------------------------------------------------------------

_HAS_DIGIT = re.compile(r"\d").search
# IDs, cards and phones all have at least 8 digits; most numbers in chat ("5pm") stop here.
_EIGHT_DIGITS = re.compile(r"\d(?:[ .\-()]{0,2}\d){7}").search
# An English address starts with a house number followed by a capitalised word.
_EN_ADDR_GATE = re.compile(r"\d[A-Za-z]?(?:-\d+)?\s+[A-Z]").search
# A Chinese address has a road token right before its house number.
_CN_ADDR_GATE = re.compile(r"[路街道巷弄同里]\s*\d").search
# One pass that any numeric finding needs: one of the three gates above.
_NUMERIC_GATE = re.compile(
    r"\d(?:[ .\-()]{0,2}\d){7}|\d[A-Za-z]?(?:-\d+)?\s+[A-Z]|[路街道巷弄同里]\s*\d"
).search
_OPEN_BRACKET = re.compile(r"[(\[{<]").search


def _may_hide_email(text: str) -> bool:
    """Cheap test for an obfuscated address: a bracketed "at" or a spelled "dot"."""
    if "@" in text or "＠" in text:
        return True
    lower = text.lower()
    return "dot" in lower or ("at" in lower and _OPEN_BRACKET(text) is not None)


# --- resident ID -----------------------------------------------------------------------------

_PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    | {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83}
)
_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"(?<!\d)(\d{6}) ?(\d{8}) ?(\d{3}[\dXx])(?![\dXx])")


def _digits(s: str) -> str:
    """ASCII digits of ``s`` (full-width and other decimal digits folded), separators dropped."""
    return "".join(str(int(c)) for c in s if c.isdecimal())


def resident_id_check_digit(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits of a resident ID."""
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def _valid_resident_id(value: str) -> bool:
    if int(value[:2]) not in _PROVINCES:
        return False
    year, month, day = int(value[6:10]), int(value[10:12]), int(value[12:14])
    if not 1900 <= year <= 2099:
        return False
    try:
        date(year, month, day)
    except ValueError:
        return False
    return resident_id_check_digit(value[:17]) == value[17].upper()


# --- bank cards ------------------------------------------------------------------------------

_CARD_RE = re.compile(r"(?<!\d)(?<!\d[ -])\d(?:[ -]?\d){12,18}(?![ -]?\d)")
_CARD_GROUPS = re.compile(r"\d+")
_NUMBER_RUN = re.compile(r"\d+")


def luhn_valid(number: str) -> bool:
    """Luhn (mod 10) check over a string of ASCII digits."""
    total = 0
    for i, c in enumerate(reversed(number)):
        d = ord(c) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _valid_card(raw: str) -> str | None:
    seps = {c for c in raw if c in " -"}
    if len(seps) > 1:
        return None
    if seps:
        groups = _CARD_GROUPS.findall(raw)
        if any(not 3 <= len(g) <= 6 for g in groups[:-1]) or not 1 <= len(groups[-1]) <= 7:
            return None
    digits = _digits(raw)
    if not (digits[0] in "3456" or digits.startswith("9558")):
        return None
    return digits if luhn_valid(digits) else None


# --- phones ----------------------------------------------------------------------------------

_CN_PHONE_RE = re.compile(
    r"(?<![\d+])(?:(?:\+|00)?86[ -]?)?([1１][3-9３-９]\d)([ .-]?)(\d{4})\2(\d{4})(?!\d|\.\d)"
)
_INTL_PHONE_RE = re.compile(
    r"(?<![0-9A-Za-z_+])\+\d{1,3}(?:[ .-]?(?:\(\d{1,4}\)|\d{1,5})){1,6}(?!\d|\.\d|[ .-]\d)"
)

# --- email -----------------------------------------------------------------------------------

_LOCAL = r"[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
_AT = r"(?:[@＠]|\s*[(\[{<]\s*at\s*[)\]}>]\s*|\s+at\s+)"
_DOT = r"(?:\.|\s*[(\[{<]\s*(?:dot|\.)\s*[)\]}>]\s*|\s+dot\s+)"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL_RE = re.compile(
    rf"(?<![A-Za-z0-9._%+-])({_LOCAL})({_AT})((?:{_LABEL}{_DOT})+)([A-Za-z]{{2,24}}|xn--[A-Za-z0-9-]{{2,59}})(?![A-Za-z0-9-])",
    re.IGNORECASE,
)
_DOT_SPLIT = re.compile(_DOT, re.IGNORECASE)
_SPELLED_DOT = re.compile(r"\s+dot\s+", re.IGNORECASE)

# --- addresses -------------------------------------------------------------------------------

# Characters that end a Chinese place name: function words that precede addresses in
# sentences ("我家在…", "去…") and would otherwise be swallowed into the span.
_CN_STOP = "在是到去住我你他她它们的了址从往来和与及或为于把被这那条就都也还要想逛走过"
_CN_STOP_SET = frozenset(_CN_STOP)
# The anchor: a road token, a house number and 号, then building/unit/floor/room parts. The
# place name is then taken by walking left over ideographs (at most _CN_NAME_MAX), which is
# linear; a regex with nested optional administrative units backtracks exponentially.
_CN_ADDR_CORE = re.compile(
    r"(?:路|大街|街|大道|巷|弄|胡同|里)"
    r"\s*\d{1,5}(?:\s*[-－]\s*\d{1,4})?\s*(?:弄\s*\d{1,4}\s*)?号(?!线|码|文件|令|球员|选手)"
    r"(?:\s*(?:\d{1,4}\s*(?:号楼|栋|幢|座|单元|楼|层|室|号)|[A-Za-z]\d{0,4}\s*(?:座|栋|室)))*"
)
_CN_NAME_MIN = 2  # "中山路3号" yes, "逛街3号" no
_CN_NAME_MAX = 24


def _cn_name_start(text: str, end: int, floor: int) -> int:
    """Start of the run of place-name ideographs ending at ``end`` (not before ``floor``)."""
    i = end
    lowest = max(floor, end - _CN_NAME_MAX)
    while i > lowest and "\u4e00" <= text[i - 1] <= "\u9fff" and text[i - 1] not in _CN_STOP_SET:
        i -= 1
    return i


_EN_SUFFIX = (
    r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|"
    r"Terrace|Ter|Parkway|Pkwy|Highway|Hwy|Square|Sq|Way|Crescent|Close|Row|Alley"
)
_EN_ADDR_RE = re.compile(
    r"(?<![\w.,-])\d{1,6}[A-Za-z]?(?:-\d{1,4})?\s+"
    r"(?:(?:[NSEW]\.?|North|South|East|West)\s+)?"
    r"(?:[A-Z][a-z]+|[A-Z]{2,}|\d{1,3}(?:st|nd|rd|th))(?:\s+(?:[A-Z][a-z]+|[A-Z]{2,})){0,3}?\s+"
    rf"(?:{_EN_SUFFIX})\b\.?"
    r"(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b\.?)?"
    r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Flat|Room|#)\.?\s*#?[A-Za-z0-9-]{1,6}\b)?"
)

# --- masking ---------------------------------------------------------------------------------


def _mask_id(v: str) -> str:
    return v[:6] + "*" * 8 + v[14:].upper()


def _mask_phone(digits: str) -> str:
    keep_head = 3 if len(digits) == 11 else min(4, len(digits) // 3)
    return digits[:keep_head] + "*" * (len(digits) - keep_head - 4) + digits[-4:]


def _mask_card(digits: str) -> str:
    middle = "*" * (len(digits) - 8)
    masked = digits[:4] + middle + digits[-4:]
    return " ".join(masked[i : i + 4] for i in range(0, len(masked), 4))


def _mask_email(local: str, domain: str) -> str:
    return f"{local[0]}***@{domain.lower()}"


def _mask_address(s: str) -> str:
    """Hide every number (house, building, room); the street alone does not locate anyone."""
    return _NUMBER_RUN.sub("***", s)


# --- detection -------------------------------------------------------------------------------

_ALL = frozenset(PiiKind)
_NUMERIC = (PiiKind.CN_RESIDENT_ID, PiiKind.BANK_CARD, PiiKind.PHONE)


def detect_pii(text: str, kinds: Collection[PiiKind] | None = None) -> list[PiiHit]:
    """All personal-data findings in ``text``, ordered by position, never overlapping.

    Overlaps are resolved by priority ID > bank card > email > phone > address, so an ID or a
    card number is never also reported as a phone, and ``13812345678@qq.com`` is one email.
    Higher-priority detectors still run (for suppression) when ``kinds`` leaves them out.
    """
    if not text:
        return []
    has_digit = _HAS_DIGIT(text) is not None and _NUMERIC_GATE(text) is not None
    if not has_digit and not _may_hide_email(text):
        return []
    want = _ALL if kinds is None else frozenset(kinds)
    hits = _Hits()
    numeric = has_digit and not want.isdisjoint(_NUMERIC) and _EIGHT_DIGITS(text) is not None
    if numeric:
        _ids_and_cards(text, hits)
    if PiiKind.EMAIL in want and _may_hide_email(text):
        _emails(text, hits)
    if numeric:
        _phones(text, hits)
    if has_digit and PiiKind.ADDRESS in want:
        _addresses(text, hits)
    if not hits.found:
        return []
    found = [h for h in hits.found if h.kind in want]
    found.sort(key=lambda h: h.start)
    return found


class _Hits:
    """Accepted hits so far; a later (lower-priority) hit overlapping one is dropped."""

    __slots__ = ("found",)

    def __init__(self) -> None:
        self.found: list[PiiHit] = []

    def add(self, kind: PiiKind, start: int, end: int, masked: str) -> None:
        for h in self.found:
            if start < h.end and h.start < end:
                return
        self.found.append(PiiHit(kind, start, end, masked))


def _ids_and_cards(text: str, hits: _Hits) -> None:
    for m in _ID_RE.finditer(text):
        raw = m.group(1) + m.group(2) + m.group(3)
        value = _digits(raw[:17]) + ("X" if raw[17] in "Xx" else _digits(raw[17]))
        if _valid_resident_id(value):
            hits.add(PiiKind.CN_RESIDENT_ID, m.start(), m.end(), _mask_id(value))
    for m in _CARD_RE.finditer(text):
        card = _valid_card(m.group())
        if card is not None:
            hits.add(PiiKind.BANK_CARD, m.start(), m.end(), _mask_card(card))


def _emails(text: str, hits: _Hits) -> None:
    for m in _EMAIL_RE.finditer(text):
        dots = m.group(3)
        if m.group(2).strip().lower() == "at" and not _SPELLED_DOT.search(dots):
            continue  # "look at example.com" is a sentence, not an address
        labels = [p for p in _DOT_SPLIT.split(dots) if p]
        domain = ".".join([*labels, m.group(4)])
        hits.add(PiiKind.EMAIL, m.start(), m.end(), _mask_email(m.group(1), domain))


def _phones(text: str, hits: _Hits) -> None:
    for m in _CN_PHONE_RE.finditer(text):
        digits = _digits(m.group(1) + m.group(3) + m.group(4))
        hits.add(PiiKind.PHONE, m.start(), m.end(), _mask_phone(digits))
    for m in _INTL_PHONE_RE.finditer(text):
        raw = m.group()
        digits = _digits(raw)
        if 8 <= len(digits) <= 15 and raw.count("(") <= 1:
            hits.add(PiiKind.PHONE, m.start(), m.end(), "+" + _mask_phone(digits))


def _addresses(text: str, hits: _Hits) -> None:
    if "号" in text and _CN_ADDR_GATE(text) is not None:
        floor = 0
        for m in _CN_ADDR_CORE.finditer(text):
            start = _cn_name_start(text, m.start(), floor)
            floor = m.end()
            if m.start() - start < _CN_NAME_MIN:
                continue
            s = text[start : m.end()].rstrip()
            hits.add(PiiKind.ADDRESS, start, start + len(s), _mask_address(s))
    if _EN_ADDR_GATE(text) is not None:
        for m in _EN_ADDR_RE.finditer(text):
            hits.add(PiiKind.ADDRESS, m.start(), m.end(), _mask_address(m.group()))
