"""The sandbox's gateway compresses as Discord does in the mode discord.py[speed] asks for."""

from __future__ import annotations

import json

from discord import utils

from sandbox.gateway import _zstd_stream

MESSAGES = [{"op": 10, "d": {"heartbeat_interval": 41250}}, {"op": 0, "t": "READY", "s": 1}] + [
    {"op": 0, "t": "INTERACTION_CREATE", "s": n, "d": {"id": str(n), "data": "x" * n}}
    for n in range(2, 40)
]


def test_each_zstd_message_decompresses_on_its_own_in_stream_order() -> None:
    compress = _zstd_stream()
    assert compress is not None
    # discord.py's own context, as its gateway uses it (one per connection).
    context = utils._ZstdDecompressionContext()
    for message in MESSAGES:
        text = context.decompress(compress(json.dumps(message).encode()))
        assert text is not None and json.loads(text) == message


def test_discord_py_asks_for_zstd_when_zstandard_is_installed() -> None:
    # discord.py[speed] brings zstandard: the client asks for zstd-stream, not zlib-stream.
    assert utils._ActiveDecompressionContext.COMPRESSION_TYPE == "zstd-stream"
