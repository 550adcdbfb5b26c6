"""Free space of the file system that holds a folder, as the kernel reports it."""

from __future__ import annotations

import os
from pathlib import Path

from bot.domain.quotas import DiskUsage


class StatvfsFreeSpace:
    """`statvfs` of `path`'s file system: the bytes an unprivileged writer may still use (root's
    reserved blocks excluded, so the bot stops before the file system refuses others)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def usage(self) -> DiskUsage:
        stats = os.statvfs(self.path)
        return DiskUsage(
            total=stats.f_blocks * stats.f_frsize, free=stats.f_bavail * stats.f_frsize
        )
