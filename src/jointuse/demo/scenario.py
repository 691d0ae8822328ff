"""``jointuse demo-scenario``: the market flows end to end, over real HTTP, printed step by step.

A fresh database (a temporary SQLite file, or the empty, migrated one ``--database-url`` names —
``jointuse db upgrade`` first) holds the
ten TSOs, OCCTO, the co-operative ``coop-mirai`` (which supplies 山田 花子 at a Tokyo point,
imported at go-live) and ``r-hikari``. The real app is served by uvicorn on a free local port
with a demo clock the scenario moves forward, and every step is an HTTP call with the party's own
bearer token:

1. ``coop-mirai`` has the 廃止取次 addressed to it judged automatically;
2. ``r-hikari`` files the switch with its 廃止取次 — and, now the point's applicant, confirms the
   point (P3 設備情報照会);
3. the clock ticks: ``coop-mirai``'s system judges (its record against what was forwarded,
   field by field) — matched;
4. Tokyo's TSO fixes the date (the next meter-reading day after the lead time);
5. the clock reaches the date: the switch completes (time-sliced contracts);
6. a move-in (再点) by ``r-hikari`` at a point without supply, dated and completed;
7. a move-out (廃止) of the first point, dated and completed;

printing each step's answer and, after each, what arrived in each party's inbox. Finally the
ledger is sealed and verified.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import typer
from sqlalchemy import Engine

from jointuse.app import create_app
from jointuse.assembly import default_gate
from jointuse.core.calendar import JST
from jointuse.core.cli import DatabaseUrl, open_cli_database
from jointuse.core.db import upgrade
from jointuse.customers.imports import PLATFORM_OPERATOR, import_file
from jointuse.demo.live import serve
from jointuse.flows.scheduler import tick
from jointuse.ledger.service import seal_all, verify
from jointuse.parties import service as parties

POINT = "0312345678901234567890"
VACANT = "0398765432109876543210"
PARTIES = ("coop-mirai", "r-hikari", "tso-03", "occto")
CONTRACT_CSV = (
    "customer_id,name,name_kana,postal_code,prefecture,address,phone,membership,retailer,"
    "contract_number,contract_kind,supply_point_id,valid_from\n"
    f"CM-0001,山田 花子,ヤマダ ハナコ,100-0001,東京都,千代田区千代田一丁目一番一号,03-1234-5678,"
    f"member,coop-mirai,CM-2016-0001,standard,{POINT},2016-04-01\n"
)


class DemoClock:
    """The app's clock, moved forward by the scenario."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def _point_body(state: str) -> dict[str, Any]:
    return {
        "service_menu": "lv_metered_lighting_b",
        "supply_method": "single_phase_3_wire",
        "capacity_determination_method": "ampere_breaker",
        "contract_state": state,
        "current_limit": 30,
        "meter_reading_day": 12,
    }


def _customer(name: str, kana: str, address: str) -> dict[str, Any]:
    return {
        "name": name,
        "name_kana": kana,
        "postal_code": "100-0001",
        "prefecture": "東京都",
        "address": address,
        "phone": "03-1234-5678",
    }


@contextmanager
def _database(url: str | None) -> Iterator[Engine]:
    """The database named (it must exist, migrated), else a temporary one made and migrated
    here; disposed at the end."""
    if url is not None:
        engine = open_cli_database(url)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_cli_database(f"sqlite:///{Path(tmp) / 'scenario.db'}", create=True)
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()


class Scenario:
    def __init__(self, client: httpx.Client, tokens: dict[str, str], clock: DemoClock) -> None:
        self.client = client
        self.tokens = tokens
        self.clock = clock
        self.cursors = dict.fromkeys(tokens, 0)

    def call(self, party: str, method: str, url: str, **kw: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[party]}", **kw.pop("headers", {})}
        r = self.client.request(method, url, headers=headers, **kw)
        body: dict[str, Any] = r.json()
        if r.status_code >= 400:
            raise RuntimeError(f"{party} {method} {url}: {r.status_code} {body}")
        return body

    def step(self, title: str) -> None:
        typer.echo(f"\n── {self.clock.now.astimezone(JST):%Y-%m-%d %H:%M} JST  {title}")

    def inboxes(self) -> None:
        for party in self.tokens:
            found = self.call(party, "GET", "/v1/inbox", params={"after": self.cursors[party]})
            kinds = [m["kind"] for m in found["messages"]]
            self.cursors[party] = found["next_after"]
            if kinds:
                typer.echo(f"     inbox {party:<11} {', '.join(kinds)}")


def run(database_url: str | None, out: Any = None) -> bool:
    """Run the scenario; True when the ledger verifies at the end."""
    clock = DemoClock(datetime.now(JST).replace(second=0, microsecond=0))
    with _database(database_url) as engine:
        if parties.list_parties(engine):
            raise typer.BadParameter("use an empty database", param_hint="--database-url")
        since = clock.now - timedelta(days=1)  # registered the day before the scenario
        parties.seed_reference_parties(engine, since)
        for code, meti, name in (
            ("coop-mirai", "A0001", "Coop Mirai"),
            ("r-hikari", "A0101", "Hikari Power"),
        ):
            parties.add_party(
                engine,
                code=code,
                kind="retailer",
                name_ja=name,
                name_en=name,
                meti_registration=meti,
                at=since,
            )
        tokens = {
            p: parties.issue_token(engine, p, label="scenario", at=since).secret for p in PARTIES
        }
        gate = default_gate()
        app = create_app(engine=engine, run_sealer=False, clock=clock, environ={}, gate=gate)
        with serve(app) as base, httpx.Client(base_url=base, timeout=30) as client:
            s = Scenario(client, tokens, clock)
            s.step("tso-03 registers two points (one supplied, one without supply)")
            s.call("tso-03", "PUT", f"/v1/supply-points/{POINT}", json=_point_body("active"))
            s.call("tso-03", "PUT", f"/v1/supply-points/{VACANT}", json=_point_body("terminated"))
            imported = import_file(
                engine,
                CONTRACT_CSV.encode(),
                by=PLATFORM_OPERATOR,
                request_id="scenario-go-live",
                at=clock.now,
            )
            typer.echo(f"     go-live import: {imported} contract (coop-mirai ← 山田 花子)")

            s.step("coop-mirai: judge the 廃止取次 addressed to us automatically")
            s.call("coop-mirai", "PUT", "/v1/switching-settings", json={"auto_judge": True})

            s.step("r-hikari files the switch with its 廃止取次 (P1 + P2)")
            filed = s.call(
                "r-hikari",
                "POST",
                "/v1/switches",
                json={
                    "supply_point_id": "03-1234-5678-9012-3456-7890",
                    "customer": _customer("山田　花子", "やまだ はなこ", "千代田区千代田1-1-1"),
                    "new_contract_number": "HK-0001",
                    "forwarding": {"old_contract_number": "CM-2016-0001"},
                },
            )
            flow_id, fw = filed["flow"]["flow_id"], filed["forwarding_id"]
            typer.echo(f"     flow {flow_id} awaiting_judgement; 廃止取次 {fw}")
            p3 = s.call("r-hikari", "GET", f"/v1/supply-points/{POINT}")
            day = p3["items"]["meter_reading_day"]
            typer.echo(
                f"     P3 設備情報照会 as {p3['access']['relation']}: "
                f"{len(p3['items'])} items, meter-reading day {day}"
            )
            s.inboxes()

            clock.advance(minutes=5)
            s.step("the clock ticks: coop-mirai's automatic judgement")
            report = tick(engine, gate=gate, at=clock.now)
            view = s.call("occto", "GET", f"/v1/flows/{flow_id}")["flow"]
            typer.echo(
                f"     judged {report.judged}: {view['forwarding']['result']} → {view['state']}"
            )
            s.inboxes()

            clock.advance(hours=2)
            s.step("tso-03 fixes the switching date")
            dated = s.call("tso-03", "POST", f"/v1/flows/{flow_id}/date", json={})["flow"]
            typer.echo(f"     switching date {dated['fixed_date']}")
            s.inboxes()

            clock.now = datetime.combine(
                date.fromisoformat(dated["fixed_date"]), datetime.min.time(), tzinfo=JST
            ) + timedelta(minutes=1)
            s.step("the date has come: the clock completes the switch")
            typer.echo(f"     completed {tick(engine, gate=gate, at=clock.now).completed}")
            s.inboxes()

            s.step("r-hikari files a move-in (再点) at the point without supply")
            moved = s.call(
                "r-hikari",
                "POST",
                "/v1/move-ins",
                json={
                    "supply_point_id": VACANT,
                    "customer": _customer("佐藤 一郎", "サトウ イチロウ", "千代田区千代田2-2-2"),
                    "new_contract_number": "HK-0002",
                    "wished_date": (clock.now + timedelta(days=10)).date().isoformat(),
                },
            )["flow"]
            dated = s.call("tso-03", "POST", f"/v1/flows/{moved['flow_id']}/date", json={})
            typer.echo(f"     move-in dated {dated['flow']['fixed_date']}")
            s.inboxes()

            s.step("r-hikari files the move-out (廃止, meter removal) of the switched point")
            out_flow = s.call(
                "r-hikari",
                "POST",
                "/v1/move-outs",
                json={
                    "supply_point_id": POINT,
                    "meter_removal": True,
                    "wished_date": (clock.now + timedelta(days=20)).date().isoformat(),
                },
            )["flow"]
            dated = s.call("tso-03", "POST", f"/v1/flows/{out_flow['flow_id']}/date", json={})
            typer.echo(f"     move-out dated {dated['flow']['fixed_date']}")

            clock.advance(days=21)
            s.step("the clock completes both")
            typer.echo(f"     completed {tick(engine, gate=gate, at=clock.now).completed}")
            s.inboxes()
        seal_all(engine)
        result = verify(engine)
        typer.echo(
            f"\nledger: {result.verified} entries verified"
            + ("" if result.ok else f"; BROKEN: {result.broken}")
        )
        return bool(result.ok)


def demo_scenario_command(database_url: DatabaseUrl = None) -> None:
    """The market flows end to end over HTTP: a switch, a move-in, a move-out, step by step."""
    if not run(database_url):
        raise typer.Exit(1)
