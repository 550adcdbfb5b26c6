"""What became of a DM, and when a failed one is tried again (SPEC: DM failures by kind)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta


class DmFailure(enum.StrEnum):
    """Why a DM did not arrive, by what follows from it."""

    # 50007: the member does not accept DMs from the bot. Their choice: final at once.
    CLOSED = "closed"
    # The user no longer exists (or never did): final at once.
    GONE = "gone"
    # 40003 (opening DMs too fast), 429, 5xx, the network: it passes; try again with backoff.
    TRANSIENT = "transient"
    # Any other refusal: logged with its code and tried a few times over about an hour.
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome of one DM: delivered, withdrawn before it went out, or failed and why."""

    failure: DmFailure | None = None
    # Discord's error code (or HTTP status) for the log and for staff.
    code: int | None = None
    # Not sent because it was no longer wanted when its turn came (a superseded receipt).
    withdrawn: bool = False

    @property
    def sent(self) -> bool:
        return self.failure is None and not self.withdrawn

    @property
    def reason(self) -> str:
        """A short tag for what staff see: `closed`, `refused:50001`, `transient:40003`."""
        if self.failure is None:
            return ""
        return f"{self.failure.value}:{self.code}" if self.code else self.failure.value


DELIVERED = Delivery()
WITHDRAWN = Delivery(withdrawn=True)

# A passing fault is tried again after 30 s, then twice as long each time up to 15 minutes,
# for about a day in all: a receipt is worth waiting for.
TRANSIENT_FIRST_DELAY = timedelta(seconds=30)
TRANSIENT_MAX_DELAY = timedelta(minutes=15)
TRANSIENT_ATTEMPTS = 100
# Any other refusal: three more tries at 5, 20 and 60 minutes after the first.
REFUSED_DELAYS = (timedelta(minutes=5), timedelta(minutes=15), timedelta(minutes=40))


def next_attempt(delivery: Delivery, attempts: int, now: datetime) -> datetime | None:
    """When to try a failed DM again after `attempts` tries (this one included), or None
    when it counts as undeliverable now."""
    failure = delivery.failure
    if failure is DmFailure.TRANSIENT and attempts < TRANSIENT_ATTEMPTS:
        # The exponent is capped: the delay stops growing long before it, and 2**99 would
        # overflow a timedelta.
        delay: timedelta = min(
            TRANSIENT_FIRST_DELAY * 2 ** min(attempts - 1, 10), TRANSIENT_MAX_DELAY
        )
        return now + delay
    if failure is DmFailure.REFUSED and attempts <= len(REFUSED_DELAYS):
        return now + REFUSED_DELAYS[attempts - 1]
    return None
