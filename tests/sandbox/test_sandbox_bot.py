"""End-to-end tests of the sandbox with a real discord.py commands.Bot running in-process."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os

import discord
import pytest

from bot.endpoints import point_client_at, restore_client
from sandbox import EventKind, Sandbox, SandboxError, format_event
from tests.sandbox.conftest import HandInTestBot, World
from tests.waiting import eventually

pytestmark = pytest.mark.e2e


@pytest.mark.asyncio
async def test_connect_fills_the_cache(running: tuple[World, HandInTestBot]) -> None:
    w, bot = running
    sandbox = w.sandbox
    assert bot.user is not None and bot.user.id == sandbox.application_id
    assert bot.application_id == sandbox.application_id
    guild = bot.get_guild(w.guild.id)
    assert guild is not None and guild.name == "Algorithms 101"
    assert guild.chunked
    bob = guild.get_member(w.bob.id)
    assert bob is not None and bob.nick == "Bobby" and bob.display_name == "Bobby"
    teacher = guild.get_member(w.teacher.id)
    assert teacher is not None and teacher.guild_permissions.manage_guild
    assert not bob.guild_permissions.manage_guild
    assert [c.name for c in guild.text_channels] == ["general", "hand-ins"]
    assert guild.me is not None
    # One global sync plus one guild sync, each exactly once.
    assert sandbox.sync_calls == [
        (
            None,
            [
                "group",
                "admin",
                "upload",
                "submit",
                "notify",
                "report",
                "confirm",
                "feedback",
                "slow",
                "lifecycle",
                "sloppy",
            ],
        ),
        (w.guild.id, ["purge"]),
    ]
    # discord.py[speed] brings zstandard: the client asks for zstd-stream; the sandbox
    # compresses every message so (tests/sandbox/test_gateway_compression.py).
    assert sandbox.gateway.connect_queries[0]["compress"] == "zstd-stream"
    assert sandbox.gateway.connect_queries[0]["v"] == "10"
    assert sandbox.unknown_routes == []


@pytest.mark.asyncio
async def test_group_join_defers_then_follows_up(running: tuple[World, HandInTestBot]) -> None:
    w, _ = running
    seen: list[str] = []
    unsubscribe = w.sandbox.transcript.subscribe(lambda e: seen.append(format_event(e)))
    interaction = await w.sandbox.invoke(
        w.alice, "group join", options={"assignment": "Lab 1", "pin": "1234"}
    )
    first = await interaction.wait_response()
    assert first.deferred and first.ephemeral
    done = await interaction.wait_done()
    unsubscribe()
    assert done.content == "alice joined Lab 1 with 1234"
    assert done.ephemeral
    assert interaction.deferred
    assert interaction.defer_latency is not None and interaction.defer_latency < 3
    assert interaction.done_latency is not None
    assert interaction.done_latency >= interaction.defer_latency
    # The first follow-up after a "thinking" defer replaces the loading message.
    assert interaction.messages == [done] and interaction.original is done
    kinds = [e.kind for e in w.sandbox.transcript.for_interaction(interaction.id)]
    assert kinds == [EventKind.COMMAND, EventKind.DEFER, EventKind.FOLLOWUP]
    assert any("/group join" in line and '"1234"' in line for line in seen)
    assert w.sandbox.unknown_routes == [] and w.sandbox.http_errors == []


@pytest.mark.asyncio
async def test_nested_group_with_typed_options(running: tuple[World, HandInTestBot]) -> None:
    w, _ = running
    hand_ins = w.guild.channel("hand-ins")
    staff_role = w.sandbox.staff_role(w.guild)
    interaction = await w.sandbox.invoke(
        w.teacher,
        "admin assignment create",
        options={
            "name": "Lab 3",
            "max_group": 3,
            "weight": 0.25,
            "visible": True,
            "channel": hand_ins,
            "role": staff_role,
            "contact": w.bob,
        },
    )
    done = await interaction.wait_done()
    assert done.content == f"Lab 3|3|0.25|True|{hand_ins.id}|Staff|Bobby"
    assert not done.ephemeral
    assert w.sandbox.channel_messages(w.guild.default_channel) == [done]


@pytest.mark.asyncio
async def test_upload_is_streamed_from_the_cdn(running: tuple[World, HandInTestBot]) -> None:
    w, _ = running
    data = os.urandom(300_000)
    sent_at = dt.datetime(2026, 11, 27, 11, 59, 58, 123000, tzinfo=dt.UTC)
    interaction = await w.sandbox.invoke(
        w.alice,
        "upload",
        files={"file": ("report.pdf", data, "application/pdf")},
        created_at=sent_at,
    )
    done = await interaction.wait_done()
    name, ctype, size, length, chunks, digest, created = done.content.split()
    assert (name, ctype, int(size), int(length)) == (
        "report.pdf",
        "application/pdf",
        300_000,
        300_000,
    )
    assert int(chunks) >= 2
    assert digest == hashlib.sha256(data).hexdigest()
    assert dt.datetime.fromisoformat(created) == sent_at
    assert interaction.created_at == sent_at
    command = w.sandbox.transcript.of_kind(EventKind.COMMAND)[-1]
    assert command.files[0].data == data


@pytest.mark.asyncio
async def test_ephemeral_reply_with_embed_and_file(running: tuple[World, HandInTestBot]) -> None:
    w, _ = running
    interaction = await w.sandbox.invoke(w.bob, "report")
    done = await interaction.wait_done()
    assert done.ephemeral and done.content == "here"
    assert done.embeds[0]["title"] == "Report"
    assert [(f.filename, f.data, f.content_type) for f in done.files] == [
        ("report.csv", b"a,b\n1,2\n", "text/csv")
    ]
    # Ephemeral messages are not visible in the channel.
    assert w.sandbox.channel_messages(w.guild.default_channel) == []


@pytest.mark.asyncio
async def test_dms_and_closed_dms(running: tuple[World, HandInTestBot]) -> None:
    w, bot = running
    sandbox = w.sandbox
    ok = await sandbox.invoke(w.alice, "notify", {"user": w.bob})
    assert (await ok.wait_done()).content == "sent"
    [dm] = sandbox.dms(w.bob)
    assert dm.content == "you have been notified" and dm.embeds[0]["title"] == "Notice"

    sandbox.close_dms(w.bob)
    failed = await sandbox.invoke(w.alice, "notify", {"user": w.bob})
    assert (await failed.wait_done()).content == "cannot DM: 50007"
    assert len(sandbox.dms(w.bob)) == 1
    assert sandbox.transcript.of_kind(EventKind.DM_FAILED)[0].user is w.bob

    member = bot.get_guild(w.guild.id).get_member(w.bob.id)  # type: ignore[union-attr]
    assert member is not None
    with pytest.raises(discord.Forbidden) as info:
        await member.send("hello?")
    assert info.value.code == 50007 and info.value.status == 403


@pytest.mark.asyncio
async def test_rate_limits_are_retried(running: tuple[World, HandInTestBot]) -> None:
    w, bot = running
    sandbox = w.sandbox
    channel = bot.get_channel(w.guild.default_channel.id)
    assert isinstance(channel, discord.TextChannel)
    sandbox.rate_limit("/channels/{channel_id}/messages", method="POST", count=2, retry_after=0.05)
    await channel.send("through the limit")
    assert [m.content for m in sandbox.channel_messages(w.guild.default_channel)] == [
        "through the limit"
    ]
    assert sandbox.rate_limited_count == 2

    # Interaction follow-ups go through discord.py's webhook adapter, which retries too.
    sandbox.rate_limit("/webhooks/{app_id}/{token}", count=1, retry_after=0.05)
    interaction = await sandbox.invoke(w.alice, "group join", {"assignment": "Lab 2", "pin": "9"})
    assert (await interaction.wait_done()).content.startswith("alice joined")
    assert sandbox.rate_limited_count == 3

    sandbox.set_global_rate_limit(3, per=0.2)
    await asyncio.gather(*(channel.send(f"burst {i}") for i in range(8)))
    sandbox.set_global_rate_limit(None)
    assert len(sandbox.channel_messages(w.guild.default_channel)) == 9
    assert any(hit.is_global for hit in sandbox.rate_limit_hits)
    assert sandbox.unknown_routes == []


@pytest.mark.asyncio
async def test_autocomplete_returns_choices(running: tuple[World, HandInTestBot]) -> None:
    w, _ = running
    choices = await w.sandbox.autocomplete(
        w.alice, "submit", {"assignment": "la"}, focused="assignment"
    )
    assert [c["value"] for c in choices] == ["Lab 1", "Lab 2", "Lab 10"]
    picked = await w.sandbox.invoke(w.alice, "submit", {"assignment": "Lab 2"})
    assert (await picked.wait_done()).content == "picked Lab 2"


@pytest.mark.asyncio
async def test_buttons_and_modals(running: tuple[World, HandInTestBot]) -> None:
    w, _ = running
    sandbox = w.sandbox
    asked = await sandbox.invoke(w.alice, "confirm")
    question = await asked.wait_done()
    assert question.components
    clicked = await sandbox.click(w.alice, question, "confirm")
    edited = await clicked.wait_done()
    assert edited is question and question.content == "confirmed" and question.components == []

    opened = await sandbox.invoke(w.alice, "feedback")
    response = await opened.wait_response()
    assert response.type == 9 and opened.modal is not None
    submitted = await sandbox.submit_modal(w.alice, opened, {"text": "great course"})
    assert (await submitted.wait_done()).content == "thanks: great course"


@pytest.mark.asyncio
async def test_guild_command_permissions_and_invoke_errors(
    running: tuple[World, HandInTestBot],
) -> None:
    w, _ = running
    sandbox = w.sandbox
    purge = await sandbox.invoke(w.teacher, "purge")
    assert (await purge.wait_done()).content == "purged"
    with pytest.raises(SandboxError, match="cannot see /purge"):
        await sandbox.invoke(w.alice, "purge")
    with pytest.raises(SandboxError, match="unknown command /nope"):
        await sandbox.invoke(w.alice, "nope")
    with pytest.raises(SandboxError, match="has no subcommand 'leave'"):
        await sandbox.invoke(w.alice, "group leave")
    with pytest.raises(SandboxError, match="has no option"):
        await sandbox.invoke(w.alice, "group join", {"assignment": "x", "pin": "1", "x": 1})
    with pytest.raises(SandboxError, match="required"):
        await sandbox.invoke(w.alice, "group join", {"pin": "1"})
    with pytest.raises(SandboxError, match="is an integer"):
        await sandbox.invoke(
            w.teacher,
            "admin assignment create",
            {
                "name": "Lab",
                "max_group": "3",
                "weight": 1.0,
                "visible": True,
                "channel": w.guild.default_channel,
                "role": w.guild.everyone,
                "contact": w.bob,
            },
        )


@pytest.mark.asyncio
async def test_late_response_and_sloppy_followup() -> None:
    async with Sandbox(interaction_deadline=0.2) as sandbox:
        guild = sandbox.add_guild("G")
        alice = sandbox.add_member(guild, "alice")
        bot = HandInTestBot([])
        failures: list[int] = []

        async def on_slow_failed(code: int) -> None:
            failures.append(code)

        bot.add_listener(on_slow_failed)
        async with sandbox.run_bot(bot):
            slow = await sandbox.invoke(alice, "slow")
            await eventually(lambda: failures == [10062])
            assert slow.callbacks == [] and slow.errors == ["404 10062 Unknown interaction"]

            sloppy = await sandbox.invoke(alice, "sloppy")
            done = await sloppy.wait_done()
            # Discord keeps the defer's (public) visibility for the first follow-up.
            assert done.content == "secret?" and not done.ephemeral
            assert "ignored" in sandbox.transcript.of_kind(EventKind.FOLLOWUP)[-1].detail


@pytest.mark.asyncio
async def test_members_added_later_reach_the_bot(running: tuple[World, HandInTestBot]) -> None:
    w, bot = running
    carol = w.sandbox.add_member(w.guild, "carol")
    await w.sandbox.settle()
    guild = bot.get_guild(w.guild.id)
    assert guild is not None
    await eventually(lambda: guild.get_member(carol.id) is not None)
    interaction = await w.sandbox.invoke(carol, "submit", {"assignment": "Project"})
    assert (await interaction.wait_done()).content == "picked Project"

    joined = w.sandbox.add_guild("Databases", locale="nl")
    dave = w.sandbox.add_member(joined, "dave", locale="nl")
    await w.sandbox.settle()
    await eventually(lambda: bot.get_guild(joined.id) is not None)
    new_guild = bot.get_guild(joined.id)
    assert new_guild is not None and new_guild.get_member(dave.id) is not None
    picked = await w.sandbox.invoke(dave, "submit", {"assignment": "Lab 2"})
    assert picked.payload["locale"] == "nl" and picked.payload["guild_locale"] == "nl"
    assert (await picked.wait_done()).content == "picked Lab 2"


@pytest.mark.asyncio
async def test_resume_after_dropped_connection(running: tuple[World, HandInTestBot]) -> None:
    w, _ = running
    sandbox = w.sandbox
    await sandbox.disconnect_bot()
    await sandbox.gateway.wait_until(lambda: sandbox.gateway.resume_count == 1, 5.0, "RESUME")
    interaction = await sandbox.invoke(w.alice, "submit", {"assignment": "Lab 1"})
    assert (await interaction.wait_done()).content == "picked Lab 1"
    assert sandbox.gateway.identify_count == 1


@pytest.mark.asyncio
async def test_messages_too_long_and_unknown_routes(running: tuple[World, HandInTestBot]) -> None:
    w, bot = running
    channel = bot.get_channel(w.guild.default_channel.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as info:
        await channel.send("x" * 2001)
    assert info.value.status == 400 and info.value.code == 50035
    assert w.sandbox.unknown_routes == []
    with pytest.raises(discord.NotFound):
        await bot.http.request(
            discord.http.Route("GET", "/guilds/{guild_id}/bans", guild_id=w.guild.id)
        )
    assert w.sandbox.unknown_routes == [f"GET /api/v10/guilds/{w.guild.id}/bans"]


@pytest.mark.asyncio
async def test_wrong_token_fails_login() -> None:
    async with Sandbox() as sandbox:
        previous = point_client_at(sandbox.api_base, sandbox.gateway_url)
        client = discord.Client(intents=discord.Intents.default())
        try:
            with pytest.raises(discord.LoginFailure):
                await client.login("not-the-token")
        finally:
            await client.close()
            restore_client(previous)


@pytest.mark.asyncio
async def test_invoke_without_a_bot_fails_clearly() -> None:
    async with Sandbox(connect_timeout=0.1) as sandbox:
        guild = sandbox.add_guild("G")
        alice = sandbox.add_member(guild, "alice")
        with pytest.raises(SandboxError, match="unknown command"):
            await sandbox.invoke(alice, "anything")
        sandbox.world.global_commands.append(
            {"id": "1", "name": "ping", "type": 1, "description": "x", "options": []}
        )
        with pytest.raises(SandboxError, match="waiting for a bot to connect"):
            await sandbox.invoke(alice, "ping")


@pytest.mark.asyncio
async def test_response_lifecycle_routes(running: tuple[World, HandInTestBot]) -> None:
    w, _ = running
    interaction = await w.sandbox.invoke(w.alice, "lifecycle")
    await interaction.wait_done()
    await eventually(lambda: len(interaction.messages) == 3)
    original, extra, last = interaction.messages
    assert original.content == "two (one)" and original.edited_at is not None
    assert extra.content == "four" and extra.deleted and extra.files[0].data == b"x" * 10
    assert last.content == "five" and last.ephemeral
    kinds = [e.kind.value for e in w.sandbox.transcript.for_interaction(interaction.id)]
    assert kinds == ["command", "response", "edit", "followup", "edit", "delete", "followup"]
    assert w.sandbox.channel_messages(w.guild.default_channel) == [original]
    assert w.sandbox.unknown_routes == [] and w.sandbox.http_errors == []


@pytest.mark.asyncio
async def test_fetch_routes_and_member_chunks(running: tuple[World, HandInTestBot]) -> None:
    w, bot = running
    channel = await bot.fetch_channel(w.guild.default_channel.id)
    assert isinstance(channel, discord.TextChannel) and channel.name == "general"
    guild = await bot.fetch_guild(w.guild.id, with_counts=True)
    assert guild.name == "Algorithms 101" and guild.approximate_member_count == 5
    member = await guild.fetch_member(w.bob.id)
    assert member.nick == "Bobby"
    user = await bot.fetch_user(w.alice.id)
    assert user.global_name == "Alice A."
    with pytest.raises(discord.NotFound):
        await bot.fetch_user(1)
    members = [m async for m in guild.fetch_members(limit=None)]
    assert {m.name for m in members} >= {"alice", "bob", "teacher"}
    cached = bot.get_guild(w.guild.id)
    assert cached is not None
    found = await cached.query_members("al")
    assert [m.name for m in found] == ["alice"]
    await cached.get_member(w.alice.id).add_roles(w.sandbox.staff_role(w.guild))  # type: ignore[union-attr]
    assert w.sandbox.member(w.guild, w.alice).role_ids == [w.sandbox.staff_role(w.guild).id]
    await eventually(
        lambda: cached.get_member(w.alice.id).guild_permissions.manage_guild  # type: ignore[union-attr]
    )
    sent = await channel.send("hello", embed=discord.Embed(title="t"))
    await channel.typing()
    history = [m async for m in channel.history(limit=10)]
    assert [m.id for m in history] == [sent.id]
    fetched = await channel.fetch_message(sent.id)
    assert fetched.embeds[0].title == "t"
    dm = await bot.create_dm(discord.Object(w.alice.id))
    await dm.send("psst")
    assert [m.content for m in w.sandbox.dms(w.alice)] == ["psst"]
    assert w.sandbox.unknown_routes == []


@pytest.mark.asyncio
async def test_invoke_in_dm(running: tuple[World, HandInTestBot]) -> None:
    w, _ = running
    dm = w.sandbox.dm_channel(w.alice)
    interaction = await w.sandbox.invoke(w.alice, "submit", {"assignment": "Lab 1"}, channel=dm)
    done = await interaction.wait_done()
    assert done.content == "picked Lab 1" and done.channel_id == dm.id
    with pytest.raises(SandboxError, match="unknown command /purge"):
        await w.sandbox.invoke(w.teacher, "purge", channel=w.sandbox.dm_channel(w.teacher))


@pytest.mark.asyncio
async def test_privileged_intent_not_enabled() -> None:
    async with Sandbox(privileged_intents=0) as sandbox:
        sandbox.add_guild("G")
        with pytest.raises(SandboxError) as info:
            await sandbox.run_bot(HandInTestBot([])).start()
        assert isinstance(info.value.__cause__, discord.PrivilegedIntentsRequired)
