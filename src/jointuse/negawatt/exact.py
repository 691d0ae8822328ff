"""Exact arithmetic of the baseline and the settlement: integers at the data's resolution.

Meter values are decimal kWh with a fixed number of decimals (the *resolution*: 3 = 1 Wh, 1 =
0.1 kWh). Multiplied by ``10**resolution`` they are integers ("units"), and every quantity of the
baseline and the settlement is a ratio of integers in those units: a mean of kept days is a sum
over a count, an additive adjustment a difference over a window width, a multiplicative one a
ratio of sums. The kernel therefore carries each baseline value as an exact numerator and
denominator, and the settlement truncates (or rounds) those ratios with integer division — so an
exact 495.00 kWh is 495.00, never 494.99 from a binary sum.

Arrays are int64 while the magnitudes allow (:func:`mul` and :func:`add` check the bound before
each operation) and Python integers (numpy ``object`` arrays) beyond, so no operation can
overflow silently.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from jointuse.core.errors import ValidationError

__all__ = ["add", "as_fraction", "bound", "div_round", "mul", "to_units"]

IntA = npt.NDArray[Any]  # int64 or object (Python int)
_LIMIT = 2**62


def bound(a: Any) -> int:
    """The largest magnitude in ``a`` (0 when empty), as a Python int."""
    arr = np.asarray(a)
    if arr.size == 0:
        return 0
    return int(np.max(np.abs(arr)))


def _wide(a: Any) -> Any:
    arr = np.asarray(a)
    return arr if arr.dtype == object else arr.astype(object)


def mul(a: Any, b: Any) -> Any:
    """``a * b`` elementwise, int64 when the product surely fits, Python ints otherwise."""
    if bound(a) * bound(b) < _LIMIT:
        return np.asarray(a) * np.asarray(b)
    return _wide(a) * _wide(b)


def add(a: Any, b: Any) -> Any:
    """``a + b`` elementwise with the same guard as :func:`mul`."""
    if bound(a) + bound(b) < _LIMIT:
        return np.asarray(a) + np.asarray(b)
    return _wide(a) + _wide(b)


def div_round(
    num: Any, den: Any, mode: Literal["truncate", "half_up", "half_even", "floor"]
) -> Any:
    """``num / den`` rounded to an integer, exactly (``den > 0``).

    ``truncate`` toward zero; ``half_up`` half away from zero (the commercial rounding);
    ``half_even`` banker's rounding; ``floor`` toward minus infinity.
    """
    n = np.asarray(num)
    d = np.asarray(den)
    if mode == "floor":
        return n // d
    neg = n < 0
    a = np.where(neg, -n, n)
    if mode == "truncate":
        q = a // d
    else:
        q, r = a // d, a % d
        twice = mul(r, 2)
        tie = (twice == d) if mode == "half_up" else (twice == d) & (q % 2 == 1)
        q = q + ((twice > d) | tie)
    return np.where(neg, -q, q)


def to_units(values: Any, resolution: int, *, where: str = "loads") -> tuple[Any, Any]:
    """``(units, missing)``: float kWh → int64 ``round(v * 10**resolution)``, NaN → missing.

    A finite value that is not on the ``10**-resolution`` grid is refused (the data are finer
    than the resolution the settlement was asked to work at), naming its position.
    """
    v = np.asarray(values, dtype=np.float64)
    missing = np.isnan(v)
    y = np.where(missing, 0.0, v) * 10.0**resolution
    n = np.rint(y)
    off = np.abs(y - n) > 1e-9 * np.maximum(1.0, np.abs(y))
    if off.any():
        pos = tuple(int(i) for i in np.argwhere(off)[0])
        raise ValidationError(
            f"{where}{list(pos)} = {v[pos]!r} kWh is finer than the resolution "
            f"{10.0**-resolution:g} kWh",
            field="resolution",
            valid=f"values with at most {resolution} decimals, or a finer resolution",
        )
    return n.astype(np.int64), missing


def as_fraction(x: float | str) -> Fraction:
    """A parameter such as 0.25 or 1.2 as the exact decimal it was written as."""
    return Fraction(str(x))
