"""Business rules the database enforces, and their violations as 409 problems naming the rule.

Every "at most one …" or "no overlapping …" rule is a database constraint (a unique index, an
exclusion constraint on PostgreSQL, a trigger on SQLite), so that two concurrent requests cannot
both pass an application check. When the database refuses a write, :func:`conflict_from` turns
the driver's :class:`~sqlalchemy.exc.IntegrityError` into a :class:`Conflict` (HTTP 409) whose
``rule`` is the constraint's name and whose message says the rule in words — never a 500, and
never another party's data (the message is the rule's, not the row's).

Areas register their rules next to their tables with :func:`rule` (name → words). How the name
is found:

* PostgreSQL: the driver reports the violated constraint's name (``diag.constraint_name``);
* SQLite: a trigger aborts with the rule's name as its message; a unique index or key reports
  its columns (``UNIQUE constraint failed: t.a, t.b``), mapped back to the index of those columns
  in :data:`jointuse.core.db.metadata` (so two unique rules of one table must differ in columns).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from sqlalchemy import Index, MetaData, PrimaryKeyConstraint, UniqueConstraint
from sqlalchemy.exc import IntegrityError

from jointuse.core.errors import JointuseError

_RULES: dict[str, str] = {}
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")


class Conflict(JointuseError):
    """A write the database refused by a named rule (409)."""

    code = "conflict"
    status = 409

    def __init__(self, message: str, *, rule: str, **details: Any) -> None:
        super().__init__(message, rule=rule, **details)
        self.rule = rule


def rule(name: str, words: str) -> str:
    """Register the constraint ``name`` as the rule ``words`` (idempotent); return ``name``."""
    _RULES[name] = words
    return name


def rules() -> Mapping[str, str]:
    """The registered rules (constraint name → words)."""
    return MappingProxyType(_RULES)


def _signatures(metadata: MetaData) -> dict[str, str]:
    """``"table.a, table.b"`` (SQLite's wording) → name, for every unique key and index."""
    out: dict[str, str] = {}
    for table in metadata.tables.values():
        candidates: list[tuple[str | None, list[str]]] = []
        for c in table.constraints:
            if isinstance(c, PrimaryKeyConstraint | UniqueConstraint):
                candidates.append((str(c.name) if c.name else None, [col.name for col in c]))
        for ix in table.indexes:
            if isinstance(ix, Index) and ix.unique:
                candidates.append((str(ix.name) if ix.name else None, [c.name for c in ix.columns]))
        for name, cols in candidates:
            if name:
                out[", ".join(f"{table.name}.{col}" for col in cols)] = name
    return out


def constraint_name(exc: IntegrityError, metadata: MetaData | None = None) -> str | None:
    """The name of the constraint ``exc`` violated, where the backend tells it."""
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    if diag is not None and getattr(diag, "constraint_name", None):
        return str(diag.constraint_name)
    text = str(orig)
    for name in _RULES:
        if name in text:  # a SQLite trigger's RAISE(ABORT, '<name>')
            return name
    found = _SQLITE_UNIQUE.search(text)
    if found:
        if metadata is None:
            from jointuse.core.db import metadata as shared

            metadata = shared
        return _signatures(metadata).get(found.group(1).strip())
    return None


def conflict_from(exc: IntegrityError, metadata: MetaData | None = None) -> Conflict | None:
    """The :class:`Conflict` for a violation of a registered rule, else None (a bug: a write
    that breaks a constraint no rule names must surface as an error, not be explained away)."""
    name = constraint_name(exc, metadata)
    if name is None or name not in _RULES:
        return None
    return Conflict(f"refused by the rule: {_RULES[name]}", rule=name)
