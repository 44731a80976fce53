"""Charts drawn on the server as SVG: a stacked bar per day, with labelled axes and units.

This module computes the geometry (bars, ticks, labels) in plain numbers; the template
`_chart.html` writes the SVG, escaped like every other output, with a `<title>`/`<desc>` and
the figures as a table beside it for screen readers and for anyone who would rather read.
Colours are CSS classes (`s0`...`s6`), so light and dark mode are the stylesheet's
(`prefers-color-scheme`), never baked into the drawing.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal

from ..money import usd

__all__ = ["Bar", "Chart", "stacked_bars"]

WIDTH = 720
HEIGHT = 260
LEFT = 64  # room for the money axis' labels
RIGHT = 8
TOP = 12
BOTTOM = 40  # room for the date axis' labels and its title


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    title: str


@dataclass(frozen=True)
class Chart:
    title: str
    description: str
    width: int
    height: int
    bars: list[Bar]
    y_ticks: list[tuple[float, str]]
    """(y, label) of each gridline of the money axis."""
    x_ticks: list[tuple[float, str]]
    legend: list[tuple[int, str]]
    y_label: str
    x_label: str
    plot: tuple[int, int, int, int]
    """left, top, right, bottom of the plotting area."""
    rows: list[tuple[dt.date, list[Decimal]]]
    """The figures drawn: each day with its value per series, the chart's text alternative."""


def _nice_step(top: Decimal) -> Decimal:
    """A gridline step of 1, 2 or 5 times a power of ten giving about four lines."""
    if top <= 0:
        return Decimal(1)
    raw = top / 4
    power = Decimal(10) ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if power * factor >= raw:
            return power * factor
    return power * 10


def stacked_bars(title: str, days: list[dt.date], series: list[tuple[str, list[Decimal]]]) -> Chart:
    """A bar per day of `days`, stacked from `series` (name, spend per day in USD)."""
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM
    totals = [sum((values[i] for _, values in series), Decimal(0)) for i in range(len(days))]
    step = _nice_step(max(totals, default=Decimal(0)))
    top_value = step * max(1, math.ceil(max(totals, default=Decimal(0)) / step))
    scale = (bottom - TOP) / float(top_value)
    slot = (right - LEFT) / max(1, len(days))
    bar_width = max(1.0, slot * 0.8)
    bars = []
    for i, day in enumerate(days):
        y = float(bottom)
        for n, (name, values) in enumerate(series):
            if values[i] <= 0:
                continue
            h = float(values[i]) * scale
            y -= h
            label = f"{day.isoformat()} {name}: {usd(values[i])}"
            bars.append(Bar(LEFT + i * slot + (slot - bar_width) / 2, y, bar_width, h, n, label))
    y_ticks = []
    value = Decimal(0)
    while value <= top_value:
        y_ticks.append((bottom - float(value) * scale, usd(value)))
        value += step
    every = max(1, math.ceil(len(days) / 8))  # at most about eight date labels
    x_ticks = [
        (LEFT + i * slot + slot / 2, day.strftime("%b %d"))
        for i, day in enumerate(days)
        if i % every == 0
    ]
    total = sum(totals, Decimal(0))
    first, last = (days[0], days[-1]) if days else (None, None)
    return Chart(
        title=title,
        description=f"Priced spend per day (USD) from {first} to {last}, {usd(total)} in all, "
        f"stacked by {', '.join(name for name, _ in series) or 'nothing: no priced call'}.",
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        legend=[(n, name) for n, (name, _) in enumerate(series)],
        y_label="USD per day",
        x_label="day (UTC)",
        plot=(LEFT, TOP, right, bottom),
        rows=[(day, [values[i] for _, values in series]) for i, day in enumerate(days)],
    )
