"""The access ledger (アクセス記録): append-only, hash-chained, sealed, signed, verified.

Services record every access decision with :func:`append` inside their own transaction; see
:mod:`jointuse.ledger.service` for sealing, :mod:`jointuse.ledger.auditing` for verifying,
:mod:`jointuse.ledger.chain` for the canonical encoding, :mod:`jointuse.ledger.keys` for the
ledger key (MACs: what a database administrator cannot forge) and
:mod:`jointuse.ledger.checkpoint` for signed checkpoints, in the database and exported.
"""

from jointuse.ledger.chain import GENESIS_HASH, ChainBreak, LedgerEntry, RefusedItem
from jointuse.ledger.keys import LedgerKey, bind_key, bound_key
from jointuse.ledger.service import (
    BackgroundSealer,
    LedgerRecord,
    SealResult,
    VerifyResult,
    append,
    find_entries,
    seal,
    seal_all,
    verify,
)

__all__ = [
    "GENESIS_HASH",
    "BackgroundSealer",
    "ChainBreak",
    "LedgerEntry",
    "LedgerKey",
    "LedgerRecord",
    "RefusedItem",
    "SealResult",
    "VerifyResult",
    "append",
    "bind_key",
    "bound_key",
    "find_entries",
    "seal",
    "seal_all",
    "verify",
]
