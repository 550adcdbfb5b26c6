"""The export for grading: results.csv, the final files and their hashes, names only on request."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.domain.errors import AnonymityLockedError, AssignmentNotFoundError, StaffOnlyError
from bot.domain.models import Actor, GroupMode, Person
from bot.domain.sanitize import MAX_PART_BYTES
from bot.services.assignments import AssignmentOptions
from bot.services.exports import RESULTS_HEADER, ExportResult, ExportService
from bot.services.registry import Services
from storage.files import FileStore
from tests.clock import FakeClock
from tests.conftest import GUILD, LIMIT, STAFF, incoming, later, make_assignment, sha, student
from tests.filestore import stored_path

# Snowflake-sized ids and unusual names: neither can turn up in a hash or a size by chance.
ALICE = Actor(user_id=734_512_349_876_543_210, display_name="Alice Quixotewood")
BOB = Actor(user_id=734_512_349_876_543_211, display_name="Bob Zanzibarsson")
CAROL = Actor(user_id=734_512_349_876_543_212, display_name="Carol Yggdrasilsen")
DAVE = Actor(user_id=734_512_349_876_543_213, display_name="Dave Xylophonique")
PEOPLE = (ALICE, BOB, CAROL, DAVE)


@dataclass
class Unpacked:
    result: ExportResult
    entries: dict[str, bytes]

    @property
    def rows(self) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(self.entries["results.csv"].decode("utf-8"))))

    def row(self, pin: str) -> dict[str, str]:
        return next(r for r in self.rows if r["group_pin"] == pin)


@pytest.fixture
def exports(services: Services) -> ExportService:
    return ExportService(services.db, services.files, services.clock)


async def export(
    exports: ExportService, out: Path, *, actor: Actor | None = STAFF, with_names: bool = False
) -> Unpacked:
    result = await exports.export(GUILD, actor, "lab 1", out, with_names=with_names)
    with zipfile.ZipFile(result.path) as archive:
        assert archive.testzip() is None
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    return Unpacked(result, entries)


async def numbers_of(services: Services, *actors: Actor) -> list[str]:
    found = []
    for actor in actors:
        ready = await services.groups.ready(GUILD, actor, "Lab 1")
        found.append(str(ready.candidate.number))
    return found


async def course(services: Services, clock: FakeClock) -> None:
    """Group 1234 (Alice, Bob) uploads twice; 5678 (Carol) uploads nothing; Dave has no group."""
    await make_assignment(services, closes="+1h")
    now = clock.now()
    await services.groups.create(GUILD, ALICE, "Lab 1", "1234", sent_at=now)
    await services.groups.join(GUILD, BOB, "Lab 1", "1234", sent_at=now)
    await services.groups.create(GUILD, CAROL, "Lab 1", "5678", sent_at=now)
    await services.groups.ready(GUILD, DAVE, "Lab 1")
    await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"draft", "draft.pdf"), sent_at=later(clock, 60)
    )
    await services.submissions.upload(
        GUILD, BOB, "Lab 1", incoming(b"%PDF final", "Final report.pdf"), sent_at=later(clock, 120)
    )


async def close(services: Services, clock: FakeClock, seconds: float = 3600) -> None:
    clock.advance(seconds)
    await services.finalizer.finalize_due()


async def test_closed_export_has_one_row_per_group_then_candidates_without_group(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await course(services, clock)
    await close(services, clock)
    alice, bob, carol, dave = await numbers_of(services, *PEOPLE)

    unpacked = await export(exports, tmp_path / "out")

    header = unpacked.entries["results.csv"].split(b"\r\n", 1)[0]
    assert header == ",".join(RESULTS_HEADER).encode()
    assert unpacked.rows == [
        {
            "assignment": "Lab 1",
            "group_pin": "1234",
            "group_name": "1234",
            "candidate_numbers": ";".join(sorted([alice, bob])),
            "final_file": "1234/Final report.pdf",
            "size_bytes": str(len(b"%PDF final")),
            "sha256": sha(b"%PDF final"),
            "sent_at": "2026-11-27T12:02:00.000Z",
            "uploaded_by": bob,
            "late": "no",
            "handed_in_by": "",
            "status": "submitted",
            "part": "",
            "same_file_as": "",
        },
        {
            "assignment": "Lab 1",
            "group_pin": "5678",
            "group_name": "5678",
            "candidate_numbers": carol,
            **dict.fromkeys(RESULTS_HEADER[4:11], ""),
            "status": "no submission",
            "part": "",
            "same_file_as": "",
        },
        {
            "assignment": "Lab 1",
            **dict.fromkeys(RESULTS_HEADER[1:3], ""),
            "candidate_numbers": dave,
            **dict.fromkeys(RESULTS_HEADER[4:11], ""),
            "status": "no group",
            "part": "",
            "same_file_as": "",
        },
    ]


async def test_zip_holds_each_final_file_with_its_uploaded_bytes(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await course(services, clock)
    await close(services, clock)

    unpacked = await export(exports, tmp_path / "out")

    assert set(unpacked.entries) == {"results.csv", "1234/Final report.pdf"}
    data = unpacked.entries["1234/Final report.pdf"]
    assert data == b"%PDF final"
    row = unpacked.row("1234")
    assert hashlib.sha256(data).hexdigest() == row["sha256"]
    assert len(data) == int(row["size_bytes"])
    assert unpacked.result.files == 1
    assert unpacked.result.groups == 2
    assert unpacked.result.problems == ()
    assert unpacked.result.snapshot is False
    assert unpacked.result.size_bytes == unpacked.result.path.stat().st_size


async def test_zip_is_named_by_slug_and_utc_time_in_a_created_folder(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await course(services, clock)
    await close(services, clock)
    out = tmp_path / "deep" / "exports"

    unpacked = await export(exports, out)

    assert unpacked.result.path == out / "lab-1-20261127T130000Z.zip"
    assert [p.name for p in out.iterdir()] == ["lab-1-20261127T130000Z.zip"]


async def test_second_export_in_the_same_second_does_not_overwrite_the_first(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await course(services, clock)
    await close(services, clock)

    first = await export(exports, tmp_path)
    second = await export(exports, tmp_path)

    assert first.result.path.name == "lab-1-20261127T130000Z.zip"
    assert second.result.path.name == "lab-1-20261127T130000Z-2.zip"
    assert first.result.path.is_file()


async def test_open_assignment_exports_a_snapshot_with_pending_rows(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await course(services, clock)

    unpacked = await export(exports, tmp_path)

    assert unpacked.result.snapshot is True
    assert "SNAPSHOT.txt" in unpacked.entries
    assert b"pending" in unpacked.entries["SNAPSHOT.txt"]
    assert unpacked.row("1234")["status"] == "pending"
    assert unpacked.row("1234")["final_file"] == "1234/Final report.pdf"
    assert unpacked.entries["1234/Final report.pdf"] == b"%PDF final"
    assert unpacked.row("5678")["status"] == "pending"
    assert unpacked.row("5678")["final_file"] == ""


async def test_closed_export_has_no_snapshot_note(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await course(services, clock)
    await close(services, clock)

    unpacked = await export(exports, tmp_path)

    assert "SNAPSHOT.txt" not in unpacked.entries


async def test_group_with_an_extension_is_pending_after_the_assignment_closed(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await course(services, clock)
    await services.assignments.extend(GUILD, STAFF, "Lab 1", "5678", "+3h", sent_at=clock.now())
    await close(services, clock)

    unpacked = await export(exports, tmp_path)

    assert unpacked.result.snapshot is True
    assert unpacked.row("1234")["status"] == "submitted"
    assert unpacked.row("5678")["status"] == "pending"


async def test_group_past_its_deadline_but_not_finalized_shows_what_finalizing_records(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await course(services, clock)
    clock.advance(3600)  # the bot was down: nobody ran the finalizer

    unpacked = await export(exports, tmp_path)

    assert unpacked.result.snapshot is False
    assert unpacked.row("1234")["status"] == "submitted"
    assert unpacked.row("1234")["sha256"] == sha(b"%PDF final")
    assert unpacked.row("5678")["status"] == "no submission"


async def test_late_upload_and_hand_in_are_reported_by_candidate_number(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await make_assignment(services, closes="+1h", late_until="+2h", auto_submit=False)
    await services.groups.create(GUILD, ALICE, "Lab 1", "4321", sent_at=clock.now())
    await services.groups.join(GUILD, BOB, "Lab 1", "4321", sent_at=clock.now())
    await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"late work"), sent_at=later(clock, 3700)
    )
    await services.submissions.handin(GUILD, BOB, "Lab 1", sent_at=later(clock, 3710))
    alice, bob = await numbers_of(services, ALICE, BOB)
    await close(services, clock, 2 * 3600)

    row = (await export(exports, tmp_path)).row("4321")

    assert (row["uploaded_by"], row["handed_in_by"]) == (alice, bob)
    assert row["late"] == "yes"
    assert row["status"] == "submitted"


async def test_predefined_group_is_named_as_staff_named_it(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await make_assignment(services, closes="+1h", mode=GroupMode.PREDEFINED)
    person = Person(user_id=ALICE.user_id, username="alice")
    view = await services.groups.staff_add(GUILD, STAFF, "Lab 1", person, "Team Rocket")
    await close(services, clock)

    row = (await export(exports, tmp_path)).row(view.group.pin)

    assert re.fullmatch(r"\d{4}", row["group_pin"])
    assert row["group_name"] == "Team Rocket"
    assert row["status"] == "no submission"


async def test_group_everyone_left_is_exported_without_candidate_numbers(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await make_assignment(services, closes="+1h")
    await services.groups.create(GUILD, ALICE, "Lab 1", "1111", sent_at=clock.now())
    await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"kept"), sent_at=later(clock, 10)
    )
    await services.groups.leave(GUILD, ALICE, "Lab 1", sent_at=later(clock, 20))
    (alice,) = await numbers_of(services, ALICE)
    await close(services, clock)

    unpacked = await export(exports, tmp_path)

    row = unpacked.row("1111")
    assert (row["candidate_numbers"], row["uploaded_by"], row["status"]) == ("", alice, "submitted")
    assert unpacked.rows[-1]["candidate_numbers"] == alice
    assert unpacked.rows[-1]["status"] == "no group"


# --- damaged stored files --------------------------------------------------------------------
async def test_overwritten_stored_file_is_reported_corrupt(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await course(services, clock)
    await close(services, clock)
    stored_path(services.files, sha(b"%PDF final")).write_bytes(b"%PDF tampered")

    unpacked = await export(exports, tmp_path)

    row = unpacked.row("1234")
    assert row["status"] == "corrupt"
    assert row["sha256"] == sha(b"%PDF final")  # what was recorded, for comparison
    (problem,) = unpacked.result.problems
    assert (problem.pin, problem.reason) == ("1234", "mismatch")
    assert unpacked.entries[row["final_file"]] == b"%PDF tampered"


async def test_missing_stored_file_is_reported_corrupt_not_skipped(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await course(services, clock)
    await close(services, clock)
    stored_path(services.files, sha(b"%PDF final")).unlink()

    unpacked = await export(exports, tmp_path)

    row = unpacked.row("1234")
    assert (row["status"], row["final_file"]) == ("corrupt", "")
    assert [p.reason for p in unpacked.result.problems] == ["missing"]
    assert set(unpacked.entries) == {"results.csv"}
    assert unpacked.result.files == 0


# --- anonymity -------------------------------------------------------------------------------
def _identifying(people: tuple[Actor, ...]) -> list[bytes]:
    return [t.encode() for p in people for t in (p.display_name, str(p.user_id))]


async def test_anonymous_export_contains_no_names_or_user_ids(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await course(services, clock)
    await close(services, clock)

    unpacked = await export(exports, tmp_path)

    assert "candidates.csv" not in unpacked.entries
    raw = unpacked.result.path.read_bytes()
    for secret in _identifying(PEOPLE):
        assert secret not in raw
        assert all(secret not in data for data in unpacked.entries.values())


async def test_with_names_adds_candidates_csv_with_ids_and_names(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await course(services, clock)
    await close(services, clock)
    numbers = await numbers_of(services, *PEOPLE)

    unpacked = await export(exports, tmp_path, with_names=True)

    text = unpacked.entries["candidates.csv"].decode("utf-8")
    assert text.startswith("candidate_number,user_id,display_name\r\n")
    rows = list(csv.reader(io.StringIO(text)))[1:]
    expected = sorted(
        [n, str(p.user_id), p.display_name] for n, p in zip(numbers, PEOPLE, strict=True)
    )
    assert rows == expected
    assert b"Alice Quixotewood" not in unpacked.entries["results.csv"]


async def test_non_anonymous_assignment_always_has_candidates_csv(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await make_assignment(services, closes="+1h", anonymous=False)
    await services.groups.create(GUILD, ALICE, "Lab 1", "1234", sent_at=clock.now())

    unpacked = await export(exports, tmp_path)

    assert b"Alice Quixotewood" in unpacked.entries["candidates.csv"]


async def test_export_marks_the_assignment_exported_which_locks_anonymity(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await course(services, clock)
    await export(exports, tmp_path)

    assignment = await services.assignments.get(GUILD, "Lab 1")
    assert assignment.exported_at == clock.now()
    with pytest.raises(AnonymityLockedError):
        await services.assignments.edit(
            GUILD,
            STAFF,
            "Lab 1",
            AssignmentOptions(anonymous=False),
            sent_at=clock.now(),
            upload_limit_bytes=LIMIT,
        )


# --- refusals ------------------------------------------------------------------------------
async def test_export_by_a_student_is_refused_and_writes_nothing(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await course(services, clock)

    with pytest.raises(StaffOnlyError):
        await exports.export(GUILD, student(1), "Lab 1", tmp_path / "out")

    assert not (tmp_path / "out").exists()
    assert (await services.assignments.get(GUILD, "Lab 1")).exported_at is None


async def test_export_of_an_unknown_assignment_is_refused(
    services: Services, exports: ExportService, tmp_path: Path
) -> None:
    with pytest.raises(AssignmentNotFoundError):
        await exports.export(GUILD, None, "nope", tmp_path)


# --- hostile input -------------------------------------------------------------------------
HOSTILE = [
    "../../../etc/passwd",
    "..\\..\\Windows\\win.ini",
    "C:\\Users\\x\\report.pdf",
    "ctrl\x00\x1b[31m\nname.pdf",
    "CON.txt",
    "nul",
    "é" * 300 + ".pdf",
    "x" * 400 + ".pdf",
    "..",
    "report.pdf",
    "report.pdf",
    "REPORT.PDF",
]


def _assert_safe(arcname: str) -> None:
    folder, name = arcname.split("/")
    assert re.fullmatch(r"\d{4}", folder)
    assert "\\" not in name and ".." not in name and name.strip(". ") == name
    assert not any(unicodedata.category(c) == "Cc" for c in name)
    assert len(name.encode("utf-8")) <= MAX_PART_BYTES
    assert name.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL"}


async def test_hostile_file_names_come_out_safe_and_unique(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await make_assignment(services, closes="+1h")
    pins = []
    for n, filename in enumerate(HOSTILE, start=1):
        actor = student(n)
        pin = f"{n:04d}"
        await services.groups.create(GUILD, actor, "Lab 1", pin, sent_at=clock.now())
        data = f"file {n}".encode()
        await services.submissions.upload(
            GUILD, actor, "Lab 1", incoming(data, filename), sent_at=later(clock, n)
        )
        pins.append((pin, data))
    await close(services, clock)

    unpacked = await export(exports, tmp_path)

    files = [name for name in unpacked.entries if "/" in name]
    assert len(files) == len(set(f.casefold() for f in files)) == len(HOSTILE)
    for name in files:
        _assert_safe(name)
    for pin, data in pins:
        row = unpacked.row(pin)
        assert unpacked.entries[row["final_file"]] == data
    assert unpacked.row("0005")["final_file"] == "0005/_CON.txt"
    with zipfile.ZipFile(unpacked.result.path) as archive:
        for info in archive.infolist():
            assert not info.filename.startswith("/") and ".." not in info.filename


async def test_formula_like_cells_are_escaped(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await make_assignment(services, "=HYPERLINK(x)", closes="+1h", mode=GroupMode.PREDEFINED)
    for n, group_name in enumerate(["@SUM(A1)", "+cmd|' /C calc'!A0", '-2, "quoted"']):
        person = Person(user_id=200 + n, username=f"u{n}")
        await services.groups.staff_add(GUILD, STAFF, "=HYPERLINK(x)", person, group_name)
    await close(services, clock)

    result = await exports.export(GUILD, STAFF, "=hyperlink(x)", tmp_path)
    with zipfile.ZipFile(result.path) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("results.csv").decode())))

    assert result.path.name.startswith("hyperlink-x-")
    assert {r["assignment"] for r in rows} == {"'=HYPERLINK(x)"}
    assert sorted(r["group_name"] for r in rows) == sorted(
        ["'@SUM(A1)", "'+cmd|' /C calc'!A0", '\'-2, "quoted"']
    )


async def test_progress_is_reported_once_per_file(
    services: Services, clock: FakeClock, exports: ExportService, tmp_path: Path
) -> None:
    await course(services, clock)
    await services.submissions.upload(
        GUILD, CAROL, "Lab 1", incoming(b"carol"), sent_at=later(clock, 30)
    )
    await close(services, clock)
    calls: list[tuple[int, int]] = []

    await exports.export(
        GUILD, STAFF, "Lab 1", tmp_path, progress=lambda d, t: calls.append((d, t))
    )

    assert calls == [(1, 2), (2, 2)]


async def test_export_reads_files_from_the_store_it_was_given(
    services: Services, clock: FakeClock, tmp_path: Path
) -> None:
    await course(services, clock)
    await close(services, clock)
    elsewhere = FileStore(tmp_path / "empty-store")

    result = await ExportService(services.db, elsewhere, clock).export(
        GUILD, None, "Lab 1", tmp_path / "out"
    )

    assert [p.reason for p in result.problems] == ["missing"]


async def test_members_with_the_role_who_never_acted_get_a_no_group_row(
    services: Services, exports: ExportService, tmp_path: Path
) -> None:
    role = 77
    await make_assignment(services, closes="+2h", role_id=role)
    people = [Person(user_id=4242, username="quiet", role_ids=frozenset({role}))]
    result = await exports.export(GUILD, STAFF, "Lab 1", tmp_path, people=people)
    with zipfile.ZipFile(result.path) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("results.csv").decode())))
    assert [row["status"] for row in rows] == ["no group"]
