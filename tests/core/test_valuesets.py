from __future__ import annotations

from pathlib import Path

import pytest

from jointuse.core.errors import ConfigError, ValidationError
from jointuse.core.valuesets import (
    FILE_VALUESETS,
    entry_lines,
    load_valueset,
    load_valueset_file,
    validate_code,
    valueset_names,
)

GOOD = """\
[valueset]
label_ja = "テスト"
label_en = "test set"

[[entry]]
code = "a"
label_ja = "甲"
label_en = "A"

[[entry]]
code = "b"
label_ja = "乙"
label_en = "B"
note = "second"
"""


@pytest.mark.parametrize("name", FILE_VALUESETS)
def test_every_shipped_valueset_loads(name: str) -> None:
    vs = load_valueset(name)
    assert vs.name == name
    assert len(vs.entries) >= 3
    assert len(set(vs.codes())) == len(vs.codes())
    assert all(e.label_ja and e.label_en for e in vs.entries)


def test_shipped_contents() -> None:
    assert load_valueset("contract_kind").codes() == (
        "standard",
        "remote_island",
        "last_resort",
        "power_purchase",
    )
    menus = {e.label_ja for e in load_valueset("service_menu").entries}
    assert {"従量電灯B", "従量電灯C", "低圧電力", "高圧", "特別高圧"} <= menus
    methods = {e.label_ja for e in load_valueset("supply_method").entries}
    assert {"単相2線式", "単相3線式", "三相3線式"} <= methods
    states = {e.label_ja for e in load_valueset("contract_state").entries}
    assert {"契約中", "廃止", "停止", "申込中"} <= states


def test_area_code_valueset_comes_from_reference() -> None:
    vs = load_valueset("area_code")
    assert vs.codes() == tuple(f"{n:02d}" for n in range(1, 11))
    assert vs.label("03") == "東京"
    assert vs.label("03", "en") == "Tokyo"
    assert "area_code" in valueset_names()


def test_validate_and_resolve() -> None:
    assert validate_code("supply_method", "single_phase_3_wire") == "single_phase_3_wire"
    with pytest.raises(ValidationError) as info:
        validate_code("service_menu", "従量電灯Z", field="service_menu")
    assert info.value.field == "service_menu"
    assert "lv_metered_lighting_b" in info.value.valid
    assert "lv_metered_lighting_b" in info.value.message
    menus = load_valueset("service_menu")
    assert menus.resolve("従量電灯Ｂ") == "lv_metered_lighting_b"  # full-width B
    assert menus.resolve("LOW VOLTAGE, POWER") == "lv_power"
    with pytest.raises(ValidationError):
        menus.resolve("ガス")
    with pytest.raises(ValidationError, match="unknown value set"):
        load_valueset("colours")


def test_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "letters.toml"
    path.write_text(GOOD, encoding="utf-8")
    vs = load_valueset_file(path)
    assert vs.name == "letters"
    assert vs.codes() == ("a", "b")
    assert vs.get("b").note == "second"


@pytest.mark.parametrize(
    ("old", "new", "needle", "entry_no"),
    [
        ('code = "b"', 'code = "a"', "duplicate code 'a'", 2),
        ('label_en = "B"\n', "", "missing key(s) label_en", 2),
        ('label_ja = "甲"', 'label_ja = ""', "'label_ja' must be a non-empty string", 1),
        ('note = "second"', 'colour = "red"', "unknown key(s) colour", 2),
        ('code = "a"', 'code = "a b"', "may hold only", 1),
        ('code = "a"', "code = 1", "'code' must be a non-empty string", 1),
    ],
)
def test_broken_file_names_file_entry_and_line(
    tmp_path: Path, old: str, new: str, needle: str, entry_no: int
) -> None:
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_valueset_file(path)
    err = info.value
    assert err.file == str(path)
    assert str(path) in str(err)
    assert needle in err.message
    assert f"#{entry_no}" in err.message
    assert err.line == entry_lines(text, "entry")[entry_no - 1]
    assert text.splitlines()[err.line - 1] == "[[entry]]"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[valueset\n", "not valid TOML"),
        ('[valueset]\nlabel_ja = "x"\nlabel_en = "y"\n', "no [[entry]]"),
        ('[[entry]]\ncode = "a"\nlabel_ja = "x"\nlabel_en = "y"\n', "missing [valueset]"),
        ('[valueset]\nlabel_ja = "x"\nlabel_en = "y"\nowner = "me"\n', "unknown key(s) owner"),
        ('colour = "red"\n' + GOOD, "unknown top-level key(s) colour"),
    ],
)
def test_broken_file_structure(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_valueset_file(path)
    assert needle in info.value.message
    assert info.value.file == str(path)
