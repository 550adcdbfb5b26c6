"""Safe names for what an export writes: file names in the ZIP, CSV cells, the assignment slug."""

from __future__ import annotations

import re
import unicodedata

MAX_PART_BYTES = 255
FALLBACK_NAME = "file"
FALLBACK_SLUG = "assignment"

# Windows opens these as devices whatever the extension (`con.txt` too), and also with the
# superscript digits it treats as digits (`COM¹`).
_DEVICE_DIGITS = "123456789¹²³"
_DEVICES = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"{kind}{digit}" for kind in ("com", "lpt") for digit in _DEVICE_DIGITS}
)
# Invisible direction marks can make `evil‮fdp.exe` read as `evil.exe.pdf` to a grader.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Not allowed in Windows file names: graders unpack on every system.
_WINDOWS_RESERVED = frozenset('<>:"|?*')
_DOT_RUNS = re.compile(r"\.{2,}")
# An extension longer than this is part of the name, not something worth keeping whole.
_MAX_EXTENSION_CHARS = 16

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# Letters NFKD does not decompose to ASCII but course names in Nordic languages use.
_TRANSLITERATE = str.maketrans(
    {"ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "ß": "ss", "đ": "d", "Đ": "d", "ł": "l"}
    | {"Ł": "l", "þ": "th", "Þ": "th", "œ": "oe", "Œ": "oe", "ð": "d", "Ð": "d"}
)
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_MAX_SLUG_CHARS = 60


def safe_filename(name: str) -> str:
    """One safe path part from a name as the uploader gave it.

    Only the last `/`- or `\\`-separated part is kept; control characters, direction marks and
    characters Windows refuses go; dot runs shrink to one dot (no `..`) and leading and
    trailing dots and spaces go; a Windows device name gets a `_` in front; the result is at
    most 255 bytes of UTF-8, cut between characters with the extension kept. Empty -> `file`.
    """
    part = _last_part(unicodedata.normalize("NFC", name))
    part = "".join(_clean_char(c) for c in part if not _dropped(c))
    part = _DOT_RUNS.sub(".", part).strip(". ")
    if not part:
        return FALLBACK_NAME
    # Windows reads the part before the first dot (`con.tar.gz` is CON too).
    if part.split(".")[0].rstrip(" ").casefold() in _DEVICES:
        part = "_" + part
    stem, ext = split_extension(part)
    return fit_name(stem, ext)


def _last_part(name: str) -> str:
    parts = [p for p in re.split(r"[/\\]", name) if p.strip(". ")]
    return parts[-1] if parts else ""


def _dropped(char: str) -> bool:
    # Cc: C0/C1 controls (NUL, newlines, ESC...); Zl/Zp: line breaks that split a CSV row in
    # some viewers.
    return unicodedata.category(char) in {"Cc", "Zl", "Zp"} or char in _BIDI


def _clean_char(char: str) -> str:
    return "_" if char in _WINDOWS_RESERVED else char


def split_extension(name: str) -> tuple[str, str]:
    """`report.final.pdf` -> (`report.final`, `.pdf`); no dot or an odd one -> (name, ``)."""
    dot = name.rfind(".")
    if dot <= 0 or len(name) - dot - 1 > _MAX_EXTENSION_CHARS:
        return name, ""
    return name[:dot], name[dot:]


def fit_name(stem: str, ext: str, suffix: str = "", limit: int = MAX_PART_BYTES) -> str:
    """`stem + suffix + ext`, the stem cut (between characters) so the whole fits `limit` bytes."""
    room = limit - len((suffix + ext).encode("utf-8"))
    cut = stem.encode("utf-8")[: max(room, 0)].decode("utf-8", errors="ignore")
    # Cutting can leave a trailing dot or space, which Windows drops silently.
    cut = cut.rstrip(". ") or FALLBACK_NAME
    return cut + suffix + ext


class UniqueNames:
    """Hands out names unique within one folder: a repeat gets ` (2)`, ` (3)`, ... before its
    extension. Compared case-insensitively, as Windows and macOS file systems do."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def claim(self, name: str) -> str:
        stem, ext = split_extension(name)
        candidate, n = name, 1
        while candidate.casefold() in self._taken:
            n += 1
            candidate = fit_name(stem, ext, f" ({n})")
        self._taken.add(candidate.casefold())
        return candidate


def csv_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets a leading `'`."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def slug(name: str) -> str:
    """An ASCII, lowercase, hyphenated form of an assignment name for file names."""
    text = unicodedata.normalize("NFKD", name.translate(_TRANSLITERATE))
    text = text.encode("ascii", errors="ignore").decode("ascii").lower()
    text = _NOT_SLUG.sub("-", text).strip("-")
    text = text[:_MAX_SLUG_CHARS].rstrip("-")
    return text or FALLBACK_SLUG
