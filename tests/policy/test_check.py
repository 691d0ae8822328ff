"""`policy check`: the shipped policy's known gap, and each kind of inconsistency."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources

from jointuse.parties.reference import load_reference
from jointuse.policy.check import CheckReport, check_policy, format_report
from jointuse.policy.loader import default_policy, parse_policy
from jointuse.policy.model import Item, Policy, Relation, Rule


def policy_text() -> str:
    return (resources.files("jointuse") / "data" / "policy.toml").read_text(encoding="utf-8")


def line_of(text: str, needle: str, after: str | None = None) -> int:
    lines = text.splitlines()
    start = 0 if after is None else next(i for i, s in enumerate(lines) if after in s)
    return next(i for i in range(start, len(lines)) if needle in lines[i]) + 1


def findings(report: CheckReport) -> set[tuple[str, str, str]]:
    return {(f.severity, f.code, f.subject) for f in report.findings}


def test_shipped_policy_states_exactly_its_known_gap() -> None:
    report = check_policy(default_policy())
    text = policy_text()
    assert findings(report) == {
        ("gap", "publisher-address-missing", "[publisher]"),
        ("gap", "publisher-representative-missing", "[publisher]"),
        # Every controller's address and representative (TSOs and OCCTO: the reference data
        # gives neither); retailers' and DR contractors' come from the party registry.
        ("gap", "controller-address-missing", "controllers of kind 'tso'"),
        ("gap", "controller-representative-missing", "controllers of kind 'tso'"),
        ("gap", "controller-address-missing", "controllers of kind 'occto'"),
        ("gap", "controller-representative-missing", "controllers of kind 'occto'"),
        ("warning", "controller-details-from-registry", "controllers of kind 'retailer'"),
        ("warning", "controller-details-from-registry", "controllers of kind 'dr_contractor'"),
        # The new retailer forwards the supply point ID (controller: the TSO); the old retailer
        # writes its judgement, a switching message whose controller is OCCTO (the operator).
        ("warning", "write-by-non-controller", "rule 'P2-new-retailer'"),
        ("warning", "write-by-non-controller", "rule 'P2-old-retailer'"),
    }
    assert report.failed
    by_code = {f.code: f for f in report.findings}
    assert by_code["publisher-address-missing"].line == line_of(text, 'address = ""')
    assert by_code["publisher-representative-missing"].line == line_of(text, 'representative = ""')
    assert "April 2022" in by_code["publisher-address-missing"].message
    assert "27(5)(iii)" in by_code["publisher-address-missing"].message
    assert "住所" in by_code["publisher-address-missing"].message_ja
    assert "容易に知り得る状態" in by_code["publisher-address-missing"].message
    assert "容易に知り得る状態" in by_code["controller-address-missing"].message
    warning = next(f for f in report.findings if f.subject == "rule 'P2-new-retailer'")
    assert warning.line == line_of(
        text, 'write = ["name", "address", "contract_number", "supply_point_id"]'
    )
    assert all(f.message_ja for f in report.findings)
    # Gaps first.
    assert [f.severity for f in report.findings] == ["gap"] * 6 + ["warning"] * 4


def test_filling_address_and_representative_closes_the_gap() -> None:
    text = (
        policy_text()
        .replace('address = ""', 'address = "埼玉県さいたま市中央区新都心1-2"')
        .replace('representative = ""', 'representative = "代表理事 山田花子"')
    )
    report = check_policy(parse_policy(text, file="fixed.toml"), text=text)
    # the publisher's gap is closed; the other controllers' (TSOs, OCCTO) remain
    assert {f.code for f in report.findings if f.severity == "gap"} == {
        "controller-address-missing",
        "controller-representative-missing",
    }
    reference = load_reference()
    filled = dataclasses.replace(
        reference,
        parties=tuple(
            dataclasses.replace(p, address="東京都千代田区1-1", representative="代表取締役 某")
            for p in reference.parties
        ),
    )
    report = check_policy(parse_policy(text, file="fixed.toml"), text=text, reference=filled)
    assert report.count("gap") == 0 and report.count("error") == 0
    assert not report.failed
    assert {f.code for f in report.findings} == {
        "write-by-non-controller",
        "controller-details-from-registry",
    }
    # a TSO abroad is flagged under Art. 28
    abroad = dataclasses.replace(
        filled,
        parties=tuple(
            dataclasses.replace(p, country="SG") if p.code == "tso-03" else p
            for p in filled.parties
        ),
    )
    report = check_policy(parse_policy(text, file="fixed.toml"), text=text, reference=abroad)
    found = [f for f in report.findings if f.code == "joint-user-abroad"]
    assert len(found) == 1 and "tso-03 (SG)" in found[0].message and "Art. 28" in found[0].message
    assert report.failed


def test_effective_date_and_joint_use_statement() -> None:
    text = policy_text()
    no_date = text.replace("effective_from = 2026-11-26\n", "")
    report = check_policy(parse_policy(no_date, file="x.toml"), text=no_date)
    assert "effective-date-missing" in report.codes
    late = text.replace("published_on = 2026-11-26", "published_on = 2026-12-01")
    report = check_policy(parse_policy(late, file="x.toml"), text=late)
    assert "effective-before-publication" in report.codes
    silent = (
        text.replace("共同利用ポリシーを適用し", "ポリシーを適用し")
        .replace("共同利用する個人データ", "個人データ")
        .replace("個人情報の共同利用について", "個人情報について")
    )
    report = check_policy(parse_policy(silent, file="x.toml"), text=silent)
    assert "joint-use-statement-missing" not in check_policy(default_policy()).codes
    assert "joint-use-statement-missing" in report.codes
    finding = next(f for f in report.findings if f.code == "joint-use-statement-missing")
    assert "容易に知り得る状態" in finding.message


def test_item_no_rule_uses_is_reported_at_its_line() -> None:
    text = policy_text().replace(
        "# Relations between a party and a target.",
        '[[item]]\nkey = "fax"\ncategory = "basic"\nlabel_ja = "FAX番号"\nlabel_en = "fax"\n\n'
        "# Relations between a party and a target.",
    )
    # basic.* was expanded at load: rules written as "basic.*" DO cover the new item, so drop
    # it from every rule to get an item nobody uses.
    policy = parse_policy(text, file="x.toml")
    rules = tuple(
        dataclasses.replace(r, read=r.read - {"fax"}, write=r.write - {"fax"}) for r in policy.rules
    )
    report = check_policy(dataclasses.replace(policy, rules=rules), text=text)
    (found,) = [f for f in report.findings if f.code == "item-unused"]
    assert found.severity == "warning" and found.subject == "item 'fax'"
    assert found.line == line_of(text, 'key = "fax"') - 1  # the [[item]] header
    assert found.file == "x.toml" and found.where == f"x.toml:{found.line}"


def _without_rules(policy: Policy, drop: set[str]) -> Policy:
    return dataclasses.replace(policy, rules=tuple(r for r in policy.rules if r.id not in drop))


def test_purpose_no_rule_serves() -> None:
    policy = _without_rules(default_policy(), {"P4-tso", "P4-tso-field-work"})
    report = check_policy(policy)
    assert ("warning", "purpose-unused", "purpose 'P4_tso_operations'") in findings(report)


def test_party_kind_with_no_rule() -> None:
    occto_rules = {r.id for r in default_policy().rules if r.party_kind == "occto"}
    report = check_policy(_without_rules(default_policy(), occto_rules))
    assert ("warning", "party-kind-unused", "party kind 'occto'") in findings(report)
    # switching_operator is still the relation of a controller: not unused.
    assert not any(f.code == "relation-unused" for f in report.findings)


def test_relation_no_rule_or_controller_uses() -> None:
    policy = default_policy()
    extra = Relation("neighbour", "隣接", "neighbour")
    report = check_policy(dataclasses.replace(policy, relations=(*policy.relations, extra)))
    assert ("warning", "relation-unused", "relation 'neighbour'") in findings(report)


def test_category_without_controller_is_a_gap_in_joint_use_else_an_error() -> None:
    policy = default_policy()
    controllers = tuple(
        c for c in policy.controllers if c.category not in ("negawatt", "interval_data")
    )
    report = check_policy(dataclasses.replace(policy, controllers=controllers))
    found = findings(report)
    assert ("gap", "category-without-controller", "category 'negawatt'") in found
    assert ("error", "category-without-controller", "category 'interval_data'") in found


def test_write_by_a_party_that_is_not_the_controller() -> None:
    policy = default_policy()
    rules = tuple(
        dataclasses.replace(r, write=frozenset({"meter_info"})) if r.id == "P3-retailer" else r
        for r in policy.rules
    )
    report = check_policy(dataclasses.replace(policy, rules=rules))
    (found,) = [f for f in report.findings if f.subject == "rule 'P3-retailer'"]
    assert found.code == "write-by-non-controller" and found.severity == "warning"
    assert "meter_info" in found.message and "'supply_point'" in found.message
    # The TSO writing basic information is fine: it is the exception's controller.
    rules = tuple(
        dataclasses.replace(r, write=r.write | {"name"}) if r.id == "P1-tso" else r
        for r in policy.rules
    )
    report = check_policy(dataclasses.replace(policy, rules=rules))
    assert not any(f.subject == "rule 'P1-tso'" for f in report.findings)


def test_note_referenced_but_missing() -> None:
    policy = default_policy()
    purposes = tuple(
        dataclasses.replace(p, note="n9") if p.key == "P3_supply_point_confirmation" else p
        for p in policy.purposes
    )
    report = check_policy(dataclasses.replace(policy, purposes=purposes))
    (found,) = [f for f in report.findings if f.code == "note-missing"]
    assert found.severity == "error"
    assert found.subject == "purpose 'P3_supply_point_confirmation'"
    assert "'n9'" in found.message and "n1, n2, n3, n4, n5" in found.message
    assert report.failed


def test_note_with_unknown_placeholder_or_bad_url() -> None:
    policy = default_policy()
    notes = tuple(
        dataclasses.replace(n, text_en=n.text_en + " {dr_list}", url="javascript:alert(1)")
        if n.key == "n4"
        else n
        for n in policy.notes
    )
    report = check_policy(dataclasses.replace(policy, notes=notes))
    found = findings(report)
    assert ("error", "note-placeholder-unknown", "note 'n4'") in found
    assert ("error", "note-url-invalid", "note 'n4'") in found
    message = next(f.message for f in report.findings if f.code == "note-placeholder-unknown")
    assert "{dr_list}" in message and "{publisher}, {tsos}" in message


def test_dangling_references_in_a_hand_built_policy() -> None:
    policy = default_policy()
    bad = Rule(
        id="X-1",
        purpose="P9_marketing",
        party_kind="broker",
        relations=frozenset({"friend"}),
        read=frozenset({"shoe_size"}),
        write=frozenset(),
    )
    report = check_policy(dataclasses.replace(policy, rules=(*policy.rules, bad)))
    messages = [f.message for f in report.findings if f.code == "unknown-reference"]
    assert len(messages) == 4
    assert any("unknown purpose 'P9_marketing'" in m and "P1_wheeling" in m for m in messages)
    assert any("unknown party kind 'broker'" in m for m in messages)
    assert any("unknown relation 'friend'" in m for m in messages)
    assert any("unknown item 'shoe_size'" in m for m in messages)


def test_empty_policy_parts_are_gaps() -> None:
    policy = dataclasses.replace(default_policy(), purposes=(), party_kinds=())
    codes = {f.code for f in check_policy(policy).findings if f.severity == "gap"}
    assert {"no-purposes", "no-joint-users"} <= codes


def test_hand_built_policy_without_a_source_file_has_no_lines() -> None:
    policy = dataclasses.replace(default_policy(), source="<memory>")
    extra = Item("fax", "FAX", "fax", category="basic")
    report = check_policy(dataclasses.replace(policy, items=(*policy.items, extra)))
    (found,) = [f for f in report.findings if f.code == "item-unused"]
    assert found.line is None and found.file is None and found.where == "item 'fax'"


def test_report_formats() -> None:
    report = check_policy(default_policy())
    text = format_report(report)
    assert "GAP     publisher-address-missing" in text
    assert text.rstrip().endswith("FAILED: 6 gap(s), 0 error(s), 4 warning(s)")
    assert "住所" in format_report(report, lang="ja")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False
    assert data["counts"] == {"gap": 6, "error": 0, "warning": 4}
    assert [f["code"] for f in data["findings"]][:2] == [
        "publisher-address-missing",
        "publisher-representative-missing",
    ]
