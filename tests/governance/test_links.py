"""Links are parsed despite the usual tricks; domain lists match on label boundaries."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from courtyard.governance.links import (
    DomainList,
    DomainMatcher,
    Link,
    extract_links,
    normalise_entry,
)


def found(text: str) -> list[tuple[str, str]]:
    links = extract_links(text)
    for link in links:
        assert 0 <= link.start < link.end <= len(text)
    return [(text[link.start : link.end], link.host) for link in links]


@pytest.mark.parametrize(
    ("text", "shown", "host"),
    [
        ("see https://example.com/a?b=1 now", "https://example.com/a?b=1", "example.com"),
        ("HTTP://EXAMPLE.COM./X", "HTTP://EXAMPLE.COM./X", "example.com"),
        ("go to example.com/x.", "example.com/x", "example.com"),
        ("www.example.cn", "www.example.cn", "www.example.cn"),
        ("短链 bit.ly/abc 点开", "bit.ly/abc", "bit.ly"),
        ("访问http://example.com请看", "http://example.com", "example.com"),
        ("访问 example。com 看看", "example。com", "example.com"),
        ("访问 example．com", "example．com", "example.com"),
        ("访问 example｡com", "example｡com", "example.com"),
        ("Example.COM。下次见", "Example.COM", "example.com"),
        ("example[.]com/x", "example[.]com/x", "example.com"),
        ("example(.)com", "example(.)com", "example.com"),
        ("example[dot]com", "example[dot]com", "example.com"),
        ("visit example dot com today", "example dot com", "example.com"),
        (
            "https://paypal.com@evil.example/login",
            "https://paypal.com@evil.example/login",
            "evil.example",
        ),
        (
            "http://user:pw@Host.Example.org:8080/",
            "http://user:pw@Host.Example.org:8080/",
            "host.example.org",
        ),
        ("http://xn--fiqs8s.xn--fiqs8s/", "http://xn--fiqs8s.xn--fiqs8s/", "中国.中国"),
        ("xn--fiqs8s.com", "xn--fiqs8s.com", "中国.com"),
        ("http://例子.中国/", "http://例子.中国/", "例子.中国"),
        ("shop.example.中国", "shop.example.中国", "shop.example.中国"),
        ("http://192.168.0.1:8080/x", "http://192.168.0.1:8080/x", "192.168.0.1"),
        ("http://[::1]:8080/", "http://[::1]:8080/", "::1"),
        ("http://3232235521/", "http://3232235521/", "192.168.0.1"),
        ("192.168.1.1/admin", "192.168.1.1/admin", "192.168.1.1"),
        ("(see example.com/a_(b))", "example.com/a_(b)", "example.com"),
        ("readme at github.io", "github.io", "github.io"),
        ("www.setup.py", "www.setup.py", "www.setup.py"),
    ],
)
def test_links_are_found(text: str, shown: str, host: str) -> None:
    assert found(text) == [(shown, host)]


@pytest.mark.parametrize(
    "text",
    [
        "e.g. this",
        "i.e. that",
        "version 1.2.3",
        "version 1.2.3.4 released",
        "file.txt",
        "setup.py and README.md",
        "the dot com bubble",
        "mail me: zhang@example.com",
        "Mr.Smith said hello.world",
        "今天天气不错。明天见。",
        "3.14159",
        "node.js",
    ],
)
def test_ordinary_text_is_not_a_link(text: str) -> None:
    assert extract_links(text) == []


def test_host_ascii_and_url() -> None:
    [link] = extract_links("http://例子.中国/a b")
    assert link.host_ascii == "xn--fsqu00a.xn--fiqs8s"
    assert link.url == "http://例子.中国/a"
    [link] = extract_links("https://paypal.com@evil.example/x")
    assert link.url == "https://evil.example/x"
    assert "paypal" not in link.url
    [link] = extract_links("bit.ly/abc")
    assert link.url == "http://bit.ly/abc"
    assert link.path == "/abc"


def test_several_links_in_order() -> None:
    text = "a.com 和 https://b.org/x 还有 c[.]cn"
    assert [link.host for link in extract_links(text)] == ["a.com", "b.org", "c.cn"]


labels = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)


@given(st.lists(labels, min_size=1, max_size=3), st.sampled_from(["com", "cn", "org", "io"]))
def test_generated_hosts_round_trip(parts: list[str], tld: str) -> None:
    host = ".".join([*parts, tld])
    text = f"请看 https://{host}/p 谢谢"
    assert [(link.host, link.url) for link in extract_links(text)] == [(host, f"https://{host}/p")]


@given(st.text(max_size=60))
def test_never_crashes_and_spans_are_sane(text: str) -> None:
    for link in extract_links(text):
        assert 0 <= link.start < link.end <= len(text)
        assert link.host == link.host.lower()
        assert not link.host.endswith(".")


# --- domain lists ----------------------------------------------------------------------------


def make_links(*urls: str) -> list[Link]:
    links = [link for u in urls for link in extract_links(u)]
    assert len(links) == len(urls)
    return links


def test_entries_match_host_and_subdomains_on_label_boundaries() -> None:
    matcher = DomainMatcher([DomainList("scam", ("Example.COM.",), category="scam")])
    links = make_links(
        "https://example.com/", "http://a.b.example.com/x", "notexample.com", "example.com.cn"
    )
    hits = matcher.match(links)
    assert [h.link.host for h in hits] == ["example.com", "a.b.example.com"]
    assert {(h.list_name, h.entry) for h in hits} == {("scam", "Example.COM.")}


def test_wildcards_idn_and_punycode_entries() -> None:
    matcher = DomainMatcher(
        [DomainList("a", ("*.evil.example",)), DomainList("b", ("xn--fsqu00a.xn--fiqs8s",))]
    )
    hits = matcher.match(make_links("http://x.evil.example/", "http://例子.中国/"))
    assert [(h.list_name, h.link.host) for h in hits] == [
        ("a", "x.evil.example"),
        ("b", "例子.中国"),
    ]
    assert normalise_entry("例子.中国") == ("例子.中国", "")
    assert normalise_entry("https://Example.com/Promo") == ("example.com", "/Promo")


def test_path_prefix_entries() -> None:
    matcher = DomainMatcher([DomainList("promo", ("paypal.com/promo",))])
    links = make_links(
        "paypal.com/promo", "paypal.com/promo/1?x", "www.paypal.com/promo", "paypal.com/promotion"
    )
    hits = matcher.match([*links, *make_links("paypal.com/")])
    assert [h.link.url for h in hits] == [
        "http://paypal.com/promo",
        "http://paypal.com/promo/1?x",
        "http://www.paypal.com/promo",
    ]


def test_one_hit_per_list_and_link_and_list_selection() -> None:
    matcher = DomainMatcher(
        [DomainList("a", ("example.com", "www.example.com")), DomainList("b", ("example.com",))]
    )
    links = make_links("www.example.com")
    assert [(h.list_name, h.entry) for h in matcher.match(links)] == [
        ("a", "www.example.com"),
        ("b", "example.com"),
    ]
    assert [h.list_name for h in matcher.match(links, lists=["b"])] == ["b"]
    with pytest.raises(ValueError, match="unknown domain lists"):
        matcher.match(links, lists=["nope"])


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("exa mple.com", "may not contain"),
        ("-bad.com", "not a valid host label"),
        ("a..com", "not a valid host label"),
        ("user@example.com", "may not contain"),
        ("ex_ample.com", "not a valid host label"),
        ("*", "may not contain"),
    ],
)
def test_invalid_entries_are_refused(entry: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        DomainMatcher([DomainList("mylist", (entry,))])
    assert "mylist" in str(info.value)


def test_blank_and_comment_entries_are_skipped_but_an_empty_host_is_refused() -> None:
    matcher = DomainMatcher([DomainList("l", ("", "  ", "# a comment", "example.com"))])
    assert len(matcher.match(make_links("example.com"))) == 1
    with pytest.raises(ValueError, match="no host"):
        normalise_entry("*.")


@pytest.mark.parametrize(
    "text",
    [
        "http://a.com/" + ")" * 5000,
        "http://a" + ".a" * 5000,
        "ab." * 3000,
        "a dot " * 3000 + "1",
        "a-" * 5000 + ".com",
    ],
)
def test_adversarial_inputs_stay_linear(text: str) -> None:
    start = time.perf_counter()
    extract_links(text)
    assert time.perf_counter() - start < 0.5


def test_a_url_nested_in_a_redirector_query_is_reported_too() -> None:
    text = "点 https://google.com/url?q=http://evil.example/x&sa=D 看"
    assert [link.host for link in extract_links(text)] == ["google.com", "evil.example"]
    outer, inner = extract_links(text)
    assert outer.start <= inner.start < inner.end <= outer.end
    assert text[inner.start : inner.end] == "http://evil.example/x&sa=D"
