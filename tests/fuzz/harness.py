"""Schema fuzzing of the HTTP API with seeded valid IDs (issue 12): no request may end in 5xx.

:func:`seed_world` makes a small world through the real API (parties, a token per party, supply
points registered by their TSOs, customers with contracts imported as at go-live); :func:`fuzz` then
sends, for every operation of the app's own OpenAPI document, ``examples`` requests generated
by schemathesis (``operation.as_strategy()``, hypothesis; reproducible with ``seed``) in which
hypothesis also chooses, per request, whether to replace the generated path IDs, credentials,
purpose and body IDs by seeded **valid** ones (a real point or customer, a real party's token, a
real purpose) — so requests get past validation and authentication into the gate and the
registry, where the interesting failures live. It returns every status seen per operation and
the 5xx responses with the request that caused them.

Run it long (the issue's run: about 35,000 requests per backend) with ``tests/fuzz/run.py``
(see ``benchmarks/README.md``); ``tests/fuzz/test_fuzz.py`` runs a short seeded version in
``make test`` on both backends.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from jointuse.app import create_app
from jointuse.core.settings import Settings
from jointuse.parties import service as parties

PARTIES = ("coop-mirai", "r-other", "r-old", "tso-03", "tso-06", "occto")
PURPOSES = (
    "P1_wheeling",
    "P2_cancellation_forwarding",
    "P3_supply_point_confirmation",
    "P4_tso_operations",
    "P5_negawatt",
)
POINTS_03 = tuple(f"03{n:020d}" for n in range(1, 6))
POINTS_06 = tuple(f"06{n:020d}" for n in range(1, 4))
CUSTOMERS = ("C0001", "C0002", "C0003")


def supply_point_body() -> dict[str, Any]:
    return {
        "service_menu": "lv_metered_lighting_b",
        "supply_method": "single_phase_3_wire",
        "capacity_determination_method": "ampere_breaker",
        "contract_state": "active",
        "current_limit": 30,
        "contract_capacity": {"value": "30", "unit": "A"},
        "meter_info": {"meter_number": "M0300001", "smart_meter": True, "multiplier": 1},
        "meter_reading_day": 12,
    }


def customer_body(customer_id: str) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "name": "山田 花子",
        "name_kana": "ヤマダ ハナコ",
        "postal_code": "100-0001",
        "prefecture": "東京都",
        "address": "千代田区千代田1-1",
        "phone": "03-1234-5678",
        "membership": "member",
    }


@dataclass
class World:
    client: TestClient
    tokens: dict[str, str]


def seed_world(engine: Engine, client: TestClient) -> World:
    """Parties, tokens, supply points registered through the API by their TSOs, and customers
    with contracts imported as at go-live (r-old supplies the first three Tokyo points)."""
    from datetime import UTC, date, datetime

    from jointuse.core.db import UnitOfWork
    from jointuse.core.ids import SupplyPointId
    from jointuse.customers.imports import PLATFORM_OPERATOR, ImportRow, import_contracts
    from jointuse.customers.model import ContractKind, Customer, RetailContract

    parties.seed_reference_parties(engine)
    for code, reg in (("coop-mirai", "A0001"), ("r-other", "A0002"), ("r-old", "A0003")):
        parties.add_party(
            engine, code=code, kind="retailer", name_ja=code, name_en=code, meti_registration=reg
        )
    tokens = {code: parties.issue_token(engine, code).secret for code in PARTIES}

    def auth(party: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[party]}"}

    for point in POINTS_03 + POINTS_06:
        tso = "tso-03" if point.startswith("03") else "tso-06"
        r = client.put(f"/v1/supply-points/{point}", json=supply_point_body(), headers=auth(tso))
        assert r.status_code == 201, r.text
    rows = []
    for n, customer_id in enumerate(CUSTOMERS):
        c = customer_body(customer_id)
        customer = Customer.create(
            customer_id=customer_id,
            name=c["name"],
            name_kana=c["name_kana"],
            postal_code=c["postal_code"],
            prefecture=c["prefecture"],
            address_rest=c["address"],
            phone=c["phone"],
            membership=c["membership"],
        )
        contract = RetailContract(
            f"OLD-{n + 1}",
            ContractKind.STANDARD,
            "r-old",
            customer_id,
            SupplyPointId(POINTS_03[n]),
            date(2024, 1, 1),
        )
        rows.append(ImportRow(customer, contract))
    with UnitOfWork(engine) as uow:
        import_contracts(
            uow, by=PLATFORM_OPERATOR, rows=rows, request_id="fuzz-seed", at=datetime.now(UTC)
        )
    return World(client, tokens)


@dataclass
class Report:
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    server_errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(sum(c.values()) for c in self.statuses.values())

    def count(self, status: int) -> int:
        return sum(c[status] for c in self.statuses.values())


def _valid_body(path: str) -> st.SearchStrategy[dict[str, Any]] | None:
    """A valid body for the operation at ``path`` (None: keep the generated one), with seeded
    and colliding IDs (a small set of contract numbers, so that reuse happens)."""
    customer = st.sampled_from((*CUSTOMERS, "C0100", "C0101")).map(customer_body)
    point = st.sampled_from(POINTS_03 + POINTS_06)
    if path == "/v1/switches":
        return st.fixed_dictionaries(
            {
                "supply_point_id": point,
                "customer": customer,
                "new_contract_number": st.sampled_from(("CM-001", "CM-002", "OLD-1")),
                "forwarding": st.fixed_dictionaries(
                    {"old_contract_number": st.sampled_from(("OLD-1", "OLD-2", "OLD-3"))}
                ),
            }
        )
    if path == "/v1/supply-points/{supply_point_id}":
        return st.builds(supply_point_body)
    return None


def _seeded(data: st.DataObject, world: World, case: Any) -> dict[str, str]:
    """Replace parts of ``case`` by seeded valid values (hypothesis chooses which); return the
    headers to send."""
    ids = {
        "supply_point_id": st.sampled_from(POINTS_03 + POINTS_06),
        "customer_id": st.sampled_from(CUSTOMERS),
        "code": st.sampled_from(PARTIES),
    }
    for name in list(case.path_parameters or {}):
        if name in ids and data.draw(st.booleans(), label=f"valid {name}"):
            case.path_parameters[name] = data.draw(ids[name])
    valid_body = _valid_body(case.operation.path)
    if valid_body is not None and data.draw(st.booleans(), label="valid body"):
        case.body = data.draw(valid_body, label="body")
    body = case.body
    if isinstance(body, dict):
        for key in ("supply_point_id", "customer_id"):
            if key in body and data.draw(st.booleans(), label=f"valid body {key}"):
                body[key] = data.draw(ids[key])
        contract = body.get("contract")
        if isinstance(contract, dict) and data.draw(st.booleans(), label="valid contract point"):
            contract["supply_point_id"] = data.draw(ids["supply_point_id"])
    headers = {str(k): str(v) for k, v in (case.headers or {}).items()}
    who = data.draw(st.sampled_from((*PARTIES, None, "generated")), label="credentials")
    if who in PARTIES:
        headers["Authorization"] = f"Bearer {world.tokens[who]}"
    elif who is None:
        headers.pop("Authorization", None)
    if data.draw(st.booleans(), label="valid purpose"):
        headers["Jointuse-Purpose"] = data.draw(st.sampled_from(PURPOSES))
    return headers


def fuzz(
    world: World,
    *,
    examples: int,
    seed_value: int = 12,
    on_request: Callable[[], None] | None = None,
) -> Report:
    """``examples`` generated requests per operation (module docstring)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.client.app)
    report = Report()
    handler = _CauseHandler()
    logging.getLogger("jointuse.core.http").addHandler(handler)
    try:
        _fuzz_all(world, schema, report, examples, seed_value, on_request)
    finally:
        logging.getLogger("jointuse.core.http").removeHandler(handler)
    for error in report.server_errors:
        cause = handler.causes.get(error.pop("request_id", ""))
        if cause is None:  # answered on purpose (e.g. 501 not_available): its problem code
            try:
                cause = f"{error['status']} {json.loads(error['body'])['code']}"
            except (ValueError, KeyError, TypeError):
                cause = "?"
        error["cause"] = cause
    return report


class _CauseHandler(logging.Handler):
    """The exception behind each 500, by request ID (from the HTTP layer's log)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.causes: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None and record.args:
            exc = record.exc_info[1]
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
            self.causes[str(record.args[0])] = f"{type(exc).__name__}: {first}"


def _fuzz_all(
    world: World,
    schema: Any,
    report: Report,
    examples: int,
    seed_value: int,
    on_request: Callable[[], None] | None,
) -> None:
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        _fuzz_operation(
            world,
            operation,
            report.statuses.setdefault(label, Counter()),
            report,
            examples,
            seed_value,
            on_request,
        )
    return report


def _fuzz_operation(
    world: World,
    operation: Any,
    seen: Counter[int],
    report: Report,
    examples: int,
    seed_value: int,
    on_request: Callable[[], None] | None,
) -> None:
    if True:

        @seed(seed_value)
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            derandomize=False,
        )
        @given(case=operation.as_strategy(), data=st.data())
        def run(case: Any, data: st.DataObject) -> None:
            headers = _seeded(data, world, case)
            kwargs = case.as_transport_kwargs(headers=headers)
            method = kwargs.pop("method")
            url = kwargs.pop("url")
            kwargs.pop("base_url", None)
            response = world.client.request(method, url, **_client_kwargs(kwargs))
            seen[response.status_code] += 1
            if on_request is not None:
                on_request()
            if response.status_code >= 500:
                report.server_errors.append(
                    {
                        "operation": f"{method} {url}"[:300],
                        "status": response.status_code,
                        "request_id": response.headers.get("x-request-id", ""),
                        "body": response.text[:500],
                        "request_body": json.dumps(case.body, default=str)[:500]
                        if case.body is not None
                        else None,
                    }
                )

        run()


def _client_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """schemathesis' transport kwargs (requests style) as the test client's (httpx style)."""
    out: dict[str, Any] = {}
    for key in ("headers", "params", "cookies"):
        if kwargs.get(key):
            out[key] = kwargs[key]
    if "json" in kwargs:
        out["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        out["content"] = data if isinstance(data, bytes | str) else json.dumps(data)
    return out


@contextmanager
def fuzz_app(engine: Engine) -> Iterator[World]:
    """The real app on ``engine`` (no sealer), with a seeded world."""
    # The limit on authentication failures would answer most generated requests 429.
    settings = Settings(database_url=str(engine.url), auth_failure_limit=10**9)
    app = create_app(settings, engine=engine, run_sealer=False, bench=False, environ={})
    with TestClient(app, raise_server_exceptions=False) as client:
        yield seed_world(engine, client)
