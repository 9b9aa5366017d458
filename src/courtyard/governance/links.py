"""Links in text, parsed (not searched as text), and operator domain lists matched against them.

Rules about links ("no shortened URLs in groups", "label links to known scam domains") must not
be fooled by the usual tricks, so `extract_links` recognises:

- ``http://``/``https://`` URLs (any host, including IP literals ``[::1]`` and dotted or single
  decimal IPv4 ``http://3232235521/``), with userinfo dropped: ``https://paypal.com@evil.example/``
  has host ``evil.example``;
- scheme-less hosts (``example.com/x``, ``www.example.cn``, ``bit.ly/abc``) whose last label is a
  known TLD: a compact list of common generic TLDs, every two-letter country code and common
  IDN TLDs (中国, 公司, 网络…) or any ``xn--`` TLD;
- scheme-less IPv4 only when followed by ``/`` or ``:port`` (so "version 1.2.3.4" is not a link);
- dot obfuscations inside the host: full-width ``。``/``．``/``｡``; ``[.]``, ``(.)``, ``{.}``;
  ``[dot]``, ``(dot)``, ``{dot}``; and a spelled `` dot `` between spaces (``example dot com``).
  The spelled form is refused after a handful of English function words ("the dot com bubble").
- punycode labels are decoded: `Link.host` is Unicode, `Link.host_ascii` the ASCII form
  (stdlib ``idna`` codec, i.e. IDNA 2003: ``ß`` maps to ``ss``);
- a URL nested in another's path or query (``google.com/url?q=http://evil.example``) is
  reported as well, with a span inside the outer link's.

Not recognised: full-width letters (``ｅｘａｍｐｌｅ．ｃｏｍ``), percent-encoded nested URLs,
IDN TLDs outside the built-in list, scheme-less labels in scripts other than Latin, Greek and
Cyrillic (in Chinese text a label cannot be told apart from the surrounding words; with a
scheme they are fine), hosts that are the domain part of an email address, and two-label
scheme-less names whose TLD is also a common file extension (``setup.py``, ``README.md``,
``run.sh``) unless they carry a path or ``www.``. Paths stop at whitespace and at CJK
characters and punctuation (Chinese text usually follows a URL directly).

`Link.url` is normalised: lower-case scheme (``http`` when the text had none), the Unicode host,
the port if any, then the path/query/fragment as written. ``text[start:end]`` is what was
written.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit


def _words(s: str) -> list[str]:
    return s.split()


# --- TLDs ------------------------------------------------------------------------------------

_CCTLDS = _words(
    "ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo br "
    "bs bt bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do dz "
    "ec ee eg er es et eu fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu "
    "gw gy hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp kr "
    "kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mg mh mk ml mm mn mo mp mq mr ms mt "
    "mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr ps "
    "pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sk sl sm sn so sr ss st su sv sx sy sz "
    "tc td tf tg th tj tk tl tm tn to tr tt tv tw tz ua ug uk us uy uz va vc ve vg vi vn vu wf "
    "ws ye yt za zm zw"
)
_GTLDS = _words(
    "com net org edu gov mil int info biz name pro mobi asia tel travel jobs museum aero coop "
    "xyz top site online shop store tech club vip app dev page blog wang ren ink link live news "
    "cloud fun icu work space website press host art design email today life ltd group team "
    "network media digital games video music money finance bank loan win bid trade date party "
    "click download stream review science men cyou monster rest bond sbs cfd lol buzz one xin "
    "shop tk ml ga cf gq"
)
_IDN_TLDS = _words(
    "中国 中國 公司 网络 網絡 在线 在線 网址 網址 网店 商城 商店 集团 我爱你 中文网 移动 手机 "
    "香港 台湾 台灣 新加坡 政务 公益 网站 时尚 游戏 企业 信息 娱乐 健康 广东 佛山 购物 招聘"
)
TLDS: frozenset[str] = frozenset(_CCTLDS) | frozenset(_GTLDS) | frozenset(_IDN_TLDS)
# Two-letter TLDs that are also everyday file extensions: "setup.py" is a file, not a host.
_FILE_LIKE_TLDS = frozenset(_words("md py sh rs pl ps cs so mk am in cc ml ts js rb go hs sc ai"))
_STOP_WORDS_BEFORE_DOT = frozenset(
    _words("the a an my your his her our their its this that no one any dot")
)

# --- patterns --------------------------------------------------------------------------------

_DOTS = "。．｡"
_DOT_SEP = r"(?:[.。．｡]|\[\.\]|\(\.\)|\{\.\}|\s?[\[({]dot[\])}]\s?|\s+dot\s+)"
_LC = r"A-Za-z0-9\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff"  # Latin, Greek, Cyrillic
_LABEL = rf"[{_LC}](?:[{_LC}-]{{0,61}}[{_LC}])?"
_IDN_ALT = "|".join(sorted(_IDN_TLDS, key=len, reverse=True))
_TLD = rf"(?:xn--[A-Za-z0-9-]{{2,59}}|[A-Za-z]{{2,24}}(?![A-Za-z0-9-])|{_IDN_ALT})"
# Path: everything up to whitespace or a quote/angle bracket; trailing punctuation is trimmed.
_PATH = r"""(?:[/?#][^\s<>"'`\u3000-\u303f\u4e00-\u9fff\uff01-\uff0d\uff1a-\uff20]*)?"""
_SCHEME_URL = re.compile(
    r"""(?<![A-Za-z0-9+.-])(https?)://([^\s/?#<>"'`，！？；、）】》「」]+)""" + _PATH,
    re.IGNORECASE,
)
_BARE_HOST = re.compile(
    rf"(?<![A-Za-z0-9@._%+/:-])((?:{_LABEL}{_DOT_SEP})+{_TLD})(:\d{{1,5}})?(?![A-Za-z0-9@_-])"
    + _PATH,
    re.IGNORECASE,
)
_BARE_IPV4 = re.compile(
    r"(?<![\w.:/@-])((?:\d{1,3}\.){3}\d{1,3})(:\d{1,5})?(?=[/:])" + _PATH,
)
_IDN_FIRST = "".join(sorted({t[0] for t in _IDN_TLDS}))
# Cheap gate for _BARE_HOST: a label character, a dot form, then the start of a TLD.
_BARE_GATE = re.compile(
    rf"[A-Za-z0-9]{_DOT_SEP}(?:[A-Za-z]{{2}}|[{_IDN_FIRST}])", re.IGNORECASE
).search
_DOT_SPLIT = re.compile(_DOT_SEP, re.IGNORECASE)
_SPELLED_DOT = re.compile(r"\s+dot\s+", re.IGNORECASE)
_TRAILING = ".,;:!?'\">*_~。．｡"
_PAIRS = {")": "(", "]": "[", "}": "{"}
# In "http://example.com请看", the ideographs are the sentence, not the host.
_ASCII_THEN_CJK = re.compile(r"[A-Za-z0-9-](?=[\u3000-\u303f\u4e00-\u9fff\uff01-\uffef])")
_PORT = re.compile(r":(\d{1,5})$")


@lru_cache(maxsize=4096)
def _to_unicode_host(host: str) -> str:
    """Lower-case, IDNA-decoded host; labels that are not valid punycode are kept as written."""
    return ".".join(_decode_label(label) for label in host.lower().split("."))


def _decode_label(label: str) -> str:
    if label.startswith("xn--"):
        try:
            return label.encode("ascii").decode("idna")
        except UnicodeError:
            return label
    return label


@lru_cache(maxsize=4096)
def _to_ascii_host(host: str) -> str:
    """ASCII (punycode) form of a Unicode host, label by label (IDNA 2003, stdlib codec)."""
    out = []
    for label in host.split("."):
        if label.isascii():
            out.append(label)
            continue
        try:
            out.append(label.encode("idna").decode("ascii"))
        except UnicodeError:
            out.append(label)
    return ".".join(out)


@dataclass(frozen=True, slots=True)
class Link:
    """A link found in text; ``host`` is lower-case Unicode without port, userinfo or final dot."""

    url: str
    host: str
    start: int
    end: int

    @property
    def host_ascii(self) -> str:
        return _to_ascii_host(self.host)

    @property
    def path(self) -> str:
        """Path part of `url` ("" when none), for path-prefix list entries."""
        return urlsplit(self.url).path


def _trim(text: str, start: int, end: int) -> int:
    """Drop trailing sentence punctuation and unbalanced closing brackets from a URL span."""
    seg = text[start:end]
    balance = {c: seg.count(c) - seg.count(o) for c, o in _PAIRS.items()}
    while end > start:
        c = text[end - 1]
        if c in _PAIRS:
            if balance[c] <= 0:
                break
            balance[c] -= 1
            end -= 1
        elif c in _TRAILING:
            end -= 1
        else:
            break
    return end


def _normalise_host(raw: str) -> str | None:
    """Host from an authority: userinfo and port dropped, dots folded, IP forms canonical."""
    host = raw.rsplit("@", 1)[-1]
    for d in _DOTS:
        host = host.replace(d, ".")
    if host.startswith("["):
        inner = host[1 : host.find("]")] if "]" in host else ""
        try:
            return str(ipaddress.IPv6Address(inner))
        except ValueError:
            return None
    host = _PORT.sub("", host).rstrip(".").lower()
    if not host:
        return None
    if host.isdigit():  # http://3232235521/ is 192.168.0.1
        try:
            return str(ipaddress.IPv4Address(int(host)))
        except ValueError:
            return None
    return _to_unicode_host(host)


def _make(
    text: str, scheme: str, host: str, port: str, start: int, end: int, path_from: int
) -> Link:
    path = text[path_from:end]
    shown = f"[{host}]" if ":" in host else host
    return Link(f"{scheme}://{shown}{port}{path}", host, start, end)


def _may_have_links(text: str) -> bool:
    if "." in text or "。" in text or "．" in text or "｡" in text:
        return True
    return "dot" in text or "DOT" in text or "Dot" in text or "://" in text


def extract_links(text: str) -> list[Link]:
    """Every link in ``text`` in order of position (see the module docstring for what counts)."""
    if not _may_have_links(text):
        return []
    links: list[Link] = []
    if "://" in text:
        _scheme_links(text, links)
    if _BARE_GATE(text):
        _bare_links(text, links)
    if "/" in text or ":" in text:
        _ipv4_links(text, links)
    links.sort(key=lambda link: link.start)
    return links


def _free(links: list[Link], s: int, e: int) -> bool:
    """Whether [s, e) overlaps no link found so far (a bare host inside a URL is not another)."""
    return all(e <= link.start or s >= link.end for link in links)


def _scheme_links(text: str, links: list[Link], pos: int = 0, endpos: int | None = None) -> None:
    """URLs with a scheme; one nested in another's path or query (a redirector's
    ``?q=http://evil.example``) is reported too, with its span inside the outer one."""
    for m in _SCHEME_URL.finditer(text, pos, len(text) if endpos is None else endpos):
        cut = _ASCII_THEN_CJK.search(text, m.start(2), m.end(2))
        end = _trim(text, m.start(), cut.end() if cut else m.end())
        authority_end = min(m.end(2), end)
        host = _normalise_host(text[m.start(2) : authority_end])
        if not host:
            continue
        auth = text[m.start(2) : authority_end].rsplit("@", 1)[-1]
        port_m = _PORT.search(auth) if not auth.endswith("]") else None
        port = port_m.group() if port_m else ""
        links.append(_make(text, m.group(1).lower(), host, port, m.start(), end, authority_end))
        if text.find("://", authority_end, end) != -1:
            _scheme_links(text, links, authority_end, end)


def _bare_links(text: str, links: list[Link]) -> None:
    for m in _BARE_HOST.finditer(text):
        end = _trim(text, m.start(), m.end())
        if not _free(links, m.start(), end):
            continue
        raw = m.group(1)
        labels = [p for p in _DOT_SPLIT.split(raw) if p]
        tld = labels[-1].lower()
        if not (tld in TLDS or tld.startswith("xn--")):
            continue
        if _SPELLED_DOT.search(raw) and labels[0].lower() in _STOP_WORDS_BEFORE_DOT:
            continue
        path_from = min(m.end(2) if m.group(2) else m.end(1), end)
        if (
            len(labels) == 2
            and tld in _FILE_LIKE_TLDS
            and end == path_from
            and labels[0].lower() != "www"
        ):
            continue
        host = _to_unicode_host(".".join(labels).lower())
        links.append(_make(text, "http", host, m.group(2) or "", m.start(), end, path_from))


def _ipv4_links(text: str, links: list[Link]) -> None:
    for m in _BARE_IPV4.finditer(text):
        end = _trim(text, m.start(), m.end())
        if not _free(links, m.start(), end):
            continue
        try:
            host = str(ipaddress.IPv4Address(m.group(1)))
        except ValueError:
            continue
        path_from = m.end(2) if m.group(2) else m.end(1)
        links.append(_make(text, "http", host, m.group(2) or "", m.start(), end, path_from))


# --- domain lists ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DomainList:
    name: str
    domains: tuple[str, ...]
    category: str = ""
    confidential: bool = False


@dataclass(frozen=True, slots=True)
class DomainHit:
    list_name: str
    entry: str
    link: Link


_ASCII_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalise_entry(entry: str) -> tuple[str, str]:
    """``(host, path_prefix)`` for a list entry; ValueError says what is wrong with it.

    Accepted: ``example.com``, ``*.example.com``, ``.example.com``, ``Example.COM.``,
    ``例子.中国``/``xn--fsqu00a.xn--fiqs8s``, an IP address, an optional ``http(s)://`` in front
    and an optional path (``example.com/path``). Single labels (``tk``) are accepted on purpose:
    they match a whole TLD.
    """
    raw = entry.strip()
    value = re.sub(r"^https?://", "", raw, flags=re.IGNORECASE)
    host, sep, path = value.partition("/")
    path = sep + path if sep else ""
    if path == "/":
        path = ""
    host = host.lower()
    for d in _DOTS:
        host = host.replace(d, ".")
    if host.startswith("*."):
        host = host[2:]
    host = host.lstrip(".").rstrip(".")
    if not host:
        raise ValueError(f"domain list entry {entry!r}: no host")
    if any(c in host for c in "@:*?#[] \t"):
        try:
            return str(ipaddress.ip_address(host.strip("[]"))), path
        except ValueError:
            raise ValueError(
                f"domain list entry {entry!r}: a host may not contain '@', ':', '*', spaces or "
                "brackets (only a leading '*.' wildcard is allowed)"
            ) from None
    try:
        return str(ipaddress.ip_address(host)), path
    except ValueError:
        pass
    ascii_host = _to_ascii_host(host)
    for label in ascii_host.split("."):
        if not _ASCII_LABEL.match(label):
            raise ValueError(
                f"domain list entry {entry!r}: label {label!r} is not a valid host label "
                "(1-63 letters, digits or hyphens, not starting or ending with a hyphen)"
            )
    if len(ascii_host) > 253:
        raise ValueError(f"domain list entry {entry!r}: host longer than 253 characters")
    return _to_unicode_host(ascii_host), path


def _path_matches(path: str, prefix: str) -> bool:
    if not prefix:
        return True
    if prefix.endswith("/"):
        return path.startswith(prefix)
    return path == prefix or path.startswith(prefix + "/")


class DomainMatcher:
    """Operator domain lists, indexed by normalised host for a per-label suffix lookup.

    An entry ``example.com`` matches ``example.com`` and every subdomain, on label boundaries
    (``notexample.com`` does not match). An entry with a path (``example.com/promo``) matches
    links on that host (or a subdomain) whose path is the prefix or continues it after a ``/``
    (``/promo``, ``/promo/x``; not ``/promotion``); a prefix ending in ``/`` is a plain prefix.
    Paths are compared case-sensitively, as written. Each list reports at most one hit per link,
    the most specific entry (longest host, then a path entry over a bare one).
    """

    def __init__(self, lists: Sequence[DomainList]) -> None:
        self._names: tuple[str, ...] = tuple(dl.name for dl in lists)
        if len(set(self._names)) != len(self._names):
            raise ValueError("domain lists: duplicate list names")
        self._index: dict[str, list[tuple[int, str, str]]] = {}
        for li, dl in enumerate(lists):
            for entry in dl.domains:
                if not entry.strip() or entry.lstrip().startswith("#"):
                    continue
                try:
                    host, path = normalise_entry(entry)
                except ValueError as e:
                    raise ValueError(f"domain list {dl.name!r}: {e}") from None
                self._index.setdefault(host, []).append((li, entry, path))
        for entries in self._index.values():
            entries.sort(key=lambda t: -len(t[2]))

    def match(
        self, links: Sequence[Link], *, lists: Collection[str] | None = None
    ) -> list[DomainHit]:
        """Hits for ``links`` in the lists named (all lists when ``lists`` is None)."""
        wanted: set[int] | None = None
        if lists is not None:
            unknown = set(lists) - set(self._names)
            if unknown:
                raise ValueError(f"unknown domain lists: {sorted(unknown)}")
            wanted = {i for i, n in enumerate(self._names) if n in lists}
        hits: list[DomainHit] = []
        if not self._index:
            return hits
        for link in links:
            done: set[int] = set()
            labels = link.host.split(".")
            path: str | None = None
            for i in range(len(labels)):
                entries = self._index.get(".".join(labels[i:]))
                if not entries:
                    continue
                for li, entry, prefix in entries:
                    if li in done or (wanted is not None and li not in wanted):
                        continue
                    if prefix:
                        if path is None:
                            path = link.path
                        if not _path_matches(path, prefix):
                            continue
                    done.add(li)
                    hits.append(DomainHit(self._names[li], entry, link))
        return hits
