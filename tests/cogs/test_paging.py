"""Splitting long text and lists into Discord-sized pieces: nothing lost, nothing over a limit."""

from __future__ import annotations

import discord
from hypothesis import given
from hypothesis import strategies as st

from cogs._paging import Section, field_pages, line_pages, split_text

TEXT = st.text(alphabet=st.sampled_from("ab cæ\n<@1>·"), max_size=5000)


@given(TEXT, st.integers(min_value=5, max_value=1024))
def test_split_text_keeps_every_character_within_the_limit(text: str, limit: int) -> None:
    pieces = split_text(text, limit)
    assert all(len(p) <= limit for p in pieces)
    assert "".join(pieces).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(
        " ", ""
    )


def test_split_text_cuts_at_line_ends_first() -> None:
    lines = [f"line {n:03d}" for n in range(300)]
    pieces = split_text("\n".join(lines), 100)
    assert [line for p in pieces for line in p.split("\n")] == lines


def _within_limits(embed: discord.Embed) -> bool:
    return (
        len(embed) <= 6000
        and len(embed.fields) <= 25
        and len(embed.description or "") <= 4096
        and len(embed.title or "") <= 256
        and all(len(f.value or "") <= 1024 and len(f.name or "") <= 256 for f in embed.fields)
    )


@given(st.lists(st.tuples(st.text(min_size=1, max_size=300), TEXT), max_size=60))
def test_field_pages_hold_every_section_within_discords_limits(
    sections: list[tuple[str, str]],
) -> None:
    pages = field_pages("Title", [Section(n, v) for n, v in sections], colour=discord.Colour.blue())
    assert pages and all(_within_limits(p) for p in pages)
    values = "".join(f.value or "" for p in pages for f in p.fields)
    for _, text in sections:
        assert text.replace("\n", "").replace(" ", "") in values.replace("\n", "").replace(" ", "")


def test_a_title_too_long_for_its_slot_leads_the_description() -> None:
    [page] = line_pages("T" * 300, ["one line"], colour=discord.Colour.blue(), empty="-")
    assert page.title is None
    assert page.description is not None and "T" * 300 in page.description
    assert _within_limits(page)
