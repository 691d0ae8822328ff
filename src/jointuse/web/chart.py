"""Accesses over time per purpose, as SVG drawn on the server (no JavaScript): the geometry
here, the markup in ``templates/_chart.html``; a table of the same numbers beside it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from jointuse.core.calendar import JST

WIDTH = 720
HEIGHT = 240
LEFT = 44
BOTTOM = 28
TOP = 12
MAX_MONTHS = 24


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    purpose: str
    series: int
    month: str
    count: int


@dataclass(frozen=True, slots=True)
class Chart:
    months: tuple[str, ...]
    purposes: tuple[str, ...]
    counts: dict[tuple[str, str], int]
    bars: tuple[Bar, ...]
    ticks: tuple[tuple[float, int], ...]  # (y, value)
    labels: tuple[tuple[float, str], ...]  # (x, month)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    base: float = HEIGHT - BOTTOM


def _month(moment: datetime) -> str:
    return moment.astimezone(JST).strftime("%Y-%m")


def _months_between(first: str, last: str) -> list[str]:
    y, m = int(first[:4]), int(first[5:])
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def chart(entries: list[tuple[datetime, str]], purposes: list[str]) -> Chart | None:
    """Bars per month (JST) and purpose for ``(moment, purpose)`` entries; None when empty.
    At most the last :data:`MAX_MONTHS` months are drawn."""
    if not entries:
        return None
    counts = Counter((_month(at), p) for at, p in entries)
    present = [p for p in purposes if any(k[1] == p for k in counts)]
    present += sorted({p for _m, p in counts} - set(present))
    all_months = sorted({m for m, _p in counts})
    months = _months_between(all_months[0], all_months[-1])[-MAX_MONTHS:]
    top = max((n for (m, _p), n in counts.items() if m in months), default=1)
    plot_h = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT - 8) / len(months)
    bar_w = max(2.0, (slot * 0.8) / max(1, len(present)))
    bars = []
    for i, month in enumerate(months):
        for j, purpose in enumerate(present):
            n = counts.get((month, purpose), 0)
            if not n:
                continue
            h = plot_h * n / top
            bars.append(
                Bar(
                    x=round(LEFT + i * slot + slot * 0.1 + j * bar_w, 2),
                    y=round(HEIGHT - BOTTOM - h, 2),
                    width=round(bar_w, 2),
                    height=round(h, 2),
                    purpose=purpose,
                    series=j % 5,
                    month=month,
                    count=n,
                )
            )
    step = max(1, top // 4)
    ticks = tuple(
        (round(HEIGHT - BOTTOM - plot_h * v / top, 2), v) for v in range(0, top + 1, step)
    )
    every = max(1, len(months) // 8)
    labels = tuple(
        (round(LEFT + i * slot + slot / 2, 2), m) for i, m in enumerate(months) if i % every == 0
    )
    return Chart(
        months=tuple(months),
        purposes=tuple(present),
        counts=dict(counts),
        bars=tuple(bars),
        ticks=ticks,
        labels=labels,
    )
