from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jointuse.core.errors import InvalidSupplyPointId, ValidationError
from jointuse.core.ids import AreaCode, SupplyPointId

AREAS = [f"{n:02d}" for n in range(1, 11)]
# The separators the brief lists, spelled out here independently of the implementation.
SEPARATORS = [
    " ",
    "\u3000",
    "-",
    "\u2010",
    "\u2011",
    "\u2012",
    "\u2013",
    "\u2014",
    "\u2212",
    "\uff0d",
    "\u30fc",
    "\uff70",
]
FULLWIDTH = {str(n): chr(0xFF10 + n) for n in range(10)}

valid_ids = st.builds(
    lambda area, rest: area + rest,
    st.sampled_from(AREAS),
    st.text(alphabet="0123456789", min_size=20, max_size=20),
)


@st.composite
def typed_forms(draw: st.DrawFn, canonical: str) -> str:
    """The canonical ID with random digits full-width and separators inserted anywhere."""
    out: list[str] = []
    for digit in canonical:
        out.extend(draw(st.lists(st.sampled_from(SEPARATORS), max_size=2)))
        out.append(FULLWIDTH[digit] if draw(st.booleans()) else digit)
    out.extend(draw(st.lists(st.sampled_from(SEPARATORS), max_size=2)))
    return "".join(out)


def _allowed(ch: str) -> bool:
    return (
        ch in "0123456789"
        or ch in FULLWIDTH.values()
        or ch in SEPARATORS
        or ch in "\t\n\r"
        or unicodedata.category(ch) == "Zs"
        or unicodedata.normalize("NFKC", ch) in SEPARATORS
    )


bad_chars = st.characters(codec="utf-8").filter(lambda c: not _allowed(c))
allowed_chars = st.sampled_from([*"0123456789", *FULLWIDTH.values(), *SEPARATORS])


@given(st.data(), valid_ids)
def test_any_typed_form_parses_to_the_canonical_id(data: st.DataObject, canonical: str) -> None:
    typed = data.draw(typed_forms(canonical))
    spid = SupplyPointId.parse(typed)
    assert spid.value == canonical
    assert str(spid) == canonical
    assert spid.area_code == canonical[:2]
    assert spid.tso_code == f"tso-{canonical[:2]}"
    assert SupplyPointId.parse(spid.grouped()) == spid


@given(st.text(alphabet=allowed_chars, max_size=30), bad_chars, st.text(max_size=30))
def test_garbage_names_the_first_bad_character_and_position(
    prefix: str, bad: str, suffix: str
) -> None:
    text = prefix + bad + suffix
    with pytest.raises(InvalidSupplyPointId) as info:
        SupplyPointId.parse(text)
    err = info.value
    assert err.details["position"] == len(prefix) + 1
    assert err.details["character"] == bad
    assert f"U+{ord(bad):04X}" in err.message
    assert f"position {len(prefix) + 1}" in err.message


@given(
    st.sampled_from(AREAS),
    st.text(alphabet="0123456789", max_size=40).filter(lambda s: len(s) != 20),
)
def test_wrong_lengths_are_rejected_with_the_count(area: str, rest: str) -> None:
    text = area + rest  # a known area code, so only the length is wrong
    with pytest.raises(InvalidSupplyPointId) as info:
        SupplyPointId.parse(text)
    assert info.value.details["digits_found"] == len(text)
    assert f"has {len(text)} digit" in info.value.message
    assert "22" in info.value.message


@given(
    st.sampled_from([f"{n:02d}" for n in range(100) if n == 0 or n > 10]),
    st.text(alphabet="0123456789", min_size=20, max_size=20),
)
def test_unknown_area_codes_are_rejected(area: str, rest: str) -> None:
    with pytest.raises(InvalidSupplyPointId) as info:
        SupplyPointId.parse(area + rest)
    assert info.value.details["area_code"] == area
    assert repr(area) in info.value.message
    assert info.value.valid == AREAS


@pytest.mark.parametrize("text", ["", "   ", "\u3000-ー "])
def test_empty_input(text: str) -> None:
    with pytest.raises(InvalidSupplyPointId, match="empty"):
        SupplyPointId.parse(text)


def test_examples_and_display_forms() -> None:
    spid = SupplyPointId.parse("０３ー１２３４ー５６７８ー９０１２ー３４５６ー７８９０")
    assert spid.value == "0312345678901234567890"
    assert spid.grouped() == "03 1234 5678 9012 3456 7890"
    assert spid.masked() == "03 **** **** **** **** 7890"
    assert "1234" not in spid.masked()


def test_error_message_examples() -> None:
    with pytest.raises(InvalidSupplyPointId) as info:
        SupplyPointId.parse("03-1234-5678-9O12-3456-7890")  # letter O, not zero
    assert "'O' (U+004F LATIN CAPITAL LETTER O) at position 15" in info.value.message
    with pytest.raises(InvalidSupplyPointId, match=re.escape("U+2460")):
        SupplyPointId.parse("0①")  # circled digits are not typed digits


def test_constructor_accepts_only_canonical_form() -> None:
    assert SupplyPointId("1000000000000000000000").area_code == "10"
    with pytest.raises(InvalidSupplyPointId):
        SupplyPointId("03 1234 5678 9012 3456 7890")


def test_area_code() -> None:
    assert AreaCode.parse(" ０３ ").value == "03"
    assert AreaCode("03").tso_code == "tso-03"
    with pytest.raises(ValidationError) as info:
        AreaCode("11")
    assert info.value.field == "area_code"
    assert "01" in info.value.message
