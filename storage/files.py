"""Content-addressed file store: each file lives once, under its SHA-256, never half-written."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from storage.private import DIR_MODE, make_private_dir, open_private

log = logging.getLogger(__name__)

# Bytes buffered per upload before one thread hop hashes and writes them.
WRITE_BLOCK = 256 * 1024
READ_BLOCK = 1 << 20


class StoreLimitError(Exception):
    """The byte stream was larger than the limit the caller allowed."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


class DamagedFileError(Exception):
    """A stored file's bytes no longer match its name (or its recorded size)."""

    def __init__(self, sha256: str) -> None:
        super().__init__(f"stored file {sha256[:12]} is damaged")
        self.sha256 = sha256


@dataclass(frozen=True, slots=True)
class ReceivedFile:
    """Bytes written and fsynced under a temp name, hashed, not yet under their final name."""

    temp: Path
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class StoredFile:
    sha256: str
    size: int
    path: Path


class FileStore:
    """Files under `root/ab/cdef...` named by their SHA-256.

    A write goes to `root/tmp/<random>` while it is hashed, is fsynced, then renamed onto its
    final name and the directory fsynced: a crash leaves at most a stray temp file (removed at
    start-up), never a partial file under a final name. Identical content is stored once.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"

    def prepare(self) -> None:
        """Create the folders (owner-only) and drop temp files a crash left behind."""
        make_private_dir(self.root)
        make_private_dir(self._tmp)
        for stray in self._tmp.iterdir():
            with contextlib.suppress(FileNotFoundError):
                stray.unlink()

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256[2:]

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    async def receive(self, chunks: AsyncIterable[bytes], *, max_bytes: int) -> ReceivedFile:
        """Write a byte stream to a temp file, hashing it, and fsync it; `publish_many` or
        `discard` it next. Raise StoreLimitError past `max_bytes` (nothing kept)."""
        temp = self._tmp / uuid.uuid4().hex
        digest = hashlib.sha256()
        size = 0
        handle: BinaryIO = await asyncio.to_thread(_open_temp, temp)
        try:
            # Hashing and writing run in a worker thread, a block at a time: in a rush the event
            # loop must stay free for defers, and page-cache writes stall while other uploads
            # fsync (profiled: they were half of the loop's time at 1,000 uploads).
            pending: list[bytes] = []
            pending_size = 0
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise StoreLimitError(max_bytes)
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= WRITE_BLOCK:
                    await asyncio.to_thread(_write_block, handle, digest, pending)
                    pending, pending_size = [], 0
            await asyncio.to_thread(_write_block, handle, digest, pending, sync=True)
        except BaseException:
            handle.close()
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise
        handle.close()
        return ReceivedFile(temp=temp, sha256=digest.hexdigest(), size=size)

    async def stage(self, received: ReceivedFile) -> None:
        """Nothing to do: the bytes are on this disk, fsynced; `publish_many` names them."""

    async def publish_many(self, received: list[ReceivedFile]) -> list[StoredFile]:
        """Move received bytes under their final names, durably, in one thread hop: rename all,
        then fsync each directory once (the first fsync commits the journal holding every
        rename; the rest find little to do). Same name means same bytes: a name already stored
        keeps its copy and the new one is dropped."""
        finals = [self.path_for(r.sha256) for r in received]
        await asyncio.to_thread(_publish_many, [r.temp for r in received], finals)
        return [
            StoredFile(sha256=r.sha256, size=r.size, path=final)
            for r, final in zip(received, finals, strict=True)
        ]

    def discard(self, received: ReceivedFile) -> None:
        """Drop received bytes that will not be kept (no-op once published)."""
        with contextlib.suppress(FileNotFoundError):
            received.temp.unlink()

    @contextlib.asynccontextmanager
    async def local_copy(self, sha256: str, size: int) -> AsyncIterator[Path]:
        """The stored bytes as a local file for the block, checked against their name and
        `size` first; FileNotFoundError when missing, DamagedFileError when they differ."""
        path = self.path_for(sha256)
        actual = await asyncio.to_thread(_hash_file, path)
        if actual != (sha256, size):
            raise DamagedFileError(sha256)
        yield path

    def open_read(self, sha256: str) -> BinaryIO:
        """Read the stored bytes (blocking: for worker threads); FileNotFoundError if missing."""
        return self.path_for(sha256).open("rb")

    async def delete(self, sha256: str) -> bool:
        """Remove a stored file for good (a purge), durably; False when it was not there."""
        return await asyncio.to_thread(_delete, self.path_for(sha256))


def _delete(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    fsync_path(path.parent)
    with contextlib.suppress(OSError):
        # An empty `ab/` folder goes too (rmdir refuses a folder that still holds files).
        path.parent.rmdir()
    return True


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(READ_BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _open_temp(temp: Path) -> BinaryIO:
    # Owner-only from the first byte; the rename onto the final name keeps the mode.
    return os.fdopen(open_private(temp), "wb")


def _write_block(handle: BinaryIO, digest: Any, chunks: list[bytes], *, sync: bool = False) -> None:
    for chunk in chunks:
        digest.update(chunk)
    handle.writelines(chunks)
    if sync:
        _flush_and_sync(handle)


def _flush_and_sync(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _publish_many(temps: list[Path], finals: list[Path]) -> None:
    touched: dict[Path, None] = {}
    for temp, final in zip(temps, finals, strict=True):
        final.parent.mkdir(mode=DIR_MODE, exist_ok=True)
        if final.exists():
            temp.unlink(missing_ok=True)
            continue
        os.replace(temp, final)
        touched[final.parent] = None
    for directory in touched:
        fsync_path(directory)


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (a folder: so the names in it are durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
