"""Controller resolution (管理責任者): who answers for each category of a customer's data."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from jointuse.core.errors import ValidationError
from jointuse.policy.controllers import ControllerRef, controller_for, controllers_for
from jointuse.policy.engine import Target
from jointuse.policy.loader import default_policy, load_policy

POLICY = default_policy()
KYUSHU_POINT = "0912345678901234567890"


def target(contract_kind: str | None = "standard", **kw: str | None) -> Target:
    facts: dict[str, str | None] = {
        "supply_point_id": KYUSHU_POINT,
        "retailer_code": "retailer-a",
        "dr_contractor_code": "dr-a",
    }
    facts.update(kw)
    return Target(contract_kind=contract_kind, **facts)


def test_basic_is_the_contract_holding_retailer() -> None:
    ref = controller_for(POLICY, "basic", target())
    assert ref == ControllerRef(
        category="basic",
        party_code="retailer-a",
        party_kind="retailer",
        relation="contract_holder",
        label_ja="小売供給等契約を締結している小売電気事業者",
        label_en="the retail electricity supplier holding the retail supply contract",
        exception=False,
    )


@pytest.mark.parametrize("kind", ["remote_island", "last_resort"])
def test_basic_is_the_area_tso_on_remote_island_or_last_resort_supply(kind: str) -> None:
    ref = controller_for(POLICY, "basic", target(kind))
    assert ref is not None
    assert (ref.party_code, ref.party_kind, ref.relation, ref.exception) == (
        "tso-09",
        "tso",
        "area_tso",
        True,
    )
    assert "離島供給又は最終保障供給" in ref.label("ja")


def test_supply_point_is_the_area_tso() -> None:
    for spid, tso in ((KYUSHU_POINT, "tso-09"), ("0100000000000000000001", "tso-01")):
        ref = controller_for(POLICY, "supply_point", target(supply_point_id=spid))
        assert ref is not None and ref.party_code == tso and ref.party_kind == "tso"
    # the area code may be given without a supply point
    ref = controller_for(POLICY, "supply_point", Target(customer_id="c", area_code="10"))
    assert ref is not None and ref.party_code == "tso-10"
    # the remote-island exception concerns basic information only
    ref = controller_for(POLICY, "supply_point", target("remote_island"))
    assert ref is not None and not ref.exception


def test_negawatt_is_the_dr_contractor() -> None:
    ref = controller_for(POLICY, "negawatt", target(dr_contractor_code="dr-77"))
    assert ref is not None
    assert (ref.party_code, ref.party_kind, ref.relation) == (
        "dr-77",
        "dr_contractor",
        "dr_resource",
    )


def test_side_categories() -> None:
    interval = controller_for(POLICY, "interval_data", target())
    assert interval is not None and interval.party_code == "tso-09"
    messages = controller_for(POLICY, "switching_messages", target())
    assert messages is not None and messages.party_code == "occto"


def test_unknown_facts_leave_the_code_open_but_name_the_role() -> None:
    bare = Target(customer_id="c-9")
    refs = {r.category: r for r in controllers_for(POLICY, bare)}
    assert set(refs) == {"basic", "supply_point", "negawatt", "interval_data", "switching_messages"}
    assert refs["basic"].party_code is None and refs["basic"].party_kind == "retailer"
    assert refs["supply_point"].party_code is None and refs["supply_point"].label_en
    assert refs["negawatt"].party_code is None


def test_controllers_for_selected_categories_in_policy_order() -> None:
    refs = controllers_for(POLICY, target(), ["negawatt", "basic"])
    assert [r.category for r in refs] == ["basic", "negawatt"]
    assert controller_for(POLICY, "no_such_category", target()) is None


def test_unknown_area_code_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        controller_for(POLICY, "supply_point", Target(area_code="42"))
    assert info.value.field == "area_code"


def test_resolution_follows_the_policy_not_code(tmp_path: Path) -> None:
    text = (resources.files("jointuse") / "data" / "policy.toml").read_text(encoding="utf-8")
    # make the TSO answer for negawatt data, and drop the last-resort exception
    text = text.replace(
        'category = "negawatt"\nparty_kind = "dr_contractor"\nrelation = "dr_resource"',
        'category = "negawatt"\nparty_kind = "tso"\nrelation = "area_tso"',
    ).replace(
        'contract_kinds = ["remote_island", "last_resort"]', 'contract_kinds = ["remote_island"]'
    )
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    policy = load_policy(path)
    negawatt = controller_for(policy, "negawatt", target())
    assert negawatt is not None and negawatt.party_code == "tso-09"
    basic = controller_for(policy, "basic", target("last_resort"))
    assert basic is not None and basic.party_code == "retailer-a" and not basic.exception
