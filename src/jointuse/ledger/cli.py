"""``jointuse ledger``: seal, verify, sign and export checkpoints, make a key.

Only ``seal``, ``checkpoint`` (which seals first) and ``export-checkpoints`` (a file) write;
``verify`` only reads. The ledger key (:mod:`jointuse.ledger.keys`) is ``--key FILE``, else the
configured one: ``JOINTUSE_LEDGER_KEY_FILE``, or ``./var/ledger.key`` for the default database.

Exit codes: 0 fine; 1 the ledger is not intact (a break, a checkpoint or MAC problem, a refused
entry); 2 bad input (a key or file that cannot be read); 3 something required could not be
checked (``verify --require-checkpoint``) or sealing may not go on (the head is not
authenticated).
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from jointuse.core.calendar import JST
from jointuse.core.cli import DatabaseUrl, open_cli_database, resolve_database_url, typer_app
from jointuse.core.errors import JointuseError, ValidationError
from jointuse.core.settings import load_settings
from jointuse.ledger.auditing import VerifyResult
from jointuse.ledger.checkpoint import (
    HeadNotAuthenticated,
    LedgerKeyRequired,
    create_checkpoint,
    export_checkpoints,
    generate_key,
    parse_public_key,
    public_key_hex,
    stored_checkpoints,
)
from jointuse.ledger.keys import LedgerKey, bind_key, configured_key_file
from jointuse.ledger.service import DEFAULT_SEAL_BATCH, seal_all, verify

app = typer_app(help="The access ledger (アクセス記録): seal, verify, checkpoints.")

KeyFile = Annotated[Path, typer.Option("--key", help="Ed25519 private key file (PEM).")]
LedgerKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--key",
        "--key-file",
        help=(
            "The ledger key (PEM). Default: JOINTUSE_LEDGER_KEY_FILE, or ./var/ledger.key "
            "for the default database."
        ),
        show_default=False,
    ),
]
_MAX_LISTED = 20


def _fail(exc: JointuseError, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {exc.message}", err=True)
    valid = exc.details.get("valid")
    if valid is not None:
        typer.echo(f"  valid: {valid}", err=True)
    return typer.Exit(code)


def _ledger_key(explicit: Path | None, url: str) -> tuple[LedgerKey | None, Path | None]:
    path = explicit or configured_key_file(replace(load_settings(), database_url=url))
    if path is None:
        return None, None
    try:
        return LedgerKey.from_file(path), path
    except ValidationError as exc:
        raise _fail(exc) from exc


def _open(url: str, key: LedgerKey | None) -> Engine:
    """The command's database through the one door (refused when absent or not migrated), with
    ``key`` bound (the one the command was given, else the configured one)."""
    engine = open_cli_database(url)
    bind_key(engine, key)
    return engine


@app.command("seal")
def seal_command(
    database_url: DatabaseUrl = None,
    key_file: LedgerKeyOption = None,
    batch: Annotated[int, typer.Option(min=1, help="Entries per transaction.")] = (
        DEFAULT_SEAL_BATCH
    ),
    adopt: Annotated[
        bool,
        typer.Option(
            "--adopt",
            help=(
                "Accept a head that is not authenticated (a ledger from before keys), once, "
                "after checking it with `ledger verify`."
            ),
        ),
    ] = False,
) -> None:
    """Seal every committed unsealed entry (give it its chain position and hash).

    With the ledger key only entries whose MAC verifies are sealed; the others are refused
    (listed; exit 1)."""
    url = resolve_database_url(database_url)
    key, _path = _ledger_key(key_file, url)
    engine = _open(url, key)
    try:
        result = seal_all(engine, batch, key=key, adopt=adopt)
    except (HeadNotAuthenticated, LedgerKeyRequired) as exc:
        raise _fail(exc, 3) from exc
    finally:
        engine.dispose()
    typer.echo(f"sealed {result.sealed}; head at chain position {result.head_pos}")
    typer.echo(f"head hash {result.head_hash}")
    if key is None:
        typer.echo("sealed without a ledger key: no MAC checked, no seal MAC written")
    if result.refused:
        typer.echo(f"REFUSED {len(result.refused)} entries (left unsealed):")
        for refused in result.refused[:_MAX_LISTED]:
            typer.echo(f"  seq {refused.seq}: {refused.reason}")
        raise typer.Exit(1)


@app.command("verify")
def verify_command(
    database_url: DatabaseUrl = None,
    key_file: LedgerKeyOption = None,
    public_key: Annotated[
        list[str] | None,
        typer.Option(
            "--public-key",
            help="Trusted checkpoint key: 64 hex digits or a PEM file (repeatable).",
        ),
    ] = None,
    checkpoint_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint-file",
            help="Checkpoints exported earlier (JSON lines); its newest is checked (repeatable).",
        ),
    ] = None,
    require_checkpoint: Annotated[
        bool,
        typer.Option(
            "--require-checkpoint",
            help="Exit 3 unless a checkpoint signed by a trusted key matches the chain.",
        ),
    ] = False,
) -> None:
    """Check the ledger without writing: the chain, checkpoints, MACs; say what was not checked.

    Exit 1 when the ledger is not intact, 3 when a requirement could not be met."""
    url = resolve_database_url(database_url)
    key, key_path = _ledger_key(key_file, url)
    try:
        trusted = (
            None if not public_key else [public_key_hex(parse_public_key(k)) for k in public_key]
        )
        for path in checkpoint_file or ():
            if not path.is_file():
                raise ValidationError(
                    f"checkpoint file {path} does not exist",
                    field="checkpoint_file",
                    valid="a file written by `ledger checkpoint --export` or the server",
                )
    except ValidationError as exc:
        raise _fail(exc) from exc
    engine = open_cli_database(url)
    try:
        with Progress(
            TextColumn("verifying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task("verify", total=None)

            def progress(verified: int, total: int) -> None:
                bar.update(task, completed=verified, total=total)

            result = verify(
                engine,
                trusted_keys=trusted,
                key=key,
                checkpoint_files=checkpoint_file or (),
                progress=progress,
            )
    except ValidationError as exc:
        raise _fail(exc) from exc
    finally:
        engine.dispose()
    if key_path is not None and key is not None:
        typer.echo(f"ledger key {key_path} (public key {key.public_hex})")
    _report(result)
    unmet = result.unmet(require_checkpoint=require_checkpoint)
    for line in unmet:
        typer.echo(f"REQUIRED: {line}")
    if not result.ok:
        raise typer.Exit(1)
    if unmet:
        raise typer.Exit(3)


def _report(result: VerifyResult) -> None:
    if result.broken is None:
        typer.echo(f"verified {result.verified} entries; head hash {result.head_hash}")
    else:
        typer.echo(f"BROKEN after {result.verified} verified entries: {result.broken.describe()}")
    if result.key_checked:
        typer.echo(
            f"MACs: {result.seal_macs_checked} seal MACs checked; authenticated up to chain "
            f"position {result.authenticated}; {len(result.auth_problems)} problems"
        )
        for problem in result.auth_problems[:_MAX_LISTED]:
            typer.echo(f"  {problem.describe()}")
        if len(result.auth_problems) > _MAX_LISTED:
            typer.echo(f"  … and {len(result.auth_problems) - _MAX_LISTED} more")
    typer.echo(
        f"checkpoints: {result.checkpoints_checked} checked, "
        f"{len(result.checkpoint_problems)} with problems"
        + (f" ({result.exported_read} read from files)" if result.exported_read else "")
    )
    for cp_problem in result.checkpoint_problems:
        typer.echo(f"  {cp_problem.describe()}")
    if result.not_checked:
        typer.echo("NOT CHECKED:")
        for line in result.not_checked:
            typer.echo(f"  - {line}")


@app.command("checkpoint")
def checkpoint_command(
    database_url: DatabaseUrl = None,
    key_file: LedgerKeyOption = None,
    export: Annotated[
        Path | None,
        typer.Option("--export", help="Also append the checkpoint to this file (JSON lines)."),
    ] = None,
) -> None:
    """Seal, then sign the head (chain position, head hash, time) with the ledger key and store
    the checkpoint; with --export also append it to a file kept outside the database."""
    url = resolve_database_url(database_url)
    key, _path = _ledger_key(key_file, url)
    if key is None:
        raise _fail(
            ValidationError(
                "no ledger key to sign with",
                field="key",
                valid="--key FILE (or JOINTUSE_LEDGER_KEY_FILE)",
            )
        )
    engine = _open(url, key)
    try:
        seal_all(engine, key=key)
        cp = create_checkpoint(engine, key, export=export)
    except (HeadNotAuthenticated, LedgerKeyRequired) as exc:
        raise _fail(exc, 3) from exc
    finally:
        engine.dispose()
    typer.echo(
        f"checkpoint {cp.id}: chain position {cp.chain_pos}, head hash {cp.head_hash}, "
        f"signed at {cp.signed_at} by {cp.public_key}"
    )
    if export is not None:
        typer.echo(f"exported to {export}")


@app.command("export-checkpoints")
def export_command(
    file: Annotated[Path, typer.Argument(help="File to append to (JSON lines).")],
    database_url: DatabaseUrl = None,
) -> None:
    """Append the checkpoints stored in the database to FILE (those it does not hold yet)."""
    engine = open_cli_database(database_url)
    try:
        checkpoints = stored_checkpoints(engine)
    finally:
        engine.dispose()
    try:
        added = export_checkpoints(file, checkpoints)
    except ValidationError as exc:
        raise _fail(exc) from exc
    typer.echo(f"{added} of {len(checkpoints)} checkpoints appended to {file}")


@app.command("anomalies")
def anomalies_command(
    since: Annotated[
        str | None, typer.Option("--from", help="Start (ISO date or moment; JST when naive).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="End, exclusive (default: now).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Per person: contact reads beyond the orders held, refusal runs, reads at night, volumes
    far above their peers' or their own history (thresholds: the anomaly variables, see the
    README). The report is itself on the ledger."""
    from jointuse.ledger import anomalies as an

    try:
        thresholds = an.thresholds_from(os.environ)
        end = _moment(until, "--to") if until else datetime.now(UTC)
        start = _moment(since, "--from") if since else end - timedelta(days=7)
    except ValidationError as exc:
        raise _fail(exc) from exc
    engine = open_cli_database(database_url)
    try:
        report = an.run_report(engine, since=start, until=end, thresholds=thresholds)
    except ValidationError as exc:
        raise _fail(exc) from exc
    finally:
        engine.dispose()
    typer.echo(an.json_report(report) if as_json else an.text_report(report))


def _moment(text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            f"{option} {text!r} is not a date or moment",
            field=option,
            valid="2026-12-01 or 2026-12-01T09:00+09:00",
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=JST)


@app.command("keygen")
def keygen_command(
    key: KeyFile,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a new ledger key (Ed25519, PEM, mode 0600) and print its public key."""
    try:
        public = generate_key(key, overwrite=force)
    except ValidationError as exc:
        raise _fail(exc) from exc
    typer.echo(f"wrote private key {key} (mode 0600)")
    typer.echo(f"public key {public}")
