"""`python -m bot verify`: a code checked on the host (exit 0 genuine, 1 refused), the public key
printed for publishing, and a check with only that published key."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import paths, signing
from bot.domain.receipt_codes import ReceiptSigner, public_key_text
from bot.services.registry import build_services
from bot.verify_cli import EXIT_GENUINE, EXIT_NOT_GENUINE, EXIT_USAGE, main
from storage.db import Database
from storage.files import FileStore
from storage.migrate import migrate
from tests.clock import FakeClock
from tests.conftest import GUILD, RecordingNotifier, incoming, make_assignment, sha, student


async def _hand_in(data_dir: Path) -> str:
    """Group 1234 of Lab 1 handed in `work`; the code of its receipt, signed with the key the
    bot made in `data_dir`."""
    db = await Database.open(paths.database_path(data_dir), durable=False)
    try:
        await migrate(db)
        files = FileStore(paths.files_dir(data_dir))
        files.prepare()
        clock = FakeClock(datetime.now(UTC) - timedelta(hours=2))
        notifier = RecordingNotifier()
        signer = signing.load_signer(None, data_dir, create=True)
        services = build_services(db, files, clock, notifier, signer=signer)
        await make_assignment(services, "Lab 1", closes="+1h")
        await services.groups.create(GUILD, student(1), "Lab 1", "1234", sent_at=clock.now())
        await services.submissions.upload(
            GUILD, student(1), "Lab 1", incoming(b"work"), sent_at=clock.now()
        )
        clock.advance(3600)
        await services.finalizer.finalize_due()
        await services.receipts.deliver_pending()
        code = notifier.receipts[0].code
        assert code is not None
        return code
    finally:
        await db.close()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("HANDIN_DATA_DIR", str(data))
    monkeypatch.delenv("HANDIN_SIGNING_KEY", raising=False)
    monkeypatch.delenv("HANDIN_DATABASE_URL", raising=False)
    # Config reads ./.env too: keep a developer's own file out of the tests.
    monkeypatch.chdir(tmp_path)
    return data


@pytest.fixture
def code(data_dir: Path) -> str:
    return asyncio.run(_hand_in(data_dir))


def test_a_genuine_code_prints_its_fields_and_exits_0(
    code: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([code]) == EXIT_GENUINE
    out = capsys.readouterr().out
    assert out.startswith("genuine: ")
    assert "assignment: Lab 1" in out and "group PIN: 1234" in out
    assert f"sha256: {sha(b'work')}" in out
    assert "file: report.pdf" in out and "size: 4 bytes" in out
    assert "database: The database agrees" in out


def test_a_changed_character_is_refused_with_exit_1(
    code: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tampered = code[:60] + ("A" if code[60] != "A" else "B") + code[61:]
    assert main([tampered]) == EXIT_NOT_GENUINE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("refused: ") and "was changed" in captured.err


def test_a_code_of_another_key_is_refused_with_exit_1(
    code: str, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fields = signing.load_signer(None, data_dir, create=False).verifier.verify(code)
    assert main([ReceiptSigner.generate().sign(fields)]) == EXIT_NOT_GENUINE
    assert "another key" in capsys.readouterr().err


def test_garbage_is_refused_with_exit_1(code: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["not-a-code!"]) == EXIT_NOT_GENUINE
    assert "not a receipt code" in capsys.readouterr().err


def test_public_key_prints_the_key_that_verifies_the_codes(
    code: str, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--public-key"]) == EXIT_GENUINE
    published = capsys.readouterr().out.strip()
    signer = signing.load_signer(None, data_dir, create=False)
    assert published == public_key_text(signer.verifier.public_key)


def test_only_the_published_key_verifies_without_the_bot(
    code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Someone with only the published key (no data folder, no database) checks a code."""
    assert main(["--public-key"]) == EXIT_GENUINE
    key_file = tmp_path / "course-key.txt"
    key_file.write_text(capsys.readouterr().out)
    monkeypatch.setenv("HANDIN_DATA_DIR", str(tmp_path / "nowhere"))
    assert main([code, "--public-key-file", str(key_file)]) == EXIT_GENUINE
    out = capsys.readouterr().out
    assert "group PIN: 1234" in out and "database: not asked" in out
    other = public_key_text(ReceiptSigner.generate().verifier.public_key)
    key_file.write_text(other)
    assert main([code, "--public-key-file", str(key_file)]) == EXIT_NOT_GENUINE


def test_a_public_key_file_that_holds_no_key_is_one_line_exit_2(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "key.txt"
    bad.write_text("hello")
    assert main(["AAAA", "--public-key-file", str(bad)]) == EXIT_USAGE
    [line] = capsys.readouterr().err.strip().splitlines()
    assert str(bad) in line


def test_without_a_key_it_says_where_the_key_would_be(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--public-key"]) == EXIT_USAGE
    [line] = capsys.readouterr().err.strip().splitlines()
    assert str(signing.key_file(data_dir)) in line and "HANDIN_SIGNING_KEY" in line
    assert not signing.key_file(data_dir).exists()  # a tool never makes the key


def test_no_code_and_no_option_is_one_line_exit_2(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([]) == EXIT_USAGE
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_python_m_bot_verify_runs_the_tool(code: str, data_dir: Path, tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONDONTWRITEBYTECODE": "1",
        "HANDIN_DATA_DIR": str(data_dir),
    }
    run = [sys.executable, "-m", "bot", "verify"]
    genuine = subprocess.run(
        [*run, code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert genuine.returncode == 0, genuine.stderr
    assert "group PIN: 1234" in genuine.stdout
    refused = subprocess.run(
        [*run, code[:-3] + "xyz"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1 and refused.stderr.startswith("refused: ")
