"""A loopback Discord (REST v10 + gateway) that the real discord.py client connects to."""

from sandbox.driver import Sandbox
from sandbox.interactions import CallbackRecord, InteractionHandle
from sandbox.models import (
    CdnFault,
    SandboxChannel,
    SandboxGuild,
    SandboxMember,
    SandboxMessage,
    SandboxRole,
    SandboxUser,
    StoredFile,
)
from sandbox.process import BotProcess, InProcessBot
from sandbox.snowflake import snowflake_time, time_snowflake
from sandbox.transcript import EventKind, Transcript, TranscriptEvent, format_event
from sandbox.world import SandboxError, SandboxTimeout

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
    "snowflake_time",
    "time_snowflake",
]
