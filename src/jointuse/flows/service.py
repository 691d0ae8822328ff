"""The flows area's facade for the edges (API, CLI): reads of flows by their parties, bulk
filings (one unit of work per row, a result per row), CSV in and out, and party settings.

The use cases themselves are in :mod:`jointuse.flows.filing` (filing) and
:mod:`jointuse.flows.steps` (judging, dating, refusing, withdrawing, completing, expiring); the
clock's in :mod:`jointuse.flows.scheduler`.

Reading a flow: a flow's kind, state, dates, deadline and transitions are not personal data;
they are shown to the parties of the flow (the filer, the counterpart, the old retailer of a
廃止取次, the area's TSO, OCCTO) and to nobody else (404: an outsider does not learn that a flow
exists). What a flow carries that *is* personal data — the forwarded name and address, the
customer record — is read through the gate (:func:`read_forwarding`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from jointuse.access.gate import Gate, GateResult
from jointuse.access.relations import TargetRef
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import JointuseError, NotFound, ValidationError
from jointuse.customers.model import Address, ContractKind, Customer
from jointuse.customers.service import as_caller
from jointuse.flows import repository as repo
from jointuse.flows.common import P2, flow_view, generated_customer_id, parties_of
from jointuse.flows.filing import Filed, SwitchFiling
from jointuse.flows.repository import Flow, Forwarding
from jointuse.messages.idempotency import Answer, IdempotentRequest, KeyedCaller, keyed
from jointuse.policy.engine import Party

_Caller = TypeVar("_Caller", bound=KeyedCaller)


def read_flow(conn: Connection, *, actor: Party, flow_id: str) -> dict[str, Any]:
    """The flow, with its 廃止取次's number and result and every transition, for its parties."""
    flow = repo.get_flow(conn, flow_id) if 0 < len(flow_id) <= 64 else None
    forwarding = repo.forwarding_of(conn, flow.id) if flow is not None else None
    if flow is None or actor.code not in parties_of(flow, forwarding):
        raise NotFound(f"no flow {flow_id[:64]!r} of yours", flow_id=flow_id[:64])
    return flow_view(flow, forwarding, repo.transitions(conn, flow.id))


def read_forwarding(
    uow: UnitOfWork,
    *,
    gate: Gate,
    actor: Party,
    forwarding_id: str,
    items: frozenset[str] | None,
    request_id: str,
    at: datetime,
) -> tuple[Forwarding, GateResult]:
    """A 廃止取次 through the gate (P2): the old retailer reads what was forwarded to it, the new
    retailer and the TSO the judgement, OCCTO both — each only what the policy grants."""
    fw = repo.get_forwarding(uow.connection, forwarding_id) if len(forwarding_id) <= 20 else None
    flow = repo.get_flow(uow.connection, fw.flow_id) if fw is not None else None
    if fw is None or flow is None:
        raise NotFound(f"no cancellation forwarding {forwarding_id[:20]!r}")
    result = gate.read(
        uow,
        actor=actor,
        purpose=P2,
        target=TargetRef(flow.supply_point_id, None, flow.id),
        items=items,
        request_id=request_id,
        at=at,
    )
    return fw, result


def list_flows(
    conn: Connection,
    *,
    actor: Party,
    kind: str | None = None,
    state: str | None = None,
    limit: int = 10_000,
) -> list[tuple[Flow, Forwarding | None]]:
    """The flows ``actor`` filed or is the counterpart of, with their 廃止取次 (newest first)."""
    return repo.flows_of_party(conn, actor.code, kind=kind, state=state, limit=limit)


def set_auto_judge(uow: UnitOfWork, *, actor: Party, auto: bool, at: datetime) -> None:
    """A retailer chooses whether the 廃止取次 addressed to it are judged automatically."""
    if actor.kind != "retailer":
        raise ValidationError(
            "only a retailer judges cancellation forwardings",
            field="auto_judge",
            valid="a retailer's own setting",
        )
    repo.set_auto_judge(uow.connection, actor.code, auto, at)


# --- bulk ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowResult:
    row: int
    status: int
    flow_id: str | None = None
    forwarding_id: str | None = None
    code: str | None = None
    field: str | None = None
    message: str | None = None


def run_rows(
    engine: Engine,
    authenticate: Callable[[Connection], _Caller],
    rows: Sequence[Callable[[UnitOfWork, _Caller], Filed] | JointuseError],
    idempotency: IdempotentRequest | None = None,
) -> list[RowResult]:
    """Each row in a unit of work of its own (one bad row does not undo the others; each
    refusal is on the ledger as the gate records it), a result per row (1-based).

    Under an ``Idempotency-Key`` (``idempotency``) the call is registered under the key first
    (the same key with another body is refused as a whole, 422), then each row runs under
    ``<key>#<n>``: a retried call replays the rows that were filed and runs the others."""
    if idempotency is not None:
        as_caller(engine, authenticate, keyed(idempotency, _registered(len(rows))))
    out: list[RowResult] = []
    for n, row in enumerate(rows, start=1):
        if isinstance(row, JointuseError):
            out.append(_refused(n, row))
            continue
        try:
            done = as_caller(
                engine,
                authenticate,
                keyed(idempotency.for_row(n) if idempotency else None, _filed(row)),
            )
        except JointuseError as exc:
            out.append(_refused(n, exc))
            continue
        out.append(RowResult(n, done.status, done.body["flow_id"], done.body["forwarding_id"]))
    return out


def _registered(n: int) -> Callable[[UnitOfWork, Any], Answer]:
    def register(uow: UnitOfWork, caller: Any) -> Answer:
        return Answer(202, {"rows": n})

    return register


def _filed(row: Callable[[UnitOfWork, _Caller], Filed]) -> Callable[[UnitOfWork, _Caller], Answer]:
    def run(uow: UnitOfWork, caller: _Caller) -> Answer:
        filed = row(uow, caller)
        return Answer(201, {"flow_id": filed.flow.id, "forwarding_id": filed.forwarding_id})

    return run


def _refused(n: int, exc: JointuseError) -> RowResult:
    status = 400 if exc.details.get("reason") in ("purpose_missing", "purpose_unknown") else None
    return RowResult(
        n,
        status or int(exc.status),
        code=str(exc.details.get("rule") or exc.code),
        field=exc.details.get("field"),
        message=exc.message,
    )


# --- CSV -------------------------------------------------------------------------------------

SWITCH_CSV_COLUMNS = (
    "supply_point_id",
    "customer_id",
    "name",
    "name_kana",
    "postal_code",
    "prefecture",
    "address",
    "phone",
    "new_contract_number",
    "contract_kind",
    "old_contract_number",
    "forwarded_name",
    "forwarded_name_kana",
    "forwarded_postal_code",
    "forwarded_prefecture",
    "forwarded_address",
    "wished_date",
    "meter_work",
    "capacity_class",
)
_REQUIRED = (
    "supply_point_id",
    "name",
    "name_kana",
    "postal_code",
    "prefecture",
    "address",
    "phone",
    "new_contract_number",
    "old_contract_number",
)


def decode_csv(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Shift_JIS/CP932 — what Japanese systems export."""
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationError(
        "the file is neither UTF-8 nor Shift_JIS (CP932)", field="file", valid="UTF-8 or CP932"
    )


def parse_switch_csv(text: str) -> list[SwitchFiling | ValidationError]:
    """One :class:`SwitchFiling` (or the row's refusal, naming line and column) per data row; a
    file that is not CSV at all (a bare carriage return or a NUL in a field …) is refused whole,
    naming the line (a 422, not a 500)."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return _parse_switch_rows(reader)
    except csv.Error as exc:
        raise ValidationError(
            f"CSV line {reader.line_num}: {exc}",
            field="file",
            valid="CSV (RFC 4180) with a header row; quote fields holding line breaks",
        ) from None


def _parse_switch_rows(reader: csv.DictReader[str]) -> list[SwitchFiling | ValidationError]:
    header = [h.strip() for h in reader.fieldnames or ()]
    missing = [c for c in _REQUIRED if c not in header]
    unknown = [c for c in header if c not in SWITCH_CSV_COLUMNS]
    if missing or unknown:
        raise ValidationError(
            f"CSV header: missing {', '.join(missing) or '-'}; unknown {', '.join(unknown) or '-'}",
            field="header",
            valid=list(SWITCH_CSV_COLUMNS),
        )
    out: list[SwitchFiling | ValidationError] = []
    for line, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        try:
            out.append(switch_from_row(row))
        except ValidationError as exc:
            exc.details["line"] = line
            exc.message = f"line {line}: {exc.message}"
            out.append(exc)
    return out


def _flag(value: str, field: str) -> bool:
    if value.lower() in ("", "0", "false", "no", "n"):
        return False
    if value.lower() in ("1", "true", "yes", "y"):
        return True
    raise ValidationError(
        f"{field} {value!r} is not a yes/no", field=field, valid="1/0, true/false"
    )


def _day(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.replace("/", "-"))
    except ValueError:
        raise ValidationError(
            f"{field} {value!r} is not a date", field=field, valid="YYYY-MM-DD"
        ) from None


def switch_from_row(row: dict[str, str]) -> SwitchFiling:
    customer = Customer.create(
        customer_id=row.get("customer_id") or generated_customer_id(),
        name=row["name"],
        name_kana=row["name_kana"],
        postal_code=row["postal_code"],
        prefecture=row["prefecture"],
        address_rest=row["address"],
        phone=row["phone"],
        membership="non_member",
    )
    fwd_address = None
    if row.get("forwarded_address"):
        fwd_address = Address.create(
            postal_code=row.get("forwarded_postal_code") or row["postal_code"],
            prefecture=row.get("forwarded_prefecture") or row["prefecture"],
            rest=row["forwarded_address"],
        )
    klass = row.get("capacity_class") or "low_voltage"
    if klass not in ("low_voltage", "high_voltage", "extra_high_voltage"):
        raise ValidationError(
            f"capacity_class {klass!r} is unknown",
            field="capacity_class",
            valid=["low_voltage", "high_voltage", "extra_high_voltage"],
        )
    try:
        kind = ContractKind(row.get("contract_kind") or "standard")
    except ValueError:
        raise ValidationError(
            f"contract_kind {row.get('contract_kind')!r} is unknown",
            field="contract_kind",
            valid=[k.value for k in ContractKind],
        ) from None
    return SwitchFiling(
        supply_point_id=row["supply_point_id"],
        customer=customer,
        new_contract_number=row["new_contract_number"],
        old_contract_number=row["old_contract_number"],
        contract_kind=kind,
        wished_date=_day(row.get("wished_date", ""), "wished_date"),
        meter_work=_flag(row.get("meter_work", ""), "meter_work"),
        customer_id_given=bool(row.get("customer_id")),
        forwarded_name=row.get("forwarded_name") or None,
        forwarded_name_kana=row.get("forwarded_name_kana") or None,
        forwarded_address=fwd_address,
        capacity_class=klass,
    )


RESULT_CSV_COLUMNS = (
    "flow_id",
    "kind",
    "state",
    "supply_point_id",
    "filed_by",
    "counterpart",
    "forwarding_id",
    "judgement",
    "ng_reasons",
    "wished_date",
    "fixed_date",
    "filed_at",
    "judged_at",
    "date_fixed_at",
    "closed_at",
    "deadline",
    "steps",
)


def flows_csv(
    conn: Connection, *, actor: Party, flows: Iterable[tuple[Flow, Forwarding | None]]
) -> str:
    """The results a filer or counterpart downloads: states, 廃止取次 numbers, NG reason codes
    and each step's time (``steps``: ``step@time`` in order)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(RESULT_CSV_COLUMNS)
    for flow, fw in flows:
        steps = repo.transitions(conn, flow.id)
        fixed_at = next((t.at for t in steps if t.step == "fix_date"), None)
        writer.writerow(
            [
                flow.id,
                flow.kind.value,
                flow.state.value,
                flow.supply_point_id,
                flow.filed_by,
                flow.counterpart or "",
                fw.id if fw else "",
                fw.result or "" if fw else "",
                " ".join(fw.reasons) if fw else "",
                flow.wished_date or "",
                flow.fixed_date or "",
                flow.filed_at.isoformat(),
                fw.judged_at.isoformat() if fw and fw.judged_at else "",
                fixed_at.isoformat() if fixed_at else "",
                flow.closed_at.isoformat() if flow.closed_at else "",
                flow.deadline.isoformat() if flow.deadline else "",
                ";".join(f"{t.step}@{t.at.isoformat()}" for t in steps),
            ]
        )
    return out.getvalue()


__all__ = [
    "RESULT_CSV_COLUMNS",
    "SWITCH_CSV_COLUMNS",
    "RowResult",
    "decode_csv",
    "flows_csv",
    "parse_switch_csv",
    "read_flow",
    "read_forwarding",
    "run_rows",
    "set_auto_judge",
    "switch_from_row",
]
