"""``jointuse party …`` and ``jointuse token …``: the registry of joint users and their credentials.

Register with ``app.add_typer(party_app, name="party")`` and ``app.add_typer(token_app,
name="token")``. The database is ``--database-url``, else ``JOINTUSE_DATABASE_URL`` (read once per
command through :mod:`jointuse.core.settings`); it must exist and be migrated (``jointuse db
upgrade``), else the command refuses and says so (:func:`jointuse.core.cli.open_cli_database`). A
refusal
(bad input, unknown party, illegal status change) prints ``error: …`` (and what would be valid)
on stderr and exits with status 2, never with a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from jointuse.core.cli import DatabaseUrl, open_cli_database, typer_app
from jointuse.core.errors import JointuseError
from jointuse.parties import service
from jointuse.parties.model import Party
from jointuse.parties.tokens import DEFAULT_TTL_DAYS, MAX_TTL_DAYS, TokenInfo

party_app = typer_app(
    "Joint users (共同利用者): register, list, suspend, reinstate, deregister.",
    no_args_is_help=True,
)
token_app = typer_app(
    "Credentials of joint users: bearer tokens and TLS client certificates.",
    no_args_is_help=True,
)
user_app = typer_app(
    "People inside a party (利用者) and their roles: operator, field_staff, auditor, "
    "administrator.",
    no_args_is_help=True,
)

Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@contextmanager
def _database(database_url: str | None) -> Iterator[Engine]:
    """The engine of the configured database (at the head revision); refusals exit with
    status 2."""
    engine = open_cli_database(database_url)
    try:
        yield engine
    except JointuseError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        valid = getattr(exc, "valid", None)
        if valid:
            shown = ", ".join(valid) if isinstance(valid, list | tuple) else str(valid)
            typer.echo(f"  valid: {shown}", err=True)
        raise typer.Exit(2) from None
    except SQLAlchemyError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        typer.echo(
            f"error: database {engine.url.render_as_string(hide_password=True)}: {first}", err=True
        )
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    for line in [header, *rows]:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


def _echo_party(verb: str, p: Party) -> None:
    period = p.history[-1]
    note = f" ({period.reason})" if period.reason else ""
    typer.echo(f"{verb} {p.code}: {p.status.value} from {_iso(period.valid_from)}{note}")


# --- party --------------------------------------------------------------------------------------


@party_app.command("add")
def add_command(
    code: Annotated[str, typer.Option("--code", help="Party code, e.g. r-coop, tso-03.")],
    kind: Annotated[str, typer.Option("--kind", help="retailer, tso, occto or dr_contractor.")],
    name_ja: Annotated[str, typer.Option("--name-ja", help="Japanese name.")],
    name_en: Annotated[str, typer.Option("--name-en", help="English name.")],
    meti_registration: Annotated[
        str | None,
        typer.Option("--meti-registration", help="Retailer: METI registration number (A0001)."),
    ] = None,
    contractor_code: Annotated[
        str | None,
        typer.Option("--contractor-code", help="DR contractor: its contract code."),
    ] = None,
    area_code: Annotated[
        str | None, typer.Option("--area-code", help="TSO: its supply area (01–10).")
    ] = None,
    address: Annotated[str, typer.Option("--address", help="Controller address.")] = "",
    representative: Annotated[
        str, typer.Option("--representative", help="Name of the representative.")
    ] = "",
    country: Annotated[
        str, typer.Option("--country", help="Where the party is: ISO 3166-1 alpha-2 (JP).")
    ] = "JP",
    database_url: DatabaseUrl = None,
) -> None:
    """Register a joint user, active from now."""
    with _database(database_url) as engine:
        p = service.add_party(
            engine,
            code=code,
            kind=kind,
            name_ja=name_ja,
            name_en=name_en,
            meti_registration=meti_registration,
            contractor_code=contractor_code,
            area_code=area_code,
            address=address,
            representative=representative,
            country=country,
        )
    registration = f", {p.registration}" if p.registration else ""
    typer.echo(f"registered {p.code} ({p.kind.value}{registration}): {p.name_en} / {p.name_ja}")


@party_app.command("seed")
def seed_command(database_url: DatabaseUrl = None) -> None:
    """Register the ten TSOs and OCCTO from the shipped reference data (idempotent)."""
    with _database(database_url) as engine:
        added = service.seed_reference_parties(engine)
    if added:
        typer.echo(f"registered {len(added)}: {', '.join(p.code for p in added)}")
    else:
        typer.echo("reference parties already registered; nothing to do")


@party_app.command("list")
def list_command(
    kind: Annotated[str | None, typer.Option("--kind", help="Only parties of this kind.")] = None,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List the registered parties (public registry fields, current status)."""
    with _database(database_url) as engine:
        parties = service.list_parties(engine, kind=kind)
    views = [service.public_view(p) for p in parties]
    if as_json:
        typer.echo(json.dumps(views, ensure_ascii=False, indent=2))
        return
    if not views:
        typer.echo("no parties registered" + (f" of kind {kind}" if kind else ""))
        return
    _table(
        ["CODE", "KIND", "STATUS", "REGISTRATION", "NAME"],
        [
            [
                v["code"],
                v["kind"],
                v["status"],
                p.registration or "",
                f"{v['name_en']} / {v['name_ja']}",
            ]
            for v, p in zip(views, parties, strict=True)
        ],
    )


@party_app.command("show")
def show_command(code: str, as_json: Json = False, database_url: DatabaseUrl = None) -> None:
    """Show one party: registry fields, contact and status history."""
    with _database(database_url) as engine:
        record = service.get_party_record(engine, code)
    p = record.party
    data: dict[str, Any] = {
        **service.public_view(p),
        "address": record.address,
        "representative": record.representative,
        "country": record.country,
        "history": [
            {
                "status": h.status.value,
                "valid_from": _iso(h.valid_from),
                "valid_to": _iso(h.valid_to) or None,
                "reason": h.reason,
            }
            for h in p.history
        ],
    }
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for key in (
        "code",
        "kind",
        "name_ja",
        "name_en",
        "status",
        "address",
        "representative",
        "country",
    ):
        typer.echo(f"{key}: {data[key]}")
    if p.registration:
        typer.echo(f"registration: {p.registration}")
    typer.echo("history:")
    for h in p.history:
        until = _iso(h.valid_to) or "(open)"
        reason = f"  {h.reason}" if h.reason else ""
        typer.echo(f"  {h.status.value:<12} {_iso(h.valid_from)} → {until}{reason}")


Reason = Annotated[str, typer.Option("--reason", help="Why (recorded in the status history).")]


@party_app.command("suspend")
def suspend_command(code: str, reason: Reason, database_url: DatabaseUrl = None) -> None:
    """Suspend a party from now: it then sees nothing."""
    with _database(database_url) as engine:
        p = service.suspend(engine, code, reason=reason)
    _echo_party("suspended", p)


@party_app.command("reinstate")
def reinstate_command(
    code: str,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (optional).")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Make a suspended party active again from now."""
    with _database(database_url) as engine:
        p = service.reinstate(engine, code, reason=reason)
    _echo_party("reinstated", p)


@party_app.command("deregister")
def deregister_command(code: str, reason: Reason, database_url: DatabaseUrl = None) -> None:
    """Deregister a party from now (final; its tokens then authenticate a deregistered party,
    which the policy refuses)."""
    with _database(database_url) as engine:
        p = service.deregister(engine, code, reason=reason)
    _echo_party("deregistered", p)


# --- token --------------------------------------------------------------------------------------


@token_app.command("issue")
def issue_command(
    party: Annotated[str, typer.Argument(help="Code of the party the token acts for.")],
    label: Annotated[str, typer.Option("--label", help="What the token is for.")] = "",
    ttl_days: Annotated[
        int, typer.Option("--ttl-days", help=f"Days of validity (1–{MAX_TTL_DAYS}).")
    ] = DEFAULT_TTL_DAYS,
    user: Annotated[
        str | None, typer.Option("--user", help="The user (a person of the party) it is for.")
    ] = None,
    client: Annotated[
        str | None,
        typer.Option("--client", help="The named system client it is for (default: default)."),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Issue a bearer token for a user of the party (--user) or a named system client
    (--client). The secret is printed once, alone on stdout; store it now."""
    with _database(database_url) as engine:
        issued = service.issue_token(
            engine, party, label=label, ttl_days=ttl_days, user=user, client=client
        )
    holder = f"user {user}" if user else f"client {client or 'default'}"
    typer.echo(
        f"issued token {issued.token_id} for party {party} ({holder}), "
        f"expires {_iso(issued.expires_at)}",
        err=True,
    )
    typer.echo(
        "WARNING: the secret below is shown only this once and cannot be shown again; "
        "store it now (only its hash is kept).",
        err=True,
    )
    typer.echo(issued.secret)


@token_app.command("revoke")
def revoke_command(
    token_id: Annotated[
        str,
        typer.Argument(
            help="The token id as `token list` shows it, ju_<id> as the token begins, or the "
            "whole token."
        ),
    ],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a token: by its id (as `token issue` and `token list` print it), by ju_<id> (how
    the token itself begins) or by the whole token."""
    with _database(database_url) as engine:
        before = datetime.now(UTC)
        info = service.revoke_token(engine, token_id)
    assert info.revoked_at is not None
    if info.revoked_at < before:
        typer.echo(f"token {info.token_id} was already revoked at {_iso(info.revoked_at)}")
    else:
        typer.echo(f"revoked token {info.token_id} of party {info.party_code}")


def _token_view(t: TokenInfo, now: datetime) -> dict[str, str | None]:
    return {
        "token_id": t.token_id,
        "label": t.label,
        "created_at": _iso(t.created_at),
        "expires_at": _iso(t.expires_at),
        "revoked_at": _iso(t.revoked_at) or None,
        "state": t.state_at(now),
    }


@token_app.command("list")
def list_tokens_command(
    party: str, as_json: Json = False, database_url: DatabaseUrl = None
) -> None:
    """List a party's tokens (ids, labels, dates, state; never the secrets)."""
    with _database(database_url) as engine:
        tokens = service.list_tokens(engine, party)
    now = datetime.now(UTC)
    views = [_token_view(t, now) for t in tokens]
    if as_json:
        typer.echo(json.dumps(views, ensure_ascii=False, indent=2))
        return
    if not views:
        typer.echo(f"party {party} has no tokens")
        return
    _table(
        ["TOKEN ID", "STATE", "CREATED", "EXPIRES", "LABEL"],
        [
            [
                v["token_id"] or "",
                v["state"] or "",
                v["created_at"] or "",
                v["expires_at"] or "",
                v["label"] or "",
            ]
            for v in views
        ],
    )


@token_app.command("cert-add")
def cert_add_command(party: str, fingerprint: str, database_url: DatabaseUrl = None) -> None:
    """Register a TLS client certificate of PARTY by its SHA-256 FINGERPRINT (AB:CD:… accepted)."""
    with _database(database_url) as engine:
        info = service.register_certificate(engine, party, fingerprint)
    typer.echo(f"registered certificate {info.fingerprint} for party {info.party_code}")


@token_app.command("cert-list")
def cert_list_command(party: str, as_json: Json = False, database_url: DatabaseUrl = None) -> None:
    """List a party's TLS client certificates (fingerprints, dates, state)."""
    with _database(database_url) as engine:
        certificates = service.list_certificates(engine, party)
    views = [
        {
            "fingerprint": c.fingerprint,
            "created_at": _iso(c.created_at),
            "revoked_at": _iso(c.revoked_at) or None,
            "state": "revoked" if c.revoked_at is not None else "valid",
        }
        for c in certificates
    ]
    if as_json:
        typer.echo(json.dumps(views, ensure_ascii=False, indent=2))
        return
    if not views:
        typer.echo(f"party {party} has no certificates")
        return
    _table(
        ["FINGERPRINT", "STATE", "REGISTERED", "REVOKED"],
        [
            [v["fingerprint"] or "", v["state"] or "", v["created_at"] or "", v["revoked_at"] or ""]
            for v in views
        ],
    )


@token_app.command("cert-revoke")
def cert_revoke_command(fingerprint: str, database_url: DatabaseUrl = None) -> None:
    """Revoke a TLS client certificate by its SHA-256 fingerprint."""
    with _database(database_url) as engine:
        info = service.revoke_certificate(engine, fingerprint)
    typer.echo(f"certificate {info.fingerprint} of party {info.party_code} revoked")


@user_app.command("add")
def user_add_command(
    party: Annotated[str, typer.Argument(help="Code of the party.")],
    code: Annotated[str, typer.Argument(help="The user's code within the party.")],
    role: Annotated[
        str, typer.Option("--role", help="operator, field_staff, auditor or administrator.")
    ],
    name: Annotated[str, typer.Option("--name", help="The person's name.")],
    email: Annotated[str | None, typer.Option("--email", help="Their e-mail address.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a person to the party, with one role."""
    with _database(database_url) as engine:
        user = service.add_user(engine, party, code=code, name=name, role=role, email=email)
    typer.echo(f"user {user.code} of {party}: {user.role}")


@user_app.command("list")
def user_list_command(
    party: Annotated[str, typer.Argument(help="Code of the party.")],
    database_url: DatabaseUrl = None,
) -> None:
    """The party's users, their roles and whether they are active."""
    with _database(database_url) as engine:
        users = service.list_users(engine, party)
    for u in users:
        state = f"deactivated {_iso(u.deactivated_at)}" if u.deactivated_at else "active"
        typer.echo(f"{u.code}\t{u.role}\t{state}\t{u.name}")


@user_app.command("deactivate")
def user_deactivate_command(
    party: Annotated[str, typer.Argument(help="Code of the party.")],
    code: Annotated[str, typer.Argument(help="The user's code.")],
    database_url: DatabaseUrl = None,
) -> None:
    """The person leaves: their tokens stop working at once."""
    with _database(database_url) as engine:
        service.deactivate_user(engine, party, code)
    typer.echo(f"user {code} of {party} deactivated")
