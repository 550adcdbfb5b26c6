"""A tiny bot process for the sandbox tests: /ping answers with its pid."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import discord
import discord.gateway
import discord.http
import yarl
from discord import app_commands


class EchoBot(discord.Client):
    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self)

        @self.tree.command(name="ping", description="Answer with the pid")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            await interaction.followup.send(f"pong {os.getpid()}")

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def on_ready(self) -> None:
        # Proves HANDIN_DATA_DIR arrives; the test reads this marker.
        marker = Path(os.environ["HANDIN_DATA_DIR"], "ready")
        await asyncio.to_thread(marker.write_text, str(os.getpid()))


def main() -> None:
    discord.http.Route.BASE = os.environ["DISCORD_API_BASE"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["DISCORD_GATEWAY_URL"])
    EchoBot().run(os.environ["DISCORD_TOKEN"], log_level=logging.INFO)


if __name__ == "__main__":
    main()
