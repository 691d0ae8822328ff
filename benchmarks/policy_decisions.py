"""Decisions per second: jointuse's policy engine beside Cedar (cedarpy) on the same requests.

Run:  .venv/bin/python benchmarks/policy_decisions.py [--requests 20000] [--runs 5] [--seed N]
      [--emit-cedar FILE]

The workload (fixed seed): a world of parties (all four kinds, a few suspended) and supply points,
with time-sliced relations between them (contract_holder / applicant periods that end at a switch,
area_tso, dr_resource, switching_operator), and requests over all five purposes, read and write,
1–4 items each (most taken from a rule of that purpose so that many are allowed), at moments both
inside and outside the relation periods.

The Cedar side is generated from the same policy.toml:

* principal ``Party::"<code>"`` with attributes ``kind`` (String) and ``active`` (Bool);
* resource ``Link::"<party>|<point>"`` — the party's standing towards one supply point — with
  ``party`` (the Party entity) and one record attribute per relation it holds,
  ``{from: Long, to: Long}`` in epoch seconds (open-ended = a far-future sentinel);
* action ``Action::"read"`` / ``Action::"write"``;
* context ``{purpose: String, at: Long, items: Set<String>}``;
* one ``permit`` per rule and action with items: purpose, party kind, ``principal.active``,
  ``resource.party == principal``, a disjunction over the rule's relations of
  ``resource has r && resource.r.from <= context.at && context.at < resource.r.to``, and
  ``[the rule's items].containsAll(context.items)``.

Mapping (per request): our engine allows a request when one rule, through one relation holding
at ``at``, covers every asked item; that is exactly "some permit is satisfied" above. Each link
holds at most one period per relation kind (the generator ensures it), so a record per relation
suffices. Both sides must agree on allow/deny for EVERY request; the script stops otherwise.

Timing: entities, policies (Cedar ``PolicySet``/``Entities`` handles, request dicts with the
context pre-serialised) and our ``AccessRequest`` objects are all built once, outside the timed
part. Each run times a fresh ``Engine`` (index + cold memo caches included) over all requests,
then one ``cedarpy.is_authorized_batch`` over the same requests. Median of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cedarpy

from jointuse.policy.engine import (
    AccessRequest,
    Engine,
    Party,
    PartyStatus,
    RelationPeriod,
    Target,
)
from jointuse.policy.loader import default_policy
from jointuse.policy.model import Action, Policy, Rule

OPEN_END = 2**53  # epoch seconds standing for "no end" on the Cedar side
T0 = datetime(2023, 4, 1, tzinfo=UTC)
SPAN_DAYS = 3 * 365
ACTIONS: tuple[Action, ...] = ("read", "write")


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


# -- Cedar policy generated from the policy -----------------------------------------------------


def cedar_policies(policy: Policy) -> str:
    """One permit per rule × action that grants items (see module doc)."""
    out: list[str] = []
    for rule in policy.rules:
        for action in ACTIONS:
            items = sorted(rule.items_for(action))
            if not items:
                continue
            relations = " ||\n      ".join(
                f"(resource has {r} && resource.{r}.from <= context.at && "
                f"context.at < resource.{r}.to)"
                for r in sorted(rule.relations)
            )
            item_set = ", ".join(json.dumps(i) for i in items)
            out.append(
                f'@id("{rule.id}:{action}")\n'
                f'permit (principal is Party, action == Action::"{action}", resource is Link)\n'
                f"when {{\n"
                f"  principal.active &&\n"
                f"  principal.kind == {json.dumps(rule.party_kind)} &&\n"
                f"  context.purpose == {json.dumps(rule.purpose)} &&\n"
                f"  resource.party == principal &&\n"
                f"  ({relations}) &&\n"
                f"  [{item_set}].containsAll(context.items)\n"
                f"}};\n"
            )
    return "\n".join(out)


# -- the world and the requests -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    party: Party
    point: str
    periods: tuple[RelationPeriod, ...]

    @property
    def uid(self) -> str:
        return f"{self.party.code}|{self.point}"


def _moment(rng: random.Random) -> datetime:
    return T0 + timedelta(seconds=rng.randrange(SPAN_DAYS * 86400))


def build_world(rng: random.Random, n_points: int = 400) -> tuple[list[Party], list[Link]]:
    parties: list[Party] = []
    for kind, count in (("retailer", 40), ("tso", 10), ("occto", 1), ("dr_contractor", 15)):
        for n in range(count):
            status = PartyStatus.SUSPENDED if rng.random() < 0.05 else PartyStatus.ACTIVE
            parties.append(Party(f"{kind}-{n:02d}", kind, status))
    by_kind: dict[str, list[Party]] = {}
    for p in parties:
        by_kind.setdefault(p.kind, []).append(p)
    links: list[Link] = []
    for n in range(n_points):
        area = n % 10 + 1
        point = f"{area:02d}{n:020d}"
        tso = by_kind["tso"][area - 1]
        links.append(Link(tso, point, (RelationPeriod("area_tso", T0 - timedelta(days=3650)),)))
        links.append(
            Link(
                by_kind["occto"][0],
                point,
                (RelationPeriod("switching_operator", T0 - timedelta(days=3650)),),
            )
        )
        # A switch: the old retailer holds the point until the switch, the new one applied
        # some weeks before and holds it from then on.
        switch = _moment(rng)
        old, new = rng.sample(by_kind["retailer"], 2)
        links.append(
            Link(old, point, (RelationPeriod("contract_holder", T0 - timedelta(days=400), switch),))
        )
        links.append(
            Link(
                new,
                point,
                (
                    RelationPeriod("applicant", switch - timedelta(days=30), switch),
                    RelationPeriod("contract_holder", switch),
                ),
            )
        )
        if rng.random() < 0.4:
            start = _moment(rng)
            end = start + timedelta(days=rng.randrange(30, 700))
            dr = rng.choice(by_kind["dr_contractor"])
            links.append(Link(dr, point, (RelationPeriod("dr_resource", start, end),)))
    # Some standing without any relation (a party asking about a point it has nothing to do with).
    for _ in range(n_points // 4):
        links.append(
            Link(rng.choice(parties), f"{rng.randrange(1, 11):02d}{rng.randrange(10**20):020d}", ())
        )
    return parties, links


def build_requests(
    policy: Policy, rng: random.Random, links: list[Link], count: int
) -> list[tuple[Link, AccessRequest]]:
    purposes = [p.key for p in policy.purposes]
    items = [it.key for it in policy.items]
    rules_by: dict[tuple[str, str], list[Rule]] = {}
    for rule in policy.rules:
        rules_by.setdefault((rule.purpose, rule.party_kind), []).append(rule)
    out: list[tuple[Link, AccessRequest]] = []
    for _ in range(count):
        link = rng.choice(links)
        purpose = rng.choice(purposes)
        action: Action = "write" if rng.random() < 0.2 else "read"
        k = rng.randint(1, 4)
        candidates = rules_by.get((purpose, link.party.kind), [])
        pool = sorted(rng.choice(candidates).items_for(action)) if candidates else []
        if pool and rng.random() < 0.75:
            asked = rng.sample(pool, min(k, len(pool)))
        else:
            asked = rng.sample(items, k)
        at = _moment(rng)
        request = AccessRequest(
            party=link.party,
            purpose=purpose,
            action=action,
            target=Target(supply_point_id=link.point),
            at=at,
            items=frozenset(asked),
            relations=link.periods,
        )
        out.append((link, request))
    return out


def cedar_entities(parties: list[Party], links: list[Link]) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = [
        {
            "uid": {"type": "Party", "id": p.code},
            "attrs": {"kind": p.kind, "active": p.status is PartyStatus.ACTIVE},
            "parents": [],
        }
        for p in parties
    ]
    for link in links:
        attrs: dict[str, Any] = {"party": {"__entity": {"type": "Party", "id": link.party.code}}}
        for period in link.periods:
            if period.relation in attrs:
                raise ValueError(f"{link.uid}: two periods of {period.relation}")
            attrs[period.relation] = {
                "from": _epoch(period.valid_from),
                "to": _epoch(period.valid_to) if period.valid_to else OPEN_END,
            }
        entities.append({"uid": {"type": "Link", "id": link.uid}, "attrs": attrs, "parents": []})
    return entities


def cedar_request(link: Link, request: AccessRequest) -> dict[str, Any]:
    context = {
        "purpose": request.purpose,
        "at": _epoch(request.at),
        "items": sorted(request.items),
    }
    return {
        "principal": {"type": "Party", "id": link.party.code},
        "action": {"type": "Action", "id": request.action},
        "resource": {"type": "Link", "id": link.uid},
        "context": json.dumps(context),
    }


# -- running ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20260401)
    parser.add_argument("--emit-cedar", type=Path, help="also write the generated Cedar policy")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.runs < 1:
        parser.error("--requests and --runs must be at least 1")

    policy = default_policy()
    rng = random.Random(args.seed)
    parties, links = build_world(rng)
    pairs = build_requests(policy, rng, links, args.requests)
    requests = [r for _, r in pairs]

    cedar_text = cedar_policies(policy)
    if args.emit_cedar:
        args.emit_cedar.write_text(cedar_text, encoding="utf-8")
    policy_set = cedarpy.PolicySet.from_str(cedar_text)
    entities = cedarpy.Entities.from_json_str(json.dumps(cedar_entities(parties, links)))
    cedar_requests = [cedar_request(link, r) for link, r in pairs]

    engine_rates: list[float] = []
    cedar_rates: list[float] = []
    reference: list[bool] | None = None
    for run in range(1, args.runs + 1):
        t = time.perf_counter()
        engine = Engine(policy)
        ours = [engine.decide(r).allowed for r in requests]
        engine_s = time.perf_counter() - t

        t = time.perf_counter()
        results = cedarpy.is_authorized_batch(cedar_requests, policy_set, entities)
        cedar_s = time.perf_counter() - t
        theirs = [res.allowed for res in results]
        errors = [res.diagnostics.errors for res in results if res.diagnostics.errors]
        if errors:
            print(f"cedar evaluation errors, e.g. {errors[0]}", file=sys.stderr)
            return 2

        mismatches = [i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b]
        if mismatches:
            i = mismatches[0]
            print(
                f"MISMATCH on {len(mismatches)} request(s); first #{i}: engine={ours[i]} "
                f"cedar={theirs[i]}\n  {requests[i]}\n  {cedar_requests[i]}",
                file=sys.stderr,
            )
            return 1
        if reference is not None and ours != reference:
            print("engine decisions changed between runs", file=sys.stderr)
            return 1
        reference = ours
        engine_rates.append(len(requests) / engine_s)
        cedar_rates.append(len(requests) / cedar_s)
        print(
            f"run {run}: engine {engine_rates[-1]:>12,.0f}/s   cedarpy {cedar_rates[-1]:>12,.0f}/s"
            f"   ratio {engine_rates[-1] / cedar_rates[-1]:6.1f}x"
        )

    assert reference is not None
    allowed = sum(reference)
    by_purpose: dict[str, list[int]] = {}
    for r, ok in zip(requests, reference, strict=True):
        counts = by_purpose.setdefault(str(r.purpose), [0, 0])
        counts[int(not ok)] += 1
    engine_median = statistics.median(engine_rates)
    cedar_median = statistics.median(cedar_rates)
    print(
        f"\n{len(requests)} requests (seed {args.seed}): {allowed} allowed, "
        f"{len(requests) - allowed} denied; identical allow/deny from both on every request"
    )
    for purpose, (n_allowed, n_denied) in sorted(by_purpose.items()):
        print(f"  {purpose:<30} allowed {n_allowed:>6}  denied {n_denied:>6}")
    print(
        f"median of {args.runs} runs: engine {engine_median:,.0f} decisions/s, "
        f"cedarpy {cedar_median:,.0f} decisions/s, ratio {engine_median / cedar_median:.1f}x"
    )
    ratios = [e / c for e, c in zip(engine_rates, cedar_rates, strict=True)]
    print(f"median of the per-run ratios (same-run pairs): {statistics.median(ratios):.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
