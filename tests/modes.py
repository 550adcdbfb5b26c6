"""Permission bits: what under a folder other accounts on the host could reach."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

OTHERS = stat.S_IRWXG | stat.S_IRWXO


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def exposed(root: Path) -> list[str]:
    """Every folder or file at or under `root` that group or others may access, with its mode
    (empty when everything is owner-only); fails when `root` does not exist."""
    found = [root, *sorted(root.rglob("*"))]
    return [f"{p} {oct(mode(p))}" for p in found if mode(p) & OTHERS]


@contextmanager
def umask(value: int) -> Iterator[None]:
    """Run the block under another process umask (the bot must not depend on it)."""
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)
