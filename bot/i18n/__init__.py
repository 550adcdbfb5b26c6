"""Messages in the reader's language: one gettext catalog per language (`bot/i18n/locale/`),
plural forms by that language's rule, numbers and sizes in its format."""

from __future__ import annotations

import string
from datetime import datetime
from typing import Any

from babel import Locale
from babel.numbers import format_decimal

from bot.i18n.catalogs import compiled

# One line per language: its catalog (`locale/<code>/LC_MESSAGES/handin.po`) and the locale
# names that read it (Discord's `interaction.locale` values, and what admins type in /settings).
LANGUAGES: dict[str, tuple[str, ...]] = {
    "en": ("en-US", "en-GB"),
    "no": ("no", "nb", "nn"),
}
SUPPORTED = tuple(LANGUAGES)
DEFAULT = "en"

_ALIASES = {alias: language for language, aliases in LANGUAGES.items() for alias in aliases}

# Parameters that identify rather than count: shown as given, never as `12 345`.
_IDENTIFIERS = frozenset({"number", "line", "value", "pin", "error_id"})
_MENTIONS = {"user_id": "<@{}>", "holder": "<@{}>", "role_id": "<@&{}>"}
KIB = 1024
MIB = 1024 * 1024


def catalog(locale: str) -> dict[str, str]:
    """The finished singular messages of `locale`, key to text (command names, descriptions)."""
    return {key: forms[0] for key, forms in compiled(locale).texts.items() if len(forms) == 1}


def language_name(code: str) -> str:
    """The language's name in itself, as a menu shows it: `English`, `Norsk`, `Deutsch`."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def pick_locale(user_locale: str | None, guild_default: str | None = None) -> str:
    """The user's Discord locale when we have a catalog for it, else the guild's, else English."""
    for candidate in (user_locale, guild_default):
        if candidate is None:
            continue
        mapped = _ALIASES.get(candidate, candidate.split("-")[0].lower())
        if mapped in SUPPORTED:
            return mapped
    return DEFAULT


def timestamp(moment: datetime) -> str:
    """A Discord timestamp, shown in each reader's own time zone: full date plus relative."""
    unix = int(moment.timestamp())
    return f"<t:{unix}:F> (<t:{unix}:R>)"


def number(locale: str, value: int | float) -> str:
    """`1,234.5` in English, `1 234,5` (a no-break space) in Norwegian."""
    return format_decimal(value, locale=locale)


def human_size(locale: str, size_bytes: int) -> str:
    """`532 B`, `12.4 KiB`, `3.27 MiB` (`3,27 MiB` in Norwegian): sizes people read."""
    if size_bytes < KIB:
        return f"{number(locale, size_bytes)} B"
    if size_bytes < MIB:
        return f"{format_decimal(size_bytes / KIB, format='#,##0.0', locale=locale)} KiB"
    return f"{format_decimal(size_bytes / MIB, format='#,##0.00', locale=locale)} MiB"


def render_value(locale: str, name: str, value: Any) -> str:
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) and name in _MENTIONS:
        return _MENTIONS[name].format(value)
    if isinstance(value, int | float) and name not in _IDENTIFIERS:
        return number(locale, value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def t(locale: str, key: str, /, **params: Any) -> str:
    """The message `key` in `locale` (English when it is missing there) with `params`.

    A plural message takes the form for its `count` parameter; prefer `tn` for those."""
    count = params.get("count")
    count = count if isinstance(count, int) else None
    template = compiled(locale).lookup(key, count) or compiled(DEFAULT).lookup(key, count)
    if template is None:
        return key
    rendered = {name: render_value(locale, name, value) for name, value in params.items()}
    return template.format_map(_Defaulting(rendered))


def tn(locale: str, key: str, count: int, /, **params: Any) -> str:
    """The plural message `key` in the form `locale` uses for `count`, shown as `{count}`."""
    return t(locale, key, count=count, **params)


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class _Defaulting(dict[str, str]):
    """A missing placeholder renders as empty rather than failing a user's reply."""

    def __missing__(self, key: str) -> str:
        return ""
