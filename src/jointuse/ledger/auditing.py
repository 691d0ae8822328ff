"""``verify``: the whole verdict on the ledger, and a plain list of what it could not check.

:func:`verify` only reads (one read-only transaction, one snapshot; it never seals). It proves
the hash chain (:func:`jointuse.ledger.verifying.verify_chain`), then:

Checkpoints
    every checkpoint stored in the database, and the **newest** checkpoint of each file given
    (``checkpoint_files``, exported earlier: :mod:`jointuse.ledger.checkpoint`): its signature,
    its key (against ``trusted_keys``, plus the public half of ``key``), and that the chain still
    has its hash at its position — a truncation after it or a rewrite before it shows. The
    newest checkpoint of a file covers the earlier ones (the chain links every position to the
    ones before), so those are read (and a line that is not a checkpoint is a problem) but not
    each checked against the chain.

MACs (with ``key``, the ledger key)
    * every seal MAC at a verified position must verify, and the last verified position must be
      covered by one (each seal MAC vouches for the chain up to it: see
      :mod:`jointuse.ledger.keys`). Positions after the last authenticated one are a problem:
      sealed without the key — by hand in the database, or by a process without it. A ledger
      written before keys shows so until it is adopted once (``jointuse ledger seal --adopt``);
    * every **unsealed** entry's MAC: one that does not verify (or is missing) was not written by
      the application with the key — a forged row, which the sealer refuses; it is a problem.
      Sealed entries need no entry MAC check: the keyed sealer checked it before sealing, and
      the seal MAC covers the text since.

Not checked
    :attr:`VerifyResult.not_checked` says in words what this run could not vouch for: MACs
    without a key, signers without a trusted public key, no checkpoint kept outside the
    database, the positions after the newest trusted checkpoint (a truncation there would not
    show), entries not sealed yet, the positions after a break. :meth:`VerifyResult.unmet`
    turns requirements (``--require-checkpoint``) into failures.

What still cannot be caught
    Entries not sealed yet can be deleted without trace (the sealer runs every half second);
    positions after the newest checkpoint kept elsewhere can be cut off with their seals (the
    server exports one every minute); and someone holding the database alone can turn the whole
    ledger into an unauthenticated one (drop every MAC and re-chain): with the key, verify then
    reports every position as not authenticated, and a checkpoint kept elsewhere no longer
    matches.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, func, select, text

from jointuse.core.db import read_only
from jointuse.ledger.chain import ChainBreak
from jointuse.ledger.checkpoint import (
    Checkpoint,
    CheckpointProblem,
    checkpoint_problem,
    load_checkpoints,
    newest,
    read_checkpoint_file,
    sealed_head,
)
from jointuse.ledger.keys import LedgerKey
from jointuse.ledger.tables import access_ledger, access_ledger_seal
from jointuse.ledger.verifying import DEFAULT_VERIFY_CHUNK, Progress, verify_chain

_UNSEALED_ROWS_SQL = (
    "SELECT l.seq, l.entry, l.mac FROM access_ledger AS l WHERE NOT EXISTS"
    " (SELECT 1 FROM access_ledger_seal AS s WHERE s.seq = l.seq) ORDER BY l.seq"
)
_UNSEALED_COUNT_SQL = (
    "SELECT count(*) FROM access_ledger AS l WHERE NOT EXISTS"
    " (SELECT 1 FROM access_ledger_seal AS s WHERE s.seq = l.seq)"
)


@dataclass(frozen=True, slots=True)
class AuthProblem:
    """A MAC that does not verify, or positions / entries without one (with the key only).

    ``kind``: ``seal_mac`` (a seal MAC at ``chain_pos`` does not verify), ``unauthenticated``
    (sealed positions ``chain_pos`` .. ``last`` no seal MAC covers), ``forged_entry`` (the
    unsealed entry ``seq`` has no valid MAC)."""

    kind: str
    problem: str
    chain_pos: int | None = None
    last: int | None = None
    seq: int | None = None

    def describe(self) -> str:
        return self.problem


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """What :func:`verify` found. ``ok`` is False on a chain break, a checkpoint problem or an
    authentication problem; ``not_checked`` lists what could not be checked (module docstring).

    ``workers``: how many workers verified segments of the chain in parallel (1: sequential).
    ``authenticated``: the last position a valid seal MAC covers (0: none, or no key).
    ``pending``: unsealed entries whose MAC verifies (key given), waiting for the sealer.
    ``trusted_checkpoint``: the highest position of a checkpoint that matched the chain and is
    signed by a trusted key (None: none did).
    """

    verified: int
    head_pos: int
    head_hash: str
    unsealed: int
    broken: ChainBreak | None
    checkpoints_checked: int
    checkpoint_problems: tuple[CheckpointProblem, ...]
    keys_trusted: bool
    workers: int = 1
    key_checked: bool = False
    authenticated: int = 0
    seal_macs_checked: int = 0
    auth_problems: tuple[AuthProblem, ...] = ()
    pending: int = 0
    exported_read: int = 0
    trusted_checkpoint: int | None = None
    not_checked: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.broken is None and not self.checkpoint_problems and not self.auth_problems

    def unmet(self, *, require_checkpoint: bool = False) -> list[str]:
        """The requirements this result does not meet (each a sentence)."""
        unmet = []
        if require_checkpoint and self.trusted_checkpoint is None:
            unmet.append(
                "a checkpoint signed by a trusted key that matches the chain was required "
                "(--require-checkpoint); none did"
                + ("" if self.keys_trusted else " (no trusted key given: --public-key or --key)")
            )
        return unmet


def _read_files(
    files: Sequence[Path],
) -> tuple[list[Checkpoint], list[CheckpointProblem]]:
    found: list[Checkpoint] = []
    problems: list[CheckpointProblem] = []
    for path in files:
        got, bad = read_checkpoint_file(path)
        found += got
        problems += bad
        if not got and not bad:
            problems.append(CheckpointProblem(None, -1, "holds no checkpoint", str(path)))
    return found, problems


def _seal_macs(
    conn: Connection, key: LedgerKey, verified: int
) -> tuple[int, int, list[AuthProblem]]:
    """``(last authenticated position, seal MACs checked, problems)`` up to ``verified``."""
    s = access_ledger_seal.c
    rows = conn.execute(
        select(s.chain_pos, s.hash, s.mac)
        .where(s.mac.is_not(None), s.chain_pos <= verified)
        .order_by(s.chain_pos)
    ).all()
    last = 0
    problems: list[AuthProblem] = []
    for pos, digest, mac in rows:
        if key.seal_mac_valid(int(pos), str(digest), mac):
            last = int(pos)
        else:
            problems.append(
                AuthProblem(
                    "seal_mac",
                    f"chain position {pos}: the seal MAC does not verify (the chain was "
                    "rewritten up to here, or sealed with another key)",
                    chain_pos=int(pos),
                )
            )
    if verified > last:
        problems.append(
            AuthProblem(
                "unauthenticated",
                f"chain positions {last + 1}..{verified} are sealed but no seal MAC vouches for "
                "them: sealed without the ledger key (written in the database by hand, by a "
                "process without the key, or before keys were used and not adopted: "
                "`jointuse ledger seal --adopt`)",
                chain_pos=last + 1,
                last=verified,
            )
        )
    return last, len(rows), problems


def _unsealed(conn: Connection, key: LedgerKey) -> tuple[int, list[AuthProblem]]:
    """``(unsealed entries whose MAC verifies, a problem per other unsealed entry)``."""
    pending = 0
    problems: list[AuthProblem] = []
    for seq, entry, mac in conn.execute(text(_UNSEALED_ROWS_SQL)):
        if key.entry_mac_valid(int(seq), entry, mac):
            pending += 1
            continue
        why = "it has no MAC" if mac is None else "its MAC does not verify"
        problems.append(
            AuthProblem(
                "forged_entry",
                f"entry seq {seq} (not sealed): {why}: it was not written by the application "
                "with the ledger key (inserted in the database, or written without the key); "
                "the sealer refuses it",
                seq=int(seq),
            )
        )
    return pending, problems


def verify(
    engine: Engine,
    *,
    trusted_keys: Collection[str] | None = None,
    key: LedgerKey | None = None,
    checkpoint_files: Sequence[Path] = (),
    chunk: int = DEFAULT_VERIFY_CHUNK,
    workers: int | None = None,
    progress: Progress | None = None,
) -> VerifyResult:
    """Verify the ledger without writing anything (see the module docstring).

    ``trusted_keys``: public keys (64 hex) whose checkpoints are trusted; a checkpoint signed by
    another key is a problem. ``None`` (and no ``key``) checks each signature against the key
    stored with it (detects edits of a checkpoint, not a rewrite re-signed with a new key).
    ``key``: the ledger key — checks the MACs, and trusts its own public key.
    ``checkpoint_files``: files of exported checkpoints (their newest is checked). ``chunk``,
    ``workers``, ``progress``: see :func:`jointuse.ledger.verifying.verify_chain`.
    """
    trusted: set[str] | None = None if trusted_keys is None else {k.lower() for k in trusted_keys}
    if key is not None:
        trusted = (trusted or set()) | {key.public_hex}
    exported, file_problems = _read_files(checkpoint_files)
    newest_exported = newest(exported)
    ro = read_only(engine)
    if engine.dialect.name == "postgresql":
        ro = ro.execution_options(isolation_level="REPEATABLE READ")
    with ro.connect() as conn, conn.begin() as tx:  # one snapshot for every query below
        checkpoints = load_checkpoints(conn)
        chain = verify_chain(conn, chunk=chunk, workers=workers, progress=progress)
        verifier = chain.verifier
        verified = verifier.verified
        to_check = [*checkpoints, *([newest_exported] if newest_exported else [])]
        watch = sorted({cp.chain_pos for cp in to_check if 0 < cp.chain_pos <= verified})
        s = access_ledger_seal.c
        seen = {
            int(p): str(h)
            for p, h in conn.execute(select(s.chain_pos, s.hash).where(s.chain_pos.in_(watch)))
        }
        entries = int(conn.execute(select(func.count()).select_from(access_ledger)).scalar_one())
        if verifier.broken is None:  # every seal verified, each with its own entry
            unsealed = entries - verified
        else:
            unsealed = int(conn.execute(text(_UNSEALED_COUNT_SQL)).scalar_one())
        authenticated, macs_checked, pending = 0, 0, 0
        auth_problems: list[AuthProblem] = []
        if key is not None:
            authenticated, macs_checked, auth_problems = _seal_macs(conn, key, verified)
            if unsealed:
                pending, forged = _unsealed(conn, key)
                auth_problems += forged
        head_pos, head_hash = sealed_head(conn)
        tx.rollback()
    broken = verifier.broken is not None
    problems: list[CheckpointProblem] = []
    matched: list[int] = []
    for cp in to_check:
        problem = checkpoint_problem(
            cp, seen=seen, verified=verified, chain_broken=broken, trusted_keys=trusted
        )
        if problem is not None:
            where = "" if cp.source == "database" else cp.label
            problems.append(CheckpointProblem(cp.id, cp.chain_pos, problem, where))
        elif trusted is not None:
            matched.append(cp.chain_pos)
    problems += file_problems
    trusted_checkpoint = max(matched, default=None)
    return VerifyResult(
        verified=verified,
        head_pos=head_pos,
        head_hash=head_hash,
        unsealed=unsealed,
        broken=verifier.broken,
        checkpoints_checked=len(to_check),
        checkpoint_problems=tuple(problems),
        keys_trusted=trusted is not None,
        workers=chain.workers,
        key_checked=key is not None,
        authenticated=authenticated,
        seal_macs_checked=macs_checked,
        auth_problems=tuple(auth_problems),
        pending=pending,
        exported_read=len(exported),
        trusted_checkpoint=trusted_checkpoint,
        not_checked=tuple(
            _not_checked(
                key=key is not None,
                trusted=trusted is not None,
                files=bool(checkpoint_files),
                verified=verified,
                broken=broken,
                high=chain.high,
                unsealed=unsealed,
                pending=pending,
                trusted_checkpoint=trusted_checkpoint,
            )
        ),
    )


def _not_checked(
    *,
    key: bool,
    trusted: bool,
    files: bool,
    verified: int,
    broken: bool,
    high: int,
    unsealed: int,
    pending: int,
    trusted_checkpoint: int | None,
) -> list[str]:
    out = []
    if not key:
        out.append(
            "MACs (no ledger key: --key): whether the application wrote and sealed these "
            "entries; a forged entry, or a rewrite with the hashes recomputed, would not show"
        )
    if not trusted:
        out.append(
            "who signed the checkpoints (no trusted public key: --public-key or --key): each "
            "signature was checked against the key stored with it"
        )
    if not files:
        out.append(
            "no checkpoint kept outside the database (--checkpoint-file): the checkpoints read "
            "are the database's own, which its administrator can delete with the entries"
        )
    if broken:
        out.append(f"chain positions after {verified} (up to {high}): the chain breaks first")
    covered = trusted_checkpoint or 0
    if verified > covered:
        out.append(
            f"chain positions {covered + 1}..{verified}: no trusted checkpoint at or after "
            "them; a truncation there would not show"
        )
    if unsealed:
        how = (
            f" ({pending} with a valid MAC, waiting for the sealer)"
            if key
            else " (their MACs not checked: no key)"
        )
        out.append(f"{unsealed} entries not sealed yet: not in the chain{how}")
    return out
