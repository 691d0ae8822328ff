"""Line numbers of tables, keys and values in the raw text of a TOML file.

``tomllib`` gives no line numbers for parsed values, so :class:`Lines` finds them by scanning the
raw text: the line of the N-th ``[[table]]`` header, then the line of the key inside that block,
then the line of the quoted value inside the key's (possibly multi-line) array. Used by
:mod:`jointuse.policy.loader` to name the line of every problem.
"""

from __future__ import annotations

import re

__all__ = ["Lines"]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")


class Lines:
    """Line numbers (1-based) of tables, keys and values in the raw TOML text."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        # (line number, header name) of every table header, in order.
        self.headers: list[tuple[int, str]] = []
        for n, line in enumerate(self.lines, start=1):
            m = _HEADER.fullmatch(line)
            if m:
                self.headers.append((n, m.group(2).replace(" ", "").replace('"', "")))

    def table(self, name: str, index: int = 0) -> int | None:
        found = [n for n, h in self.headers if h == name]
        return found[index] if index < len(found) else None

    def sub_table(self, parent: str, index: int, name: str, sub_index: int) -> int | None:
        start = self.table(parent, index)
        if start is None:
            return None
        nxt = self.table(parent, index + 1)
        found = [n for n, h in self.headers if h == name and n > start and (nxt is None or n < nxt)]
        return found[sub_index] if sub_index < len(found) else None

    def _block_end(self, start: int) -> int:
        for n, _ in self.headers:
            if n > start:
                return n
        return len(self.lines) + 1

    def key(self, start: int | None, key: str, value: str | None = None) -> int | None:
        """Line of ``key`` in the block starting at line ``start`` (or of ``value`` within it)."""
        if start is None:
            return None
        end = self._block_end(start)
        for n in range(start + 1, end):
            m = _KEY.match(self.lines[n - 1])
            if m and m.group(1) == key:
                if value is None:
                    return n
                quoted = re.compile(r"[\"']" + re.escape(value) + r"[\"']")
                for v in range(n, end):
                    if quoted.search(self.lines[v - 1]):
                        return v
                return n
        return start

    def duplicate_key(self) -> int | None:
        """Line of the first key defined twice in one block (tomllib may not give it)."""
        seen: set[str] = set()
        headers = {n for n, _ in self.headers}
        for n, line in enumerate(self.lines, start=1):
            if n in headers:
                seen = set()
                continue
            m = _KEY.match(line)
            if m:
                if m.group(1) in seen:
                    return n
                seen.add(m.group(1))
        return None
