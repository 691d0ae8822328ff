"""The kernel's non-Japanese options checked against LBNL's baseline predictor (Modelica Buildings).

Reference results (Dymola, 2015) of ``Buildings.Controls.Predictors.ElectricalLoad`` with the
*Average* model are read from the folder ``reference/modelica-buildings`` under
``$JOINTUSE_SHARED_DIR`` (default: a folder ``shared`` beside the repository clone; read only),
which holds data files of the Modelica Buildings Library (``lbl-srg/modelica-buildings`` on
GitHub, BSD-style licence), copied flat into that folder:
``Buildings/Resources/Data/Controls/DemandResponse/Examples/B90_DR_Data.csv`` and, from
``Buildings/Resources/ReferenceResults/Dymola/``, the Dymola results
``Buildings_Controls_DemandResponse_Examples_ClientLBNL90.txt`` and
``Buildings_Controls_Predictors_Validation_*.txt``. The
predictor, for each slot, averages the last ``nHis`` = 10 stored values of that slot on days of
the same type (working / non-working), and optionally multiplies by a day-of adjustment: the
ratio of actual to predicted energy over the slots from 4 h to 1 h before the current slot,
clamped to [0.8, 1.2]. In kernel terms: ``DayTypeRule(collect=10, keep=10, min_days=1)``,
no low-usage rule, ``adjustment="multiplicative"``, ``adjustment_timing="rolling"``,
``adjustment_window_hours=(-4, -1)``, ``adjustment_clamp=(0.8, 1.2)``.

Where the LBNL predictor differs, the test maps it explicitly rather than hiding it:

* *First days*: with fewer than 10 stored days it averages what it has (``min_days=1``); with
  none it outputs 0 where the kernel reports ``STATUS_TOO_FEW_DAYS`` and NaN (mapped to 0 here).
* *Event days*: it stops storing history from the event signal until (but not including) the
  last slot before midnight, so the rest of an event day still counts. That is the kernel's
  per-slot exclusion mask ``(R, D, S)``; the same mask hides today's not-yet-measured slots when
  predicting tomorrow's.
* *Adjustment across midnight*: for slots whose window reaches into the previous day, LBNL takes
  those slots from the latest day of the same type (its actual load and the prediction it made
  for it); the kernel's ``rolling`` timing does the same, and these points are compared too.
* *PPre[m > 1]*: LBNL multiplies all 12 predictions by the current slot's factor (the future
  ones' windows are not measured yet): compared as ``unadjusted[s + m - 1] * adjustment[s]``.
* Output points that fall exactly on a sample instant are skipped (which side of the event
  Dymola stored is not defined); the *LinearInput* files use a weather regression, which the
  kernel does not offer, and are not used.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from jointuse.negawatt.kernel import BaselineParams, DayTypeRule, EventSpec, compute_baseline

LBNL_RULE = DayTypeRule(collect=10, keep=10, min_days=1)


def _shared_dir() -> Path:
    """``$JOINTUSE_SHARED_DIR``, else the nearest folder ``shared`` (holding ``reference``)
    beside the repository clone or one of its parent folders (a worktree sits a level deeper)."""
    override = os.environ.get("JOINTUSE_SHARED_DIR")
    if override:
        return Path(override)
    repo = Path(__file__).resolve().parents[2]
    for parent in repo.parents:
        if (parent / "shared" / "reference").is_dir():
            return parent / "shared"
    return repo.parent / "shared"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


REF = _shared_dir() / "reference" / "modelica-buildings"


@pytest.fixture(autouse=True)
def _reference_available() -> None:
    """Skip locally when the reference data is missing; fail in CI, where it is required."""
    if REF.is_dir():
        return
    reason = f"reference data not available at {REF} (set JOINTUSE_SHARED_DIR)"
    if _in_ci():
        pytest.fail(f"{reason} — required when CI is set", pytrace=False)
    pytest.skip(reason)


@cache
def dymola(name: str) -> dict[str, np.ndarray]:
    """Parse Dymola's text result format: ``name=[v1, v2, ...]`` per line."""
    out: dict[str, np.ndarray] = {}
    for line in (REF / name).read_text().splitlines():
        m = re.match(r"^([^=\s]+)=\[(.*)\]\s*$", line)
        if m:
            out[m.group(1)] = np.array([float(v) for v in m.group(2).split(",")])
    return out


def _params(slots: int, adjust: bool, resolution: int = 9) -> BaselineParams:
    return BaselineParams(
        resolution=resolution,
        slots_per_day=slots,
        lookback_days=64,
        rules=(LBNL_RULE, LBNL_RULE),
        low_usage_fraction=None,
        adjustment="multiplicative" if adjust else "none",
        adjustment_timing="rolling",
        adjustment_window_hours=(-4.0, -1.0),
        adjustment_clamp=(0.8, 1.2),
    )


def _day_types(n: int) -> np.ndarray:
    """LBNL ``Sources.DayType`` default: five working days, then two non-working days."""
    return np.array([0 if d % 7 < 5 else 1 for d in range(n)], dtype=np.int8)


def _predict(
    loads: np.ndarray, stored: np.ndarray, day: int, slot: int, p: BaselineParams
) -> tuple[np.ndarray, np.ndarray]:
    """(unadjusted, factor) for ``day`` as LBNL sees it at the start of ``slot`` of ``day``.

    ``stored`` (D, S) is True where LBNL stored history. Slots of ``day`` from ``slot`` on are
    not measured yet, so they are excluded when predicting a later day.
    """
    mask = ~stored.copy()
    mask[day, slot:] = True
    r = compute_baseline(
        loads[None, : day + 1],
        _day_types(day + 1),
        mask[None, : day + 1],
        EventSpec(day, slot, slot + 1),
        p,
    )
    factor = r.adjustment[0] if p.adjustment == "multiplicative" else np.ones(p.slots_per_day)
    factor = np.nan_to_num(factor, nan=1.0)  # no history: LBNL leaves adj = 1
    return np.nan_to_num(r.unadjusted[0]), factor


def _sine_case(name: str, adjust: bool) -> tuple[int, int]:
    """Hourly sine (+1 on non-working days) input, events every 7 days from day 1 at 12:00."""
    ref = dymola(name)
    days, slots = 62, 24
    types = _day_types(days)
    hours = np.arange(slots)
    loads = (0.5 - 0.5 * np.cos(2 * np.pi * hours / 24))[None, :] + types[:, None]
    loads = np.round(loads, 9)  # the kernel works at a decimal resolution; 1e-9 is far below
    # the reference's float32 precision
    if "ConstantInput" in name:
        loads = np.ones((days, slots))
    stored = np.ones((days, slots), dtype=bool)
    for d in range(1, days, 7):
        stored[d, 12:23] = False  # from the 12:00 signal until the slot that ends at midnight
    p = _params(slots, adjust)
    times = np.linspace(0.0, 61 * 86400.0, 101)
    compared = 0
    for k, t in enumerate(times):
        if k == 0 or abs(t / 3600 - round(t / 3600)) < 1e-6:
            continue  # on a sample instant
        day, slot = int(t // 86400), int(t % 86400 // 3600)
        today, factor = _predict(loads, stored, day, slot, p)
        tomorrow = today
        if slot > 12:  # PPre[m] reaches into tomorrow; today's slots >= slot not measured yet
            mask = ~stored.copy()
            mask[day, slot:] = True
            r = compute_baseline(
                loads[None, : day + 2],
                types[: day + 2],
                mask[None, : day + 2],
                EventSpec(day + 1, 0, 1),
                _params(slots, False),
            )
            tomorrow = np.nan_to_num(r.unadjusted[0])
        for m in range(1, 13):
            target = slot + m - 1
            unadj = today[target] if target < slots else tomorrow[target - slots]
            expected = ref[f"baseLoad.PPre[{m}]"][k]
            # float32 storage: 7 significant digits.
            assert unadj * factor[slot] == pytest.approx(expected, rel=2e-6, abs=1e-6), (k, m)
            compared += 1
        if adjust:
            assert factor[slot] == pytest.approx(ref["baseLoad.adj"][k], rel=2e-6)
    return compared, len(times)


@pytest.mark.parametrize(
    "name,adjust",
    [
        ("Buildings_Controls_Predictors_Validation_ConstantInput.txt", False),
        ("Buildings_Controls_Predictors_Validation_ConstantInputDayOfAdjustment.txt", True),
        ("Buildings_Controls_Predictors_Validation_SineInput.txt", False),
        ("Buildings_Controls_Predictors_Validation_SineInputDayOfAdjustment.txt", True),
    ],
)
def test_hourly_validation_cases(name: str, adjust: bool) -> None:
    compared, points = _sine_case(name, adjust)
    assert compared >= 12 * 70, f"only {compared} predictions compared out of {points} points"


def test_client_lbnl90_real_load() -> None:
    """20 days of LBNL building 90 (15-minute slots, 96 a day, no DR event in those days).

    How the reference reads: Dymola stored the discrete outputs at every 15-minute sample
    instant with the value held *before* that instant's update, and the 101 output points lie
    between those instants, each a linear interpolation of its two neighbours. So the point at
    ``t`` (``g = floor(t / 900)``, ``w = t / 900 - g``) is ``(1 - w) x[g - 1] + w x[g]``, where
    ``x[j]`` is the value for slot ``j`` (the slot that starts at ``900 j`` s). The test first
    shows that the input ``ene.u`` reads that way from the CSV (to float32 precision), then
    compares every prediction — including those whose adjustment window crosses midnight — to
    1e-6 relative (the reference is stored as float32: 7 significant digits).
    """
    ref = dymola("Buildings_Controls_DemandResponse_Examples_ClientLBNL90.txt")
    raw = np.genfromtxt(REF / "B90_DR_Data.csv", delimiter=",", skip_header=1, usecols=(2,))
    raw = raw * 1000.0  # kW → W (the CSV has 5 decimals of kW: 2 of W)
    slot_values = np.concatenate([raw[:1], raw[: 22 * 96 - 1]])  # slot s = row s - 1
    loads = slot_values.reshape(22, 96)
    stored = np.ones((22, 96), dtype=bool)
    p = _params(96, adjust=True, resolution=2)

    def predicted(j: int) -> float:
        day, slot = divmod(j, 96)
        unadj, factor = _predict(loads, stored, day, slot, p)
        return float(unadj[slot] * factor[slot])

    times = np.linspace(0.0, 1_728_000.0, 101)
    got, want, inputs = [], [], []
    for k, t in enumerate(times[1:], start=1):
        g = int(t // 900)
        w = t / 900 - g
        inputs.append(((1 - w) * slot_values[g - 1] + w * slot_values[g], ref["ene.u"][k]))
        got.append((1 - w) * predicted(g - 1) + w * predicted(g))
        want.append(ref["clientAverage.PPre"][k])
    inp = np.array(inputs)
    np.testing.assert_allclose(inp[:, 0], inp[:, 1], rtol=1e-6)
    assert len(got) == 100
    assert sum(1 for x in want if x > 0) >= 90  # real predictions, not the empty first days
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
