"""The sandbox gateway: a websocket speaking Discord's gateway protocol (v10, JSON)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from sandbox.models import JSON, SandboxGuild, SandboxMember
from sandbox.snowflake import shard_of
from sandbox.transcript import EventKind
from sandbox.world import SandboxTimeout, World

log = logging.getLogger(__name__)

# Opcodes.
DISPATCH = 0
HEARTBEAT = 1
IDENTIFY = 2
PRESENCE_UPDATE = 3
VOICE_STATE_UPDATE = 4
RESUME = 6
RECONNECT = 7
REQUEST_GUILD_MEMBERS = 8
INVALID_SESSION = 9
HELLO = 10
HEARTBEAT_ACK = 11

# Intents the sandbox honours.
INTENT_GUILD_MEMBERS = 1 << 1
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content

# Close codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
CLOSE_UNKNOWN_OPCODE = 4001
CLOSE_DECODE_ERROR = 4002
CLOSE_NOT_AUTHENTICATED = 4003
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_INVALID_SHARD = 4010
CLOSE_DISALLOWED_INTENTS = 4014

# How many dispatched events a session keeps for RESUME replays.
HISTORY_SIZE = 2000


@dataclass(eq=False)
class Session:
    """A gateway session: outlives a single websocket so RESUME can replay what was missed."""

    id: str
    intents: int
    shard: list[int] | None
    seq: int = 0
    history: deque[tuple[int, str, JSON]] = field(
        default_factory=lambda: deque(maxlen=HISTORY_SIZE)
    )
    connection: Connection | None = None
    # A newer IDENTIFY supersedes this session; it then gets nothing and cannot resume.
    invalid: bool = False

    @property
    def wants_members(self) -> bool:
        return bool(self.intents & INTENT_GUILD_MEMBERS)

    def serves(self, guild_id: int | None) -> bool:
        """Whether this session gets the events of `guild_id` (None: DMs and the like, which
        Discord sends on shard 0). A session without `shard` gets everything."""
        if self.shard is None:
            return True
        shard_id, count = self.shard
        if guild_id is None:
            return shard_id == 0
        return shard_of(guild_id, count) == shard_id

    def overlaps(self, shard: list[int] | None) -> bool:
        """Whether a new IDENTIFY with `shard` takes over this session's events."""
        return self.shard is None or shard is None or self.shard == shard


def _zstd_stream() -> Callable[[bytes], bytes] | None:
    """A zstd stream's compressor: each call returns one message, flushed. None without
    zstandard (the client then has no zstd either, and asked for it only by mistake: it gets
    text frames, which discord.py also reads)."""
    try:
        import zstandard
    except ImportError:
        return None
    stream = zstandard.ZstdCompressor().compressobj()

    def message(data: bytes) -> bytes:
        return stream.compress(data) + stream.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)

    return message


class Connection:
    """One websocket; owns the zlib stream, which must see frames in send order."""

    def __init__(self, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self.compress = compress
        # zlib-stream is one deflate stream per connection, flushed with Z_SYNC_FLUSH per
        # message (discord.py waits for the 00 00 ff ff suffix). zstd-stream (what discord.py
        # asks for when zstandard is installed, as with its [speed] extra) is one zstd stream
        # per connection, each message a flushed block that decompresses on its own.
        self._zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self._zstd = _zstd_stream() if compress == "zstd-stream" else None
        self._lock = asyncio.Lock()
        self.session: Session | None = None

    async def send(self, payload: JSON) -> None:
        await self.send_raw(json.dumps(payload, separators=(",", ":")))

    async def send_raw(self, text: str) -> None:
        if self.ws.closed:
            return
        async with self._lock:
            try:
                if self._zlib is not None:
                    frame = self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                    await self.ws.send_bytes(frame)
                elif self._zstd is not None:
                    await self.ws.send_bytes(self._zstd(text.encode()))
                else:
                    await self.ws.send_str(text)
            except (ConnectionError, RuntimeError) as exc:
                log.debug("gateway send failed: %s", exc)


class Gateway:
    """Accepts discord.py's websocket and feeds it READY, GUILD_CREATE and dispatches."""

    def __init__(self, world: World, *, heartbeat_interval_ms: int = 41250) -> None:
        self.world = world
        self.heartbeat_interval_ms = heartbeat_interval_ms
        # Privileged intents "enabled in the Developer Portal"; asking for others gets 4014.
        self.allowed_privileged_intents = PRIVILEGED_INTENTS
        self.url = "ws://127.0.0.1:0/gateway"
        self.sessions: dict[str, Session] = {}
        self.connections: set[Connection] = set()
        self.identify_count = 0
        self.ready_count = 0
        self.resume_count = 0
        self.heartbeat_count = 0
        self.member_requests: list[JSON] = []
        # What /gateway/bot recommends: the shard count and sessions started at once.
        self.recommended_shards = 1
        self.max_concurrency = 1
        # The `shard` of every IDENTIFY ([id, count], or None), oldest first.
        self.identified_shards: list[list[int] | None] = []
        # Query strings of every websocket connect (v, encoding, compress), oldest first.
        self.connect_queries: list[dict[str, str]] = []
        self._changed = asyncio.Condition()

    # -- state for the driver ---------------------------------------------------------

    @property
    def live_sessions(self) -> list[Session]:
        return [
            s
            for s in self.sessions.values()
            if not s.invalid and s.connection is not None and not s.connection.ws.closed
        ]

    @property
    def connected(self) -> bool:
        return bool(self.live_sessions)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        async def waiter() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        try:
            await asyncio.wait_for(waiter(), timeout)
        except TimeoutError:
            raise SandboxTimeout(f"timed out after {timeout:.1f}s waiting for {what}") from None

    # -- dispatching --------------------------------------------------------------------

    async def dispatch(
        self, event: str, data: JSON, *, only: Callable[[Session], bool] | None = None
    ) -> int:
        """Send ``event`` to every current session; returns how many live sockets got it."""
        delivered = 0
        guild_id = _guild_of(event, data)
        for session in list(self.sessions.values()):
            if session.invalid or (only is not None and not only(session)):
                continue
            if not session.serves(guild_id):
                continue
            if await self._dispatch_to(session, event, data):
                delivered += 1
        return delivered

    async def _dispatch_to(self, session: Session, event: str, data: JSON) -> bool:
        session.seq += 1
        frame = json.dumps(
            {"op": DISPATCH, "t": event, "s": session.seq, "d": data}, separators=(",", ":")
        )
        # Kept even while disconnected, so a RESUME gets it like on Discord.
        session.history.append((session.seq, event, json.loads(frame)))
        conn = session.connection
        if conn is None or conn.ws.closed:
            return False
        await conn.send_raw(frame)
        return True

    async def guild_member_add(self, guild: SandboxGuild, member: SandboxMember) -> None:
        data = member.to_payload()
        data["guild_id"] = str(guild.id)
        await self.dispatch("GUILD_MEMBER_ADD", data, only=lambda s: s.wants_members)

    async def guild_member_update(self, guild: SandboxGuild, member: SandboxMember) -> None:
        data = member.to_payload()
        data["guild_id"] = str(guild.id)
        await self.dispatch("GUILD_MEMBER_UPDATE", data, only=lambda s: s.wants_members)

    async def guild_create(self, guild: SandboxGuild) -> None:
        for session in list(self.sessions.values()):
            if not session.invalid and session.serves(guild.id):
                payload = self._guild_payload(session, guild)
                await self._dispatch_to(session, "GUILD_CREATE", payload)

    def _guild_payload(self, session: Session, guild: SandboxGuild) -> JSON:
        if session.wants_members:
            return guild.to_payload()
        # Without the GUILD_MEMBERS intent Discord only lists the bot itself.
        me = guild.members.get(self.world.bot_user.id)
        return guild.to_payload(members=[me] if me is not None else [])

    # -- driver controls ---------------------------------------------------------------

    async def close_all(self, code: int = 1001) -> None:
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=code)

    async def send_reconnect(self) -> None:
        """Ask the bot to reconnect and RESUME (op 7), as Discord does on rolling restarts."""
        for session in self.live_sessions:
            assert session.connection is not None
            await session.connection.send({"op": RECONNECT, "d": None})

    async def drop_connections(self) -> None:
        """Close every socket abnormally so the client reconnects and resumes."""
        await self.close_all(code=4000)

    # -- the websocket handler ---------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        compress = request.query.get("compress")
        if compress not in (None, "zlib-stream", "zstd-stream"):
            log.warning("gateway: client asked for unknown compression %r", compress)
        conn = Connection(ws, compress)
        self.connect_queries.append(dict(request.query))
        self.connections.add(conn)
        log.debug("gateway: connection opened (query %s)", dict(request.query))
        try:
            await conn.send(
                {
                    "op": HELLO,
                    "d": {
                        "heartbeat_interval": self.heartbeat_interval_ms,
                        "_trace": ["sandbox-gateway"],
                    },
                }
            )
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_text(conn, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    await ws.close(code=CLOSE_DECODE_ERROR, message=b"binary frames unsupported")
                elif msg.type is WSMsgType.ERROR:
                    log.debug("gateway: socket error %s", ws.exception())
        finally:
            self.connections.discard(conn)
            session = conn.session
            if session is not None and session.connection is conn:
                session.connection = None
                self.world.record(
                    EventKind.DISCONNECT, detail=f"session {session.id} closed ({ws.close_code})"
                )
            await self._notify()
        return ws

    async def _on_text(self, conn: Connection, text: str) -> None:
        try:
            message = json.loads(text)
            op = message["op"]
        except (ValueError, KeyError, TypeError):
            await conn.ws.close(code=CLOSE_DECODE_ERROR, message=b"Error while decoding payload.")
            return
        data: Any = message.get("d")
        if op == HEARTBEAT:
            self.heartbeat_count += 1
            await conn.send({"op": HEARTBEAT_ACK, "d": None})
        elif op == IDENTIFY:
            await self._identify(conn, data)
        elif op == RESUME:
            await self._resume(conn, data)
        elif conn.session is None:
            await conn.ws.close(code=CLOSE_NOT_AUTHENTICATED, message=b"Not authenticated.")
        elif op == REQUEST_GUILD_MEMBERS:
            await self._request_members(conn, data)
        elif op in (PRESENCE_UPDATE, VOICE_STATE_UPDATE):
            log.debug("gateway: ignoring op %s", op)
        else:
            log.warning("gateway: unknown opcode %s", op)
            await conn.ws.close(code=CLOSE_UNKNOWN_OPCODE, message=b"Unknown opcode.")

    async def _identify(self, conn: Connection, data: JSON) -> None:
        if conn.session is not None:
            await conn.ws.close(code=CLOSE_ALREADY_AUTHENTICATED, message=b"Already authenticated.")
            return
        if not isinstance(data, dict) or data.get("token") != self.world.token:
            log.warning("gateway: IDENTIFY with a wrong token")
            await conn.ws.close(code=CLOSE_AUTHENTICATION_FAILED, message=b"Authentication failed.")
            return
        intents = int(data.get("intents") or 0)
        refused = intents & PRIVILEGED_INTENTS & ~self.allowed_privileged_intents
        if refused:
            log.warning("gateway: IDENTIFY asks for privileged intents %#x not enabled", refused)
            await conn.ws.close(code=CLOSE_DISALLOWED_INTENTS, message=b"Disallowed intent(s).")
            return
        shard = data.get("shard")
        if shard is not None and not _valid_shard(shard):
            log.warning("gateway: IDENTIFY with an invalid shard %r", shard)
            await conn.ws.close(code=CLOSE_INVALID_SHARD, message=b"Invalid shard.")
            return
        self.identify_count += 1
        self.identified_shards.append(None if shard is None else list(shard))
        # One bot at a time per shard: a fresh IDENTIFY (e.g. a restarted process) supersedes
        # the old sessions of its shard, so their buffers stop growing and they can no longer
        # be resumed; other shards' sessions (other processes) carry on.
        for old in self.sessions.values():
            if old.overlaps(shard):
                old.invalid = True
        session = Session(id=secrets.token_hex(16), intents=intents, shard=shard)
        self.sessions[session.id] = session
        session.connection = conn
        conn.session = session
        world = self.world
        me = world.bot_user.to_payload()
        me.update(verified=True, mfa_enabled=False, flags=0)
        ready: JSON = {
            "v": 10,
            "user": me,
            "guilds": [
                {"id": str(g), "unavailable": True} for g in world.guilds if session.serves(g)
            ],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.url,
            "application": {"id": str(world.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "auth": {},
            "_trace": ["sandbox-gateway"],
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        await self._dispatch_to(session, "READY", ready)
        self.ready_count += 1
        world.record(EventKind.READY, detail=f"bot identified, session {session.id}")
        for guild in list(world.guilds.values()):
            if session.serves(guild.id):
                payload = self._guild_payload(session, guild)
                await self._dispatch_to(session, "GUILD_CREATE", payload)
        await self._notify()

    async def _resume(self, conn: Connection, data: JSON) -> None:
        session = self.sessions.get(str((data or {}).get("session_id")))
        token_ok = isinstance(data, dict) and data.get("token") == self.world.token
        if session is None or session.invalid or not token_ok:
            log.info("gateway: RESUME of an unknown or superseded session; invalidating")
            await conn.send({"op": INVALID_SESSION, "d": False})
            return
        old = session.connection
        if old is not None and old is not conn and not old.ws.closed:
            await old.ws.close(code=4000)
        session.connection = conn
        conn.session = session
        since = int(data.get("seq") or 0)
        for seq, _event, frame in list(session.history):
            if seq > since:
                await conn.send(frame)
        session.seq += 1
        await conn.send({"op": DISPATCH, "t": "RESUMED", "s": session.seq, "d": {}})
        self.resume_count += 1
        self.world.record(EventKind.READY, detail=f"bot resumed session {session.id}")
        await self._notify()

    async def _request_members(self, conn: Connection, data: JSON) -> None:
        assert conn.session is not None
        self.member_requests.append(data)
        guild_ids = data.get("guild_id")
        ids = guild_ids if isinstance(guild_ids, list) else [guild_ids]
        query = data.get("query")
        limit = int(data.get("limit") or 0)
        user_ids = {int(u) for u in data.get("user_ids") or []}
        for gid in ids:
            guild = self.world.guilds.get(int(gid or 0))
            if guild is None:
                continue
            members = list(guild.members.values())
            not_found: list[str] = []
            if user_ids:
                not_found = [str(u) for u in user_ids if u not in guild.members]
                members = [m for m in members if m.user.id in user_ids]
            elif query:
                q = str(query).lower()
                members = [
                    m
                    for m in members
                    if m.user.username.lower().startswith(q) or (m.nick or "").lower().startswith(q)
                ]
            if limit:
                members = members[:limit]
            chunk: JSON = {
                "guild_id": str(guild.id),
                "members": [m.to_payload() for m in members],
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": not_found,
            }
            if data.get("nonce") is not None:
                chunk["nonce"] = data["nonce"]
            if data.get("presences"):
                chunk["presences"] = []
            await self._dispatch_to(conn.session, "GUILD_MEMBERS_CHUNK", chunk)


def _guild_of(event: str, data: JSON) -> int | None:
    """The guild an event belongs to (None: a DM or no guild), which picks its shard."""
    if data.get("guild_id") is not None:
        return int(data["guild_id"])
    if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE") and data.get("id"):
        return int(data["id"])
    return None


def _valid_shard(shard: Any) -> bool:
    return (
        isinstance(shard, list)
        and len(shard) == 2
        and all(isinstance(n, int) for n in shard)
        and 0 <= shard[0] < shard[1]
    )
