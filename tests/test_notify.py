"""What a failed DM means, and the receipts' nonces (the Discord side of the Notifier)."""

from __future__ import annotations

from unittest.mock import MagicMock

import aiohttp
import discord
import pytest

from bot.domain.delivery import DmFailure
from cogs._notify import classify_failure, receipt_nonce


def http_error(kind: type[discord.HTTPException], status: int, code: int) -> discord.HTTPException:
    response = MagicMock(status=status, reason="")
    return kind(response, {"code": code, "message": "x"})


@pytest.mark.parametrize(
    ("error", "failure", "code"),
    [
        (http_error(discord.Forbidden, 403, 50007), DmFailure.CLOSED, 50007),
        (http_error(discord.Forbidden, 403, 40003), DmFailure.TRANSIENT, 40003),
        (http_error(discord.Forbidden, 403, 50001), DmFailure.REFUSED, 50001),
        (http_error(discord.NotFound, 404, 10013), DmFailure.GONE, 10013),
        (http_error(discord.HTTPException, 429, 0), DmFailure.TRANSIENT, 429),
        (http_error(discord.DiscordServerError, 503, 0), DmFailure.TRANSIENT, 503),
        (aiohttp.ClientConnectionError(), DmFailure.TRANSIENT, None),
        (ConnectionResetError(), DmFailure.TRANSIENT, None),
    ],
)
def test_a_failed_dm_is_classified_by_its_code_not_its_status(
    error: Exception, failure: DmFailure, code: int | None
) -> None:
    delivery = classify_failure(error)
    assert (delivery.failure, delivery.code) == (failure, code)


def test_a_receipt_nonce_is_stable_unique_per_database_and_fits_discord() -> None:
    assert receipt_nonce("a1b2c3d4e5f60718", 7) == receipt_nonce("a1b2c3d4e5f60718", 7)
    assert receipt_nonce("a1b2c3d4e5f60718", 7) != receipt_nonce("ffffffffffffffff", 7)
    assert len(receipt_nonce("a1b2c3d4e5f60718", 10**13)) <= 25
