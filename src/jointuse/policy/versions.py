"""Versions of the notice under the law (APPI Art. 27(6)): what a change needs, and which version
is in force when.

:func:`diff` classifies every change between two versions by what the law requires of it:

``consent`` (本人の同意 in principle; PPC guidelines 通則編 3-6-3)
    the items of personal data used jointly, and the scope of the joint users (party kinds):
    they cannot change under the same joint use without the people's consent;
``advance_notice`` (あらかじめ本人に通知し、又は本人が容易に知り得る状態に置く; Art. 27(6))
    the purposes of joint use — only within what can reasonably be regarded as related to the
    purposes before (変更前の利用目的と関連性を有すると合理的に認められる範囲) — and the
    controller (管理責任者) of a category: in force no earlier than ``advance_notice_days``
    after publication;
``without_delay`` (遅滞なく; Art. 27(6))
    the controller's name, address or representative: made known without delay after the
    change;
``none``
    the access rules, labels and notes within the published scope: no notice of their own.

:class:`PolicyVersions` holds several versions; each is in force from its ``effective_from``
(JST midnight) — or, when its changes from the previous version need advance notice, from
``published_on + advance_notice_days`` if that is later. :class:`VersionedEngine` decides each
request with the version in force at the request's moment (``request.at``); a request before the
first version is decided by the first (``policy check`` requires an effective date before first
use).
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from jointuse.core.calendar import JST
from jointuse.core.errors import ConfigError
from jointuse.policy.engine import AccessRequest, Decision, Engine, engine_for
from jointuse.policy.model import Policy

Requirement = Literal["consent", "advance_notice", "without_delay", "none"]
REQUIREMENTS: tuple[Requirement, ...] = ("consent", "advance_notice", "without_delay", "none")

_TESTS: dict[Requirement, tuple[str, str]] = {
    "consent": (
        "needs the people's consent in principle (items and joint users; PPC guidelines 3-6-3)",
        "原則として本人の同意が必要（共同利用する個人データの項目・共同利用する者の範囲）",
    ),
    "advance_notice": (
        "in advance: notify the people or put it where they can easily know it (通知 or "
        "容易に知り得る状態), before it takes effect (Art. 27(6)); purposes only within reasonable "
        "relevance to the purposes before",
        "あらかじめ本人に通知し、又は本人が容易に知り得る状態に置くこと（法第27条第6項）。"
        "利用目的は変更前と関連性を有すると合理的に認められる範囲内に限る",
    ),
    "without_delay": (
        "without delay after the change: notify the people or put it where they can easily "
        "know it (通知 or 容易に知り得る状態; Art. 27(6))",
        "変更後遅滞なく本人に通知し、又は本人が容易に知り得る状態に置くこと（法第27条第6項）",
    ),
    "none": ("no notice of its own (within the published scope)", "公表事項の変更なし"),
}


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two versions and what the law requires of it."""

    requirement: Requirement
    kind: str  # item, party_kind, purpose, controller, publisher, rule, note, label
    subject: str
    what: str  # added, removed, changed
    detail: str
    test_en: str
    test_ja: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _change(requirement: Requirement, kind: str, subject: str, what: str, detail: str) -> Change:
    en, ja = _TESTS[requirement]
    return Change(requirement, kind, subject, what, detail, en, ja)


def _keyed(
    old: dict[str, Any], new: dict[str, Any], kind: str, requirement: Requirement
) -> list[Change]:
    out: list[Change] = []
    for key in sorted(set(old) | set(new)):
        if key not in old:
            out.append(_change(requirement, kind, key, "added", f"{kind} {key!r} added"))
        elif key not in new:
            out.append(_change(requirement, kind, key, "removed", f"{kind} {key!r} removed"))
        elif old[key] != new[key]:
            out.append(_change(requirement, kind, key, "changed", f"{old[key]!r} → {new[key]!r}"))
    return out


def diff(old: Policy, new: Policy) -> tuple[Change, ...]:
    """Every change from ``old`` to ``new``, most demanding requirement first."""
    changes: list[Change] = []
    joint = {c.key for c in new.categories if c.joint_use} | {
        c.key for c in old.categories if c.joint_use
    }
    changes += _keyed(
        {i.key: (i.category, i.label_ja) for i in old.items if i.category in joint},
        {i.key: (i.category, i.label_ja) for i in new.items if i.category in joint},
        "item",
        "consent",
    )
    changes += _keyed(
        {k.key: k.label_ja for k in old.party_kinds if k.joint_use},
        {k.key: k.label_ja for k in new.party_kinds if k.joint_use},
        "party_kind",
        "consent",
    )
    changes += _keyed(
        {p.key: p.label_ja for p in old.purposes if p.joint_use},
        {p.key: p.label_ja for p in new.purposes if p.joint_use},
        "purpose",
        "advance_notice",
    )
    changes += _keyed(
        {c.category: (c.party_kind, c.relation, c.exceptions) for c in old.controllers},
        {c.category: (c.party_kind, c.relation, c.exceptions) for c in new.controllers},
        "controller",
        "advance_notice",
    )
    if old.publisher.code != new.publisher.code:
        changes.append(
            _change(
                "advance_notice",
                "controller",
                "publisher",
                "changed",
                f"the publishing business {old.publisher.code!r} → {new.publisher.code!r}",
            )
        )
    for field in ("name_ja", "name_en", "address", "representative"):
        before, after = getattr(old.publisher, field), getattr(new.publisher, field)
        if before != after:
            changes.append(
                _change(
                    "without_delay",
                    "publisher",
                    field,
                    "changed",
                    f"[publisher] {field}: {before!r} → {after!r}",
                )
            )
    changes += _keyed(
        {r.id: (r.purpose, r.party_kind, r.relations, r.read, r.write) for r in old.rules},
        {r.id: (r.purpose, r.party_kind, r.relations, r.read, r.write) for r in new.rules},
        "rule",
        "none",
    )
    changes += _keyed(
        {n.key: (n.text_ja, n.text_en, n.url) for n in old.notes},
        {n.key: (n.text_ja, n.text_en, n.url) for n in new.notes},
        "note",
        "none",
    )
    order = {r: n for n, r in enumerate(REQUIREMENTS)}
    return tuple(sorted(changes, key=lambda c: order[c.requirement]))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=JST)


@dataclass(frozen=True, slots=True)
class Version:
    """A version with the moment it is in force from and what its changes need."""

    policy: Policy
    in_force_from: datetime
    changes: tuple[Change, ...]

    @property
    def needs_consent(self) -> bool:
        return any(c.requirement == "consent" for c in self.changes)


def in_force_from(previous: Policy | None, policy: Policy) -> tuple[datetime, tuple[Change, ...]]:
    """When ``policy`` (following ``previous``) is in force, and its changes."""
    notice = policy.notice
    if notice.effective_from is None:
        raise ConfigError(
            f"version {notice.version!r} states no effective date",
            file=policy.source,
            valid="[notice] effective_from = YYYY-MM-DD",
        )
    start = notice.effective_from
    changes = diff(previous, policy) if previous is not None else ()
    if any(c.requirement == "advance_notice" for c in changes):
        published = notice.published_on or notice.effective_from
        start = max(start, published + timedelta(days=notice.advance_notice_days))
    return _midnight(start), changes


class PolicyVersions:
    """Several versions of the policy, each in force from its moment (module docstring)."""

    def __init__(self, policies: list[Policy] | tuple[Policy, ...]) -> None:
        if not policies:
            raise ConfigError(
                "no policy version given", file="(policy versions)", valid="a policy file"
            )
        ordered = sorted(policies, key=lambda p: p.notice.effective_from or date.min)
        versions: list[Version] = []
        previous: Policy | None = None
        for policy in ordered:
            start, changes = in_force_from(previous, policy)
            if versions and start <= versions[-1].in_force_from:
                raise ConfigError(
                    f"version {policy.notice.version!r} would be in force from "
                    f"{start.isoformat()}, not after version "
                    f"{versions[-1].policy.notice.version!r} "
                    f"({versions[-1].in_force_from.isoformat()})",
                    file=policy.source,
                    valid="versions with increasing effective dates",
                )
            versions.append(Version(policy, start, changes))
            previous = policy
        self.versions = tuple(versions)
        self._starts = [v.in_force_from for v in versions]

    def at(self, moment: datetime) -> Version:
        """The version in force at ``moment`` (the first one before it is in force)."""
        index = bisect.bisect_right(self._starts, moment) - 1
        return self.versions[max(index, 0)]


class VersionedEngine:
    """Decides each request with the engine of the version in force at ``request.at``."""

    def __init__(self, versions: PolicyVersions) -> None:
        self.versions = versions
        self._engines: dict[int, Engine] = {
            id(v.policy): engine_for(v.policy) for v in versions.versions
        }

    def engine_at(self, moment: datetime) -> Engine:
        return self._engines[id(self.versions.at(moment).policy)]

    def decide(self, request: AccessRequest) -> Decision:
        return self.engine_at(request.at).decide(request)
