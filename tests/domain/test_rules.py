"""Names, file types, sizes, and each group's deadlines."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.errors import FileTypesInvalidError
from bot.domain.models import Assignment, AssignmentState, Group, GroupMode, deadlines_for
from bot.domain.rules import file_type_allowed, name_key, parse_file_types

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def test_names_are_the_same_regardless_of_case_and_width() -> None:
    assert name_key("Lab 1") == name_key("LAB 1") == name_key("ｌａｂ 1")
    assert name_key("Straße") == name_key("STRASSE")


def test_file_types_accept_dots_spaces_and_case() -> None:
    assert parse_file_types(" .PDF, zip ,pdf") == ("pdf", "zip")


def test_file_types_any_means_every_type() -> None:
    assert parse_file_types(None) == parse_file_types("any") == parse_file_types("") == ()


@pytest.mark.parametrize("text", ["pdf,,zip", "p df", "pdf;zip", "x" * 17])
def test_malformed_file_types_are_refused(text: str) -> None:
    with pytest.raises(FileTypesInvalidError):
        parse_file_types(text)


def test_file_type_is_matched_case_insensitively_on_the_extension() -> None:
    assert file_type_allowed("Report.PDF", ("pdf",))
    assert file_type_allowed("code.tar.gz", ("tar.gz",))
    assert not file_type_allowed("report.pdf.exe", ("pdf",))
    assert not file_type_allowed("pdf", ("pdf",))
    assert file_type_allowed("anything", ())


def assignment(**changes: object) -> Assignment:
    base = Assignment(
        id=1,
        guild_id=1,
        name="Lab",
        opens_at=T0,
        closes_at=T0 + 2 * H,
        late_until=None,
        closed_at=None,
        group_mode=GroupMode.OPEN,
        auto_submit=True,
        submit_once=False,
        max_group_size=None,
        max_file_mb=1.5,
        file_types=(),
        single_editor=False,
        anonymous=True,
        role_id=None,
        channel_id=None,
        reminders=(),
        created_by=1,
        created_at=T0,
        exported_at=None,
        max_uploads=200,
        max_storage_mb=500.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def group(closes_at: datetime | None = None) -> Group:
    return Group(1, 1, "1234", None, None, closes_at, None, None, None)


def test_max_file_mb_is_mebibytes_with_decimals() -> None:
    assert assignment().max_file_bytes == 1572864


def test_assignment_states_follow_opens_closes_and_late_until() -> None:
    a = assignment(late_until=T0 + 3 * H)
    assert a.state(T0 - H) is AssignmentState.SCHEDULED
    assert a.state(T0) is AssignmentState.OPEN
    assert a.state(T0 + 2 * H) is AssignmentState.OPEN
    assert a.state(T0 + 3 * H) is AssignmentState.CLOSED


def test_extension_moves_the_late_window_with_it() -> None:
    a = assignment(late_until=T0 + 3 * H)
    deadlines = deadlines_for(a, group(T0 + 5 * H))
    assert deadlines.closes_at == T0 + 5 * H
    assert deadlines.late_until == T0 + 6 * H
    assert not deadlines.is_late(T0 + 4 * H)
    assert deadlines.is_late(T0 + 5 * H)
    assert deadlines.accepts(T0 + 6 * H - timedelta(microseconds=1))
    assert not deadlines.accepts(T0 + 6 * H)


def test_group_without_extension_has_the_assignment_deadlines() -> None:
    deadlines = deadlines_for(assignment(), group())
    assert deadlines.closes_at == T0 + 2 * H
    assert deadlines.late_until is None
    assert deadlines.final == T0 + 2 * H
