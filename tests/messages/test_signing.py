"""The webhook signature a receiver checks: HMAC-SHA256 over timestamp, message ID and raw body,
within a timestamp tolerance; the replay guard keeps one message ID once."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from jointuse.messages.signing import (
    MESSAGE_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ReplayGuard,
    SignatureError,
    sign,
    verify_signature,
)

SECRET = "whsec_test-secret"
BODY = b'{"id":7,"kind":"date_fixed","body":{"state":"date_fixed"}}'
T = 1_750_000_000


def test_a_signed_push_verifies_and_the_signature_is_the_documented_hmac() -> None:
    headers = sign(SECRET, "7", BODY, timestamp=T)
    expected = hmac.new(SECRET.encode(), f"{T}.7.".encode() + BODY, hashlib.sha256).hexdigest()
    assert headers == {
        MESSAGE_ID_HEADER: "7",
        TIMESTAMP_HEADER: str(T),
        SIGNATURE_HEADER: f"v1={expected}",
    }
    verified = verify_signature(SECRET, body=BODY, headers=headers, now=T + 10)
    assert (verified.message_id, verified.timestamp) == ("7", T)
    # header names are case-insensitive, as HTTP's
    lowered = {k.lower(): v for k, v in headers.items()}
    assert verify_signature(SECRET, body=BODY, headers=lowered, now=T).message_id == "7"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"body": BODY.replace(b"date_fixed", b"completed")}, "no_matching_signature"),
        ({"secret": "whsec_other"}, "no_matching_signature"),
        ({MESSAGE_ID_HEADER: "8"}, "no_matching_signature"),
        ({TIMESTAMP_HEADER: str(T + 1)}, "no_matching_signature"),
        ({"now": T + 301}, "timestamp_out_of_tolerance"),
        ({"now": T - 301}, "timestamp_out_of_tolerance"),
        ({TIMESTAMP_HEADER: "soon"}, "malformed"),
        ({SIGNATURE_HEADER: "sha256=abc"}, "malformed"),
        ({SIGNATURE_HEADER: ""}, "missing_header"),
        ({MESSAGE_ID_HEADER: None}, "missing_header"),
    ],
)
def test_a_push_that_does_not_verify_is_refused_with_its_reason(
    change: dict[str, object], reason: str
) -> None:
    headers: dict[str, str] = sign(SECRET, "7", BODY, timestamp=T)
    body, secret, now = BODY, SECRET, float(T)
    for key, value in change.items():
        if key == "body":
            body = value  # type: ignore[assignment]
        elif key == "secret":
            secret = str(value)
        elif key == "now":
            now = float(value)  # type: ignore[arg-type]
        elif value is None:
            del headers[key]
        else:
            headers[key] = str(value)
    with pytest.raises(SignatureError) as caught:
        verify_signature(secret, body=body, headers=headers, now=now)
    assert caught.value.reason == reason


def test_rotation_any_of_several_secrets_and_signatures() -> None:
    headers = sign("whsec_new", "7", BODY, timestamp=T)
    assert verify_signature(["whsec_old", "whsec_new"], body=BODY, headers=headers, now=T)
    old = sign("whsec_old", "7", BODY, timestamp=T)[SIGNATURE_HEADER]
    headers[SIGNATURE_HEADER] = f"{old}, {headers[SIGNATURE_HEADER]}"
    assert verify_signature("whsec_new", body=BODY, headers=headers, now=T)
    assert verify_signature("whsec_old", body=BODY, headers=headers, now=T)


def test_the_replay_guard_admits_a_message_id_once_and_forgets_after_its_time() -> None:
    guard = ReplayGuard(remember=60, max_entries=3)
    assert guard.first_time("1", now=0)
    assert not guard.first_time("1", now=30)  # a retry, or a replay
    assert guard.first_time("2", now=30)
    assert guard.first_time("1", now=61)  # forgotten after `remember`
    for n in range(3, 7):
        assert guard.first_time(str(n), now=62)
    assert guard.first_time("3", now=62)  # at most max_entries kept: the oldest went


def test_the_readme_verification_example_runs_as_documented() -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Webhooks") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    handled: list[dict[str, object]] = []
    scope: dict[str, object] = {"SECRET": SECRET, "handle": handled.append}
    exec(code.group(1), scope)
    on_push = scope["on_push"]
    headers = sign(SECRET, "7", BODY)
    assert on_push(headers, BODY) == 204  # type: ignore[operator]
    assert on_push(headers, BODY) == 204  # type: ignore[operator]  # a retry: handled once
    assert len(handled) == 1 and handled[0]["id"] == 7
    assert on_push(headers, BODY + b" ") == 400  # type: ignore[operator]
    # the by-hand recipe of the README gives the header's hex
    ts, sig = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
    by_hand = hmac.new(SECRET.encode(), f"{ts}.7.".encode() + BODY, "sha256").hexdigest()
    assert sig == f"v1={by_hand}"
