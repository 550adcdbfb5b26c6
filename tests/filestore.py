"""Test helpers over the file store: store bytes in one go, and check a stored file's bytes."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable
from pathlib import Path

from bot.services.ports import StoredFiles
from storage.files import FileStore, StoredFile


async def store_chunks(
    files: FileStore, chunks: AsyncIterable[bytes], *, max_bytes: int
) -> StoredFile:
    """Receive and publish, as the upload path does in its batch."""
    [stored] = await files.publish_many([await files.receive(chunks, max_bytes=max_bytes)])
    return stored


async def store_bytes(files: FileStore, data: bytes) -> StoredFile:
    async def one() -> AsyncIterable[bytes]:
        yield data

    return await store_chunks(files, one(), max_bytes=len(data))


def stored_path(files: StoredFiles, sha256: str) -> Path:
    """Where the local store keeps these bytes (tests that damage or remove them on purpose)."""
    assert isinstance(files, FileStore), "a local store"
    return files.path_for(sha256)


def intact(files: FileStore, sha256: str) -> bool:
    """The stored file exists and still hashes to its name."""
    path = files.path_for(sha256)
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256
