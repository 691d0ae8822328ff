"""The policy loader: the shipped policy loads; every kind of mistake is a ConfigError that names
the file, the line in the TOML and the valid choices."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from jointuse.core.errors import ConfigError
from jointuse.policy.loader import default_policy, load_policy, parse_policy


def shipped_text() -> str:
    return (resources.files("jointuse") / "data" / "policy.toml").read_text(encoding="utf-8")


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line containing ``needle``."""
    found = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    return found[occurrence - 1]


def write_variant(tmp_path: Path, old: str, new: str, occurrence: int = 1) -> tuple[Path, str]:
    text = shipped_text()
    parts = text.split(old)
    assert len(parts) > occurrence, f"{old!r} occurs fewer than {occurrence} times"
    variant = old.join(parts[:occurrence]) + new + old.join(parts[occurrence:])
    path = tmp_path / "policy.toml"
    path.write_text(variant, encoding="utf-8")
    return path, variant


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    return info.value


# -- the shipped policy ------------------------------------------------------------------------


def test_shipped_policy_shape() -> None:
    policy = load_policy()
    assert [p.key for p in policy.purposes if not p.joint_use] == [
        "retail_billing",
        "C1_usage_inquiry",
        "retention_erasure",
    ]
    assert [p.key for p in policy.purposes if p.joint_use] == [
        "P1_wheeling",
        "P2_cancellation_forwarding",
        "P3_supply_point_confirmation",
        "P4_tso_operations",
        "P5_negawatt",
    ]
    assert [k.key for k in policy.party_kinds if k.joint_use] == [
        "retailer",
        "tso",
        "occto",
        "dr_contractor",
    ]
    assert [k.key for k in policy.party_kinds if not k.joint_use] == ["platform"]
    joint = [c.key for c in policy.categories if c.joint_use]
    assert joint == ["basic", "supply_point", "negawatt"]
    counts = [len(policy.items_of(c)) for c in joint]
    assert counts == [4, 16, 4]
    assert sum(counts) == 24


def test_default_policy_is_cached_and_equal_to_a_fresh_load() -> None:
    assert default_policy() is default_policy()
    assert default_policy() == load_policy()


def test_wildcards_expanded_and_rule_lines_recorded() -> None:
    policy = default_policy()
    text = shipped_text()
    rules = {r.id: r for r in policy.rules}
    p1 = rules["P1-retailer"]
    assert p1.read == frozenset(
        it.key for it in policy.items if it.category in {"basic", "supply_point"}
    )
    assert p1.write == frozenset({"name", "address", "phone", "contract_number"})
    assert all("*" not in key for r in policy.rules for key in r.read | r.write)
    assert p1.line == line_of(text, "[[rule]]", 1)
    assert rules["P5-occto"].line == line_of(text, "[[rule]]", len(policy.rules))


def test_load_from_path_string(tmp_path: Path) -> None:
    path = tmp_path / "copy.toml"
    path.write_text(shipped_text(), encoding="utf-8")
    policy = load_policy(str(path))
    assert policy.source == str(path)
    assert policy.rules == default_policy().rules


# -- mistakes ----------------------------------------------------------------------------------


def test_unknown_item_in_rule_read(tmp_path: Path) -> None:
    path, text = write_variant(
        tmp_path,
        'read = ["supply_area", "supply_point_id", "meter_info"',
        'read = ["suply_area", "supply_point_id", "meter_info"',
    )
    err = load_error(path)
    assert err.file == str(path)
    assert err.line == line_of(text, '"suply_area"')
    assert f"{path}:{err.line}:" in str(err)
    assert "P3-dr-contractor" in err.message
    assert "'suply_area'" in err.message and "did you mean 'supply_area'" in err.message
    assert "supply_area" in err.valid and "basic.*" in err.valid


def test_unknown_item_in_multiline_array_points_at_value_line(tmp_path: Path) -> None:
    path, text = write_variant(
        tmp_path,
        'relations = ["work_order"]\nread = ["name", "address", "phone"]',
        'relations = ["work_order"]\nread = [\n  "name",\n  "adress",\n  "phone",\n]',
    )
    err = load_error(path)
    assert err.line == line_of(text, '"adress"')
    assert "did you mean 'address'" in err.message


def test_unknown_category_wildcard(tmp_path: Path) -> None:
    path, text = write_variant(tmp_path, 'read = ["negawatt.*"]', 'read = ["negawat.*"]')
    err = load_error(path)
    assert err.line == line_of(text, '"negawat.*"')
    assert "negawatt.*" in err.valid


def test_unknown_purpose(tmp_path: Path) -> None:
    path, text = write_variant(tmp_path, 'purpose = "P4_tso_operations"', 'purpose = "P4_tso_ops"')
    err = load_error(path)
    assert err.line == line_of(text, '"P4_tso_ops"')
    assert "P4-tso" in err.message and "did you mean 'P4_tso_operations'" in err.message
    assert len(err.valid) == 8  # the five of joint use, and three outside it


def test_rule_without_purpose(tmp_path: Path) -> None:
    path, text = write_variant(tmp_path, 'purpose = "P3_supply_point_confirmation"\n', "")
    err = load_error(path)
    assert "missing required field(s) purpose" in err.message
    assert err.line == line_of(text, "[[rule]]", 9)  # the block of the 9th rule (P3-retailer)


def test_unknown_party_kind_in_rule(tmp_path: Path) -> None:
    path, text = write_variant(tmp_path, 'party_kind = "dr_contractor"', 'party_kind = "dr"', 2)
    err = load_error(path)
    assert err.line == line_of(text, 'party_kind = "dr"')
    assert err.valid == ["retailer", "tso", "occto", "dr_contractor", "platform"]


def test_unknown_relation_in_rule(tmp_path: Path) -> None:
    path, text = write_variant(
        tmp_path,
        'relations = ["contract_holder", "applicant"]',
        'relations = ["holder", "applicant"]',
    )
    err = load_error(path)
    assert err.line == line_of(text, '"holder"')
    assert "P1-retailer" in err.message
    assert "contract_holder" in err.valid


def test_unknown_field_in_rule(tmp_path: Path) -> None:
    path, text = write_variant(tmp_path, 'id = "P2-tso"', 'id = "P2-tso"\nreed = ["name"]')
    err = load_error(path)
    assert err.line == line_of(text, "reed = ")
    assert "unknown field 'reed'" in err.message and "did you mean 'read'" in err.message
    assert "read" in err.valid


def test_unknown_top_level_table(tmp_path: Path) -> None:
    path, text = write_variant(tmp_path, "[[note]]", '[[notes]]\nkey = "x"\n\n[[note]]')
    err = load_error(path)
    assert err.line == line_of(text, "[[notes]]")
    assert "'notes'" in err.message and "note" in err.valid


def test_item_in_unknown_category(tmp_path: Path) -> None:
    path, text = write_variant(tmp_path, 'category = "negawatt"', 'category = "negawat"', 2)
    err = load_error(path)
    assert err.line == line_of(text, 'category = "negawat"')
    assert "demand_procured" in err.message
    assert "negawatt" in err.valid


def test_controller_unknown_category_kind_and_relation(tmp_path: Path) -> None:
    path, text = write_variant(
        tmp_path,
        'category = "supply_point"\nparty_kind = "tso"',
        'category = "supplypoint"\nparty_kind = "tso"',
    )
    err = load_error(path)
    assert err.line == line_of(text, 'category = "supplypoint"')
    assert "supply_point" in err.valid

    path, text = write_variant(
        tmp_path,
        'party_kind = "tso"\nrelation = "area_tso"',
        'party_kind = "TSO"\nrelation = "area_tso"',
    )
    err = load_error(path)
    assert err.line == line_of(text, 'party_kind = "TSO"')
    assert "exception" in err.message  # the first such pair is the basic controller's exception

    path, text = write_variant(tmp_path, 'relation = "dr_resource"', 'relation = "resource"')
    err = load_error(path)
    assert err.line == line_of(text, 'relation = "resource"')
    assert "dr_resource" in err.valid


def test_note_reference_missing(tmp_path: Path) -> None:
    path, text = write_variant(tmp_path, 'note = "n4"', 'note = "n9"')
    err = load_error(path)
    assert err.line == line_of(text, 'note = "n9"')
    assert err.valid == ["n1", "n2", "n3", "n4", "n5"]


def test_duplicate_rule_id(tmp_path: Path) -> None:
    path, text = write_variant(tmp_path, 'id = "P5-tso"', 'id = "P5-retailer"')
    err = load_error(path)
    assert err.line == line_of(text, 'id = "P5-retailer"', 2)
    assert "duplicate id" in err.message


def test_duplicate_key_in_one_table(tmp_path: Path) -> None:
    path, text = write_variant(tmp_path, 'mark = "※3"', 'mark = "※3"\nmark = "※9"')
    err = load_error(path)
    assert err.line == line_of(text, 'mark = "※9"')
    assert "not valid TOML" in err.message


def test_duplicate_key_at_end_of_file(tmp_path: Path) -> None:
    text = shipped_text().rstrip("\n") + '\nmark = "again"'
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    err = load_error(path)
    assert err.line == len(text.splitlines())


def test_wrong_type(tmp_path: Path) -> None:
    path, text = write_variant(
        tmp_path,
        'number = 4\nlabel_ja = "需要抑制契約者"',
        'number = "4"\nlabel_ja = "需要抑制契約者"',
    )
    err = load_error(path)
    assert err.line == line_of(text, 'number = "4"')
    assert "field 'number' must be an integer, got '4'" in err.message


def test_overlapping_rules_are_rejected(tmp_path: Path) -> None:
    path, text = write_variant(
        tmp_path,
        'relations = ["applicant"]\nread = ["supply_point.*"]',
        'relations = ["applicant", "contract_holder"]\nread = ["supply_point.*"]',
    )
    assert "P3-retailer" in text
    # P3-retailer now also covers contract_holder; no other P3 retailer rule, so this still loads
    load_policy(path)
    path, text = write_variant(
        tmp_path,
        'relations = ["applicant"]\nread = ["forwarding_judgement"]',
        'relations = ["applicant", "forwarding_addressee"]\nread = ["forwarding_judgement"]',
    )
    err = load_error(path)
    assert "overlaps rule 'P2-new-retailer'" in err.message
    assert err.line == line_of(text, 'id = "P2-old-retailer"') - 1


def test_rule_granting_nothing(tmp_path: Path) -> None:
    path, _ = write_variant(tmp_path, 'read = ["negawatt.*"]\nwrite = []', "read = []\nwrite = []")
    err = load_error(path)
    assert "grants nothing" in err.message


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    err = load_error(tmp_path / "nope.toml")
    assert err.file == str(tmp_path / "nope.toml")
    with pytest.raises(ConfigError) as info:
        parse_policy("[notice\nversion = 1\n", file="x.toml")
    assert info.value.file == "x.toml" and info.value.line == 1


def test_missing_notice_table() -> None:
    text = shipped_text().replace("[notice]", "[notices]")
    with pytest.raises(ConfigError) as info:
        parse_policy(text, file="p.toml")
    assert info.value.line == line_of(text, "[notices]")
