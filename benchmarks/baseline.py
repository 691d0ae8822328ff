"""Benchmark: vectorised baseline + settlement kernel vs a per-resource pandas implementation.

One weekday event over ``--resources`` (default 100,000) resources x 30 days x 48 slots of
synthetic, seeded load (with missing values and per-resource past event days). The pandas
implementation below is written independently and straightforwardly (one resource at a time);
its results are asserted equal to the kernel's on a sample of resources (``--sample``), and its
time on that sample is scaled to a rate. Both rates are the median of ``--runs`` runs in the
same process. Also printed: the kernel's effective input bandwidth (bytes of ``loads`` it must
read per second) beside ``np.copyto``'s copy rate on this machine (one thread). The kernel
reads only the candidate days of that input, in integers of 1 Wh, in one compiled pass
(:mod:`jointuse.negawatt.kernel_scan`) on numba's threads (``--threads 1`` for one).

    .venv/bin/python benchmarks/baseline.py [--runs 5] [--resources 100000] [--sample 200]
        [--threads N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

import numba
import numpy as np
import pandas as pd

from jointuse.core.calendar import baseline_day_types
from jointuse.negawatt.kernel import STATUS_OK, BaselineParams, EventSpec, compute_baseline
from jointuse.negawatt.settlement import settle

DAYS, SLOTS = 30, 48
EVENT = EventSpec(day=DAYS - 1, start_slot=26, end_slot=32)  # 13:00-16:00
PARAMS = BaselineParams()  # High 4 of 5 / High 2 of 3, additive adjustment (-4 h, -1 h)


def make_data(n: int, seed: int = 20240509) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    start = dt.date(2024, 4, 10)  # 30 days to Thu 2024-05-09, across Golden Week
    types = baseline_day_types(start + dt.timedelta(days=i) for i in range(DAYS))
    loads = np.empty((n, DAYS, SLOTS))
    rng.random(out=loads)
    profile = 1.0 + np.sin(np.linspace(0, np.pi, SLOTS))  # daytime bump
    loads *= profile
    loads *= rng.uniform(0.5, 5.0, (n, 1, 1))  # resource size
    loads *= rng.uniform(0.8, 1.2, (n, DAYS, 1))  # day-to-day variation
    np.round(loads, 3, out=loads)
    missing = rng.random((n, DAYS)) < 0.01
    rr, dd = np.nonzero(missing)
    loads[rr, dd, rng.integers(0, SLOTS, rr.size)] = np.nan
    events = rng.random((n, DAYS)) < 0.03
    events[:, EVENT.day] = True
    return loads, types, events


def pandas_one(
    day_frame: pd.DataFrame, types: np.ndarray, events: np.ndarray
) -> tuple[np.ndarray, float, bool]:
    """One resource: day_frame has one row per day, one column per slot."""
    e, p = EVENT.day, PARAMS
    rule = p.rules[int(types[e])]
    window = list(range(EVENT.start_slot, EVENT.end_slot))
    cand = []
    for d in range(e - 1, max(-1, e - p.lookback_days - 1), -1):
        if types[d] != types[e] or events[d] or day_frame.loc[d].isna().any():
            continue
        cand.append(d)
    wavg = day_frame.loc[cand, window].mean(axis=1)
    assert p.low_usage_fraction is not None
    wavg = wavg[wavg >= p.low_usage_fraction * wavg.mean()]
    collected = wavg.iloc[: rule.collect]  # most recent first
    if len(collected) < rule.collect:
        return np.full(SLOTS, np.nan), 0.0, False
    ranked = pd.DataFrame({"w": collected, "dist": e - collected.index.to_numpy()})
    kept = ranked.sort_values(["w", "dist"], ascending=[False, True]).index[: rule.keep]
    unadj = day_frame.loc[kept].mean(axis=0)
    a, b = (EVENT.start_slot + p.window_slots(h) for h in p.adjustment_window_hours)
    actual = day_frame.loc[e]
    if actual.iloc[a:b].isna().any():
        return np.full(SLOTS, np.nan), 0.0, False  # no adjustment possible
    shift = (actual.iloc[a:b] - unadj.iloc[a:b]).mean()
    baseline = unadj + shift
    if actual.iloc[window].isna().any():
        return baseline.to_numpy(), 0.0, True  # baseline fine, event not settleable
    # Exact: the data are at 1 Wh; the day total in Wh is a ratio of integers (k days, w slots).
    wh = (day_frame * 1000).round().astype("Int64")
    k, w = len(kept), b - a
    u = wh.loc[kept].sum(axis=0)
    num = w * (u.iloc[window].sum()) + len(window) * (
        k * wh.loc[e].iloc[a:b].sum() - u.iloc[a:b].sum()
    )
    num -= k * w * wh.loc[e].iloc[window].sum()
    den = k * w * 10  # Wh → 0.01 kWh
    cents = abs(int(num)) // den * (1 if num >= 0 else -1)  # truncate toward zero
    return baseline.to_numpy(), max(cents, 0) / 100, True


def run_kernel(loads: np.ndarray, types: np.ndarray, events: np.ndarray) -> tuple:
    res = compute_baseline(loads, types, events, EVENT, PARAMS)
    stl = settle(
        res,
        loads[:, EVENT.day],
        EVENT,
        balancing_group=np.arange(loads.shape[0]) % 97,
        contractor=np.arange(loads.shape[0]) % 13,
    )
    return res, stl


def run_pandas(loads: np.ndarray, types: np.ndarray, events: np.ndarray, idx: np.ndarray) -> list:
    out = []
    for r in idx:
        frame = pd.DataFrame(loads[r])
        out.append(pandas_one(frame, types, events[r]))
    return out


def copy_time(src: np.ndarray, dst: np.ndarray) -> float:
    """Seconds of one ``np.copyto`` of ``src`` (512 MiB) into ``dst``."""
    t0 = time.perf_counter()
    np.copyto(dst, src)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--resources", type=int, default=100_000)
    ap.add_argument("--sample", type=int, default=200)
    ap.add_argument(
        "--threads", type=int, default=0, help="numba threads for the kernel (0: all cores)"
    )
    args = ap.parse_args()
    if args.threads:
        numba.set_num_threads(args.threads)
    n = args.resources
    loads, types, events = make_data(n)
    sample = np.random.default_rng(7).choice(n, size=min(args.sample, n), replace=False)

    # Correctness first: the kernel and pandas agree on the sample.
    res, stl = run_kernel(loads, types, events)
    ref = run_pandas(loads, types, events, sample)
    for r, (b, total, ok) in zip(sample, ref, strict=True):
        assert ok == (res.status[r] == STATUS_OK), f"status differs for resource {r}"
        if ok:
            np.testing.assert_allclose(res.baseline[r], b, rtol=1e-12, atol=1e-12)
            assert stl.status[r] == STATUS_OK, r
            assert stl.event_total[r] == total, (r, stl.event_total[r], total)
    n_ok = int((res.status == STATUS_OK).sum())
    del res, stl

    first = max(0, EVENT.day - PARAMS.lookback_days)
    # The input the kernel is given: the lookback block and the event day (it reads only the
    # candidate days of it, which is what makes the rate "effective").
    input_bytes = loads[:, first : EVENT.day + 1].nbytes
    src = np.ones(512 * 2**20 // 8)
    dst = np.empty_like(src)
    copy_time(src, dst)
    # Each run times the kernel, pandas and a copy back to back, so that the ratio of each run
    # compares rates measured under the same load of the machine.
    k_times, p_times, ratios, copies = [], [], [], []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        run_kernel(loads, types, events)
        k_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        run_pandas(loads, types, events, sample)
        p_times.append(time.perf_counter() - t0)
        copies.append(src.nbytes / copy_time(src, dst))
        ratios.append(input_bytes / k_times[-1] / copies[-1])
    k_rate = n / statistics.median(k_times)
    p_rate = len(sample) / statistics.median(p_times)
    bw = input_bytes / statistics.median(k_times)
    cp = statistics.median(copies)

    print(f"resources {n:,} x {DAYS} days x {SLOTS} slots ({loads.nbytes / 2**30:.2f} GiB)")
    print(f"baselines OK: {n_ok:,}; pandas checked equal on {len(sample)} resources")
    print(f"runs: {args.runs} (median); kernel threads: {numba.get_num_threads()}")
    print(f"kernel : {k_rate:12,.0f} resources/s  ({statistics.median(k_times):.3f} s)")
    print(f"pandas : {p_rate:12,.0f} resources/s  (on a sample of {len(sample)})")
    print(f"ratio  : {k_rate / p_rate:12,.1f} x")
    print(f"kernel effective input bandwidth: {bw / 1e9:6.2f} GB/s")
    print(f"np.copyto copy rate (this machine): {cp / 1e9:6.2f} GB/s")
    print(f"kernel / copy rate: {statistics.median(ratios):.2f} (median of the runs' ratios)")


if __name__ == "__main__":
    main()
