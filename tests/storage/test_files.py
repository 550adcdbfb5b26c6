"""The content-addressed file store: stored once, never half-written."""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain.errors import DiskLowError, StorageUnavailableError
from storage.files import IN_MEMORY_MAX, WRITE_BLOCK, FileStore, StoreLimitError
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


class DiskCalls:
    """What reached the disk, in order: each fsync (of a temp file or a folder) and rename."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, fsync_errno: int | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd: int) -> None:
            if fsync_errno is not None:
                raise OSError(fsync_errno, os.strerror(fsync_errno))
            self.calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
            real_fsync(fd)

        def replace(src: Path, dst: Path) -> None:
            self.calls.append(("rename", str(src)))
            real_replace(src, dst)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names fds through /proc")
async def test_stage_fsyncs_the_bytes_that_receive_only_wrote(
    files: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = DiskCalls(monkeypatch)
    received = await files.receive(chunks(b"a" * 300_000, b"b" * 10), max_bytes=400_000)
    # The download slot is free again before the disk is waited on.
    assert disk.calls == []
    await files.stage(received)
    assert disk.calls == [("fsync", str(received.temp))]
    await files.publish_many([received])
    # Staged once: publishing only renames and syncs the folder.
    assert disk.calls[1:] == [
        ("rename", str(received.temp)),
        ("fsync", str(files.path_for(received.sha256).parent)),
    ]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names fds through /proc")
async def test_publish_fsyncs_unstaged_bytes_before_naming_them(
    files: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    received = await files.receive(chunks(b"not staged"), max_bytes=100)
    disk = DiskCalls(monkeypatch)
    await files.publish_many([received])
    assert disk.calls[:2] == [("fsync", str(received.temp)), ("rename", str(received.temp))]


@pytest.mark.parametrize(
    ("code", "error"), [(errno.ENOSPC, DiskLowError), (errno.EIO, StorageUnavailableError)]
)
async def test_a_failed_fsync_refuses_the_upload_and_keeps_nothing(
    files: FileStore, monkeypatch: pytest.MonkeyPatch, code: int, error: type[Exception]
) -> None:
    received = await files.receive(chunks(b"bytes"), max_bytes=100)
    DiskCalls(monkeypatch, fsync_errno=code)
    with pytest.raises(error):
        await files.stage(received)
    files.discard(received)
    assert final_files(files) == []
    assert temp_files(files) == []


async def test_discarding_a_published_file_asks_nothing_of_the_disk(
    files: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Callers discard in a `finally` on the event loop: once published, no system call.
    received = await files.receive(chunks(b"kept"), max_bytes=100)
    await files.publish_many([received])
    unlinked: list[Path] = []
    monkeypatch.setattr(Path, "unlink", lambda path, missing_ok=False: unlinked.append(path))
    files.discard(received)
    assert unlinked == []
    assert final_files(files) == [files.path_for(received.sha256)]


async def test_temp_files_get_names_of_their_own(files: FileStore) -> None:
    received = [await files.receive(chunks(b"same bytes"), max_bytes=100) for _ in range(3)]
    assert len({one.temp for one in received}) == 3
    assert sorted(temp_files(files)) == sorted(one.temp for one in received)
    for one in received:
        files.discard(one)
    assert temp_files(files) == []


async def test_a_file_larger_than_memory_holds_is_written_as_it_arrives(
    files: FileStore,
) -> None:
    data = os.urandom(IN_MEMORY_MAX + 3 * WRITE_BLOCK + 17)
    parts = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    seen_on_disk: list[int] = []

    async def watched() -> AsyncIterator[bytes]:
        for part in parts:
            yield part
            seen_on_disk.append(sum(p.stat().st_size for p in temp_files(files)))

    stored = await store_chunks(files, watched(), max_bytes=len(data))
    assert stored.path.read_bytes() == data
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    # Nothing on disk while it fits in memory; then the bytes follow the stream block by block.
    assert max(seen_on_disk[: IN_MEMORY_MAX // 65536 - 1]) == 0
    assert seen_on_disk[-2] >= len(data) - 2 * WRITE_BLOCK


async def test_a_large_stream_over_the_limit_leaves_no_file(files: FileStore) -> None:
    parts = [b"x" * 65536] * (IN_MEMORY_MAX // 65536 + 10)
    with pytest.raises(StoreLimitError):
        await store_chunks(files, chunks(*parts), max_bytes=IN_MEMORY_MAX + 65536)
    assert final_files(files) == []
    assert temp_files(files) == []
