"""The joint-use policy as typed, immutable data (loaded from ``data/policy.toml``).

Pure: no I/O here. :mod:`jointuse.policy.loader` builds a :class:`Policy` from the TOML file and
validates it; :mod:`jointuse.policy.engine` decides requests against it;
:mod:`jointuse.policy.render` writes the notice out of it; :mod:`jointuse.policy.check`
reports gaps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Action = Literal["read", "write"]
Lang = Literal["ja", "en"]


@dataclass(frozen=True, slots=True)
class Labelled:
    key: str
    label_ja: str
    label_en: str

    def label(self, lang: Lang) -> str:
        return self.label_ja if lang == "ja" else self.label_en


@dataclass(frozen=True, slots=True)
class PartyKind(Labelled):
    """A kind of joint user (共同利用する者): retailer, tso, occto, dr_contractor; or, with
    ``joint_use`` false, a party that is not a joint user (the platform operator erasing data
    at the end of retention): decided and recorded the same way, not in the notice."""

    number: int = 0
    note: str | None = None
    joint_use: bool = True


@dataclass(frozen=True, slots=True)
class Purpose(Labelled):
    """One of the five purposes of joint use (共同利用の目的); or, with ``joint_use`` false, a
    purpose outside joint use under its own ``legal_basis`` (the retailer's billing of its own
    customer under the retail contract): decided and recorded the same way, not in the
    notice."""

    number: int = 0
    note: str | None = None
    joint_use: bool = True
    legal_basis_ja: str | None = None
    legal_basis_en: str | None = None


@dataclass(frozen=True, slots=True)
class Category(Labelled):
    """A category of items. ``joint_use`` categories are the notice's (基本情報 etc.)."""

    number: int | None = None
    joint_use: bool = True
    legal_basis_ja: str | None = None
    legal_basis_en: str | None = None


@dataclass(frozen=True, slots=True)
class Item(Labelled):
    """One item of personal data (共同利用する情報項目), in exactly one category."""

    category: str = ""


@dataclass(frozen=True, slots=True)
class Relation(Labelled):
    """A kind of relation between a party and a target (supply point / customer).

    ``after_end_days``: for a relation a customer's consent creates (``dr_resource``), how many
    days after the consent is withdrawn the data dated within it stays readable — for settling
    what happened inside it, and nothing newer (None: not at all)."""

    after_end_days: int | None = None


@dataclass(frozen=True, slots=True)
class ControllerException:
    """Where the customer's contract kind is one of ``contract_kinds``, another party answers."""

    contract_kinds: frozenset[str]
    party_kind: str
    relation: str
    label_ja: str
    label_en: str


@dataclass(frozen=True, slots=True)
class Controller:
    """The controller (管理責任者) of one category: the party of ``party_kind`` that holds
    ``relation`` to the target, unless an exception applies."""

    category: str
    party_kind: str
    relation: str
    label_ja: str
    label_en: str
    exceptions: tuple[ControllerException, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the access matrix: purpose × party kind × relation → items readable/writable.

    ``read`` and ``write`` are expanded item keys (category wildcards resolved at load time).
    """

    id: str
    purpose: str
    party_kind: str
    relations: frozenset[str]
    read: frozenset[str]
    write: frozenset[str]
    legal_basis_ja: str | None = None
    legal_basis_en: str | None = None
    line: int | None = None

    def items_for(self, action: Action) -> frozenset[str]:
        return self.read if action == "read" else self.write


@dataclass(frozen=True, slots=True)
class Note:
    key: str
    mark: str
    text_ja: str
    text_en: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Publisher:
    """The business publishing the notice. ``address`` and ``representative`` are required by the
    APPI for joint use since April 2022; empty means not stated (a gap ``policy check`` reports)."""

    code: str
    name_ja: str
    name_en: str
    address: str = ""
    representative: str = ""
    country: str = "JP"


@dataclass(frozen=True, slots=True)
class Notice:
    """The notice's text and its version. ``effective_from``: the day the version is in force
    (JST, from midnight); ``published_on``: the day it was made known (公表) — a change of
    purposes or of a controller takes effect no earlier than ``advance_notice_days`` after it
    (APPI Art. 27(6); :mod:`jointuse.policy.versions`). None: not stated (``policy check``)."""

    version: str
    title_ja: str
    title_en: str
    law_ja: str
    law_en: str
    preamble_ja: str
    preamble_en: str
    effective_from: date | None = None
    published_on: date | None = None
    advance_notice_days: int = 30


@dataclass(frozen=True, slots=True)
class Policy:
    source: str
    notice: Notice
    publisher: Publisher
    party_kinds: tuple[PartyKind, ...]
    purposes: tuple[Purpose, ...]
    categories: tuple[Category, ...]
    items: tuple[Item, ...]
    relations: tuple[Relation, ...]
    controllers: tuple[Controller, ...]
    rules: tuple[Rule, ...]
    notes: tuple[Note, ...] = field(default=())

    def item(self, key: str) -> Item:
        for it in self.items:
            if it.key == key:
                return it
        raise KeyError(key)

    def items_of(self, category: str) -> tuple[Item, ...]:
        return tuple(it for it in self.items if it.category == category)

    def purpose(self, key: str) -> Purpose:
        for p in self.purposes:
            if p.key == key:
                return p
        raise KeyError(key)

    def category(self, key: str) -> Category:
        for c in self.categories:
            if c.key == key:
                return c
        raise KeyError(key)

    def controller_of(self, category: str) -> Controller | None:
        for c in self.controllers:
            if c.category == category:
                return c
        return None

    def note(self, key: str) -> Note:
        for n in self.notes:
            if n.key == key:
                return n
        raise KeyError(key)
