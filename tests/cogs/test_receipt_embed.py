"""The receipt's codes in its embed: one per part's file, and never past Discord's limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.models import (
    Assignment,
    Group,
    GroupMode,
    Part,
    PartFinal,
    Receipt,
    Submission,
    Upload,
)
from bot.domain.receipt_codes import ReceiptSigner
from bot.i18n import t
from bot.services.receipt_codes import sign_submission
from cogs._embeds import receipt_embed
from cogs._paging import EMBED_LIMIT, FIELD_LIMIT

NOW = datetime(2026, 12, 2, tzinfo=UTC)
SIGNER = ReceiptSigner.from_seed(bytes(32))


def _receipt(parts: int, name_length: int) -> Receipt:
    named = tuple(Part(i, f"part-{i:02d}") for i in range(parts))
    assignment = Assignment(
        1, 912345678901234567, "Programming Lab 3 (autumn)", NOW, NOW, None, None,
        GroupMode.OPEN, True, False, None, 10, (), False, False, None, None, (), 1, NOW, None,
        50, 100, None, named,
    )  # fmt: skip
    group = Group(1, 1, "4711", None, None, None, None, None, None)
    uploads = [
        Upload(
            id=i,
            group_id=1,
            user_id=1,
            filename="f" * (name_length - 4) + ".pdf",
            size=123456,
            sha256="ab" * 32,
            content_type=None,
            sent_at=NOW,
            stored_at=NOW,
            late=False,
            part_id=part.id,
        )
        for i, part in enumerate(named)
    ]
    finals = tuple(
        PartFinal(part, upload, None, False) for part, upload in zip(named, uploads, strict=True)
    )
    submission = Submission(1, 1, None, None, False, NOW, finals)
    code, part_codes = sign_submission(SIGNER, assignment, group, submission)
    return Receipt(
        1, assignment, group, 1, uploads[0], 1, False, True, 1, finals, {1: 1}, code,
        part_codes,
    )  # fmt: skip


def _code_fields(receipt: Receipt) -> dict[str, str]:
    embed = receipt_embed("en", receipt)
    return {
        field.name or "": field.value or ""
        for field in embed.fields
        if (field.name or "").startswith("Receipt code")
    }


def test_each_part_shows_its_own_code_that_verifies() -> None:
    receipt = _receipt(3, 30)
    fields = _code_fields(receipt)
    for final in receipt.parts:
        shown = fields[t("en", "receipt.part_code", part=final.part.name)]
        assert SIGNER.verifier.verify(shown).part == final.part.name


@pytest.mark.parametrize("name_length", [20, 60, 255])
def test_ten_parts_with_long_names_stay_within_discords_limits(name_length: int) -> None:
    receipt = _receipt(10, name_length)
    embed = receipt_embed("en", receipt)
    assert len(embed) <= EMBED_LIMIT
    assert len(embed.fields) <= 25
    assert all(len(field.value or "") <= FIELD_LIMIT for field in embed.fields)


def test_codes_without_room_are_named_not_dropped() -> None:
    fields = _code_fields(_receipt(10, 255))
    note = fields[t("en", "receipt.code")]
    assert "No room in this message" in note
    shown = [name for name in fields if name != t("en", "receipt.code")]
    for i in range(10):
        named = f"`part-{i:02d}`"
        assert (t("en", "receipt.part_code", part=f"part-{i:02d}") in shown) != (named in note)


def test_short_names_fit_every_code() -> None:
    fields = _code_fields(_receipt(10, 20))
    assert len(fields) == 10 and t("en", "receipt.code") not in fields
