"""The sandbox with several shards: IDENTIFY with `shard`, each guild's events on its own
shard only ((guild_id >> 22) % count), events without a guild on shard 0, READY and
GUILD_CREATE per shard, and a shard's new session leaving the other shards' alone."""

from __future__ import annotations

from collections import Counter

import aiohttp
import discord

from sandbox import Sandbox
from sandbox.snowflake import shard_of
from tests.waiting import eventually


class ShardClient(discord.AutoShardedClient):
    """A real discord.py client serving some shards; counts the events it received."""

    def __init__(self, shard_id: int, count: int = 2) -> None:
        super().__init__(
            intents=discord.Intents.default(),
            shard_ids=[shard_id],
            shard_count=count,
            guild_ready_timeout=0.05,
            enable_debug_events=True,
        )
        self.events: Counter[str] = Counter()

    async def on_socket_event_type(self, event_type: str) -> None:
        self.events[event_type] += 1


async def test_each_shard_gets_only_its_own_guilds() -> None:
    async with Sandbox() as sandbox:
        first = sandbox.add_guild("On shard 0", shard=(0, 2))
        second = sandbox.add_guild("On shard 1", shard=(1, 2))
        assert (shard_of(first.id, 2), shard_of(second.id, 2)) == (0, 1)
        zero, one = ShardClient(0), ShardClient(1)
        async with sandbox.run_bot(zero), sandbox.run_bot(one):
            assert [g.id for g in zero.guilds] == [first.id]
            assert [g.id for g in one.guilds] == [second.id]
            assert sandbox.gateway.identified_shards == [[0, 2], [1, 2]]

            later = sandbox.add_guild("Later, on shard 1", shard=(1, 2))
            await eventually(lambda: one.get_guild(later.id) is not None, 5, "GUILD_CREATE")
            assert zero.get_guild(later.id) is None


async def test_a_guild_event_goes_to_its_shard_and_one_without_a_guild_to_shard_0() -> None:
    async with Sandbox() as sandbox:
        first = sandbox.add_guild("On shard 0", shard=(0, 2))
        second = sandbox.add_guild("On shard 1", shard=(1, 2))
        zero, one = ShardClient(0), ShardClient(1)
        async with sandbox.run_bot(zero), sandbox.run_bot(one):
            channel = sandbox.add_channel(second, "hand-ins")
            await eventually(lambda: one.get_channel(channel.id) is not None, 5, "the channel")
            assert zero.get_channel(channel.id) is None and zero.events["CHANNEL_CREATE"] == 0

            # A DM-like event (no guild_id) goes to shard 0 only, as on Discord.
            assert await sandbox.gateway.dispatch("SANDBOX_TEST", {}) == 1
            await eventually(lambda: zero.events["SANDBOX_TEST"] == 1, 5, "the event")
            assert one.events["SANDBOX_TEST"] == 0
            assert first.id in {g.id for g in zero.guilds}


async def test_a_restarted_shard_leaves_the_other_shards_session_alone() -> None:
    async with Sandbox() as sandbox:
        first = sandbox.add_guild("On shard 0", shard=(0, 2))
        sandbox.add_guild("On shard 1", shard=(1, 2))
        zero = ShardClient(0)
        async with sandbox.run_bot(zero):
            async with sandbox.run_bot(ShardClient(1)):
                pass
            async with sandbox.run_bot(ShardClient(1)):
                live = sorted(s.shard or [] for s in sandbox.gateway.live_sessions)
                assert live == [[0, 2], [1, 2]]
            channel = sandbox.add_channel(first, "hand-ins")
            await eventually(lambda: zero.get_channel(channel.id) is not None, 5, "the channel")


async def test_gateway_bot_recommends_the_shards_and_concurrency_it_is_given() -> None:
    async with Sandbox() as sandbox:
        sandbox.gateway.recommended_shards = 4
        sandbox.gateway.max_concurrency = 2
        client = ShardClient(0, 4)
        async with sandbox.run_bot(client):
            limits = await client.fetch_session_start_limits()
        assert limits.max_concurrency == 2


async def test_an_identify_with_an_invalid_shard_is_refused() -> None:
    async with Sandbox() as sandbox, aiohttp.ClientSession() as http:
        async with http.ws_connect(sandbox.gateway_url) as ws:
            await ws.receive_json()  # HELLO
            identify = {"token": sandbox.token, "intents": 0, "shard": [2, 2]}
            await ws.send_json({"op": 2, "d": identify})
            message = await ws.receive()
        assert message.type is aiohttp.WSMsgType.CLOSE and message.data == 4010
        assert sandbox.gateway.identified_shards == []
