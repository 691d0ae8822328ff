"""The ledger's entries and hash chain, pure (no I/O).

Canonical encoding (versions 1 to 4)
====================================

An entry is written once, at append time, as its **canonical JSON** text, stored verbatim in the
column ``entry`` and never re-serialised:

* a JSON object with the keys ``action, customer_id, decision, items_granted, items_refused,
  party, purpose, recorded_at, request_id, rule_id, supply_point_id, v`` (``v``: the format
  version); version 2 adds ``acting_user`` and ``caller_request_id``. Absent values are
  ``null``; ``items_granted`` is a sorted array of item keys, ``items_refused`` an array of
  ``{"item": …, "reason": …}`` sorted by item then reason;
* ``recorded_at`` is UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (fixed width, so it also sorts);
* keys sorted, no whitespace (separators ``,`` and ``:``), every non-ASCII character escaped as
  ``\\uXXXX`` (``ensure_ascii``), so the text is pure ASCII and its UTF-8 bytes are unambiguous.

Versions
    Every stored entry names its version, and each version has one encoder and one decoder
    (:data:`ENCODERS`, :data:`DECODERS`): entries already stored keep verifying and round-trip
    in their own version, new entries are written in :data:`FORMAT_VERSION`. Version 2
    adds two optional fields:

    ``request_id``
        the **server's own** ID of the request (in version 1: the caller's ``X-Request-ID`` as
        given, so two parties could share one);
    ``caller_request_id``
        the caller's ``X-Request-ID``, made safe (:func:`jointuse.core.http.caller_request_id`),
        or null;
    ``acting_user``
        the person within the party who acted; always null for now (users inside parties come
        later and fill it through :func:`jointuse.access.gate.ledger_entry`).

    Version 3 (migration ``0120_pseudonyms``) has the keys of version 2, but
    ``customer_id`` and ``supply_point_id`` hold **keyed pseudonyms** instead of the IDs:
    ``ps:`` and 32 lowercase hex digits, ``HMAC-SHA256(subject key, …)`` truncated to 128 bits
    (:mod:`jointuse.ledger.pseudonyms`). A caller builds a version 3 entry with the clear IDs;
    :func:`jointuse.ledger.service.append` replaces them by their pseudonyms before encoding,
    and the encoder refuses a version 3 entry that still carries a clear ID, so none can reach
    the chain in that version. Versions 1 and 2 keep their clear IDs and verify as before.

    Version 4 (the current one) has the keys of version 3 and two more, ``data_from`` and
    ``data_to``: the window of the **data's own dates** that an allowed decision opened (UTC,
    the same fixed-width form as ``recorded_at``; null when the decision opened no window —
    a refusal — or set no bound on that side: ``data_to`` null means up to the moment of
    access). Set beside ``recorded_at``, the moment of access, they make explicit how far
    the data read lies behind the read: a losing retailer's last billing period read weeks
    after its contract ended, a DR contractor settling an event after the agreement was
    withdrawn (the policy's ``after_end_days``).

Once the sealer gives the entry its chain position, its hash is::

    hash = hex(SHA-256( UTF-8( f"{chain_pos}\\n{seq}\\n{prev_hash}\\n{entry}" ) ))

with ``chain_pos`` and ``seq`` in decimal, ``prev_hash`` the lowercase hex hash of the entry at
``chain_pos - 1`` (for the first entry, :data:`GENESIS_HASH`: 64 zeros) and ``entry`` the stored
canonical JSON. So every stored field is covered: ``seq``, ``chain_pos``, ``prev_hash`` and the
entry; the table's descriptive columns (party, purpose, …) are written with the entry and the
database refuses a row where they differ from it (:func:`entry_columns`). Because the JSON is
hashed as stored, verifying never
re-encodes (fast, and immune to backend differences in datetime or JSON rendering); an auditor
re-derives it from the rules above to check that the stored text is canonical
(:func:`canonical_entry` round-trips).

The entry row (``access_ledger``) and its seal (``access_ledger_seal``: ``chain_pos``, ``seq``,
``prev_hash``, ``hash``) are separate insert-only rows; nothing is ever updated.

Chain order is **sealing order**: ``chain_pos`` 1, 2, 3 … is contiguous; ``seq`` is the insert id
(monotonic, may have gaps from rolled-back transactions, and, on PostgreSQL, a row whose
transaction commits late is sealed after rows with a higher ``seq``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from jointuse.core.errors import ValidationError

GENESIS_HASH = "0" * 64
FORMAT_VERSION = 4
"""The version new entries are written in (see "Versions" in the module docstring)."""
ACTIONS = ("read", "write")
DECISIONS = ("allowed", "denied")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_MAX_TEXT = 500

PSEUDONYM_PREFIX = "ps:"
_PSEUDONYM = re.compile(r"ps:[0-9a-f]{32}")

Action = Literal["read", "write"]
Decision = Literal["allowed", "denied"]


_CONTROL_OR_SURROGATE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""Unicode categories Cc (control) and Cs (surrogate), as one character class: checking every
character with ``unicodedata.category`` was the costliest step of a gate request."""


def is_pseudonym(value: str | None) -> bool:
    """True for a keyed pseudonym as stored in version 3 (``ps:`` + 32 lowercase hex)."""
    return value is not None and _PSEUDONYM.fullmatch(value) is not None


def _check_text(name: str, value: object, *, required: bool) -> None:
    if value is None:
        if required:
            raise ValidationError(f"ledger entry: {name} is required", field=name, valid="text")
        return
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValidationError(
            f"ledger entry: {name} must be non-empty text, got {value!r}",
            field=name,
            valid="non-empty text",
        )
    if len(value) > _MAX_TEXT:
        raise ValidationError(
            f"ledger entry: {name} is {len(value)} characters long",
            field=name,
            valid=f"at most {_MAX_TEXT} characters",
        )
    bad = _CONTROL_OR_SURROGATE.search(value)
    if bad is not None:
        raise ValidationError(
            f"ledger entry: {name} contains the control or surrogate character {bad.group()!r}",
            field=name,
            valid="printable text without control characters",
        )


@dataclass(frozen=True, slots=True)
class RefusedItem:
    """An item the policy refused, and why."""

    item: str
    reason: str

    def __post_init__(self) -> None:
        _check_text("items_refused.item", self.item, required=True)
        _check_text("items_refused.reason", self.reason, required=True)


def format_time(value: datetime, *, field: str = "recorded_at") -> str:
    """UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; a naive datetime is refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"ledger entry: {field} {value.isoformat()} has no time zone",
            field=field,
            valid="a time-zone-aware datetime (stored in UTC)",
        )
    utc = value.astimezone(UTC)
    if utc.year < 1000:  # strftime's %Y does not pad the year; isoformat does
        return utc.strftime(_TIME_FORMAT)
    # The same text as strftime(_TIME_FORMAT), several times faster (once per ledger entry).
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One access decision (アクセス記録の1件): who, which purpose, what, whose data, outcome.

    ``recorded_at`` defaults to the time of :func:`jointuse.ledger.service.append`.
    ``version`` is the format the entry is (or was) stored in: :data:`FORMAT_VERSION` for new
    entries; a parsed version 1 entry keeps 1 (it has no ``caller_request_id``/``acting_user``).
    """

    party: str
    purpose: str
    action: Action
    decision: Decision
    supply_point_id: str | None = None
    customer_id: str | None = None
    items_granted: tuple[str, ...] = ()
    items_refused: tuple[RefusedItem, ...] = ()
    rule_id: str | None = None
    request_id: str | None = None
    recorded_at: datetime | None = None
    caller_request_id: str | None = None
    acting_user: str | None = None
    data_from: datetime | None = None
    data_to: datetime | None = None
    version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        _check_text("party", self.party, required=True)
        _check_text("purpose", self.purpose, required=True)
        if self.action not in ACTIONS:
            raise ValidationError(
                f"ledger entry: action {self.action!r} is not known",
                field="action",
                valid=list(ACTIONS),
            )
        if self.decision not in DECISIONS:
            raise ValidationError(
                f"ledger entry: decision {self.decision!r} is not known",
                field="decision",
                valid=list(DECISIONS),
            )
        for name in _OPTIONAL_TEXT:
            _check_text(name, getattr(self, name), required=False)
        if isinstance(self.items_granted, str) or not isinstance(self.items_granted, tuple):
            raise ValidationError(
                "ledger entry: items_granted must be a tuple of item keys",
                field="items_granted",
                valid="tuple[str, ...]",
            )
        for item in self.items_granted:
            _check_text("items_granted", item, required=True)
        if not isinstance(self.items_refused, tuple) or not all(
            isinstance(r, RefusedItem) for r in self.items_refused
        ):
            raise ValidationError(
                "ledger entry: items_refused must be a tuple of RefusedItem",
                field="items_refused",
                valid="tuple[RefusedItem, ...]",
            )
        if self.decision == "denied" and self.items_granted:
            raise ValidationError(
                "ledger entry: a denied decision cannot grant items",
                field="items_granted",
                valid="() when decision is 'denied'",
            )
        if self.recorded_at is not None:
            format_time(self.recorded_at)
        if self.version not in ENCODERS:
            raise ValidationError(
                f"ledger entry: format version {self.version!r} is not known",
                field="v",
                valid=sorted(ENCODERS),
            )
        if self.version < 2 and (self.caller_request_id or self.acting_user):
            raise ValidationError(
                "ledger entry: format version 1 has no caller_request_id or acting_user",
                field="v",
                valid=f"{FORMAT_VERSION} for entries with those fields",
            )
        for name in ("data_from", "data_to"):
            value = getattr(self, name)
            if value is None:
                continue
            if self.version < 4:
                raise ValidationError(
                    f"ledger entry: format version {self.version} has no {name}",
                    field="v",
                    valid=f"{FORMAT_VERSION} for entries with a data window",
                )
            format_time(value, field=name)
        if (
            self.data_from is not None
            and self.data_to is not None
            and self.data_to < self.data_from
        ):
            raise ValidationError(
                "ledger entry: data_to is before data_from",
                field="data_to",
                valid=f"a moment at or after data_from ({self.data_from.isoformat()})",
            )

    def with_subjects(self, customer_id: str | None, supply_point_id: str | None) -> LedgerEntry:
        """This entry naming ``customer_id`` / ``supply_point_id`` instead (pseudonymising or
        revealing). Both must be valid ledger text (pseudonyms, or IDs from the ledger's own
        subject keys): the copy is not validated again (the append's hot path)."""
        for value in (customer_id, supply_point_id):
            if value is not None and (not isinstance(value, str) or len(value) > _MAX_TEXT):
                raise ValidationError(
                    f"ledger entry: subject {value!r} is not valid text",
                    field="customer_id" if value is customer_id else "supply_point_id",
                    valid=f"text of at most {_MAX_TEXT} characters",
                )
        new = object.__new__(LedgerEntry)
        for name in LedgerEntry.__slots__:
            object.__setattr__(new, name, getattr(self, name))
        object.__setattr__(new, "customer_id", customer_id)
        object.__setattr__(new, "supply_point_id", supply_point_id)
        return new

    def stamped(self, now: datetime) -> LedgerEntry:
        """This entry with ``recorded_at`` set to ``now`` unless already set."""
        if self.recorded_at is not None:
            return self
        return LedgerEntry(
            party=self.party,
            purpose=self.purpose,
            action=self.action,
            decision=self.decision,
            supply_point_id=self.supply_point_id,
            customer_id=self.customer_id,
            items_granted=self.items_granted,
            items_refused=self.items_refused,
            rule_id=self.rule_id,
            request_id=self.request_id,
            recorded_at=now,
            caller_request_id=self.caller_request_id,
            acting_user=self.acting_user,
            data_from=self.data_from,
            data_to=self.data_to,
            version=self.version,
        )


_OPTIONAL_TEXT = (
    "supply_point_id",
    "customer_id",
    "rule_id",
    "request_id",
    "caller_request_id",
    "acting_user",
)

_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, sort_keys=True).encode


def _encode_v1(entry: LedgerEntry, recorded_at: str, granted: str, refused: str) -> str:
    enc = _ENCODE
    # Keys in sorted order, each value encoded by the one canonical encoder: the same text as
    # json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).
    return (
        f'{{"action":{enc(entry.action)},"customer_id":{enc(entry.customer_id)},'
        f'"decision":{enc(entry.decision)},"items_granted":{granted},'
        f'"items_refused":{refused},"party":{enc(entry.party)},"purpose":{enc(entry.purpose)},'
        f'"recorded_at":"{recorded_at}","request_id":{enc(entry.request_id)},'
        f'"rule_id":{enc(entry.rule_id)},"supply_point_id":{enc(entry.supply_point_id)},'
        f'"v":1}}'
    )


def _encode_v2(entry: LedgerEntry, recorded_at: str, granted: str, refused: str) -> str:
    enc = _ENCODE
    return (
        f'{{"acting_user":{enc(entry.acting_user)},"action":{enc(entry.action)},'
        f'"caller_request_id":{enc(entry.caller_request_id)},'
        f'"customer_id":{enc(entry.customer_id)},'
        f'"decision":{enc(entry.decision)},"items_granted":{granted},'
        f'"items_refused":{refused},"party":{enc(entry.party)},"purpose":{enc(entry.purpose)},'
        f'"recorded_at":"{recorded_at}","request_id":{enc(entry.request_id)},'
        f'"rule_id":{enc(entry.rule_id)},"supply_point_id":{enc(entry.supply_point_id)},'
        f'"v":2}}'
    )


def _encode_v3(entry: LedgerEntry, recorded_at: str, granted: str, refused: str) -> str:
    _check_pseudonyms(entry)
    enc = _ENCODE
    return (
        f'{{"acting_user":{enc(entry.acting_user)},"action":{enc(entry.action)},'
        f'"caller_request_id":{enc(entry.caller_request_id)},'
        f'"customer_id":{enc(entry.customer_id)},'
        f'"decision":{enc(entry.decision)},"items_granted":{granted},'
        f'"items_refused":{refused},"party":{enc(entry.party)},"purpose":{enc(entry.purpose)},'
        f'"recorded_at":"{recorded_at}","request_id":{enc(entry.request_id)},'
        f'"rule_id":{enc(entry.rule_id)},"supply_point_id":{enc(entry.supply_point_id)},'
        f'"v":3}}'
    )


def _moment(value: datetime | None) -> str:
    return "null" if value is None else f'"{format_time(value)}"'


def _check_pseudonyms(entry: LedgerEntry) -> None:
    for name in ("customer_id", "supply_point_id"):
        value = getattr(entry, name)
        if value is not None and not is_pseudonym(value):
            raise ValidationError(
                f"ledger entry: format version {entry.version} stores {name} as a keyed "
                "pseudonym, not in clear (append pseudonymises it)",
                field=name,
                valid="ps: followed by 32 lowercase hex digits",
            )


def _encode_v4(entry: LedgerEntry, recorded_at: str, granted: str, refused: str) -> str:
    _check_pseudonyms(entry)
    enc = _ENCODE
    return (
        f'{{"acting_user":{enc(entry.acting_user)},"action":{enc(entry.action)},'
        f'"caller_request_id":{enc(entry.caller_request_id)},'
        f'"customer_id":{enc(entry.customer_id)},'
        f'"data_from":{_moment(entry.data_from)},"data_to":{_moment(entry.data_to)},'
        f'"decision":{enc(entry.decision)},"items_granted":{granted},'
        f'"items_refused":{refused},"party":{enc(entry.party)},"purpose":{enc(entry.purpose)},'
        f'"recorded_at":"{recorded_at}","request_id":{enc(entry.request_id)},'
        f'"rule_id":{enc(entry.rule_id)},"supply_point_id":{enc(entry.supply_point_id)},'
        f'"v":4}}'
    )


Encoder = Callable[[LedgerEntry, str, str, str], str]
ENCODERS: dict[int, Encoder] = {1: _encode_v1, 2: _encode_v2, 3: _encode_v3, 4: _encode_v4}
"""Format version → encoder ``(entry, recorded_at, items_granted JSON, items_refused JSON)``."""


def entry_columns(entry: LedgerEntry) -> dict[str, str | None]:
    """The stored row of ``entry``: ``entry`` (its canonical JSON, in the entry's version) and
    the descriptive columns.

    The scalar columns hold the same values as the JSON; ``items_granted`` and ``items_refused``
    hold the compact JSON text of those arrays, exactly as they appear inside ``entry`` (the
    database refuses a row where they differ, see migration ``0001_ledger``). Version 2's new
    fields have no descriptive column (they are read from ``entry``). Needs ``recorded_at``.
    """
    if entry.recorded_at is None:
        raise ValidationError(
            "ledger entry: recorded_at must be set before encoding",
            field="recorded_at",
            valid="a time-zone-aware datetime",
        )
    enc = _ENCODE
    recorded_at = format_time(entry.recorded_at)
    granted = enc(sorted(entry.items_granted))
    refused = enc(
        [
            {"item": r.item, "reason": r.reason}
            for r in sorted(entry.items_refused, key=lambda r: (r.item, r.reason))
        ]
    )
    return {
        "entry": ENCODERS[entry.version](entry, recorded_at, granted, refused),
        "recorded_at": recorded_at,
        "party": entry.party,
        "purpose": entry.purpose,
        "action": entry.action,
        "decision": entry.decision,
        "supply_point_id": entry.supply_point_id,
        "customer_id": entry.customer_id,
        "rule_id": entry.rule_id,
        "request_id": entry.request_id,
        "items_granted": granted,
        "items_refused": refused,
    }


def canonical_entry(entry: LedgerEntry) -> str:
    """The canonical JSON text of ``entry`` (see the module docstring). Needs ``recorded_at``."""
    text = entry_columns(entry)["entry"]
    assert text is not None
    return text


def _decode_v1(data: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        party=data["party"],
        purpose=data["purpose"],
        action=data["action"],
        decision=data["decision"],
        supply_point_id=data["supply_point_id"],
        customer_id=data["customer_id"],
        items_granted=tuple(data["items_granted"]),
        items_refused=tuple(RefusedItem(r["item"], r["reason"]) for r in data["items_refused"]),
        rule_id=data["rule_id"],
        request_id=data["request_id"],
        recorded_at=parse_time(data["recorded_at"]),
        version=1,
    )


def _decode_v2(data: dict[str, Any], version: int = 2) -> LedgerEntry:
    return LedgerEntry(
        party=data["party"],
        purpose=data["purpose"],
        action=data["action"],
        decision=data["decision"],
        supply_point_id=data["supply_point_id"],
        customer_id=data["customer_id"],
        items_granted=tuple(data["items_granted"]),
        items_refused=tuple(RefusedItem(r["item"], r["reason"]) for r in data["items_refused"]),
        rule_id=data["rule_id"],
        request_id=data["request_id"],
        recorded_at=parse_time(data["recorded_at"]),
        caller_request_id=data["caller_request_id"],
        acting_user=data["acting_user"],
        version=version,
    )


def _decode_v3(data: dict[str, Any]) -> LedgerEntry:
    return _decode_v2(data, 3)  # same keys; customer_id / supply_point_id are pseudonyms


def _time_or_none(value: str | None) -> datetime | None:
    return None if value is None else parse_time(value)


def _decode_v4(data: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        party=data["party"],
        purpose=data["purpose"],
        action=data["action"],
        decision=data["decision"],
        supply_point_id=data["supply_point_id"],
        customer_id=data["customer_id"],
        items_granted=tuple(data["items_granted"]),
        items_refused=tuple(RefusedItem(r["item"], r["reason"]) for r in data["items_refused"]),
        rule_id=data["rule_id"],
        request_id=data["request_id"],
        recorded_at=parse_time(data["recorded_at"]),
        caller_request_id=data["caller_request_id"],
        acting_user=data["acting_user"],
        data_from=_time_or_none(data["data_from"]),
        data_to=_time_or_none(data["data_to"]),
        version=4,
    )


DECODERS: dict[int, Callable[[dict[str, Any]], LedgerEntry]] = {
    1: _decode_v1,
    2: _decode_v2,
    3: _decode_v3,
    4: _decode_v4,
}
"""Format version → decoder of the parsed JSON object."""


def parse_entry(text: str) -> LedgerEntry:
    """The :class:`LedgerEntry` stored as canonical JSON ``text`` (any known version)."""
    data = json.loads(text)
    version = data.get("v") if isinstance(data, dict) else None
    decoder = DECODERS.get(version) if isinstance(version, int) else None
    if decoder is None:
        raise ValidationError(
            f"ledger entry: format version {version!r} is not known",
            field="v",
            valid=sorted(DECODERS),
        )
    return decoder(data)


def hash_message(chain_pos: int, seq: int, prev_hash: str, entry_json: str) -> bytes:
    """The bytes that are hashed for the entry at ``chain_pos``."""
    return f"{chain_pos}\n{seq}\n{prev_hash}\n{entry_json}".encode()


def entry_hash(chain_pos: int, seq: int, prev_hash: str, entry_json: str) -> str:
    return hashlib.sha256(hash_message(chain_pos, seq, prev_hash, entry_json)).hexdigest()


BreakKind = Literal["gap", "prev_hash_mismatch", "hash_mismatch", "missing_entry"]


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place where the chain does not verify, and what is wrong there."""

    kind: BreakKind
    chain_pos: int
    seq: int | None
    expected: str
    found: str

    def describe(self) -> str:
        where = f"chain position {self.chain_pos}" + (
            f" (seq {self.seq})" if self.seq is not None else ""
        )
        what = {
            "gap": "entries missing: expected chain position",
            "prev_hash_mismatch": "prev_hash does not match the previous entry's hash: expected",
            "hash_mismatch": "stored hash does not match the recomputed hash: expected",
            "missing_entry": "the sealed entry is missing: expected",
        }[self.kind]
        return f"{where}: {what} {self.expected}, found {self.found}"


Row = tuple[int, int, str, str, str | None]
"""``(chain_pos, seq, prev_hash, hash, entry)`` of a seal in chain order (``entry`` None: gone)."""


@dataclass(slots=True)
class ChainVerifier:
    """Recomputes the chain over rows fed in chain order, in chunks; stops at the first break.

    ``watch`` holds chain positions whose recomputed hash is kept in ``seen`` (for checkpoints).
    """

    watch: Collection[int] = ()
    verified: int = 0
    head_hash: str = GENESIS_HASH
    broken: ChainBreak | None = None
    seen: dict[int, str] = field(default_factory=dict)

    def feed(self, rows: Iterable[Row]) -> bool:
        """Verify the next rows; ``False`` once the chain is broken."""
        if self.broken is not None:
            return False
        sha256 = hashlib.sha256
        watch = self.watch
        seen = self.seen
        expected_pos = self.verified + 1
        prev = self.head_hash
        for pos, seq, prev_hash, stored, entry in rows:
            if pos != expected_pos:
                self._stop(
                    ChainBreak("gap", expected_pos, None, str(expected_pos), str(pos)),
                    expected_pos,
                    prev,
                )
                return False
            if prev_hash != prev:
                self._stop(
                    ChainBreak("prev_hash_mismatch", pos, seq, prev, str(prev_hash)), pos, prev
                )
                return False
            if entry is None:
                self._stop(
                    ChainBreak("missing_entry", pos, seq, f"the entry with seq {seq}", "none"),
                    pos,
                    prev,
                )
                return False
            digest = sha256(f"{pos}\n{seq}\n{prev}\n{entry}".encode()).hexdigest()
            if digest != stored:
                self._stop(ChainBreak("hash_mismatch", pos, seq, digest, str(stored)), pos, prev)
                return False
            if pos in watch:
                seen[pos] = digest
            prev = digest
            expected_pos += 1
        self.verified = expected_pos - 1
        self.head_hash = prev
        return True

    def _stop(self, brk: ChainBreak, pos: int, prev: str) -> None:
        self.broken = brk
        self.verified = pos - 1
        self.head_hash = prev
