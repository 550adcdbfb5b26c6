"""Owner-only folders and files: what the bot writes holds hand-ins and group passwords.

Modes are given at creation and then set exactly (a umask only takes bits away), rather than
by changing the process-wide umask, which would affect every library and thread.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
# Bits that let other accounts on the host read, write or enter.
OTHERS = stat.S_IRWXG | stat.S_IRWXO


def make_private_dir(path: Path, *, tighten_existing: bool = True) -> bool:
    """Create `path` (and missing parents) owner-only, or tighten it if it is open to others.

    `tighten_existing=False` leaves a folder that already existed as it is (one the admin
    chose, such as an export's `--out`). Returns True when an existing folder was tightened.
    Raises OSError when it cannot be created or tightened (e.g. another account owns it).
    """
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        # exist_ok: another process may create it at the same moment.
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
        # mkdir's mode passes through the umask, which may take the owner's own bits too.
        folder.chmod(DIR_MODE)
    if not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(path))
    if missing or not tighten_existing:
        return False
    return tighten(path, DIR_MODE)


def tighten(path: Path, mode: int) -> bool:
    """Set `mode` on `path` when group or others have any access; True when it changed."""
    current = stat.S_IMODE(path.stat().st_mode)
    if not current & OTHERS:
        return False
    path.chmod(mode)
    return True


def create_private_file(path: Path) -> None:
    """Make sure `path` exists as an owner-only file (created 0600 if missing, else tightened).

    For files another library creates itself, e.g. SQLite's database: SQLite gives its -wal
    and -shm files the database file's permissions, so they are owner-only too.
    """
    if path.exists():
        tighten(path, FILE_MODE)
        return
    os.close(open_private(path, os.O_WRONLY | os.O_CREAT))


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_EXCL) -> int:
    """Open a new file owner-only; returns the descriptor (O_EXCL: never an existing file)."""
    fd = os.open(path, flags | os.O_CLOEXEC, FILE_MODE)
    try:
        # As for folders: the umask could have left the owner without read or write.
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd
