"""`python -m bot export`: the command-line export, its output and its exit codes."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import paths
from bot.export_cli import main
from bot.services.registry import build_services
from storage.connect import connect_database
from storage.db import Database
from storage.files import FileStore
from storage.migrate import migrate
from tests import backends
from tests.clock import FakeClock
from tests.conftest import GUILD, RecordingNotifier, incoming, make_assignment, student
from tests.modes import exposed, mode, umask

ROOT = Path(__file__).resolve().parents[1]


async def _populate(data_dir: Path, *, close: bool, url: str | None = None) -> None:
    """One group with one upload; closed an hour ago, or open for another hour.

    The command line uses the system clock, so the course is placed around the real now.
    """
    if url is None:
        db: Database = await Database.open(paths.database_path(data_dir), durable=False)
    else:
        db = await connect_database(url, paths.database_path(data_dir))
    try:
        await migrate(db)
        files = FileStore(paths.files_dir(data_dir))
        files.prepare()
        clock = FakeClock(datetime.now(UTC) - timedelta(hours=2 if close else 0))
        services = build_services(db, files, clock, RecordingNotifier())
        await make_assignment(services, "Lab 1", closes="+1h")
        await services.groups.create(GUILD, student(1), "Lab 1", "1234", sent_at=clock.now())
        await services.submissions.upload(
            GUILD, student(1), "Lab 1", incoming(b"work"), sent_at=clock.now()
        )
        if close:
            clock.advance(3600)
            await services.finalizer.finalize_due()
    finally:
        await db.close()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    asyncio.run(_populate(data, close=True))
    monkeypatch.setenv("HANDIN_DATA_DIR", str(data))
    # Config reads ./.env too: keep a developer's own file out of the tests.
    monkeypatch.chdir(tmp_path)
    return data


def _one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_export_prints_the_zip_path_and_exits_0(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new" / "folder"

    code = main(["LAB 1", "--guild", str(GUILD), "--out", str(out)])

    captured = capsys.readouterr()
    assert code == 0
    path = Path(_one_line(captured.out))
    assert path.parent == out and path.name.startswith("lab-1-") and path.suffix == ".zip"
    with zipfile.ZipFile(path) as archive:
        assert archive.read("1234/report.pdf") == b"work"
        assert "candidates.csv" not in archive.namelist()
    assert captured.err == ""


def test_with_names_adds_candidates_csv(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["Lab 1", "--guild", str(GUILD), "--out", str(tmp_path), "--with-names"])

    path = Path(capsys.readouterr().out.strip())
    assert code == 0
    with zipfile.ZipFile(path) as archive:
        assert b"student1" in archive.read("candidates.csv")


def test_zip_and_the_folders_made_for_it_are_owner_only_under_an_open_umask(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chosen = tmp_path / "grading"
    chosen.mkdir(mode=0o755)
    out = chosen / "lab-1"
    with umask(0):
        assert main(["Lab 1", "--guild", str(GUILD), "--out", str(out)]) == 0

    path = Path(capsys.readouterr().out.strip())
    assert mode(path) == 0o600
    # The folder made for it is owner-only; the one the admin made keeps its mode.
    assert mode(out) == 0o700 and mode(chosen) == 0o755
    assert exposed(out) == []


def test_default_out_is_the_exports_folder_of_the_data_dir(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["Lab 1", "--guild", str(GUILD)]) == 0

    path = Path(capsys.readouterr().out.strip())
    assert path.parent == paths.exports_dir(data_dir)


def test_open_assignment_is_exported_as_a_snapshot_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_populate(tmp_path, close=False))
    monkeypatch.setenv("HANDIN_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)

    code = main(["Lab 1", "--guild", str(GUILD), "--out", str(tmp_path / "out")])

    captured = capsys.readouterr()
    assert code == 0
    assert "snapshot" in _one_line(captured.err)
    with zipfile.ZipFile(captured.out.strip()) as archive:
        assert "SNAPSHOT.txt" in archive.namelist()
        assert b",pending" in archive.read("results.csv")


def test_corrupt_file_is_a_warning_and_the_export_still_succeeds(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for stored in paths.files_dir(data_dir).glob("??/*"):
        stored.write_bytes(b"bit rot")

    code = main(["Lab 1", "--guild", str(GUILD), "--out", str(tmp_path)])

    captured = capsys.readouterr()
    assert code == 0
    assert "group 1234" in _one_line(captured.err)
    assert "mismatch" in captured.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["Nope", "--guild", str(GUILD)], "unknown assignment 'Nope'"),
        (["Lab 1", "--guild", "999"], "unknown guild 999"),
        (["Lab 1", "--guild", "abc"], "not a Discord id"),
        (["Lab 1"], "--guild"),
        ([], "required"),
        (["Lab 1", "--guild", str(GUILD), "--bogus"], "unrecognized arguments"),
    ],
)
def test_refusals_exit_2_with_one_line(
    data_dir: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(argv)

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    line = _one_line(captured.err)
    assert line.startswith("export: ") and message in line


def test_missing_database_exits_2_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    monkeypatch.setenv("HANDIN_DATA_DIR", str(empty))
    monkeypatch.chdir(tmp_path)

    code = main(["Lab 1", "--guild", str(GUILD), "--out", str(tmp_path / "out")])

    assert code == 2
    assert "no database at" in _one_line(capsys.readouterr().err)
    assert not empty.exists()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content", [b"this is not sqlite, just text" * 100, b""])
def test_a_file_that_is_not_a_hand_in_database_exits_2(
    content: bytes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    paths.database_path(tmp_path).write_bytes(content)
    monkeypatch.setenv("HANDIN_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)

    code = main(["Lab 1", "--guild", str(GUILD)])

    assert code == 2
    assert "is not a hand-in database" in _one_line(capsys.readouterr().err)
    assert paths.database_path(tmp_path).read_bytes() == content


def test_out_that_is_a_file_exits_2(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x")

    assert main(["Lab 1", "--guild", str(GUILD), "--out", str(target)]) == 2
    assert "not a folder" in _one_line(capsys.readouterr().err)


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "--with-names" in capsys.readouterr().out


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_is_drawn_only_on_a_terminal(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)

    assert main(["Lab 1", "--guild", str(GUILD), "--out", str(tmp_path)]) == 0

    assert terminal.getvalue() == "\r[" + "#" * 30 + "] 1/1 file\n"


def test_runs_as_a_module_in_its_own_process(data_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "HANDIN_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bot.export_cli", "lab 1", "--guild", str(GUILD), "--out", "x"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (done.returncode, done.stderr) == (0, "")
    assert Path(tmp_path / done.stdout.strip()).is_file()
    refused = subprocess.run(
        [sys.executable, "-m", "bot.export_cli", "lab 1", "--guild", "5"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2
    assert _one_line(refused.stderr) == "export: unknown guild 5: it has no assignments in " + str(
        paths.database_path(data_dir)
    )


@pytest.mark.skipif(not backends.ON_POSTGRESQL, reason="the export of a PostgreSQL database")
def test_export_reads_the_database_the_url_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pg = backends.cluster()
    name = pg.create_database()
    try:
        data = tmp_path / "data"
        data.mkdir()
        url = pg.url(name)
        monkeypatch.setenv("HANDIN_DATABASE_URL", url)
        monkeypatch.setenv("HANDIN_DATA_DIR", str(data))
        monkeypatch.chdir(tmp_path)
        asyncio.run(_populate(data, close=True, url=url))

        code = main(["Lab 1", "--guild", str(GUILD), "--out", str(tmp_path / "out")])

        captured = capsys.readouterr()
        assert code == 0, captured.err
        with zipfile.ZipFile(_one_line(captured.out)) as archive:
            assert archive.read("1234/report.pdf") == b"work"
        assert not paths.database_path(data).exists()
    finally:
        pg.drop_database(name)
