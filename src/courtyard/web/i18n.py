"""UI languages: gettext catalogs compiled in memory at start-up, and the choice per request.

The catalogs are the ``.po`` files under ``locale/``; there is no build step: ``load_catalogs``
parses each one with Babel and compiles it into a ``GNUTranslations`` in memory. Each language
gets its own Jinja2 environment with those translations installed, so rendering never swaps
global state between concurrent requests.

Which language a request gets, first match wins:

1. the ``cy_lang`` cookie, set by the language switcher on this device;
2. the logged-in account's ``locale`` (set on the profile page);
3. the browser's ``Accept-Language``;
4. English.

Updating the catalogs after changing UI text (from ``src/courtyard/web``)::

    pybabel extract -F babel.cfg -k N_ --no-location --sort-output -o /tmp/messages.pot .
    pybabel update -i /tmp/messages.pot -d locale --no-fuzzy-matching --ignore-obsolete

then translate the new ``msgstr`` entries in ``locale/zh_CN``; ``tests/web/test_i18n.py``
fails while a message used in a template or page has no Chinese translation.
"""

from __future__ import annotations

import gettext
import math
from collections.abc import Callable
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

WEB_DIR = Path(__file__).resolve().parent
LOCALE_DIR = WEB_DIR / "locale"
TEMPLATES_DIR = WEB_DIR / "templates"
DOMAIN = "messages"

DEFAULT_LOCALE = "en"
SUPPORTED_LOCALES = ("en", "zh_CN")
LANG_COOKIE = "cy_lang"

# Shown in the language switcher in their own language, never translated.
LANGUAGE_NAMES = {"en": "English", "zh_CN": "简体中文"}
# The value of the HTML ``lang`` attribute (BCP 47) for each locale.
HTML_LANG = {"en": "en", "zh_CN": "zh-CN"}

_MAX_ACCEPT_LANGUAGE_ENTRIES = 20


def N_(message: str) -> str:  # noqa: N802 - the conventional name extractors look for
    """Mark a string for extraction without translating it yet (it is translated on display)."""
    return message


def compile_catalog(po_path: Path, locale: str) -> gettext.GNUTranslations:
    """Parse a ``.po`` file and compile it to an in-memory ``.mo``; no file is written."""
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=locale, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def load_catalogs(locale_dir: Path = LOCALE_DIR) -> dict[str, gettext.GNUTranslations]:
    return {
        locale: compile_catalog(locale_dir / locale / "LC_MESSAGES" / f"{DOMAIN}.po", locale)
        for locale in SUPPORTED_LOCALES
    }


def match_locale(tag: str | None) -> str | None:
    """The supported locale for a language tag (``zh-CN``, ``zh_Hans``, ``en-GB``...), if any."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    if primary == "zh":
        # Only Simplified Chinese is translated; it serves Chinese readers better than English.
        return "zh_CN"
    if primary == "en":
        return "en"
    return None


def negotiate(accept_language: str | None) -> str | None:
    """The best supported locale for an ``Accept-Language`` header, by quality then order."""
    if not accept_language:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")[:_MAX_ACCEPT_LANGUAGE_ENTRIES]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if not math.isfinite(quality) or quality <= 0:
            continue
        ranked.append((-quality, index, tag.strip()))
    for _quality, _index, tag in sorted(ranked):
        locale = match_locale(tag)
        if locale is not None:
            return locale
    return None


def choose_locale(
    *, cookie: str | None, account_locale: str | None, accept_language: str | None
) -> str:
    return (
        match_locale(cookie)
        or match_locale(account_locale)
        or negotiate(accept_language)
        or DEFAULT_LOCALE
    )


class I18n:
    """The compiled catalogs and one template environment per supported locale."""

    def __init__(
        self, *, templates_dir: Path = TEMPLATES_DIR, locale_dir: Path = LOCALE_DIR
    ) -> None:
        self.translations = load_catalogs(locale_dir)
        self._environments = {
            locale: self._environment(templates_dir, locale) for locale in SUPPORTED_LOCALES
        }

    def _environment(self, templates_dir: Path, locale: str) -> Environment:
        env = Environment(
            loader=FileSystemLoader(templates_dir),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.policies["ext.i18n.trimmed"] = True
        env.install_gettext_translations(  # type: ignore[attr-defined]  # added by the extension
            self.translations[locale], newstyle=True
        )
        env.filters["datetime"] = _datetime_filter(locale)
        env.filters["tone"] = avatar_tone
        env.globals["locale"] = locale
        env.globals["html_lang"] = HTML_LANG[locale]
        env.globals["language_names"] = LANGUAGE_NAMES
        return env

    def environment(self, locale: str) -> Environment:
        return self._environments.get(locale) or self._environments[DEFAULT_LOCALE]

    def gettext(self, locale: str) -> Callable[[str], str]:
        translations = self.translations.get(locale) or self.translations[DEFAULT_LOCALE]
        return translations.gettext


def avatar_tone(account_id: str) -> str:
    """A stable colour class for the placeholder avatar of an account without a picture."""
    return f"tone{sum(map(ord, account_id)) % 6}"


def _datetime_filter(locale: str) -> Callable[[datetime | None], str]:
    def format_value(value: datetime | None) -> str:
        if value is None:
            return ""
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return format_datetime(value, "medium", tzinfo=UTC, locale=locale) + " UTC"

    return format_value
