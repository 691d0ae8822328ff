"""Settlement options as data: the baseline method and every rule, the rounding, the resolution.

:func:`options_from` builds :class:`~.kernel.BaselineParams` and :class:`~.settlement.Rounding`
from a plain mapping (a JSON body, CLI options), refusing unknown keys with the valid ones;
:func:`options_dict` is the inverse, stored with every settlement run, so a run says exactly
how it was computed. Omitted keys take the standard (METI ERAB guideline) defaults.

Keys::

    lookback_days, rules: [{collect, keep, min_days}, ...]  (weekday, then Sat/Sun/holiday)
    exclude_event_days, low_usage_fraction (null: off), low_usage_basis (candidates | recent)
    adjustment (none | additive | multiplicative), adjustment_timing (fixed | rolling)
    adjustment_window_hours: [start, end], adjustment_clamp: [lo, hi] or null
    baseline_decimals (null: exact), resolution (decimals of kWh of the data; 3 = Wh)
    rounding: {decimals, mode (truncate | half_up | none), non_positive_is_zero}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from jointuse.core.errors import ValidationError
from jointuse.negawatt.kernel import BaselineParams, DayTypeRule
from jointuse.negawatt.settlement import Rounding

__all__ = ["describe", "options_dict", "options_from"]

_PARAM_KEYS = [f.name for f in fields(BaselineParams) if f.name != "slots_per_day"]
_ROUNDING_KEYS = ["decimals", "mode", "non_positive_is_zero"]


def options_from(given: Mapping[str, Any] | None) -> tuple[BaselineParams, Rounding]:
    """Parameters and rounding from ``given`` (defaults for what it omits)."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(_PARAM_KEYS) - {"rounding"})
    if unknown:
        raise ValidationError(
            f"unknown settlement option(s): {', '.join(unknown)}",
            field=unknown[0],
            valid=[*_PARAM_KEYS, "rounding"],
        )
    rounding_given = dict(given.pop("rounding", None) or {})
    bad = sorted(set(rounding_given) - set(_ROUNDING_KEYS))
    if bad:
        raise ValidationError(
            f"unknown rounding option(s): {', '.join(bad)}", field=bad[0], valid=_ROUNDING_KEYS
        )
    kw: dict[str, Any] = {}
    for key, value in given.items():
        if key == "rules":
            try:
                kw["rules"] = tuple(
                    DayTypeRule(int(r["collect"]), int(r["keep"]), r.get("min_days")) for r in value
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise ValidationError(
                    f"rules: {exc}",
                    field="rules",
                    valid="[{collect, keep, min_days?}, ...] per day type",
                ) from None
        elif key in ("adjustment_window_hours", "adjustment_clamp") and value is not None:
            if (
                not isinstance(value, list | tuple)
                or len(value) != 2
                or not all(_number(v) for v in value)
            ):
                raise ValidationError(f"{key} must be two numbers", field=key, valid="[a, b]")
            kw[key] = (float(value[0]), float(value[1]))
        elif key == "low_usage_fraction" and value is not None:
            if not _number(value):
                raise ValidationError(f"{key}={value!r} is not a number", field=key)
            kw[key] = float(value)
        elif key == "exclude_event_days" and not isinstance(value, bool):
            raise ValidationError(f"{key}={value!r} is not true/false", field=key)
        else:
            kw[key] = value
    for key in ("decimals",):
        v = rounding_given.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise ValidationError(f"rounding {key}={v!r} is not an integer", field=key)
    if not isinstance(rounding_given.get("non_positive_is_zero", True), bool):
        raise ValidationError("rounding non_positive_is_zero must be true/false", field="rounding")
    try:
        return BaselineParams(**kw), Rounding(**rounding_given)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"settlement options: {exc}", field="options") from None


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def options_dict(params: BaselineParams, rounding: Rounding) -> dict[str, Any]:
    """The JSON form of ``params`` and ``rounding`` (every key, defaults included)."""
    out: dict[str, Any] = {}
    for key in _PARAM_KEYS:
        value = getattr(params, key)
        if key == "rules":
            value = [{"collect": r.collect, "keep": r.keep, "min_days": r.min_days} for r in value]
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value
    out["rounding"] = {k: getattr(rounding, k) for k in _ROUNDING_KEYS}
    out["rounding"]["applies_per"] = "event_day"
    return out


def describe(params: BaselineParams) -> str:
    """A one-line name of the method, e.g. ``High 4 of 5 / High 2 of 3, additive (-4 h, -1 h)``."""
    rules = " / ".join(f"High {r.keep} of {r.collect}" for r in params.rules)
    if params.adjustment == "none":
        return f"{rules}, no same-day adjustment"
    a, b = params.adjustment_window_hours
    clamp = f", clamped to {list(params.adjustment_clamp)}" if params.adjustment_clamp else ""
    return f"{rules}, {params.adjustment} {params.adjustment_timing} ({a:g} h, {b:g} h){clamp}"
