"""Fetching an upload's bytes in bad weather: an idle timeout, a total budget, a few retries of
passing faults, and the byte count held to the attachment's declared size."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from bot.domain.errors import DiskLowError, DownloadFailedError
from bot.domain.rules import MIB
from bot.services.ports import StoredFiles
from storage.files import ReceivedFile, StoreLimitError

log = logging.getLogger(__name__)

ByteSource = Callable[[], AsyncIterator[bytes]]


class TransientDownloadError(OSError):
    """The source failed in a way that may pass (a 5xx, a reset or cut connection)."""


class PermanentDownloadError(OSError):
    """The source refused for good (an expired or unknown URL): trying again cannot help."""


@dataclass(frozen=True, slots=True)
class DownloadPolicy:
    """How long a download may take and how often a passing fault is tried again."""

    idle_timeout: float = 30.0
    base_budget: float = 60.0
    budget_per_mib: float = 10.0
    max_budget: float = 300.0
    retries: int = 2
    backoff: float = 0.5

    def budget(self, declared_size: int) -> float:
        """The total time for one upload, retries included: more for a larger file."""
        return min(self.max_budget, self.base_budget + self.budget_per_mib * declared_size / MIB)


class TransferSlots:
    """Download slots, and slots for bytes that came and wait for their write.

    A download holds a transfer slot while its bytes arrive, then trades it for a write slot
    (`hand_over`): the next download starts while this one's bytes are hashed and written in a
    worker thread (half of the slot's time in a rush, measured: 30 of 60 ms for 1 MiB). What
    is in memory stays bounded by both counts together.
    """

    def __init__(self, transfers: int, writes: int) -> None:
        self._transfers = asyncio.Semaphore(transfers)
        self._writes = asyncio.Semaphore(writes)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[TransferSlot]:
        await self._transfers.acquire()
        held = TransferSlot(self._transfers, self._writes)
        try:
            yield held
        finally:
            held.release()


class TransferSlot:
    """One download's hold on `TransferSlots`: a transfer slot, then a write slot."""

    def __init__(self, transfers: asyncio.Semaphore, writes: asyncio.Semaphore) -> None:
        self._transfers, self._writes = transfers, writes
        self._holds = transfers

    async def hand_over(self) -> None:
        """The bytes came: take a write slot (waiting, if need be, with the transfer slot
        still held, so memory stays bounded), then let the transfer slot go."""
        if self._holds is self._writes:
            return
        await self._writes.acquire()
        self._transfers.release()
        self._holds = self._writes

    def release(self) -> None:
        self._holds.release()


async def download(
    files: StoredFiles,
    read: ByteSource,
    declared_size: int,
    policy: DownloadPolicy,
    *,
    arrived: Callable[[], Awaitable[None]] | None = None,
) -> ReceivedFile:
    """The bytes of `read`, received (temp file, hashed) and exactly `declared_size` long.

    `arrived` is awaited once the last byte came, before the bytes are written: the caller
    may let go of what only the transfer needed. Any failure raises DownloadFailedError with
    nothing kept: a retry starts a new temp file.
    """
    try:
        async with asyncio.timeout(policy.budget(declared_size)):
            return await _with_retries(files, read, declared_size, policy, arrived)
    except TimeoutError as exc:
        log.warning("download of %d bytes ran past its budget", declared_size)
        raise DownloadFailedError() from exc


async def _with_retries(
    files: StoredFiles,
    read: ByteSource,
    declared_size: int,
    policy: DownloadPolicy,
    arrived: Callable[[], Awaitable[None]] | None,
) -> ReceivedFile:
    for attempt in range(policy.retries + 1):
        try:
            # Reading stops one byte past the declared size: enough to know the body is wrong.
            received = await files.receive(
                _idle_guarded(read(), policy.idle_timeout, arrived), max_bytes=declared_size
            )
        except TransientDownloadError as exc:
            if attempt == policy.retries:
                log.warning("download failed %d times: %s", attempt + 1, exc)
                raise DownloadFailedError() from exc
            log.info("download failed (%s); trying again", exc)
            await asyncio.sleep(policy.backoff * 2**attempt)
            continue
        except StoreLimitError as exc:
            log.warning("download is longer than the %d bytes declared", declared_size)
            raise DownloadFailedError() from exc
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                # Our disk, not the network: the student is told to try later, not at once.
                log.error("the file store's disk is full")
                raise DiskLowError() from exc
            log.warning("download failed: %s", exc)
            raise DownloadFailedError() from exc
        if received.size != declared_size:
            files.discard(received)
            log.warning("download ended at %d of %d bytes", received.size, declared_size)
            raise DownloadFailedError()
        return received
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _idle_guarded(
    chunks: AsyncIterator[bytes], idle: float, arrived: Callable[[], Awaitable[None]] | None
) -> AsyncIterator[bytes]:
    """`chunks`, failing when no chunk arrives for `idle` seconds (a stalled CDN would otherwise
    keep the student waiting until the total budget runs out, or for ever); then `arrived`
    (outside the idle timeout: it may wait)."""
    try:
        while True:
            try:
                # A timeout scope, not wait_for: no task made per chunk (issue #13).
                async with asyncio.timeout(idle):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                break
            except TimeoutError as exc:
                # An OSError like the others: the download is given up, not retried.
                raise TimeoutError(f"no byte for {idle:g} s") from exc
            yield chunk
        if arrived is not None:
            await arrived()
    finally:
        # Closes the response (and its connection) at once, also when given up half-way.
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
