"""Contracts in force at go-live: the operator's import (the only way besides completed market
flows that a retail contract comes into the registry).

A retailer cannot make itself a point's contract holder: the import is run by the area's TSO or by
the platform operator (``jointuse contracts import FILE --as tso-03|--operator``), every row is
checked, nothing is imported if any row is bad (each bad row named with its line), and each
imported contract is one ledger entry.

CSV columns (UTF-8 or Shift_JIS/CP932, header row required): ``customer_id, name, name_kana,
postal_code, prefecture, address, phone, membership, retailer, contract_number, contract_kind,
supply_point_id, valid_from`` (``membership`` and ``contract_kind`` may be empty: non_member,
standard).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine

from jointuse.core.db import UnitOfWork
from jointuse.core.errors import ValidationError
from jointuse.core.ids import SupplyPointId
from jointuse.customers import repository
from jointuse.customers.model import (
    BASIC_ITEM_KEYS,
    ContractKind,
    Customer,
    RetailContract,
    normalise_contract_number,
)
from jointuse.ledger.chain import LedgerEntry
from jointuse.ledger.service import append

PLATFORM_OPERATOR = "jointuse-operator"
IMPORT_PURPOSE = "admin:contract_import"


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One contract in force at go-live, with its customer's basic information."""

    customer: Customer
    contract: RetailContract
    line: int | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    line: int | None
    field: str | None
    message: str


class ImportRefused(ValidationError):
    """Rows of an import that cannot be taken; nothing was imported. ``errors`` names each."""

    code = "import_refused"

    def __init__(self, errors: Sequence[RowError]) -> None:
        first = errors[0]
        super().__init__(
            f"{len(errors)} row(s) refused, nothing imported; first: line {first.line}: "
            f"{first.message}",
            field=first.field,
            rows=[{"line": e.line, "field": e.field, "message": e.message} for e in errors],
        )
        self.errors = tuple(errors)


def import_contracts(
    uow: UnitOfWork, *, by: str, rows: Sequence[ImportRow], request_id: str, at: datetime
) -> int:
    """Bring the contracts existing at go-live into the registry (all or nothing).

    ``by`` is the area's TSO (every row's point must be in its area) or the platform operator
    (:data:`PLATFORM_OPERATOR`); never a retailer: a retailer cannot make itself a point's
    contract holder. Each row's supply point must be registered; its customer is created (as the
    contract's retailer's record) or, if that retailer registered it already, updated; a customer
    ID of another retailer's record, or a contract overlapping another of the point, refuses the
    row (the rule's name, :mod:`jointuse.core.conflicts`). Every row is tried (in a savepoint of
    its own) so the report names every bad row; if any is bad, nothing is imported
    (:class:`ImportRefused`, and the unit of work rolls back). Each imported
    contract is one ledger entry (party ``by``, purpose ``admin:contract_import``, the basic items
    written, the point and the customer). Returns the number imported.
    """
    from sqlalchemy.exc import IntegrityError

    from jointuse.core.conflicts import conflict_from
    from jointuse.core.errors import JointuseError
    from jointuse.parties.reference import tso_for_area

    if by != PLATFORM_OPERATOR and not by.startswith("tso-"):
        raise ValidationError(
            f"{by!r} cannot import contracts",
            field="by",
            valid=f"the area's TSO (tso-01 … tso-10) or {PLATFORM_OPERATOR}",
        )
    conn = uow.connection
    errors: list[RowError] = []
    done: list[ImportRow] = []
    for row in rows:
        c, k = row.customer, row.contract
        savepoint = conn.begin_nested()
        try:
            point = k.supply_point_id.value
            if by != PLATFORM_OPERATOR and tso_for_area(k.supply_point_id.area_code) != by:
                raise ValidationError(
                    f"supply point {point} is not in {by}'s area",
                    field="supply_point_id",
                    valid=f"points of {by}'s area",
                )
            if c.customer_id != k.customer_id:
                raise ValidationError(
                    f"the contract is for customer {k.customer_id!r}, not {c.customer_id!r}",
                    field="customer_id",
                )
            if repository.get_supply_point(conn, point) is None:
                raise ValidationError(
                    f"supply point {point} is not registered (its TSO registers it first)",
                    field="supply_point_id",
                )
            creator = repository.customer_creator(conn, c.customer_id)
            if creator is None:
                repository.insert_customer(conn, c, created_by=k.retailer_code, created_at=at)
            elif creator == k.retailer_code:
                repository.update_customer(conn, c)
            else:
                raise ValidationError(
                    f"customer id {c.customer_id!r} is another retailer's record",
                    field="customer_id",
                )
            repository.insert_contract(conn, k)
            savepoint.commit()
            done.append(row)
        except IntegrityError as exc:
            savepoint.rollback()
            conflict = conflict_from(exc)
            if conflict is None:
                raise
            errors.append(RowError(row.line, conflict.rule, conflict.message))
        except JointuseError as exc:
            savepoint.rollback()
            errors.append(RowError(row.line, exc.details.get("field"), exc.message))
    if errors:
        raise ImportRefused(errors)
    for row in done:
        append(
            conn,
            LedgerEntry(
                party=by,
                purpose=IMPORT_PURPOSE,
                action="write",
                decision="allowed",
                supply_point_id=row.contract.supply_point_id.value,
                customer_id=row.customer.customer_id,
                items_granted=BASIC_ITEM_KEYS,
                rule_id=IMPORT_PURPOSE,
                request_id=request_id,
            ),
        )
    return len(done)


CSV_COLUMNS = (
    "customer_id",
    "name",
    "name_kana",
    "postal_code",
    "prefecture",
    "address",
    "phone",
    "membership",
    "retailer",
    "contract_number",
    "contract_kind",
    "supply_point_id",
    "valid_from",
)


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Shift_JIS (CP932) — what Japanese systems export."""
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationError(
        "the file is neither UTF-8 nor Shift_JIS (CP932)", field="file", valid="UTF-8 or CP932"
    )


def parse_csv(text: str) -> tuple[list[ImportRow], list[RowError]]:
    """The rows of an import file, and the rows that do not parse (with their line)."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or ()]
    missing = [
        c for c in CSV_COLUMNS if c not in header and c not in ("membership", "contract_kind")
    ]
    if missing:
        raise ValidationError(
            f"CSV header lacks {', '.join(missing)}", field="header", valid=list(CSV_COLUMNS)
        )
    rows: list[ImportRow] = []
    errors: list[RowError] = []
    for line, raw in enumerate(reader, start=2):
        r = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        try:
            customer = Customer.create(
                customer_id=r["customer_id"],
                name=r["name"],
                name_kana=r["name_kana"],
                postal_code=r["postal_code"],
                prefecture=r["prefecture"],
                address_rest=r["address"],
                phone=r["phone"],
                membership=r.get("membership") or "non_member",
            )
            try:
                valid_from = date.fromisoformat(r["valid_from"].replace("/", "-"))
            except ValueError:
                raise ValidationError(
                    f"valid_from {r['valid_from']!r} is not a date",
                    field="valid_from",
                    valid="YYYY-MM-DD",
                ) from None
            contract = RetailContract(
                contract_number=normalise_contract_number(r["contract_number"]),
                kind=ContractKind(r.get("contract_kind") or "standard"),
                retailer_code=r["retailer"],
                customer_id=customer.customer_id,
                supply_point_id=SupplyPointId.parse(r["supply_point_id"]),
                valid_from=valid_from,
            )
        except ValidationError as exc:
            errors.append(RowError(line, exc.field, exc.message))
            continue
        except ValueError as exc:  # an unknown contract kind
            errors.append(RowError(line, "contract_kind", str(exc)))
            continue
        rows.append(ImportRow(customer, contract, line))
    return rows, errors


def import_file(engine: Engine, data: bytes, *, by: str, request_id: str, at: datetime) -> int:
    """Parse and import a CSV file in one unit of work (all or nothing)."""
    rows, errors = parse_csv(decode(data))
    if errors:
        raise ImportRefused(errors)
    if not rows:
        raise ValidationError("the file holds no contracts", field="file", valid="one row or more")
    with UnitOfWork(engine) as uow:
        return import_contracts(uow, by=by, rows=rows, request_id=request_id, at=at)
