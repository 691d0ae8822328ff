"""The customer's use cases as the edges call them: each opens its unit of work (the service
layer's job) and, where a session is needed, authenticates it on that unit's connection."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine

from jointuse.core.db import UnitOfWork
from jointuse.core.mail import Mailer
from jointuse.parties import service as parties
from jointuse.policy.model import Policy
from jointuse.rights import access_log as log
from jointuse.rights import identity, passkeys
from jointuse.rights.identity import Account, Session

_T = TypeVar("_T")


def enrol(engine: Engine, mailer: Mailer, *, at: datetime, source: str | None, **bill: str) -> None:
    with UnitOfWork(engine) as uow:
        identity.request_enrolment(uow, mailer, at=at, source=source, **bill)


def sign_in(
    engine: Engine, mailer: Mailer, *, email: str, at: datetime, source: str | None
) -> None:
    with UnitOfWork(engine) as uow:
        identity.request_sign_in(uow, mailer, email=email, at=at, source=source)


def confirm(
    engine: Engine, *, email: str, code: str, purpose: str, at: datetime, source: str | None
) -> Session:
    with UnitOfWork(engine) as uow:
        return identity.confirm(uow, email=email, code=code, purpose=purpose, at=at, source=source)


def as_customer(
    engine: Engine, bearer: str | None, at: datetime, use_case: Callable[[UnitOfWork, Account], _T]
) -> _T:
    with UnitOfWork(engine) as uow:
        return use_case(uow, identity.authenticate(uow.connection, bearer, at))


def sign_out(engine: Engine, bearer: str, at: datetime) -> None:
    with UnitOfWork(engine) as uow:
        identity.sign_out(uow.connection, bearer, at)


def my_access_log(
    engine: Engine,
    bearer: str | None,
    at: datetime,
    policy: Policy,
    where: log.Filter,
    request_id: str,
) -> dict[str, Any]:
    names = {p.code: (p.name_ja, p.name_en) for p in parties.list_parties(engine)}

    def read(uow: UnitOfWork, account: Account) -> dict[str, Any]:
        return log.access_log(
            uow.connection,
            account=account,
            policy=policy,
            party_names=names,
            at=at,
            where=where,
            request_id=request_id,
        )

    return as_customer(engine, bearer, at, read)


def me(engine: Engine, bearer: str | None, at: datetime) -> dict[str, Any]:
    def read(uow: UnitOfWork, account: Account) -> dict[str, Any]:
        return {
            "account_id": account.id,
            "email": account.email,
            "records": [
                {
                    "customer_id": link.customer_id,
                    "supply_point_id": link.supply_point_id,
                    "retailer": link.retailer_code,
                    "contract_number": link.contract_number,
                    "from": link.valid_from.isoformat(),
                    "to": link.valid_to.isoformat() if link.valid_to else None,
                }
                for link in identity.links(uow.connection, account)
            ],
        }

    return as_customer(engine, bearer, at, read)


def begin_passkey_sign_in(
    engine: Engine, *, binding: str, rp: passkeys.RelyingParty, at: datetime, source: str | None
) -> dict[str, Any]:
    """The options of a passkey sign-in for a signed-out browser (:mod:`.passkeys`)."""
    with UnitOfWork(engine) as uow:
        return passkeys.begin_sign_in(uow, binding=binding, rp=rp, at=at, source=source)
