"""The overview's chart: what it counts, and that it renders a PNG off the event loop."""

from __future__ import annotations

import threading

import pytest

import cogs._chart
from cogs._chart import ChartData, chart_data, render_png
from tests.cogs.conftest import World
from tests.conftest import GUILD, STAFF, incoming, make_assignment, student


async def test_chart_counts_groups_by_state_and_every_upload(world: World) -> None:
    await make_assignment(world.services)
    now = world.clock.now()
    await world.services.groups.create(GUILD, student(1), "Lab 1", "1111", sent_at=now)
    await world.services.groups.create(GUILD, student(2), "Lab 1", "2222", sent_at=now)
    for n in range(3):
        await world.services.submissions.upload(
            GUILD, student(1), "Lab 1", incoming(f"v{n}".encode()), sent_at=now
        )
    overview = await world.services.assignments.overview(GUILD, STAFF, "Lab 1")

    data = chart_data("en", overview)

    assert len(data.times) == 3
    assert [value for _, value, _ in data.bars] == [1, 1, 0]


async def test_the_png_is_drawn_on_a_worker_thread(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_assignment(world.services)
    overview = await world.services.assignments.overview(GUILD, STAFF, "Lab 1")
    threads: list[threading.Thread] = []
    draw = cogs._chart.render

    def spy(data: ChartData) -> bytes:
        threads.append(threading.current_thread())
        return draw(data)

    monkeypatch.setattr(cogs._chart, "render", spy)
    png = await render_png(chart_data("no", overview))

    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert threads and threads[0] is not threading.main_thread()
