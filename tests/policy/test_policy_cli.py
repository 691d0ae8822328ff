"""`jointuse policy render|check|explain` through Typer's runner and one real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from jointuse.cli import app as root_app
from jointuse.policy.cli import app, check, render
from jointuse.policy.render import NOT_STATED

runner = CliRunner()


def policy_text() -> str:
    return (resources.files("jointuse") / "data" / "policy.toml").read_text(encoding="utf-8")


@pytest.fixture
def fixed_policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(
        policy_text()
        .replace('address = ""', 'address = "埼玉県さいたま市中央区新都心1-2"')
        .replace('representative = ""', 'representative = "代表理事 山田花子"'),
        encoding="utf-8",
    )
    return path


def test_render_to_stdout_and_to_a_file(tmp_path: Path, fixed_policy: Path) -> None:
    result = runner.invoke(app, ["render", "--lang", "ja", "--format", "txt"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("電気小売事業における個人情報の共同利用について")
    assert NOT_STATED in result.stdout

    out = tmp_path / "notice.html"
    args = ["render", "--lang", "en", "--format", "html", "--policy", str(fixed_policy)]
    result = runner.invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    doc = out.read_text(encoding="utf-8")
    assert doc.startswith("<!DOCTYPE html>") and '<html lang="en">' in doc
    assert "埼玉県さいたま市中央区新都心1-2" in doc and NOT_STATED not in doc
    assert f"wrote {out}" in result.stderr


@pytest.mark.parametrize(
    ("args", "valid"),
    [
        (["render", "--lang", "fr"], "ja, en"),
        (["render", "--format", "pdf"], "txt, md, html"),
        (["check", "--format", "xml"], "text, json"),
    ],
)
def test_bad_choices_name_the_valid_values(args: list[str], valid: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert valid in result.output


def test_unreadable_or_invalid_policy_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "--policy", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2
    assert "cannot read policy file" in result.stderr

    broken = tmp_path / "broken.toml"
    broken.write_text(policy_text().replace('purpose = "P5_negawatt"', 'purpose = "P6_x"'))
    result = runner.invoke(app, ["render", "--policy", str(broken)])
    assert result.exit_code == 2
    assert f"{broken}:" in result.stderr and "P6_x" in result.stderr
    assert "P5_negawatt" in result.stderr  # the valid purposes are listed


def test_check_exit_status_follows_the_gaps(fixed_policy: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 1
    assert "publisher-address-missing" in result.stdout
    assert "publisher-representative-missing" in result.stdout

    # the publisher filled, the TSOs' and OCCTO's addresses and representatives still missing
    result = runner.invoke(app, ["check", "--policy", str(fixed_policy)])
    assert result.exit_code == 1 and "controller-address-missing" in result.stdout
    shipped = (resources.files("jointuse") / "data" / "reference_parties.toml").read_text("utf-8")
    filled = tmp_path / "reference.toml"
    filled.write_text(
        shipped.replace(
            'kind = "tso"\n', 'kind = "tso"\naddress = "東京都"\nrepresentative = "代表 某"\n'
        ).replace(
            'kind = "occto"\n',
            'kind = "occto"\naddress = "東京都江東区"\nrepresentative = "理事長 某"\n',
        ),
        encoding="utf-8",
    )
    result = runner.invoke(
        app,
        ["check", "--policy", str(fixed_policy), "--reference", str(filled), "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["counts"]["gap"] == 0


README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_check_exits_2_when_the_file_is_not_a_policy_as_the_readme_says(
    tmp_path: Path, fmt: str
) -> None:
    """1 = the policy has gaps or errors (a report to act on); 2 = no policy to report on."""
    unparseable = tmp_path / "unparseable.toml"
    unparseable.write_text("[notice\nversion = ", encoding="utf-8")
    result = runner.invoke(app, ["check", "--policy", str(unparseable), "--format", fmt])
    assert result.exit_code == 2
    assert result.stdout == "" and f"{unparseable}" in result.stderr
    line = next(x for x in README.read_text(encoding="utf-8").splitlines() if "policy check" in x)
    assert "exit 1 on a gap or error, 2 when the file is not a valid policy" in line


def test_direct_calls_used_by_the_demo(capsys: pytest.CaptureFixture[str]) -> None:
    render(lang="ja", fmt="txt", policy=None, output=None)
    assert "1.共同利用する者の範囲" in capsys.readouterr().out
    with pytest.raises(typer.Exit) as exc:
        check(policy=None)
    assert exc.value.exit_code == 1
    assert "publisher-address-missing" in capsys.readouterr().out


def test_explain_allowed_request() -> None:
    result = runner.invoke(
        app,
        [
            "explain",
            "--party-kind",
            "retailer",
            "--relation",
            "applicant",
            "--purpose",
            "P3_supply_point_confirmation",
            "--item",
            "supply_area",
            "--item",
            "meter_info",
            "--area-code",
            "03",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ALLOWED (allowed)")
    assert "rule:     P3-retailer" in result.stdout
    assert "granted:  supply_area, meter_info" in result.stdout
    assert "controller of supply_point: tso-03 (tso)" in result.stdout


def test_explain_time_sliced_denial_as_json() -> None:
    args = [
        "explain",
        "--party-kind",
        "retailer",
        "--purpose",
        "P5_negawatt",
        "--relation",
        "contract_holder@2024-04-01/2025-04-01",
        "--item",
        "baseline",
        "--format",
        "json",
    ]
    inside = runner.invoke(app, [*args, "--at", "2025-03-31T23:59"])
    assert inside.exit_code == 0, inside.output
    assert json.loads(inside.stdout)["granted"] == ["baseline"]
    after = runner.invoke(app, [*args, "--at", "2025-04-01"])
    assert after.exit_code == 1
    data = json.loads(after.stdout)
    assert data["allowed"] is False and data["reason"] == "relation_missing"
    assert data["refused"][0]["item"] == "baseline"


def test_explain_write_outside_the_rule_is_refused_item_by_item() -> None:
    result = runner.invoke(
        app,
        [
            "explain",
            "--party-kind",
            "dr_contractor",
            "--relation",
            "dr_resource",
            "--purpose",
            "P3_supply_point_confirmation",
            "--item",
            "supply_area",
            "--item",
            "name",
        ],
    )
    assert result.exit_code == 1
    assert result.stdout.startswith("DENIED (items_refused)")
    assert "refused:  name (item_not_permitted)" in result.stdout


@pytest.mark.parametrize(
    ("option", "value", "valid"),
    [
        ("--party-kind", "retailr", "retailer, tso, occto, dr_contractor"),
        ("--purpose", "P5", "P5_negawatt"),
        ("--item", "shoe_size", "supply_point_id"),
        ("--relation", "friend", "contract_holder"),
        ("--relation", "applicant@yesterday", "ISO 8601"),
        ("--relation", "applicant@2025-04-01/2025-01-01", "is not after valid_from"),
        ("--area-code", "11", "01"),
        ("--status", "asleep", "active, suspended, deregistered"),
    ],
)
def test_explain_bad_options_list_valid_values(option: str, value: str, valid: str) -> None:
    base = {"--party-kind": "retailer", "--purpose": "P1_wheeling"}
    base[option] = value
    args = ["explain"] + [x for kv in base.items() for x in kv]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    flat = " ".join(result.output.replace("│", " ").split())
    assert valid in flat


def test_root_command_mounts_the_policy_group() -> None:
    result = runner.invoke(root_app, ["policy", "render", "--lang", "en", "--format", "md"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Joint use of personal information")


def test_installed_jointuse_command_in_a_real_process() -> None:
    exe = Path(sys.executable).with_name("jointuse")
    assert exe.exists(), f"the package's console script is not installed next to {sys.executable}"
    proc = subprocess.run(
        [str(exe), "policy", "check", "--format", "json"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    gaps = [f["code"] for f in data["findings"] if f["severity"] == "gap"]
    assert gaps[:2] == ["publisher-address-missing", "publisher-representative-missing"]
    assert "controller-address-missing" in gaps
