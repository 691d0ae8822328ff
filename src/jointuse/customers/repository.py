"""Every query of the customer registry (SQLAlchemy Core on the caller's connection).

Nothing here decides anything or writes the ledger: callers are the gate's loaders
(:mod:`jointuse.access.gate`), the relation providers (:mod:`jointuse.customers.relations`) and
the use cases of :mod:`jointuse.customers.service`, which run them only after the gate allowed
the access. Rows are turned back into the domain objects of :mod:`jointuse.customers.model`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from jointuse.core.db import HotQuery, HotStatement, hot_insert_statement
from jointuse.core.ids import SupplyPointId
from jointuse.customers.model import (
    Address,
    ContractCapacity,
    ContractKind,
    Customer,
    Membership,
    MeterInfo,
    PhoneNumber,
    PostalCode,
    RetailContract,
    SupplyPoint,
)
from jointuse.customers.tables import (
    customer,
    retail_contract,
    supply_point,
)

# --- customers --------------------------------------------------------------------------------


def _basic_values(c: Customer) -> dict[str, Any]:
    return {
        "name": c.name,
        "name_kana": c.name_kana,
        "postal_code": c.address.postal_code.value,
        "prefecture": c.address.prefecture,
        "address_rest": c.address.rest,
        "phone": c.phone.national,
        "membership": c.membership.value,
    }


def _customer_values(c: Customer, created_by: str, created_at: datetime) -> dict[str, Any]:
    return {
        "id": c.customer_id,
        **_basic_values(c),
        "created_by": created_by,
        "created_at": created_at,
    }


def _customer(row: Row[Any]) -> Customer:
    m = row._mapping
    return Customer(
        customer_id=m["id"],
        name=m["name"],
        name_kana=m["name_kana"],
        address=Address(PostalCode(m["postal_code"]), m["prefecture"], m["address_rest"]),
        phone=PhoneNumber(m["phone"]),
        membership=Membership(m["membership"]),
    )


# The basic items (the keys of _basic_values).
_BASIC_ITEMS = (
    "name",
    "name_kana",
    "postal_code",
    "prefecture",
    "address_rest",
    "phone",
    "membership",
)
_INSERT_CUSTOMER = hot_insert_statement(customer, ("id", *_BASIC_ITEMS, "created_by", "created_at"))
_UPDATE_CUSTOMER = (
    update(customer)
    .where(customer.c.id == bindparam("_id"))
    .values({k: bindparam(k) for k in _BASIC_ITEMS})
)


def insert_customer(
    conn: Connection, c: Customer, *, created_by: str, created_at: datetime
) -> None:
    _INSERT_CUSTOMER.run(conn, _customer_values(c, created_by, created_at))


def update_customer(conn: Connection, c: Customer) -> None:
    """Update the basic items of an existing customer (its id, creator and creation stay)."""
    conn.execute(_UPDATE_CUSTOMER, {"_id": c.customer_id, **_basic_values(c)})


_CUSTOMER_BY_ID = select(customer).where(customer.c.id == bindparam("customer_id"))


def get_customer(conn: Connection, customer_id: str) -> Customer | None:
    row = conn.execute(_CUSTOMER_BY_ID, {"customer_id": customer_id}).first()
    return _customer(row) if row is not None else None


def customer_creator(conn: Connection, customer_id: str) -> str | None:
    """The retailer that registered the customer, or None if there is no such customer."""
    return conn.execute(
        select(customer.c.created_by).where(customer.c.id == customer_id)
    ).scalar_one_or_none()


# --- contracts --------------------------------------------------------------------------------


def _contract_values(c: RetailContract) -> dict[str, Any]:
    return {
        "retailer_code": c.retailer_code,
        "contract_number": c.contract_number,
        "kind": c.kind.value,
        "customer_id": c.customer_id,
        "supply_point_id": c.supply_point_id.value,
        "valid_from": c.valid_from,
        "valid_to": c.valid_to,
    }


def _contract(m: Mapping[str, Any]) -> RetailContract:
    return RetailContract(
        contract_number=m["contract_number"],
        kind=ContractKind(m["kind"]),
        retailer_code=m["retailer_code"],
        customer_id=m["customer_id"],
        supply_point_id=SupplyPointId(m["supply_point_id"]),
        valid_from=m["valid_from"],
        valid_to=m["valid_to"],
    )


_INSERT_CONTRACT = hot_insert_statement(
    retail_contract,
    (
        "retailer_code",
        "contract_number",
        "kind",
        "customer_id",
        "supply_point_id",
        "valid_from",
        "valid_to",
    ),
)


def insert_contract(conn: Connection, c: RetailContract) -> None:
    _INSERT_CONTRACT.run(conn, _contract_values(c))


_VALID_TO = bindparam("valid_to", type_=retail_contract.c.valid_to.type)
_END_CONTRACT = HotStatement(
    update(retail_contract)
    .where(
        retail_contract.c.retailer_code == bindparam("_retailer"),
        retail_contract.c.contract_number == bindparam("_number"),
        or_(retail_contract.c.valid_to.is_(None), retail_contract.c.valid_to > _VALID_TO),
        retail_contract.c.valid_from < _VALID_TO,
    )
    .values(valid_to=_VALID_TO)
)


def end_contract(
    conn: Connection, retailer_code: str, contract_number: str, valid_to: date
) -> bool:
    """End the contract at ``valid_to`` (exclusive) if it runs past it; False if it does not
    (already ended earlier, or unknown)."""
    changed = _END_CONTRACT.run(
        conn, {"_retailer": retailer_code, "_number": contract_number, "valid_to": valid_to}
    )
    return bool(changed)


def contract_on(conn: Connection, supply_point_id: str, day: date) -> RetailContract | None:
    """The contract of the point in force on JST ``day`` (at most one: contracts of a point do
    not overlap)."""
    for c in contracts_for(conn, supply_point_id=supply_point_id):
        if c.active_on(day):
            return c
    return None


def get_contract(
    conn: Connection, retailer_code: str, contract_number: str
) -> RetailContract | None:
    rows = _CONTRACT_BY_NUMBER.mappings(
        conn, {"retailer_code": retailer_code, "contract_number": contract_number}
    )
    return _contract(rows[0]) if rows else None


_CONTRACT_BY_NUMBER = HotQuery(
    select(retail_contract).where(
        retail_contract.c.retailer_code == bindparam("retailer_code"),
        retail_contract.c.contract_number == bindparam("contract_number"),
    )
)
# The hot-path statements are built once (module level, bound parameters): building and
# cache-keying a statement per call costs more than SQLite takes to run it.
_rc = retail_contract.c
_CONTRACTS_BY_POINT = HotQuery(
    select(retail_contract)
    .where(_rc.supply_point_id == bindparam("supply_point_id"))
    .order_by(_rc.valid_from)
)
_CONTRACTS_BY_CUSTOMER = HotQuery(
    select(retail_contract)
    .where(_rc.customer_id == bindparam("customer_id"))
    .order_by(_rc.valid_from)
)
_CONTRACTS_BY_POINT_OR_CUSTOMER = HotQuery(
    select(retail_contract)
    .where(
        or_(
            _rc.supply_point_id == bindparam("supply_point_id"),
            _rc.customer_id == bindparam("customer_id"),
        )
    )
    .order_by(_rc.valid_from)
)


def contracts_for(
    conn: Connection, *, supply_point_id: str | None = None, customer_id: str | None = None
) -> list[RetailContract]:
    """Contracts of a supply point and/or a customer (one indexed query), oldest first."""
    if supply_point_id is not None and customer_id is not None:
        rows = _CONTRACTS_BY_POINT_OR_CUSTOMER.mappings(
            conn, {"supply_point_id": supply_point_id, "customer_id": customer_id}
        )
    elif supply_point_id is not None:
        rows = _CONTRACTS_BY_POINT.mappings(conn, {"supply_point_id": supply_point_id})
    elif customer_id is not None:
        rows = _CONTRACTS_BY_CUSTOMER.mappings(conn, {"customer_id": customer_id})
    else:
        return []
    return [_contract(r) for r in rows]


def overlapping_contracts(conn: Connection, c: RetailContract) -> list[RetailContract]:
    """Contracts of the same supply point whose period overlaps ``c``'s (other than ``c``)."""
    return [
        other
        for other in contracts_for(conn, supply_point_id=c.supply_point_id.value)
        if (other.retailer_code, other.contract_number) != (c.retailer_code, c.contract_number)
        and (c.valid_to is None or other.valid_from < c.valid_to)
        and (other.valid_to is None or c.valid_from < other.valid_to)
    ]


# --- supply points ----------------------------------------------------------------------------


def _point_values(p: SupplyPoint) -> dict[str, Any]:
    cap, meter = p.contract_capacity, p.meter_info
    return {
        "id": p.supply_point_id.value,
        "area_code": p.supply_area,
        "remote_island_tariff": p.remote_island_tariff,
        "capacity_value": cap.value if cap else None,
        "capacity_unit": cap.unit if cap else None,
        "current_limit": p.current_limit,
        "service_menu": p.service_menu,
        "power_factor": p.power_factor,
        "supply_method": p.supply_method,
        "capacity_determination_method": p.capacity_determination_method,
        "meter_number": meter.meter_number if meter else None,
        "meter_smart": meter.smart_meter if meter else None,
        "meter_multiplier": meter.multiplier if meter else None,
        "lead_in_pole_number": p.lead_in_pole_number,
        "grid_connected_generation": p.grid_connected_generation,
        "wheeling_change_date": p.wheeling_change_date,
        "meter_reading_day": p.meter_reading_day,
        "contract_state": p.contract_state,
        "disconnection_method": p.disconnection_method,
    }


def _point(m: Mapping[str, Any]) -> SupplyPoint:
    cap = None
    if m["capacity_value"] is not None:
        # The stored NUMERIC(18, 3) back in its shortest form ("30.000" → "30", "5.500" → "5.5").
        value = Decimal(m["capacity_value"])
        value = (
            value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()
        )
        cap = ContractCapacity(value, m["capacity_unit"])
    meter = None
    if m["meter_number"] is not None:
        meter = MeterInfo(m["meter_number"], bool(m["meter_smart"]), int(m["meter_multiplier"]))
    change: date | None = m["wheeling_change_date"]
    return SupplyPoint(
        supply_point_id=SupplyPointId(m["id"]),
        supply_area=m["area_code"],
        service_menu=m["service_menu"],
        supply_method=m["supply_method"],
        capacity_determination_method=m["capacity_determination_method"],
        contract_state=m["contract_state"],
        remote_island_tariff=bool(m["remote_island_tariff"]),
        contract_capacity=cap,
        current_limit=m["current_limit"],
        power_factor=m["power_factor"],
        meter_info=meter,
        lead_in_pole_number=m["lead_in_pole_number"],
        grid_connected_generation=bool(m["grid_connected_generation"]),
        wheeling_change_date=change,
        meter_reading_day=m["meter_reading_day"],
        disconnection_method=m["disconnection_method"],
    )


_POINT_BY_ID = HotQuery(
    select(supply_point).where(supply_point.c.id == bindparam("supply_point_id"))
)


def get_supply_point(conn: Connection, supply_point_id: str) -> SupplyPoint | None:
    rows = _POINT_BY_ID.mappings(conn, {"supply_point_id": supply_point_id})
    return _point(rows[0]) if rows else None


_INSERT_POINT = insert(supply_point)
# Every column but the key, each parameter typed as its column (``HotStatement``).
_UPDATE_POINT = HotStatement(
    update(supply_point)
    .where(supply_point.c.id == bindparam("_id"))
    .values({c.name: bindparam(c.name, type_=c.type) for c in supply_point.c if c.name != "id"})
)


def save_supply_point(
    conn: Connection, p: SupplyPoint, *, updated_by: str, updated_at: datetime
) -> bool:
    """Insert or update the point; True if it was created. Update first (one statement in the
    common case); else insert in a savepoint — and if a concurrent request inserted the point
    meanwhile (its primary key refuses ours), update it after all: two simultaneous registrations
    of one new point both succeed, one creating it, the other updating it."""
    values = _point_values(p) | {"updated_by": updated_by, "updated_at": updated_at}
    params = {**values, "_id": values["id"]}
    if _UPDATE_POINT.run(conn, params):
        return False
    savepoint = conn.begin_nested()
    try:
        conn.execute(_INSERT_POINT, values)
    except IntegrityError:
        savepoint.rollback()
        _UPDATE_POINT.run(conn, params)
        return False
    savepoint.commit()
    return True


# --- bulk (administrative seeding) ------------------------------------------------------------


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def bulk_insert(
    conn: Connection,
    *,
    customers: Sequence[Customer],
    contracts: Sequence[RetailContract],
    supply_points: Sequence[SupplyPoint],
    created_by: Mapping[str, str],
    operator: str,
    at: datetime,
    chunk_size: int = 5000,
) -> tuple[int, int, int]:
    """executemany in chunks: points, customers, then contracts (foreign-key order).

    ``created_by`` maps a customer id to the retailer that registered it (``operator`` when
    absent); points are recorded as updated by ``operator``."""
    for chunk in _chunks(
        (_point_values(p) | {"updated_by": operator, "updated_at": at} for p in supply_points),
        chunk_size,
    ):
        conn.execute(insert(supply_point), chunk)
    rows = (_customer_values(c, created_by.get(c.customer_id, operator), at) for c in customers)
    for chunk in _chunks(rows, chunk_size):
        conn.execute(insert(customer), chunk)
    for chunk in _chunks((_contract_values(c) for c in contracts), chunk_size):
        conn.execute(insert(retail_contract), chunk)
    return len(customers), len(contracts), len(supply_points)
