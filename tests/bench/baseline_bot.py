"""The rush baseline: the simplest discord.py bot that takes an upload (defer, read, reply).

No database, no file store, no checks: `Attachment.read()` and a follow-up. Run by the rush
benchmark as `python -m tests.bench.baseline_bot` with the same environment as the real bot
(DISCORD_TOKEN, DISCORD_API_BASE, DISCORD_GATEWAY_URL).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys

import discord
import yarl
from discord import app_commands


class Baseline(discord.Client):
    def __init__(self) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(intents=intents)
        self.tree = app_commands.CommandTree(self)

        @self.tree.command(name="upload", description="Upload a file")
        @app_commands.guild_only()
        async def upload(
            interaction: discord.Interaction, assignment: str, file: discord.Attachment
        ) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            data = await file.read()
            sha = hashlib.sha256(data).hexdigest()
            await interaction.followup.send(
                f"Stored `{file.filename}` ({len(data)} bytes, SHA-256 `{sha[:12]}…`)",
                ephemeral=True,
            )

    async def setup_hook(self) -> None:
        await self.tree.sync()


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    discord.http.Route.BASE = os.environ["DISCORD_API_BASE"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["DISCORD_GATEWAY_URL"])
    Baseline().run(os.environ["DISCORD_TOKEN"], log_handler=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
