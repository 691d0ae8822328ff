"""Baseline against actual load per half-hour slot of one event day, as SVG drawn on the server
(no JavaScript): two lines over the day's slots, the event window shaded; the geometry here,
the markup in ``templates/_slot_chart.html``; a table of the window's numbers beside it."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 720
HEIGHT = 240
LEFT = 52
RIGHT = 8
BOTTOM = 28
TOP = 12


@dataclass(frozen=True, slots=True)
class SlotChart:
    slots: int
    baseline: str  # polyline points ("x,y x,y …"), broken lines joined where values are missing
    actual: str
    window: tuple[float, float]  # x and width of the event window
    ticks: tuple[tuple[float, str], ...]  # (y, value)
    labels: tuple[tuple[float, str], ...]  # (x, hh:mm)
    peak: float
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    base: float = HEIGHT - BOTTOM


def _values(series: list[str | None] | None) -> list[float | None]:
    out: list[float | None] = []
    for v in series or []:
        try:
            out.append(None if v is None else float(v))
        except ValueError:
            out.append(None)
    return out


def _time(slot: int) -> str:
    return f"{slot // 2:02d}:{30 * (slot % 2):02d}"


def slot_chart(
    baseline: list[str | None] | None,
    actual: list[str | None] | None,
    first_slot: int,
    last_slot: int,
) -> SlotChart | None:
    """The chart of one resource-day (``first_slot``..``last_slot``: the event window, 1-based
    inclusive); None when neither series has a value."""
    base, load = _values(baseline), _values(actual)
    n = max(len(base), len(load))
    present = [v for v in base + load if v is not None]
    if n == 0 or not present:
        return None
    peak = max(present) or 1.0
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - BOTTOM - TOP
    step = plot_w / n

    def x(i: int) -> float:
        return round(LEFT + step * (i + 0.5), 2)

    def y(v: float) -> float:
        return round(HEIGHT - BOTTOM - plot_h * v / peak, 2)

    def points(values: list[float | None]) -> str:
        return " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(values) if v is not None)

    ticks = tuple((y(peak * k / 4), f"{peak * k / 4:.3g}") for k in range(5))
    labels = tuple((x(i), _time(i)) for i in range(0, n, max(1, n // 8)))
    window = (
        round(LEFT + step * (first_slot - 1), 2),
        round(step * (last_slot - first_slot + 1), 2),
    )
    return SlotChart(
        slots=n,
        baseline=points(base),
        actual=points(load),
        window=window,
        ticks=ticks,
        labels=labels,
        peak=peak,
    )


def slot_time(slot: int) -> str:
    """The start of a 1-based half-hour slot, ``hh:mm``."""
    return _time(slot - 1)
