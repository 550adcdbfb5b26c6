"""Names from users (upload file names, CSV group and member names, assignment names) never
escape the data dir: stored files live only under `files/` by SHA-256, and the export ZIP's
entry names are all safe."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from bot import signing
from bot.domain.errors import CsvImportError
from bot.tree import render_error
from sandbox import SandboxUser
from storage.db import fetch_all
from tests.security.conftest import DATABASE_FILES, Course, reply_of, tree_of

pytestmark = pytest.mark.e2e

LAB = "../../Lab ..\\ 1"
LONG_NAME = "a" * 296 + ".pdf"
HOSTILE_FILE_NAMES = (
    "../../etc/passwd",
    "..\\..\\x",
    "/abs/path",
    "CON",
    LONG_NAME,
    "C:\\Windows\\win.ini",
)
# (group name, member username): one group per hostile file name.
HOSTILE_ROWS = (
    ("../x", "../evil"),
    ("=cmd()", "=cmd()"),
    ("..\\..\\y", "carol"),
    ("/abs/group", "+dave"),
    ("CON", "-eve"),
    ("@SUM(1+1)", "frank"),
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
DEVICES = {"con", "prn", "aux", "nul"} | {f"{k}{d}" for k in ("com", "lpt") for d in "123456789"}


def csv_file(rows: list[tuple[str, str]]) -> dict[str, tuple[str, bytes, str]]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("group_name", "member"))
    writer.writerows(rows)
    return {"file": ("groups.csv", buffer.getvalue().encode(), "text/csv")}


async def upload_hashes(course: Course) -> set[str]:
    async with course.bot.services.db.reading() as conn:
        rows = await fetch_all(conn, "SELECT sha256 FROM uploads")
    return {row["sha256"] for row in rows}


def system_paths() -> dict[str, bytes | str | None]:
    """The absolute paths the hostile names point at: bytes, "folder", or None if missing."""
    found: dict[str, bytes | str | None] = {}
    for name in ("/etc/passwd", "/abs", "/abs/path", "/x", "/CON"):
        path = Path(name)
        found[name] = path.read_bytes() if path.is_file() else "folder" if path.is_dir() else None
    return found


def unsafe_entry(name: str) -> str | None:
    """Why a ZIP entry name would be unsafe to unpack, or None."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute"
    if "\\" in name:
        return "backslash"
    for part in PurePosixPath(name).parts:
        if part in ("", ".", ".."):
            return f"path part {part!r}"
        if len(part.encode()) > 255:
            return "part over 255 bytes"
        if part.split(".")[0].rstrip(" ").casefold() in DEVICES:
            return f"device name {part!r}"
        if any(ord(c) < 32 for c in part):
            return "control character"
    return None


async def hostile_course(course: Course) -> list[SandboxUser]:
    members = [course.student(username) for _, username in HOSTILE_ROWS]
    await course.run(
        course.staff,
        "assignment create",
        name=LAB,
        closes="+2h",
        mode="predefined",
        anonymous=False,
    )
    handle = await course.run(
        course.staff, "groups import", assignment=LAB, files=csv_file(list(HOSTILE_ROWS))
    )
    assert reply_of(handle).content.startswith("Imported: 6 new groups, 6 members placed")
    return members


async def test_hostile_names_never_escape_the_data_dir(
    course: Course, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A relative path the bot resolved against the working directory would land here.
    work = course.root / "cwd"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    system = system_paths()
    before = tree_of(tmp_path)
    members = await hostile_course(course)
    # A CSV naming a non-member (and an id no one has) is refused whole.
    snapshot = await course.snapshot()
    refused = await course.run(
        course.staff,
        "groups import",
        assignment=LAB,
        files=csv_file([("../z", "<@123>"), ("=evil()", "<@999999999999999999>")]),
    )
    problems = [(2, "csv.member_unknown", {"member": "<@123>"})]
    problems.append((3, "csv.member_unknown", {"member": "<@999999999999999999>"}))
    assert reply_of(refused).content == render_error("en", CsvImportError(problems))
    assert await course.snapshot() == snapshot
    contents = {}
    for member, filename in zip(members, HOSTILE_FILE_NAMES, strict=True):
        data = f"%PDF-1.4 {filename}\n".encode() + os.urandom(500)
        contents[filename] = data
        handle = await course.run(
            member, "upload", assignment=LAB, files={"file": (filename, data)}
        )
        assert reply_of(handle).content.startswith("Stored"), reply_of(handle).content
        download = await course.run(member, "download", assignment=LAB)
        assert [f.data for f in reply_of(download).attachments] == [data]
    await course.close(LAB)
    export = await course.run(course.staff, "export", assignment=LAB)
    await course.settle()

    # Nothing new outside the data dir, and nothing at the absolute paths users named.
    after = tree_of(tmp_path)
    data_dir = str(course.data_dir)
    outside = [p for p in set(before) | set(after) if not p.startswith(data_dir + os.sep)]
    changed = sorted(p for p in outside if before.get(p, "new") != after.get(p, "gone"))
    assert changed == [], changed
    assert system_paths() == system
    assert system["/abs"] is None

    # The data dir holds the database, the stored files, the exports and the signing key;
    # nothing else.
    top = {p.name for p in course.data_dir.iterdir()}
    assert top <= DATABASE_FILES | {"files", "exports", signing.KEY_FILE_NAME}, top

    # Stored files live only under files/ by SHA-256, one per upload, complete.
    files_dir = course.data_dir / "files"
    stored = {}
    for path in files_dir.rglob("*"):
        relative = path.relative_to(files_dir)
        if path.is_dir():
            assert relative.parts[0] == "tmp" or len(relative.parts) == 1, relative
            continue
        assert relative.parts[0] != "tmp", f"a temp file was left: {relative}"
        assert len(relative.parts) == 2 and len(relative.parts[0]) == 2, relative
        sha = "".join(relative.parts)
        assert re.fullmatch(r"[0-9a-f]{64}", sha), relative
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
        stored[sha] = path.read_bytes()
    assert set(stored) == await upload_hashes(course)
    assert sorted(stored.values()) == sorted(contents.values())

    # The export: one ZIP in exports/ with a safe name, and only safe entry names.
    (archive_path,) = (course.data_dir / "exports").iterdir()
    assert re.fullmatch(r"[a-z0-9-]+-\d{8}T\d{6}Z\.zip", archive_path.name), archive_path.name
    sent = reply_of(export).attachments
    assert [f.filename for f in sent] == [archive_path.name]
    assert sent[0].data == archive_path.read_bytes()
    with zipfile.ZipFile(archive_path) as archive:
        names = archive.namelist()
        unsafe = {n: unsafe_entry(n) for n in names if unsafe_entry(n)}
        assert unsafe == {}
        folders = [n for n in names if "/" in n]
        assert len(folders) == len(HOSTILE_FILE_NAMES)
        assert all(re.fullmatch(r"\d{4}/[^/]+", n) for n in folders), folders
        assert sorted(archive.read(n) for n in folders) == sorted(contents.values())
        cells = [
            cell
            for table in ("results.csv", "candidates.csv")
            for row in csv.reader(io.StringIO(archive.read(table).decode("utf-8")))
            for cell in row
        ]
    # Every hostile name made it into the CSVs, defused: a formula cell starts with `'`.
    assert "'=cmd()" in cells and "'+dave" in cells and "'@SUM(1+1)" in cells
    assert [c for c in cells if c.startswith(FORMULA_STARTS)] == []
