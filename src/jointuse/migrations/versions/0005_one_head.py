"""Join the parties and the customers/negawatt branches into one head.

Revision ID: 0005_one_head
Revises: 0002_parties, 0004_negawatt

The areas were first developed in parallel, each branching off ``0001_ledger``; from here on the
history is one line, so ``jointuse db current`` names one revision and a new migration has one
obvious parent (``tests/core/test_db.py`` fails on a second head).
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0005_one_head"
down_revision: str | Sequence[str] | None = ("0002_parties", "0004_negawatt")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
