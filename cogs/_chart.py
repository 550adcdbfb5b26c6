"""The overview's picture (SPEC / issue #12): uploads over time up to the deadline, and groups by
state. Drawn with matplotlib's Agg backend on a worker thread, never on the event loop."""

from __future__ import annotations

import asyncio
import functools
import io
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.i18n import t
from bot.services.assignments import Overview

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FILENAME = "chart-overview.png"
# Discord's own colours.
GREEN, YELLOW, RED, GREY, BLURPLE = "#57F287", "#FEE75C", "#ED4245", "#99AAB5", "#5865F2"


@dataclass(frozen=True, slots=True)
class ChartData:
    """What the chart shows, in the reader's words (plain data: safe to hand to a thread)."""

    title: str
    times: tuple[datetime, ...]
    deadline: datetime
    deadline_label: str
    uploads_label: str
    bars: tuple[tuple[str, int, str], ...]  # label, count, colour


def chart_data(locale: str, overview: Overview) -> ChartData:
    auto = overview.assignment.auto_submit
    submitted = sum(1 for g in overview.groups if g.uploads and (auto or g.handed_in))
    waiting = sum(1 for g in overview.groups if g.uploads and not auto and not g.handed_in)
    bars = [(t(locale, "chart.submitted"), submitted, GREEN)]
    if not auto:
        bars.append((t(locale, "chart.not_handed_in"), waiting, YELLOW))
    bars += [
        (t(locale, "chart.no_upload"), sum(1 for g in overview.groups if not g.uploads), RED),
        (t(locale, "chart.no_group"), len(overview.without_group), GREY),
    ]
    return ChartData(
        title=t(locale, "chart.title", name=overview.assignment.name),
        times=overview.upload_times,
        deadline=overview.assignment.closes_at,
        deadline_label=t(locale, "chart.deadline"),
        uploads_label=t(locale, "chart.uploads"),
        bars=tuple(bars),
    )


def _figure_class() -> type[Figure]:
    """matplotlib, imported on the first chart: it is about 50 MiB of the bot's memory, which
    a process that never draws (most of the time, every upload rush) should not carry."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure


def render(data: ChartData) -> bytes:
    """The PNG (blocking: run it with `render_png`)."""
    figure = _figure_class()(figsize=(9, 4), dpi=80)
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.2, top=0.86, wspace=0.08)
    figure.suptitle(data.title)
    over_time, by_state = figure.subplots(1, 2, width_ratios=(3, 2))
    if data.times:
        counts = list(range(1, len(data.times) + 1))
        over_time.step(list(data.times), counts, where="post", color=BLURPLE)
        over_time.tick_params(axis="x", labelrotation=30)
    over_time.axvline(data.deadline, color=RED, linestyle="--", label=data.deadline_label)
    over_time.set_ylabel(data.uploads_label)
    over_time.set_ylim(bottom=0)
    over_time.legend(loc="upper left")
    labels = [label for label, _, _ in data.bars]
    values = [value for _, value, _ in data.bars]
    colours = [colour for _, _, colour in data.bars]
    rows = list(range(len(values)))
    by_state.barh(rows, values, color=colours, alpha=0.6)
    right = max([1, *values])
    for row, label, value in zip(rows, labels, values, strict=True):
        # The label on its bar: long words need no room beside the plot.
        by_state.text(right * 0.02, row, f"{label}: {value}", va="center")
    by_state.set_yticks([])
    by_state.invert_yaxis()
    by_state.set_xlim(left=0, right=right * 1.05)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


@functools.lru_cache(maxsize=64)
def _drawn(data: ChartData) -> bytes:
    # The same figures draw the same picture: staff asking again while nothing changed (no
    # new upload, group or deadline) get it without another ~100 ms of drawing.
    return render(data)


async def render_png(data: ChartData) -> bytes:
    # Drawing takes 100 ms or more: on a thread, the bot keeps answering meanwhile.
    return await asyncio.to_thread(_drawn, data)
