"""Joint users (共同利用する者) as pure domain objects: kinds, registration data, status history.

A :class:`Party` is immutable. Its status is a history of periods (``valid_from`` inclusive,
``valid_to`` exclusive, the last one open), so the status at any moment can be answered —
access is time-sliced, and a suspended or deregistered party sees nothing. Status changes go
through one guarded method, :meth:`Party.set_status`, checked against
:data:`ALLOWED_TRANSITIONS`: active ↔ suspended, and any → deregistered, which is final.

All moments are timezone-aware datetimes; a naive datetime is refused rather than guessed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Self

from jointuse.core.errors import ValidationError


class PartyKind(StrEnum):
    """The four kinds of joint user named by the notice."""

    RETAILER = "retailer"  # 小売電気事業者
    TSO = "tso"  # 一般送配電事業者
    OCCTO = "occto"  # 電力広域的運営推進機関
    DR_CONTRACTOR = "dr_contractor"  # 需要抑制契約者

    @classmethod
    def parse(cls, value: str) -> PartyKind:
        try:
            return cls(value)
        except ValueError:
            valid = [k.value for k in cls]
            raise ValidationError(
                f"unknown party kind {value!r}; valid kinds: {', '.join(valid)}",
                field="kind",
                valid=valid,
            ) from None


class PartyStatus(StrEnum):
    ACTIVE = "active"  # 有効
    SUSPENDED = "suspended"  # 停止中
    DEREGISTERED = "deregistered"  # 登録抹消 (final)


#: Which status may follow which. ``deregistered`` is final.
ALLOWED_TRANSITIONS: Mapping[PartyStatus, frozenset[PartyStatus]] = {
    PartyStatus.ACTIVE: frozenset({PartyStatus.SUSPENDED, PartyStatus.DEREGISTERED}),
    PartyStatus.SUSPENDED: frozenset({PartyStatus.ACTIVE, PartyStatus.DEREGISTERED}),
    PartyStatus.DEREGISTERED: frozenset(),
}

_PARTY_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_METI_REGISTRATION = re.compile(r"^A\d{4}$")
_CONTRACTOR_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


def _aware(moment: datetime, field: str) -> datetime:
    if not isinstance(moment, datetime):
        raise ValidationError(
            f"{field} must be a datetime, got {type(moment).__name__}", field=field
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationError(
            f"{field} must be timezone-aware (e.g. Asia/Tokyo or UTC), got naive {moment}",
            field=field,
        )
    return moment


def validate_party_code(code: str) -> str:
    """A party code: lower-case ASCII letters, digits, '-' and '_' (e.g. "tso-03", "r-coop")."""
    if not isinstance(code, str) or not _PARTY_CODE.fullmatch(code):
        raise ValidationError(
            f"invalid party code {code!r}: use 1–64 lower-case ASCII letters, digits, '-' or '_', "
            "starting with a letter or digit",
            field="code",
            valid="^[a-z0-9][a-z0-9_-]{0,63}$",
        )
    return code


def normalise_meti_registration(text: str) -> str:
    """METI retailer registration number (登録番号), e.g. "Ａ０００１" → "A0001"."""
    value = unicodedata.normalize("NFKC", text).strip().upper()
    if not _METI_REGISTRATION.fullmatch(value):
        raise ValidationError(
            f"invalid METI registration number {text!r}: expected 'A' and four digits, e.g. A0001",
            field="meti_registration",
            valid="A0000–A9999",
        )
    return value


def normalise_contractor_code(text: str) -> str:
    """Demand-suppression contractor code: ASCII letters, digits, '-' or '_' (NFKC first)."""
    value = unicodedata.normalize("NFKC", text).strip()
    if not _CONTRACTOR_CODE.fullmatch(value):
        raise ValidationError(
            f"invalid contractor code {text!r}: use 1–32 ASCII letters, digits, '-' or '_'",
            field="contractor_code",
            valid="^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$",
        )
    return value


@dataclass(frozen=True, slots=True)
class StatusPeriod:
    """A status held from ``valid_from`` (inclusive) to ``valid_to`` (exclusive; None = open)."""

    status: PartyStatus
    valid_from: datetime
    valid_to: datetime | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.status, PartyStatus):
            try:
                object.__setattr__(self, "status", PartyStatus(self.status))
            except ValueError:
                raise ValidationError(
                    f"unknown status {self.status!r}",
                    field="status",
                    valid=[s.value for s in PartyStatus],
                ) from None
        _aware(self.valid_from, "valid_from")
        if self.valid_to is not None:
            _aware(self.valid_to, "valid_to")
            if self.valid_to <= self.valid_from:
                raise ValidationError(
                    f"status period ends ({self.valid_to}) before or when it starts "
                    f"({self.valid_from})",
                    field="valid_to",
                )

    def contains(self, moment: datetime) -> bool:
        return self.valid_from <= moment and (self.valid_to is None or moment < self.valid_to)


@dataclass(frozen=True, slots=True)
class Party:
    """A joint user. Registration data depends on the kind:

    * ``retailer`` — ``meti_registration`` (the METI registration number, e.g. "A0001");
    * ``dr_contractor`` — ``contractor_code`` (the code of its 需要抑制量調整供給契約);
    * ``tso`` — ``area_code`` (its supply area, "01".."10");
    * ``occto`` — none.

    A field that does not belong to the kind must be left empty. Build new parties with
    :meth:`register`, which normalises typed input; the constructor validates strictly.
    """

    code: str
    kind: PartyKind
    name_ja: str
    name_en: str
    history: tuple[StatusPeriod, ...]
    meti_registration: str | None = None
    contractor_code: str | None = None
    area_code: str | None = None

    def __post_init__(self) -> None:
        validate_party_code(self.code)
        if not isinstance(self.kind, PartyKind):
            # Accept the plain string (e.g. from a database row); refuse unknown kinds.
            object.__setattr__(self, "kind", PartyKind.parse(self.kind))
        for field in ("name_ja", "name_en"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value.strip():
                raise ValidationError(f"{field} must not be empty", field=field)
        self._check_registration()
        self._check_history()

    def _check_registration(self) -> None:
        required = {
            PartyKind.RETAILER: "meti_registration",
            PartyKind.DR_CONTRACTOR: "contractor_code",
            PartyKind.TSO: "area_code",
            PartyKind.OCCTO: None,
        }[self.kind]
        for field in ("meti_registration", "contractor_code", "area_code"):
            value = getattr(self, field)
            if field == required and value is None:
                raise ValidationError(
                    f"a party of kind {self.kind.value!r} needs {field}", field=field
                )
            if field != required and value is not None:
                raise ValidationError(
                    f"{field} does not apply to a party of kind {self.kind.value!r}",
                    field=field,
                )
        if self.meti_registration is not None and not _METI_REGISTRATION.fullmatch(
            self.meti_registration
        ):
            normalise_meti_registration(self.meti_registration)  # raises with the reason
            raise ValidationError(
                f"meti_registration {self.meti_registration!r} is not normalised "
                f"(use {normalise_meti_registration(self.meti_registration)!r})",
                field="meti_registration",
            )
        if self.contractor_code is not None:
            normalised = normalise_contractor_code(self.contractor_code)
            if normalised != self.contractor_code:
                raise ValidationError(
                    f"contractor_code {self.contractor_code!r} is not normalised "
                    f"(use {normalised!r})",
                    field="contractor_code",
                )
        if self.area_code is not None:
            from jointuse.parties.reference import area_codes

            if self.area_code not in area_codes():
                valid = sorted(area_codes())
                raise ValidationError(
                    f"unknown area code {self.area_code!r}; valid area codes: {', '.join(valid)}",
                    field="area_code",
                    valid=valid,
                )

    def _check_history(self) -> None:
        if not self.history:
            raise ValidationError("a party needs a status history", field="history")
        for i, (before, after) in enumerate(zip(self.history, self.history[1:], strict=False)):
            if before.valid_to != after.valid_from:
                raise ValidationError(
                    f"status history is not contiguous at period {i + 2}: previous period ends "
                    f"{before.valid_to}, next starts {after.valid_from}",
                    field="history",
                )
            if after.status not in ALLOWED_TRANSITIONS[before.status]:
                raise ValidationError(
                    f"status history has a forbidden transition at period {i + 2}: "
                    f"{before.status.value} → {after.status.value}",
                    field="history",
                    valid=sorted(s.value for s in ALLOWED_TRANSITIONS[before.status]),
                )

    @classmethod
    def register(
        cls,
        *,
        code: str,
        kind: PartyKind | str,
        name_ja: str,
        name_en: str,
        at: datetime,
        meti_registration: str | None = None,
        contractor_code: str | None = None,
        area_code: str | None = None,
    ) -> Self:
        """A new party, active from ``at``; registration data normalised from typed input."""
        return cls(
            code=code,
            kind=kind if isinstance(kind, PartyKind) else PartyKind.parse(kind),
            name_ja=unicodedata.normalize("NFKC", name_ja).strip(),
            name_en=name_en.strip(),
            history=(StatusPeriod(PartyStatus.ACTIVE, _aware(at, "at")),),
            meti_registration=(
                normalise_meti_registration(meti_registration)
                if meti_registration is not None
                else None
            ),
            contractor_code=(
                normalise_contractor_code(contractor_code) if contractor_code is not None else None
            ),
            area_code=(
                unicodedata.normalize("NFKC", area_code).strip() if area_code is not None else None
            ),
        )

    @property
    def registration(self) -> str | None:
        """The kind's registration datum (METI number, contractor code or area code)."""
        return self.meti_registration or self.contractor_code or self.area_code

    @property
    def status(self) -> PartyStatus:
        """The current status: that of the last (open) period."""
        return self.history[-1].status

    @property
    def registered_at(self) -> datetime:
        return self.history[0].valid_from

    def status_at(self, moment: datetime) -> PartyStatus:
        """The status at ``moment``. Before registration the party has no status: that is a
        ValidationError (use :meth:`is_active_at` for a yes/no)."""
        _aware(moment, "moment")
        for period in self.history:
            if period.contains(moment):
                return period.status
        raise ValidationError(
            f"party {self.code!r} was not registered at {moment.isoformat()} "
            f"(registered from {self.registered_at.isoformat()})",
            field="moment",
        )

    def is_active_at(self, moment: datetime) -> bool:
        """True only if the party was registered and active at ``moment``."""
        _aware(moment, "moment")
        return any(p.contains(moment) and p.status is PartyStatus.ACTIVE for p in self.history)

    def set_status(self, new: PartyStatus, *, at: datetime, reason: str | None = None) -> Self:
        """The party with its status changed to ``new`` from ``at`` — the only way to change it.

        Guarded by :data:`ALLOWED_TRANSITIONS`; ``at`` must fall after the start of the current
        period (history is never rewritten).
        """
        _aware(at, "at")
        current = self.history[-1]
        if new not in ALLOWED_TRANSITIONS[current.status]:
            allowed = sorted(s.value for s in ALLOWED_TRANSITIONS[current.status])
            raise ValidationError(
                f"party {self.code!r} cannot go from {current.status.value} to "
                f"{PartyStatus(new).value}; allowed: {', '.join(allowed) or 'none (final)'}",
                field="status",
                valid=allowed,
            )
        if at <= current.valid_from:
            raise ValidationError(
                f"status change at {at.isoformat()} must be after the current period's start "
                f"{current.valid_from.isoformat()}",
                field="at",
            )
        closed = replace(current, valid_to=at)
        opened = StatusPeriod(new, at, None, reason)
        return replace(self, history=(*self.history[:-1], closed, opened))


def reference_parties(at: datetime) -> tuple[Party, ...]:
    """The TSOs and OCCTO of the shipped reference data as parties active from ``at``."""
    from jointuse.parties.reference import load_reference

    ref = load_reference()
    area_of = {a.tso: a.code for a in ref.areas}
    return tuple(
        Party.register(
            code=p.code,
            kind=p.kind,
            name_ja=p.name_ja,
            name_en=p.name_en,
            at=at,
            area_code=area_of.get(p.code) if p.kind == PartyKind.TSO else None,
        )
        for p in ref.parties
    )
