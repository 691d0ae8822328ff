"""The flows' pure building blocks: automatic 廃止取次 judgements and switching dates per second,
each beside a baseline measured in the same run.

Run:  .venv/bin/python benchmarks/judgement_dates.py [--judgements 20000] [--switches 100000]
      [--runs 5] [--seed N]

Judgements (``jointuse.flows.matching.judge``): ``--judgements`` seeded, realistic cases — a
forwarded name and address against the old retailer's record, in the variants the matching
normalises (width, kana forms, spaces, honorifics, old kanji, kanji block numbers, 1の2の3, a
building one side only, a prefecture one side only) and about one case in six a real difference
(another person, another 号 or room). Every case is distinct, and the memo caches of the
normalisation are cleared before each run: a cold rate, as 100,000 different customers would
give. Baseline: the least a judgement could do — NFKC, spaces dropped, name and address compared
for equality — over the same cases. The script checks first that the judgement's OK/NG is the
generator's expectation on every case.

Switching dates (``jointuse.flows.dates.switch_date``): ``--switches`` (TSO, matching day in
2025–2026, 検針日 code of that TSO, capacity class, meter work in one case of ten, a wished date in
one of five) with every memo cleared before each run (cold: per-year calendars, month schedules,
lead-time ends built as they are first needed), then the same again warm. Baseline: the inline
computation jointuse had before (core.calendar's former day-by-day ``add_business_days`` with
the year-end flag, then the reading day read as a day of the month) over the same inputs.

Printed: per run and as medians, items/s of each side and the ratio (ours ÷ baseline time).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import unicodedata
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from jointuse.core import calendar as core_calendar
from jointuse.core.calendar import is_holiday
from jointuse.core.ids import SupplyPointId
from jointuse.customers.model import ContractKind, RetailContract
from jointuse.flows import dates, matching
from jointuse.parties import tso_dates

SURNAMES = [
    ("高橋", "髙橋"),
    ("渡辺", "渡邊"),
    ("斎藤", "齋藤"),
    ("山崎", "山﨑"),
    ("沢田", "澤田"),
    ("浜口", "濱口"),
    ("広田", "廣田"),
    ("桜井", "櫻井"),
    ("国分", "國分"),
    ("山田", "山田"),
    ("佐藤", "佐藤"),
    ("鈴木", "鈴木"),
]
GIVEN = ["太郎", "花子", "一郎", "恵", "誠", "健", "翔", "陽子", "真一", "聡"]
TOWNS = [("千代田区", "千代田"), ("港区", "六本木"), ("世田谷区", "三軒茶屋"), ("新宿区", "西新宿")]
KANJI_DIGITS = "〇一二三四五六七八九"


def _kanji(n: int) -> str:
    if n < 10:
        return KANJI_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else KANJI_DIGITS[tens]) + "十" + (KANJI_DIGITS[ones] if ones else "")


def _cases(n: int, seed: int) -> list[tuple[dict[str, object], dict[str, object], str]]:
    """(forwarded, record, expected "ok"/"ng"), each distinct."""
    rng = random.Random(seed)
    out: list[tuple[dict[str, object], dict[str, object], str]] = []
    for i in range(n):
        new, old = SURNAMES[i % len(SURNAMES)]
        given = GIVEN[(i // len(SURNAMES)) % len(GIVEN)]
        ward, town = TOWNS[i % len(TOWNS)]
        chome, ban, go = 1 + i % 9, 1 + (i // 9) % 40, 1 + i // 360
        record_name = f"{new} {given}"
        record_rest = f"{ward}{town}{chome}-{ban}-{go}"
        variant = rng.randrange(6)
        name = [
            f"{old} {given}",
            f"{old}\u3000{given} 様",
            f"{new}{given}",
            f"{old} {given}さま",
            f"{new} {given}",
            f"{old}　{given}",
        ][variant]
        rest = [
            f"{ward}{town}{_kanji(chome)}丁目{_kanji(ban)}番{_kanji(go)}号",
            f"{ward}{town}{chome}の{ban}の{go}",
            f"{ward}{town}{chome}－{ban}－{go}".translate(
                str.maketrans("0123456789", "０１２３４５６７８９")
            ),
            f"{ward}{town}{chome}丁目{ban}番{go}号 サンハイツ{100 + i % 9}",
            f"{ward} {town} {chome}-{ban}-{go}",
            f"{ward}{town}{chome}-{ban}-{go}",
        ][rng.randrange(6)]
        expected = "ok"
        if i % 6 == 5:  # a real difference
            if rng.random() < 0.5:
                name, expected = f"{new} {GIVEN[(GIVEN.index(given) + 1) % len(GIVEN)]}", "ng"
            else:
                rest, expected = f"{ward}{town}{chome}-{ban}-{go + 1}", "ng"
        forwarded: dict[str, object] = {
            "name": {"kanji": name, "kana": ""},
            "address": {"postal_code": "100-0001", "prefecture": "東京都", "rest": rest},
            "contract_number": f"OLD-{i}",
        }
        record: dict[str, object] = {
            "name": {"kanji": record_name, "kana": ""},
            "address": {"postal_code": "100-0001", "prefecture": "東京都", "rest": record_rest},
        }
        out.append((forwarded, record, expected))
    return out


POINT = "03" + "5" * 20
CONTRACT = RetailContract(
    "OLD-0", ContractKind.STANDARD, "r-old", "c-1", SupplyPointId(POINT), date(2020, 1, 1)
)


def _judge_all(cases: list[tuple[dict[str, object], dict[str, object], str]]) -> list[str]:
    return [
        matching.judge(forwarded=f, record=r, contract=CONTRACT, point=POINT, wished_date=None)[0]
        for f, r, _ in cases
    ]


def _naive(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def _baseline_all(cases: list[tuple[dict[str, object], dict[str, object], str]]) -> list[str]:
    out = []
    for f, r, _ in cases:
        fn, rn = f["name"], r["name"]
        fa, ra = f["address"], r["address"]
        assert isinstance(fn, dict) and isinstance(rn, dict)
        assert isinstance(fa, dict) and isinstance(ra, dict)
        same = _naive(fn["kanji"]) == _naive(rn["kanji"]) and _naive(
            fa["prefecture"] + fa["rest"]
        ) == _naive(ra["prefecture"] + ra["rest"])
        out.append("ok" if same else "ng")
    return out


def _clear_matching() -> None:
    matching.normalise_text.cache_clear()
    matching.normalise_address.cache_clear()
    matching._canonical_char.cache_clear()


Switch = tuple[str, date, str, str, bool, date | None]


def _switches(n: int, seed: int) -> list[Switch]:
    rng = random.Random(seed)
    tsos = sorted(dates.load_tso_dates())
    classes = ["low_voltage"] * 8 + ["high_voltage", "extra_high_voltage"]
    out: list[Switch] = []
    for _ in range(n):
        tso = rng.choice(tsos)
        day = date(2025, 1, 1) + timedelta(days=rng.randrange(730))
        wished = day + timedelta(days=rng.randrange(5, 60)) if rng.random() < 0.2 else None
        out.append(
            (
                tso,
                day,
                rng.choice(dates.reading_codes(tso)),
                rng.choice(classes),
                rng.random() < 0.1,
                wished,
            )
        )
    return out


def _dates_all(switches: list[Switch]) -> list[date]:
    return [
        dates.switch_date(tso, day, code, wished, klass=klass, meter_work=work).day
        for tso, day, code, klass, work, wished in switches
    ]


_OLD_LEAD = {
    ("low_voltage", False): (1, 2),
    ("low_voltage", True): (8, 2),
    ("high_voltage", False): (8, 0),
    ("high_voltage", True): (20, 0),
    ("extra_high_voltage", False): (10, 0),
    ("extra_high_voltage", True): (30, 0),
}


def _old_reading_day(start: date, reading_day: int) -> date:
    year, month = start.year, start.month
    for _ in range(3):
        last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
        day = date(year, month, min(reading_day, last))
        if day >= start:
            return day
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return start


def _old_add_business_days(day: date, n: int) -> date:
    """core.calendar's add_business_days before BusinessCalendar: a day-by-day walk."""
    current, remaining = day, n
    while remaining > 0:
        current += timedelta(days=1)
        year_end = (current.month == 12 and current.day >= 29) or (
            current.month == 1 and current.day <= 3
        )
        if current.weekday() < 5 and not is_holiday(current) and not year_end:
            remaining -= 1
    return current


def _baseline_dates(switches: list[Switch]) -> list[date]:
    out = []
    for _tso, day, code, klass, work, wished in switches:
        business, calendar_days = _OLD_LEAD[(klass, work)]
        earliest = _old_add_business_days(day, business)
        earliest += timedelta(days=calendar_days)
        scheduled = _old_reading_day(earliest, int(code))
        out.append(wished if wished is not None and wished > scheduled else scheduled)
    return out


def _clear_dates() -> None:
    for fn in (
        dates.month_schedule,
        dates._switch_date,
        dates._earliest,
        dates._next_reading,
        core_calendar._business_ordinals,
        core_calendar._business_set,
        core_calendar._business_days_of_month,
        core_calendar._holidays_of_year,
    ):
        fn.cache_clear()


def _time(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--judgements", type=int, default=20000)
    parser.add_argument("--switches", type=int, default=100000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    tso_dates.load_tso_dates()  # the data files are read once per process, not timed

    cases = _cases(args.judgements, args.seed)
    got = _judge_all(cases)
    wrong = [i for i, (g, (*_, e)) in enumerate(zip(got, cases, strict=True)) if g != e]
    if wrong:
        raise SystemExit(f"judgement differs from the expectation on cases {wrong[:10]}")
    ng = got.count("ng")
    print(f"judgements: {len(cases):,} cases ({ng:,} NG expected and found); cold caches")
    ours, base = [], []
    for run in range(args.runs):
        _clear_matching()
        t = _time(lambda: _judge_all(cases))
        b = _time(lambda: _baseline_all(cases))
        ours.append(t)
        base.append(b)
        print(
            f"  run {run + 1}: judge {len(cases) / t:,.0f}/s, baseline {len(cases) / b:,.0f}/s, "
            f"ratio {t / b:.1f}×"
        )
    t, b = statistics.median(ours), statistics.median(base)
    print(
        f"  median: judge {len(cases) / t:,.0f} judgements/s, baseline {len(cases) / b:,.0f}/s, "
        f"ratio {t / b:.1f}× the baseline's time"
    )

    switches = _switches(args.switches, args.seed)
    print(f"switching dates: {len(switches):,} switches over the ten TSOs, 2025–2026")
    cold, warm, base = [], [], []
    for run in range(args.runs):
        _clear_dates()
        c = _time(lambda: _dates_all(switches))
        w = _time(lambda: _dates_all(switches))
        _clear_dates()
        b = _time(lambda: _baseline_dates(switches))
        cold.append(c)
        warm.append(w)
        base.append(b)
        n = len(switches)
        print(
            f"  run {run + 1}: cold {n / c:,.0f}/s, warm {n / w:,.0f}/s, "
            f"baseline {n / b:,.0f}/s, ratio cold {c / b:.2f}×, warm {w / b:.2f}×"
        )
    c, w, b = statistics.median(cold), statistics.median(warm), statistics.median(base)
    n = len(switches)
    print(
        f"  median: cold {n / c:,.0f} dates/s, warm {n / w:,.0f}/s, baseline {n / b:,.0f}/s; "
        f"ratio cold {c / b:.2f}×, warm {w / b:.2f}× the baseline's time"
    )


if __name__ == "__main__":
    main()
