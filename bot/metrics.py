"""Prometheus metrics and the health check, served on HANDIN_METRICS_PORT.

`/healthz` answers 200 when the gateway is connected, the database answers and no receipt is
stuck, else 503; both say which check failed, as JSON. `/metrics` is the Prometheus text
format. The metrics live in a registry of their own, so several bots in one process (tests)
do not share counters.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from bot.services.health import Health, HealthService

log = logging.getLogger(__name__)

# Slash commands answer within Discord's 3 s by deferring; an upload's whole round trip may
# take a minute for a large file.
COMMAND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
RECEIPT_STATUSES = ("pending", "sent", "undeliverable", "superseded")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.commands = Histogram(
            "handin_command_seconds",
            "Slash commands from arrival to their last reply, by command and outcome",
            ["command", "outcome"],
            buckets=COMMAND_BUCKETS,
            registry=self.registry,
        )
        self.uploads = Counter(
            "handin_uploads_stored", "Uploads stored and acknowledged", registry=self.registry
        )
        self.refusals = Counter(
            "handin_refusals",
            "Commands refused with a message, by command and reason (the message's key)",
            ["command", "reason"],
            registry=self.registry,
        )
        self.receipts = Gauge(
            "handin_receipts",
            "Receipts in the outbox, by status",
            ["status"],
            registry=self.registry,
        )
        self.stuck_receipts = Gauge(
            "handin_receipts_stuck",
            "Pending receipts whose try is overdue by more than 15 minutes",
            registry=self.registry,
        )
        self.finalization_lag = Gauge(
            "handin_finalization_lag_seconds",
            "How long the oldest group past its deadline has waited to be finalized",
            registry=self.registry,
        )
        self.gateway_latency = Gauge(
            "handin_gateway_latency_seconds",
            "Discord gateway heartbeat latency (NaN before the first heartbeat)",
            registry=self.registry,
        )
        self.gateway_connected = Gauge(
            "handin_gateway_connected", "1 while the gateway is connected", registry=self.registry
        )
        self.database_up = Gauge(
            "handin_database_up",
            "1 when the database answered the last check",
            registry=self.registry,
        )

    def command_done(self, command: str, outcome: str, seconds: float) -> None:
        """`outcome`: ok, refused or error."""
        self.commands.labels(command=command, outcome=outcome).observe(max(0.0, seconds))
        if command == "upload" and outcome == "ok":
            self.uploads.inc()

    def refused(self, command: str, reason: str) -> None:
        self.refusals.labels(command=command, reason=reason).inc()

    def observe(self, health: Health, gateway: Gateway) -> None:
        for status in RECEIPT_STATUSES:
            self.receipts.labels(status=status).set(health.receipts.get(status, 0))
        self.stuck_receipts.set(health.stuck_receipts)
        self.finalization_lag.set(health.finalization_lag)
        self.database_up.set(int(health.database))
        self.gateway_connected.set(int(gateway.connected))
        self.gateway_latency.set(gateway.latency)


@dataclass(frozen=True, slots=True)
class Gateway:
    connected: bool
    latency: float  # seconds; NaN when unknown


class MetricsServer:
    """The HTTP side: a small aiohttp app, started in `setup_hook`, stopped at the clean stop."""

    def __init__(
        self,
        metrics: Metrics,
        health: HealthService,
        gateway: Callable[[], Gateway],
        *,
        host: str,
        port: int,
    ) -> None:
        self._metrics = metrics
        self._health = health
        self._gateway = gateway
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._scrape)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        # Port 0 asks for a free one: read back the one bound.
        self.port = int(self._runner.addresses[0][1])
        log.info("metrics and /healthz on http://%s:%s", self._host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _refresh(self) -> tuple[Health, Gateway]:
        health, gateway = await self._health.check(), self._gateway()
        self._metrics.observe(health, gateway)
        return health, gateway

    async def _healthz(self, request: web.Request) -> web.Response:
        health, gateway = await self._refresh()
        checks = {
            "gateway": gateway.connected,
            "database": health.database,
            "receipts": health.stuck_receipts == 0,
        }
        body = {
            "ok": all(checks.values()),
            "checks": checks,
            "stuck_receipts": health.stuck_receipts,
            "finalization_lag_seconds": health.finalization_lag,
            "gateway_latency_seconds": None if math.isnan(gateway.latency) else gateway.latency,
        }
        return web.json_response(body, status=200 if body["ok"] else 503)

    async def _scrape(self, request: web.Request) -> web.Response:
        await self._refresh()
        return web.Response(
            body=generate_latest(self._metrics.registry),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )
