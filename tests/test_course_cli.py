"""`python -m bot feedback import|release` and `python -m bot purge`: staff on the host."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot import paths
from bot.__main__ import main
from tests.conftest import GUILD
from tests.test_export_cli import _populate


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    asyncio.run(_populate(data, close=True))
    monkeypatch.setenv("HANDIN_DATA_DIR", str(data))
    monkeypatch.chdir(tmp_path)
    return data


def _count(data_dir: Path, table: str) -> int:
    with sqlite3.connect(paths.database_path(data_dir)) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_feedback_import_then_release_queues_the_dms(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "feedback.csv"
    csv.write_text("group_pin,grade,comment\n1234,A,Fine work\n", encoding="utf-8")
    assert main(["feedback", "import", "Lab 1", "--guild", str(GUILD), str(csv)]) == 0
    assert "draft saved: 1 group, 0 files" in capsys.readouterr().out
    assert _count(data_dir, "feedback_deliveries") == 0
    assert main(["feedback", "release", "Lab 1", "--guild", str(GUILD)]) == 0
    assert "1 DMs queued" in capsys.readouterr().out
    assert _count(data_dir, "feedback_deliveries") == 1


def test_feedback_import_with_an_unknown_pin_exits_2_naming_the_line(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "feedback.csv"
    csv.write_text("9999,A,who\n", encoding="utf-8")
    assert main(["feedback", "import", "Lab 1", "--guild", str(GUILD), str(csv)]) == 2
    err = capsys.readouterr().err
    assert "Line 1" in err or "line 1" in err
    assert _count(data_dir, "feedback") == 0


def test_purge_with_yes_deletes_the_students_data(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["purge", "Lab 1", "--guild", str(GUILD), "--yes"]) == 0
    captured = capsys.readouterr()
    assert "purged Lab 1: 1 file deleted" in captured.out
    assert "never exported" in captured.err
    assert _count(data_dir, "candidates") == 0
    assert _count(data_dir, "uploads") == 0
    assert main(["purge", "Lab 1", "--guild", str(GUILD), "--yes"]) == 2
    assert "purged already" in capsys.readouterr().err


def test_purge_without_a_terminal_needs_yes(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["purge", "Lab 1", "--guild", str(GUILD)]) == 2
    assert "--yes" in capsys.readouterr().err
    assert _count(data_dir, "candidates") == 1
