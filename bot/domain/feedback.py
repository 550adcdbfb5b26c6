"""Feedback back to the groups (SPEC §7): its types, the CSV rows and the ZIP's layout (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.csvlines import csv_rows
from bot.domain.models import Assignment, Group

# What one group's feedback may hold: it must fit one DM embed (a field holds 1,024
# characters; the comment is the description, 4,096) with room for the file list.
MAX_GRADE_CHARS = 100
MAX_COMMENT_CHARS = 3000
CSV_HEADER = ("group_pin", "grade", "comment")


@dataclass(frozen=True, slots=True)
class FeedbackFile:
    filename: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Feedback:
    """One group's feedback: a draft until released."""

    group_id: int
    pin: str
    grade: str
    comment: str
    files: tuple[FeedbackFile, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedbackDue:
    """A feedback DM in the outbox, as the dispatcher reads it."""

    id: int
    group_id: int
    user_id: int
    attempts: int


@dataclass(frozen=True, slots=True)
class FeedbackDm:
    """One member's feedback DM, with what it shows."""

    id: int
    assignment: Assignment
    group: Group
    user_id: int
    feedback: Feedback


@dataclass(frozen=True, slots=True)
class FeedbackRow:
    line: int
    pin: str
    grade: str
    comment: str


# (line number, message key, params): one problem of an import, as CsvImportError lists them.
Problem = tuple[int, str, dict[str, object]]


def read_feedback_csv(data: bytes) -> tuple[list[FeedbackRow], list[Problem]]:
    """The rows of a `group_pin,grade,comment` CSV with their physical line numbers, and the
    problems found in the rows themselves (format, PIN shape, duplicates, lengths).

    UTF-8 (a BOM is allowed); the header is optional. A row may leave the comment out."""
    rows: list[FeedbackRow] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for start, cells, _ in csv_rows(data, CSV_HEADER):
        problem = _row_problem(start, cells, seen)
        if problem is not None:
            problems.append(problem)
            continue
        pin, grade = cells[0], cells[1]
        comment = cells[2] if len(cells) > 2 else ""
        seen[pin] = start
        rows.append(FeedbackRow(start, pin, grade, comment))
    return rows, problems


def _row_problem(line: int, cells: list[str], seen: dict[str, int]) -> Problem | None:
    if len(cells) not in (2, 3):
        return (line, "feedback.csv.columns", {"count": len(cells)})
    pin = cells[0]
    if len(pin) != 4 or not pin.isascii() or not pin.isdigit():
        return (line, "feedback.csv.bad_pin", {"pin": pin[:20]})
    if pin in seen:
        return (line, "feedback.csv.duplicate", {"pin": pin, "line": seen[pin]})
    if len(cells[1]) > MAX_GRADE_CHARS:
        return (line, "feedback.csv.grade_too_long", {"limit": MAX_GRADE_CHARS})
    if len(cells) > 2 and len(cells[2]) > MAX_COMMENT_CHARS:
        return (line, "feedback.csv.comment_too_long", {"limit": MAX_COMMENT_CHARS})
    if not cells[1] and (len(cells) < 3 or not cells[2]):
        return (line, "feedback.csv.empty_row", {"pin": pin})
    return None


# Folders a ZIP tool adds on its own (macOS's resource forks): not part of the feedback.
IGNORED_ZIP_FOLDERS = ("__MACOSX/",)


def zip_entry_pin(name: str) -> str | None:
    """The PIN folder a ZIP entry lies in (`4711/report.pdf` -> `4711`), or None when it is
    not inside one (at the top, or under a folder that is not four digits)."""
    parts = name.replace("\\", "/").split("/")
    if len(parts) < 2 or not parts[-1]:
        return None
    pin = parts[0]
    if len(pin) != 4 or not pin.isascii() or not pin.isdigit():
        return None
    return pin


def is_ignored_entry(name: str) -> bool:
    """A folder entry, or one of a ZIP tool's own folders."""
    return name.endswith("/") or name.startswith(IGNORED_ZIP_FOLDERS)


@dataclass(frozen=True, slots=True)
class ReleaseResult:
    name: str
    groups: int
    deliveries: int
    released_at: datetime
