"""Message catalogs (one JSON file per locale) and the rendering of a key with its parameters."""

from __future__ import annotations

import json
import string
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

SUPPORTED = ("en", "no")
DEFAULT = "en"

# Discord's locale values that map onto our catalogs (`no` is Discord's Norwegian).
_DISCORD_LOCALES = {"en-US": "en", "en-GB": "en", "no": "no", "nb": "no", "nn": "no"}


@cache
def catalog(locale: str) -> dict[str, str]:
    text = resources.files("bot.i18n").joinpath(f"{locale}.json").read_text(encoding="utf-8")
    data: dict[str, str] = json.loads(text)
    return data


def pick_locale(user_locale: str | None, guild_default: str | None = None) -> str:
    """The user's Discord locale when we have a catalog for it, else the guild's, else English."""
    for candidate in (user_locale, guild_default):
        if candidate is None:
            continue
        mapped = _DISCORD_LOCALES.get(candidate, candidate.split("-")[0].lower())
        if mapped in SUPPORTED:
            return mapped
    return DEFAULT


def timestamp(moment: datetime) -> str:
    """A Discord timestamp, shown in each reader's own time zone: full date plus relative."""
    unix = int(moment.timestamp())
    return f"<t:{unix}:F> (<t:{unix}:R>)"


def render_value(name: str, value: Any) -> str:
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int) and (name.endswith("user_id") or name in {"holder", "role_id"}):
        return f"<@&{value}>" if name == "role_id" else f"<@{value}>"
    return str(value)


def t(locale: str, key: str, /, **params: Any) -> str:
    """The message `key` in `locale` (English when the key is missing there) with `params`."""
    template = catalog(locale).get(key) or catalog(DEFAULT).get(key)
    if template is None:
        return key
    rendered = {name: render_value(name, value) for name, value in params.items()}
    return template.format_map(_Defaulting(rendered))


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class _Defaulting(dict[str, str]):
    """A missing placeholder renders as empty rather than failing a user's reply."""

    def __missing__(self, key: str) -> str:
        return ""
