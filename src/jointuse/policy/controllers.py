"""Controller resolution: which party answers for a category of a customer's data (管理責任者).

Which *kind* of party answers, through which relation, and the exceptions by contract kind all
come from the policy's ``[[controller]]`` entries. This module only turns a relation into the
concrete party code from the facts of the target:

* ``area_tso`` → the TSO of the target's supply area
  (:func:`jointuse.parties.reference.tso_for_area`);
* ``contract_holder`` → the retailer holding the customer's retail supply contract
  (``target.retailer_code``);
* ``dr_resource`` → the DR contractor with the point registered as a resource
  (``target.dr_contractor_code``);
* ``switching_operator`` → OCCTO (the reference party of kind ``occto``).

A fact the caller does not know (no area code, no retailer) gives ``party_code=None`` with the kind
and label still stated, so "the retailer holding the contract" can still be shown to a customer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from jointuse.parties.reference import load_reference, tso_for_area
from jointuse.policy.model import Controller, Lang, Policy


class TargetFacts(Protocol):
    """What controller resolution needs to know about a target (supply point / customer).

    :class:`jointuse.policy.engine.Target` satisfies it.
    """

    @property
    def area_code(self) -> str | None: ...

    @property
    def contract_kind(self) -> str | None: ...

    @property
    def retailer_code(self) -> str | None: ...

    @property
    def dr_contractor_code(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ControllerRef:
    """The controller of one ``category`` for one target.

    ``party_code`` is ``None`` when the target's facts do not name the party (e.g. no DR
    contractor registered). ``exception`` is True when a contract-kind exception applied
    (remote-island or last-resort supply: the TSO answers for basic information).
    """

    category: str
    party_code: str | None
    party_kind: str
    relation: str
    label_ja: str
    label_en: str
    exception: bool = False

    def label(self, lang: Lang) -> str:
        return self.label_ja if lang == "ja" else self.label_en


@functools.cache
def _tso_by_area() -> dict[str, str]:
    return {area.code: area.tso for area in load_reference().areas}


@functools.cache
def occto_code() -> str:
    """The party code of OCCTO in the reference data."""
    return next(p.code for p in load_reference().parties if p.kind == "occto")


def _area_tso(target: TargetFacts) -> str | None:
    area = target.area_code
    if area is None:
        return None
    code = _tso_by_area().get(area)
    # An unknown area code: let the reference module raise its ValidationError (lists valid codes).
    return code if code is not None else tso_for_area(area)


RELATION_RESOLVERS: dict[str, Callable[[TargetFacts], str | None]] = {
    "area_tso": _area_tso,
    "contract_holder": lambda t: t.retailer_code,
    "applicant": lambda t: None,  # an applicant is never a controller; kept for completeness
    "dr_resource": lambda t: t.dr_contractor_code,
    "switching_operator": lambda t: occto_code(),
}


def resolve(controller: Controller, target: TargetFacts) -> ControllerRef:
    """The concrete controller of ``controller.category`` for ``target``."""
    kind, relation, label_ja, label_en = (
        controller.party_kind,
        controller.relation,
        controller.label_ja,
        controller.label_en,
    )
    exception = False
    contract_kind = target.contract_kind
    if contract_kind is not None:
        for x in controller.exceptions:
            if contract_kind in x.contract_kinds:
                kind, relation, label_ja, label_en = (
                    x.party_kind,
                    x.relation,
                    x.label_ja,
                    x.label_en,
                )
                exception = True
                break
    resolver = RELATION_RESOLVERS.get(relation)
    code = resolver(target) if resolver is not None else None
    return ControllerRef(controller.category, code, kind, relation, label_ja, label_en, exception)


def controller_for(policy: Policy, category: str, target: TargetFacts) -> ControllerRef | None:
    """The controller of ``category`` for ``target``; ``None`` if the policy names none."""
    controller = policy.controller_of(category)
    return resolve(controller, target) if controller is not None else None


def controllers_for(
    policy: Policy, target: TargetFacts, categories: Iterable[str] | None = None
) -> tuple[ControllerRef, ...]:
    """Controllers of ``categories`` (default: every category with a controller), policy order."""
    wanted = None if categories is None else set(categories)
    return tuple(
        resolve(c, target) for c in policy.controllers if wanted is None or c.category in wanted
    )
