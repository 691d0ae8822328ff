"""The Dask engine gives the same arrays as one in-process kernel + settlement call."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jointuse.core.calendar import baseline_day_types
from jointuse.core.errors import ValidationError
from jointuse.negawatt.distributed import (
    SettledRun,
    read_partition,
    settle_partitions,
    write_partitions,
)
from jointuse.negawatt.kernel import BaselineResult, EventSpec, compute_baseline
from jointuse.negawatt.settlement import GroupTotals, Rounding, SettlementResult, settle

FIRST = dt.date(2024, 6, 3)  # a Monday
R, D, S = 37, 36, 48
EVENT = EventSpec(day=35, start_slot=26, end_slot=34)  # 2024-07-08, a Monday, 13:00-17:00


def _inputs() -> dict[str, Any]:
    rng = np.random.default_rng(20240708)
    loads = np.round(rng.gamma(2.0, 0.4, size=(R, D, S)), 3)  # meter data: Wh resolution
    loads[3, 30, 10] = np.nan  # missing data on a candidate day
    loads[5, :, :] = 1.0  # constant load
    loads[7, 10:35, 0] = np.nan  # too few days: a reported failure
    loads[9, 33, :] *= 0.1  # a low-usage day
    loads[11] = np.round(loads[11], 1)  # ties
    event_days = np.zeros((R, D), dtype=bool)
    event_days[:, 31] = True  # a shared earlier event
    event_days[2, 28] = True
    return {
        "ids": [f"03{n:020d}" for n in range(R)],
        "loads": loads,
        "event_days": event_days,
        "bg": rng.integers(0, 4, size=R).astype(np.int64),
        "ctr": (np.arange(R) % 2).astype(np.int64),
        "gen": rng.uniform(0, 3, size=R),
        "proc": rng.uniform(0, 3, size=R),
    }


@pytest.fixture(scope="module")
def inputs() -> dict[str, Any]:
    return _inputs()


@pytest.fixture(scope="module")
def partitions(inputs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_partitions(
        tmp_path_factory.mktemp("parts"),
        inputs["ids"],
        inputs["loads"],
        first_day=FIRST,
        event_days=inputs["event_days"],
        balancing_group=inputs["bg"],
        contractor=inputs["ctr"],
        generation_sold=inputs["gen"],
        demand_procured=inputs["proc"],
        rows_per_partition=8,
    )


@pytest.fixture(scope="module")
def expected(inputs: dict[str, Any]) -> tuple[BaselineResult, SettlementResult]:
    day_types = baseline_day_types(FIRST + dt.timedelta(days=i) for i in range(D))
    base = compute_baseline(inputs["loads"], day_types, inputs["event_days"], EVENT)
    result = settle(
        base,
        inputs["loads"][:, EVENT.day, :],
        EVENT,
        rounding=Rounding(),
        balancing_group=inputs["bg"],
        contractor=inputs["ctr"],
        generation_sold=inputs["gen"],
        demand_procured=inputs["proc"],
    )
    return base, result


def _assert_same(run: SettledRun, expected: tuple[BaselineResult, SettlementResult]) -> None:
    base, result = expected
    for f in fields(BaselineResult):
        np.testing.assert_array_equal(
            getattr(run.baseline, f.name), getattr(base, f.name), err_msg=f.name
        )
    for name in ("per_slot", "event_total_raw", "event_total", "settled", "status", "raw_num"):
        np.testing.assert_array_equal(
            getattr(run.settlement, name), getattr(result, name), err_msg=name
        )
    for group in ("by_balancing_group", "by_contractor"):
        got: GroupTotals | None = getattr(run.settlement, group)
        want: GroupTotals | None = getattr(result, group)
        assert got is not None and want is not None
        for f in fields(GroupTotals):
            np.testing.assert_array_equal(getattr(got, f.name), getattr(want, f.name))


def test_the_fixture_exercises_failures_and_real_suppression(
    expected: tuple[BaselineResult, SettlementResult],
) -> None:
    base, result = expected
    assert base.status[7] != 0 and (base.status == 0).sum() > 30
    assert result.event_total[5] == 0.0  # constant load: no suppression
    assert (result.event_total > 0).sum() > 5


def test_partitions_round_trip(inputs: dict[str, Any], partitions: list[Path]) -> None:
    assert [p.name for p in partitions][:2] == ["part-00000.parquet", "part-00001.parquet"]
    assert len(partitions) == 5  # 37 resources, 8 per file
    last = read_partition(partitions[-1])
    assert last.resource_ids == inputs["ids"][32:]
    assert last.first_day == FIRST
    np.testing.assert_array_equal(last.loads, inputs["loads"][32:])  # NaN kept as NaN
    np.testing.assert_array_equal(last.event_days, inputs["event_days"][32:])
    np.testing.assert_array_equal(last.balancing_group, inputs["bg"][32:])


def test_local_engine_equals_one_kernel_call(
    partitions: list[Path], expected: tuple[BaselineResult, SettlementResult]
) -> None:
    run = settle_partitions(partitions, EVENT, engine="local")
    assert run.resource_ids == _inputs()["ids"]
    _assert_same(run, expected)


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        yield client


def test_dask_engine_equals_one_kernel_call(
    partitions: list[Path],
    expected: tuple[BaselineResult, SettlementResult],
    dask_client: Any,
) -> None:
    run = settle_partitions(partitions, EVENT, engine="dask", client=dask_client, progress=True)
    assert run.resource_ids == _inputs()["ids"]
    _assert_same(run, expected)


def test_results_follow_the_order_of_the_paths(partitions: list[Path]) -> None:
    order = [4, 0, 3, 1, 2]
    run = settle_partitions([partitions[i] for i in order], EVENT, engine="local")
    ids = _inputs()["ids"]
    assert run.resource_ids == [rid for i in order for rid in ids[i * 8 : (i + 1) * 8]]
    pos = np.array([run.resource_ids.index(rid) for rid in ids])
    local = settle_partitions(partitions, EVENT, engine="local")
    np.testing.assert_array_equal(run.baseline.baseline[pos], local.baseline.baseline)
    np.testing.assert_array_equal(run.settlement.event_total[pos], local.settlement.event_total)


def test_refusals(partitions: list[Path], tmp_path: Path, inputs: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="unknown engine"):
        settle_partitions(partitions, EVENT, engine="spark")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="no partitions"):
        settle_partitions([], EVENT)
    other = write_partitions(
        tmp_path / "other",
        inputs["ids"][:2],
        inputs["loads"][:2],
        first_day=FIRST + dt.timedelta(days=1),
    )
    with pytest.raises(ValidationError, match="disagree on their days"):
        settle_partitions([partitions[0], *other], EVENT)
    with pytest.raises(ValidationError, match="resource ids"):
        write_partitions(tmp_path / "x", ["a"], inputs["loads"][:2], first_day=FIRST)
