"""The gettext catalogs on disk (`locale/<language>/LC_MESSAGES/handin.po`), read with Babel and
compiled in memory at first use."""

from __future__ import annotations

import gettext
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

DOMAIN = "handin"


def catalog_file(language: str) -> Traversable:
    return resources.files("bot.i18n").joinpath(f"locale/{language}/LC_MESSAGES/{DOMAIN}.po")


@cache
def po_catalog(language: str) -> Catalog:
    """The `.po` file of `language` as Babel reads it (with comments, fuzzy flags, empties)."""
    with catalog_file(language).open("rb") as fp:
        return read_po(fp, locale=language, domain=DOMAIN)


def entries(catalog: Catalog) -> Iterator[Message]:
    """Every message of `catalog` but its header."""
    return (message for message in catalog if message.id)


def key_of(message: Message) -> str:
    # A plural message's id is (msgid, msgid_plural); both are the same key here.
    return message.id if isinstance(message.id, str) else message.id[0]


def forms_of(message: Message) -> tuple[str, ...]:
    """A singular message's text as a 1-tuple, a plural message's forms in catalog order."""
    string = message.string
    return (string,) if isinstance(string, str) else tuple(string or ())


@dataclass(frozen=True)
class Compiled:
    """What rendering needs from one catalog: finished texts and the plural rule."""

    texts: Mapping[str, tuple[str, ...]]
    plural_index: Callable[[int], int]

    def lookup(self, key: str, count: int | None) -> str | None:
        forms = self.texts.get(key)
        if forms is None:
            return None
        if len(forms) == 1:
            return forms[0]
        # A plural message rendered without a count shows its most general form.
        index = len(forms) - 1 if count is None else self.plural_index(count)
        return forms[min(index, len(forms) - 1)]


@cache
def compiled(language: str) -> Compiled:
    """Fuzzy or (partly) untranslated messages are left out, so the English text shows instead
    of an empty or doubtful one. The plural rule is the catalog's own `Plural-Forms` header,
    the one a translator sees and may correct, evaluated the way GNU gettext does."""
    catalog = po_catalog(language)
    texts = {
        key_of(message): forms_of(message)
        for message in entries(catalog)
        if not message.fuzzy and all(forms_of(message))
    }
    return Compiled(texts=texts, plural_index=gettext.c2py(catalog.plural_expr))
