"""Where things live inside the data directory (HANDIN_DATA_DIR): database, files, exports."""

from __future__ import annotations

from pathlib import Path

DATABASE_NAME = "handin.sqlite3"
FILES_DIRNAME = "files"
EXPORTS_DIRNAME = "exports"


def database_path(data_dir: Path) -> Path:
    return data_dir / DATABASE_NAME


def files_dir(data_dir: Path) -> Path:
    return data_dir / FILES_DIRNAME


def exports_dir(data_dir: Path) -> Path:
    return data_dir / EXPORTS_DIRNAME
