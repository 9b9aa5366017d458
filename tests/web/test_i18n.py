"""UI languages: every message in the templates and pages is translated into Simplified
Chinese, and the language follows the cookie, the account, then the browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from courtyard.web import i18n
from tests.conftest import PASSWORD
from tests.web.conftest import BrowserFactory, csrf_of

WEB_DIR = Path(i18n.__file__).resolve().parent
METHOD_MAP = [("templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS_MAP = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _used_msgids() -> set[str]:
    found: set[str] = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(WEB_DIR),
        method_map=METHOD_MAP,
        options_map=OPTIONS_MAP,
        keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None},
    ):
        if isinstance(message, tuple):
            found.update(m for m in message if m)
        else:
            found.add(message)
    return found


def _catalog(locale: str) -> dict[str, str]:
    path = WEB_DIR / "locale" / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    return {str(m.id): str(m.string) for m in catalog if m.id and not m.fuzzy}


def test_every_message_used_is_translated_into_simplified_chinese() -> None:
    used = _used_msgids()
    assert len(used) > 150  # the extraction really found the templates and the pages
    assert "Create an account" in used
    assert "Friend request sent." in used  # marked with N_() in the page code
    zh = _catalog("zh_CN")
    missing = sorted(m for m in used if not zh.get(m, "").strip())
    assert missing == [], f"untranslated in zh_CN: {missing}"
    en = _catalog("en")
    assert sorted(used - en.keys()) == [], "the en catalog is out of date"


def test_translations_keep_their_placeholders() -> None:
    for msgid, msgstr in _catalog("zh_CN").items():
        assert sorted(PLACEHOLDER.findall(msgid)) == sorted(PLACEHOLDER.findall(msgstr)), msgid


def test_catalogs_compile_in_memory() -> None:
    catalogs = i18n.load_catalogs()
    assert set(catalogs) == {"en", "zh_CN"}
    assert catalogs["zh_CN"].gettext("Log in") == "登录"
    assert catalogs["en"].gettext("Log in") == "Log in"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("fr-FR, zh-Hans;q=0.5, en;q=0.4", "zh_CN"),
        ("en;q=0.2, zh;q=0.7", "zh_CN"),
        ("zh;q=0, en;q=0.1", "en"),
        ("fr, de", None),
        ("", None),
        ("*", None),
        (";;;,q=,zh;q=nan,en;q=abc", None),
    ],
)
def test_accept_language_negotiation(header: str, expected: str | None) -> None:
    assert i18n.negotiate(header) == expected


def test_choice_order_is_cookie_then_account_then_browser() -> None:
    choose = i18n.choose_locale
    assert choose(cookie="en", account_locale="zh_CN", accept_language="zh") == "en"
    assert choose(cookie=None, account_locale="zh-CN", accept_language="en") == "zh_CN"
    assert choose(cookie="xx", account_locale=None, accept_language="zh-CN") == "zh_CN"
    assert choose(cookie=None, account_locale=None, accept_language=None) == "en"


async def test_accept_language_zh_cn_renders_chinese(browser: BrowserFactory) -> None:
    b = browser(accept_language="zh-CN,zh;q=0.9,en;q=0.5")
    page = await b.page("/register")
    assert '<html lang="zh-CN">' in page
    assert "注册账号" in page
    assert "用户名" in page
    assert "Create an account" not in page
    # Errors are translated too, with their codes kept as they are.
    response = await b.submit(
        "/register", "/register", {"handle": "xiaoming", "password": "short", "accept_terms": "on"}
    )
    assert response.status_code == 422
    assert "请设置更安全的密码。" in response.text
    assert "请至少使用 10 个字符。" in response.text
    assert "weak_password" in response.text


async def test_switcher_cookie_and_profile_locale(browser: BrowserFactory) -> None:
    b = browser(accept_language="en")
    switched = await b.get("/lang/zh_CN?next=/login")
    assert (switched.status_code, switched.headers["location"]) == (303, "/login")
    assert "cy_lang=zh_CN" in switched.headers["set-cookie"]
    assert "登录" in await b.page("/login")
    back = await b.get("/lang/en?next=/login")
    assert back.status_code == 303
    assert "Log in" in await b.page("/login")

    await b.register("wang")
    saved = await b.submit(
        "/settings/profile",
        "/settings/profile",
        {"display_name": "Wang", "bio": "", "locale": "zh_CN"},
    )
    assert "cy_lang=zh_CN" in saved.headers["set-cookie"]
    assert "个人资料" in await b.page("/settings/profile")

    # On another browser that never chose, the account's language wins over the browser's.
    other = browser(ip="203.0.113.77", accept_language="en-GB")
    await other.submit("/login", "/login", {"handle": "wang", "password": PASSWORD})
    assert "通讯录" in await other.page("/contacts")

    # "Same as my browser" clears both the account's choice and this browser's cookie.
    cleared = await b.submit(
        "/settings/profile",
        "/settings/profile",
        {"display_name": "Wang", "bio": "", "locale": ""},
    )
    assert (
        'cy_lang=""' in cleared.headers["set-cookie"]
        or "Max-Age=0" in cleared.headers["set-cookie"]
    )
    assert "Contacts" in await other.page("/contacts")


async def test_the_switcher_comes_back_to_a_page_that_can_be_fetched(
    browser: BrowserFactory,
) -> None:
    b = browser()
    await b.register("lucia")
    page = await b.page("/contacts?notice=welcome&label=")
    assert 'href="/lang/zh_CN?next=/contacts%3Flabel%3D"' in page  # without the notice
    setup = await b.http.post(
        "/settings/security/two-factor/setup",
        data={"csrf_token": csrf_of(page)},
        headers={"referer": "http://testserver/settings/security"},
    )
    assert 'href="/lang/zh_CN?next=/settings/security"' in setup.text
