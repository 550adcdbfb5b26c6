"""Where discord.py talks to: Discord itself, or another endpoint (a proxy, the sandbox)."""

from __future__ import annotations

import discord
import discord.gateway
import discord.http
import yarl

Endpoints = tuple[str, yarl.URL]


def point_client_at(api_base: str, gateway_url: str | None) -> Endpoints:
    """Aim discord.py at a Discord (its two class attributes); returns the previous endpoints.
    Without `gateway_url` the gateway stays the one Discord's REST API names."""
    previous = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    discord.http.Route.BASE = api_base
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    return previous


def restore_client(previous: Endpoints) -> None:
    discord.http.Route.BASE = previous[0]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = previous[1]
