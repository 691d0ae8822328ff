"""Policy versions (APPI Art. 27(6)): ``policy diff`` classifies each change by what the law
requires; several versions held at once, each decision taken with the version in force at the
request's moment; a change of purposes or controller in force only after its advance notice;
the rendered notice shows the version and effective date."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from typer.testing import CliRunner

from jointuse.policy.engine import AccessRequest, Party, RelationPeriod, Target
from jointuse.policy.loader import parse_policy
from jointuse.policy.render import render_notice
from jointuse.policy.versions import PolicyVersions, VersionedEngine, diff

TEXT = (resources.files("jointuse") / "data" / "policy.toml").read_text(encoding="utf-8")
POINT = "0311112222333344445555"


def _version(text: str, version: str, effective: str, published: str) -> str:
    return (
        text.replace('version = "2026-11-26"', f'version = "{version}"')
        .replace("effective_from = 2026-11-26", f"effective_from = {effective}")
        .replace("published_on = 2026-11-26", f"published_on = {published}")
    )


# v2 drops the DR contractors' P3 rule (no notice needed), moves the address of the publisher
# (without delay), renames purpose 3 (advance notice) and adds an item (consent).
V2 = (
    _version(TEXT, "2027-01-01", "2027-01-01", "2026-12-20")
    .replace('address = ""', 'address = "埼玉県さいたま市"', 1)
    .replace(
        'label_ja = "供給（受電）地点に関する情報の確認のため"',
        'label_ja = "供給（受電）地点に関する情報の確認及び照会のため"',
    )
    .replace(
        '[[item]]\nkey = "phone"',
        '[[item]]\nkey = "email"\ncategory = "basic"\nlabel_ja = "メールアドレス"\n'
        'label_en = "e-mail"\n\n[[item]]\nkey = "phone"',
    )
)


def test_diff_classifies_each_change_by_the_law() -> None:
    old, new = parse_policy(TEXT), parse_policy(V2)
    changes = {(c.kind, c.subject): c for c in diff(old, new)}
    assert changes[("item", "email")].requirement == "consent"
    assert changes[("item", "email")].what == "added"
    assert changes[("purpose", "P3_supply_point_confirmation")].requirement == "advance_notice"
    assert "容易に知り得る状態" in changes[("purpose", "P3_supply_point_confirmation")].test_en
    assert changes[("publisher", "address")].requirement == "without_delay"
    assert next(c.requirement for c in diff(old, new)) == "consent"
    assert diff(old, old) == ()
    # a controller change needs advance notice
    moved = TEXT.replace(
        'category = "negawatt"\nparty_kind = "dr_contractor"',
        'category = "negawatt"\nparty_kind = "tso"',
    ).replace(
        'relation = "dr_resource"\n\n[[controller]]', 'relation = "area_tso"\n\n[[controller]]'
    )
    found = {(c.kind, c.subject): c.requirement for c in diff(old, parse_policy(moved))}
    assert found[("controller", "negawatt")] == "advance_notice"


def test_advance_notice_moves_the_date_in_force() -> None:
    versions = PolicyVersions([parse_policy(V2), parse_policy(TEXT)])  # any order
    first, second = versions.versions
    assert first.policy.notice.version == "2026-11-26"
    # effective 2027-01-01, but published 2026-12-20 + 30 days of advance notice
    assert second.in_force_from.date().isoformat() == "2027-01-19"
    assert second.needs_consent
    # without a purpose or controller change the effective date holds
    quiet = _version(TEXT, "2027-01-01", "2027-01-01", "2026-12-31").replace(
        'address = ""', 'address = "埼玉県"', 1
    )
    assert (
        PolicyVersions([parse_policy(TEXT), parse_policy(quiet)])
        .versions[1]
        .in_force_from.date()
        .isoformat()
        == "2027-01-01"
    )


def test_the_engine_decides_with_the_version_in_force() -> None:
    # v2 withdraws the DR contractor's P3 rule from 2027-01-01
    v2 = _version(TEXT, "2027-01-01", "2027-01-01", "2026-12-01").replace(
        '[[rule]]\nid = "P3-dr-contractor"\npurpose = "P3_supply_point_confirmation"\n'
        'party_kind = "dr_contractor"\nrelations = ["dr_resource"]\n'
        'read = ["supply_area", "supply_point_id", "meter_info", "contract_state"]\nwrite = []\n',
        "",
    )
    engine = VersionedEngine(PolicyVersions([parse_policy(TEXT), parse_policy(v2)]))

    def ask(at: datetime) -> bool:
        request = AccessRequest(
            party=Party("dr-1", "dr_contractor"),
            purpose="P3_supply_point_confirmation",
            action="read",
            target=Target(supply_point_id=POINT, area_code="03"),
            items=frozenset({"meter_info"}),
            at=at,
            relations=(RelationPeriod("dr_resource", datetime(2026, 1, 1, tzinfo=UTC), None),),
        )
        return engine.decide(request).allowed

    assert ask(datetime(2026, 12, 31, 14, 59, tzinfo=UTC))  # 23:59 JST, v1
    assert not ask(datetime(2026, 12, 31, 15, 0, tzinfo=UTC))  # 2027-01-01 00:00 JST, v2


def test_rendered_notice_shows_version_and_effective_date() -> None:
    ja = render_notice(parse_policy(V2), lang="ja", fmt="txt")
    assert "版：2027-01-01" in ja and "施行日：2027-01-01" in ja
    en = render_notice(parse_policy(V2), lang="en", fmt="html")
    assert "Effective from: 2027-01-01" in en


def test_policy_diff_command(tmp_path: Path) -> None:
    from jointuse.cli import app

    old, new = tmp_path / "old.toml", tmp_path / "new.toml"
    old.write_text(TEXT, encoding="utf-8")
    new.write_text(V2, encoding="utf-8")
    result = CliRunner().invoke(app, ["policy", "diff", str(old), str(new)])
    assert result.exit_code == 1, result.output  # a change needs consent
    assert "CONSENT        item email: added" in result.stdout
    assert "in force from 2027-01-19" in result.stdout
    result = CliRunner().invoke(app, ["policy", "diff", str(old), str(old), "--format", "json"])
    assert result.exit_code == 2  # two versions with one effective date
    quiet = tmp_path / "quiet.toml"
    quiet.write_text(
        _version(TEXT, "2027-02-01", "2027-02-01", "2027-01-01").replace(
            'address = ""', 'address = "埼玉県"', 1
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["policy", "diff", str(old), str(quiet), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [c["requirement"] for c in data["changes"]] == ["without_delay"]
    assert data["in_force_from"].startswith("2027-02-01")
