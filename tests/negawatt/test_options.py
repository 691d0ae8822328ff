"""Settlement options from plain data: every rule settable, bad values named, never a crash."""

from __future__ import annotations

from typing import Any

import pytest

from jointuse.core.errors import ValidationError
from jointuse.negawatt.kernel import BaselineParams, DayTypeRule
from jointuse.negawatt.options import describe, options_dict, options_from
from jointuse.negawatt.settlement import Rounding


def test_defaults_are_the_standard_and_round_trip() -> None:
    params, rounding = options_from({})
    assert params == BaselineParams() and rounding == Rounding()
    assert describe(params) == "High 4 of 5 / High 2 of 3, additive fixed (-4 h, -1 h)"
    given = {
        "rules": [{"collect": 10, "keep": 10, "min_days": 1}, {"collect": 3, "keep": 2}],
        "adjustment": "multiplicative",
        "adjustment_clamp": [0.8, 1.2],
        "low_usage_fraction": None,
        "rounding": {"decimals": 1, "mode": "half_up", "non_positive_is_zero": False},
    }
    params, rounding = options_from(given)
    assert params.rules[0] == DayTypeRule(10, 10, 1) and params.adjustment_clamp == (0.8, 1.2)
    assert rounding == Rounding(1, "half_up", False)
    again = options_dict(params, rounding)
    assert again["rounding"]["applies_per"] == "event_day"
    again["rounding"].pop("applies_per")
    assert options_from(again) == (params, rounding)


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"nope": 1}, "nope"),
        ({"adjustment": "sideways"}, "adjustment"),
        ({"adjustment_timing": 3}, "adjustment_timing"),
        ({"lookback_days": "thirty"}, "lookback_days"),
        ({"lookback_days": 99}, "lookback_days"),
        ({"resolution": 1.5}, "resolution"),
        ({"adjustment_window_hours": [-4]}, "adjustment_window_hours"),
        ({"adjustment_window_hours": ["a", "b"]}, "adjustment_window_hours"),
        ({"adjustment_clamp": [1.2, 0.8]}, "adjustment_clamp"),
        ({"low_usage_fraction": "x"}, "low_usage_fraction"),
        ({"exclude_event_days": "yes"}, "exclude_event_days"),
        ({"rules": [{"collect": 3}]}, "rules"),
        ({"rules": [{"collect": 3, "keep": 4}]}, "keep"),
        ({"rounding": {"mode": "up"}}, "mode"),
        ({"rounding": {"decimals": "2"}}, "decimals"),
        ({"rounding": {"x": 1}}, "x"),
    ],
)
def test_bad_options_name_the_field(given: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        options_from(given)
    assert err.value.field == field, err.value.message
