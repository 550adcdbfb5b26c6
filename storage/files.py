"""Content-addressed file store: each file lives once, under its SHA-256, never half-written."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import itertools
import logging
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from bot.domain.errors import DiskLowError, StorageUnavailableError
from storage.private import DIR_MODE, make_private_dir, open_private

log = logging.getLogger(__name__)

# A received file up to this size is held in memory until complete, then hashed and written
# in one thread hop (at most this much per upload service's transfer or write slot).
IN_MEMORY_MAX = 2 * 1024 * 1024
# Past that, bytes buffered per upload before one thread hop hashes and writes them.
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
    """Bytes written under a temp name and hashed, not yet under their final name (fsynced by
    `stage`, or at the latest by `publish_many`)."""

    temp: Path
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class StoredFile:
    sha256: str
    size: int
    path: Path


# Temp files' names: unique per process without a call for random bytes per upload (os.urandom
# lets go of the GIL, and the event loop then waits to get it back: 4% of its samples in a rush).
_TEMP_PREFIX = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
_TEMP_NUMBERS = itertools.count()

# Process-wide pools, idle between batches: concurrent.futures wakes and joins their threads
# when the interpreter exits.
POOL_THREAD_PREFIX = "handin-files"
# Batches publish one at a time (a group commit's `finish`, under the database's write lock):
# their thread must not queue behind the downloads' writes and fsyncs in the default pool, as
# every upload of the batch waits for it (measured in a rush, 64 files: 0.24-0.33 s there,
# 0.1-0.2 s on a thread of its own).
_PUBLISHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{POOL_THREAD_PREFIX}-publish")
_DIR_SYNCS = ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"{POOL_THREAD_PREFIX}-dirsync")


class FileStore:
    """Files under `root/ab/cdef...` named by their SHA-256.

    A write goes to `root/tmp/<random>` while it is hashed, is fsynced, then renamed onto its
    final name and the directory fsynced: a crash leaves at most a stray temp file (removed at
    start-up), never a partial file under a final name. Identical content is stored once.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"
        # Received temp files neither published nor discarded yet, and those of them whose
        # bytes may still be only in the page cache.
        self._live: set[Path] = set()
        self._unsynced: set[Path] = set()

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
        """Write a byte stream to a temp file, hashing it; `stage` (the fsync) and
        `publish_many`, or `discard`, it next. Raise StoreLimitError past `max_bytes` (nothing
        kept).

        Hashing and writing run in worker threads: in a rush the event loop must stay free for
        defers, and page-cache writes stall while other uploads fsync. Each thread hop costs
        milliseconds in a rush (a queue and the GIL), and the caller holds a transfer slot
        while the bytes arrive: a file up to IN_MEMORY_MAX waits in memory and is hashed and
        written in one hop once complete; a larger one is written a block at a time as it
        arrives. No fsync here: that is `stage`, after the slot is released (issue #13:
        uploads waited seconds for slots that others held through six thread hops and an
        fsync).
        """
        temp = _TempFile(self._tmp / f"{_TEMP_PREFIX}-{next(_TEMP_NUMBERS)}")
        digest = hashlib.sha256()
        size = 0
        try:
            pending: list[bytes] = []
            pending_size = 0
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise StoreLimitError(max_bytes)
                pending.append(chunk)
                pending_size += len(chunk)
                if size > IN_MEMORY_MAX and pending_size >= WRITE_BLOCK:
                    await asyncio.to_thread(temp.write, digest, pending)
                    pending, pending_size = [], 0
            await asyncio.to_thread(temp.finish, digest, pending)
        except BaseException:
            temp.close()
            with contextlib.suppress(FileNotFoundError):
                temp.path.unlink()
            raise
        self._live.add(temp.path)
        self._unsynced.add(temp.path)
        return ReceivedFile(temp=temp.path, sha256=digest.hexdigest(), size=size)

    async def stage(self, received: ReceivedFile) -> None:
        """fsync the received bytes (outside the recording transaction, so no upload waits for
        this one's disk write under the database's lock); `publish_many` names them. Raises
        DiskLowError when the disk is full, StorageUnavailableError when it fails otherwise."""
        if received.temp not in self._unsynced:
            return
        try:
            await asyncio.to_thread(fsync_path, received.temp)
        except OSError as exc:
            log.error("could not fsync a received file: %s", exc)
            if exc.errno == errno.ENOSPC:
                raise DiskLowError() from exc
            raise StorageUnavailableError() from exc
        self._unsynced.discard(received.temp)

    async def publish_many(self, received: list[ReceivedFile]) -> list[StoredFile]:
        """Move received bytes under their final names, durably, in one thread hop: rename all,
        then fsync each directory once (the first fsync commits the journal holding every
        rename; the rest find little to do). Same name means same bytes: a name already stored
        keeps its copy and the new one is dropped."""
        finals = [self.path_for(r.sha256) for r in received]
        temps = [r.temp for r in received]
        # A caller that skipped `stage` still gets durable bytes before their names.
        unsynced = [temp for temp in temps if temp in self._unsynced]
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(_PUBLISHER, _publish_many, temps, finals, unsynced)
        self._live.difference_update(temps)
        self._unsynced.difference_update(temps)
        return [
            StoredFile(sha256=r.sha256, size=r.size, path=final)
            for r, final in zip(received, finals, strict=True)
        ]

    def discard(self, received: ReceivedFile) -> None:
        """Drop received bytes that will not be kept (no-op once published: without a system
        call, as this runs on the event loop, where each one costs a wait for the GIL in a
        rush)."""
        if received.temp not in self._live:
            return
        self._live.discard(received.temp)
        self._unsynced.discard(received.temp)
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


class _TempFile:
    """A received file's temp file, opened on its first write (in a worker thread, like the
    writes: creating a file waits on the file system's journal)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: BinaryIO | None = None

    def write(self, digest: Any, chunks: list[bytes]) -> None:
        if self._handle is None:
            # Owner-only from the first byte; the rename onto the final name keeps the mode.
            self._handle = os.fdopen(open_private(self.path), "wb")
        for chunk in chunks:
            digest.update(chunk)
        self._handle.writelines(chunks)

    def finish(self, digest: Any, chunks: list[bytes]) -> None:
        self.write(digest, chunks)
        self.close()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def _publish_many(temps: list[Path], finals: list[Path], unsynced: list[Path]) -> None:
    for temp in unsynced:
        fsync_path(temp)
    touched: dict[Path, None] = {}
    for temp, final in zip(temps, finals, strict=True):
        final.parent.mkdir(mode=DIR_MODE, exist_ok=True)
        if final.exists():
            temp.unlink(missing_ok=True)
            continue
        os.replace(temp, final)
        touched[final.parent] = None
    # In parallel: fsyncs under way together share the file system's journal commits, where
    # one after another each waits for its own (a batch of 64 files touches ~60 `ab/` folders:
    # 0.1-0.2 s one after another in a rush, 0.07-0.1 s in parallel).
    list(_DIR_SYNCS.map(fsync_path, touched))


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (a folder: so the names in it are durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
