"""Bearer tokens, client certificates and authenticate(), on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from jointuse.core.db import UnitOfWork
from jointuse.core.errors import JointuseError, NotFound, ValidationError
from jointuse.parties import service
from jointuse.parties.tables import api_token, client_certificate
from jointuse.parties.tokens import (
    AuthenticationFailed,
    AuthReason,
    IssuedToken,
    certificate_fingerprint,
    new_token,
    normalise_fingerprint,
    parse_bearer,
    token_hash,
    validate_token_id,
)
from jointuse.policy import engine as policy_engine

T0 = datetime(2024, 4, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
FP = "0123456789abcdef" * 4
FP_OTHER = "fedcba9876543210" * 4

Uow = Callable[..., UnitOfWork]


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


@pytest.fixture
def parties(engine: Engine) -> Engine:
    service.add_party(
        engine,
        code="r-coop",
        kind="retailer",
        name_ja="コープみらい",
        name_en="Coop Mirai",
        meti_registration="A0123",
        at=T0,
    )
    service.add_party(
        engine,
        code="dr-1",
        kind="dr_contractor",
        name_ja="需要抑制1",
        name_en="DR One",
        contractor_code="DR001",
        at=T0,
    )
    return engine


def auth(
    uow: Uow, *, bearer: str | None = None, cert: str | None = None, at: datetime = T0
) -> policy_engine.Party:
    with uow(read_only=True) as u:
        return service.authenticate(u.session, bearer=bearer, client_cert_fingerprint=cert, at=at)


def refused(
    uow: Uow, *, bearer: str | None = None, cert: str | None = None, at: datetime = T0
) -> AuthenticationFailed:
    with pytest.raises(AuthenticationFailed) as err:
        auth(uow, bearer=bearer, cert=cert, at=at)
    assert err.value.code == "unauthenticated"
    assert err.value.status == 401
    assert isinstance(err.value, JointuseError)
    return err.value


# --- pure helpers -------------------------------------------------------------------------------


def test_fingerprint_normalisation_accepts_openssl_and_case_variants() -> None:
    grouped = ":".join(FP[i : i + 2] for i in range(0, 64, 2)).upper()
    assert normalise_fingerprint(grouped) == FP
    assert normalise_fingerprint(f"sha256 Fingerprint={grouped}") == FP
    assert normalise_fingerprint(FP.upper()) == FP
    assert normalise_fingerprint(f"  {FP[:32]} {FP[32:]} ") == FP
    full_width = FP.upper().translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
    assert normalise_fingerprint(full_width) == FP


@pytest.mark.parametrize(
    "bad", ["", "abc", FP[:-1], FP + "0", FP[:-1] + "g", "sha1 Fingerprint=" + "ab:" * 19 + "ab"]
)
def test_bad_fingerprint_says_what_is_expected(bad: str) -> None:
    with pytest.raises(ValidationError) as err:
        normalise_fingerprint(bad)
    assert err.value.field == "fingerprint"
    assert "64 hex digits" in err.value.message


@given(st.binary(min_size=1, max_size=64))
def test_fingerprint_of_der_round_trips_through_openssl_form(der: bytes) -> None:
    fp = certificate_fingerprint(der)
    openssl = ":".join(fp[i : i + 2] for i in range(0, 64, 2)).upper()
    assert normalise_fingerprint(openssl) == fp == hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "ju_",
        "gh_0123456789abcdef." + "a" * 43,
        "ju_0123456789ABCDEF." + "a" * 43,
        "ju_0123456789abcdef." + "a" * 42,
        "ju_0123456789abcdef" + "a" * 43,
        "Basic dXNlcjpwYXNz",
    ],
)
def test_malformed_bearer_is_refused_before_any_lookup(bad: str) -> None:
    with pytest.raises(AuthenticationFailed) as err:
        parse_bearer(bad)
    assert err.value.reason is AuthReason.MALFORMED
    assert "ju_" in err.value.message


def test_issued_token_repr_hides_the_secret() -> None:
    token_id, secret = new_token()
    issued = IssuedToken(token_id=token_id, secret=secret, expires_at=T0)
    assert issued.secret not in repr(issued)
    assert issued.token_id in repr(issued)


# --- issue and authenticate ---------------------------------------------------------------------


def test_issue_then_authenticate(parties: Engine, uow: Uow) -> None:
    issued = service.issue_token(parties, "r-coop", label="batch", ttl_days=30, at=T0)
    assert issued.secret.startswith(f"ju_{issued.token_id}.")
    assert issued.expires_at == day(30)
    who = auth(uow, bearer=issued.secret, at=day(1))
    assert who == policy_engine.Party("r-coop", "retailer", policy_engine.PartyStatus.ACTIVE)
    assert auth(uow, bearer=f"Bearer {issued.secret}", at=day(1)) == who
    assert auth(uow, bearer=f"bearer  {issued.secret} ", at=day(1)) == who


def test_authenticate_inside_a_writing_unit_of_work(parties: Engine, uow: Uow) -> None:
    issued = service.issue_token(parties, "dr-1", at=T0)
    with uow() as u:
        who = service.authenticate(
            u.connection, bearer=issued.secret, client_cert_fingerprint=None, at=day(1)
        )
        # the same transaction goes on to act for the party
        service.suspend(u, "r-coop", reason="checked by " + who.code, at=day(1))
    assert who.kind == "dr_contractor"
    assert service.get_party(parties, "r-coop").history[-1].reason == "checked by dr-1"


def test_stored_row_never_contains_the_secret(parties: Engine) -> None:
    issued = service.issue_token(parties, "r-coop", label="ops", at=T0)
    secret_part = issued.secret.split(".", 1)[1]
    with parties.connect() as conn:
        row = conn.execute(select(api_token)).one()
    values = [str(v) for v in row]
    assert not any(secret_part in v or issued.secret in v for v in values)
    assert row.token_hash == hashlib.sha256(issued.secret.encode()).hexdigest()
    assert row.token_hash == token_hash(issued.secret)
    assert row.id == issued.token_id
    listed = service.list_tokens(parties, "r-coop")
    assert [t.token_id for t in listed] == [issued.token_id]
    assert issued.secret not in repr(listed) and secret_part not in repr(listed)


def test_tokens_are_unique_per_issue(parties: Engine) -> None:
    issued = [service.issue_token(parties, "r-coop", at=T0) for _ in range(5)]
    assert len({i.secret for i in issued}) == 5
    assert len({i.token_id for i in issued}) == 5


def test_wrong_secret_for_a_real_token_id_is_refused(parties: Engine, uow: Uow) -> None:
    issued = service.issue_token(parties, "r-coop", at=T0)
    head, secret = issued.secret.split(".", 1)
    forged = head + "." + ("A" if secret[0] != "A" else "B") + secret[1:]
    wrong = refused(uow, bearer=forged, at=day(1))
    unknown = refused(uow, bearer="ju_0000000000000000." + secret, at=day(1))
    # the same reason and message: a caller cannot tell whether the token id exists
    assert wrong.reason is unknown.reason is AuthReason.INVALID
    assert wrong.message == unknown.message


def test_expired_token_is_refused_like_an_unknown_one(parties: Engine, uow: Uow) -> None:
    issued = service.issue_token(parties, "r-coop", ttl_days=1, at=T0)
    assert auth(uow, bearer=issued.secret, at=day(0.99)).code == "r-coop"
    last_microsecond = (day(1) - timedelta(microseconds=1)).astimezone(ZoneInfo("UTC"))
    assert auth(uow, bearer=issued.secret, at=last_microsecond).code == "r-coop"
    err = refused(uow, bearer=issued.secret, at=day(1))  # expiry is exclusive
    assert err.reason is AuthReason.INVALID
    assert "unknown, expired or revoked" in err.message


def test_revoked_token_is_refused(parties: Engine, uow: Uow) -> None:
    issued = service.issue_token(parties, "r-coop", at=T0)
    keep = service.issue_token(parties, "r-coop", at=T0)
    info = service.revoke_token(parties, issued.token_id, at=day(2))
    assert info.revoked_at == day(2)
    assert refused(uow, bearer=issued.secret, at=day(3)).reason is AuthReason.INVALID
    assert auth(uow, bearer=keep.secret, at=day(3)).code == "r-coop"
    again = service.revoke_token(parties, issued.token_id.upper(), at=day(5))
    assert again.revoked_at == day(2)  # idempotent: the first revocation stands
    states = {t.token_id: t.state_at(day(3)) for t in service.list_tokens(parties, "r-coop")}
    assert states == {issued.token_id: "revoked", keep.token_id: "valid"}


def test_revoke_unknown_or_malformed_token_id(parties: Engine) -> None:
    with pytest.raises(NotFound):
        service.revoke_token(parties, "0000000000000000")
    with pytest.raises(ValidationError) as err:
        service.revoke_token(parties, "not-a-token-id")
    assert err.value.field == "token_id"


def test_a_token_id_is_taken_as_token_list_and_the_token_itself_show_it() -> None:
    token_id, token = new_token()
    for given_as in (
        token_id,  # token list, token issue
        f"ju_{token_id}",  # how the token begins
        token,  # the whole token (a leaked one, pasted to revoke it)
        f"Bearer {token}",  # the Authorization header value
        f"  {token_id.upper()}  ",
        token_id.translate(str.maketrans("0123456789abcdef", "０１２３４５６７８９ａｂｃｄｅｆ")),
    ):
        assert validate_token_id(given_as) == token_id, given_as
    for bad in ("", "ju_", f"ju_{token_id}0", f"xx_{token_id}", token_id[:-1], f"{token}!"):
        with pytest.raises(ValidationError) as err:
            validate_token_id(bad)
        assert "ju_" in str(err.value.valid)


def test_revoke_by_the_token_itself(parties: Engine) -> None:
    issued = service.issue_token(parties, "r-coop", at=T0)
    info = service.revoke_token(parties, issued.secret, at=day(1))
    assert (info.token_id, info.revoked_at) == (issued.token_id, day(1))


def test_reissue_replaces_the_tokens_of_one_label_in_one_transaction(parties: Engine) -> None:
    first = service.issue_token(parties, "r-coop", label="demo", at=T0)
    second = service.issue_token(parties, "r-coop", label="demo", at=day(1))
    own = service.issue_token(parties, "r-coop", label="nightly batch", at=day(1))
    new, revoked = service.reissue_token(parties, "r-coop", label=" demo ", at=day(2))
    assert sorted(revoked) == sorted([first.token_id, second.token_id])
    states = {t.token_id: t.state_at(day(3)) for t in service.list_tokens(parties, "r-coop")}
    assert states == {
        first.token_id: "revoked",
        second.token_id: "revoked",
        own.token_id: "valid",
        new.token_id: "valid",
    }
    again, revoked = service.reissue_token(parties, "r-coop", label="demo", at=day(3))
    assert revoked == [new.token_id] and again.token_id != new.token_id
    with pytest.raises(ValidationError):
        service.reissue_token(parties, "r-coop", label=" ")
    with pytest.raises(NotFound):
        service.reissue_token(parties, "nobody", label="demo")


def test_suspended_party_authenticates_with_its_status(parties: Engine, uow: Uow) -> None:
    issued = service.issue_token(parties, "r-coop", at=T0)
    service.suspend(parties, "r-coop", reason="audit", at=day(2))
    service.reinstate(parties, "r-coop", at=day(4))
    service.deregister(parties, "r-coop", reason="closed", at=day(6))
    S = policy_engine.PartyStatus
    assert auth(uow, bearer=issued.secret, at=day(1)).status is S.ACTIVE
    assert auth(uow, bearer=issued.secret, at=day(3)).status is S.SUSPENDED
    assert auth(uow, bearer=issued.secret, at=day(2)).status is S.SUSPENDED  # boundary
    just_before = (day(2) - timedelta(microseconds=1)).astimezone(ZoneInfo("America/New_York"))
    assert auth(uow, bearer=issued.secret, at=just_before).status is S.ACTIVE
    assert auth(uow, bearer=issued.secret, at=day(5)).status is S.ACTIVE
    assert auth(uow, bearer=issued.secret, at=day(7)).status is S.DEREGISTERED


def test_before_registration_is_refused(parties: Engine, uow: Uow) -> None:
    issued = service.issue_token(parties, "r-coop", at=T0)
    err = refused(uow, bearer=issued.secret, at=day(-1))
    assert err.reason is AuthReason.NOT_REGISTERED


def test_no_credentials_or_naive_moment(parties: Engine, uow: Uow) -> None:
    assert refused(uow).reason is AuthReason.MISSING
    assert refused(uow, bearer="", cert="").reason is AuthReason.MISSING
    issued = service.issue_token(parties, "r-coop", at=T0)
    with pytest.raises(ValidationError, match="timezone-aware"):
        auth(uow, bearer=issued.secret, at=datetime(2024, 4, 2))


def test_issue_token_refusals(parties: Engine) -> None:
    with pytest.raises(NotFound):
        service.issue_token(parties, "nobody", at=T0)
    for ttl in (0, -1, 3651):
        with pytest.raises(ValidationError) as err:
            service.issue_token(parties, "r-coop", ttl_days=ttl, at=T0)
        assert err.value.field == "ttl_days"
    service.deregister(parties, "dr-1", reason="closed", at=day(1))
    with pytest.raises(ValidationError, match="deregistered"):
        service.issue_token(parties, "dr-1", at=day(2))
    with pytest.raises(NotFound):
        service.list_tokens(parties, "nobody")
    assert service.list_tokens(parties, "r-coop") == []


# --- client certificates ------------------------------------------------------------------------


def test_certificate_authenticates_by_any_fingerprint_spelling(parties: Engine, uow: Uow) -> None:
    grouped = ":".join(FP[i : i + 2] for i in range(0, 64, 2)).upper()
    info = service.register_certificate(parties, "dr-1", grouped, at=T0)
    assert info.fingerprint == FP
    with parties.connect() as conn:
        assert conn.execute(select(client_certificate.c.fingerprint)).scalar_one() == FP
    assert auth(uow, cert=FP, at=day(1)).code == "dr-1"
    assert auth(uow, cert=grouped.lower(), at=day(1)).kind == "dr_contractor"
    assert [c.fingerprint for c in service.list_certificates(parties, "dr-1")] == [FP]


def test_certificate_refusals(parties: Engine, uow: Uow) -> None:
    service.register_certificate(parties, "dr-1", FP, at=T0)
    with pytest.raises(ValidationError, match="already registered"):
        service.register_certificate(parties, "r-coop", FP.upper(), at=T0)
    assert refused(uow, cert=FP_OTHER, at=day(1)).reason is AuthReason.INVALID
    assert refused(uow, cert="zz", at=day(1)).reason is AuthReason.MALFORMED
    revoked = service.revoke_certificate(parties, FP, at=day(2))
    assert revoked.revoked_at == day(2)
    assert refused(uow, cert=FP, at=day(3)).reason is AuthReason.INVALID
    with pytest.raises(NotFound):
        service.revoke_certificate(parties, FP_OTHER)


def test_token_and_certificate_together_must_name_one_party(parties: Engine, uow: Uow) -> None:
    token = service.issue_token(parties, "r-coop", at=T0)
    service.register_certificate(parties, "r-coop", FP, at=T0)
    service.register_certificate(parties, "dr-1", FP_OTHER, at=T0)
    assert auth(uow, bearer=token.secret, cert=FP, at=day(1)).code == "r-coop"
    err = refused(uow, bearer=token.secret, cert=FP_OTHER, at=day(1))
    assert err.reason is AuthReason.MISMATCH
    # an invalid certificate is refused even beside a valid token
    assert refused(uow, bearer=token.secret, cert="ab" * 32, at=day(1)).reason is (
        AuthReason.INVALID
    )
