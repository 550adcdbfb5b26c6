"""Small pure rules shared by the services: names, file types and sizes, the edit lease."""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from pathlib import PurePosixPath

from bot.domain.errors import FileTypesInvalidError

MIB = 1024 * 1024
LEASE = timedelta(minutes=10)
JOIN_FAILURE_WINDOW = timedelta(minutes=10)
JOIN_FAILURE_LIMIT = 5
JOIN_LOCKOUT = timedelta(minutes=10)


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
