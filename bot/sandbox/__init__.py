"""A loopback Discord (REST v10 + gateway) that the real discord.py client connects to."""

from bot.sandbox.driver import Sandbox
from bot.sandbox.interactions import CallbackRecord, InteractionHandle
from bot.sandbox.models import (
    CdnFault,
    SandboxChannel,
    SandboxGuild,
    SandboxMember,
    SandboxMessage,
    SandboxRole,
    SandboxUser,
    StoredFile,
)
from bot.sandbox.process import BotProcess, InProcessBot, point_client_at, restore_client
from bot.sandbox.snowflake import snowflake_time, time_snowflake
from bot.sandbox.transcript import EventKind, Transcript, TranscriptEvent, format_event
from bot.sandbox.world import SandboxError, SandboxTimeout

__all__ = [
    "BotProcess",
    "CallbackRecord",
    "CdnFault",
    "EventKind",
    "InProcessBot",
    "InteractionHandle",
    "Sandbox",
    "SandboxChannel",
    "SandboxError",
    "SandboxGuild",
    "SandboxMember",
    "SandboxMessage",
    "SandboxRole",
    "SandboxTimeout",
    "SandboxUser",
    "StoredFile",
    "Transcript",
    "TranscriptEvent",
    "format_event",
    "point_client_at",
    "restore_client",
    "snowflake_time",
    "time_snowflake",
]
