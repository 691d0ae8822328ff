"""The access ledger (アクセス記録): append-only, hash-chained, sealed, signed, verified.

Services record every access decision with :func:`append` inside their own transaction; see
:mod:`jointuse.ledger.service` for sealing and verifying, :mod:`jointuse.ledger.chain` for the
canonical encoding, :mod:`jointuse.ledger.checkpoint` for signed checkpoints.
"""

from jointuse.ledger.chain import GENESIS_HASH, ChainBreak, LedgerEntry, RefusedItem
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
    "LedgerRecord",
    "RefusedItem",
    "SealResult",
    "VerifyResult",
    "append",
    "find_entries",
    "seal",
    "seal_all",
    "verify",
]
