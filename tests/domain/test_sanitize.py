"""Safe file names, CSV cells and slugs for exports (SPEC §3)."""

from __future__ import annotations

import pytest

from bot.domain.sanitize import (
    MAX_PART_BYTES,
    UniqueNames,
    csv_cell,
    safe_filename,
    slug,
    split_extension,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\evil.dll", "evil.dll"),
        ("dir/sub\\name.txt", "name.txt"),
        ("folder/", "folder"),
        ("..", "file"),
        ("/", "file"),
        ("", "file"),
        ("   ", "file"),
        ("a..b.pdf", "a.b.pdf"),
        ("...hidden", "hidden"),
        ("trailing. . .", "trailing"),
        ("tab\there\nnew\x00line\x7f.pdf", "tabherenewline.pdf"),
        ("evil\u202efdp.exe", "evilfdp.exe"),
        ("line\u2028break.txt", "linebreak.txt"),
        ('what?<is>:"this"|*.txt', "what__is___this___.txt"),
    ],
)
def test_safe_filename_removes_paths_controls_and_dots(given: str, expected: str) -> None:
    assert safe_filename(given) == expected


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        ("CON", "_CON"),
        ("con.txt", "_con.txt"),
        ("Nul.pdf", "_Nul.pdf"),
        ("COM1", "_COM1"),
        ("lpt9.tar.gz", "_lpt9.tar.gz"),
        ("AUX .txt", "_AUX.txt"),
        ("com¹.txt", "_com¹.txt"),
        ("dir/PRN", "_PRN"),
    ],
)
def test_windows_device_names_get_a_prefix(device: str, expected: str) -> None:
    assert safe_filename(device) == expected


@pytest.mark.parametrize("name", ["console.txt", "CON1.txt", "COM0", "nullable.pdf", "lpt.doc"])
def test_names_that_only_look_like_devices_are_kept(name: str) -> None:
    assert safe_filename(name) == name


def test_long_name_is_cut_to_255_bytes_keeping_the_extension() -> None:
    name = "a" * 400 + ".pdf"
    safe = safe_filename(name)
    assert len(safe.encode("utf-8")) == MAX_PART_BYTES
    assert safe.endswith("a.pdf")


def test_long_multibyte_name_is_cut_between_characters() -> None:
    name = "ø" * 200 + "😀" * 10 + ".docx"  # 400 + 40 bytes of UTF-8
    safe = safe_filename(name)
    encoded = safe.encode("utf-8")
    assert len(encoded) <= MAX_PART_BYTES
    assert safe.endswith(".docx")
    assert set(safe.removesuffix(".docx")) == {"ø"}


def test_long_extension_counts_as_part_of_the_name() -> None:
    assert split_extension("x." + "y" * 40) == ("x." + "y" * 40, "")
    assert len(safe_filename("x." + "y" * 400).encode()) == MAX_PART_BYTES


def test_duplicates_get_a_numbered_suffix_before_the_extension() -> None:
    names = UniqueNames()
    claimed = [names.claim(n) for n in ["a.pdf", "a.pdf", "A.PDF", "a (2).pdf", "b"]]
    assert claimed == ["a.pdf", "a (2).pdf", "A (3).PDF", "a (2) (2).pdf", "b"]


def test_duplicate_suffix_still_fits_255_bytes() -> None:
    names = UniqueNames()
    long = safe_filename("n" * 400 + ".pdf")
    first, second = names.claim(long), names.claim(long)
    assert first != second
    assert second.endswith(" (2).pdf")
    assert len(second.encode("utf-8")) <= MAX_PART_BYTES


@pytest.mark.parametrize("value", ["=1+1", "+31", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_formula_like_cells_get_a_leading_quote(value: str) -> None:
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["", "plain", "1234", "a=b", " =x", "'quoted"])
def test_ordinary_cells_are_unchanged(value: str) -> None:
    assert csv_cell(value) == value


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Lab 1", "lab-1"),
        ("  Øving 3: Æser & Ål!  ", "oving-3-aeser-al"),
        ("Café / Crème", "cafe-creme"),
        ("数学", "assignment"),
        ("---", "assignment"),
        ("x" * 100, "x" * 60),
    ],
)
def test_slug_is_ascii_lowercase_and_hyphenated(name: str, expected: str) -> None:
    assert slug(name) == expected
