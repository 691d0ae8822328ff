"""``jointuse serve``, ``jointuse demo-data`` and ``jointuse demo`` (the README's main job).

Register on the root Typer app with :func:`register` (``register(app)``), or one by one:
``app.command("serve")(serve_command)``, ``app.command("demo-data")(demo_data_command)``,
``app.command("demo")(demo_command)``.

``demo-data`` fills an **empty**, migrated database (refused otherwise: run ``jointuse db upgrade``
first — only ``db upgrade`` and ``demo`` create or migrate a database): the ten TSOs and OCCTO, the
co-operative ``coop-mirai`` and three other retailers, two DR contractors, and N synthetic
customers, each with a retail contract for a supply point of the TSO serving their prefecture
(:mod:`jointuse.demo.generate`). The registry is bulk-loaded in chunks through
:func:`jointuse.customers.service.bulk_load` (one ledger entry per chunk, by the operator); one
switching scenario then runs through the gate: a customer asks ``r-hikari`` to take over their
supply point, and ``r-hikari`` files the switch with its 廃止取次 to the current retailer — which
makes it the point's applicant and opens the P3 supply point inquiry to it; and a DR scenario on
a real building load (:mod:`jointuse.demo.dr`) leaves a DR event that
``jointuse negawatt settle --event demo-b90-2018-07-18 --as dr-negawatt-one`` settles.
Finally a bearer token is issued for each demo party and printed, with ``curl`` lines to try;
``demo`` on a database that holds data already only replaces those tokens (the demo's earlier
ones are revoked: a token is shown once and stored hashed, so it cannot be shown again).

The ledger key: ``demo`` and ``demo-data`` write their ledger entries with the configured key
(:func:`jointuse.ledger.keys.configured_key_file`); for the default database they first make
``./var/ledger.key`` (mode 0600; ``./var`` is git-ignored) when it is absent, so ``jointuse
serve`` then finds it. Another database needs ``JOINTUSE_LEDGER_KEY_FILE`` (made if absent);
without it the demo's entries carry no MAC, and the demo says so.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from jointuse.assembly import default_gate
from jointuse.core.cli import DatabaseUrl, open_cli_database, resolve_database_url
from jointuse.core.db import UnitOfWork, upgrade
from jointuse.core.errors import JointuseError
from jointuse.core.ids import SupplyPointId
from jointuse.core.settings import DEFAULT_DATABASE_URL, load_settings
from jointuse.customers import service as customers
from jointuse.customers.model import (
    ContractCapacity,
    Customer,
    MeterInfo,
    RetailContract,
    SupplyPoint,
)
from jointuse.demo.generate import SyntheticCustomer, generate_customers
from jointuse.demo.scenario import demo_scenario_command
from jointuse.ledger.keys import DEFAULT_KEY_FILE, bind_key, configured_key_file, ensure_key_file
from jointuse.parties import service as parties
from jointuse.policy.engine import Party as Actor

#: (code, name_ja, name_en, METI registration, contract prefix, share of customers)
RETAILERS: tuple[tuple[str, str, str, str, str, float], ...] = (
    ("coop-mirai", "生活協同組合コープみらい", "Coop Mirai", "A0001", "CM", 0.55),
    ("r-hikari", "ひかり電力株式会社", "Hikari Power", "A0101", "HK", 0.20),
    ("r-aozora", "あおぞらエナジー株式会社", "Aozora Energy", "A0102", "AZ", 0.15),
    ("r-midori", "みどり電気株式会社", "Midori Electric", "A0103", "MD", 0.10),
)
#: (code, name_ja, name_en, contractor code)
DR_CONTRACTORS: tuple[tuple[str, str, str, str], ...] = (
    ("dr-negawatt-one", "ネガワットワン株式会社", "Negawatt One", "DR-0001"),
    ("dr-setsuden", "節電サービス株式会社", "Setsuden Services", "DR-0002"),
)
DEFAULT_CUSTOMERS = 3000
DEFAULT_SEED = 20160401
APPLICANT = "r-hikari"
DR_EVENT = "demo-b90-2018-07-18"  # jointuse.demo.dr.EVENT_ID


class NotEmpty(JointuseError):
    code = "database_not_empty"
    status = 409


@dataclass(frozen=True, slots=True)
class DemoSummary:
    customers: int
    seconds: float
    example_point: str
    example_area_tso: str
    tokens: dict[str, str]
    applicant: str = APPLICANT


def _models(rec: SyntheticCustomer) -> tuple[Customer, RetailContract, SupplyPoint]:
    point_id = SupplyPointId(rec.supply_point_id)
    customer = Customer.create(
        customer_id=rec.customer_id,
        name=rec.name,
        name_kana=rec.name_kana,
        postal_code=rec.postal_code,
        prefecture=rec.prefecture,
        address_rest=rec.address_rest,
        phone=rec.phone,
        membership=rec.membership,
    )
    contract = RetailContract(
        contract_number=rec.contract_number,
        kind=rec.contract_kind,  # type: ignore[arg-type]  # a ContractKind value, checked
        retailer_code=rec.retailer_code,
        customer_id=rec.customer_id,
        supply_point_id=point_id,
        valid_from=rec.contract_valid_from,
    )
    point = SupplyPoint(
        supply_point_id=point_id,
        supply_area=rec.area_code,
        service_menu=rec.service_menu,
        supply_method=rec.supply_method,
        capacity_determination_method=rec.capacity_determination_method,
        contract_state="active",
        contract_capacity=ContractCapacity(Decimal(rec.current_limit), "A"),
        current_limit=rec.current_limit,
        power_factor=100,
        meter_info=MeterInfo(rec.meter_number),
        grid_connected_generation=rec.grid_connected_generation,
        wheeling_change_date=rec.contract_valid_from,
        meter_reading_day=rec.meter_reading_day,
    )
    return customer, contract, point


def register_parties(engine: Engine, at: datetime) -> None:
    """The reference TSOs and OCCTO, the four retailers and the two DR contractors."""
    if parties.list_parties(engine):
        raise NotEmpty(
            "the database already holds parties; demo-data only fills an empty database "
            "(use a new JOINTUSE_DATABASE_URL / --database-url, or remove the SQLite file)",
            valid="an empty (freshly migrated) database",
        )
    parties.seed_reference_parties(engine, at)
    for code, name_ja, name_en, meti, _prefix, _share in RETAILERS:
        parties.add_party(
            engine,
            code=code,
            kind="retailer",
            name_ja=name_ja,
            name_en=name_en,
            meti_registration=meti,
            at=at,
        )
    for code, name_ja, name_en, contractor in DR_CONTRACTORS:
        parties.add_party(
            engine,
            code=code,
            kind="dr_contractor",
            name_ja=name_ja,
            name_en=name_en,
            contractor_code=contractor,
            at=at,
        )


Built = tuple[SyntheticCustomer, list[Customer], list[RetailContract], list[SupplyPoint]]


def _retailer_weights() -> list[tuple[str, str, float]]:
    return [(code, prefix, share) for code, _j, _e, _m, prefix, share in RETAILERS]


def build_chunk(job: tuple[int, int, int]) -> Built:
    """Generate and validate customers ``start .. start+count`` (``job = (start, count, seed)``);
    module-level so worker processes can run it."""
    start, count, seed = job
    records = list(generate_customers(count, seed=seed, retailers=_retailer_weights(), start=start))
    built = [_models(rec) for rec in records]
    return records[0], [b[0] for b in built], [b[1] for b in built], [b[2] for b in built]


def load_customers(
    engine: Engine,
    count: int,
    *,
    seed: int,
    chunk_size: int = 20_000,
    progress: bool = True,
    workers: int = 0,
) -> SyntheticCustomer | None:
    """Bulk-load ``count`` synthetic customers in chunks; return the first one (or None).

    Generating and validating the models costs about twice the insert, so with three chunks or
    more ``workers`` processes (0: one per CPU but one) build chunks while this process inserts
    them, in order. The data does not depend on the number of workers.
    """
    from concurrent.futures import ProcessPoolExecutor

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    jobs = [(start, min(chunk_size, count - start), seed) for start in range(0, count, chunk_size)]
    if workers <= 0:
        workers = max(1, (os.cpu_count() or 2) - 1)
    first: SyntheticCustomer | None = None
    columns = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with (
        Progress(*columns, console=Console(stderr=True), disable=not progress) as bar,
        ProcessPoolExecutor(workers) as pool,
    ):
        task = bar.add_task("customers", total=count)
        results = pool.map(build_chunk, jobs) if len(jobs) >= 3 else map(build_chunk, jobs)
        for head, chunk_customers, contracts, points in results:
            first = first or head
            customers.bulk_load(
                engine,
                chunk_customers,
                contracts,
                points,
                operator="jointuse-demo-data",
                request_id=f"demo-data-{seed}-{head.index}",
            )
            bar.update(task, advance=len(chunk_customers))
    return first


def open_meter_reading_round(engine: Engine, point: str, at: datetime) -> None:
    """The area's TSO opens a 30-day meter-reading round holding the example point: the work
    order that opens its customer's contact data to the TSO (P4), as the API's curl shows."""
    from datetime import timedelta

    from jointuse.workorders.service import open_order

    tso = SupplyPointId(point).tso_code

    def open_round(uow: UnitOfWork, actor: Actor) -> None:
        open_order(
            uow,
            actor=actor,
            kind="meter_reading",
            reason="demo: monthly meter-reading round",
            starts_at=at - timedelta(hours=1),
            ends_at=at + timedelta(days=30),
            points=[point],
            request_id=f"demo-order-{point}",
            at=at,
        )

    customers.as_caller(engine, lambda _conn: Actor(tso, "tso"), open_round)


def applicant_for(rec: SyntheticCustomer) -> str:
    """The retailer that files the demo's switch of ``rec``'s point (not its current one)."""
    return APPLICANT if rec.retailer_code != APPLICANT else "r-aozora"


def open_switching_example(engine: Engine, rec: SyntheticCustomer, at: datetime) -> str:
    """The customer ``rec`` asks another retailer to take over their point: it files the switch
    with its 廃止取次 through the gate (P1 and P2 writes), which makes it the point's applicant
    (P3 inquiry allowed). Returns the filing retailer."""
    from jointuse.flows.filing import SwitchFiling, file_switch

    customer, contract, _point = _models(rec)
    applicant = applicant_for(rec)
    filing = SwitchFiling(
        supply_point_id=rec.supply_point_id,
        customer=Customer.create(
            customer_id=f"{applicant.upper()}-{rec.index:08d}",
            name=customer.name,
            name_kana=customer.name_kana,
            postal_code=customer.address.postal_code.value,
            prefecture=customer.address.prefecture,
            address_rest=customer.address.rest,
            phone=customer.phone.national,
            membership="non_member",
        ),
        new_contract_number=f"SW-{rec.index:08d}",
        old_contract_number=contract.contract_number,
    )

    def switch(uow: UnitOfWork, actor: Actor) -> None:
        file_switch(
            uow,
            gate=default_gate(),
            actor=actor,
            filing=filing,
            request_id=f"demo-switch-{rec.index}",
            at=at,
        )

    # the demo acts as the retailer by its code (no token): a seeding step, still through the gate
    customers.as_caller(engine, lambda _conn: Actor(applicant, "retailer"), switch)
    return applicant


DEMO_TOKEN_LABEL = "demo"


def demo_party_codes(area_tso: str) -> list[str]:
    """The parties the demo prints a token for: the retailers, the example point's TSO and
    another one, OCCTO and the DR contractors."""
    other_tso = "tso-06" if area_tso != "tso-06" else "tso-03"
    return [
        *(code for code, *_ in RETAILERS),
        area_tso,
        other_tso,
        "occto",
        *(code for code, *_ in DR_CONTRACTORS),
    ]


def issue_demo_tokens(engine: Engine, codes: list[str]) -> dict[str, str]:
    """A fresh token per demo party; the demo's earlier tokens (label ``demo``) are revoked in
    the same transaction, so running the demo again leaves one live demo token per party."""
    return {
        code: parties.reissue_token(engine, code, label=DEMO_TOKEN_LABEL)[0].secret
        for code in codes
    }


def build_demo(
    engine: Engine,
    *,
    count: int,
    seed: int,
    progress: bool = True,
    chunk_size: int = 20_000,
    workers: int = 0,
) -> DemoSummary:
    """Fill an empty, migrated database (see the module docstring); return what to print."""
    started = time.perf_counter()
    at = datetime.now(UTC)
    register_parties(engine, at)
    first = load_customers(
        engine, count, seed=seed, chunk_size=chunk_size, progress=progress, workers=workers
    )
    point = first.supply_point_id if first else "0312345678901234567890"
    area_tso = SupplyPointId(point).tso_code
    applicant = APPLICANT
    if first is not None:
        applicant = open_switching_example(engine, first, datetime.now(UTC))
        open_meter_reading_round(engine, point, datetime.now(UTC))
    if count >= 4:
        from jointuse.demo.dr import load_dr_scenario

        # Customers 1-3 are supplied since before the agreements' date (generate.DR_DEMO_SINCE).
        records = list(generate_customers(4, seed=seed, retailers=_retailer_weights()))[1:]
        load_dr_scenario(engine, records, datetime.now(UTC))
    tokens = issue_demo_tokens(engine, demo_party_codes(area_tso))
    return DemoSummary(count, time.perf_counter() - started, point, area_tso, tokens, applicant)


def _bystander(summary: DemoSummary) -> str:
    return next(c for c, *_ in RETAILERS if c not in (summary.applicant, "coop-mirai"))


def what_to_try(summary: DemoSummary, base: str = "http://127.0.0.1:8000") -> str:
    """Tokens and curl lines for the demo parties (the tokens are shown only here)."""
    t = summary.tokens
    other_tso = next(c for c in t if c.startswith("tso-") and c != summary.example_area_tso)
    p = summary.example_point
    lines = ["Bearer tokens (shown once; each party's own):"]
    lines += [f"  {code:<18} {secret}" for code, secret in t.items()]
    lines += [
        "",
        "Start the API:  jointuse serve   (then open " + base + "/docs)",
        "",
        f"# P3 supply point inquiry (設備情報照会) by {summary.applicant}, which filed a switch: "
        "16 items",
        f'curl -s -H "Authorization: Bearer {t[summary.applicant]}" {base}/v1/supply-points/{p}',
        "",
        f"# P4: the area's TSO ({summary.example_area_tso}) reads name, address, phone — "
        "opened by its meter-reading round (a work order) holding the point",
        f'curl -s -H "Authorization: Bearer {t[summary.example_area_tso]}" '
        f'-H "Jointuse-Purpose: P4_tso_operations" {base}/v1/supply-points/{p}/customer',
        "",
        "# Refused (403, recorded on the access ledger): a retailer that filed nothing",
        f'curl -s -H "Authorization: Bearer {t[_bystander(summary)]}" {base}/v1/supply-points/{p}',
        "",
        f"# Refused (403): the TSO of another area ({other_tso})",
        f'curl -s -H "Authorization: Bearer {t[other_tso]}" '
        f'-H "Jointuse-Purpose: P4_tso_operations" {base}/v1/supply-points/{p}/customer',
        "",
        "# Refused (400, recorded): no purpose given",
        f'curl -s -H "Authorization: Bearer {t[summary.example_area_tso]}" '
        f"{base}/v1/supply-points/{p}/customer",
        "",
        "The server seals the ledger every half second. Then check it (read-only):",
        "  jointuse ledger verify            # with ./var/ledger.key for the default database",
        "",
        "# Negawatt: settle the demo DR event (LBNL building 90's load, 18 July 2018) as its",
        "# contractor; the run is stored (jointuse negawatt results --run RUN_ID ...):",
        f"jointuse negawatt settle --event {DR_EVENT} --as dr-negawatt-one --output results.csv",
    ]
    return "\n".join(lines)


# --- commands -----------------------------------------------------------------------------------


def _fail(exc: JointuseError) -> typer.Exit:
    typer.echo(f"error: {exc.message}", err=True)
    return typer.Exit(2)


def _demo_key(engine: Engine, url: str) -> None:
    """Bind the configured ledger key to ``engine``, making the key file first if absent
    (module docstring); say which key, or that there is none."""
    settings = replace(load_settings(), database_url=url)
    path = configured_key_file(settings)
    if path is None and url == DEFAULT_DATABASE_URL:
        path = DEFAULT_KEY_FILE
    if path is None:
        typer.echo(
            "ledger key: none (set JOINTUSE_LEDGER_KEY_FILE): ledger entries carry no MAC",
            err=True,
        )
        return
    key, made = ensure_key_file(path)
    bind_key(engine, key)
    what = "made" if made else "using"
    typer.echo(f"ledger key: {what} {path} (public key {key.public_hex})", err=True)


def demo_data_command(
    customers_count: Annotated[
        int, typer.Option("--customers", min=0, help="Synthetic customers to create.")
    ] = DEFAULT_CUSTOMERS,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = DEFAULT_SEED,
    database_url: DatabaseUrl = None,
    chunk_size: Annotated[int, typer.Option(min=100, help="Rows per bulk insert.")] = 20_000,
    workers: Annotated[
        int, typer.Option(min=0, help="Processes building chunks (0: CPUs - 1).")
    ] = 0,
) -> None:
    """Fill an empty, migrated database with demo parties and N synthetic customers; print
    tokens. (Run `jointuse db upgrade` first; `jointuse demo` does both.)"""
    engine = open_cli_database(database_url)
    where = engine.url.render_as_string(hide_password=True)
    try:
        _demo_key(engine, resolve_database_url(database_url))
        summary = build_demo(
            engine, count=customers_count, seed=seed, chunk_size=chunk_size, workers=workers
        )
    except JointuseError as exc:
        raise _fail(exc) from None
    finally:
        engine.dispose()
    typer.echo(
        f"{where}: {summary.customers} customers and supply points in {summary.seconds:.1f} s"
    )
    typer.echo(what_to_try(summary))


def demo_command(database_url: DatabaseUrl = None) -> None:
    """Create and migrate the database, fill it with demo data if empty, print what to try;
    then exit."""
    engine = open_cli_database(database_url, create=True)
    where = engine.url.render_as_string(hide_password=True)
    try:
        upgrade(engine)
        _demo_key(engine, resolve_database_url(database_url))
        if parties.list_parties(engine):
            typer.echo(
                f"{where} already holds data: new demo tokens only (the previous ones revoked)."
            )
            summary = _fresh_tokens(engine)
        else:
            summary = build_demo(engine, count=DEFAULT_CUSTOMERS, seed=DEFAULT_SEED)
            typer.echo(
                f"{where}: {summary.customers} demo customers loaded in {summary.seconds:.1f} s"
            )
    except JointuseError as exc:
        raise _fail(exc) from None
    finally:
        engine.dispose()
    typer.echo(what_to_try(summary))


def _fresh_tokens(engine: Engine) -> DemoSummary:
    first = next(generate_customers(1, seed=DEFAULT_SEED, retailers=_retailer_weights()))
    area_tso = SupplyPointId(first.supply_point_id).tso_code
    tokens = issue_demo_tokens(engine, demo_party_codes(area_tso))
    open_meter_reading_round(engine, first.supply_point_id, datetime.now(UTC))
    return DemoSummary(0, 0.0, first.supply_point_id, area_tso, tokens, applicant_for(first))


def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    database_url: DatabaseUrl = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="The operator's policy file (default: JOINTUSE_POLICY, else the shipped one); "
            "checked first: a policy with errors is refused.",
            show_default=False,
        ),
    ] = None,
    header_timeout: Annotated[
        float | None,
        typer.Option(
            "--header-timeout",
            min=0.001,
            help="Seconds a client has to send a complete request head; a slower or silent "
            "connection is closed (default: JOINTUSE_HEADER_TIMEOUT, else 5).",
            show_default=False,
        ),
    ] = None,
    unauthenticated: Annotated[
        bool,
        typer.Option(
            "--unauthenticated",
            help="Run without a ledger key (entries carry no MAC): development only.",
        ),
    ] = False,
) -> None:
    """Run the HTTP API (uvicorn) with the ledger sealer in the background.

    Needs the ledger key (JOINTUSE_LEDGER_KEY_FILE; for the default database ./var/ledger.key,
    made by `jointuse demo`) unless --unauthenticated."""
    import uvicorn

    from jointuse.app import create_app
    from jointuse.core.serving import server_config
    from jointuse.core.settings import load_settings

    try:
        settings = load_settings()
        if database_url:
            settings = replace(settings, database_url=database_url)
        if policy is not None:
            settings = replace(settings, policy_path=str(policy))
        if header_timeout is not None:
            settings = replace(settings, header_timeout=header_timeout)
        if unauthenticated:
            settings = replace(settings, ledger_unauthenticated=True)
        app = create_app(settings)
    except JointuseError as exc:
        raise _fail(exc) from None
    config = server_config(app, host=host, port=port, header_timeout=settings.header_timeout)
    uvicorn.Server(config).run()


def register(app: typer.Typer) -> None:
    """Add ``serve``, ``demo-data`` and ``demo`` to the root command."""
    app.command("serve")(serve_command)
    app.command("demo-data")(demo_data_command)
    app.command("demo")(demo_command)
    app.command("demo-scenario")(demo_scenario_command)
