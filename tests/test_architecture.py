"""Architecture rule: the edges of the system never reach the tables directly.

HTTP routers (``api.py``), the composition root (``app.py``), CLI commands (``cli.py``), web pages
(``pages.py`` / anything under ``pages/`` or ``web/``) and the demo generator (``demo/``) must go
through the services, so that every read or write of personal data passes the access gate and
lands on the ledger. This AST linter fails if one of those modules imports

* a ``tables`` or ``repository`` module (absolute, ``from pkg import tables`` or relative);
* SQLAlchemy's schema or statement builders (``Table``, ``MetaData``, ``Column``, ``select``,
  ``insert``, ``update``, ``delete``, ``text``) — i.e. writes its own queries;
* the shared ``metadata`` of :mod:`jointuse.core.db` (the registry of every table);

or opens a transaction itself: calls :class:`~jointuse.core.db.UnitOfWork` or
:func:`~jointuse.core.db.connect_read_only` (the service layer is the only code that opens a
unit of work; an edge may name ``UnitOfWork`` in a type annotation).

The checker itself is tested on synthetic sources, so the rule is shown to be able to fail.

One deliberate exception, allow-listed by file **and function** with its reason: the benchmark's
bare endpoint, which exists to measure what the gate costs (mounted only with ``bench=True``): it
imports a repository and reads in a transaction of its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "jointuse"

FORBIDDEN_MODULE_LEAVES = frozenset({"tables", "repository"})
FORBIDDEN_SQLALCHEMY_NAMES = frozenset(
    {"Table", "MetaData", "Column", "select", "insert", "update", "delete", "text"}
)
TRANSACTION_OPENERS = frozenset({"UnitOfWork", "connect_read_only"})
EDGE_FILE_NAMES = frozenset({"api.py", "app.py", "cli.py", "pages.py"})
EDGE_FOLDERS = frozenset({"demo", "pages", "web"})

#: (file relative to src/, enclosing function) → why it may bypass the gate.
ALLOWED: dict[tuple[str, str], str] = {
    ("jointuse/customers/api.py", "bare_supply_point"): (
        "benchmark-only bare read, mounted only with create_app(bench=True); measures the gate"
    ),
}


def is_edge_module(path: Path) -> bool:
    """True for the modules the rule applies to (relative to ``src/jointuse``)."""
    rel = path.relative_to(SRC) if path.is_absolute() else path
    return path.name in EDGE_FILE_NAMES or any(part in EDGE_FOLDERS for part in rel.parts[:-1])


def _leaf(module: str) -> str:
    return module.rsplit(".", 1)[-1]


def _enclosing_functions(tree: ast.AST) -> dict[int, str]:
    """Line number of every import and call → name of the function it sits in ("" at module
    level)."""
    where: dict[int, str] = {}

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = function
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = child.name
            if isinstance(child, ast.Import | ast.ImportFrom | ast.Call):
                where.setdefault(child.lineno, name)
            visit(child, name)

    visit(tree, "")
    return where


def violations(source: str, filename: str = "<source>") -> list[str]:
    """Every forbidden import in ``source``, as ``file:line: what`` (minus :data:`ALLOWED`)."""
    tree = ast.parse(source, filename=filename)
    functions = _enclosing_functions(tree)
    found: list[str] = []

    def flag(node: ast.AST, what: str) -> None:
        line = getattr(node, "lineno", 0)
        if (filename, functions.get(line, "")) in ALLOWED:
            return
        found.append(f"{filename}:{line or '?'}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if FORBIDDEN_MODULE_LEAVES & set(parts[1:]):
                    flag(node, f"imports {alias.name}")
                if alias.name in ("sqlalchemy", "sqlalchemy.sql", "sqlalchemy.schema"):
                    flag(node, f"imports {alias.name} (query or schema builders)")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names = [a.name for a in node.names]
            if module and (set(module.split(".")) & FORBIDDEN_MODULE_LEAVES):
                flag(node, f"imports from {'.' * node.level}{module}")
            for name in names:
                if name in FORBIDDEN_MODULE_LEAVES:
                    flag(node, f"imports {name} from {'.' * node.level}{module}")
            if module == "sqlalchemy" or module.startswith("sqlalchemy."):
                for name in names:
                    if name in FORBIDDEN_SQLALCHEMY_NAMES or name == "*":
                        flag(node, f"imports {name} from {module}")
            if module == "jointuse.core.db" and "metadata" in names:
                flag(node, "imports the table registry jointuse.core.db.metadata")
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if called in TRANSACTION_OPENERS:
                flag(node, f"opens a transaction itself ({called}): the services open them")
    return found


def edge_modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if is_edge_module(p))


# --- the checker can fail -------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "from jointuse.customers.tables import customer\n",
        "import jointuse.customers.tables\n",
        "import jointuse.customers.tables as t\n",
        "from jointuse.customers import tables\n",
        "from jointuse.customers import repository as repo\n",
        "from .tables import supply_point\n",
        "from . import repository\n",
        "from ..ledger.tables import access_ledger\n",
        "from sqlalchemy import select\n",
        "from sqlalchemy import Table, Column\n",
        "from sqlalchemy.sql import text\n",
        "from sqlalchemy import *\n",
        "import sqlalchemy\n",
        "from jointuse.core.db import metadata\n",
        "def f():\n    from jointuse.parties.tables import party\n    return party\n",
        "def f(e):\n    with UnitOfWork(e) as uow:\n        return uow\n",
        "def f(e):\n    with db.UnitOfWork(e, read_only=True) as uow:\n        return uow\n",
        "def f(e):\n    with connect_read_only(e) as c:\n        return c\n",
    ],
)
def test_checker_flags_a_bad_import(source: str) -> None:
    found = violations(source, "bad.py")
    assert len(found) >= 1
    assert found[0].startswith("bad.py:")


def test_checker_names_file_and_line() -> None:
    source = "import typer\n\nfrom jointuse.customers.tables import customer\n"
    assert violations(source, "x/api.py") == ["x/api.py:3: imports from jointuse.customers.tables"]


@pytest.mark.parametrize(
    "source",
    [
        "from jointuse.customers.service import register_customer\n",
        "from jointuse.core.db import UnitOfWork, make_engine\n",
        "from sqlalchemy import Engine\n",
        "import typer\nfrom fastapi import APIRouter\n",
        "from jointuse.customers import service, schemas\n",
        "tables = 3\n",
        "def f(uow: UnitOfWork) -> None:\n    service.run(uow)\n",
    ],
)
def test_checker_accepts_service_imports(source: str) -> None:
    assert violations(source) == []


def test_allow_list_is_by_file_and_function() -> None:
    bad = "from jointuse.customers import repository\n"
    inside = "def bare_supply_point():\n    " + bad
    elsewhere = "def get_customer():\n    " + bad
    assert violations(inside, "jointuse/customers/api.py") == []
    assert len(violations(elsewhere, "jointuse/customers/api.py")) == 1
    assert len(violations(bad, "jointuse/customers/api.py")) == 1
    assert len(violations(inside, "jointuse/parties/api.py")) == 1


def test_edge_module_selection() -> None:
    assert is_edge_module(SRC / "customers" / "api.py")
    assert is_edge_module(SRC / "demo" / "generate.py")
    assert is_edge_module(SRC / "app.py")
    assert is_edge_module(SRC / "web" / "pages" / "customers.py")
    assert not is_edge_module(SRC / "customers" / "service.py")
    assert not is_edge_module(SRC / "customers" / "repository.py")


# --- the rule holds in the tree ---------------------------------------------------------------


def test_edges_do_not_reach_the_tables() -> None:
    modules = edge_modules()
    names = {p.relative_to(SRC).as_posix() for p in modules}
    # The rule must actually look at the edges (a glob that matched nothing would pass vacuously).
    assert {"app.py", "cli.py", "demo/cli.py", "demo/generate.py"} <= names
    problems: list[str] = []
    for path in modules:
        rel = path.relative_to(SRC.parent).as_posix()
        problems.extend(violations(path.read_text(encoding="utf-8"), rel))
    assert problems == [], "edge modules reaching the tables directly:\n" + "\n".join(problems)


# --- one gate, assembled in one place; the gate knows no business area ------------------------

GATE_BUILDERS = frozenset({"jointuse/assembly.py"})
BUSINESS_AREAS = ("customers", "negawatt", "flows", "messages", "rights", "web", "parties")


def _gate_constructions(tree: ast.AST) -> list[int]:
    """Lines that call ``Gate(...)`` or ``Gate.assemble(...)``."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Name) and f.id == "Gate") or (
                isinstance(f, ast.Attribute)
                and f.attr == "assemble"
                and isinstance(f.value, ast.Name)
                and f.value.id == "Gate"
            ):
                out.append(node.lineno)
    return out


def test_only_the_composition_root_builds_a_gate() -> None:
    """Every entry point uses the gate of :mod:`jointuse.assembly`; a module building its own
    could miss a relation or loader another area registers (the API once had no dr_resource)."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = str(path.relative_to(SRC.parent))
        if rel in GATE_BUILDERS or rel == "jointuse/access/gate.py":
            continue
        for line in _gate_constructions(ast.parse(path.read_text(encoding="utf-8"))):
            found.append(f"{rel}:{line}")
    assert found == [], f"build gates only in jointuse/assembly.py: {found}"
    assert _gate_constructions(ast.parse("Gate(p)\nGate.assemble(p, [])\nx.assemble()")) == [1, 2]


def test_the_access_layer_imports_no_business_area() -> None:
    for path in sorted((SRC / "access").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                assert not (
                    parts[0] == "jointuse" and len(parts) > 1 and parts[1] in BUSINESS_AREAS
                ), f"{path.name} imports {name}: the gate must know no business area"
