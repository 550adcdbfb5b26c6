"""The file store port, the same on both stores: the data folder's and a bucket (SeaweedFS)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import obstore
import pytest

from bot.domain.errors import StorageUnavailableError
from bot.services.ports import StoredFiles
from storage.files import DamagedFileError, FileStore, StoreLimitError
from storage.s3files import S3FileStore
from tests.conftest import sha
from tests.s3 import SeaweedFS

BIG = bytes(range(256)) * 40_000  # ~10 MiB: several chunks each way


async def chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.fixture(params=["local", "s3"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> StoredFiles:
    made: FileStore | S3FileStore
    if kind == "local":
        made = FileStore(tmp_path / "files")
    else:
        server: SeaweedFS = request.getfixturevalue("seaweedfs")
        made = S3FileStore.from_url(server.fresh_url(), tmp_path / "files", **server.config)
    made.prepare()
    return made


async def put(store: StoredFiles, data: bytes, *, staged: bool = True) -> str:
    """As an upload does: receive, stage (outside the transaction), publish (inside)."""
    received = await store.receive(chunks(data), max_bytes=len(data))
    if staged:
        await store.stage(received)
    await store.publish_many([received])
    return received.sha256


def temp_files(store: StoredFiles) -> list[Path]:
    return sorted(p for p in (store.root / "tmp").iterdir())


async def test_stored_bytes_come_back_intact(store: StoredFiles) -> None:
    digest = await put(store, BIG)
    assert digest == sha(BIG)
    async with store.local_copy(digest, len(BIG)) as path:
        assert path.read_bytes() == BIG
    with store.open_read(digest) as reader:
        assert b"".join(iter(lambda: reader.read(1 << 20), b"")) == BIG
    # Nothing of the way in or out is left in the spool.
    assert temp_files(store) == []


async def test_bytes_published_without_staging_are_stored_too(store: StoredFiles) -> None:
    digest = await put(store, b"straight to publish", staged=False)
    async with store.local_copy(digest, len(b"straight to publish")) as path:
        assert path.read_bytes() == b"straight to publish"
    assert temp_files(store) == []


async def test_the_same_bytes_twice_are_stored_once(store: StoredFiles) -> None:
    first = await store.receive(chunks(b"same bytes"), max_bytes=100)
    second = await store.receive(chunks(b"same bytes"), max_bytes=100)
    await store.publish_many([first, second])
    assert await put(store, b"same bytes") == first.sha256
    async with store.local_copy(first.sha256, 10) as path:
        assert path.read_bytes() == b"same bytes"
    assert temp_files(store) == []


async def test_a_stream_over_the_limit_keeps_nothing(store: StoredFiles) -> None:
    with pytest.raises(StoreLimitError):
        await store.receive(chunks(b"x" * 200), max_bytes=100)
    assert temp_files(store) == []


async def test_a_discarded_file_is_never_stored(store: StoredFiles) -> None:
    received = await store.receive(chunks(b"not kept"), max_bytes=100)
    store.discard(received)
    assert temp_files(store) == []
    with pytest.raises(FileNotFoundError):
        async with store.local_copy(received.sha256, received.size):
            pass


async def test_a_missing_file_is_not_found(store: StoredFiles) -> None:
    with pytest.raises(FileNotFoundError):
        async with store.local_copy("a" * 64, 1):
            pass
    with pytest.raises(FileNotFoundError):
        store.open_read("a" * 64)


async def test_damaged_bytes_are_refused_on_read(
    store: StoredFiles, kind: str, request: pytest.FixtureRequest
) -> None:
    digest = await put(store, b"original bytes")
    if kind == "local":
        assert isinstance(store, FileStore)
        store.path_for(digest).write_bytes(b"bit rot")
    else:
        assert isinstance(store, S3FileStore)
        await obstore.put_async(store.bucket, f"{digest[:2]}/{digest[2:]}", b"bit rot")
    with pytest.raises(DamagedFileError):
        async with store.local_copy(digest, len(b"original bytes")):
            pass
    assert temp_files(store) == []


async def test_concurrent_batches_store_every_file(store: StoredFiles) -> None:
    payloads = [f"file {n} ".encode() * 1000 for n in range(24)]
    received = await asyncio.gather(*(store.receive(chunks(p), max_bytes=len(p)) for p in payloads))
    await asyncio.gather(
        store.publish_many(list(received[:12])), store.publish_many(list(received[12:]))
    )
    for payload in payloads:
        async with store.local_copy(sha(payload), len(payload)) as path:
            assert path.read_bytes() == payload


async def test_a_bucket_that_cannot_be_reached_fails_the_publish(tmp_path: Path) -> None:
    unreachable = S3FileStore.from_url(
        "s3://handin/none",
        tmp_path / "files",
        endpoint="http://127.0.0.1:9",
        access_key_id="x",
        secret_access_key="y",
        region="us-east-1",
        client_options={"allow_http": True, "timeout": "2s", "connect_timeout": "1s"},
        retry_config={"max_retries": 0, "retry_timeout": timedelta(seconds=1)},
    )
    unreachable.prepare()
    received = await unreachable.receive(chunks(b"bytes"), max_bytes=10)
    with pytest.raises(StorageUnavailableError):
        await unreachable.stage(received)
    with pytest.raises(Exception):  # noqa: B017 (obstore's own error class for the network)
        await unreachable.publish_many([received])


@pytest.mark.parametrize("size", [15, len(BIG)], ids=["one put", "in parts"])
async def test_a_stored_file_is_never_overwritten(store: StoredFiles, size: int) -> None:
    first = (b"the first bytes" * (size // 15 + 1))[:size]
    digest = await put(store, first)
    # Bytes that claim the same name: the stored ones must stay.
    other = b"o" * size
    forged = await store.receive(chunks(other), max_bytes=size)
    await store.stage(dataclasses.replace(forged, sha256=digest))
    await store.publish_many([dataclasses.replace(forged, sha256=digest)])
    async with store.local_copy(digest, size) as path:
        assert path.read_bytes() == first


@pytest.mark.parametrize("size", [15, len(BIG)], ids=["one put", "in parts"])
async def test_bytes_deleted_between_staging_and_publishing_are_stored_again(
    store: StoredFiles, size: int
) -> None:
    data = (b"a course template" * (size // 17 + 1))[:size]
    digest = await put(store, data)
    # An upload of the same bytes stages them; a purge of the first copy's assignment (no row
    # names the new upload yet) deletes them; then the upload's transaction publishes.
    received = await store.receive(chunks(data), max_bytes=size)
    await store.stage(received)
    assert await store.delete(digest)
    await store.publish_many([received])
    async with store.local_copy(digest, size) as path:
        assert path.read_bytes() == data


async def test_a_deleted_file_is_gone_and_others_stay(store: StoredFiles) -> None:
    gone = await put(store, b"purged bytes")
    kept = await put(store, b"kept bytes")
    assert await store.delete(gone)
    with pytest.raises(FileNotFoundError):
        async with store.local_copy(gone, len(b"purged bytes")):
            pass
    async with store.local_copy(kept, len(b"kept bytes")) as path:
        assert path.read_bytes() == b"kept bytes"


async def test_deleting_a_missing_file_says_so(store: StoredFiles) -> None:
    assert not await store.delete(sha(b"never stored"))
