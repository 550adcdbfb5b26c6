"""The content-addressed file store: stored once, never half-written."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.files import FileStore, StoreLimitError
from tests.filestore import store_bytes, store_chunks


def final_files(store: FileStore) -> list[Path]:
    return sorted(
        p
        for p in store.root.rglob("*")
        if p.is_file() and "tmp" not in p.relative_to(store.root).parts
    )


def temp_files(store: FileStore) -> list[Path]:
    return list((store.root / "tmp").iterdir())


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_file_is_stored_under_its_sha256(files: FileStore) -> None:
    stored = await store_chunks(files, chunks(b"hello ", b"world"), max_bytes=100)
    digest = hashlib.sha256(b"hello world").hexdigest()
    assert stored.sha256 == digest
    assert stored.size == 11
    assert stored.path == files.root / digest[:2] / digest[2:]
    assert stored.path.read_bytes() == b"hello world"
    assert files.exists(digest)


async def test_identical_content_is_stored_once(files: FileStore) -> None:
    first = await store_bytes(files, b"same bytes")
    second = await store_chunks(files, chunks(b"same ", b"bytes"), max_bytes=100)
    assert first.path == second.path
    assert final_files(files) == [first.path]
    assert temp_files(files) == []


async def test_failing_stream_leaves_no_file(files: FileStore) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"partial data"
        raise OSError("connection reset")

    with pytest.raises(OSError):
        await store_chunks(files, broken(), max_bytes=1000)
    assert final_files(files) == []
    assert temp_files(files) == []


async def test_stream_over_the_limit_leaves_no_file(files: FileStore) -> None:
    with pytest.raises(StoreLimitError):
        await store_chunks(files, chunks(b"x" * 60, b"x" * 60), max_bytes=100)
    assert final_files(files) == []
    assert temp_files(files) == []


async def test_stream_exactly_at_the_limit_is_stored(files: FileStore) -> None:
    stored = await store_chunks(files, chunks(b"x" * 100), max_bytes=100)
    assert stored.size == 100


def test_prepare_removes_stray_temp_files(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    store.prepare()
    (store.root / "tmp" / "left-by-a-crash").write_bytes(b"half")
    store.prepare()
    assert temp_files(store) == []


async def test_prepare_keeps_stored_files(files: FileStore) -> None:
    stored = await store_bytes(files, b"keep me")
    files.prepare()
    assert stored.path.read_bytes() == b"keep me"


def test_path_for_refuses_what_is_not_a_digest(files: FileStore) -> None:
    for bad in ("../../etc/passwd", "A" * 64, "a" * 63):
        with pytest.raises(ValueError):
            files.path_for(bad)
