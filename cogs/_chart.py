"""The overview's picture (SPEC / issue #12): uploads over time up to the deadline, and groups by
state. Drawn with matplotlib's Agg backend on a worker thread, never on the event loop."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from datetime import datetime

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure

from bot.i18n import t
from bot.services.assignments import Overview

FILENAME = "chart-overview.png"


@dataclass(frozen=True, slots=True)
class ChartData:
    """What the chart shows, in the reader's words (plain data: safe to hand to a thread)."""

    title: str
    times: tuple[datetime, ...]
    deadline: datetime
    deadline_label: str
    uploads_label: str
    bars: tuple[tuple[str, int], ...]


def chart_data(locale: str, overview: Overview) -> ChartData:
    auto = overview.assignment.auto_submit
    submitted = sum(1 for g in overview.groups if g.uploads and (auto or g.handed_in))
    waiting = sum(1 for g in overview.groups if g.uploads and not auto and not g.handed_in)
    bars = [(t(locale, "chart.submitted"), submitted)]
    if not auto:
        bars.append((t(locale, "chart.not_handed_in"), waiting))
    bars += [
        (t(locale, "chart.no_upload"), sum(1 for g in overview.groups if not g.uploads)),
        (t(locale, "chart.no_group"), len(overview.without_group)),
    ]
    return ChartData(
        title=t(locale, "chart.title", name=overview.assignment.name),
        times=overview.upload_times,
        deadline=overview.assignment.closes_at,
        deadline_label=t(locale, "chart.deadline"),
        uploads_label=t(locale, "chart.uploads"),
        bars=tuple(bars),
    )


def render(data: ChartData) -> bytes:
    """The PNG (blocking: run it with `render_png`)."""
    figure = Figure(figsize=(9, 4), dpi=100, layout="constrained")
    figure.suptitle(data.title)
    over_time, by_state = figure.subplots(1, 2, width_ratios=(3, 2))
    if data.times:
        counts = list(range(1, len(data.times) + 1))
        over_time.step(list(data.times), counts, where="post", color="#5865F2")
        over_time.tick_params(axis="x", labelrotation=30)
    over_time.axvline(data.deadline, color="#ED4245", linestyle="--", label=data.deadline_label)
    over_time.set_ylabel(data.uploads_label)
    over_time.set_ylim(bottom=0)
    over_time.legend(loc="upper left")
    labels = [label for label, _ in data.bars]
    values = [value for _, value in data.bars]
    colours = ["#57F287", "#FEE75C", "#ED4245", "#99AAB5"][: len(values)]
    shown = by_state.barh(labels, values, color=colours)
    by_state.bar_label(shown)
    by_state.invert_yaxis()
    by_state.set_xlim(left=0, right=max([1, *values]) * 1.15)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


async def render_png(data: ChartData) -> bytes:
    # matplotlib takes tens of milliseconds: on a thread, the bot keeps answering meanwhile.
    return await asyncio.to_thread(render, data)
