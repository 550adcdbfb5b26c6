"""Small pure rules shared by the services: names, file types and sizes, the edit lease."""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from pathlib import PurePosixPath

from bot.domain.errors import (
    FileTypesInvalidError,
    PartDuplicateError,
    PartNameInvalidError,
    PartTypesInvalidError,
    TooManyPartsError,
)

MIB = 1024 * 1024
LEASE = timedelta(minutes=10)
JOIN_FAILURE_WINDOW = timedelta(minutes=10)
JOIN_FAILURE_LIMIT = 5
JOIN_LOCKOUT = timedelta(minutes=10)
# Discord shows at most 25 autocomplete choices; a hand-in with more parts is not one hand-in.
MAX_PARTS = 10
_PART_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def name_key(name: str) -> str:
    """The case- and form-insensitive key names are unique by (`Lab 1` == `lab 1`)."""
    return unicodedata.normalize("NFKC", name).casefold().strip()


def parse_file_types(text: str | None) -> tuple[str, ...]:
    """`pdf, .ZIP` -> ('pdf', 'zip'); empty or `any` -> () meaning every type."""
    if text is None or text.strip().lower() in {"", "any", "*", "alle"}:
        return ()
    types: list[str] = []
    for part in text.split(","):
        ext = part.strip().lower().lstrip(".")
        if not ext or not all(c.isalnum() or c in "-_." for c in ext) or len(ext) > 16:
            raise FileTypesInvalidError(value=text)
        if ext not in types:
            types.append(ext)
    return tuple(types)


def file_type_allowed(filename: str, allowed: tuple[str, ...]) -> bool:
    """True when `filename` ends in one of `allowed` (case-insensitive; `tar.gz` works too)."""
    if not allowed:
        return True
    lowered = PurePosixPath(filename.replace("\\", "/")).name.lower()
    return any(lowered.endswith("." + ext) for ext in allowed)


def mib(size_bytes: int) -> float:
    return round(size_bytes / MIB, 2)


def parse_parts(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`report:pdf; code:zip,tar.gz` -> (('report', ('pdf',)), ('code', ('zip', 'tar.gz'))).

    Parts are `;`-separated, each a name (1-32 letters, digits, `-` or `_`) with optional
    `:types`; empty, `none` or `off` -> () meaning no parts. Names are unique ignoring case.
    """
    if text.strip().lower() in {"", "none", "off"}:
        return ()
    parts: list[tuple[str, tuple[str, ...]]] = []
    seen: set[str] = set()
    for item in text.split(";"):
        if not item.strip():
            continue
        name, _, types = item.partition(":")
        name = name.strip()
        if not 1 <= len(name) <= 32 or not set(name) <= _PART_NAME_CHARS:
            raise PartNameInvalidError(name=name)
        if name.lower() in seen:
            raise PartDuplicateError(name=name)
        seen.add(name.lower())
        try:
            parsed = parse_file_types(types) if types.strip() else ()
        except FileTypesInvalidError:
            raise PartTypesInvalidError(part=name, value=types.strip()) from None
        parts.append((name, parsed))
    if len(parts) > MAX_PARTS:
        raise TooManyPartsError(limit=MAX_PARTS)
    return tuple(parts)


def format_parts(parts: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """The inverse of `parse_parts`, as staff would type it."""
    return "; ".join(name + (":" + ",".join(types) if types else "") for name, types in parts)
