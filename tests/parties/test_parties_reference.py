from __future__ import annotations

from pathlib import Path

import pytest

from jointuse.core.errors import ConfigError, ValidationError
from jointuse.parties.reference import (
    area_codes,
    area_for_prefecture,
    load_reference,
    parse_reference,
    tso_for_area,
)


def test_ten_areas_and_ten_tsos() -> None:
    ref = load_reference()
    assert len(ref.areas) == 10
    assert area_codes() == frozenset(f"{n:02d}" for n in range(1, 11))
    tsos = [p for p in ref.parties if p.kind == "tso"]
    assert len(tsos) == 10
    assert [p.code for p in ref.parties if p.kind == "occto"] == ["occto"]


def test_every_area_tso_exists_and_is_distinct() -> None:
    ref = load_reference()
    by_code = {p.code: p for p in ref.parties}
    for area in ref.areas:
        assert by_code[area.tso].kind == "tso"
    assert len({a.tso for a in ref.areas}) == 10


def test_tso_for_area() -> None:
    assert tso_for_area("03") == "tso-03"
    assert tso_for_area("10") == "tso-10"
    with pytest.raises(ValidationError) as info:
        tso_for_area("11")
    assert info.value.field == "area_code"
    assert "11" in info.value.message and "01" in info.value.message
    assert info.value.valid == sorted(area_codes())


def test_prefecture_mapping() -> None:
    assert area_for_prefecture("静岡県") == ("03", "04")
    assert area_for_prefecture("北海道") == ("01",)
    assert area_for_prefecture(" 沖縄県 ") == ("10",)
    all_prefectures = {p for a in load_reference().areas for p in a.prefectures}
    assert len(all_prefectures) == 47
    with pytest.raises(ValidationError) as info:
        area_for_prefecture("東京")
    assert info.value.field == "prefecture"
    assert "東京都" in info.value.valid


def _shipped_text() -> str:
    from importlib import resources

    return (resources.files("jointuse") / "data" / "reference_parties.toml").read_text("utf-8")


def test_broken_reference_names_file_and_line(tmp_path: Path) -> None:
    text = _shipped_text().replace('tso = "tso-04"', 'tso = "tso-99"')
    bad = tmp_path / "ref.toml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        parse_reference(bad.read_text("utf-8"), file=str(bad))
    err = info.value
    assert err.file == str(bad)
    assert err.line is not None
    assert text.splitlines()[err.line - 1].strip() == "[[area]]"
    assert "tso-99" in err.message
    assert "tso-04" in err.valid


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ('code = "05"', 'code = "04"', "duplicate area code"),
        ('code = "05"', 'code = "5"', "two ASCII digits"),
        ('region_en = "Kansai"', 'region_en = "Kansai"\ncolour = "red"', "unknown key"),
        ('kind = "occto"', 'kind = "regulator"', "unknown kind"),
        ('prefectures = ["沖縄県"]', "prefectures = []", "prefectures"),
    ],
)
def test_invalid_reference_entries(old: str, new: str, needle: str) -> None:
    text = _shipped_text()
    assert old in text
    with pytest.raises(ConfigError) as info:
        parse_reference(text.replace(old, new, 1), file="x.toml")
    assert needle in info.value.message
    assert info.value.file == "x.toml"
    assert info.value.line is not None
