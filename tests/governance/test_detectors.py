"""Personal-data detectors: validated numbers are found, near misses and ordinary text are not."""

from __future__ import annotations

import re
import time
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from courtyard.governance.detectors import (
    PiiHit,
    PiiKind,
    detect_pii,
    luhn_valid,
    resident_id_check_digit,
)

PROVINCES = [11, 12, 13, 31, 32, 33, 44, 50, 65, 81, 82]


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    province = draw(st.sampled_from(PROVINCES))
    region = draw(st.integers(0, 9999))
    day = draw(st.dates(date(1900, 1, 1), date(2099, 12, 31)))
    seq = draw(st.integers(0, 999))
    first17 = f"{province:02d}{region:04d}{day:%Y%m%d}{seq:03d}"
    return first17 + resident_id_check_digit(first17)


def luhn_complete(partial: str) -> str:
    for d in "0123456789":
        if luhn_valid(partial + d):
            return partial + d
    raise AssertionError("unreachable")


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["62", "4", "51", "37", "6011", "9558"]))
    length = draw(st.integers(13, 19)) if prefix != "9558" else 19
    body = draw(st.text("0123456789", min_size=length - len(prefix) - 1, max_size=length - 1))
    return luhn_complete((prefix + body)[: length - 1])


def kinds(text: str) -> list[tuple[PiiKind, str]]:
    return [(h.kind, text[h.start : h.end]) for h in detect_pii(text)]


def check_masking(text: str, hits: list[PiiHit], secret: str) -> None:
    for h in hits:
        assert secret not in h.masked
        assert "*" in h.masked
        assert 0 <= h.start < h.end <= len(text)


# --- resident IDs ----------------------------------------------------------------------------


@given(resident_ids(), st.sampled_from(["", "身份证号：", "ID ", "我的是"]), st.booleans())
def test_valid_resident_ids_are_found(rid: str, prefix: str, spaced: bool) -> None:
    shown = f"{rid[:6]} {rid[6:14]} {rid[14:]}" if spaced else rid
    text = f"{prefix}{shown}，谢谢"
    hits = detect_pii(text)
    assert [(h.kind, text[h.start : h.end]) for h in hits] == [(PiiKind.CN_RESIDENT_ID, shown)]
    assert hits[0].masked == rid[:6] + "********" + rid[14:]
    check_masking(text, hits, rid)


@given(resident_ids(), st.integers(1, 10))
def test_a_wrong_check_digit_is_not_an_id(rid: str, delta: int) -> None:
    check = "0123456789X"
    wrong = check[(check.index(rid[17]) + delta) % 11]
    text = f"身份证 {rid[:17]}{wrong}"
    assert all(h.kind != PiiKind.CN_RESIDENT_ID for h in detect_pii(text))


def test_lower_case_x_and_id_rules() -> None:
    first17 = "11010519491231002"
    assert resident_id_check_digit(first17) == "X"
    assert kinds(f"id {first17}x") == [(PiiKind.CN_RESIDENT_ID, f"{first17}x")]
    # Province 99 does not exist; 19490231 is not a date; inside a longer run is not an ID.
    for bad in ["99010519491231002", "11010519490231002"]:
        text = bad + resident_id_check_digit(bad)
        assert detect_pii(text, [PiiKind.CN_RESIDENT_ID]) == []
    assert detect_pii(f"9{first17}X", [PiiKind.CN_RESIDENT_ID]) == []
    assert detect_pii(f"{first17}X5", [PiiKind.CN_RESIDENT_ID]) == []


# --- bank cards ------------------------------------------------------------------------------


@given(card_numbers(), st.sampled_from(["", " ", "-"]))
def test_luhn_valid_cards_are_found(card: str, sep: str) -> None:
    shown = sep.join(card[i : i + 4] for i in range(0, len(card), 4)) if sep else card
    text = f"卡号 {shown} 转账"
    hits = detect_pii(text)
    assert [(h.kind, text[h.start : h.end]) for h in hits] == [(PiiKind.BANK_CARD, shown)]
    masked = hits[0].masked.replace(" ", "")
    assert masked[:4] == card[:4]
    assert masked[-4:] == card[-4:]
    assert len(masked) == len(card)
    check_masking(text, hits, card)


@given(card_numbers(), st.integers(1, 9))
def test_luhn_invalid_cards_are_not_found(card: str, delta: int) -> None:
    broken = card[:-1] + str((int(card[-1]) + delta) % 10)
    assert not luhn_valid(broken)
    assert detect_pii(f"card {broken}", [PiiKind.BANK_CARD]) == []


def test_cards_need_a_plausible_issuer_and_consistent_groups() -> None:
    assert detect_pii(luhn_complete("123456789012345"), [PiiKind.BANK_CARD]) == []
    card = "4111111111111111"
    assert detect_pii("4111 1111-1111 1111", [PiiKind.BANK_CARD]) == []
    assert kinds(f"visa {card}.") == [(PiiKind.BANK_CARD, card)]


# --- phones ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shown",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "138.1234.5678",
        "+86 138 1234 5678",
        "+8613812345678",
        "008613812345678",
        "86-13812345678",
        "１３８１２３４５６７８",
        "+1 (415) 555-2671",
        "+44 20 7946 0958",
        "+49.30.1234567",
    ],
)
def test_phones_in_several_formats(shown: str) -> None:
    text = f"电话{shown}，call me"
    hits = detect_pii(text)
    assert [(h.kind, text[h.start : h.end]) for h in hits] == [(PiiKind.PHONE, shown)]
    assert hits[0].masked.endswith("5678") or "*" in hits[0].masked
    digits = "".join(c for c in shown if c.isdigit())
    assert digits not in hits[0].masked


@pytest.mark.parametrize(
    "text",
    [
        "订单号 138123456789012",  # longer digit run
        "12812345678",  # 12x is not a mobile prefix
        "price 13812345678.50",
        "+1 234",  # too short
        "version 13.8.1234",
    ],
)
def test_not_phones(text: str) -> None:
    assert detect_pii(text, [PiiKind.PHONE]) == []


def test_an_id_or_card_is_never_also_a_phone() -> None:
    rid = "11010519491231002X"
    assert [h.kind for h in detect_pii(rid)] == [PiiKind.CN_RESIDENT_ID]
    card = luhn_complete("621381234567890123")
    assert [h.kind for h in detect_pii(card)] == [PiiKind.BANK_CARD]
    assert detect_pii(card, [PiiKind.PHONE]) == []


# --- email -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("mail zhang.san@example.com.", "zhang.san@example.com"),
        ("邮箱zhang@example.com请联系", "zhang@example.com"),
        ("zhang＠example.com", "zhang＠example.com"),
        ("zhang(at)example.com", "zhang(at)example.com"),
        ("zhang [at] example [dot] com", "zhang [at] example [dot] com"),
        ("zhang at example dot com", "zhang at example dot com"),
        ("Zhang AT mail DOT example DOT org", "Zhang AT mail DOT example DOT org"),
        ("13812345678@qq.com", "13812345678@qq.com"),
    ],
)
def test_emails_and_obfuscations(text: str, found: str) -> None:
    hits = detect_pii(text)
    assert [(h.kind, text[h.start : h.end]) for h in hits] == [(PiiKind.EMAIL, found)]
    local = re.split(r"[@＠( ]", found, maxsplit=1)[0]
    assert hits[0].masked.startswith(local[0] + "***@")
    if len(local) > 1:
        assert local not in hits[0].masked


@pytest.mark.parametrize(
    "text",
    ["look at example.com", "meet at noon", "a@b", "user@localhost", "@zhang hello", "dot dot dot"],
)
def test_not_emails(text: str) -> None:
    assert detect_pii(text, [PiiKind.EMAIL]) == []


# --- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("北京市朝阳区建国路88号", "北京市朝阳区建国路88号"),
        ("地址：上海市徐汇区漕溪北路 123 号 5 楼", "上海市徐汇区漕溪北路 123 号 5 楼"),
        ("我家在中山路3号，来玩", "中山路3号"),
        ("上海市黄浦区南京东路100弄5号", "上海市黄浦区南京东路100弄5号"),
        ("广州市天河区天河北路233号2栋1单元502室", "广州市天河区天河北路233号2栋1单元502室"),
        ("I live at 221B Baker Street, London", "221B Baker Street"),
        ("the 1600 Pennsylvania Ave NW office", "1600 Pennsylvania Ave NW"),
        ("send it to 12 Main St., Apt 4 please", "12 Main St., Apt 4"),
    ],
)
def test_addresses(text: str, found: str) -> None:
    hits = detect_pii(text)
    assert [(h.kind, text[h.start : h.end]) for h in hits] == [(PiiKind.ADDRESS, found)]
    assert not any(c.isdigit() for c in hits[0].masked)


ORDINARY = [
    "I have 3 roads to choose",
    "we walked 5 miles down the road",
    "version 1.2.3 is out",
    "地铁2号线换乘",
    "5月3号见",
    "我们3号见面吧",
    "我知道3号会来",
    "这条路5号就修好了",
    "第88号选手",
    "room 101",
    "Chapter 3 Way of Kings",
    "it costs 12 dollars",
    "今天走了一万步",
    "There are 2 Streets here",
    "The 49ers won 3 games",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_sentences_do_not_hit(text: str) -> None:
    assert detect_pii(text) == []


# --- spans and masking in general ------------------------------------------------------------


@settings(max_examples=50)
@given(
    st.lists(
        st.one_of(
            resident_ids(),
            card_numbers(),
            st.just("13812345678"),
            st.just("zhang@example.com"),
            st.just("北京市朝阳区建国路88号"),
        ),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from(["，", " and ", "；然后 "]),
)
def test_every_value_is_found_once_with_an_exact_span(values: list[str], sep: str) -> None:
    text = "开头 " + sep.join(values) + " 结尾"
    hits = detect_pii(text)
    assert [text[h.start : h.end] for h in hits] == values
    for h, v in zip(hits, values, strict=True):
        assert v not in h.masked


def test_kinds_filter_and_empty() -> None:
    text = "13812345678 zhang@example.com"
    assert [h.kind for h in detect_pii(text, [PiiKind.EMAIL])] == [PiiKind.EMAIL]
    assert detect_pii(text, []) == []
    assert detect_pii("") == []
    assert detect_pii("今天天气不错，出去走走") == []


def test_birth_date_bounds() -> None:
    for day in (date(1899, 12, 31), date(2100, 1, 1)):
        first17 = f"110105{day:%Y%m%d}123"
        text = first17 + resident_id_check_digit(first17)
        assert all(h.kind != PiiKind.CN_RESIDENT_ID for h in detect_pii(text))
    first17 = "11010520000229123"  # a leap day
    assert kinds(first17 + resident_id_check_digit(first17))[0][0] == PiiKind.CN_RESIDENT_ID


@pytest.mark.parametrize(
    "text",
    [
        "市" * 3000 + "路1号",  # nested administrative units once backtracked exponentially
        "中" * 5000 + "路1号",
        "建国路1号" * 1000,
        "1-" * 5000,
        "+1" + " 1" * 5000,
        "a@" + "a." * 5000 + "1",
        "x at " + "a dot " * 3000,
        "12 Main " * 2000,
    ],
)
def test_adversarial_inputs_stay_linear(text: str) -> None:
    start = time.perf_counter()
    detect_pii(text)
    assert time.perf_counter() - start < 0.5
