"""Counted messages take their language's plural form for 0, 1, 2 and 5, and numbers and sizes
are written the way each language writes them."""

from __future__ import annotations

import pytest

from bot.domain.errors import CsvImportError, GroupFullError
from bot.i18n import SUPPORTED, human_size, number, t, tn
from bot.i18n.catalogs import entries, forms_of, key_of, po_catalog
from bot.tree import render_error

NBSP = "\xa0"  # Norwegian groups digits with a no-break space

# Every plural message, rendered for 0, 1, 2 and 5, in every language. Other parameters:
PARAMS: dict[str, dict[str, object]] = {
    "error.group_full": {"pin": "0427"},
    "csv.group_too_large": {"group": "A"},
    "cli.export.progress": {"done": 0},
    "cli.demo.entries": {"names": "…"},
    "groups.list_title": {"name": "Lab 1"},
    "error.upload_rate": {"until": "soon"},
}
COUNTS = (0, 1, 2, 5)


def _same(pattern: str) -> tuple[str, ...]:
    """A message whose words do not change with the count in this language."""
    return tuple(pattern.format(n) for n in COUNTS)


EXPECTED: dict[str, dict[str, tuple[str, ...]]] = {
    "overview.identical": {
        "en": tuple(
            f"Identical files handed in by different groups ({n})"
            for n in ("0 files", "1 file", "2 files", "5 files")
        ),
        "no": tuple(
            f"Identiske filer levert av ulike grupper ({n})"
            for n in ("0 filer", "1 fil", "2 filer", "5 filer")
        ),
    },
    "count.candidates": {
        "en": ("0 candidates", "1 candidate", "2 candidates", "5 candidates"),
        "no": ("0 kandidater", "1 kandidat", "2 kandidater", "5 kandidater"),
    },
    "count.groups": {
        "en": ("0 groups", "1 group", "2 groups", "5 groups"),
        "no": ("0 grupper", "1 gruppe", "2 grupper", "5 grupper"),
    },
    "count.uploads": {
        "en": ("0 uploads", "1 upload", "2 uploads", "5 uploads"),
        "no": ("0 opplastinger", "1 opplasting", "2 opplastinger", "5 opplastinger"),
    },
    "count.handins": {
        "en": ("0 hand-ins", "1 hand-in", "2 hand-ins", "5 hand-ins"),
        "no": ("0 leveringer", "1 levering", "2 leveringer", "5 leveringer"),
    },
    "count.submissions": {
        "en": (
            "0 final submissions",
            "1 final submission",
            "2 final submissions",
            "5 final submissions",
        ),
        "no": (
            "0 endelige innleveringer",
            "1 endelig innlevering",
            "2 endelige innleveringer",
            "5 endelige innleveringer",
        ),
    },
    "count.with_uploads": {
        "en": ("0 with uploads", "1 with an upload", "2 with uploads", "5 with uploads"),
        "no": (
            "0 med opplastinger",
            "1 med opplasting",
            "2 med opplastinger",
            "5 med opplastinger",
        ),
    },
    "count.members": {
        "en": ("0 members", "1 member", "2 members", "5 members"),
        "no": ("0 medlemmer", "1 medlem", "2 medlemmer", "5 medlemmer"),
    },
    "count.days": {
        "en": ("0 days", "1 day", "2 days", "5 days"),
        "no": ("0 dager", "1 dag", "2 dager", "5 dager"),
    },
    "feedback.replaced": {
        "en": tuple(
            f"It replaces the earlier draft of {n} group{'' if n == 1 else 's'}."
            for n in (0, 1, 2, 5)
        ),
        "no": tuple(
            f"Det erstatter det forrige utkastet for {n} gruppe{'' if n == 1 else 'r'}."
            for n in (0, 1, 2, 5)
        ),
    },
    "count.files": {
        "en": ("0 files", "1 file", "2 files", "5 files"),
        "no": ("0 filer", "1 fil", "2 filer", "5 filer"),
    },
    "count.new_groups": {
        "en": ("0 new groups", "1 new group", "2 new groups", "5 new groups"),
        "no": ("0 nye grupper", "1 ny gruppe", "2 nye grupper", "5 nye grupper"),
    },
    "count.placed": {
        "en": ("0 members placed", "1 member placed", "2 members placed", "5 members placed"),
        "no": (
            "0 medlemmer plassert",
            "1 medlem plassert",
            "2 medlemmer plassert",
            "5 medlemmer plassert",
        ),
    },
    "count.unchanged": {
        "en": tuple(f"{n} already in place" for n in (0, 1, 2, 5)),
        "no": tuple(f"{n} var allerede på plass" for n in (0, 1, 2, 5)),
    },
    "count.random_groups": {
        "en": ("0 random groups", "1 random group", "2 random groups", "5 random groups"),
        "no": (
            "0 tilfeldige grupper",
            "1 tilfeldig gruppe",
            "2 tilfeldige grupper",
            "5 tilfeldige grupper",
        ),
    },
    # Headings and "and N more": one form in English and Norwegian, but a count all the same.
    "group.members": {"en": _same("Members ({})"), "no": _same("Medlemmer ({})")},
    "status.uploads": {"en": _same("Uploads ({})"), "no": _same("Opplastinger ({})")},
    "status.more": {"en": _same("… and {} older"), "no": _same("… og {} eldre")},
    "overview.groups": {"en": _same("Groups ({})"), "no": _same("Grupper ({})")},
    "overview.without_group": {
        "en": _same("Without a group ({})"),
        "no": _same("Uten gruppe ({})"),
    },
    "overview.undelivered": {
        "en": _same("Could not be reached by DM ({})"),
        "no": _same("Kunne ikke nås på direktemelding ({})"),
    },
    "groups.list_title": {
        "en": _same("Groups of Lab 1 ({})"),
        "no": _same("Grupper i Lab 1 ({})"),
    },
    "groups.list_more": {
        "en": _same("… and {} more: see /assignment overview or /export"),
        "no": _same("… og {} til: se /oppgave oversikt eller /eksporter"),
    },
    "csv.more": {"en": _same("… and {} more"), "no": _same("… og {} til")},
    "rules.max_group_size": {
        "en": (
            "At most 0 members per group",
            "At most 1 member per group",
            "At most 2 members per group",
            "At most 5 members per group",
        ),
        "no": (
            "Høyst 0 medlemmer per gruppe",
            "Høyst 1 medlem per gruppe",
            "Høyst 2 medlemmer per gruppe",
            "Høyst 5 medlemmer per gruppe",
        ),
    },
    "error.group_full": {
        "en": tuple(
            f"Group `0427` is full (at most {n} member{'' if n == 1 else 's'})."
            " Join another group or create your own."
            for n in (0, 1, 2, 5)
        ),
        "no": tuple(
            f"Gruppe `0427` er full (høyst {n} medlem{'' if n == 1 else 'mer'})."
            " Bli med i en annen gruppe, eller opprett din egen."
            for n in (0, 1, 2, 5)
        ),
    },
    "error.upload_quota": {
        "en": tuple(
            f"Not stored: your group has used {'the' if n == 1 else 'all'} {n}"
            f" upload{'' if n == 1 else 's'} allowed for this assignment. Your earlier uploads"
            " still count. To upload again, ask staff to raise `max_uploads`."
            for n in COUNTS
        ),
        "no": tuple(
            f"Ikke lagret: gruppen din har brukt {'den' if n == 1 else 'alle de'} {n}"
            f" opplasting{'en' if n == 1 else 'ene'} som er tillatt i denne oppgaven. De"
            " tidligere opplastingene deres gjelder fortsatt. Be faglærer om å heve"
            " `maks-opplastinger` hvis dere må laste opp igjen."
            for n in COUNTS
        ),
    },
    "error.upload_rate": {
        "en": tuple(
            f"Not stored: you sent {n} upload{'' if n == 1 else 's'} within a minute, the most"
            " allowed. Try again soon."
            for n in COUNTS
        ),
        "no": tuple(
            f"Ikke lagret: du har sendt {n} opplasting{'' if n == 1 else 'er'} på under ett"
            " minutt, og det er grensen. Prøv igjen fra soon."
            for n in COUNTS
        ),
    },
    "csv.group_too_large": {
        "en": tuple(
            f"group A would have more than {n} member{'' if n == 1 else 's'}" for n in (0, 1, 2, 5)
        ),
        "no": tuple(
            f"gruppe A ville fått mer enn {n} medlem{'' if n == 1 else 'mer'}" for n in (0, 1, 2, 5)
        ),
    },
    "error.csv_import": {
        "en": tuple(
            f"Nothing was imported: {n} problem{'' if n == 1 else 's'} in the file."
            f" Fix {'it' if n == 1 else 'them'} and import the whole file again:"
            for n in (0, 1, 2, 5)
        ),
        "no": tuple(
            f"Ingenting ble importert: {n} feil i filen."
            f" Rett {'den' if n == 1 else 'dem'} og importer hele filen på nytt:"
            for n in (0, 1, 2, 5)
        ),
    },
    "cli.export.progress": {
        "en": ("0/0 files", "0/1 file", "0/2 files", "0/5 files"),
        "no": ("0/0 filer", "0/1 fil", "0/2 filer", "0/5 filer"),
    },
    "cli.demo.deadline": {
        "en": tuple(
            f"A TA creates an assignment that closes in {n} second{'' if n == 1 else 's'}"
            for n in (0, 1, 2, 5)
        ),
        "no": tuple(
            f"En studentassistent oppretter en oppgave som stenger om {n} sekund"
            f"{'' if n == 1 else 'er'}"
            for n in (0, 1, 2, 5)
        ),
    },
    "cli.demo.entries": {
        "en": ("0 entries: …", "1 entry: …", "2 entries: …", "5 entries: …"),
        "no": ("0 filer: …", "1 fil: …", "2 filer: …", "5 filer: …"),
    },
}


def _plural_keys() -> set[str]:
    return {key_of(m) for m in entries(po_catalog("en")) if len(forms_of(m)) > 1}


def test_every_plural_message_is_checked_here() -> None:
    assert sorted(_plural_keys() ^ set(EXPECTED)) == []


@pytest.mark.parametrize("locale", SUPPORTED)
@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_a_counted_message_takes_the_form_of_its_count(key: str, locale: str) -> None:
    rendered = tuple(tn(locale, key, n, **PARAMS.get(key, {})) for n in COUNTS)
    assert rendered == EXPECTED[key][locale]


@pytest.mark.parametrize(("locale", "expected"), [("en", "1 member"), ("no", "1 medlem")])
def test_a_domain_error_with_a_count_takes_its_form(locale: str, expected: str) -> None:
    assert f"{expected})" in render_error(locale, GroupFullError(pin="0427", count=1))


def test_csv_problems_with_a_count_take_their_form() -> None:
    error = CsvImportError([(3, "csv.group_too_large", {"group": "A", "count": 1})])
    text = render_error("en", error)
    assert text.startswith("Nothing was imported: 1 problem in the file. Fix it ")
    assert text.endswith("line 3: group A would have more than 1 member")


# --- numbers and sizes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "expected"), [("en", "12,345 uploads"), ("no", f"12{NBSP}345 opplastinger")]
)
def test_a_count_is_written_in_the_language_s_number_format(locale: str, expected: str) -> None:
    assert tn(locale, "count.uploads", 12345) == expected


@pytest.mark.parametrize(
    ("locale", "size", "expected"),
    [
        ("en", 532, "532 B"),
        ("no", 532, "532 B"),
        ("en", 12_697, "12.4 KiB"),
        ("no", 12_697, "12,4 KiB"),
        ("en", 3_428_843, "3.27 MiB"),
        ("no", 3_428_843, "3,27 MiB"),
        ("en", 1536 * 1024 * 1024, "1,536.00 MiB"),
        ("no", 1536 * 1024 * 1024, f"1{NBSP}536,00 MiB"),
    ],
)
def test_sizes_are_written_in_the_language_s_format(locale: str, size: int, expected: str) -> None:
    assert human_size(locale, size) == expected


def test_numbers_use_the_language_s_separators() -> None:
    assert number("en", 1234567.5) == "1,234,567.5"
    assert number("no", 1234567.5) == f"1{NBSP}234{NBSP}567,5"


def test_candidate_numbers_and_other_identifiers_are_not_grouped() -> None:
    text = t("no", "group.member_line", user_id=7, number=12345)
    assert text == "<@7> · kandidat 12345"
