"""Identical files across groups: the same SHA-256 in the same part, two or more groups."""

from __future__ import annotations

from bot.domain.identical import IdenticalFiles, identical_files, same_file_as

A, B = "a" * 64, "b" * 64


def test_groups_sharing_a_hash_in_a_part_are_listed_once_each() -> None:
    found = identical_files(
        [("2000", "report", A), ("1000", "report", A), ("1000", "report", A), ("3000", "code", A)]
    )
    assert found == (IdenticalFiles("report", A, ("1000", "2000")),)


def test_a_hash_alone_in_its_part_is_not_listed() -> None:
    assert identical_files([("1000", "report", A), ("2000", "code", A), ("3000", None, B)]) == ()


def test_same_file_as_names_only_the_other_groups() -> None:
    shared = identical_files([("1000", None, A), ("2000", None, A), ("3000", None, A)])
    assert same_file_as(shared) == {
        ("1000", None): ("2000", "3000"),
        ("2000", None): ("1000", "3000"),
        ("3000", None): ("1000", "2000"),
    }
