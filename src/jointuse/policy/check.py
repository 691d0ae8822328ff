"""``jointuse policy check``: what the law requires that the policy lacks, and what is inconsistent.

Three severities (after Fides PBAC's "an incomplete configuration is a reported gap"):

* ``gap`` — something the APPI requires of a joint-use notice (共同利用の公表事項) is missing. Above
  all the controller's address and representative's name, required since the amendment in force
  from April 2022 (APPI Art. 27(5)(iii)); also a joint-use category without a controller
  (管理責任者), or no purposes / joint users / items at all.
* ``error`` — the policy contradicts itself: a dangling reference (the loader refuses most of them,
  but a :class:`Policy` can be built by hand), a note mark that names no note, a note placeholder
  the renderer does not know, a note URL that is not http(s).
* ``warning`` — legal but suspicious: an item no rule reads or writes, a purpose no rule serves, a
  party kind with no rule, a relation no rule or controller uses, a rule granting a write on a
  category to a party kind that is not that category's controller.

Each :class:`Finding` has a stable ``code``, an English and a Japanese message, and where it is
(the file and line when the policy's source text is available).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from jointuse.core.valuesets import entry_lines
from jointuse.policy.model import Policy
from jointuse.policy.render import NOTE_PLACEHOLDERS, note_placeholders

if TYPE_CHECKING:
    from jointuse.parties.reference import Reference

Severity = Literal["gap", "error", "warning"]
SEVERITIES: tuple[Severity, ...] = ("gap", "error", "warning")
SEVERITY_ORDER: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}

_HEADER = re.compile(r"^\s*\[")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    code: str
    message: str
    message_ja: str
    subject: str
    file: str | None = None
    line: int | None = None

    @property
    def where(self) -> str:
        if self.file is None:
            return self.subject
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CheckReport:
    source: str
    findings: tuple[Finding, ...]

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def failed(self) -> bool:
        """True when there is a gap or an error (``policy check`` then exits non-zero)."""
        return any(f.severity in ("gap", "error") for f in self.findings)

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "ok": not self.failed,
            "counts": {s: self.count(s) for s in SEVERITIES},
            "findings": [f.to_dict() for f in self.findings],
        }


class _Where:
    """Line numbers of tables and keys in the policy's raw TOML text (when available)."""

    def __init__(self, text: str | None) -> None:
        self.lines = text.splitlines() if text is not None else []
        self.arrays: dict[str, list[int]] = {}
        self.text = text

    def table(self, name: str, index: int | None = None) -> int | None:
        if self.text is None:
            return None
        if index is None:
            pattern = re.compile(r"^\s*\[\s*" + re.escape(name) + r"\s*\]\s*(#.*)?$")
            return next((n for n, s in enumerate(self.lines, 1) if pattern.fullmatch(s)), None)
        found = self.arrays.setdefault(name, entry_lines(self.text, name))
        return found[index] if index < len(found) else None

    def key(self, start: int | None, key: str) -> int | None:
        if start is None:
            return None
        for n in range(start + 1, len(self.lines) + 1):
            line = self.lines[n - 1]
            if _HEADER.match(line):
                break
            m = _KEY.match(line)
            if m and m.group(1) == key:
                return n
        return start


def _read_source(policy: Policy) -> str | None:
    try:
        path = Path(policy.source)
        return path.read_text(encoding="utf-8") if path.is_file() else None
    except (OSError, UnicodeDecodeError, ValueError):
        return None


class _Checker:
    def __init__(self, policy: Policy, text: str | None) -> None:
        self.policy = policy
        self.where = _Where(text)
        self.file = policy.source if text is not None else None
        self.findings: list[Finding] = []

    def add(
        self, severity: Severity, code: str, subject: str, en: str, ja: str, line: int | None
    ) -> None:
        self.findings.append(Finding(severity, code, en, ja, subject, self.file, line))

    # -- the law --------------------------------------------------------------------------------

    def publisher(self) -> None:
        pub = self.policy.publisher
        start = self.where.table("publisher")
        for field, what_en, what_ja in (
            ("address", "address", "住所"),
            ("representative", "representative's name", "代表者の氏名"),
        ):
            if not getattr(pub, field).strip():
                self.add(
                    "gap",
                    f"publisher-{field}-missing",
                    "[publisher]",
                    f"[publisher] {field} is empty: since April 2022 the {what_en} of the "
                    "business responsible for the data must be notified to the people in advance "
                    "or put where they can easily know it (通知 or 容易に知り得る状態; "
                    "APPI Art. 27(5)(iii) as amended)",
                    f"[publisher] {field} が空です：2022年4月施行の改正個人情報保護法"
                    "第27条第5項第3号により、共同利用では管理について責任を有する者の"
                    f"{what_ja}の公表が必要です",
                    self.where.key(start, field),
                )
        for field in ("name_ja", "name_en"):
            if not getattr(pub, field).strip():
                self.add(
                    "gap",
                    "publisher-name-missing",
                    "[publisher]",
                    f"[publisher] {field} is empty: the notice must name the responsible business",
                    f"[publisher] {field} が空です："
                    "管理について責任を有する者の名称の公表が必要です",
                    self.where.key(start, field),
                )

    def controllers_known(self, reference: Reference | None) -> None:
        """Address and representative of every controller (管理責任者), not only of the
        publisher: from the reference registry for the kinds it holds (TSOs, OCCTO); for the
        others (retailers, DR contractors) they come from each party's registry entry."""
        from jointuse.parties.reference import load_reference

        known_parties = (reference or load_reference()).parties
        kinds: dict[str, list[str]] = {}
        for ctrl in self.policy.controllers:
            for kind in (ctrl.party_kind, *(x.party_kind for x in ctrl.exceptions)):
                kinds.setdefault(kind, [])
                if ctrl.category not in kinds[kind]:
                    kinds[kind].append(ctrl.category)
        line = self.where.table("controller", 0)
        for kind, categories in kinds.items():
            known = [p for p in known_parties if p.kind == kind]
            cats = ", ".join(categories)
            if not known:
                self.add(
                    "warning",
                    "controller-details-from-registry",
                    f"controllers of kind {kind!r}",
                    f"the {kind} controllers (of {cats}) are not in the reference registry: "
                    "each one's name, address and representative must be notified or put where "
                    "the people can easily know them (通知 or 容易に知り得る状態; APPI Art. "
                    "27(5)(iii)) — keep them in the party registry "
                    "(`jointuse party add --address … --representative …`)",
                    f"{kind} の管理責任者（{cats}）は参照データにありません：各事業者の名称・住所・"
                    "代表者の氏名を本人に通知し、又は本人が容易に知り得る状態に置く必要があります",
                    line,
                )
                continue
            for field, what_en, what_ja in (
                ("address", "address", "住所"),
                ("representative", "representative's name", "代表者の氏名"),
            ):
                missing = [p.code for p in known if not getattr(p, field).strip()]
                if missing:
                    self.add(
                        "gap",
                        f"controller-{field}-missing",
                        f"controllers of kind {kind!r}",
                        f"the {what_en} of the {kind} controller(s) {', '.join(missing)} (of "
                        f"{cats}) is not in the registry data (data/reference_parties.toml): "
                        "since April 2022 it must be notified to the people or put where they "
                        "can easily know it (通知 or 容易に知り得る状態; APPI Art. 27(5)(iii))",
                        f"管理責任者 {', '.join(missing)} の{what_ja}が参照データにありません："
                        "本人に通知し、又は本人が容易に知り得る状態に置く必要があります"
                        "（法第27条第5項第3号）",
                        line,
                    )
            abroad = [f"{p.code} ({p.country})" for p in known if p.country.upper() != "JP"]
            if abroad:
                self.add(
                    "gap",
                    "joint-user-abroad",
                    f"controllers of kind {kind!r}",
                    f"joint user(s) in a foreign country: {', '.join(abroad)}: joint use does not "
                    "exempt provision to a third party in a foreign country (APPI Art. 28): "
                    "the people's consent after information on the country's system, or an "
                    "equivalent system of protection, is needed",
                    f"外国にある共同利用者 {', '.join(abroad)}：外国にある第三者への提供"
                    "（法第28条）として本人の同意等が必要です",
                    line,
                )
        pub = self.policy.publisher
        if pub.country.upper() != "JP":
            self.add(
                "gap",
                "joint-user-abroad",
                "[publisher]",
                f"the publisher is in {pub.country}: provision to and from a business in a "
                "foreign country falls under APPI Art. 28 (consent or an equivalent system)",
                f"公表者は外国（{pub.country}）にあります：法第28条の対象です",
                self.where.key(self.where.table("publisher"), "country"),
            )

    def notice_terms(self) -> None:
        """The statement that the data are jointly used, and an effective date before use."""
        notice = self.policy.notice
        start = self.where.table("notice")
        if "共同利用" not in notice.preamble_ja + notice.title_ja or "joint" not in (
            notice.preamble_en + notice.title_en
        ).lower().replace("-", " "):
            self.add(
                "gap",
                "joint-use-statement-missing",
                "[notice]",
                "the notice does not say that the data are used jointly (共同利用): it must be "
                "notified to the people in advance or put where they can easily know it "
                "(通知 or 容易に知り得る状態; APPI Art. 27(5)(iii))",
                "個人データを共同利用する旨の記載がありません（法第27条第5項第3号）",
                self.where.key(start, "preamble_ja"),
            )
        if notice.effective_from is None:
            self.add(
                "gap",
                "effective-date-missing",
                "[notice]",
                "[notice] effective_from is not stated: the joint use must be made known "
                "before the data are first used jointly (あらかじめ: 通知 or 容易に知り得る状態), "
                "and the version in force at each moment must be known",
                "[notice] effective_from（施行日）がありません：共同利用はあらかじめ通知し、"
                "又は容易に知り得る状態に置く必要があります",
                start,
            )
        elif notice.published_on is not None and notice.published_on > notice.effective_from:
            self.add(
                "gap",
                "effective-before-publication",
                "[notice]",
                f"[notice] effective_from {notice.effective_from} is before published_on "
                f"{notice.published_on}: the notice must be made known in advance (あらかじめ), "
                "before its first use",
                "施行日が公表日より前です：あらかじめ公表する必要があります",
                self.where.key(start, "effective_from"),
            )

    def completeness(self) -> None:
        p = self.policy
        for present, code, en, ja in (
            (
                [x for x in p.purposes if x.joint_use],
                "no-purposes",
                "no purpose of joint use",
                "共同利用の目的がありません",
            ),
            (
                [k for k in p.party_kinds if k.joint_use],
                "no-joint-users",
                "no joint users",
                "共同利用する者の範囲がありません",
            ),
            (
                [c for c in p.categories if c.joint_use],
                "no-joint-use-items",
                "no joint-use category of items",
                "共同利用する情報項目がありません",
            ),
        ):
            if not present:
                self.add("gap", code, "policy", f"the policy states {en}", ja, None)

    # -- consistency ----------------------------------------------------------------------------

    def controllers(self) -> None:
        p = self.policy
        cats = {c.key for c in p.categories}
        kinds = {k.key for k in p.party_kinds}
        rels = {r.key for r in p.relations}
        for i, c in enumerate(p.categories):
            if p.controller_of(c.key) is None:
                severity: Severity = "gap" if c.joint_use else "error"
                self.add(
                    severity,
                    "category-without-controller",
                    f"category {c.key!r}",
                    f"category {c.key!r} has no [[controller]]"
                    + (
                        ": a joint-use notice must name who is responsible for it"
                        if c.joint_use
                        else ": corrections and stop requests have nobody to go to"
                    ),
                    f"カテゴリ {c.key!r} に管理責任者（[[controller]]）がありません",
                    self.where.table("category", i),
                )
        for i, ctrl in enumerate(p.controllers):
            line = self.where.table("controller", i)
            refs = [("category", ctrl.category, cats), ("party kind", ctrl.party_kind, kinds)]
            refs.append(("relation", ctrl.relation, rels))
            for x in ctrl.exceptions:
                refs += [("party kind", x.party_kind, kinds), ("relation", x.relation, rels)]
            for what, value, valid in refs:
                self._unknown(f"controller of {ctrl.category!r}", what, value, valid, line)

    def _unknown(
        self, subject: str, what: str, value: str, valid: Iterable[str], line: int | None
    ) -> None:
        valid_set = set(valid)
        if value not in valid_set:
            self.add(
                "error",
                "unknown-reference",
                subject,
                f"{subject}: unknown {what} {value!r}; valid: {', '.join(sorted(valid_set))}",
                f"{subject}：未定義の{what} {value!r} を参照しています",
                line,
            )

    def rules(self) -> None:
        p = self.policy
        purposes = {x.key for x in p.purposes}
        kinds = {k.key for k in p.party_kinds}
        rels = {r.key for r in p.relations}
        items = {it.key: it.category for it in p.items}
        controller_kinds: dict[str, set[str]] = {}
        for ctrl in p.controllers:
            controller_kinds[ctrl.category] = {ctrl.party_kind} | {
                x.party_kind for x in ctrl.exceptions
            }
        outside = {k.key for k in p.party_kinds if not k.joint_use}
        joint_purposes = {x.key for x in p.purposes if x.joint_use}
        for i, rule in enumerate(p.rules):
            line = rule.line if rule.line is not None else self.where.table("rule", i)
            subject = f"rule {rule.id!r}"
            self._unknown(subject, "purpose", rule.purpose, purposes, line)
            self._unknown(subject, "party kind", rule.party_kind, kinds, line)
            for r in sorted(rule.relations):
                self._unknown(subject, "relation", r, rels, line)
            for it in sorted(rule.read | rule.write):
                self._unknown(subject, "item", it, items, line)
            if rule.party_kind in outside and rule.purpose in joint_purposes:
                self.add(
                    "error",
                    "outside-party-joint-purpose",
                    subject,
                    f"{subject} grants party kind {rule.party_kind!r}, which is not a joint "
                    f"user (joint_use = false), the purpose of joint use {rule.purpose!r}",
                    f"{subject}：共同利用者でない {rule.party_kind!r} に共同利用の目的 "
                    f"{rule.purpose!r} を許可しています",
                    self.where.key(line, "party_kind"),
                )
            by_category: dict[str, list[str]] = {}
            for it in sorted(rule.write):
                if it in items:
                    by_category.setdefault(items[it], []).append(it)
            for cat, written in by_category.items():
                allowed = controller_kinds.get(cat)
                if allowed is not None and rule.party_kind not in allowed | outside:
                    self.add(
                        "warning",
                        "write-by-non-controller",
                        subject,
                        f"{subject} lets party kind {rule.party_kind!r} write {', '.join(written)} "
                        f"of category {cat!r}, whose controller is "
                        f"{' or '.join(sorted(allowed))}",
                        f"{subject}：カテゴリ {cat!r} の管理責任者でない {rule.party_kind!r} に"
                        "書込みを許可しています",
                        self.where.key(line, "write"),
                    )

    def unused(self) -> None:
        p = self.policy
        used_items = set().union(*(r.read | r.write for r in p.rules)) if p.rules else set()
        for i, it in enumerate(p.items):
            if it.key not in used_items:
                self.add(
                    "warning",
                    "item-unused",
                    f"item {it.key!r}",
                    f"item {it.key!r} is listed but no rule reads or writes it",
                    f"情報項目 {it.key!r} はどのルールでも読み書きされません",
                    self.where.table("item", i),
                )
        served = {r.purpose for r in p.rules}
        for i, pu in enumerate(p.purposes):
            if pu.key not in served:
                self.add(
                    "warning",
                    "purpose-unused",
                    f"purpose {pu.key!r}",
                    f"purpose {pu.key!r} is published but no rule serves it",
                    f"利用目的 {pu.key!r} に対応するルールがありません",
                    self.where.table("purpose", i),
                )
        ruled = {r.party_kind for r in p.rules}
        for i, k in enumerate(p.party_kinds):
            if k.key not in ruled:
                self.add(
                    "warning",
                    "party-kind-unused",
                    f"party kind {k.key!r}",
                    f"party kind {k.key!r} is a published joint user "
                    "but no rule grants it anything",
                    f"共同利用者 {k.key!r} に対するルールがありません",
                    self.where.table("party_kind", i),
                )
        used_rels = set().union(*(r.relations for r in p.rules)) if p.rules else set()
        for ctrl in p.controllers:
            used_rels |= {ctrl.relation} | {x.relation for x in ctrl.exceptions}
        for i, rel in enumerate(p.relations):
            if rel.key not in used_rels:
                self.add(
                    "warning",
                    "relation-unused",
                    f"relation {rel.key!r}",
                    f"relation {rel.key!r} is used by no rule and no controller",
                    f"関係 {rel.key!r} はどのルール・管理責任者でも使われていません",
                    self.where.table("relation", i),
                )

    def notes(self) -> None:
        p = self.policy
        keys = {n.key for n in p.notes}
        refs: list[tuple[str, int, str, str | None]] = [
            ("party_kind", i, k.key, k.note) for i, k in enumerate(p.party_kinds)
        ]
        refs += [("purpose", i, pu.key, pu.note) for i, pu in enumerate(p.purposes)]
        for table, i, key, note in refs:
            if note is not None and note not in keys:
                self.add(
                    "error",
                    "note-missing",
                    f"{table} {key!r}",
                    f"{table} {key!r} refers to note {note!r}, which is not defined; "
                    f"valid notes: {', '.join(sorted(keys)) or '(none)'}",
                    f"{key!r} が参照する注記 {note!r} が定義されていません",
                    self.where.key(self.where.table(table, i), "note"),
                )
        for i, n in enumerate(p.notes):
            line = self.where.table("note", i)
            unknown = sorted(note_placeholders(n) - NOTE_PLACEHOLDERS)
            if unknown:
                self.add(
                    "error",
                    "note-placeholder-unknown",
                    f"note {n.key!r}",
                    f"note {n.key!r} uses unknown placeholder(s) "
                    f"{', '.join('{' + u + '}' for u in unknown)}; valid: "
                    f"{', '.join('{' + v + '}' for v in sorted(NOTE_PLACEHOLDERS))}",
                    f"注記 {n.key!r} に未知の差込み項目 {', '.join(unknown)} があります",
                    line,
                )
            if n.url is not None and not re.fullmatch(r"https?://[^\s]+", n.url):
                self.add(
                    "error",
                    "note-url-invalid",
                    f"note {n.key!r}",
                    f"note {n.key!r} has url {n.url!r}; expected an http:// or https:// address",
                    f"注記 {n.key!r} のURLが http(s) のアドレスではありません",
                    self.where.key(line, "url"),
                )


def check_policy(
    policy: Policy, *, text: str | None = None, reference: Reference | None = None
) -> CheckReport:
    """Check ``policy``. ``text`` is its TOML source for line numbers; by default the file named
    by ``policy.source`` is read if it exists (no lines otherwise). ``reference``: the registry
    data the controllers' addresses and representatives come from (default: the shipped
    ``data/reference_parties.toml``)."""
    checker = _Checker(policy, text if text is not None else _read_source(policy))
    checker.publisher()
    checker.controllers_known(reference)
    checker.notice_terms()
    checker.completeness()
    checker.controllers()
    checker.rules()
    checker.unused()
    checker.notes()
    findings = sorted(
        checker.findings,
        key=lambda f: (SEVERITY_ORDER[f.severity], f.line if f.line is not None else 0, f.code),
    )
    return CheckReport(source=policy.source, findings=tuple(findings))


def format_report(report: CheckReport, *, lang: Literal["en", "ja"] = "en") -> str:
    """Human-readable report: one block per finding, then the counts."""
    out = [f"policy check: {report.source}"]
    for f in report.findings:
        out.append(f"{f.severity.upper():<8}{f.code}  {f.where}")
        out.append(f"        {f.message if lang == 'en' else f.message_ja}")
    counts = ", ".join(f"{report.count(s)} {s}(s)" for s in SEVERITIES)
    verdict = "FAILED" if report.failed else "OK"
    out.append(f"{verdict}: {counts}")
    return "\n".join(out) + "\n"
