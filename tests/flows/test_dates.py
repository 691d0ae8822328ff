"""jointuse.flows.dates: lead times, TSO calendars, meter-reading schedules, switching dates and
deadlines — pure functions over the shipped data. Expected dates are worked out by hand in the
comments (weekday, holiday and closure of each day passed over), not by the code under test."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jointuse
from jointuse.core.calendar import JST
from jointuse.core.errors import ConfigError, ValidationError
from jointuse.flows import dates
from jointuse.flows.dates import CapacityClass, LeadTime
from jointuse.parties.reference import load_reference

D = dt.date
TSOS = sorted(p.code for p in load_reference().parties if p.kind == "tso")
DATA = Path(jointuse.__file__).parent / "data"


# --- the data ------------------------------------------------------------------------------------


def test_every_tso_has_data_and_the_lead_times_of_domain_md() -> None:
    assert sorted(dates.load_tso_dates()) == TSOS and len(TSOS) == 10
    figures = {
        ("low_voltage", False): LeadTime(1, 2),
        ("low_voltage", True): LeadTime(8, 2),
        ("high_voltage", False): LeadTime(8, 0),
        ("high_voltage", True): LeadTime(20, 0),
        ("extra_high_voltage", False): LeadTime(10, 0),
        ("extra_high_voltage", True): LeadTime(30, 0),
    }
    for tso in TSOS:
        for (klass, work), lead in figures.items():
            assert dates.lead_time(tso, klass, work) == lead, (tso, klass, work)
        data = dates.tso_dates(tso)
        # Placeholder data says so: nothing here is marked verified.
        assert not data.lead_times_verified and "docs/market-facts.md" in data.lead_times_source
        assert not data.reading.verified and data.reading.source


@pytest.mark.parametrize("tso", TSOS)
def test_every_schedule_covers_every_month_and_code(tso: str) -> None:
    rule = dates.tso_dates(tso).reading
    closures = dates.tso_dates(tso).calendar.closures
    for year in range(2024, 2028):
        for month in range(1, 13):
            schedule = dates.month_schedule(tso, year, month)
            assert tuple(schedule) == rule.codes
            days = [schedule[c] for c in rule.codes]
            assert all(d.year == year and d.month == month for d in days)
            assert days == sorted(set(days)), "one reading day per code, in code order"
            assert not any(c.contains(d) for d in days for c in closures)
            # Days outside the reading working days are used only where the month lacks them.
            working = rule.calendar.business_days_of_month(year, month)
            extra = [d for d in days if d not in working]
            need = rule.first_working_day - 1 + len(rule.codes)
            assert len(extra) == max(0, need - len(working)), (year, month)


# --- lead times over holidays -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matched", "klass", "work", "expected"),
    [
        # Fri 1 Mar 2024: 1 business day → Mon 4, + 2 calendar days.
        (D(2024, 3, 1), "low_voltage", False, D(2024, 3, 6)),
        # 8 business days: 4, 5, 6, 7, 8, 11, 12, 13 Mar, + 2.
        (D(2024, 3, 1), "low_voltage", True, D(2024, 3, 15)),
        # Year end: Fri 27 Dec 2024 → 28/29 weekend, 29 Dec–3 Jan closed, 4/5 Jan weekend → Mon
        # 6 Jan 2025, + 2.
        (D(2024, 12, 27), "low_voltage", False, D(2025, 1, 8)),
        # Golden Week: Thu 2 May 2024 → 3 May 憲法記念日, 4/5 weekend, Mon 6 May 振替休日 → Tue 7.
        (D(2024, 5, 2), "low_voltage", False, D(2024, 5, 9)),
        # Substitute holiday: Fri 9 Feb 2024 → Mon 12 Feb 振替休日 (11 Feb was a Sunday) → Tue 13.
        (D(2024, 2, 9), "low_voltage", False, D(2024, 2, 15)),
        # 国民の休日: Fri 18 Sep 2026 → 21 敬老の日, 22 国民の休日, 23 秋分の日 → Thu 24.
        (D(2026, 9, 18), "low_voltage", False, D(2026, 9, 26)),
        # High voltage < 500 kW: 8 business days from Fri 1 Mar 2024 = Wed 13 Mar, no + days.
        (D(2024, 3, 1), "high_voltage", False, D(2024, 3, 13)),
        # ≥ 500 kW with meter work, 30 business days from Mon 1 Apr 2024: April has 20 after the
        # 1st (29 Apr 昭和の日), 1–2 May make 22, 3–6 May off, 7–10 May 26, 13–16 May 30.
        (D(2024, 4, 1), "extra_high_voltage", True, D(2024, 5, 16)),
        # Month end: Fri 31 May 2024 → Mon 3 Jun, + 2.
        (D(2024, 5, 31), "low_voltage", False, D(2024, 6, 5)),
    ],
)
def test_earliest_date(matched: dt.date, klass: str, work: bool, expected: dt.date) -> None:
    for tso in TSOS:
        assert dates.earliest_date(tso, matched, klass, work) == expected


def test_closures_are_data_and_can_be_left_out() -> None:
    # Without closure days: Fri 27 Dec 2024 → Mon 30 Dec, + 2 = 1 Jan.
    assert dates.earliest_date("tso-03", D(2024, 12, 27), closures=False) == D(2025, 1, 1)
    assert (
        dates.business_calendar("tso-03").business_days_between(D(2024, 12, 27), D(2025, 1, 6)) == 1
    )


# --- the meter-reading schedules -----------------------------------------------------------------


def test_tokyo_reads_from_the_second_business_day_skipping_unused_codes() -> None:
    # March 2024 business days: 1, 4–8, 11–15, 18, 19, 21, 22, 25–29 (20 Mar 春分の日).
    schedule = dates.month_schedule("tso-03", 2024, 3)
    assert schedule["01"] == D(2024, 3, 4)  # the 2nd business day
    assert "05" not in schedule and "13" not in schedule and "27" not in schedule
    assert schedule["08"] == D(2024, 3, 8)  # 5th code → 6th business day
    assert schedule["10"] == D(2024, 3, 12)
    assert schedule["12"] == D(2024, 3, 14)
    assert schedule["19"] == D(2024, 3, 22)  # over 20 Mar
    assert schedule["26"] == D(2024, 3, 29)  # 19th code → 20th, the last business day


def test_a_month_short_of_working_days_reads_on_its_latest_saturday() -> None:
    # January 2025 with 1–3 closed and 13 Jan 成人の日: 19 business days (6–10, 14–17, 20–24,
    # 27–31); Tokyo needs 20 (from the 2nd). The latest Saturday, 25 Jan, is added.
    schedule = dates.month_schedule("tso-03", 2025, 1)
    assert schedule["01"] == D(2025, 1, 7)
    assert schedule["18"] == D(2025, 1, 24)
    assert schedule["19"] == D(2025, 1, 25)  # a Saturday
    assert schedule["22"] == D(2025, 1, 27)
    assert schedule["26"] == D(2025, 1, 31)


def test_chubu_does_not_read_on_15_august_and_hokkaido_reads_on_saturdays() -> None:
    # August 2024, Chubu: 1, 2, 5–9, 13, 14, (15 not a reading day), 16, … (12 Aug 振替休日).
    chubu = dates.month_schedule("tso-04", 2024, 8)
    assert D(2024, 8, 15) not in chubu.values()
    assert chubu["10"] == D(2024, 8, 14) and chubu["11"] == D(2024, 8, 16)
    assert dates.reading_day("tso-04", 10, 2025, 8) != D(2025, 8, 15)
    # Sat 1 June 2024: Hokkaido's code 01; Tokyo's code 01 is the 2nd business day, Tue 4 June.
    assert dates.reading_day("tso-01", "01", 2024, 6) == D(2024, 6, 1)
    assert dates.reading_day("tso-03", "01", 2024, 6) == D(2024, 6, 4)
    # Generic placeholder (tso-06): code 01 on the 1st business day, Mon 3 June.
    assert dates.reading_day("tso-06", "01", 2024, 6) == D(2024, 6, 3)


def test_reading_codes_are_normalised_and_checked_against_the_tso() -> None:
    assert dates.normalise_reading_code(5) == "05"
    assert dates.normalise_reading_code("５") == "05"
    assert dates.normalise_reading_code(" １０ ") == "10"
    assert dates.reading_day("tso-03", "１０", 2024, 3) == D(2024, 3, 12)
    for bad in ("", "abc", "123", "-1", True, "1.0"):
        with pytest.raises(ValidationError) as caught:
            dates.normalise_reading_code(bad)
        assert caught.value.field == "meter_reading_code"
    for unused in ("05", "27", 0):
        with pytest.raises(ValidationError) as caught:
            dates.next_reading_day("tso-03", unused, D(2024, 3, 1))
        assert caught.value.field == "meter_reading_code"
        assert caught.value.valid == list(dates.reading_codes("tso-03"))
    # 20 is a code of the generic schedules, not Tohoku's (01–17 in use).
    assert "20" in dates.reading_codes("tso-06") and "20" not in dates.reading_codes("tso-02")


# --- the switching date --------------------------------------------------------------------------


def test_switch_date_is_the_next_reading_day_after_the_lead_time() -> None:
    # Matched Fri 1 Mar 2024, earliest Wed 6 Mar; Tokyo's code 10 is read on Tue 12 Mar.
    got = dates.switch_date("tso-03", D(2024, 3, 1), "10")
    assert got == dates.SwitchDate(
        D(2024, 3, 12), D(2024, 3, 6), D(2024, 3, 12), "meter_reading_day", LeadTime(1, 2)
    )
    # Code 03 was read on 6 Mar: the earliest day itself counts.
    assert dates.switch_date("tso-03", D(2024, 3, 1), "03").day == D(2024, 3, 6)
    # Code 02 was read on 5 Mar, before the earliest: April's, Wed 3 Apr (1 Apr is the 1st
    # business day, 2 Apr the 2nd for code 01).
    assert dates.switch_date("tso-03", D(2024, 3, 1), 2).day == D(2024, 4, 3)


def test_switch_date_over_month_end_and_year_end() -> None:
    # Matched Wed 27 Mar 2024: Thu 28 + 2 = Sat 30 Mar; code 01 (4 Mar) is past → Tue 2 Apr.
    assert dates.switch_date("tso-03", D(2024, 3, 27), "01").day == D(2024, 4, 2)
    # Matched Fri 20 Dec 2024: Mon 23 + 2 = Wed 25 Dec. Tokyo's k-th code is read on the
    # (k+1)-th business day; December's are 2–6, 9–13, 16–20, 23–27 (29–31 closed): code 24, the
    # 17th, on the 18th = 25 Dec; code 23, the 16th, on 24 Dec, too early → January (7, 8, 9, 10,
    # 14, 15, 16, 17, 20, 21, 22, 23, 24, Sat 25, 27, 28, …): its 17th day, 28 Jan.
    assert dates.switch_date("tso-03", D(2024, 12, 20), "24").day == D(2024, 12, 25)
    assert dates.switch_date("tso-03", D(2024, 12, 20), "23").day == D(2025, 1, 28)
    # With meter work: 8 business days = 23–27 Dec, 6–8 Jan → Wed 8 + 2 = Fri 10 Jan; code 04
    # (4th → 5th day) is read that day, code 03 (9 Jan) next in February: 3, 4, 5, 6 → 6 Feb.
    got = dates.switch_date("tso-03", D(2024, 12, 20), "04", meter_work=True)
    assert (got.earliest, got.day) == (D(2025, 1, 10), D(2025, 1, 10))
    got = dates.switch_date("tso-03", D(2024, 12, 20), "03", meter_work=True)
    assert got.day == D(2025, 2, 6)


def test_a_later_wished_date_wins_an_earlier_one_does_not_a_past_one_is_refused() -> None:
    later = dates.switch_date("tso-03", D(2024, 3, 1), "10", D(2024, 3, 25))
    assert (later.day, later.basis, later.scheduled) == (
        D(2024, 3, 25),
        "wished_date",
        D(2024, 3, 12),
    )
    earlier = dates.switch_date("tso-03", D(2024, 3, 1), "10", D(2024, 3, 4))
    assert (earlier.day, earlier.basis) == (D(2024, 3, 12), "meter_reading_day")
    with pytest.raises(ValidationError) as caught:
        dates.switch_date("tso-03", D(2024, 3, 1), "10", D(2024, 2, 29))
    assert caught.value.field == "wished_date" and "2024-03-01" in str(caught.value.valid)
    # ``today`` moves the boundary.
    with pytest.raises(ValidationError):
        dates.switch_date("tso-03", D(2024, 3, 1), "10", D(2024, 3, 4), today=D(2024, 3, 5))
    # No 検針日 code: the earliest date.
    bare = dates.switch_date("tso-03", D(2024, 3, 1), None)
    assert (bare.day, bare.basis, bare.scheduled) == (D(2024, 3, 6), "earliest", None)


def test_bad_inputs_name_the_field_and_what_is_valid() -> None:
    with pytest.raises(ValidationError) as caught:
        dates.switch_date("tso-11", D(2024, 3, 1), "10")
    assert caught.value.field == "tso" and caught.value.valid == TSOS
    with pytest.raises(ValidationError) as caught:
        dates.earliest_date("03", D(2024, 3, 1))
    assert caught.value.field == "tso"
    with pytest.raises(ValidationError) as caught:
        dates.switch_date("tso-03", D(2024, 3, 1), "10", klass="medium_voltage")
    assert caught.value.field == "capacity_class"
    assert caught.value.valid == ["low_voltage", "high_voltage", "extra_high_voltage"]
    with pytest.raises(ValidationError) as caught:
        dates.switch_date("tso-03", D(2024, 3, 1), "06")
    assert caught.value.field == "meter_reading_code" and "06" not in caught.value.valid


# --- deadlines -----------------------------------------------------------------------------------


def test_deadlines_count_the_tsos_business_days() -> None:
    # Forwarded Fri 27 Dec 2024: 2 business days are 6 and 7 Jan → the end of 7 Jan.
    at = dt.datetime(2024, 12, 27, 10, tzinfo=JST)
    assert dates.judgement_deadline("tso-03", at) == dt.datetime(2025, 1, 8, tzinfo=JST)
    assert dates.matching_deadline("tso-03", at) == dt.datetime(2025, 1, 9, tzinfo=JST)
    assert dates.deadline("tso-03", at, 1, closures=False) == dt.datetime(2024, 12, 31, tzinfo=JST)
    # 23:30 UTC on Thu 2 May 2024 is Fri 3 May in Japan (a holiday): 1 business day → Tue 7 May.
    late = dt.datetime(2024, 5, 2, 23, 30, tzinfo=dt.UTC)
    assert dates.deadline("tso-06", late, 1) == dt.datetime(2024, 5, 8, tzinfo=JST)
    with pytest.raises(ValidationError) as caught:
        dates.deadline("tso-03", dt.datetime(2024, 5, 2, 12), 2)
    assert caught.value.field == "at"


def test_the_flows_deadline_helper_uses_the_tsos_calendar() -> None:
    from jointuse.flows.common import DEFAULT_SETTINGS, deadline_after

    at = dt.datetime(2024, 12, 27, 10, tzinfo=JST)
    assert deadline_after(at, 2, DEFAULT_SETTINGS, tso="tso-03") == dates.deadline("tso-03", at, 2)
    assert deadline_after(at, 2, DEFAULT_SETTINGS) == dt.datetime(2025, 1, 8, tzinfo=JST)


# --- broken data is a ConfigError naming file and line ------------------------------------------


def _texts() -> tuple[str, str]:
    lead = (DATA / dates.LEAD_TIMES_FILE).read_text(encoding="utf-8")
    cal = (DATA / dates.CALENDARS_FILE).read_text(encoding="utf-8")
    return lead, cal


def test_the_shipped_files_parse_the_same_as_loaded() -> None:
    lead, cal = _texts()
    assert dates.parse_tso_dates(lead, cal) == dates.load_tso_dates()


@pytest.mark.parametrize(
    ("which", "old", "new", "says"),
    [
        ("cal", 'code = "tso-10"', 'code = "tso-11"', "'tso-11' is not a TSO"),
        ("cal", 'code = "tso-10"', 'code = "tso-09"', "tso-09 is listed twice"),
        ("cal", '["12-29", "01-03"]', '["12-29", "13-03"]', "not a day of the year"),
        ("cal", 'unused = ["05"', 'unused = ["27"', "unused must list codes"),
        ("cal", 'last = "26"', 'last = "40"', "do not fit in a month"),
        ("cal", "saturdays = true  #", 'saturdays = "yes"  #', "true or false"),
        ("lead", "calendar_days = 2\n", "calendar_days = -2\n", "whole number of days"),
        ("lead", "business_days = 8\ncalendar_days = 0", "business_days = 8", "exactly the keys"),
        ("lead", 'code = "tso-05"', 'code = "tso-05"\nspeed = 1', "unknown key"),
        ("lead", '[[tso]]\ncode = "tso-10"', "", "no [[tso]] entry for tso-10"),
    ],
)
def test_broken_data_is_refused_with_file_and_reason(
    which: str, old: str, new: str, says: str
) -> None:
    lead, cal = _texts()
    if which == "cal":
        assert old in cal
        cal = cal.replace(old, new, 1)
    else:
        assert old in lead
        lead = lead.replace(old, new, 1)
    with pytest.raises(ConfigError) as caught:
        dates.parse_tso_dates(lead, cal)
    assert says in caught.value.message
    assert caught.value.file in (dates.LEAD_TIMES_FILE, dates.CALENDARS_FILE)


def test_a_broken_entry_is_located_by_line() -> None:
    lead, cal = _texts()
    cal = cal.replace('code = "tso-03"', 'code = "tso-3"')
    with pytest.raises(ConfigError) as caught:
        dates.parse_tso_dates(lead, cal)
    line = caught.value.line
    assert line is not None and cal.splitlines()[line] == 'code = "tso-3"'


# --- properties ----------------------------------------------------------------------------------

days = st.dates(min_value=D(2016, 4, 1), max_value=D(2035, 12, 31))


@st.composite
def tso_and_code(draw: st.DrawFn) -> tuple[str, str]:
    tso = draw(st.sampled_from(TSOS))
    return tso, draw(st.sampled_from(dates.reading_codes(tso)))


@settings(max_examples=300, deadline=None)
@given(
    tc=tso_and_code(),
    matched=days,
    klass=st.sampled_from(list(CapacityClass)),
    work=st.booleans(),
)
def test_the_switch_date_is_the_first_reading_on_or_after_the_earliest(
    tc: tuple[str, str], matched: dt.date, klass: CapacityClass, work: bool
) -> None:
    tso, code = tc
    got = dates.switch_date(tso, matched, code, klass=klass, meter_work=work)
    lead = dates.lead_time(tso, klass, work)
    assert got.basis == "meter_reading_day" and got.day == got.scheduled
    assert got.earliest > matched and got.earliest >= matched + dt.timedelta(lead.business_days)
    calendar = dates.business_calendar(tso)
    end_of_business = got.earliest - dt.timedelta(days=lead.calendar_days)
    assert calendar.is_business_day(end_of_business)
    assert calendar.business_days_between(matched, end_of_business) == lead.business_days
    # The date is that code's reading in its month, and the month before read it too early.
    assert dates.reading_day(tso, code, got.day.year, got.day.month) == got.day
    before = got.day.replace(day=1) - dt.timedelta(days=1)
    assert dates.reading_day(tso, code, before.year, before.month) < got.earliest
    assert got.day >= got.earliest


@settings(max_examples=200, deadline=None)
@given(tc=tso_and_code(), matched=days, ahead=st.integers(0, 120))
def test_a_wished_date_is_taken_exactly_when_it_is_later(
    tc: tuple[str, str], matched: dt.date, ahead: int
) -> None:
    tso, code = tc
    wished = matched + dt.timedelta(days=ahead)
    plain = dates.switch_date(tso, matched, code)
    got = dates.switch_date(tso, matched, code, wished)
    assert got.day == max(plain.day, wished)
    assert got.basis == ("wished_date" if wished > plain.day else "meter_reading_day")
