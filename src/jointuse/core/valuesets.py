"""Value sets (コード表): service menus, supply methods, contract states and the like.

Placeholder: the loader follows; :func:`entry_lines` is shared with the reference-data loader.
"""

from __future__ import annotations

import re


def entry_lines(text: str, table: str) -> list[int]:
    """1-based line numbers of each ``[[table]]`` header in a TOML text, in order.

    Cheap line lookup for error messages: entry *i* of the array of tables ``table`` starts at
    ``entry_lines(text, table)[i]``.
    """
    pattern = re.compile(r"^\s*\[\[\s*" + re.escape(table) + r"\s*\]\]\s*(#.*)?$")
    return [n for n, line in enumerate(text.splitlines(), start=1) if pattern.match(line)]
