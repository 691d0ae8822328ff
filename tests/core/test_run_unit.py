"""core.http.run_unit: a route's unit of work in the thread pool; on SQLite one at a time."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import Engine

from jointuse.core.http import run_unit


def test_run_unit_admits_one_sqlite_unit_at_a_time(engine: Engine) -> None:
    active = peak = 0
    guard = threading.Lock()
    loop_thread: list[threading.Thread] = []

    def unit(n: int) -> int:
        nonlocal active, peak
        assert threading.current_thread() not in loop_thread  # never on the event loop
        with guard:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with guard:
            active -= 1
        return n

    async def main() -> list[int]:
        loop_thread.append(threading.current_thread())
        return list(await asyncio.gather(*(run_unit(engine, unit, n) for n in range(6))))

    assert asyncio.run(main()) == list(range(6))
    if engine.dialect.name == "sqlite":
        assert peak == 1
    else:
        assert peak >= 2  # PostgreSQL: as many as the thread pool allows


def test_run_unit_raises_what_the_unit_raises(engine: Engine) -> None:
    def unit() -> None:
        raise LookupError("inside")

    async def main() -> None:
        await run_unit(engine, unit)

    with pytest.raises(LookupError, match="inside"):
        asyncio.run(main())
    # The SQLite token is given back: the next unit runs.
    assert asyncio.run(_one(engine)) == 1


async def _one(engine: Engine) -> int:
    return await run_unit(engine, lambda: 1)
