"""Customers, retail contracts and supply points as pure domain objects.

Typed input is normalised on the way in (``create``/``parse`` helpers) and every object checks
itself in ``__post_init__``, so an invalid customer or supply point cannot exist. Refusals are
:class:`~jointuse.core.errors.ValidationError` naming the field and what would be valid.

Choices:

* **Phone numbers** are stored as *national digits* (``"0312345678"``), the form Japanese
  systems and people exchange; :meth:`PhoneNumber.e164` gives ``"+81312345678"``.
* **Kana readings** (フリガナ) are stored in full-width katakana, with a single ideographic
  space (U+3000) between parts.
* **Names** are *not* NFKC-normalised: NFKC rewrites CJK compatibility ideographs that some
  registered names use. Only surrounding and repeated spaces are tidied.
* **Item values** returned by :meth:`SupplyPoint.items` and :meth:`Customer.basic_items` are
  JSON-ready (str, int, bool, None, or dicts of those; dates as ISO strings; decimals as
  strings), keyed exactly by the item keys of ``policy.toml``, so the policy gate can project
  them to the granted items.

Supply points (:class:`SupplyPoint`, :class:`ContractCapacity`, :class:`MeterInfo`) live in
:mod:`jointuse.customers.supply_point` and are re-exported here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Literal, Self

from jointuse.core.errors import ValidationError
from jointuse.core.ids import CUSTOMER_ID_PATTERN, HYPHENS, SupplyPointId
from jointuse.customers.supply_point import CapacityUnit as CapacityUnit
from jointuse.customers.supply_point import ContractCapacity as ContractCapacity
from jointuse.customers.supply_point import MeterInfo as MeterInfo
from jointuse.customers.supply_point import SupplyPoint as SupplyPoint

JST = timezone(timedelta(hours=9), "JST")

#: The sixteen supply-point items of the notice, in its order (keys as in policy.toml).
SUPPLY_POINT_ITEM_KEYS: tuple[str, ...] = (
    "supply_area",
    "remote_island_tariff",
    "supply_point_id",
    "contract_capacity",
    "current_limit",
    "service_menu",
    "power_factor",
    "supply_method",
    "capacity_determination_method",
    "meter_info",
    "lead_in_pole_number",
    "grid_connected_generation",
    "wheeling_change_date",
    "meter_reading_day",
    "contract_state",
    "disconnection_method",
)
#: The four basic items (基本情報).
BASIC_ITEM_KEYS: tuple[str, ...] = ("name", "address", "phone", "contract_number")

_SPACES = re.compile(r"\s+")
_DROPPED_IN_NUMBERS = frozenset(HYPHENS) | {"(", ")", "（", "）"}


def _fail(field: str, message: str, valid: object = None) -> ValidationError:
    return ValidationError(f"{field}: {message}", field=field, valid=valid)


# --- normalisers -----------------------------------------------------------------------------


def _is_kana(ch: str) -> bool:
    code = ord(ch)
    return (
        0x3041 <= code <= 0x3096  # hiragana
        or 0x3099 <= code <= 0x309E  # voiced marks, ゝゞ
        or 0x30A1 <= code <= 0x30FE  # katakana, ・ ー ヽ ヾ
    )


def normalise_kana(text: str, *, field: str = "name_kana") -> str:
    """A kana reading in full-width katakana: NFKC (half-width → full-width), hiragana →
    katakana, parts separated by one U+3000. Anything but kana, ー, ・ and spaces is refused,
    naming the character and its 1-based position in ``text``."""
    for position, ch in enumerate(text, start=1):
        if not (ch.isspace() or all(_is_kana(c) for c in unicodedata.normalize("NFKC", ch))):
            raise _fail(
                field,
                f"kana reading contains {ch!r} (U+{ord(ch):04X}) at position {position}; "
                "use katakana or hiragana only",
                "katakana or hiragana",
            )
    out: list[str] = []
    for ch in unicodedata.normalize("NFKC", text):
        code = ord(ch)
        if 0x3099 <= code <= 0x309C:
            raise _fail(field, f"kana reading has a stray voicing mark (U+{code:04X})")
        if 0x3041 <= code <= 0x3096 or code in (0x309D, 0x309E):
            out.append(chr(code + 0x60))  # hiragana → katakana
        else:
            out.append(ch)
    reading = "\u3000".join(_SPACES.split("".join(out).strip()))
    if not reading:
        raise _fail(field, "kana reading is empty")
    return reading


def normalise_name(text: str, *, field: str = "name") -> str:
    """A personal or company name: trimmed, internal runs of spaces made one U+3000."""
    name = "\u3000".join(_SPACES.split(text.strip())) if isinstance(text, str) else ""
    if not name:
        raise _fail(field, "must not be empty")
    if len(name) > 100:
        raise _fail(field, f"is {len(name)} characters long; at most 100 are allowed")
    return name


def _digits(text: str, field: str, what: str, *, lead: str = "") -> tuple[str, str]:
    """ASCII digits of ``text`` (half- or full-width), dropping spaces, hyphens of every kind
    and parentheses; one character of ``lead`` may come before the first digit and is returned
    separately. Any other character is refused with its 1-based position in ``text``."""
    kept: list[str] = []
    found_lead = ""
    for position, ch in enumerate(text, start=1):
        if ch in "0123456789" or 0xFF10 <= ord(ch) <= 0xFF19:
            kept.append(unicodedata.normalize("NFKC", ch))
        elif ch.isspace() or ch in _DROPPED_IN_NUMBERS:
            continue
        elif ch in lead and not kept and not found_lead:
            found_lead = ch
        else:
            raise _fail(field, f"{what} contains {ch!r} (U+{ord(ch):04X}) at position {position}")
    return "".join(kept), found_lead


@dataclass(frozen=True, slots=True)
class PostalCode:
    """Japanese postal code (郵便番号), stored as ``NNN-NNNN``."""

    value: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"\d{3}-\d{4}", self.value or "") or not self.value.isascii():
            raise _fail("postal_code", f"{self.value!r} is not in the form NNN-NNNN", "NNN-NNNN")

    @classmethod
    def parse(cls, text: str) -> Self:
        """Accept "1000001", "100-0001", "〒１００－０００１", "100ー0001"."""
        digits, _ = _digits(text, "postal_code", "postal code", lead="〒")
        if len(digits) != 7:
            raise _fail(
                "postal_code",
                f"postal code {text!r} has {len(digits)} digits; 7 are needed (NNN-NNNN)",
                "NNN-NNNN",
            )
        return cls(f"{digits[:3]}-{digits[3:]}")

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A Japanese phone number as national digits: 10 or 11 digits starting with 0."""

    national: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"0[1-9]\d{8,9}", self.national or "") or not self.national.isascii():
            raise _fail(
                "phone",
                f"{self.national!r} is not a Japanese number (10–11 digits starting with 0, "
                "not 00)",
                "10–11 digits starting with 0",
            )

    @classmethod
    def parse(cls, text: str) -> Self:
        """Accept full-width digits, hyphens of every kind, spaces, parentheses and +81."""
        digits, plus = _digits(text, "phone", "phone number", lead="+＋")
        if plus:
            if not digits.startswith("81"):
                raise _fail("phone", f"{text!r} is not a Japanese (+81) number", "+81 or 0…")
            digits = "0" + digits[2:].removeprefix("0")
        if not 10 <= len(digits) <= 11:
            raise _fail(
                "phone",
                f"phone number {text!r} has {len(digits)} digits; Japanese numbers have 10–11",
                "10–11 digits starting with 0",
            )
        return cls(digits)

    def e164(self) -> str:
        return "+81" + self.national[1:]

    def __str__(self) -> str:
        return self.national


@dataclass(frozen=True, slots=True)
class Address:
    """Postal address: postal code, prefecture (都道府県, one of the 47), and the rest."""

    postal_code: PostalCode
    prefecture: str
    rest: str

    def __post_init__(self) -> None:
        from jointuse.parties.reference import area_for_prefecture

        area_for_prefecture(self.prefecture)  # refuses unknown prefectures, listing the 47
        if not self.rest.strip():
            raise _fail("address", "the address after the prefecture must not be empty")

    @classmethod
    def create(cls, *, postal_code: str, prefecture: str, rest: str) -> Self:
        return cls(
            postal_code=PostalCode.parse(postal_code),
            prefecture=unicodedata.normalize("NFKC", prefecture).strip(),
            rest=_SPACES.sub(" ", unicodedata.normalize("NFKC", rest)).strip(),
        )

    def area_codes(self) -> tuple[str, ...]:
        """Supply areas that may serve this address (静岡県 has two)."""
        from jointuse.parties.reference import area_for_prefecture

        return area_for_prefecture(self.prefecture)

    def as_item(self) -> dict[str, str]:
        return {
            "postal_code": self.postal_code.value,
            "prefecture": self.prefecture,
            "rest": self.rest,
        }

    def __str__(self) -> str:
        return f"〒{self.postal_code} {self.prefecture}{self.rest}"


class Membership(StrEnum):
    """Co-operative membership (the seed notice's publisher is a consumer co-operative)."""

    MEMBER = "member"  # 組合員
    NON_MEMBER = "non_member"  # 非組合員


@dataclass(frozen=True, slots=True)
class Customer:
    """A customer (需要者) with the basic items of the notice and co-op membership."""

    customer_id: str
    name: str
    name_kana: str
    address: Address
    phone: PhoneNumber
    membership: Membership

    def __post_init__(self) -> None:
        if not re.fullmatch(CUSTOMER_ID_PATTERN, self.customer_id or ""):
            raise _fail("customer_id", f"{self.customer_id!r}: use 1–64 ASCII letters/digits")
        if normalise_name(self.name) != self.name:
            raise _fail("name", "is not normalised; build customers with Customer.create()")
        if normalise_kana(self.name_kana) != self.name_kana:
            raise _fail("name_kana", "is not normalised; build customers with Customer.create()")
        if not isinstance(self.membership, Membership):
            raise _fail("membership", f"{self.membership!r}", [m.value for m in Membership])

    @classmethod
    def create(
        cls,
        *,
        customer_id: str,
        name: str,
        name_kana: str,
        postal_code: str,
        prefecture: str,
        address_rest: str,
        phone: str,
        membership: Membership | str,
    ) -> Self:
        """Build a customer from typed input, normalising each field."""
        try:
            member = Membership(membership)
        except ValueError:
            raise _fail(
                "membership", f"unknown value {membership!r}", [m.value for m in Membership]
            ) from None
        return cls(
            customer_id=customer_id,
            name=normalise_name(name),
            name_kana=normalise_kana(name_kana),
            address=Address.create(
                postal_code=postal_code, prefecture=prefecture, rest=address_rest
            ),
            phone=PhoneNumber.parse(phone),
            membership=member,
        )

    @property
    def is_member(self) -> bool:
        return self.membership is Membership.MEMBER

    def basic_items(self, contract_number: str) -> dict[str, object]:
        """The basic items (基本情報) with this contract's number, keyed as in policy.toml.

        ``name`` is ``{"kanji", "kana"}``, ``address`` is ``{"postal_code", "prefecture",
        "rest"}``, ``phone`` national digits, ``contract_number`` a string.
        """
        return {
            "name": {"kanji": self.name, "kana": self.name_kana},
            "address": self.address.as_item(),
            "phone": self.phone.national,
            "contract_number": normalise_contract_number(contract_number),
        }


# --- contracts -------------------------------------------------------------------------------


class ContractKind(StrEnum):
    """Kinds of retail contract (codes shared with the ``contract_kind`` value set)."""

    STANDARD = "standard"  # 標準の小売供給
    REMOTE_ISLAND = "remote_island"  # 離島供給
    LAST_RESORT = "last_resort"  # 最終保障供給
    POWER_PURCHASE = "power_purchase"  # 電気受給契約


#: Contract kinds where the TSO, not the retailer, controls the basic items (notice, 管理責任者).
TSO_CONTROLLED_KINDS = frozenset({ContractKind.REMOTE_ISLAND, ContractKind.LAST_RESORT})


def normalise_contract_number(text: str) -> str:
    """A contract number (契約番号): NFKC, trimmed, printable ASCII, 1–40 characters."""
    value = unicodedata.normalize("NFKC", text).strip() if isinstance(text, str) else ""
    if not value or len(value) > 40 or not (value.isascii() and value.isprintable()):
        raise _fail(
            "contract_number", f"{text!r} must be 1–40 printable ASCII characters", "1–40 ASCII"
        )
    return value


@dataclass(frozen=True, slots=True)
class RetailContract:
    """A retail supply (or power purchase) contract for one supply point, over days
    ``valid_from`` (inclusive) to ``valid_to`` (exclusive; None = open). Days are JST dates."""

    contract_number: str
    kind: ContractKind
    retailer_code: str
    customer_id: str
    supply_point_id: SupplyPointId
    valid_from: date
    valid_to: date | None = None

    def __post_init__(self) -> None:
        from jointuse.parties.model import validate_party_code

        if normalise_contract_number(self.contract_number) != self.contract_number:
            raise _fail("contract_number", f"{self.contract_number!r} is not normalised")
        if not isinstance(self.kind, ContractKind):
            try:
                object.__setattr__(self, "kind", ContractKind(self.kind))
            except ValueError:
                valid = [k.value for k in ContractKind]
                raise _fail("kind", f"unknown contract kind {self.kind!r}", valid) from None
        validate_party_code(self.retailer_code)
        if not isinstance(self.supply_point_id, SupplyPointId):
            raise _fail("supply_point_id", "must be a SupplyPointId (use SupplyPointId.parse)")
        if isinstance(self.valid_from, datetime) or not isinstance(self.valid_from, date):
            raise _fail("valid_from", f"must be a date, got {self.valid_from!r}")
        if self.valid_to is not None and (
            isinstance(self.valid_to, datetime) or not isinstance(self.valid_to, date)
        ):
            raise _fail("valid_to", f"must be a date, got {self.valid_to!r}")
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise _fail("valid_to", f"{self.valid_to} is not after valid_from {self.valid_from}")

    @property
    def basic_controller_kind(self) -> Literal["retailer", "tso"]:
        """Who answers for the customer's basic items: the TSO for remote-island and
        last-resort supply, otherwise the retailer."""
        return "tso" if self.kind in TSO_CONTROLLED_KINDS else "retailer"

    def active_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)

    def covers(self, moment: datetime) -> bool:
        """Whether the contract is in force at ``moment`` (aware; judged on the JST date)."""
        if moment.tzinfo is None:
            raise _fail("moment", "must be timezone-aware")
        return self.active_on(moment.astimezone(JST).date())
