"""The Dask engine: the same baseline kernel and settlement over Parquet partitions of resources.

Storage layout (one directory, one Parquet file per partition, ``part-00000.parquet`` …), one
row per resource:

==================  =======================================  =====================================
column              type                                     meaning
==================  =======================================  =====================================
``resource_id``     string                                   supply point ID (or any resource key)
``loads``           fixed_size_list<float64>[days × slots]   kWh, day-major, NaN = missing
``event_days``      fixed_size_list<bool>[days]              DR event days of this resource
``balancing_group`` int64                                    group index (for group totals)
``contractor``      int64                                    contractor index
``generation_sold`` float64                                  carried alongside (発電販売量)
``demand_procured`` float64                                  carried alongside (需要調達量)
==================  =======================================  =====================================

The schema metadata holds ``jointuse.first_day`` (ISO date of day index 0, JST), ``jointuse.days``
and ``jointuse.slots``; every partition of one run must agree on them.

:func:`settle_partitions` runs :func:`settle_partition` — a pure function of one file — either in
this process (``engine="local"``) or as one task per partition on a Dask cluster
(``engine="dask"``: a ``distributed.Client``, a scheduler address, or a fresh ``LocalCluster``),
and concatenates the per-partition results in partition order. Group totals are summed on the
driver from the concatenated per-resource totals, so both engines give the same arrays as one
in-process :func:`~jointuse.negawatt.kernel.compute_baseline` + :func:`~jointuse.negawatt.
settlement.settle` over all resources. The workers must see the same paths (a shared file
system in production).
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
from rich.progress import Progress

from jointuse.core.calendar import baseline_day_types
from jointuse.core.errors import ValidationError
from jointuse.negawatt.kernel import (
    BaselineParams,
    BaselineResult,
    EventSpec,
    compute_baseline,
    concat_results,
)
from jointuse.negawatt.settlement import Rounding, SettlementResult, group_totals, settle

__all__ = [
    "LoadPartition",
    "PartitionResult",
    "SettledRun",
    "read_partition",
    "settle_partition",
    "settle_partitions",
    "write_partitions",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BoolA = npt.NDArray[np.bool_]

_META_FIRST = b"jointuse.first_day"
_META_DAYS = b"jointuse.days"
_META_SLOTS = b"jointuse.slots"


@dataclass(frozen=True)
class LoadPartition:
    """One partition in memory: ``loads`` ``(R, D, S)``, ``event_days`` ``(R, D)``."""

    resource_ids: list[str]
    first_day: dt.date
    loads: F64
    event_days: BoolA
    balancing_group: I64
    contractor: I64
    generation_sold: F64
    demand_procured: F64


def _vector(x: Any, r: int, dtype: Any, name: str, default: Any) -> Any:
    if x is None:
        return np.full(r, default, dtype=dtype)
    arr = np.asarray(x, dtype=dtype)
    if arr.shape != (r,):
        raise ValidationError(f"{name} has shape {arr.shape}", field=name, valid=f"({r},)")
    return arr


def write_partitions(
    directory: Path | str,
    resource_ids: Sequence[str],
    loads: F64,
    *,
    first_day: dt.date,
    event_days: BoolA | None = None,
    balancing_group: I64 | None = None,
    contractor: I64 | None = None,
    generation_sold: F64 | None = None,
    demand_procured: F64 | None = None,
    rows_per_partition: int = 10_000,
) -> list[Path]:
    """Store ``loads`` ``(R, D, S)`` as Parquet partitions of ``rows_per_partition`` resources."""
    loads = np.ascontiguousarray(loads, dtype=np.float64)
    if loads.ndim != 3:
        raise ValidationError(
            f"loads must be (resources, days, slots), got {loads.shape}", field="loads"
        )
    r, d, s = loads.shape
    if len(resource_ids) != r:
        raise ValidationError(
            f"{len(resource_ids)} resource ids for {r} resources", field="resource_ids"
        )
    if rows_per_partition < 1:
        raise ValidationError("rows_per_partition must be >= 1", field="rows_per_partition")
    ev = np.zeros((r, d), dtype=bool) if event_days is None else np.asarray(event_days, bool)
    if ev.shape != (r, d):
        raise ValidationError(f"event_days has shape {ev.shape}", field="event_days")
    cols = {
        "balancing_group": _vector(balancing_group, r, np.int64, "balancing_group", 0),
        "contractor": _vector(contractor, r, np.int64, "contractor", 0),
        "generation_sold": _vector(generation_sold, r, np.float64, "generation_sold", 0.0),
        "demand_procured": _vector(demand_procured, r, np.float64, "demand_procured", 0.0),
    }
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        _META_FIRST: first_day.isoformat().encode(),
        _META_DAYS: str(d).encode(),
        _META_SLOTS: str(s).encode(),
    }
    paths = []
    for n, lo in enumerate(range(0, max(r, 1), rows_per_partition)):
        hi = min(lo + rows_per_partition, r)
        table = pa.table(
            {
                "resource_id": pa.array(list(resource_ids[lo:hi]), pa.string()),
                "loads": pa.FixedSizeListArray.from_arrays(
                    pa.array(loads[lo:hi].reshape(-1)), d * s
                ),
                "event_days": pa.FixedSizeListArray.from_arrays(pa.array(ev[lo:hi].reshape(-1)), d),
                **{k: pa.array(v[lo:hi]) for k, v in cols.items()},
            }
        ).replace_schema_metadata(meta)
        path = out / f"part-{n:05d}.parquet"
        pq.write_table(table, path)
        paths.append(path)
    return paths


def _meta_int(meta: dict[bytes, bytes], key: bytes, path: str) -> int:
    try:
        return int(meta[key])
    except (KeyError, ValueError):
        raise ValidationError(
            f"{path}: Parquet metadata {key.decode()} missing or not an integer",
            field=key.decode(),
            valid="a partition written by write_partitions",
        ) from None


def read_partition(path: Path | str) -> LoadPartition:
    """Read one partition written by :func:`write_partitions`."""
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    days = _meta_int(meta, _META_DAYS, str(path))
    slots = _meta_int(meta, _META_SLOTS, str(path))
    try:
        first = dt.date.fromisoformat(meta[_META_FIRST].decode())
    except (KeyError, ValueError):
        raise ValidationError(
            f"{path}: Parquet metadata jointuse.first_day missing or not a date",
            field="jointuse.first_day",
        ) from None
    r = table.num_rows

    def flat(name: str) -> Any:
        col = table.column(name).combine_chunks()
        return col.flatten().to_numpy(zero_copy_only=False)

    return LoadPartition(
        resource_ids=[str(x) for x in table.column("resource_id").to_pylist()],
        first_day=first,
        loads=np.asarray(flat("loads"), np.float64).reshape(r, days, slots),
        event_days=np.asarray(flat("event_days"), bool).reshape(r, days),
        balancing_group=table.column("balancing_group").to_numpy().astype(np.int64),
        contractor=table.column("contractor").to_numpy().astype(np.int64),
        generation_sold=table.column("generation_sold").to_numpy().astype(np.float64),
        demand_procured=table.column("demand_procured").to_numpy().astype(np.float64),
    )


@dataclass(frozen=True)
class PartitionResult:
    """Baselines and settled totals of one partition (group totals are summed on the driver)."""

    resource_ids: list[str]
    first_day: dt.date
    days: int
    baseline: BaselineResult
    settlement: SettlementResult
    balancing_group: I64
    contractor: I64
    generation_sold: F64
    demand_procured: F64


def settle_partition(
    path: Path | str,
    event: EventSpec,
    params: BaselineParams | None = None,
    rounding: Rounding | None = None,
    direction: Literal["reduce", "increase"] = "reduce",
) -> PartitionResult:
    """Baseline and settle ``event`` for every resource of one partition (pure given the file).

    ``direction="increase"`` (上げDR) settles actual − baseline instead of baseline − actual.
    """
    rounding = rounding or Rounding()
    p = params or BaselineParams()
    part = read_partition(path)
    d = part.loads.shape[1]
    day_types = baseline_day_types(part.first_day + dt.timedelta(days=i) for i in range(d))
    base = compute_baseline(part.loads, day_types, part.event_days, event, p)
    settled = settle(
        base,
        part.loads[:, event.day, :],
        event,
        resolution=p.resolution,
        rounding=rounding,
        direction=direction,
        generation_sold=part.generation_sold,
        demand_procured=part.demand_procured,
    )
    return PartitionResult(
        resource_ids=part.resource_ids,
        first_day=part.first_day,
        days=d,
        baseline=base,
        settlement=settled,
        balancing_group=part.balancing_group,
        contractor=part.contractor,
        generation_sold=part.generation_sold,
        demand_procured=part.demand_procured,
    )


@dataclass(frozen=True)
class SettledRun:
    """All partitions of one run, concatenated in partition order."""

    resource_ids: list[str]
    first_day: dt.date
    baseline: BaselineResult
    settlement: SettlementResult
    balancing_group: I64
    contractor: I64


def _combine(parts: list[PartitionResult], rounding: Rounding) -> SettledRun:
    if not parts:
        raise ValidationError("no partitions to settle", field="paths", valid="at least one file")
    first, days = parts[0].first_day, parts[0].days
    for p in parts[1:]:
        if (p.first_day, p.days) != (first, days):
            raise ValidationError(
                f"partitions disagree on their days: {first}+{days} vs {p.first_day}+{p.days}",
                field="jointuse.first_day",
                valid="partitions of one write_partitions call",
            )
    baseline = concat_results([p.baseline for p in parts])
    cat = np.concatenate
    bg = cat([p.balancing_group for p in parts])
    ctr = cat([p.contractor for p in parts])
    gen = cat([p.generation_sold for p in parts])
    proc = cat([p.demand_procured for p in parts])
    st = [p.settlement for p in parts]
    settled = cat([x.settled for x in st])
    status = cat([x.status for x in st])
    ok = status == 0
    dec = rounding.decimals

    def wide(name: str) -> Any:
        arrays = [getattr(x, name) for x in st]
        if len({a.dtype for a in arrays}) > 1:
            arrays = [a.astype(object) for a in arrays]
        return cat(arrays)

    # Group totals are summed here over all resources, from the per-resource settled integers.
    settlement = SettlementResult(
        per_slot=cat([x.per_slot for x in st]),
        event_total_raw=cat([x.event_total_raw for x in st]),
        event_total=cat([x.event_total for x in st]),
        settled=settled,
        raw_num=wide("raw_num"),
        raw_den=wide("raw_den"),
        status=status,
        decimals=dec,
        by_balancing_group=group_totals(bg, settled, ok, gen, proc, dec, "balancing_group"),
        by_contractor=group_totals(ctr, settled, ok, gen, proc, dec, "contractor"),
    )
    ids = [rid for p in parts for rid in p.resource_ids]
    return SettledRun(ids, first, baseline, settlement, bg, ctr)


def settle_partitions(
    paths: Sequence[Path | str],
    event: EventSpec,
    params: BaselineParams | None = None,
    rounding: Rounding | None = None,
    *,
    engine: Literal["local", "dask"] = "local",
    client: Any = None,
    scheduler: str | None = None,
    progress: bool = False,
    direction: Literal["reduce", "increase"] = "reduce",
) -> SettledRun:
    """Settle ``event`` over every partition, in process or on a Dask cluster.

    For ``engine="dask"``: ``client`` (a ``distributed.Client``) if given, else a client of
    ``scheduler`` (``"tcp://host:8786"``), else a fresh ``LocalCluster`` for this call.
    ``progress`` shows a bar over finished partitions.
    """
    files = [str(p) for p in paths]
    rounding = rounding or Rounding()
    if engine not in ("local", "dask"):
        raise ValidationError(f"unknown engine {engine!r}", field="engine", valid=["local", "dask"])
    results: list[PartitionResult | None] = [None] * len(files)
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("settling partitions", total=len(files))
        if engine == "local":
            for i, f in enumerate(files):
                results[i] = settle_partition(f, event, params, rounding, direction)
                bar.advance(task)
        else:
            dist: Any = importlib.import_module("distributed")  # untyped; loaded only when used
            own_cluster: Any = None
            own_client: Any = None
            if client is None:
                if scheduler:
                    own_client = dist.Client(scheduler)
                else:
                    own_cluster = dist.LocalCluster(
                        n_workers=2, threads_per_worker=1, dashboard_address=None
                    )
                    own_client = dist.Client(own_cluster)
                client = own_client
            try:
                futures = client.map(
                    settle_partition,
                    files,
                    event=event,
                    params=params,
                    rounding=rounding,
                    direction=direction,
                    pure=False,
                )
                index = {f.key: i for i, f in enumerate(futures)}
                for fut in dist.as_completed(futures):
                    results[index[fut.key]] = fut.result()
                    bar.advance(task)
            finally:
                if own_client is not None:
                    own_client.close()
                if own_cluster is not None:
                    own_cluster.close()
    return _combine([r for r in results if r is not None], rounding)
