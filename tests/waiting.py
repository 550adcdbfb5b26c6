"""Waiting in tests without a bare sleep: poll a condition up to a deadline, count the calls of
an async method to wait for one that starts after a marker, or wait for a transcript to go quiet.

A fixed `sleep` either waits too long or, on a slow machine, too little; and "nothing more
happened" after a short sleep cannot catch what happens a moment later. These helpers wait for
the thing itself, and fail with a message when it does not come."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from sandbox.transcript import EventKind, Transcript, TranscriptEvent

# Long enough for a loaded CI machine, short enough that a hang fails fast.
DEFAULT_TIMEOUT = 5.0
POLL_INTERVAL = 0.005


async def eventually(
    predicate: Callable[[], object],
    timeout: float = DEFAULT_TIMEOUT,
    what: str = "the condition",
    *,
    interval: float = POLL_INTERVAL,
) -> None:
    """Poll `predicate()` until it is truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        await asyncio.sleep(interval)


class Calls:
    """Counts the calls of the async method `name` of `target` (wrapped on the instance).

    `started` and `finished` count calls begun and ended (raised or returned). To know that
    everything set off by some step is over, take `mark = calls.started` before the step and
    `await calls.finished_after(mark)`: it returns once a call begun after the mark has ended
    and no call is running."""

    def __init__(self, target: object, name: str) -> None:
        self.started = 0
        self.finished = 0
        self._last_finished_number = 0
        self.entered = asyncio.Event()
        original: Callable[..., Awaitable[Any]] = getattr(target, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.started += 1
            number = self.started
            self.entered.set()
            try:
                return await original(*args, **kwargs)
            finally:
                self.finished += 1
                self._last_finished_number = max(self._last_finished_number, number)

        setattr(target, name, counted)

    @property
    def running(self) -> int:
        return self.started - self.finished

    async def finished_after(self, mark: int, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until a call begun after the `mark`-th has ended and no call is running."""
        await eventually(
            lambda: self._last_finished_number > mark and self.running == 0,
            timeout,
            f"a call begun after call {mark} to end (started {self.started}, "
            f"finished {self.finished})",
        )


async def quiet(
    transcript: Transcript,
    kinds: Iterable[EventKind],
    *,
    quiet_for: float,
    timeout: float = DEFAULT_TIMEOUT * 2,
) -> list[TranscriptEvent]:
    """Wait until `transcript` has had no new event of `kinds` for `quiet_for` seconds, and
    return the events of those kinds that arrived while waiting.

    For "nothing more happens" checks on a bot in another process, where no later event is known
    to come after what is feared: the caller documents why `quiet_for` bounds the feared event
    (e.g. a delivery pass started before the bot answered a command, sending at the pacer's
    rate). Every event that does arrive restarts the wait, so a slow trickle is seen, not cut
    off."""
    wanted = set(kinds)
    arrived: list[TranscriptEvent] = []
    last = time.monotonic()

    def note(event: TranscriptEvent) -> None:
        nonlocal last
        if event.kind in wanted:
            arrived.append(event)
            last = time.monotonic()

    unsubscribe = transcript.subscribe(note)
    try:
        deadline = time.monotonic() + timeout
        await eventually(
            lambda: time.monotonic() - last >= quiet_for,
            max(0.0, deadline - time.monotonic()),
            f"{quiet_for:.1f}s without {sorted(wanted)} events",
            interval=0.02,
        )
    finally:
        unsubscribe()
    return arrived
