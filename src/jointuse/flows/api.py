"""HTTP routes of the market flows — thin: parse, hand the use case to the service layer, shape.

=====================================  ============================  ==============================
route                                  who                           what
=====================================  ============================  ==============================
``POST /v1/switches``                  the new retailer              スイッチング開始 + 廃止取次
``POST /v1/switches/bulk``             the new retailer              many (JSON), a result per row
``POST /v1/switches/csv``              the new retailer              many (CSV, UTF-8 or CP932)
``POST /v1/move-ins``                  a retailer                    再点 (遡及再点 ≤ 31 days)
``POST /v1/move-outs``                 the contract holder           廃止 (撤去 or not)
``POST /v1/ampere-changes``            the contract holder           アンペア変更
``POST /v1/info-changes``              the controller of basic info  需要者情報変更
``GET  /v1/flows``, ``/v1/flows/csv``  filer / counterpart           own flows, results CSV
``GET  /v1/flows/{id}``                the flow's parties            state, transitions
``POST /v1/flows/{id}/withdraw``       the filer                     before the date
``POST /v1/flows/{id}/date``           the area's TSO                fix the date
``POST /v1/flows/{id}/refusal``        the area's TSO                refuse, with the reason
``GET  /v1/forwardings/{id}``          by the policy (P2)            the 廃止取次, through the gate
``POST /v1/forwardings/{id}/judgement`` the old retailer             OK / NG / automatic
``PUT  /v1/switching-settings``        a retailer                    judge automatically or not
=====================================  ============================  ==============================

Each write is one unit of work through the gate, on the ledger; a refusal the business gives is
recorded as allowed-then-failed; a step the flow's state does not allow is a 409 with the state
and the allowed steps; a second flow in flight for one point is the 409 of the database's rule.
Every write takes an ``Idempotency-Key`` (:mod:`jointuse.messages.idempotency`): the same key and
body answer the first answer again, with no second effect; a bulk call keys each of its rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response, status

from jointuse.core.db import UnitOfWork
from jointuse.core.errors import ValidationError
from jointuse.core.http import Caller, Credentials, request_credentials, run_unit
from jointuse.customers.model import Address, ContractKind, Customer
from jointuse.customers.schemas import CustomerIn
from jointuse.customers.service import as_caller
from jointuse.flows import filing, service, steps
from jointuse.flows.common import flow_view, generated_customer_id
from jointuse.flows.filing import Filed, InfoChange, MoveInFiling, SwitchFiling
from jointuse.flows.schemas import (
    AddressIn,
    AmpereChangeIn,
    BulkOut,
    DateIn,
    FlowOut,
    InfoChangeIn,
    JudgementIn,
    MoveInIn,
    MoveOutIn,
    ReasonIn,
    RowOut,
    SettingsIn,
    SwitchIn,
)
from jointuse.messages.idempotency_http import IdempotencyDep, answer_value

router = APIRouter(prefix="/v1", tags=["market flows (スイッチング支援)"])
CredentialsDep = Annotated[Credentials, Depends(request_credentials)]
_Result = TypeVar("_Result")

MAX_BULK_ROWS = 1000


async def _call(
    credentials: Credentials, use_case: Callable[[UnitOfWork, Caller], _Result]
) -> _Result:
    return await run_unit(
        credentials.engine, as_caller, credentials.engine, credentials.authenticate, use_case
    )


def _customer(body: CustomerIn) -> tuple[Customer, bool]:
    given = body.customer_id is not None
    return (
        Customer.create(
            customer_id=body.customer_id or generated_customer_id(),
            name=body.name,
            name_kana=body.name_kana,
            postal_code=body.postal_code,
            prefecture=body.prefecture,
            address_rest=body.address,
            phone=body.phone,
            membership=body.membership,
        ),
        given,
    )


def _address(body: AddressIn | None) -> Address | None:
    if body is None:
        return None
    return Address.create(
        postal_code=body.postal_code, prefecture=body.prefecture, rest=body.address
    )


def _kind(text: str) -> ContractKind:
    try:
        return ContractKind(text)
    except ValueError:
        raise ValidationError(
            f"contract_kind {text!r} is unknown",
            field="contract_kind",
            valid=[k.value for k in ContractKind],
        ) from None


def _switch(body: SwitchIn) -> SwitchFiling:
    customer, given = _customer(body.customer)
    fw = body.forwarding
    return SwitchFiling(
        supply_point_id=body.supply_point_id,
        customer=customer,
        new_contract_number=body.new_contract_number,
        old_contract_number=fw.old_contract_number,
        contract_kind=_kind(body.contract_kind),
        wished_date=body.wished_date,
        meter_work=body.meter_work,
        customer_id_given=given,
        forwarded_name=fw.name,
        forwarded_name_kana=fw.name_kana,
        forwarded_address=_address(fw.address),
        capacity_class=body.capacity_class,
    )


def _out(filed: Filed) -> FlowOut:
    return FlowOut(flow=flow_view(filed.flow), forwarding_id=filed.forwarding_id)


def _switch_case(
    f: SwitchFiling,
) -> Callable[[UnitOfWork, Caller], Filed]:
    def use_case(uow: UnitOfWork, caller: Caller) -> Filed:
        return filing.file_switch(
            uow,
            gate=caller.gate,
            actor=caller.party,
            filing=f,
            request_id=caller.request_id,
            at=caller.at,
        )

    return use_case


# --- filing --------------------------------------------------------------------------------------


@router.post(
    "/switches",
    response_model=FlowOut,
    status_code=status.HTTP_201_CREATED,
    summary="File a switch (スイッチング開始) with its 廃止取次 to the current retailer",
)
async def file_switch(
    body: SwitchIn, credentials: CredentialsDep, idem: IdempotencyDep
) -> Response:
    def use_case(uow: UnitOfWork, caller: Caller) -> FlowOut:
        return _out(_switch_case(_switch(body))(uow, caller))

    return await answer_value(credentials, idem, status.HTTP_201_CREATED, use_case)


@router.post(
    "/switches/bulk",
    response_model=BulkOut,
    summary="File many switches (JSON array): one result per row",
)
async def file_switches(
    body: list[SwitchIn], credentials: CredentialsDep, idem: IdempotencyDep
) -> BulkOut:
    if len(body) > MAX_BULK_ROWS:
        raise ValidationError(
            f"{len(body)} rows; at most {MAX_BULK_ROWS} per call",
            field="body",
            valid=f"1–{MAX_BULK_ROWS} rows",
        )
    rows: list[Any] = []
    for item in body:
        try:
            rows.append(_switch_case(_switch(item)))
        except ValidationError as exc:
            rows.append(exc)
    return _bulk(
        await run_unit(
            credentials.engine,
            service.run_rows,
            credentials.engine,
            credentials.authenticate,
            rows,
            idem,
        )
    )


@router.post(
    "/switches/csv",
    response_model=BulkOut,
    summary="File many switches (CSV upload, UTF-8 or Shift_JIS): one result per row",
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def file_switches_csv(
    request: Request, credentials: CredentialsDep, idem: IdempotencyDep
) -> BulkOut:
    parsed = service.parse_switch_csv(service.decode_csv(await request.body()))
    if len(parsed) > MAX_BULK_ROWS:
        raise ValidationError(
            f"{len(parsed)} rows; at most {MAX_BULK_ROWS} per call",
            field="file",
            valid=f"1–{MAX_BULK_ROWS} rows",
        )
    rows = [p if isinstance(p, ValidationError) else _switch_case(p) for p in parsed]
    return _bulk(
        await run_unit(
            credentials.engine,
            service.run_rows,
            credentials.engine,
            credentials.authenticate,
            rows,
            idem,
        )
    )


def _bulk(results: list[service.RowResult]) -> BulkOut:
    filed = sum(1 for r in results if r.status == 201)
    return BulkOut(
        filed=filed,
        refused=len(results) - filed,
        rows=[RowOut(**dataclasses.asdict(r)) for r in results],
    )


@router.post(
    "/move-ins",
    response_model=FlowOut,
    status_code=status.HTTP_201_CREATED,
    summary="File a move-in (再点), up to 31 days back for a point without supply",
)
async def file_move_in(
    body: MoveInIn, credentials: CredentialsDep, idem: IdempotencyDep
) -> Response:
    def use_case(uow: UnitOfWork, caller: Caller) -> FlowOut:
        customer, given = _customer(body.customer)
        f = MoveInFiling(
            supply_point_id=body.supply_point_id,
            customer=customer,
            new_contract_number=body.new_contract_number,
            wished_date=body.wished_date,
            contract_kind=_kind(body.contract_kind),
            meter_work=body.meter_work,
            customer_id_given=given,
            capacity_class=body.capacity_class,
        )
        return _out(
            filing.file_move_in(
                uow,
                gate=caller.gate,
                actor=caller.party,
                filing=f,
                request_id=caller.request_id,
                at=caller.at,
            )
        )

    return await answer_value(credentials, idem, status.HTTP_201_CREATED, use_case)


@router.post(
    "/move-outs",
    response_model=FlowOut,
    status_code=status.HTTP_201_CREATED,
    summary="File a move-out (廃止), with or without meter removal (撤去)",
)
async def file_move_out(
    body: MoveOutIn, credentials: CredentialsDep, idem: IdempotencyDep
) -> Response:
    def use_case(uow: UnitOfWork, caller: Caller) -> FlowOut:
        return _out(
            filing.file_move_out(
                uow,
                gate=caller.gate,
                actor=caller.party,
                supply_point_id=body.supply_point_id,
                wished_date=body.wished_date,
                meter_removal=body.meter_removal,
                request_id=caller.request_id,
                at=caller.at,
            )
        )

    return await answer_value(credentials, idem, status.HTTP_201_CREATED, use_case)


@router.post(
    "/ampere-changes",
    response_model=FlowOut,
    status_code=status.HTTP_201_CREATED,
    summary="File an ampere change (アンペア変更)",
)
async def file_ampere_change(
    body: AmpereChangeIn, credentials: CredentialsDep, idem: IdempotencyDep
) -> Response:
    def use_case(uow: UnitOfWork, caller: Caller) -> FlowOut:
        return _out(
            filing.file_ampere_change(
                uow,
                gate=caller.gate,
                actor=caller.party,
                supply_point_id=body.supply_point_id,
                current_limit=body.current_limit,
                wished_date=body.wished_date,
                request_id=caller.request_id,
                at=caller.at,
            )
        )

    return await answer_value(credentials, idem, status.HTTP_201_CREATED, use_case)


@router.post(
    "/info-changes",
    response_model=FlowOut,
    status_code=status.HTTP_201_CREATED,
    summary="Change the customer's basic information (需要者情報変更), by its controller",
)
async def file_info_change(
    body: InfoChangeIn, credentials: CredentialsDep, idem: IdempotencyDep
) -> Response:
    def use_case(uow: UnitOfWork, caller: Caller) -> FlowOut:
        change = InfoChange(
            name=body.name,
            name_kana=body.name_kana,
            address=_address(body.address),
            phone=body.phone,
        )
        return _out(
            filing.file_info_change(
                uow,
                gate=caller.gate,
                actor=caller.party,
                supply_point_id=body.supply_point_id,
                change=change,
                request_id=caller.request_id,
                at=caller.at,
            )
        )

    return await answer_value(credentials, idem, status.HTTP_201_CREATED, use_case)


# --- reading flows ---------------------------------------------------------------------------

KindQuery = Annotated[
    Literal["switch", "move_in", "move_out", "ampere_change", "info_change"] | None, Query()
]
StateQuery = Annotated[str | None, Query(max_length=24, pattern=r"^[a-z_]{1,24}$")]


@router.get("/flows", summary="The flows you filed or are the counterpart of (newest first)")
async def list_flows(
    credentials: CredentialsDep,
    kind: KindQuery = None,
    state: StateQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    def use_case(uow: UnitOfWork, caller: Caller) -> list[dict[str, Any]]:
        found = service.list_flows(
            uow.connection, actor=caller.party, kind=kind, state=state, limit=limit
        )
        return [flow_view(f, fw) for f, fw in found]

    return {"flows": await _call(credentials, use_case)}


@router.get(
    "/flows/csv",
    summary="Your flows' results as CSV: 廃止取次 numbers, NG reasons, step times",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def flows_csv(
    credentials: CredentialsDep, kind: KindQuery = None, state: StateQuery = None
) -> Response:
    def use_case(uow: UnitOfWork, caller: Caller) -> str:
        found = service.list_flows(uow.connection, actor=caller.party, kind=kind, state=state)
        return service.flows_csv(uow.connection, actor=caller.party, flows=found)

    text = await _call(credentials, use_case)
    return Response(
        text.encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="flows.csv"'},
    )


@router.get("/flows/{flow_id}", response_model=FlowOut, summary="A flow, for its parties")
async def read_flow(flow_id: str, credentials: CredentialsDep) -> FlowOut:
    def use_case(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
        return service.read_flow(uow.connection, actor=caller.party, flow_id=flow_id)

    return FlowOut(flow=await _call(credentials, use_case))


# --- steps ------------------------------------------------------------------------------------


@router.post(
    "/flows/{flow_id}/withdraw",
    response_model=FlowOut,
    summary="Withdraw your flow before its date",
)
async def withdraw(
    flow_id: str, body: ReasonIn, credentials: CredentialsDep, idem: IdempotencyDep
) -> Response:
    def use_case(uow: UnitOfWork, caller: Caller) -> FlowOut:
        return FlowOut(
            flow=flow_view(
                steps.withdraw(
                    uow,
                    gate=caller.gate,
                    actor=caller.party,
                    flow_id=flow_id,
                    reason=body.reason,
                    request_id=caller.request_id,
                    at=caller.at,
                )
            )
        )

    return await answer_value(credentials, idem, status.HTTP_200_OK, use_case)


@router.post(
    "/flows/{flow_id}/date",
    response_model=FlowOut,
    summary="The area's TSO fixes the date (omitted: the proposed one)",
)
async def fix_date(
    flow_id: str, body: DateIn, credentials: CredentialsDep, idem: IdempotencyDep
) -> Response:
    def use_case(uow: UnitOfWork, caller: Caller) -> FlowOut:
        return FlowOut(
            flow=flow_view(
                steps.fix_date(
                    uow,
                    gate=caller.gate,
                    actor=caller.party,
                    flow_id=flow_id,
                    day=body.date,
                    request_id=caller.request_id,
                    at=caller.at,
                )
            )
        )

    return await answer_value(credentials, idem, status.HTTP_200_OK, use_case)


@router.post(
    "/flows/{flow_id}/refusal",
    response_model=FlowOut,
    summary="The area's TSO refuses the flow, with its reason",
)
async def refuse(
    flow_id: str, body: ReasonIn, credentials: CredentialsDep, idem: IdempotencyDep
) -> Response:
    def use_case(uow: UnitOfWork, caller: Caller) -> FlowOut:
        return FlowOut(
            flow=flow_view(
                steps.refuse(
                    uow,
                    gate=caller.gate,
                    actor=caller.party,
                    flow_id=flow_id,
                    reason=body.reason or "",
                    request_id=caller.request_id,
                    at=caller.at,
                )
            )
        )

    return await answer_value(credentials, idem, status.HTTP_200_OK, use_case)


@router.get(
    "/forwardings/{forwarding_id}",
    summary="A 廃止取次 through the gate (P2): only what the policy grants you",
)
async def read_forwarding(forwarding_id: str, credentials: CredentialsDep) -> dict[str, Any]:
    def use_case(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
        fw, result = service.read_forwarding(
            uow,
            gate=caller.gate,
            actor=caller.party,
            forwarding_id=forwarding_id,
            items=None,
            request_id=caller.request_id,
            at=caller.at,
        )
        d = result.decision
        return {
            "forwarding_id": fw.id,
            "flow_id": fw.flow_id,
            "access": {
                "purpose": d.purpose,
                "rule": d.rule_id,
                "relation": d.relation,
                "items_granted": list(d.granted),
            },
            "items": result.data,
        }

    return await _call(credentials, use_case)


@router.post(
    "/forwardings/{forwarding_id}/judgement",
    summary="The old retailer judges a 廃止取次: OK, NG with reasons, or automatically",
)
async def judge(
    forwarding_id: str, body: JudgementIn, credentials: CredentialsDep, idem: IdempotencyDep
) -> Response:
    def use_case(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
        return steps.judge_forwarding(
            uow,
            gate=caller.gate,
            actor=caller.party,
            forwarding_id=forwarding_id,
            result=body.result,
            reasons=list(body.reasons),
            auto=body.auto,
            request_id=caller.request_id,
            at=caller.at,
        )

    return await answer_value(credentials, idem, status.HTTP_200_OK, use_case, kept=_without_texts)


def _without_texts(body: dict[str, Any]) -> dict[str, Any]:
    """What an ``Idempotency-Key`` keeps of a judgement: all but the compared texts (personal
    data: read them through the gate, ``GET /v1/forwardings/{id}``)."""
    match = body.get("match")
    if not isinstance(match, dict):
        return body
    kept = {
        name: {k: v for k, v in field.items() if k not in ("forwarded", "record")}
        if isinstance(field, dict)
        else field
        for name, field in match.items()
    }
    return {**body, "match": kept}


@router.put(
    "/switching-settings", summary="Judge the 廃止取次 addressed to you automatically, or not"
)
async def switching_settings(
    body: SettingsIn, credentials: CredentialsDep, idem: IdempotencyDep
) -> Response:
    def use_case(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
        service.set_auto_judge(uow, actor=caller.party, auto=body.auto_judge, at=caller.at)
        return {"party": caller.party.code, "auto_judge": body.auto_judge}

    return await answer_value(credentials, idem, status.HTTP_200_OK, use_case)
