"""The sandbox's listening socket takes a rush of new connections the way Discord's edge does."""

from __future__ import annotations

import select
import socket
import time
from pathlib import Path

import pytest

from sandbox import Sandbox

# More connections at the same instant than aiohttp's default listen backlog (128) holds.
RUSH = 300


def _somaxconn() -> int:
    try:
        return int(Path("/proc/sys/net/core/somaxconn").read_text())
    except (OSError, ValueError):
        return 0


@pytest.mark.asyncio
@pytest.mark.skipif(_somaxconn() < RUSH, reason="the kernel caps the backlog below the rush")
async def test_a_rush_of_connections_is_not_dropped() -> None:
    async with Sandbox() as sandbox:
        port = sandbox.port
        assert port
        clients = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(RUSH)]
        try:
            for client in clients:
                client.setblocking(False)
                client.connect_ex(("127.0.0.1", port))
            # The event loop is blocked here, so the server accepts nothing: every handshake
            # must complete in the kernel's queue. With a backlog of 128 the rest would wait
            # for SYN retries (1 s, 3 s, ...) that the full queue keeps refusing.
            pending = set(clients)
            deadline = time.monotonic() + 10.0
            while pending and time.monotonic() < deadline:
                _, writable, _ = select.select([], list(pending), [], 0.2)
                pending -= set(writable)
            assert not pending, f"{len(pending)} of {RUSH} connections were not accepted"
            assert all(c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 for c in clients)
        finally:
            for client in clients:
                client.close()
