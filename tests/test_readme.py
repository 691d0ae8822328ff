"""The README tells the truth about configuration and points only at what a reader can open.

* Its configuration tables list exactly the ``JOINTUSE_*`` environment variables the code and the
  tests read (found by scanning ``src/``, ``tests/`` and ``benchmarks/``), and ``CI``.
* No document or comment of the repository cites a file outside it (the project's working
  folders ``shared/…``, ``seed/…``, ``DOMAIN.md``, ``ARCHITECTURE.md``): what it cites must be in
  the repository (e.g. ``docs/``) or public.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "JOINTUSE" + "_"  # spelled so that this file is not found by its own scan
_VARIABLE = re.compile(re.escape(PREFIX) + r"[A-Z0-9_]*[A-Z0-9]")
_ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|")


def _sources() -> list[Path]:
    found: list[Path] = []
    for folder in ("src", "tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".toml", ".md", ".txt", ".cfg", ".ini"):
                found.append(path)
    return found


def _variables_read() -> set[str]:
    names: set[str] = set()
    for path in _sources():
        names |= set(_VARIABLE.findall(path.read_text(encoding="utf-8", errors="replace")))
    return names


def _readme_table_variables() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return {m.group(1) for line in text.splitlines() if (m := _ROW.match(line))}


def test_the_readme_lists_exactly_the_environment_variables_read() -> None:
    read = _variables_read()
    assert PREFIX + "DATABASE_URL" in read  # the scan works
    listed = _readme_table_variables()
    assert {v for v in listed if v.startswith(PREFIX)} == read
    assert "CI" in listed  # read by the test suite: PostgreSQL and reference data required


CITED_ELSEWHERE = re.compile(
    r"(?<![\w./-])(?:shared/|/work/|seed/0|DOMAIN\.md|ARCHITECTURE\.md)", re.IGNORECASE
)


def test_nothing_cites_a_file_outside_the_repository() -> None:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    data = sorted((ROOT / "src").rglob("*.toml"))
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in [*docs, *data, *_sources()]
        if path != Path(__file__).resolve()
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if CITED_ELSEWHERE.search(line)
    ]
    assert offenders == []


def test_the_cited_notice_is_in_the_repository() -> None:
    policy = (ROOT / "src" / "jointuse" / "data" / "policy.toml").read_text(encoding="utf-8")
    cited = re.findall(r"docs/[\w./-]+", policy)
    assert cited
    for rel in cited:
        assert (ROOT / rel.rstrip(".")).is_file(), rel
