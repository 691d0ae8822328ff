"""Meter data parsers: CSV (long, wide), TSO XML, zip; refusals name file, member, line, why."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jointuse.negawatt.meterdata import (
    MeterDataError,
    MeterDay,
    parse_csv,
    parse_meter_bytes,
    parse_meter_file,
    parse_xml,
)

DATA = Path(__file__).parent / "data"
P1 = "0312345678901234567890"
P2 = "0398765432109876543210"
LONG_HEADER = "supply_point_id,date,slot,consumption_kwh,generation_kwh\n"


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


def _by_key(rows: list[MeterDay]) -> dict[tuple[str, dt.date], MeterDay]:
    return {(str(r.supply_point_id), r.date): r for r in rows}


# --- accepted input -----------------------------------------------------------------------------


def test_shift_jis_csv_with_japanese_headers_and_full_width_digits() -> None:
    """What Japanese systems export: CP932, Japanese column names, full-width digits."""
    text = (
        "供給地点特定番号,年月日,時間帯,使用電力量(kWh)\r\n"
        f"{P1},２０２４/０７/０１,１,０.５３２\r\n"
        f"{P1},2024/07/01,2,0.6\r\n"
    )
    (day,) = parse_csv(text.encode("cp932"), file="sjis.csv")
    assert (str(day.supply_point_id), day.date, day.line) == (P1, dt.date(2024, 7, 1), 2)
    assert day.consumption[:2].tolist() == [0.532, 0.6]
    assert np.isnan(day.consumption[2:]).all()
    assert parse_csv(text.encode("utf-8"), file="u.csv")[0].same_values(day)


def test_long_csv_gives_one_row_per_point_and_day() -> None:
    rows = _by_key(parse_meter_file(DATA / "long.csv"))
    assert sorted(rows) == [
        (P1, dt.date(2024, 7, 1)),
        (P1, dt.date(2024, 7, 2)),
        (P2, dt.date(2024, 7, 1)),
        (P2, dt.date(2024, 7, 2)),
    ]
    day = rows[(P1, dt.date(2024, 7, 1))]
    assert day.consumption.shape == (48,)
    # slot n holds 0.2 + 0.01 n in the fixture: slot 1 is index 0.
    np.testing.assert_allclose(day.consumption, 0.2 + 0.01 * np.arange(1, 49))
    assert day.generation is not None
    assert day.generation[19] == 0.1 and day.generation[18] == 0.0
    # P2's generation column is empty all day: no generation data, not zeros.
    assert rows[(P2, dt.date(2024, 7, 1))].generation is None


def test_wide_csv_with_grouped_id_and_slash_date() -> None:
    (day,) = parse_meter_file(DATA / "wide.csv")
    assert str(day.supply_point_id) == P1
    assert day.date == dt.date(2024, 7, 3)
    assert day.consumption[0] == pytest.approx(0.31)
    assert day.consumption[47] == pytest.approx(0.78)
    assert day.generation is None


def test_xml_consumption_and_generation_groups_merge_and_no_data_group_is_skipped() -> None:
    (day,) = parse_meter_file(DATA / "usage.xml")
    assert (str(day.supply_point_id), day.date) == (P1, dt.date(2024, 7, 1))
    np.testing.assert_allclose(day.consumption, 0.2 + 0.01 * np.arange(1, 49))
    assert day.generation is not None
    assert day.generation[19:30].tolist() == [0.1] * 11
    assert day.generation[0] == 0.0


def test_xml_and_long_csv_agree_on_the_same_day() -> None:
    from_csv = _by_key(parse_meter_file(DATA / "long.csv"))[(P1, dt.date(2024, 7, 1))]
    (from_xml,) = parse_meter_file(DATA / "usage.xml")
    assert from_csv.same_values(from_xml)


def test_xml_with_namespace_is_read_by_local_names() -> None:
    raw = (DATA / "usage.xml").read_bytes()
    namespaced = raw.replace(b"<SBD-MSG>", b'<SBD-MSG xmlns="urn:example:cii">')
    (day,) = parse_xml(namespaced, file="ns.xml")
    assert str(day.supply_point_id) == P1


def test_zip_of_csv_and_xml_members() -> None:
    data = _zip(
        {
            "a/wide.csv": (DATA / "wide.csv").read_bytes(),
            "b/usage.xml": (DATA / "usage.xml").read_bytes(),
            "__MACOSX/._usage.xml": b"\x00\x01junk",
        }
    )
    rows = _by_key(parse_meter_bytes(data, "delivery.zip"))
    assert sorted(rows) == [(P1, dt.date(2024, 7, 1)), (P1, dt.date(2024, 7, 3))]


def test_missing_slots_are_nan_and_empty_values_are_missing() -> None:
    text = LONG_HEADER + f"{P1},2024-07-01,1,0.5,\n{P1},2024-07-01,3,,\n"
    (day,) = parse_csv(text, file="gaps.csv")
    assert day.consumption[0] == 0.5
    assert np.isnan(day.consumption[1:]).all()


def test_utf8_bom_and_full_width_id_are_accepted() -> None:
    full_width = "".join(chr(0xFF10 + int(c)) for c in P1)
    text = "\ufeff" + LONG_HEADER + f"{full_width},20240701,48,1.25,0\n"
    (day,) = parse_meter_bytes(text.encode("utf-8"), "bom.csv")
    assert str(day.supply_point_id) == P1
    assert day.consumption[47] == 1.25


# --- refused input: file, member, line, record and reason ---------------------------------------


def _refusal(data: bytes | str, name: str) -> MeterDataError:
    raw = data.encode() if isinstance(data, str) else data
    with pytest.raises(MeterDataError) as info:
        parse_meter_bytes(raw, name)
    return info.value


@pytest.mark.parametrize(
    ("body", "line", "needle", "field"),
    [
        (f"{P1},2024-07-01,49,0.5,\n", 2, "slot '49'", "slot"),
        (f"{P1},2024-07-01,0,0.5,\n", 2, "slot '0'", "slot"),
        (f"{P1},2024-02-30,1,0.5,\n", 2, "not a calendar date", "date"),
        (f"{P1},2024-07-01,1,-0.5,\n", 2, "is negative", "consumption_kwh"),
        (f"{P1},2024-07-01,1,abc,\n", 2, "not a number", "consumption_kwh"),
        (f"{P1},2024-07-01,1,nan,\n", 2, "not a number", "consumption_kwh"),
        (f"{P1},2024-07-01,1,0.1,\n{P1},2024-07-01,1,0.2,\n", 3, "given twice", "slot"),
        (f"{P1},2024-07-01,1,0.1\n", 2, "5", None),
        ("9912345678901234567890,2024-07-01,1,0.1,\n", 2, "area code", "supply_point_id"),
        ("031234,2024-07-01,1,0.1,\n", 2, "6 digits", "supply_point_id"),
    ],
)
def test_bad_csv_rows(body: str, line: int, needle: str, field: str | None) -> None:
    err = _refusal(LONG_HEADER + body, "bad.csv")
    assert err.file == "bad.csv"
    assert err.line == line
    assert needle in err.reason
    assert err.field == field
    assert str(err).startswith(f"bad.csv:{line}")


def test_unknown_and_missing_columns_are_named() -> None:
    err = _refusal("supply_point_id,date,slot,kwh\n", "cols.csv")
    assert "unknown columns ['kwh']" in err.reason
    assert "consumption_kwh" in err.reason
    assert err.line == 1 and err.record == "header"


def test_wide_csv_with_partial_generation_columns_is_refused() -> None:
    header = ["supply_point_id", "date", *(f"consumption_{n:02d}" for n in range(1, 49))]
    err = _refusal(",".join([*header, "generation_01"]) + "\n", "w.csv")
    assert "all present or all absent" in err.reason


def test_empty_and_non_utf8_and_unknown_files() -> None:
    assert "empty" in _refusal(b"", "e.csv").reason
    err = _refusal(LONG_HEADER.encode() + b"x,\x82", "bad.csv")  # a lone lead byte
    assert "neither UTF-8 nor Shift_JIS/CP932" in err.reason and err.line == 2
    err = _refusal(b"hello", "readme.txt")
    assert "unknown file type" in err.reason


XML_BAD = [
    (b"<SBD-MSG><JPMGRP><JPMGH/></JPMGRP></SBD-MSG>", "has no <JPTRM>"),
    (b"<Other/>", "is not a meter data message"),
    (b"<SBD-MSG><JPMGRP><JPTRM/></JPMGRP></SBD-MSG>", "has no <JPMGH>"),
    (b"<SBD-MSG><JPMGRP><JPMGH/><JPTRM>", "malformed XML"),
]


@pytest.mark.parametrize(("data", "needle"), XML_BAD)
def test_bad_xml_structure(data: bytes, needle: str) -> None:
    assert needle in _refusal(data, "bad.xml").reason


def test_xml_slot_errors_name_the_record_and_line() -> None:
    raw = (DATA / "usage.xml").read_bytes()
    bad = raw.replace(b"<JP06219>7</JP06219>", b"<JP06219>77</JP06219>", 1)
    err = _refusal(bad, "usage.xml")
    assert err.record is not None
    assert err.record.startswith("JPTRM[1]/JPMR00010[1]/JPMR00013[1]/JPMR00014[7]")
    assert err.line is not None and err.line > 10
    assert "slot '77'" in err.reason


def test_xml_doctype_and_entities_are_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE SBD-MSG [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><SBD-MSG>&b;</SBD-MSG>'
    )
    assert "DOCTYPE" in _refusal(bomb, "bomb.xml").reason
    external = b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><SBD-MSG/>'
    assert "DOCTYPE" in _refusal(external, "ext.xml").reason


def test_bad_data_present_flag() -> None:
    raw = (DATA / "usage.xml").read_bytes().replace(b"<JP06405>0<", b"<JP06405>9<", 1)
    err = _refusal(raw, "flag.xml")
    assert err.field == "JP06405"


def test_zip_errors_name_the_member() -> None:
    bad_csv = (LONG_HEADER + f"{P1},2024-07-01,1,x,\n").encode()
    err = _refusal(
        _zip({"ok.xml": (DATA / "usage.xml").read_bytes(), "d/bad.csv": bad_csv}), "z.zip"
    )
    assert (err.file, err.member, err.line) == ("z.zip", "d/bad.csv", 2)
    assert str(err).startswith("z.zip!d/bad.csv:2")
    err = _refusal(_zip({"inner.zip": _zip({"a.csv": b""})}), "n.zip")
    assert "nested" in err.reason and err.member == "inner.zip"
    err = _refusal(_zip({"notes.txt": b"hello"}), "t.zip")
    assert "unknown file type" in err.reason
    assert "no CSV or XML" in _refusal(_zip({}), "empty.zip").reason
    assert "not a readable zip" in _refusal(b"PK\x03\x04garbage", "broken.zip").reason


def test_same_slot_in_two_zip_members_is_refused() -> None:
    xml = (DATA / "usage.xml").read_bytes()
    err = _refusal(_zip({"one.xml": xml, "two.xml": xml}), "dup.zip")
    assert "given twice" in err.reason and err.member == "two.xml"


def test_missing_file() -> None:
    with pytest.raises(MeterDataError, match="cannot read"):
        parse_meter_file(DATA / "nope.csv")


# --- properties ---------------------------------------------------------------------------------

values = st.lists(
    st.one_of(st.none(), st.decimals(min_value=0, max_value=9999, places=3)),
    min_size=48,
    max_size=48,
)


@settings(max_examples=40, deadline=None)
@given(cons=values, gen=values)
def test_wide_and_long_forms_round_trip(cons: list[object], gen: list[object]) -> None:
    def cell(v: object) -> str:
        return "" if v is None else str(v)

    long_rows = [
        f"{P1},2024-07-01,{n},{cell(c)},{cell(g)}"
        for n, (c, g) in enumerate(zip(cons, gen, strict=True), start=1)
    ]
    wide_header = ["supply_point_id", "date"]
    wide_header += [f"consumption_{n:02d}" for n in range(1, 49)]
    wide_header += [f"generation_{n:02d}" for n in range(1, 49)]
    wide_row = [P1, "2024-07-01", *map(cell, cons), *map(cell, gen)]
    (a,) = parse_csv(LONG_HEADER + "\n".join(long_rows), file="l.csv")
    (b,) = parse_csv(",".join(wide_header) + "\n" + ",".join(wide_row), file="w.csv")
    assert a.same_values(b)
    expected = np.array([np.nan if v is None else float(str(v)) for v in cons])
    np.testing.assert_array_equal(a.consumption, expected)
