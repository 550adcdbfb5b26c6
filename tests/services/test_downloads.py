"""The download rules on their own: budget, idle timeout, retries and the declared size."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain.errors import DownloadFailedError
from bot.domain.rules import MIB
from bot.services.downloads import (
    ByteSource,
    DownloadPolicy,
    PermanentDownloadError,
    TransferSlots,
    TransientDownloadError,
    download,
)
from storage.files import FileStore

DATA = b"x" * 10_000


@pytest.fixture
def files(tmp_path: Path) -> FileStore:
    store = FileStore(tmp_path / "files")
    store.prepare()
    return store


def temp_files(files: FileStore) -> list[Path]:
    return list((files.root / "tmp").iterdir())


def source(*attempts: BaseException | None, data: bytes = DATA) -> tuple[ByteSource, list[int]]:
    """A byte source whose n-th read fails with attempts[n] half-way (None: it succeeds)."""
    calls: list[int] = []

    def read() -> AsyncIterator[bytes]:
        async def chunks() -> AsyncIterator[bytes]:
            outcome = attempts[len(calls)] if len(calls) < len(attempts) else None
            calls.append(1)
            yield data[: len(data) // 2]
            if outcome is not None:
                raise outcome
            yield data[len(data) // 2 :]

        return chunks()

    return read, calls


def test_the_budget_grows_with_the_declared_size_up_to_five_minutes() -> None:
    policy = DownloadPolicy()
    assert policy.budget(0) == 60
    assert policy.budget(MIB) == 70
    assert policy.budget(10 * MIB) == 160
    assert policy.budget(100 * MIB) == 300


async def test_two_passing_faults_are_retried(files: FileStore) -> None:
    read, calls = source(TransientDownloadError("503"), TransientDownloadError("reset"))
    received = await download(files, read, len(DATA), DownloadPolicy(backoff=0))
    assert received.size == len(DATA) and len(calls) == 3
    assert received.temp.read_bytes() == DATA
    assert temp_files(files) == [received.temp]


async def test_a_third_passing_fault_gives_up(files: FileStore) -> None:
    read, calls = source(*[TransientDownloadError("503")] * 3)
    with pytest.raises(DownloadFailedError):
        await download(files, read, len(DATA), DownloadPolicy(backoff=0))
    assert len(calls) == 3
    assert temp_files(files) == []


async def test_a_permanent_refusal_is_not_retried(files: FileStore) -> None:
    read, calls = source(PermanentDownloadError("403"))
    with pytest.raises(DownloadFailedError):
        await download(files, read, len(DATA), DownloadPolicy(backoff=0))
    assert len(calls) == 1
    assert temp_files(files) == []


@pytest.mark.parametrize("declared", [len(DATA) - 1, len(DATA) + 1])
async def test_bytes_must_match_the_declared_size(files: FileStore, declared: int) -> None:
    read, _ = source()
    with pytest.raises(DownloadFailedError):
        await download(files, read, declared, DownloadPolicy(backoff=0))
    assert temp_files(files) == []


async def test_a_trickle_that_never_idles_still_ends_at_the_budget(files: FileStore) -> None:
    def read() -> AsyncIterator[bytes]:
        async def trickle() -> AsyncIterator[bytes]:
            while True:
                await asyncio.sleep(0.02)
                yield b"x"

        return trickle()

    policy = DownloadPolicy(idle_timeout=5, base_budget=0.3, budget_per_mib=0)
    with pytest.raises(DownloadFailedError):
        await asyncio.wait_for(download(files, read, 1_000_000, policy), 10)
    assert temp_files(files) == []


async def test_silence_ends_at_the_idle_timeout(files: FileStore) -> None:
    def read() -> AsyncIterator[bytes]:
        async def silent() -> AsyncIterator[bytes]:
            yield b"x"
            await asyncio.sleep(60)
            yield b"y"

        return silent()

    policy = DownloadPolicy(idle_timeout=0.2)
    with pytest.raises(DownloadFailedError):
        await asyncio.wait_for(download(files, read, 2, policy), 10)
    assert temp_files(files) == []


# --- transfer slots: a finished transfer lets the next one start before its write -----------
async def loop_turns(count: int = 10) -> None:
    """Let every task that can go on do so: a semaphore's waiter that is still waiting after
    these turns waits for a release, not for time."""
    for _ in range(count):
        await asyncio.sleep(0)


async def test_arrived_comes_after_the_last_byte_and_before_the_write(
    files: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    read, _ = source()
    seen: list[str] = []
    real_receive = files.receive

    async def receive(chunks: AsyncIterator[bytes], *, max_bytes: int) -> object:
        async def watched() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                seen.append("chunk")
                yield chunk
            seen.append("end")

        return await real_receive(watched(), max_bytes=max_bytes)

    monkeypatch.setattr(files, "receive", receive)

    async def arrived() -> None:
        seen.append("arrived")
        assert temp_files(files) == []  # nothing written yet

    await download(files, read, len(DATA), DownloadPolicy(backoff=0), arrived=arrived)
    assert seen == ["chunk", "chunk", "arrived", "end"]
    assert len(temp_files(files)) == 1


async def test_arrived_may_wait_longer_than_the_idle_timeout(files: FileStore) -> None:
    read, _ = source()

    async def arrived() -> None:
        await asyncio.sleep(0.3)

    policy = DownloadPolicy(idle_timeout=0.1, backoff=0)
    received = await download(files, read, len(DATA), policy, arrived=arrived)
    assert received.size == len(DATA)


async def test_a_finished_transfer_frees_its_slot_before_its_write() -> None:
    slots = TransferSlots(transfers=1, writes=1)
    async with slots.slot() as first:
        await first.hand_over()
        # The one transfer slot is free again while the first bytes wait for their write.
        async with asyncio.timeout(1):
            async with slots.slot() as second:
                # No write slot is free: the second keeps its transfer slot meanwhile.
                handing = asyncio.ensure_future(second.hand_over())
                await loop_turns()
                assert not handing.done()
                third = asyncio.ensure_future(slots.slot().__aenter__())
                await loop_turns()
                assert not third.done()
                third.cancel()
                handing.cancel()
    # Everything given back: one of each can be taken again at once.
    async with asyncio.timeout(1):
        async with slots.slot() as again:
            await again.hand_over()


async def test_a_download_cancelled_while_waiting_to_write_gives_its_slot_back() -> None:
    slots = TransferSlots(transfers=1, writes=1)
    async with slots.slot() as first:
        await first.hand_over()

        async def second() -> None:
            async with slots.slot() as held:
                await held.hand_over()

        waiting = asyncio.ensure_future(second())
        await loop_turns()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    async with asyncio.timeout(1):
        async with slots.slot() as again:
            await again.hand_over()
