"""An ordered, queryable record of the conversation between users and the bot."""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sandbox.models import JSON, SandboxMessage, SandboxUser, StoredFile

log = logging.getLogger(__name__)


class EventKind(enum.StrEnum):
    """What happened."""

    # A user did something.
    COMMAND = "command"
    AUTOCOMPLETE = "autocomplete"
    COMPONENT = "component"
    MODAL_SUBMIT = "modal_submit"
    MEMBER_JOIN = "member_join"
    # The bot answered an interaction.
    DEFER = "defer"
    RESPONSE = "response"
    FOLLOWUP = "followup"
    EDIT = "edit"
    DELETE = "delete"
    CHOICES = "choices"
    MODAL = "modal"
    # The bot talked on its own.
    DM = "dm"
    DM_FAILED = "dm_failed"
    CHANNEL_MESSAGE = "channel_message"
    # Plumbing worth seeing in a transcript.
    READY = "ready"
    DISCONNECT = "disconnect"
    COMMAND_SYNC = "command_sync"
    RATE_LIMITED = "rate_limited"
    CDN_FAULT = "cdn_fault"
    UNKNOWN_ROUTE = "unknown_route"
    ERROR = "error"


@dataclass(eq=False)
class TranscriptEvent:
    """One thing that happened; fields that do not apply stay empty."""

    kind: EventKind
    at: dt.datetime
    user: SandboxUser | None = None
    channel_id: int | None = None
    interaction_id: int | None = None
    command: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    content: str | None = None
    embeds: list[JSON] = field(default_factory=list)
    files: list[StoredFile] = field(default_factory=list)
    ephemeral: bool = False
    message: SandboxMessage | None = None
    detail: str = ""

    def __str__(self) -> str:
        return format_event(self)


Subscriber = Callable[[TranscriptEvent], None]


class Transcript:
    """Events in the order they happened, with subscribers notified as they arrive."""

    def __init__(self) -> None:
        self.events: list[TranscriptEvent] = []
        self._subscribers: list[Subscriber] = []

    def add(self, event: TranscriptEvent) -> TranscriptEvent:
        self.events.append(event)
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                # A broken printer must not break the sandbox's request handling.
                log.exception("transcript subscriber %r failed", callback)
        return event

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` for every new event; returns a function that unsubscribes."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def of_kind(self, *kinds: EventKind | str) -> list[TranscriptEvent]:
        wanted = {EventKind(k) for k in kinds}
        return [e for e in self.events if e.kind in wanted]

    def for_user(self, user: SandboxUser) -> list[TranscriptEvent]:
        return [e for e in self.events if e.user is user]

    def for_interaction(self, interaction_id: int) -> list[TranscriptEvent]:
        return [e for e in self.events if e.interaction_id == interaction_id]

    def format(self) -> str:
        return "\n".join(format_event(e) for e in self.events)

    def clear(self) -> None:
        self.events.clear()

    def __iter__(self) -> Iterator[TranscriptEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, index: int) -> TranscriptEvent:
        return self.events[index]


def _who(user: SandboxUser | None) -> str:
    return "?" if user is None else user.display_name


def _quote(text: str | None, limit: int = 300) -> str:
    if not text:
        return '""'
    flat = text.replace("\n", "\\n")
    if len(flat) > limit:
        flat = flat[: limit - 3] + "..."
    return f'"{flat}"'


def _format_option(name: str, value: Any) -> str:
    if isinstance(value, StoredFile):
        return f"{name}:[{value.filename} {value.size} B]"
    if isinstance(value, SandboxUser):
        return f"{name}:@{value.display_name}"
    if isinstance(value, str):
        return f"{name}:{_quote(value, 80)}"
    name_attr = getattr(value, "name", None)
    if isinstance(name_attr, str):
        return f"{name}:{name_attr}"
    return f"{name}:{value!r}"


def _format_body(event: TranscriptEvent) -> str:
    parts = [_quote(event.content)] if event.content or not (event.embeds or event.files) else []
    for embed in event.embeds:
        title = embed.get("title") or embed.get("description") or ""
        parts.append(f"[embed {_quote(str(title), 60)}]")
    for f in event.files:
        parts.append(f"[file {f.filename} {f.size} B]")
    return " ".join(parts)


def format_event(event: TranscriptEvent) -> str:
    """One readable line for ``event``, for demos that print the conversation live."""
    stamp = event.at.astimezone().strftime("%H:%M:%S.%f")[:-3]
    eph = " (ephemeral)" if event.ephemeral else ""
    who = _who(event.user)
    k = event.kind
    if k is EventKind.COMMAND:
        opts = " ".join(_format_option(n, v) for n, v in event.options.items())
        text = f"{who} > /{event.command} {opts}".rstrip()
    elif k is EventKind.AUTOCOMPLETE:
        text = f"{who} typing /{event.command} ({event.detail})"
    elif k is EventKind.COMPONENT:
        text = f"{who} clicks {event.detail}"
    elif k is EventKind.MODAL_SUBMIT:
        opts = " ".join(_format_option(n, v) for n, v in event.options.items())
        text = f"{who} submits modal {event.detail} {opts}".rstrip()
    elif k is EventKind.MEMBER_JOIN:
        text = f"{who} joined {event.detail}"
    elif k is EventKind.DEFER:
        text = f"bot -> {who}: thinking...{eph} {event.detail}".rstrip()
    elif k in (EventKind.RESPONSE, EventKind.FOLLOWUP, EventKind.EDIT):
        label = {"response": "", "followup": " follow-up", "edit": " edit"}[k.value]
        text = f"bot -> {who}{label}{eph}: {_format_body(event)}"
    elif k is EventKind.DELETE:
        text = f"bot deleted a message for {who}"
    elif k is EventKind.CHOICES:
        text = f"bot -> {who} choices: {event.detail}"
    elif k is EventKind.MODAL:
        text = f"bot -> {who}: modal {event.detail}"
    elif k is EventKind.DM:
        text = f"bot DM -> {who}: {_format_body(event)}"
    elif k is EventKind.DM_FAILED:
        text = f"bot DM -> {who} FAILED: {event.detail}"
    elif k is EventKind.CHANNEL_MESSAGE:
        text = f"bot #{event.detail}: {_format_body(event)}"
    else:
        text = f"[{k.value}] {event.detail}".rstrip()
    return f"{stamp} {text}"
