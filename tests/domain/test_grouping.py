"""Random split sizes, the guessing limit, CSV rows and member references."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.csvlines import CsvDecodeError
from bot.domain.grouping import (
    CsvRow,
    MemberRefError,
    lockout_until,
    read_group_csv,
    resolve_member,
    split_sizes,
)
from bot.domain.models import Person

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def minutes(*values: float) -> list[datetime]:
    return [T0 + timedelta(minutes=v) for v in values]


@pytest.mark.parametrize("size", [2, 3, 4])
@pytest.mark.parametrize("count", range(1, 40))
def test_split_sizes_are_size_or_size_plus_one_when_possible(count: int, size: int) -> None:
    sizes = split_sizes(count, size)
    assert sum(sizes) == count
    possible = any(g * size <= count <= g * (size + 1) for g in range(1, count + 1))
    if possible:
        assert set(sizes) <= {size, size + 1}
    else:
        # e.g. 5 in groups of 3: the closest is one group short by the difference.
        assert max(sizes) <= size + 1


def test_split_sizes_spread_the_remainder_one_per_group() -> None:
    assert split_sizes(10, 3) == [4, 3, 3]
    assert split_sizes(11, 3) == [4, 4, 3]


def test_split_sizes_never_exceed_max_group_size() -> None:
    for count in range(1, 40):
        sizes = split_sizes(count, 3, max_size=3)
        assert sum(sizes) == count
        assert max(sizes) <= 3


def test_split_sizes_of_fewer_candidates_than_size_is_one_group() -> None:
    assert split_sizes(2, 3) == [2]
    assert split_sizes(0, 3) == []


def test_four_failures_do_not_lock_out() -> None:
    assert lockout_until(minutes(0, 1, 2, 3), T0 + timedelta(minutes=4)) is None


def test_five_failures_within_ten_minutes_lock_out_for_ten_minutes_from_the_fifth() -> None:
    failures = minutes(0, 2, 4, 6, 8)
    assert lockout_until(failures, T0 + timedelta(minutes=8)) == T0 + timedelta(minutes=18)
    assert lockout_until(failures, T0 + timedelta(minutes=17, seconds=59)) is not None
    assert lockout_until(failures, T0 + timedelta(minutes=18)) is None


def test_five_failures_spread_over_more_than_ten_minutes_do_not_lock_out() -> None:
    assert lockout_until(minutes(0, 3, 6, 9, 10.5), T0 + timedelta(minutes=11)) is None


def test_csv_rows_carry_physical_line_numbers_with_header_as_line_one() -> None:
    data = b'group_name,member\nA,1\n\nB,"two\nlines"\nC,3\nbad\n'
    rows, malformed = read_group_csv(data)
    assert [r.line for r in rows] == [2, 4, 6]
    assert rows[1] == CsvRow(4, "B", "two\nlines")
    assert malformed == [(7, "bad")]


def test_csv_header_is_optional() -> None:
    rows, malformed = read_group_csv(b"A,1\nB,2\n")
    assert [(r.line, r.group_name) for r in rows] == [(1, "A"), (2, "B")]
    assert malformed == []


def test_csv_bad_encoding_names_the_physical_line() -> None:
    with pytest.raises(CsvDecodeError) as caught:
        read_group_csv(b"group_name,member\nA,1\nB,\xff\n")
    assert caught.value.line == 3


def test_csv_bad_encoding_after_a_bom_names_the_physical_line() -> None:
    with pytest.raises(CsvDecodeError) as caught:
        read_group_csv(b"\xef\xbb\xbfgroup_name,member\nA,1\n\xff,2\n")
    assert caught.value.line == 3


def test_csv_with_bom_reads_the_header() -> None:
    rows, _ = read_group_csv(b"\xef\xbb\xbfgroup_name,member\nA,1\n")
    assert rows == [CsvRow(2, "A", "1")]


PEOPLE = [
    Person(111111111111111111, "ada", "Ada L", "ada-nick"),
    Person(222222222222222222, "bob", None, "Bobby"),
    Person(333333333333333333, "bobby", None, None),
]


def test_member_by_user_id() -> None:
    assert resolve_member("222222222222222222", PEOPLE) is PEOPLE[1]


def test_member_by_mention() -> None:
    assert resolve_member("<@!111111111111111111>", PEOPLE) is PEOPLE[0]
    assert resolve_member("<@111111111111111111>", PEOPLE) is PEOPLE[0]


def test_member_by_username_global_name_or_nickname() -> None:
    assert resolve_member("ada", PEOPLE) is PEOPLE[0]
    assert resolve_member("Ada L", PEOPLE) is PEOPLE[0]
    assert resolve_member("ADA-NICK", PEOPLE) is PEOPLE[0]


def test_member_name_matching_two_people_is_ambiguous() -> None:
    with pytest.raises(MemberRefError) as caught:
        resolve_member("bobby", PEOPLE)
    assert caught.value.reason == "ambiguous"


def test_unknown_member_is_refused() -> None:
    for ref in ("carol", "999999999999999999", "<@999999999999999999>"):
        with pytest.raises(MemberRefError) as caught:
            resolve_member(ref, PEOPLE)
        assert caught.value.reason == "unknown"
