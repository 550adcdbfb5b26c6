"""HANDIN_DATABASE_URL: which database the bot opens."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Config, ConfigError
from storage.connect import connect_database
from storage.db import SqliteDatabase, sqlite_path


def test_no_url_means_the_data_folders_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HANDIN_DATABASE_URL", raising=False)
    assert Config.from_env(require_token=False, env_file=tmp_path / ".env").database_url is None


def test_the_url_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDIN_DATABASE_URL", "postgresql://handin@db.example.org/handin")
    config = Config.from_env(require_token=False, env_file=tmp_path / ".env")
    assert config.database_url == "postgresql://handin@db.example.org/handin"


@pytest.mark.parametrize("url", ["mysql://x/y", "handin.sqlite3", "sqlite"])
def test_an_unknown_url_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("HANDIN_DATABASE_URL", url)
    with pytest.raises(ConfigError, match="HANDIN_DATABASE_URL"):
        Config.from_env(require_token=False, env_file=tmp_path / ".env")


def test_sqlite_urls_name_relative_and_absolute_files() -> None:
    assert sqlite_path("sqlite:///data/handin.sqlite3") == Path("data/handin.sqlite3")
    assert sqlite_path("sqlite:////srv/handin.sqlite3") == Path("/srv/handin.sqlite3")
    with pytest.raises(ValueError, match="three slashes"):
        sqlite_path("sqlite://handin.sqlite3")


@pytest.mark.parametrize("given", [None, "", "sqlite"])
async def test_connect_opens_the_sqlite_file(tmp_path: Path, given: str | None) -> None:
    default = tmp_path / "default.sqlite3"
    other = tmp_path / "other.sqlite3"
    url = f"sqlite:///{other}" if given == "sqlite" else given
    db = await connect_database(url, default)
    try:
        assert isinstance(db, SqliteDatabase)
        assert db.path == (other if given == "sqlite" else default)
        assert db.path is not None and db.path.exists()
    finally:
        await db.close()


async def test_connect_refuses_an_unknown_scheme(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        await connect_database("mysql://x/y", tmp_path / "x.sqlite3")
