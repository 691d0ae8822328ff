"""``jointuse policy …``: render the notice, check the policy, explain one decision."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import typer

from jointuse.core.cli import typer_app
from jointuse.core.errors import ConfigError, JointuseError
from jointuse.policy.engine import (
    AccessRequest,
    Decision,
    Engine,
    Party,
    PartyStatus,
    RelationPeriod,
    Target,
)
from jointuse.policy.model import Policy
from jointuse.policy.render import FORMATS, LANGS, render_notice

app = typer_app(
    "The joint-use policy (共同利用ポリシー): render the notice, check it, explain decisions.",
    no_args_is_help=True,
)


def _choice(*valid: str) -> Callable[[str], str]:
    """An option callback accepting only ``valid`` values and naming them when refused."""

    def check(value: str) -> str:
        if value not in valid:
            raise typer.BadParameter(f"{value!r} is not one of: {', '.join(valid)}")
        return value

    return check


def _choice_option(name: str, *valid: str, help: str) -> Any:
    return typer.Option(
        name, callback=_choice(*valid), metavar="[" + "|".join(valid) + "]", help=help
    )


PolicyOption = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        help="Policy TOML file (default: the shipped data/policy.toml).",
        dir_okay=False,
    ),
]


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _load(path: Path | None) -> Policy:
    from jointuse.policy.loader import default_policy, load_policy

    try:
        return default_policy() if path is None else load_policy(path)
    except ConfigError as exc:
        _fail(exc.message)


@app.command()
def render(
    lang: Annotated[str, _choice_option("--lang", *LANGS, help="Language.")] = "ja",
    fmt: Annotated[str, _choice_option("--format", *FORMATS, help="Output format.")] = "txt",
    policy: PolicyOption = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write to this file instead of stdout.", dir_okay=False
        ),
    ] = None,
) -> None:
    """Write the joint-use notice generated from the policy file."""
    loaded = _load(policy)
    try:
        text = render_notice(loaded, lang=lang, fmt=fmt)  # type: ignore[arg-type]
    except JointuseError as exc:
        _fail(exc.message)
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror}")
    typer.echo(f"wrote {output} ({lang}, {fmt})", err=True)


@app.command()
def check(
    policy: PolicyOption = None,
    fmt: Annotated[str, _choice_option("--format", "text", "json", help="Report format.")] = "text",
    lang: Annotated[str, _choice_option("--lang", "en", "ja", help="Message language.")] = "en",
    reference: Annotated[
        Path | None,
        typer.Option(
            "--reference",
            help="Registry data of the TSOs and OCCTO with their addresses and representatives "
            "(format of data/reference_parties.toml; default: the shipped one).",
            dir_okay=False,
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Also check every registered party (retailers, DR contractors…): address, "
            "representative, country. Only when given.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Report what the law requires that the policy lacks (gaps), errors and warnings.

    Exit status 0 when there is no gap and no error; 1 when there is (the report says what to
    fix in the policy); 2 when there is nothing to report on: the file cannot be read or is not a
    valid policy (not TOML, a dangling reference — the reason on stderr), or an option is bad.
    """
    from jointuse.policy.check import check_policy, format_report

    registry = None
    if reference is not None:
        from jointuse.parties.reference import parse_reference

        try:
            registry = parse_reference(reference.read_text(encoding="utf-8"), file=str(reference))
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"cannot read reference file {reference}: {exc}")
        except ConfigError as exc:
            _fail(exc.message)
    if database_url is not None:
        registry = _with_registry(registry, database_url)
    report = check_policy(_load(policy), reference=registry)
    if fmt == "json":
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo(format_report(report, lang="ja" if lang == "ja" else "en"), nl=False)
    if report.failed:
        raise typer.Exit(1)


def _with_registry(reference: Any, database_url: str) -> Any:
    """The reference data with every registered party of the database over it (by code)."""
    import dataclasses

    from jointuse.core.cli import open_cli_database
    from jointuse.parties.reference import ReferenceParty, load_reference
    from jointuse.parties.service import list_party_records

    base = reference or load_reference()
    engine = open_cli_database(database_url)
    try:
        records = list_party_records(engine)
    finally:
        engine.dispose()
    registered = {
        r.party.code: ReferenceParty(
            code=r.party.code,
            kind=r.party.kind.value,
            name_ja=r.party.name_ja,
            name_en=r.party.name_en,
            address=r.address,
            representative=r.representative,
            country=r.country,
        )
        for r in records
    }
    kept = [p for p in base.parties if p.code not in registered]
    return dataclasses.replace(base, parties=(*kept, *registered.values()))


_JST = ZoneInfo("Asia/Tokyo")
_BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


def _when(value: str, option: str) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is Japan time (JST)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 date or date-time (e.g. 2025-04-01 or "
            "2025-04-01T09:30+09:00)",
            param_hint=option,
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_JST)


def _valid(value: str, valid: list[str], what: str, option: str) -> str:
    if value not in valid:
        raise typer.BadParameter(
            f"unknown {what} {value!r}; valid {what}s: {', '.join(valid)}", param_hint=option
        )
    return value


def _relation_period(spec: str, valid: list[str]) -> RelationPeriod:
    """``relation`` (held since ever, open-ended) or ``relation@FROM[/TO]`` (``[FROM, TO)``)."""
    name, _, span = spec.partition("@")
    _valid(name, valid, "relation", "--relation")
    if not span:
        return RelationPeriod(name, _BEGINNING, None)
    start, _, end = span.partition("/")
    try:
        return RelationPeriod(
            name,
            _when(start, "--relation"),
            _when(end, "--relation") if end else None,
        )
    except JointuseError as exc:
        raise typer.BadParameter(exc.message, param_hint="--relation") from None


def _jsonable(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def format_decision(decision: Decision) -> str:
    """A readable account of one decision."""
    verdict = "ALLOWED" if decision.allowed else "DENIED"
    lines = [
        f"{verdict} ({decision.reason.value}): {decision.message}",
        f"  purpose:  {decision.purpose}",
        f"  action:   {decision.action}",
        f"  party:    {decision.party_code}",
        f"  rule:     {decision.rule_id or '-'}",
        f"  relation: {decision.relation or '-'}",
        f"  granted:  {', '.join(decision.granted) or '-'}",
    ]
    for r in decision.refused:
        lines.append(f"  refused:  {r.item} ({r.reason.value}): {r.message}")
    if decision.legal_basis_en:
        lines.append(f"  legal basis: {decision.legal_basis_en}")
    if decision.valid_from is not None or decision.valid_to is not None:
        start = decision.valid_from.isoformat() if decision.valid_from else "-"
        end = decision.valid_to.isoformat() if decision.valid_to else "open"
        lines.append(f"  period:   {start} – {end}")
    for c in decision.controllers:
        who = c.party_code or "(not known for this target)"
        note = " [exception]" if c.exception else ""
        lines.append(f"  controller of {c.category}: {who} ({c.party_kind}){note}")
    return "\n".join(lines) + "\n"


@app.command()
def explain(
    party_kind: Annotated[str, typer.Option("--party-kind", help="Kind of the acting party.")],
    purpose: Annotated[str, typer.Option("--purpose", help="Purpose key, e.g. P1_wheeling.")],
    relation: Annotated[
        list[str] | None,
        typer.Option(
            "--relation",
            help="Relation of the party to the target: NAME or NAME@FROM[/TO] (ISO dates; "
            "FROM inclusive, TO exclusive). Repeatable.",
        ),
    ] = None,
    item: Annotated[
        list[str] | None,
        typer.Option("--item", help="Item key asked for (repeatable; none = all the rule allows)."),
    ] = None,
    action: Annotated[str, _choice_option("--action", "read", "write", help="Action.")] = "read",
    party_code: Annotated[
        str | None, typer.Option("--party-code", help="Code of the acting party.")
    ] = None,
    status: Annotated[
        str,
        _choice_option(
            "--status", *(s.value for s in PartyStatus), help="Status of the acting party."
        ),
    ] = "active",
    at: Annotated[
        str | None, typer.Option("--at", help="Moment of the request (ISO 8601; default now).")
    ] = None,
    supply_point_id: Annotated[
        str | None, typer.Option("--supply-point-id", help="Target supply point ID.")
    ] = None,
    area_code: Annotated[
        str | None, typer.Option("--area-code", help="Target's supply area (01–10).")
    ] = None,
    contract_kind: Annotated[
        str | None,
        typer.Option("--contract-kind", help="e.g. standard, remote_island, last_resort."),
    ] = None,
    retailer_code: Annotated[
        str | None, typer.Option("--retailer-code", help="Retailer holding the contract.")
    ] = None,
    dr_contractor_code: Annotated[
        str | None, typer.Option("--dr-contractor-code", help="DR contractor of the point.")
    ] = None,
    policy: PolicyOption = None,
    fmt: Annotated[str, _choice_option("--format", "text", "json", help="Output format.")] = "text",
) -> None:
    """Decide one request against the policy and explain the decision.

    Exit status 0 when allowed, 1 when denied, 2 on bad options.
    """
    loaded = _load(policy)
    _valid(party_kind, [k.key for k in loaded.party_kinds], "party kind", "--party-kind")
    _valid(purpose, [p.key for p in loaded.purposes], "purpose", "--purpose")
    item_keys = [it.key for it in loaded.items]
    for key in item or []:
        _valid(key, item_keys, "item", "--item")
    relation_keys = [r.key for r in loaded.relations]
    periods = tuple(_relation_period(spec, relation_keys) for spec in relation or [])
    if area_code is not None:
        from jointuse.parties.reference import area_codes

        _valid(area_code, sorted(area_codes()), "area code", "--area-code")
    request = AccessRequest(
        party=Party(party_code or f"{party_kind}-cli", party_kind, PartyStatus(status)),
        purpose=purpose,
        action=action,
        target=Target(
            supply_point_id=supply_point_id,
            area_code=area_code,
            contract_kind=contract_kind,
            retailer_code=retailer_code,
            dr_contractor_code=dr_contractor_code,
        ),
        at=_when(at, "--at") if at else datetime.now(tz=_JST),
        items=frozenset(item or ()),
        relations=periods,
    )
    try:
        decision = Engine(loaded).decide(request)
    except JointuseError as exc:
        _fail(exc.message)
    if fmt == "json":
        payload = _jsonable(asdict(decision))
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        typer.echo(format_decision(decision), nl=False)
    if not decision.allowed:
        raise typer.Exit(1)


@app.command("diff")
def diff_command(
    old: Annotated[Path, typer.Argument(help="The version in force (policy TOML).")],
    new: Annotated[Path, typer.Argument(help="The new version (policy TOML).")],
    fmt: Annotated[str, _choice_option("--format", "text", "json", help="Output format.")] = (
        "text"
    ),
) -> None:
    """Classify each change from OLD to NEW by what the law requires for it (APPI Art. 27(6)):
    consent (items, joint users), advance notice (purposes, controllers), without delay (a
    controller's name, address, representative), or none; and say from when NEW is in force.

    Exit 1 when a change needs the people's consent, 2 when a file is not a valid policy."""
    from jointuse.policy.versions import PolicyVersions

    before, after = _load(old), _load(new)
    try:
        versions = PolicyVersions([before, after])
    except ConfigError as exc:
        _fail(exc.message)
    latest = versions.versions[-1]
    if fmt == "json":
        typer.echo(
            json.dumps(
                {
                    "old": before.notice.version,
                    "new": after.notice.version,
                    "in_force_from": latest.in_force_from.isoformat(),
                    "needs_consent": latest.needs_consent,
                    "changes": [c.to_dict() for c in latest.changes],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        typer.echo(f"policy diff: {before.notice.version} → {after.notice.version}")
        for c in latest.changes:
            typer.echo(f"{c.requirement.upper():<15}{c.kind} {c.subject}: {c.what} ({c.detail})")
            typer.echo(f"               {c.test_en}")
        typer.echo(
            f"{len(latest.changes)} change(s); {after.notice.version} in force from "
            f"{latest.in_force_from.isoformat()}"
        )
    if latest.needs_consent:
        raise typer.Exit(1)
