"""The baseline kernel's one pass over the load array, compiled with numba (no I/O, no objects).

:func:`scan` does steps 1–5 of :mod:`jointuse.negawatt.kernel` for every resource in one loop,
reading **only the candidate days** (same day type, inside the lookback; a resource's DR event
days are not read at all when the exclusion mask is per day) and converting each value it reads
to an integer number of data units (``value × 10**resolution``, e.g. Wh for kWh at 3 decimals) on
the fly: ranking, the low-usage test and the baseline sums are exact integer arithmetic, so two
days with the same window sum tie exactly and the tie drops the day farthest from the event.

Why numba: numpy needs one pass (and one temporary) per step, so a baseline ran at about 1/20 of
the machine's copy rate; a compiled loop reads each value once or twice. The function is
compiled once per process on first use (``cache=True`` keeps the machine code in
``__pycache__`` for the next process).

Outputs are described in :func:`scan`; day bitmasks use bit ``i`` = day ``event_day - 1 - i``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np

_F = TypeVar("_F", bound=Callable[..., Any])
_jit = cast(Callable[[_F], _F], numba.njit(cache=True, nogil=True, parallel=True))
_inner = cast(Callable[[_F], _F], numba.njit(cache=True, nogil=True))

_CHUNK = 1024  # resources per parallel task

#: numba's default thread pool must not be entered by two threads at once: every call of a
#: parallel function of this module holds this lock.
POOL_LOCK = threading.Lock()

#: Sentinel in integer outputs for "not read / not available".
NONE = np.iinfo(np.int64).min


@_inner
def _to_units(v: float, scale: float) -> tuple[int, bool]:
    """(integer units, on the grid?) of one finite value."""
    y = v * scale
    n = np.rint(y)
    return int(n), abs(y - n) <= 1e-9 * max(1.0, abs(y))


@_inner
def _locate(row: Any, lo: int, hi: int, scale: float, d: int, s_n: int, r: int, off: Any) -> None:
    """Record the first slot of ``row[lo:hi]`` off the resolution grid (the rare path)."""
    for s in range(lo, hi):
        if not _to_units(row[s], scale)[1]:
            off[r] = d * s_n + s
            return


@_jit
def scan(
    x: Any,  # (R, D, S) float64 kWh, NaN = missing
    cand: Any,  # (n,) int64 candidate day indices, most recent first
    ev: Any,  # (R or 1, D, G) bool exclusion mask
    event_day: int,
    first: int,  # first day of the lookback block (window_sum column 0)
    ws: int,
    we: int,  # event window [ws, we) used for ranking
    scale: float,
    collect: int,
    keep: int,
    required: int,
    exclude_events: bool,
    low_on: bool,
    low_p: int,
    low_q: int,  # low-usage fraction p / q
    low_recent: bool,
    pre_day: Any,  # (P,) int64 day offsets (< 0) of window slots before midnight
    pre_slot: Any,  # (P,) int64 their slots
) -> tuple[Any, ...]:
    """Select the baseline days of every resource and sum them.

    Returns ``(usum, n_used, fail, bits, wsum, upre, pre_bad, bad)``:

    * ``usum`` (R, S) int64: per slot, the sum of the kept days' units (slot ``g``'s own kept
      days when the mask is per slot);
    * ``n_used`` (R, G) int64 kept days; ``fail`` (R, G) bool fewer than ``required`` collected;
    * ``bits`` (5, R, G) uint64: used, skipped as event day, skipped for missing data, skipped as
      low-usage, collected but dropped as lowest;
    * ``wsum`` (R, event_day - first) int64: window sum of each day read (``NONE`` otherwise);
    * ``upre`` (R, P) int64: the kept days' sums of the window slots before midnight (slot
      ``pre_slot[p]`` of day ``kept + pre_day[p]``); ``pre_bad`` (R,) bool one of them missing;
    * ``bad`` (4,) int64: the first value off the resolution grid (resource, day, slot, 1), or
      all -1.
    """
    r_n, _, s_n = x.shape
    g_n = ev.shape[2]
    usum = np.zeros((r_n, s_n), np.int64)
    n_used = np.zeros((r_n, g_n), np.int64)
    fail = np.zeros((r_n, g_n), np.bool_)
    bits = np.zeros((5, r_n, g_n), np.uint64)
    wsum = np.full((r_n, event_day - first), NONE, np.int64)
    upre = np.zeros((r_n, pre_day.shape[0]), np.int64)
    pre_bad = np.zeros(r_n, np.bool_)
    off = np.full(r_n, -1, np.int64)  # per resource: first off-grid cell (day * S + slot)
    n = cand.shape[0]
    chunks = (r_n + _CHUNK - 1) // _CHUNK
    for c in numba.prange(chunks):  # chunks of resources over the threads; scratch per chunk
        day_ok = np.zeros(n, np.bool_)
        day_w = np.zeros(n, np.int64)
        qual = np.zeros(n, np.bool_)
        order = np.empty(collect, np.int64)
        kept = np.empty(keep, np.int64)
        for r in range(c * _CHUNK, min(r_n, (c + 1) * _CHUNK)):
            _resource(
                r, x, cand, ev, event_day, first, ws, we, scale, collect, keep, required,
                exclude_events, low_on, low_p, low_q, low_recent, pre_day, pre_slot,
                usum, n_used, fail, bits, wsum, upre, pre_bad, off,
                day_ok, day_w, qual, order, kept,
            )  # fmt: skip
    bad = np.full(4, -1, np.int64)
    for r in range(r_n):
        if off[r] >= 0:
            bad[0], bad[1], bad[2], bad[3] = r, off[r] // s_n, off[r] % s_n, 1
            break
    return usum, n_used, fail, bits, wsum, upre, pre_bad, bad


@_inner
def _resource(
    r: int, x: Any, cand: Any, ev: Any, event_day: int, first: int, ws: int, we: int,
    scale: float, collect: int, keep: int, required: int, exclude_events: bool, low_on: bool,
    low_p: int, low_q: int, low_recent: bool, pre_day: Any, pre_slot: Any,
    usum: Any, n_used: Any, fail: Any, bits: Any, wsum: Any, upre: Any, pre_bad: Any, off: Any,
    day_ok: Any, day_w: Any, qual: Any, order: Any, kept: Any,
) -> None:  # fmt: skip
    s_n = x.shape[2]
    g_n = ev.shape[2]
    n = cand.shape[0]
    p_n = pre_day.shape[0]
    er: Any = np.int64(0)
    if ev.shape[0] > 1:
        er = np.int64(r)
    one = np.uint64(1)
    # -- read the candidate days (a per-day event mask lets event days go unread) --
    for j in range(n):
        d = cand[j]
        day_ok[j] = False
        if g_n == 1 and exclude_events and ev[er, d, 0]:
            continue
        row = x[r, d]
        nan = 0
        for s in range(s_n):  # an OR reduction: the compiler vectorises it
            nan |= row[s] != row[s]
        if nan:
            continue
        acc: Any = 0
        off_ = 0
        for s in range(ws, we):
            y = row[s] * scale
            n_ = np.rint(y)
            off_ |= abs(y - n_) > 1e-9 * max(1.0, abs(y))
            acc += np.int64(n_)
        if off_ and off[r] < 0:
            _locate(row, ws, we, scale, d, s_n, r, off)
        day_w[j] = acc
        wsum[r, d - first] = acc
        day_ok[j] = True
    for g in range(g_n):
        used_b = np.uint64(0)
        ev_b = np.uint64(0)
        miss_b = np.uint64(0)
        low_b = np.uint64(0)
        drop_b = np.uint64(0)
        # -- qualify: not an event day (cell), complete --
        for j in range(n):
            d = cand[j]
            bit = one << np.uint64(event_day - 1 - d)
            is_ev = exclude_events and ev[er, d, g]
            if is_ev:
                ev_b |= bit
                qual[j] = False
            elif not day_ok[j]:
                miss_b |= bit
                qual[j] = False
            else:
                qual[j] = True
        # -- low usage: w * count * q < p * total (exact) --
        if low_on:
            total = 0
            count = 0
            for j in range(n):
                if qual[j] and (not low_recent or count < collect):
                    total += day_w[j]
                    count += 1
            if count > 0:
                for j in range(n):
                    if qual[j] and day_w[j] * count * low_q < low_p * total:
                        qual[j] = False
                        low_b |= one << np.uint64(event_day - 1 - cand[j])
        # -- collect the most recent, keep the highest (ties: the more recent stays) --
        c = 0
        for j in range(n):
            if qual[j] and c < collect:
                order[c] = j
                c += 1
        if c < required:
            fail[r, g] = True
        taken = 0
        while taken < min(keep, c):
            best = -1
            for i in range(c):
                j = order[i]
                if j < 0:
                    continue
                if best < 0 or day_w[j] > day_w[order[best]]:
                    best = i
            kept[taken] = order[best]
            order[best] = -1
            taken += 1
        for i in range(c):
            if order[i] >= 0:
                drop_b |= one << np.uint64(event_day - 1 - cand[order[i]])
        n_used[r, g] = taken
        for t in range(taken):
            d = cand[kept[t]]
            used_b |= one << np.uint64(event_day - 1 - d)
            row = x[r, d]
            if g_n == 1:
                off_ = 0
                for s in range(s_n):
                    y = row[s] * scale
                    n_ = np.rint(y)
                    off_ |= abs(y - n_) > 1e-9 * max(1.0, abs(y))
                    usum[r, s] += np.int64(n_)
                if off_ and off[r] < 0:
                    _locate(row, 0, s_n, scale, d, s_n, r, off)
                for p in range(p_n):
                    dd = d + pre_day[p]
                    v = x[r, dd, pre_slot[p]] if dd >= 0 else np.nan
                    if np.isnan(v):
                        pre_bad[r] = True
                    else:
                        u, on_grid = _to_units(v, scale)
                        if not on_grid and off[r] < 0:
                            off[r] = dd * s_n + pre_slot[p]
                        upre[r, p] += u
            else:
                u, on_grid = _to_units(row[g], scale)
                if not on_grid and off[r] < 0:
                    off[r] = d * s_n + g
                usum[r, g] += u
        bits[0, r, g] = used_b
        bits[1, r, g] = ev_b
        bits[2, r, g] = miss_b
        bits[3, r, g] = low_b
        bits[4, r, g] = drop_b


@_jit
def finish(
    usum: Any, k: Any, mult: Any, shift: Any, den: Any, invalid: Any, scale: float
) -> tuple[Any, Any, Any]:
    """One pass over the kept days' sums: the exact numerators ``usum * mult[r] + shift[r]``
    (over ``den[r]``), the baseline and the unadjusted baseline in kWh; NaN baseline where
    ``invalid[r]`` — for the per-day path, int64 magnitudes checked by the caller."""
    r_n, s_n = usum.shape
    num = np.empty((r_n, s_n), np.int64)
    baseline = np.empty((r_n, s_n), np.float64)
    unadj = np.empty((r_n, s_n), np.float64)
    for r in numba.prange(r_n):
        m, sh, inv = mult[r], shift[r], invalid[r]
        bden = 1.0 / (den[r] * scale)
        uden = 1.0 / (k[r] * scale)
        for s in range(s_n):
            u = usum[r, s]
            n = u * m + sh
            num[r, s] = n
            baseline[r, s] = np.nan if inv else n * bden
            unadj[r, s] = u * uden
    return num, baseline, unadj
