"""Stored files in an S3-compatible bucket (HANDIN_FILES_URL=s3://bucket/prefix).

Keys are `<prefix>/ab/cdef...`, the SHA-256 of the bytes, like the local store's paths. The
bytes of an upload still arrive in a local spool folder first, where they are hashed while
the download runs (the upload's checks need the hash before anything is recorded; the spool
is never fsynced: the bucket's copy is the durable one, and a crash only leaves temp files
that the next start removes); publishing puts each file once, with a conditional put
(`If-None-Match: *`): an object already under that name holds the same bytes. Reads check
size and hash.

obstore (object_store's Rust client) does the S3 side: async, streaming both ways, and it
reads a file to upload itself, without the event loop or the GIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import obstore
from obstore.exceptions import AlreadyExistsError
from obstore.store import S3Store

from bot.domain.errors import StorageUnavailableError
from storage.files import DamagedFileError, FileStore, ReceivedFile
from storage.private import open_private

log = logging.getLogger(__name__)

# Puts in flight at once (uploads staging their bytes).
PUT_CONCURRENCY = 16
# Files up to this size go in one conditional put (held in memory meanwhile); larger ones in
# parts of PART_BYTES, at most 4 in flight: no put holds more than 20 MiB, whatever the file.
SINGLE_PUT_BYTES = 5 * 1024 * 1024
PART_BYTES = 5 * 1024 * 1024
# A read buffers this much per request (a stored file is read in order, once).
READ_BUFFER = 4 * 1024 * 1024


class S3FileStore:
    def __init__(self, store: S3Store, spool: Path) -> None:
        self.bucket = store
        # Only its temp folder is used: the bytes on their way in, and copies on their way out.
        self._spool = FileStore(spool)
        self.root = spool
        self._puts = asyncio.Semaphore(PUT_CONCURRENCY)
        # Received files already put by `stage` (by their temp path, unique per upload).
        self._staged: set[Path] = set()

    @classmethod
    def from_url(cls, url: str, spool: Path, **config: Any) -> S3FileStore:
        """`config`: obstore's S3 settings (endpoint, region, keys, allow_http, ...); the rest
        come from the standard AWS_* environment variables."""
        return cls(S3Store.from_url(url, **config), spool)

    def prepare(self) -> None:
        self._spool.prepare()

    async def receive(self, chunks: AsyncIterable[bytes], *, max_bytes: int) -> ReceivedFile:
        return await self._spool.receive(chunks, max_bytes=max_bytes)

    def discard(self, received: ReceivedFile) -> None:
        self._staged.discard(received.temp)
        self._spool.discard(received)

    async def stage(self, received: ReceivedFile) -> None:
        """Put the bytes into the bucket now, outside the recording transaction: a put takes
        milliseconds to seconds, and inside the batch it would hold the database's write lock
        for every upload behind it. An upload refused after this leaves its object unnamed
        by any row (content-addressed, so harmless; a later upload of the same bytes reuses
        it)."""
        async with self._puts:
            try:
                await self._put(received)
            except (OSError, obstore.exceptions.BaseError) as exc:
                log.warning("could not put %s into the bucket: %s", received.sha256[:12], exc)
                raise StorageUnavailableError() from exc
        self._staged.add(received.temp)

    async def publish_many(self, received: list[ReceivedFile]) -> None:
        """Put what was not staged, and check that what was staged is still there (raising
        when a put fails: the batch's transaction then records none of them), then drop the
        local copies.

        The check runs here, under the database's write lock that a purge deletes under too:
        a purge (of any process) that deleted the same bytes after they were staged, when no
        row named them yet, is seen, and the bytes are put again from the local copy."""
        await asyncio.gather(
            *(self._ensure(one) if one.temp in self._staged else self._put(one) for one in received)
        )
        for one in received:
            self._staged.discard(one.temp)
            self._spool.discard(one)

    async def _ensure(self, one: ReceivedFile) -> None:
        try:
            await obstore.head_async(self.bucket, _key(one.sha256))
        except FileNotFoundError:
            log.info("staged %s was deleted since (a purge): put again", one.sha256[:12])
            await self._put(one)

    async def _put(self, one: ReceivedFile) -> None:
        key = _key(one.sha256)
        if one.size <= SINGLE_PUT_BYTES:
            # Conditional on absence (If-None-Match: *): an object of this name holds these
            # bytes already.
            with contextlib.suppress(AlreadyExistsError):
                await obstore.put_async(self.bucket, key, one.temp, mode="create")
            return
        # A conditional put is a single request, which would hold the whole file in memory:
        # larger files go in parts, streamed from the spool, after a check that the name is
        # free. A put racing this one under the same name writes the same bytes (the name is
        # their hash), so nothing stored is ever changed.
        with contextlib.suppress(FileNotFoundError):
            await obstore.head_async(self.bucket, key)
            return
        await obstore.put_async(
            self.bucket, key, one.temp, use_multipart=True, chunk_size=PART_BYTES, max_concurrency=4
        )

    @contextlib.asynccontextmanager
    async def local_copy(self, sha256: str, size: int) -> AsyncIterator[Path]:
        """The stored bytes as a local temp file for the block (removed after), checked against
        their name and `size`."""
        temp = self._spool.root / "tmp" / f"out-{uuid.uuid4().hex}"
        try:
            await self._fetch(sha256, size, temp)
            yield temp
        finally:
            temp.unlink(missing_ok=True)

    async def _fetch(self, sha256: str, size: int, temp: Path) -> None:
        result = await obstore.get_async(self.bucket, _key(sha256))
        digest, written = hashlib.sha256(), 0
        handle: BinaryIO = await asyncio.to_thread(_new_private, temp)
        with handle:
            async for chunk in result.stream():
                data = bytes(chunk)
                digest.update(data)
                written += len(data)
                await asyncio.to_thread(handle.write, data)
        if (digest.hexdigest(), written) != (sha256, size):
            raise DamagedFileError(sha256)

    def open_read(self, sha256: str) -> BinaryIO:
        """A blocking reader of the stored bytes (for worker threads); FileNotFoundError when
        the object is missing."""
        reader = obstore.open_reader(self.bucket, _key(sha256), buffer_size=READ_BUFFER)
        return cast(BinaryIO, _Reader(reader))

    async def delete(self, sha256: str) -> bool:
        """Remove the object for good (a purge); False when it was not there. Raises
        StorageUnavailableError when the bucket refuses, so a purge can say so."""
        key = _key(sha256)
        try:
            try:
                await obstore.head_async(self.bucket, key)
            except FileNotFoundError:
                return False
            await obstore.delete_async(self.bucket, key)
        except (OSError, obstore.exceptions.BaseError) as exc:
            log.warning("could not delete %s from the bucket: %s", sha256[:12], exc)
            raise StorageUnavailableError() from exc
        return True


class _Reader:
    """obstore's reader as the binary file the export reads (it returns `Bytes`)."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader

    def read(self, size: int = -1) -> bytes:
        return bytes(self._reader.read(None if size < 0 else size))

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _new_private(path: Path) -> BinaryIO:
    return open(open_private(path), "wb")


def _key(sha256: str) -> str:
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise ValueError("not a SHA-256 hex digest")
    return f"{sha256[:2]}/{sha256[2:]}"
