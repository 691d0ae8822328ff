"""Validation patterns are full matches (issue 12): ``re.match`` with ``$`` lets a trailing
newline through (``$`` also matches before a final ``\\n``).

The linter below fails on any ``NAME.match(…)`` / ``re.match(…)`` whose pattern ends in ``$`` in
``src/``; it is shown to be able to fail on a synthetic source. Behaviour checks follow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from jointuse.core.errors import ValidationError
from jointuse.parties.model import normalise_meti_registration, validate_party_code
from jointuse.parties.tokens import AuthenticationFailed, normalise_fingerprint, parse_bearer

SRC = Path(__file__).resolve().parents[2] / "src" / "jointuse"


def anchored_match_calls(source: str) -> list[int]:
    """Lines calling ``.match`` with (or on a compiled) pattern ending in ``$``."""
    tree = ast.parse(source)
    anchored: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and node.value.func.attr == "compile"
            and node.value.args
            and isinstance(node.value.args[0], ast.Constant)
            and str(node.value.args[0].value).endswith("$")
        ):
            anchored |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    lines: list[int] = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "match"
        ):
            continue
        owner = node.func.value
        if (isinstance(owner, ast.Name) and owner.id in anchored) or (
            isinstance(owner, ast.Name)
            and owner.id == "re"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and str(node.args[0].value).endswith("$")
        ):
            lines.append(node.lineno)
    return lines


def test_the_linter_can_fail() -> None:
    bad = 'import re\n_X = re.compile(r"^a$")\ndef f(s):\n    return _X.match(s)\n'
    assert anchored_match_calls(bad) == [4]
    assert anchored_match_calls('import re\ndef f(s):\n    return re.match(r"^a$", s)\n') == [3]
    assert anchored_match_calls(bad.replace("_X.match", "_X.fullmatch")) == []


def test_no_anchored_match_in_src() -> None:
    found = [
        f"{path.relative_to(SRC.parent)}:{line}"
        for path in sorted(SRC.rglob("*.py"))
        for line in anchored_match_calls(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "use fullmatch: " + ", ".join(found)


@pytest.mark.parametrize(
    "check",
    [
        lambda: validate_party_code("tso-03\n"),
        lambda: validate_party_code("tso-03\n\n"),
        lambda: normalise_meti_registration("A0001\nA0002"),
        lambda: normalise_fingerprint("ab" * 32 + "\nab"),
    ],
)
def test_trailing_newline_is_refused(check: object) -> None:
    with pytest.raises(ValidationError):
        check()  # type: ignore[operator]


def test_token_with_newline_inside_is_refused() -> None:
    token = "ju_0123456789abcdef." + "A" * 43
    assert parse_bearer(token)[0] == "0123456789abcdef"
    with pytest.raises(AuthenticationFailed):
        parse_bearer(token[:-1] + "\nA")
