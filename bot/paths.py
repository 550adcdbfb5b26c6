"""Where things live inside the data directory (HANDIN_DATA_DIR): database, files, exports."""

from __future__ import annotations

import logging
from pathlib import Path

from storage.private import make_private_dir

log = logging.getLogger(__name__)

DATABASE_NAME = "handin.sqlite3"
FILES_DIRNAME = "files"
EXPORTS_DIRNAME = "exports"


class DataDirError(Exception):
    """The data folder cannot be created or made owner-only; the message names it."""


def database_path(data_dir: Path) -> Path:
    return data_dir / DATABASE_NAME


def files_dir(data_dir: Path) -> Path:
    return data_dir / FILES_DIRNAME


def exports_dir(data_dir: Path) -> Path:
    return data_dir / EXPORTS_DIRNAME


def secure_data_dir(data_dir: Path) -> None:
    """Create the data folder owner-only (0700), or make an existing one owner-only.

    It holds every group's files and passwords: other accounts on the host must not read it.
    """
    try:
        tightened = make_private_dir(data_dir)
    except OSError as exc:
        raise DataDirError(
            f"cannot make the data folder {data_dir} owner-only (0700): {exc.strerror or exc};"
            " run the bot as the folder's owner or set HANDIN_DATA_DIR to a folder it owns"
        ) from exc
    if tightened:
        log.warning(
            "the data folder %s was open to other accounts: made it owner-only (0700)", data_dir
        )
