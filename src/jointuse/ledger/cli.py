"""``jointuse ledger``: seal, verify, sign checkpoints, make a signing key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from jointuse.core.cli import DatabaseUrl, open_cli_database, typer_app
from jointuse.core.errors import ValidationError
from jointuse.ledger.checkpoint import (
    create_checkpoint,
    generate_key,
    load_private_key,
    parse_public_key,
    public_key_hex,
)
from jointuse.ledger.service import DEFAULT_SEAL_BATCH, seal_all, verify

app = typer_app("The access ledger (アクセス記録): seal, verify, checkpoints.")

KeyFile = Annotated[Path, typer.Option("--key", help="Ed25519 private key file (PEM).")]


def _fail(exc: ValidationError) -> typer.Exit:
    typer.echo(f"error: {exc.message}", err=True)
    if exc.valid is not None:
        typer.echo(f"  valid: {exc.valid}", err=True)
    return typer.Exit(2)


@app.command("seal")
def seal_command(
    database_url: DatabaseUrl = None,
    batch: Annotated[int, typer.Option(min=1, help="Entries per transaction.")] = (
        DEFAULT_SEAL_BATCH
    ),
) -> None:
    """Seal every committed unsealed entry (give it its chain position and hash)."""
    engine = open_cli_database(database_url)
    try:
        result = seal_all(engine, batch)
    finally:
        engine.dispose()
    typer.echo(f"sealed {result.sealed}; head at chain position {result.head_pos}")
    typer.echo(f"head hash {result.head_hash}")


@app.command("verify")
def verify_command(
    database_url: DatabaseUrl = None,
    public_key: Annotated[
        list[str] | None,
        typer.Option(
            "--public-key",
            help="Trusted checkpoint key: 64 hex digits or a PEM file (repeatable).",
        ),
    ] = None,
    no_seal: Annotated[
        bool, typer.Option("--no-seal", help="Do not seal pending entries first.")
    ] = False,
) -> None:
    """Recompute the chain and check the checkpoints; exit 1 on any break."""
    try:
        trusted = (
            None if not public_key else [public_key_hex(parse_public_key(k)) for k in public_key]
        )
    except ValidationError as exc:
        raise _fail(exc) from exc
    engine = open_cli_database(database_url)
    try:
        if not no_seal:
            seal_all(engine)
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

            result = verify(engine, trusted_keys=trusted, progress=progress)
    finally:
        engine.dispose()
    if result.broken is None:
        typer.echo(f"verified {result.verified} entries; head hash {result.head_hash}")
    else:
        typer.echo(f"BROKEN after {result.verified} verified entries: {result.broken.describe()}")
    if result.unsealed:
        typer.echo(f"{result.unsealed} entries not sealed yet")
    typer.echo(
        f"checkpoints: {result.checkpoints_checked} checked, "
        f"{len(result.checkpoint_problems)} with problems"
        + (
            ""
            if result.keys_trusted or not result.checkpoints_checked
            else " (signatures checked against their own stored keys; pass --public-key to trust)"
        )
    )
    for problem in result.checkpoint_problems:
        typer.echo(f"  {problem.describe()}")
    if not result.ok:
        raise typer.Exit(1)


@app.command("checkpoint")
def checkpoint_command(key: KeyFile, database_url: DatabaseUrl = None) -> None:
    """Seal, then sign the head (chain position, head hash, time) and store the checkpoint."""
    try:
        private = load_private_key(key)
    except ValidationError as exc:
        raise _fail(exc) from exc
    engine = open_cli_database(database_url)
    try:
        seal_all(engine)
        cp = create_checkpoint(engine, private)
    finally:
        engine.dispose()
    typer.echo(
        f"checkpoint {cp.id}: chain position {cp.chain_pos}, head hash {cp.head_hash}, "
        f"signed at {cp.signed_at} by {cp.public_key}"
    )


@app.command("keygen")
def keygen_command(
    key: KeyFile,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a new Ed25519 private key (PEM, mode 0600) and print its public key."""
    try:
        public = generate_key(key, overwrite=force)
    except ValidationError as exc:
        raise _fail(exc) from exc
    typer.echo(f"wrote private key {key} (mode 0600)")
    typer.echo(f"public key {public}")
