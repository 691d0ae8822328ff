"""The canonical encoding and the chain verifier, without a database."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jointuse.core.errors import ValidationError
from jointuse.ledger.chain import (
    GENESIS_HASH,
    ChainVerifier,
    LedgerEntry,
    RefusedItem,
    canonical_entry,
    entry_hash,
    parse_entry,
)

T0 = datetime(2024, 4, 1, 9, 30, 0, 123456, tzinfo=timezone(timedelta(hours=9)))


def _entry(**changes: object) -> LedgerEntry:
    fields: dict[str, object] = {
        "party": "R0001",
        "purpose": "P1_wheeling",
        "action": "read",
        "decision": "allowed",
        "supply_point_id": "0312345678901234567890",
        "customer_id": "C-1",
        "items_granted": ("phone", "address", "name"),
        "items_refused": (RefusedItem("baseline", "ネガワット情報は目的外"),),
        "rule_id": "P1.retailer.read",
        "request_id": "req-1",
        "recorded_at": T0,
        "version": 2,  # clear IDs: the format before pseudonyms (version 3: test_ledger_pseudonyms)
    }
    fields.update(changes)
    return LedgerEntry(**fields)  # type: ignore[arg-type]


def test_canonical_entry_is_sorted_compact_ascii_json_in_utc() -> None:
    text = canonical_entry(_entry())
    assert text.isascii()
    assert " " not in text.replace("P1.retailer.read", "")
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert data["recorded_at"] == "2024-04-01T00:30:00.123456Z"  # 09:30 JST = 00:30 UTC
    assert data["items_granted"] == ["address", "name", "phone"]
    assert data["items_refused"] == [{"item": "baseline", "reason": "ネガワット情報は目的外"}]
    assert data["v"] == 2
    assert data["caller_request_id"] is None and data["acting_user"] is None
    assert text == json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


# A version 1 entry as stored before version 2 existed (written by the old encoder).
V1_TEXT = (
    '{"action":"read","customer_id":"C-1","decision":"allowed",'
    '"items_granted":["address","name","phone"],'
    '"items_refused":[{"item":"baseline","reason":"\\u30cd\\u30ac"}],'
    '"party":"R0001","purpose":"P1_wheeling","recorded_at":"2024-04-01T00:30:00.123456Z",'
    '"request_id":"req-1","rule_id":"P1.retailer.read",'
    '"supply_point_id":"0312345678901234567890","v":1}'
)


def test_version_1_entries_parse_and_round_trip_in_their_own_version() -> None:
    entry = parse_entry(V1_TEXT)
    assert entry.version == 1
    assert (entry.caller_request_id, entry.acting_user) == (None, None)
    assert entry.items_refused == (RefusedItem("baseline", "ネガ"),)
    assert canonical_entry(entry) == V1_TEXT  # an auditor's canonical check holds for v1
    # the same facts written today are a version 2 entry: a different text
    assert canonical_entry(_v2_of(entry)) != V1_TEXT


def _v2_of(entry: LedgerEntry) -> LedgerEntry:
    return LedgerEntry(
        party=entry.party,
        purpose=entry.purpose,
        action=entry.action,
        decision=entry.decision,
        supply_point_id=entry.supply_point_id,
        customer_id=entry.customer_id,
        items_granted=entry.items_granted,
        items_refused=entry.items_refused,
        rule_id=entry.rule_id,
        request_id=entry.request_id,
        recorded_at=entry.recorded_at,
        version=2,
    )


def test_version_2_carries_the_callers_request_id_and_the_acting_user() -> None:
    entry = _entry(caller_request_id="client-42", acting_user="user-7")
    text = canonical_entry(entry)
    data = json.loads(text)
    assert (data["v"], data["caller_request_id"], data["acting_user"]) == (2, "client-42", "user-7")
    parsed = parse_entry(text)
    assert (parsed.caller_request_id, parsed.acting_user, parsed.version) == (
        "client-42",
        "user-7",
        2,
    )
    assert canonical_entry(parsed) == text


def test_versions_are_checked() -> None:
    with pytest.raises(ValidationError) as info:
        _entry(version=5)
    assert info.value.field == "v"
    with pytest.raises(ValidationError, match="version 1 has no caller_request_id"):
        _entry(version=1, caller_request_id="x")
    with pytest.raises(ValidationError) as info:
        parse_entry(V1_TEXT.replace('"v":1', '"v":9'))
    assert info.value.field == "v"


PS_C, PS_P = "ps:" + "1" * 32, "ps:" + "2" * 32
DATA_FROM = datetime(2024, 1, 31, 15, tzinfo=UTC)  # 2024-02-01 00:00 JST
DATA_TO = datetime(2024, 2, 29, 15, tzinfo=UTC)


def test_version_4_records_the_data_window_beside_the_moment_of_access() -> None:
    entry = _entry(
        version=4, customer_id=PS_C, supply_point_id=PS_P, data_from=DATA_FROM, data_to=DATA_TO
    )
    text = canonical_entry(entry)
    data = json.loads(text)
    assert text == json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert (data["v"], data["data_from"], data["data_to"]) == (
        4,
        "2024-01-31T15:00:00.000000Z",
        "2024-02-29T15:00:00.000000Z",
    )
    assert data["recorded_at"] == "2024-04-01T00:30:00.123456Z"  # a month after the data's end
    parsed = parse_entry(text)
    assert (parsed.data_from, parsed.data_to, parsed.version) == (DATA_FROM, DATA_TO, 4)
    assert canonical_entry(parsed) == text
    # No window (a refusal; or no bound on one side): null, and back as None.
    open_ended = json.loads(
        canonical_entry(_entry(version=4, customer_id=PS_C, supply_point_id=None, data_to=None))
    )
    assert (open_ended["data_from"], open_ended["data_to"]) == (None, None)


def test_version_4_window_is_checked() -> None:
    with pytest.raises(ValidationError, match="version 3 has no data_from") as info:
        _entry(version=3, customer_id=PS_C, supply_point_id=PS_P, data_from=DATA_FROM)
    assert info.value.field == "v"
    with pytest.raises(ValidationError, match="no time zone") as info:
        _entry(version=4, data_to=datetime(2024, 2, 1))
    assert info.value.field == "data_to"
    with pytest.raises(ValidationError, match="before data_from") as info:
        _entry(version=4, data_from=DATA_TO, data_to=DATA_FROM)
    assert info.value.field == "data_to"
    with pytest.raises(ValidationError, match="pseudonym") as info:
        canonical_entry(_entry(version=4, customer_id="C-1", supply_point_id=PS_P))
    assert info.value.field == "customer_id"


def test_parse_entry_round_trips() -> None:
    entry = _entry(customer_id=None, items_refused=())
    parsed = parse_entry(canonical_entry(entry))
    assert canonical_entry(parsed) == canonical_entry(entry)
    assert parsed.recorded_at == T0
    assert parsed.customer_id is None


def test_hash_follows_the_documented_formula() -> None:
    text = canonical_entry(_entry())
    expected = hashlib.sha256(f"7\n42\n{GENESIS_HASH}\n{text}".encode()).hexdigest()
    assert entry_hash(7, 42, GENESIS_HASH, text) == expected
    assert entry_hash(7, 43, GENESIS_HASH, text) != expected


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"action": "delete"}, "action"),
        ({"decision": "maybe"}, "decision"),
        ({"party": " "}, "party"),
        ({"purpose": None}, "purpose"),
        ({"recorded_at": datetime(2024, 4, 1, 9, 30)}, "recorded_at"),
        ({"decision": "denied"}, "items_granted"),
        ({"items_granted": "name"}, "items_granted"),
        ({"request_id": "a\x00b"}, "request_id"),
        ({"party": "coop\x9fmirai"}, "party"),
        ({"rule_id": "P3\ud800"}, "rule_id"),
        ({"customer_id": "x" * 501}, "customer_id"),
        ({"caller_request_id": "a\nb"}, "caller_request_id"),
        ({"acting_user": "x" * 501}, "acting_user"),
    ],
)
def test_invalid_entries_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        _entry(**changes)
    assert info.value.field == field
    assert info.value.valid is not None


def test_printable_unicode_is_accepted() -> None:
    entry = _entry(request_id="要求-１２３　ｶﾅ")
    assert entry.request_id == "要求-１２３　ｶﾅ"


def test_refused_item_needs_a_reason() -> None:
    with pytest.raises(ValidationError) as info:
        RefusedItem("baseline", "")
    assert info.value.field == "items_refused.reason"


def _chain(n: int) -> list[tuple[int, int, str, str, str | None]]:
    rows: list[tuple[int, int, str, str, str | None]] = []
    prev = GENESIS_HASH
    for pos in range(1, n + 1):
        text = canonical_entry(_entry(request_id=f"req-{pos}", recorded_at=datetime.now(UTC)))
        digest = entry_hash(pos, pos * 10, prev, text)
        rows.append((pos, pos * 10, prev, digest, text))
        prev = digest
    return rows


def test_verifier_accepts_a_good_chain_fed_in_chunks() -> None:
    rows = _chain(25)
    verifier = ChainVerifier(watch={5, 25})
    for start in range(0, 25, 7):
        assert verifier.feed(rows[start : start + 7])
    assert verifier.verified == 25
    assert verifier.head_hash == rows[-1][3]
    assert verifier.seen == {5: rows[4][3], 25: rows[24][3]}


def test_verifier_reports_a_gap() -> None:
    rows = _chain(6)
    del rows[3]
    verifier = ChainVerifier()
    assert not verifier.feed(rows)
    assert verifier.broken is not None
    assert (verifier.broken.kind, verifier.broken.chain_pos) == ("gap", 4)
    assert verifier.verified == 3


def test_verifier_reports_an_edited_entry_and_a_bad_prev_hash() -> None:
    rows = _chain(6)
    pos, seq, prev, digest, text = rows[2]
    assert text is not None
    rows[2] = (pos, seq, prev, digest, text.replace("R0001", "R0002"))
    verifier = ChainVerifier()
    assert not verifier.feed(rows)
    assert verifier.broken is not None
    assert (verifier.broken.kind, verifier.broken.chain_pos, verifier.broken.seq) == (
        "hash_mismatch",
        3,
        30,
    )
    assert "chain position 3 (seq 30)" in verifier.broken.describe()

    rows = _chain(6)
    pos, seq, _prev, digest, text = rows[4]
    rows[4] = (pos, seq, "f" * 64, digest, text)
    verifier = ChainVerifier()
    assert not verifier.feed(rows)
    assert verifier.broken is not None
    assert (verifier.broken.kind, verifier.broken.chain_pos) == ("prev_hash_mismatch", 5)
    assert not verifier.feed(rows)  # stays broken


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=9)), timezone(-timedelta(hours=5))]
        ),
    )
)
def test_format_time_is_the_strftime_text_the_chain_has_always_hashed(moment: datetime) -> None:
    """The entry's time as hashed since format 1: ``strftime(%Y-%m-%dT%H:%M:%S.%fZ)`` in UTC
    (years before 1000 unpadded, as strftime writes them)."""
    from jointuse.ledger.chain import format_time

    assert format_time(moment) == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
